// Who is speaking, without telling the relay (issue 13 item 3): each page
// reads the level of each member's decrypted audio as it plays (the
// receivers' own statistics, crates/web/assets/speaking.js)
// and rings the tile of whoever makes sound. Tom's microphone carries
// Chromium's fake tone; Ann and Bo mute theirs. Ann and Bo show Tom
// speaking and not each other; in speaker view Ann sees Tom large (a
// screenshot goes to target/screenshots/5-speaker-view.png) while her page
// still tells the relay one width for every track; when Tom mutes, nobody.
// The relay learns
// nothing new: every signaling message in its insider view is of a type it
// had before, and audio frames stay one size (suite-metadata.mjs).
//
// Run by scripts/test.d/browser.sh.

import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  ROOT, check, cliLink, hook, joinCall, main, relay, startRelayAndBrowser, step, waitFor, waitMedia,
} from './harness.mjs';

const SHOTS = process.env.CONCLAVE_SCREENSHOTS || path.join(ROOT, 'target', 'screenshots');

const speakingAt = (tab) => hook(tab, () => window.conclave.speaking());

async function scenario() {
  await step('relay and chromium start', startRelayAndBrowser);
  const link = cliLink();
  let tom;
  let ann;
  let bo;
  await step('Tom, Ann and Bo join; Ann and Bo mute their microphones', async () => {
    [tom, ann, bo] = await joinCall(link, ['Tom', 'Ann', 'Bo']);
    await waitMedia([tom, ann, bo], 60, 30);
    for (const t of [ann, bo]) await hook(t, () => window.conclave.toggleAudio());
  });

  await step('Ann and Bo see Tom speaking, and only him; Tom sees nobody', async () => {
    let seen = '';
    await waitFor('Tom rings on Ann\'s and Bo\'s pages alone', 20, async () => {
      const [a, b, t] = [await speakingAt(ann), await speakingAt(bo), await speakingAt(tom)];
      seen = JSON.stringify({ ann: a, bo: b, tom: t });
      return a.join() === 'Tom' && b.join() === 'Tom' && t.length === 0 ? true : seen;
    });
    const ring = await hook(ann, () => [...document.querySelectorAll('#grid .tile.speaking .name')].map((n) => n.textContent));
    check(ring.join() === 'Tom', `Ann's ringed tiles: ${JSON.stringify(ring)}`);
    return seen;
  });

  await step('speaker view on Ann\'s page shows Tom large; her page still tells the relay one width for every track', async () => {
    await ann.page.setViewportSize({ width: 1280, height: 800 });
    await ann.page.click('#toggle-layout');
    let sizes = [];
    await waitFor('Tom\'s tile is the large one', 10, async () => {
      sizes = await hook(ann, () => [...document.querySelectorAll('#grid .tile')].map((t) => ({ name: t.querySelector('.name').textContent, w: t.clientWidth })));
      const tomW = sizes.find((x) => x.name === 'Tom')?.w || 0;
      const others = sizes.filter((x) => x.name !== 'Tom').map((x) => x.w);
      return tomW > 1.5 * Math.max(...others) ? true : JSON.stringify(sizes);
    });
    mkdirSync(SHOTS, { recursive: true });
    await ann.page.screenshot({ path: path.join(SHOTS, '5-speaker-view.png'), fullPage: true });
    // One width for all: widths per track would tell the relay whom Ann shows large, i.e. who speaks.
    await waitFor('one video_width for every track', 5, async () => {
      const told = Object.values(await hook(ann, () => window.conclave.videoWidths()));
      return told.length >= 2 && told.every((w) => w === told[0]) ? true : JSON.stringify(told);
    });
    const pressed = await hook(ann, () => document.getElementById('toggle-layout').getAttribute('aria-pressed'));
    check(pressed === 'true', `the layout button says aria-pressed=${pressed}`);
    await ann.page.click('#toggle-layout');
    return `${sizes.map((x) => `${x.name} ${x.w}px`).join(', ')}; screenshot 5-speaker-view.png`;
  });

  await step('Tom mutes: nobody is speaking', async () => {
    await hook(tom, () => window.conclave.toggleAudio());
    await waitFor('no ring anywhere', 10, async () => {
      const all = [...await speakingAt(ann), ...await speakingAt(bo)];
      return all.length === 0 ? true : `still speaking: ${all}`;
    });
  });

  await step('the relay heard nothing of it: no new kind of signaling message', async () => {
    const lines = readFileSync(path.join(relay.insider, 'signaling.jsonl'), 'utf8').trim().split('\n');
    const types = new Set();
    for (const line of lines) {
      const rec = JSON.parse(line);
      const msg = typeof rec.text === 'string' ? JSON.parse(rec.text) : rec.msg || rec;
      if (msg && msg.type) types.add(msg.type);
    }
    const known = new Set(['join', 'offer', 'answer', 'media', 'mls', 'video_width', 'leave', 'joined', 'peer_joined', 'peer_left', 'peer_media', 'error']);
    const unknown = [...types].filter((t) => !known.has(t));
    check(unknown.length === 0, `signaling the relay saw has new message types: ${unknown}`);
    return `${lines.length} messages of types ${[...types].sort().join(', ')}`;
  });
}

main(scenario, { label: 'suite-speaking', timeoutS: 240 });
