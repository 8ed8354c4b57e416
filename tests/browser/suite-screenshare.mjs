// Screen sharing (issue 13 item 1): Ada, Ben and Cy are in a call; Ada
// presses "Share screen" (Chromium's fake screen capture: the harness's
// --use-fake-ui-for-media-stream and --use-fake-device-for-media-stream make
// getDisplayMedia return a 1280x720 test pattern without a picker). Ben and
// Cy decode it on a receiver whose frames decrypt under Ada's screen key
// (her leaf, SFrame stream context 1), show it large as "Ada's screen" (the
// name from MLS), and keep Ada's camera apart. Dee joins later and sees it
// too (a four-person call with a screen share: Ben's speaker view is written
// to target/screenshots/6-screen-share.png, and one viewer's and the
// sharer's renderer CPU are measured). Ada stops from the page, and the
// share is gone everywhere; she shares again and stops with the browser's
// own control (the track ends), and it is gone again.
//
// The relay learns nothing new: sharing needs no new SDP (the screen's
// sender exists, idle, from the start), so the relay sends no offer and
// gets no answer while it runs; every signaling message is of a type it
// had before; and no 16 bytes of a screen frame's plaintext (Ada's worker
// keeps samples with debug=1) appear in the RTP it forwarded (its insider
// view's media.pcap).
//
// Run by scripts/test.d/browser.sh.

import { mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import {
  ROOT, browser, check, cliLink, hook, joinCall, learnIds, main, openTab, readPcap, relay, relaySignaling, startRelayAndBrowser, step, waitFor,
  waitJoined, waitMedia, waitNoScreen, waitScreenShown,
} from './harness.mjs';

const SHOTS = process.env.CONCLAVE_SCREENSHOTS || path.join(ROOT, 'target', 'screenshots');

/** CPU seconds the renderer process of `tab`'s page has used so far
 * (Chromium's `ProcessTime` performance metric, over the DevTools protocol). */
async function processTime(tab) {
  tab.cdp ??= await tab.context.newCDPSession(tab.page);
  await tab.cdp.send('Performance.enable');
  const { metrics } = await tab.cdp.send('Performance.getMetrics');
  return metrics.find((m) => m.name === 'ProcessTime')?.value ?? NaN;
}

/** CPU seconds every Chromium process has used so far, by process type. */
async function chromiumTime() {
  const cdp = await browser.newBrowserCDPSession();
  const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
  await cdp.detach();
  const by = {};
  for (const p of processInfo) by[p.type] = (by[p.type] || 0) + p.cpuTime;
  return by;
}

async function scenario() {
  await step('relay and chromium start', startRelayAndBrowser);
  const link = cliLink();
  let ada;
  let ben;
  let cy;
  await step('Ada, Ben and Cy join; the page can share a screen here', async () => {
    ada = await openTab('Ada', link.room, `#${link.secret}&name=Ada&autojoin=1&debug=1`);
    await waitJoined([ada], 30);
    [ben, cy] = await joinCall(link, ['Ben', 'Cy']);
    await learnIds([ada]);
    await waitMedia([ada, ben, cy], 60, 30);
    const share = await hook(ada, () => window.conclave.sharing());
    check(!share.sharing && share.problem === null && share.button === 'Share screen', `Ada's share button: ${JSON.stringify(share)}`);
    check(!(await ada.page.isDisabled('#toggle-screen')), 'the Share screen button is disabled in Chromium');
    return JSON.stringify(share);
  });

  /** [from, to) indices into the relay's signaling while only sharing happened (no joins). */
  const windows = [];
  let timeToShow = 0;
  let screenSamples = [];
  await step('Ada shares her screen: Ben and Cy decode it under her screen key and show it large, with her name', async () => {
    const from = relaySignaling().length;
    const clicked = Date.now();
    await ada.page.click('#toggle-screen');
    await waitFor('Ada shares', 10, async () => (await hook(ada, () => window.conclave.sharing())).sharing || 'not yet');
    const shown = await waitScreenShown([ben, cy], 'Ada', 30);
    // Time to show: from the click to both viewers showing the decoding share.
    timeToShow = (Date.now() - clicked) / 1000;
    // Ada's camera stays her camera: a tile of its own, still decoding.
    for (const v of [ben, cy]) {
      const peer = (await hook(v, () => window.conclave.peers())).find((p) => p.name === 'Ada');
      check(peer && peer.tracks.join() === 'audio,video', `${v.label} shows Ada's camera tile with ${JSON.stringify(peer)}`);
      const tracks = await hook(v, () => window.conclave.remoteTracks());
      const screens = tracks.filter((t) => t.context === 1);
      check(screens.length === 1 && screens[0].inStream === false, `${v.label}'s screen receivers: ${JSON.stringify(screens)}`);
    }
    const button = await ada.page.textContent('#toggle-screen');
    check(button === 'Stop sharing', `Ada's button says ${JSON.stringify(button)}`);
    windows.push([from, relaySignaling().length]);
    // Plaintext of screen frames as Ada's sender saw them (debug=1), for the relay-view step.
    const samples = await hook(ada, () => window.conclave.plaintextSamples());
    screenSamples = (samples && samples.video || []).filter((x) => x.context === 1);
    return `shown and decoding ${timeToShow.toFixed(1)} s after the click; ${[...shown].map(([who, r]) => `${who}: ${r.label}, leaf ${r.sender} context ${r.context}, ${r.framesDecoded} frames ${r.frameWidth} px wide, tile ${r.tileWidth} px vs ${r.widestOtherTile}`).join('; ')}`;
  });

  let dee;
  await step('Dee joins the call with the share on: four people, and she sees Ada\'s screen too', async () => {
    dee = await openTab('Dee', link.room, `#${link.secret}&name=Dee&autojoin=1`);
    await waitJoined([dee], 45);
    await learnIds([dee]);
    await waitMedia([ada, ben, cy, dee], 60, 20);
    const shown = await waitScreenShown([ben, cy, dee], 'Ada', 30);
    windows.push([relaySignaling().length, Infinity]);
    return [...shown].map(([who, r]) => `${who} ${r.framesDecoded} frames ${r.frameWidth} px wide`).join(', ');
  });

  await step('speaker view on Ben\'s page with the share: the screen is the large tile (screenshot 6-screen-share.png)', async () => {
    await ben.page.setViewportSize({ width: 1280, height: 800 });
    await ben.page.click('#toggle-layout');
    let sizes = [];
    await waitFor('the screen is the one large tile', 10, async () => {
      sizes = await hook(ben, () => [...document.querySelectorAll('#grid .tile')].map((t) => ({ name: t.querySelector('.name').textContent, w: t.clientWidth })));
      const screen = sizes.find((x) => x.name === 'Ada\'s screen')?.w || 0;
      const others = sizes.filter((x) => x.name !== 'Ada\'s screen').map((x) => x.w);
      return screen > 1.5 * Math.max(...others) ? true : JSON.stringify(sizes);
    });
    await new Promise((r) => setTimeout(r, 1000)); // a frame or two painted at the new size
    mkdirSync(SHOTS, { recursive: true });
    const file = path.join(SHOTS, '6-screen-share.png');
    await ben.page.screenshot({ path: file, fullPage: true });
    return `${sizes.map((x) => `${x.name} ${x.w}px`).join(', ')}; ${file}`;
  });

  await step('CPU in a four-person call with a screen share: each tab\'s renderer process over 10 s', async () => {
    // A measurement, not an assertion (it depends on the machine): the CPU
    // time of each tab's renderer process (Chromium's ProcessTime metric:
    // its page, the E2EE worker, WebRTC's encoding and decoding) and of all
    // of Chromium's processes, over 10 s, in % of one core.
    const group = [ada, ben, cy, dee];
    const before = await Promise.all(group.map(processTime));
    const all0 = await chromiumTime();
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 10000));
    const after = await Promise.all(group.map(processTime));
    const all1 = await chromiumTime();
    const wall = (Date.now() - t0) / 1000;
    const pct = (a, b) => `${(100 * (b - a) / wall).toFixed(0)} %`;
    const tabs = group.map((t, i) => `${t.label}${t === ada ? ' (sharing)' : ''} ${pct(before[i], after[i])}`);
    const others = Object.keys(all1).filter((k) => k !== 'renderer').map((k) => `${k} ${pct(all0[k] || 0, all1[k])}`);
    return `over ${wall.toFixed(1)} s, % of one core (${cpus().length} cores): renderer per tab ${tabs.join(', ')}; other Chromium processes ${others.join(', ')}`;
  });

  await step('Ada stops from the page: the share is gone everywhere, and she said so inside MLS', async () => {
    await ada.page.click('#toggle-screen');
    // The sharer says so inside MLS at once; without that, frames stopping take it down in 2 s.
    const took = await waitNoScreen([ada, ben, cy, dee], 'after Stop sharing', 10);
    for (const v of [ben, cy, dee]) {
      const said = (await hook(v, () => window.conclave.members())).find((m) => m.name === 'Ada')?.screen;
      check(said === false, `${v.label} holds Ada's screen flag ${said}`);
    }
    const button = await ada.page.textContent('#toggle-screen');
    check(button === 'Share screen', `Ada's button says ${JSON.stringify(button)} after stopping`);
    return `gone from every page ${took.toFixed(1)} s after the click`;
  });

  await step('Ada shares again and stops with the browser\'s own control: gone everywhere again', async () => {
    await ada.page.click('#toggle-screen');
    await waitScreenShown([ben, cy, dee], 'Ada', 30);
    const ended = await hook(ada, () => window.conclave.endScreenCapture());
    check(ended, 'Ada had no screen track to end');
    const took = await waitNoScreen([ada, ben, cy, dee], 'after the capture ended');
    const share = await hook(ada, () => window.conclave.sharing());
    check(!share.sharing && share.button === 'Share screen', `Ada after the capture ended: ${JSON.stringify(share)}`);
    return `gone from every page ${took.toFixed(1)} s after the track ended`;
  });

  await step('the relay learned nothing new: no renegotiation, no new kind of message, only ciphertext of the screen', async () => {
    // Dee's join renegotiated (her tracks to everyone, everyone's to her);
    // sharing, stopping and sharing again must not.
    const all = relaySignaling();
    const during = windows.flatMap(([from, to]) => all.slice(from, to));
    const sdp = during.filter((m) => m.type === 'offer' || m.type === 'answer');
    const known = new Set(['join', 'offer', 'answer', 'media', 'mls', 'video_width', 'leave', 'joined', 'peer_joined', 'peer_left', 'peer_media', 'error']);
    const unknown = [...new Set(all.map((m) => m.type))].filter((t) => !known.has(t));
    check(unknown.length === 0, `signaling the relay saw has new message types: ${unknown}`);
    check(sdp.length === 0, `SDP while sharing (no one joined): ${JSON.stringify(sdp)}`);
    const screen = screenSamples;
    check(screen.length >= 5, `Ada's worker kept only ${screen.length} samples of screen frames`);
    const payloads = Buffer.concat(readPcap(path.join(relay.insider, 'media.pcap')).packets.map((p) => p.payload));
    let runs = 0;
    for (const smp of screen) {
      const body = Buffer.from(smp.body, 'hex');
      for (let i = 0; i + 16 <= body.length; i += 16, runs++) {
        check(payloads.indexOf(body.subarray(i, i + 16)) < 0, `plaintext of a screen frame (bytes ${smp.prefix + i}..) appears in the relay's media.pcap`);
      }
    }
    const types = [...new Set(during.map((m) => m.type))].sort();
    return `${during.length} messages while sharing or stopping (${types.join(', ')}), no SDP; ${runs} 16-byte runs of ${screen.length} screen frames absent from ${payloads.length} B of forwarded payload`;
  });

}

main(scenario, { label: 'suite-screenshare', timeoutS: 300 });
