// Simulcast (issue 12 §2): every page sends its camera in three layers
// (simulcast.js cameraLayers); the relay forwards each viewer one, the widest
// no wider than the viewer's widest tile (video_width, simulcast.js), and
// switches only at key frames (crates/relay/src/sfu/layers.rs).
//
// Pia publishes; Ana watches in a large window and keeps the top layer;
// Ben's window shrinks to a phone's width, so his page asks for a small
// layer: he gets a narrower picture and keeps decoding; when his window
// grows again, the top layer comes back. Widths come from each receiver's
// own getStats (frameWidth of the decoded video).
//
// Run by scripts/test.d/browser.sh.

import {
  check, cliLink, hook, joinCall, main, sleep, startRelayAndBrowser, step, waitFor, waitMedia,
} from './harness.mjs';

/** What `tab` decodes of `from`'s video: width and frames. */
async function videoOf(tab, from) {
  const rows = await hook(tab, () => window.conclave.stats());
  const v = rows.find((r) => r.participant === from.me)?.video;
  return { width: v?.frameWidth || 0, frames: v?.framesDecoded || 0 };
}

async function scenario() {
  await step('relay and chromium start', startRelayAndBrowser);
  const link = cliLink();
  let pia;
  let ana;
  let ben;
  let top = 0;
  await step('Pia, Ana and Ben join; Pia\'s camera goes out in layers; both viewers get the top one', async () => {
    [pia, ana, ben] = await joinCall(link, ['Pia', 'Ana', 'Ben']);
    await waitMedia([pia, ana, ben], 60, 30);
    let layers = [];
    await waitFor('Pia sends at least two layers', 20, async () => {
      const out = (await hook(pia, () => window.conclave.rtpStats())).outbound;
      // A layer the encoder has paused for a moment reports no frameWidth.
      layers = out.filter((o) => o.rid && (o.framesEncoded || 0) > 0 && Number.isFinite(o.frameWidth)).map((o) => `${o.rid} ${o.frameWidth}`);
      return layers.length >= 2 ? true : `active layers: ${JSON.stringify(out)}`;
    });
    await waitFor('Ana and Ben decode Pia at her widest layer', 20, async () => {
      const [a, b] = [await videoOf(ana, pia), await videoOf(ben, pia)];
      top = Math.max(...layers.map((l) => Number(l.split(' ')[1])));
      return a.width === top && b.width === top ? true : `Ana ${a.width}, Ben ${b.width}, top ${top}`;
    });
    return `Pia's layers: ${layers.join(', ')}`;
  });

  let small = 0;
  await step('Ben\'s window shrinks to a phone\'s: he gets a narrower layer and keeps decoding; Ana keeps the top', async () => {
    await ben.page.setViewportSize({ width: 300, height: 600 });
    await waitFor('Ben decodes a narrower layer of Pia', 20, async () => {
      const b = await videoOf(ben, pia);
      small = b.width;
      return b.width > 0 && b.width < top ? true : `Ben decodes ${b.width} wide`;
    });
    const before = await videoOf(ben, pia);
    await sleep(3000);
    const after = await videoOf(ben, pia);
    check(after.frames - before.frames >= 15, `Ben decoded ${after.frames - before.frames} frames of Pia in 3 s on the small layer`);
    // Ana is not moved down with Ben. (On a saturated machine Pia's encoder
    // may pause her top layer for a moment; then everyone gets the next.)
    let a;
    await waitFor('Ana decodes Pia at the top layer', 20, async () => {
      a = await videoOf(ana, pia);
      return a.width === top || `Ana dropped to ${a.width} wide though her window is large`;
    });
    return `Ben ${small} wide (${((after.frames - before.frames) / 3).toFixed(0)} frames/s), Ana ${a.width}`;
  });

  await step('Ben\'s window grows again: the top layer comes back', async () => {
    await ben.page.setViewportSize({ width: 1280, height: 800 });
    await waitFor('Ben decodes Pia at the top layer again', 30, async () => {
      const b = await videoOf(ben, pia);
      const told = await hook(ben, () => window.conclave.videoWidths());
      const tiles = await hook(ben, () => [...document.querySelectorAll('#grid .tile')].map((t) => `${t.clientWidth}/${t.querySelector('video').clientWidth}`));
      return b.width === top ? true : `Ben decodes ${b.width} wide; his page told the relay ${JSON.stringify(told)}; tiles ${tiles}`;
    });
    return `${small} → ${top}`;
  });
}

main(scenario, { label: 'suite-simulcast', timeoutS: 240 });
