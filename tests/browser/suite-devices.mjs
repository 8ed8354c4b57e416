// Switching camera and microphone during a call (issue 13 item 2). Chromium
// runs with three fake cameras (`device-count=3`) and its three fake
// microphones. (Its second fake camera delivers Y16 depth frames, which
// WebRTC encodes into nothing: Ada switches to the third, which sends MJPEG
// like many USB webcams.) Ada and Ben are in a call; Ada's page offers her cameras and
// microphones in the call's controls. She mutes, then picks her other camera
// and another microphone: her senders now carry the new devices' tracks
// (replaceTrack), her own tile plays the new camera, Ben keeps decoding her
// video under her key, she is still muted on the new microphone (at Ben's
// too, from what she says inside MLS), and the relay saw no SDP and no new
// kind of message while she switched (its insider view's signaling). She
// unmutes and Ben hears the new microphone.
//
// Run by scripts/test.d/browser.sh.

import {
  check, cliLink, hook, joinCall, launchBrowser, main, relaySignaling, sleep, startRelay, step, waitFor, waitMedia,
} from './harness.mjs';

/** Ben's receive statistics of Ada's video and audio (by the key that decrypted them). */
async function fromAda(ben, ada) {
  const row = (await hook(ben, () => window.conclave.stats())).find((r) => r.participant === ada.me);
  return {
    frames: row?.video?.framesDecoded || 0,
    energy: row?.audio?.totalAudioEnergy || 0,
  };
}

async function scenario() {
  await step('relay and chromium (three fake cameras) start', async () => {
    await startRelay();
    await launchBrowser({ fakeDevices: 'device-count=3' });
  });
  const link = cliLink();
  let ada;
  let ben;
  await step('Ada and Ben join; each decodes the other', async () => {
    [ada, ben] = await joinCall(link, ['Ada', 'Ben']);
    await waitMedia([ada, ben], 60, 20);
  });

  let before;
  await step('Ada\'s call controls offer her cameras and microphones, showing the ones she sends from', async () => {
    await waitFor('Ada\'s device choices are filled in', 15, async () => {
      const d = await hook(ada, () => window.conclave.devices());
      return (d && d.cameras.choices.length >= 3 && d.mics.choices.length >= 2) || `Ada's devices: ${JSON.stringify(d)}`;
    });
    before = await hook(ada, () => window.conclave.devices());
    check(!before.cameras.disabled && !before.mics.disabled, `Ada's selects are disabled: ${JSON.stringify(before)}`);
    check(before.cameras.value === before.video && before.sent.video === before.video,
      `Ada's camera select shows ${before.cameras.value}, she sends ${before.sent.video} (local ${before.video})`);
    check(before.mics.value === before.audio && before.sent.audio === before.audio,
      `Ada's microphone select shows ${before.mics.value}, she sends ${before.sent.audio} (local ${before.audio})`);
    return `${before.cameras.choices.length} cameras, ${before.mics.choices.length} microphones`;
  });

  await step('Ada mutes, then switches camera and microphone: Ben keeps decoding her, she stays muted, the relay sees no SDP', async () => {
    await ada.page.click('#toggle-audio');
    await waitFor('Ben sees Ada muted', 15, async () => {
      const p = (await hook(ben, () => window.conclave.peers())).find((x) => x.participant === ada.me);
      return (p && p.audio === false) || `Ben sees Ada's audio ${p && p.audio}`;
    });
    const mark = relaySignaling().length;
    const camera = before.cameras.choices[before.cameras.choices.length - 1];
    check(camera !== before.video, `Ada already sends from her last camera ${camera}`);
    const mic = before.mics.choices.find((id) => id !== before.audio);
    const base = await fromAda(ben, ada);
    await ada.page.selectOption('#call-camera', camera);
    await ada.page.selectOption('#call-mic', mic);
    await waitFor('Ada sends from the new camera and microphone', 20, async () => {
      const d = await hook(ada, () => window.conclave.devices());
      if (d.sent.video !== camera || d.video !== camera) return `Ada's camera: sent ${d.sent.video}, local ${d.video}; chose ${camera}`;
      if (d.sent.audio !== mic || d.audio !== mic) return `Ada's microphone: sent ${d.sent.audio}, local ${d.audio}; chose ${mic}`;
      if (d.cameras.value !== camera || d.mics.value !== mic) return `Ada's selects show ${d.cameras.value} / ${d.mics.value}`;
      return d.selfPlaying || 'Ada\'s own tile does not play';
    });
    await waitFor('Ben decodes Ada from the new camera', 30, async () => {
      const now = await fromAda(ben, ada);
      return now.frames >= base.frames + 20 || `Ben decoded ${now.frames - base.frames} frames of Ada since the switch`;
    });
    const muted = await ada.page.textContent('#toggle-audio');
    check(/unmute/i.test(muted), `Ada's mic button says ${JSON.stringify(muted)} after the switch; she had muted`);
    const p = (await hook(ben, () => window.conclave.peers())).find((x) => x.participant === ada.me);
    check(p && p.audio === false, `Ben sees Ada's audio ${p && p.audio} after her switch; she is muted`);
    const events = await ada.page.textContent('#events');
    check(/Now using/.test(events), `Ada's event list does not say which device she uses now: ${JSON.stringify(events)}`);
    const during = relaySignaling().slice(mark);
    const sdp = during.filter((m) => m.type === 'offer' || m.type === 'answer');
    check(sdp.length === 0, `SDP while Ada switched devices: ${JSON.stringify(sdp)}`);
    const known = new Set(['media', 'mls', 'video_width']);
    const unknown = [...new Set(during.map((m) => m.type))].filter((t) => !known.has(t));
    check(unknown.length === 0, `while Ada switched, the relay saw messages of types ${unknown}`);
    return `camera ${before.video.slice(0, 8)} → ${camera.slice(0, 8)}, microphone ${before.audio.slice(0, 8)} → ${mic.slice(0, 8)}; `
      + `${during.length} signaling messages meanwhile (${[...new Set(during.map((m) => m.type))].join(', ') || 'none'}), no SDP`;
  });

  await step('Ada unmutes: Ben hears her new microphone', async () => {
    await ada.page.click('#toggle-audio');
    const base = await fromAda(ben, ada);
    await sleep(500);
    await waitFor('Ben hears Ada', 20, async () => {
      const now = await fromAda(ben, ada);
      const p = (await hook(ben, () => window.conclave.peers())).find((x) => x.participant === ada.me);
      if (!p || p.audio !== true) return `Ben sees Ada's audio ${p && p.audio}`;
      return now.energy > base.energy || `no audio energy from Ada since she unmuted (${now.energy})`;
    });
  });
}

main(scenario, { label: 'suite-devices', timeoutS: 200 });
