// Media-level attacks (issue 10 item 7; docs/design.md §1, "inject media or
// downgrade encryption"), in real Chromium tabs, through the test-only lying
// relay crates/evil-relay: the real relay with an adversary on its
// forwarding path, steered over its control socket. Each attack is refused,
// and shown to the user:
//
//   forge      one copy in four of Alice's audio and video to Carol has a
//              ciphertext byte flipped: Carol drops them (never shown), keeps
//              playing Alice's audio under Alice, says the relay sent frames
//              no member made, and decodes Alice's video again once it stops
//   plaintext  one copy in four of Bob's audio to Carol is a plain Opus frame
//              with no SFrame: dropped and called out the same way
//   replay     one copy in four of Alice's audio to Bob is a frame Bob had
//              2 s before: dropped as a replay and called out
//   stop       the relay silently stops forwarding Bob's media to Carol
//              while Bob stays in the call: Carol's tile for Bob says no
//              video or audio arrives though Bob's camera and microphone are
//              on (Bob says so inside MLS); Alice's tile for Bob does not;
//              nobody is removed; the notice goes when media comes back
//   reflect    Dave joins while the relay sends every publisher its own
//              tracks back: Dave's page drops them (they decrypt under his own
//              key), shows no tile of himself, and says so
//
// About 90 s. Conditions are awaited, never slept on.

import net from 'node:net';
import {
  EVIL_BIN, check, waitFor, relay, startRelay, launchBrowser, cliLink, openLinkTab, hook, e2eeOf,
  waitJoined, waitGroup, waitMedia, step, main, statsOf,
} from './harness.mjs';

const NAMES = ['Alice Mediaproof', 'Bob Mediaproof', 'Carol Mediaproof', 'Dave Mediaproof'];
const GAP_S = 4;
const SETTINGS = `&autojoin=1&debug=1&media_gap_s=${GAP_S}`;

const dropped = (tab) => hook(tab, () => window.conclave.dropped());
const gaps = (tab) => hook(tab, () => window.conclave.mediaGaps());
const events = (tab) => hook(tab, () => window.conclave.events().map((e) => e.text));
const members = (tab) => hook(tab, () => window.conclave.members());

/** Sends one command to the lying relay's control socket; resolves its reply. */
function evil(cmd) {
  const [host, port] = relay.control.split(/:(?=\d+$)/);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), host, () => sock.write(`${JSON.stringify(cmd)}\n`));
    let buf = '';
    sock.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      sock.end();
      const line = buf.slice(0, nl);
      if (line.startsWith('error')) reject(new Error(`evil relay: ${line}`));
      else resolve(line === 'ok' ? line : JSON.parse(line));
    });
    sock.on('error', reject);
  });
}

/** Frames decoded from `who` at `tab`, per kind. */
async function decodedFrom(tab, who) {
  const st = (await statsOf(tab)).find((x) => x.name === who.name);
  return { video: st && st.video ? st.video.framesDecoded || 0 : 0, audio: st && st.audio ? st.audio.totalSamplesReceived || 0 : 0 };
}

/** Every tab of `group` still has exactly these names in its MLS roster. */
async function rosterIs(group, names) {
  for (const tab of group) {
    const got = (await members(tab)).map((m) => m.name).sort();
    check(JSON.stringify(got) === JSON.stringify([...names].sort()), `${tab.label}'s roster is ${JSON.stringify(got)}, expected ${JSON.stringify([...names].sort())}`);
  }
}

async function scenario() {
  await step('the lying relay and chromium start', async () => {
    await startRelay({ bin: EVIL_BIN });
    check(relay.control, 'the lying relay printed no control address');
    await launchBrowser();
    return `relay ${relay.url.href}, control ${relay.control}`;
  });

  const link = cliLink();
  const all = [];
  const open = async (label, name) => {
    const tab = await openLinkTab(label, link, `name=${encodeURIComponent(name)}${SETTINGS}`);
    tab.name = name;
    await waitJoined([tab], 30);
    tab.me = await hook(tab, () => window.conclave.me);
    all.push(tab);
    return tab;
  };
  await step('Alice, Bob and Carol join; media flows; nothing is dropped', async () => {
    for (const [i, label] of ['alice', 'bob', 'carol'].entries()) await open(label, NAMES[i]);
    await waitGroup(all, 30);
    await waitMedia(all, 60, 20);
    for (const tab of all) {
      const d = await dropped(tab);
      check(d.forged === 0 && d.replayed === 0 && d.reflected === 0, `${tab.label} dropped frames from an honest relay: ${JSON.stringify(d)}`);
    }
    return all.map((t) => `${t.label}=${t.me}`).join(' ');
  });
  const [alice, bob, carol] = all;

  await step('forge: Carol drops the tampered copies of Alice\'s media, keeps showing Alice, and says no member made them', async () => {
    const before = await decodedFrom(carol, alice);
    await evil({ rule: { attack: 'forge', from: alice.me, to: carol.me } });
    await waitFor('Carol counts forged frames on Alice\'s audio and video', 20, async () => {
      const d = await dropped(carol);
      const on = (kind) => d.receivers.filter((r) => r.kind === kind && r.name === alice.name).reduce((n, r) => n + r.forged, 0);
      return on('audio') >= 20 && on('video') >= 3 ? true : `forged on Alice's audio ${on('audio')}, video ${on('video')}`;
    });
    // Audio frames stand alone: the untouched three in four still play. A
    // video frame spans packets and frames depend on earlier ones, so video
    // mostly stalls while one packet in four is forged; it must come back.
    await waitFor('Carol still plays Alice\'s audio, under Alice', 20, async () => {
      const now = await decodedFrom(carol, alice);
      return now.audio > before.audio ? true : `audio ${before.audio}->${now.audio}`;
    });
    const text = (await events(carol)).join('\n');
    check(new RegExp(`frames on ${alice.name}'s (audio|video) that no member made`).test(text), `Carol's event list does not call out the forged frames: ${text}`);
    const counts = await evil('counts');
    await evil('clear');
    const after = await decodedFrom(carol, alice);
    await waitFor('Carol decodes Alice\'s video again once the relay stops forging', 30, async () => {
      const now = await decodedFrom(carol, alice);
      return now.video > after.video + 10 ? true : `video ${after.video}->${now.video}`;
    });
    for (const tab of [alice, bob]) check((await dropped(tab)).forged === 0, `${tab.label} counts forged frames though none were sent to them`);
    const d = await dropped(carol);
    return `relay forged ${counts.forge} copies; Carol dropped ${d.forged} as forged`;
  });

  await step('plaintext: Carol drops plain Opus frames on Bob\'s audio and calls them out', async () => {
    const base = (await dropped(carol)).receivers.filter((r) => r.name === bob.name).reduce((n, r) => n + r.forged, 0);
    await evil({ rule: { attack: 'plaintext', from: bob.me, to: carol.me, kind: 'audio' } });
    await waitFor('Carol drops plaintext frames on Bob\'s audio', 20, async () => {
      const n = (await dropped(carol)).receivers.filter((r) => r.kind === 'audio' && r.name === bob.name).reduce((k, r) => k + r.forged, 0);
      return n >= base + 20 ? true : `${n - base} dropped`;
    });
    const text = (await events(carol)).join('\n');
    check(text.includes(`frames on ${bob.name}'s audio that no member made`), `Carol's event list does not call out the plaintext frames: ${text}`);
    const counts = await evil('counts');
    await evil('clear');
    return `relay sent ${counts.plaintext} plain Opus frames`;
  });

  await step('replay: Bob drops Alice\'s audio frames replayed 4 s late, and calls them out', async () => {
    await evil({ rule: { attack: 'replay', from: alice.me, to: bob.me, kind: 'audio' } });
    await waitFor('Bob counts replayed frames on Alice\'s audio', 20, async () => {
      const d = await dropped(bob);
      const n = d.receivers.filter((r) => r.kind === 'audio' && r.name === alice.name).reduce((k, r) => k + r.replayed, 0);
      return n >= 20 ? true : `${n} replayed`;
    });
    const text = (await events(bob)).join('\n');
    check(new RegExp(`replayed[^\\n]*${alice.name}'s audio`).test(text), `Bob's event list does not call out the replay: ${text}`);
    const d = await dropped(bob);
    check(d.forged === 0, `Bob counted replays as forged: ${JSON.stringify(d)}`);
    const counts = await evil('counts');
    await evil('clear');
    return `relay replayed ${counts.replay} frames; Bob dropped ${d.replayed}`;
  });

  await step('stop: the relay stops Bob\'s media to Carol; her tile for Bob says none arrives though he says it is on; nobody is removed', async () => {
    await evil({ rule: { attack: 'drop', from: bob.me, to: carol.me } });
    const tileOf = (tab, name) => hook(tab, (n) => {
      const tile = [...document.querySelectorAll('#grid .tile')].find((t) => t.querySelector('.name').textContent === n);
      const gap = tile && tile.querySelector('.media-gap');
      return tile ? { gap: tile.dataset.mediaGap || '', text: gap ? gap.textContent : '' } : null;
    }, name);
    let shown = '';
    await waitFor('Carol\'s tile for Bob shows the gap', GAP_S + 20, async () => {
      const g = (await gaps(carol)).find((x) => x.name === bob.name);
      if (!g || g.audio === null || g.video === null) return `gaps: ${JSON.stringify(await gaps(carol))}`;
      const tile = await tileOf(carol, bob.name);
      if (!tile || tile.gap !== 'audio video') return `tile: ${JSON.stringify(tile)}`;
      shown = tile.text;
      return true;
    });
    check(/relay/.test(shown), `Carol's tile for Bob does not say the relay is not delivering: ${shown}`);
    check(!(await gaps(alice)).some((g) => g.audio !== null || g.video !== null), `Alice shows a media gap though the relay delivers to her: ${JSON.stringify(await gaps(alice))}`);
    await rosterIs(all, NAMES.slice(0, 3));
    const text = (await events(carol)).join('\n');
    check(new RegExp(`${bob.name}`).test(text) && /not delivering/.test(text), `Carol's event list does not say it: ${text}`);
    await evil('clear');
    await waitFor('the gap clears once Bob\'s media arrives again', 20, async () => {
      const g = (await gaps(carol)).find((x) => x.name === bob.name);
      return g && g.audio === null && g.video === null ? true : `gap: ${JSON.stringify(g)}`;
    });
    return shown.replace(/\s+/g, ' ').trim();
  });

  await step('reflect: Dave joins while the relay sends publishers their own tracks; his page drops them and shows no tile of himself', async () => {
    await evil({ reflect: true });
    const dave = await open('dave', NAMES[3]);
    await waitGroup(all, 30);
    await waitFor('Dave drops his own audio and video sent back', 30, async () => {
      const d = await dropped(dave);
      const own = (kind) => d.receivers.filter((r) => r.kind === kind).reduce((n, r) => n + r.reflected, 0);
      return own('audio') > 20 && own('video') > 3 ? true : `reflected audio ${own('audio')}, video ${own('video')}`;
    });
    await evil({ reflect: false });
    await waitMedia(all, 60, 10);
    const peers = await hook(dave, () => window.conclave.peers());
    check(!peers.some((p) => p.name === dave.name), `Dave shows a tile of himself: ${JSON.stringify(peers)}`);
    check(peers.length === 3, `Dave shows ${peers.length} tiles: ${JSON.stringify(peers)}`);
    const text = (await events(dave)).join('\n');
    check(/our own (audio|video) back/.test(text), `Dave's event list does not say the relay sent his own media back: ${text}`);
    for (const tab of all) check((await e2eeOf(tab)).on, `${tab.label}'s call is not end-to-end encrypted at the end`);
    await rosterIs(all, NAMES);
    return `Dave dropped ${(await dropped(dave)).reflected} of his own frames`;
  });
}

main(scenario, { label: 'media suite' });
