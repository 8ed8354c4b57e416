// Evil-relay browser suite (issue 10): the relay is the adversary. Real
// Chromium tabs load the page through tests/browser/evil-relay.mjs, a proxy in
// front of a real relay that rewrites its signaling; media still flows
// through the real relay. Each attack is refused, or made visible:
//
//   (i)   the relay swaps the `a=msid:` stream ids of two publishers in its
//         offers to a victim: the victim shows each face and voice under the
//         member whose SFrame key decrypts it, and flags the relabel
//   (ii)  a forged `peer_left` for a member who is still there: nobody removes
//         her; the pages say the relay claims she left while her MLS
//         heartbeats still arrive
//   (iii) another connection presented under a member's participant id (its
//         join request, its presence, its departure): no name moves, nobody
//         is added or removed
//   (iv)  forged `peer_media` mute flags: the badges follow what the member
//         said inside MLS
//   (v)   the relay silently stops delivering one member's messages: the
//         others show "the relay stopped delivering <name>", and nobody is
//         removed while the relay still reports her connection
//   then  a member's own Leave is committed at once ("<name> left"), and an
//         explicit Remove is shown with who did it
//
// One room, three members; heartbeats every 2 s, "stopped delivering" after
// 6 s and removal after 12 s of silence (the page's `&debug=1` settings), so
// the suite runs in about a minute. Conditions are awaited, never slept on.

import { randomBytes } from 'node:crypto';
import { EvilRelay, passThrough } from './evil-relay.mjs';
import {
  CHROMIUM, check, waitFor, relay, startRelay, browser, launchBrowser, cliLink,
  openLinkTab, openTab, hook, e2eeOf, waitJoined, waitGroup, waitMedia, step, main, tabs,
} from './harness.mjs';

const NAMES = ['Alice Evilproof', 'Bob Evilproof', 'Carol Evilproof'];
const SETTINGS = '&autojoin=1&debug=1&heartbeat_s=2&stale_s=6&silent_s=12';
const SILENT_S = 12;

const members = (tab) => hook(tab, () => window.conclave.members());
const peers = (tab) => hook(tab, () => window.conclave.peers());
const events = (tab) => hook(tab, () => window.conclave.events().map((e) => e.text));
const removals = (tab) => hook(tab, () => window.conclave.departures());

/** Every tab of `group` still has exactly these names in its MLS roster. */
async function rosterIs(group, names) {
  for (const tab of group) {
    const got = (await members(tab)).map((m) => m.name).sort();
    check(JSON.stringify(got) === JSON.stringify([...names].sort()), `${tab.label}'s roster is ${JSON.stringify(got)}, expected ${JSON.stringify(names)}`);
  }
}

/** Swaps the stream ids `a` and `b` everywhere in an SDP. */
function swapIds(sdp, a, b) {
  return sdp.split(a).map((part) => part.split(b).join('\u0000')).join(b).split('\u0000').join(a);
}

async function scenario() {
  let evil;
  await step('relay, chromium and the lying proxy start', async () => {
    await startRelay();
    await launchBrowser();
    evil = await new EvilRelay(relay.url).start();
    return `relay ${relay.url.href}, proxy ${evil.url.href}, ${CHROMIUM} ${browser.version()}`;
  });

  const link = cliLink();
  const [A, B, C] = [[], [], []];
  const all = [];
  let victimConn = null;
  await step('Alice and Bob join through the proxy; it swaps their stream ids in every offer to Carol, who joins next', async () => {
    const open = async (label, name) => {
      const tab = await openLinkTab(label, link, `name=${encodeURIComponent(name)}${SETTINGS}`, evil.url);
      tab.name = name;
      all.push(tab);
      return tab;
    };
    A.push(await open('alice', NAMES[0]));
    await waitJoined([A[0]], 30);
    B.push(await open('bob', NAMES[1]));
    await waitJoined([B[0]], 30);
    for (const t of all) t.me = await hook(t, () => window.conclave.me);
    const [a, b] = [A[0].me, B[0].me];
    // (i): every offer to the next connection labels Alice's tracks as Bob's and Bob's as Alice's.
    evil.attack = {
      toClient: (conn, msg) => {
        if (conn.me === a || conn.me === b) return msg;
        victimConn ??= conn;
        if (conn !== victimConn || msg.type !== 'offer') return msg;
        return { ...msg, sdp: swapIds(msg.sdp, a, b) };
      },
    };
    C.push(await open('carol', NAMES[2]));
    await waitJoined(all, 40);
    C[0].me = await hook(C[0], () => window.conclave.me);
    check(victimConn && victimConn.me === C[0].me, 'the proxy did not pick Carol as the victim');
    await waitGroup(all, 30);
    await waitMedia(all, 60, 20);
    const offers = victimConn.seen.filter((m) => m.type === 'offer');
    check(offers.some((m) => m.sdp.includes(`a=msid:${a} `) && m.sdp.includes(`a=msid:${b} `)), 'the relay\'s offers to Carol did not name both publishers');
    return `ids ${all.map((t) => `${t.label}=${t.me}`).join(' ')}; ${offers.length} offers to Carol rewritten`;
  });
  const [alice, bob, carol] = [A[0], B[0], C[0]];
  const leafOf = async (tab, name) => (await members(tab)).find((m) => m.name === name).leaf;

  await step('(i) relabelled tracks: Carol shows each face and voice under the member whose key decrypts it, and flags the relabel', async () => {
    const aLeaf = await leafOf(carol, alice.name);
    const bLeaf = await leafOf(carol, bob.name);
    await waitFor('Carol flags both relabels and shows each track under its true sender', 20, async () => {
      const tracks = await hook(carol, () => window.conclave.remoteTracks());
      for (const [label, leaf, who] of [[bob.me, aLeaf, 'Alice'], [alice.me, bLeaf, 'Bob']]) {
        for (const kind of ['audio', 'video']) {
          const t = tracks.find((x) => x.participant === label && x.kind === kind && x.readyState === 'live' && x.direction === 'recvonly');
          if (!t) return `no live ${kind} receiver labelled ${label}`;
          if (t.sender !== leaf) return `the ${kind} labelled ${label} decrypts under leaf ${t.sender}, expected ${who}'s ${leaf}`;
          if (!t.inStream || t.leaf !== leaf) return `${who}'s ${kind} (labelled ${label}) is shown under leaf ${t.leaf}`;
        }
      }
      const rel = await hook(carol, () => window.conclave.relabeled());
      const pairs = new Set(rel.map((r) => `${r.kind}: ${r.sender} labelled ${r.claimed}`));
      for (const want of ['audio', 'video'].flatMap((k) => [`${k}: ${alice.name} labelled ${bob.name}`, `${k}: ${bob.name} labelled ${alice.name}`])) {
        if (!pairs.has(want)) return `relabeled() lacks "${want}": ${JSON.stringify([...pairs])}`;
      }
      return true;
    });
    // The tiles: each name with its own tracks, decoding.
    const shown = await peers(carol);
    for (const who of [alice, bob]) {
      const p = shown.find((x) => x.name === who.name);
      check(p && p.tracks.join() === 'audio,video', `Carol's tile for ${who.name}: ${JSON.stringify(p)}`);
    }
    const st = await hook(carol, () => window.conclave.stats());
    for (const who of [alice, bob]) {
      const s = st.find((x) => x.name === who.name);
      check(s && s.video && s.video.framesDecoded > 10, `Carol decodes no video under ${who.name}: ${JSON.stringify(s)}`);
    }
    const text = (await events(carol)).join('\n');
    check(text.includes(`The relay labelled ${alice.name}'s video as ${bob.name}'s`), `Carol's event list does not flag the relabel: ${text}`);
    // The unaffected members see no relabel.
    for (const t of [alice, bob]) check((await hook(t, () => window.conclave.relabeled())).length === 0, `${t.label} flags a relabel that did not happen`);
    evil.attack = passThrough;
    return `Carol: ${(await hook(carol, () => window.conclave.relabeled())).map((r) => `${r.kind} mid ${r.mid} labelled ${r.claimed}, is ${r.sender}`).join('; ')}`;
  });

  const start = await e2eeOf(alice);
  await step('(ii) a forged peer_left for Alice: nobody removes her; Bob and Carol say the relay claims she left while her messages arrive', async () => {
    const claimedAt = Date.now();
    for (const t of [bob, carol]) evil.byParticipant(t.me).inject({ type: 'peer_left', participant: alice.me });
    await waitFor('Bob and Carol show the relay\'s claim on Alice\'s tile and in their event lists', 15, async () => {
      for (const t of [bob, carol]) {
        const p = (await peers(t)).find((x) => x.name === alice.name);
        if (!p || p.status !== 'relay-claims-left') return `${t.label}'s tile for Alice has status ${p && p.status}`;
        const text = (await events(t)).join('\n');
        if (!text.includes(`The relay says ${alice.name} left, but ${alice.name} did not leave the call`)) return `${t.label}'s event list: ${text}`;
        if (!(await t.page.isVisible(`.tile[data-participant="${alice.me}"] .relay-status`))) return `${t.label} shows no notice on Alice's tile`;
      }
      return true;
    });
    // Past the removal deadline (by the pages' own clocks), still nobody removed.
    await waitFor(`${SILENT_S} s pass since the forged peer_left`, SILENT_S + 10, async () => (await hook(bob, () => Date.now())) - claimedAt > (SILENT_S + 2) * 1000 || 'not yet');
    await rosterIs(all, NAMES);
    for (const t of all) {
      const e = await e2eeOf(t);
      check(e.epoch === start.epoch && e.code === start.code, `${t.label} changed its group: epoch ${e.epoch}, was ${start.epoch}`);
      check((await removals(t)).length === 0, `${t.label} saw a removal`);
    }
    check(await alice.page.isVisible('#e2ee-on'), 'Alice is no longer in the encrypted call');
    return `Alice kept at epoch ${start.epoch} for ${((Date.now() - claimedAt) / 1000).toFixed(1)} s after the forged peer_left`;
  });

  let W;
  await step('(iii) another connection presented as Bob (its presence, its join request, its departure): no name moves, nobody added or removed', async () => {
    // The proxy labels everything about W's connection, toward the members, as Bob's.
    let wId = null;
    evil.attack = {
      toClient: (conn, msg) => {
        if (conn.me === wId || wId === null) return msg;
        const out = { ...msg };
        if (out.participant === wId) out.participant = bob.me;
        if (out.from === wId) out.from = bob.me;
        if (Array.isArray(out.peers)) out.peers = out.peers.map((p) => (p.participant === wId ? { ...p, participant: bob.me } : p));
        return out;
      },
    };
    const refusedBefore = await Promise.all(all.map(async (t) => (await e2eeOf(t)).refused.length));
    const wrong = randomBytes(32).toString('base64url');
    W = await openTab('W', link.room, `#r=${link.room}&founder=${link.founder}&${wrong}&name=Mallory&autojoin=1&debug=1`, '/', evil.url);
    await waitFor('W gets a participant id', 20, async () => ((wId = await hook(W, () => window.conclave.me)) ? true : 'not yet'));
    await waitFor('the members refuse the join request that came "from Bob"', 20, async () => {
      for (const [i, t] of all.entries()) {
        if ((await e2eeOf(t)).refused.length <= refusedBefore[i]) return `${t.label} refused nothing yet`;
      }
      const relayed = evil.byParticipant(alice.me).seen.filter((m) => m.type === 'mls' && m.from === wId);
      return relayed.length > 0 || 'the relay did not pass W\'s join request to Alice';
    });
    // W goes away: the relay's peer_left for it reaches the members as Bob's.
    await W.context.close();
    tabs.splice(tabs.indexOf(W), 1);
    await waitFor('Alice and Carol get a peer_left "for Bob"', 15, async () => {
      for (const t of [alice, carol]) {
        const seen = evil.byParticipant(t.me).seen.filter((m) => m.type === 'peer_left' && m.participant === wId);
        if (!seen.length) return `${t.label} has not been told`;
      }
      return true;
    });
    await waitFor('Alice and Carol say the relay claims Bob left', 15, async () => {
      for (const t of [alice, carol]) {
        const p = (await peers(t)).find((x) => x.name === bob.name);
        if (!p || p.status !== 'relay-claims-left') return `${t.label}'s tile for Bob: ${JSON.stringify(p)}`;
      }
      return true;
    });
    await rosterIs(all, NAMES);
    for (const t of all) {
      const ps = await peers(t);
      check(ps.length === 2, `${t.label} has ${ps.length} tiles`);
      const byName = Object.fromEntries(ps.map((p) => [p.name, p.participant]));
      for (const o of all.filter((x) => x !== t)) check(byName[o.name] === o.me, `${t.label} shows ${o.name} on ${byName[o.name]}, expected ${o.me}`);
      const e = await e2eeOf(t);
      check(e.epoch === start.epoch && e.code === start.code, `${t.label} changed its group`);
      check((await removals(t)).length === 0, `${t.label} saw a removal`);
    }
    evil.attack = passThrough;
    return `W (${wId}) was shown to the members as Bob (${bob.me}); names and roster unchanged`;
  });

  await step('(iv) forged peer_media: the mute badges follow what Alice says inside MLS', async () => {
    const badge = (t, sel) => t.page.isVisible(`.tile[data-participant="${alice.me}"] ${sel}`);
    const injectAt = Date.now();
    for (const t of [bob, carol]) evil.byParticipant(t.me).inject({ type: 'peer_media', participant: alice.me, audio: false, video: false });
    // A heartbeat of Alice's that arrives later on the same socket proves the forgery was handled.
    await waitFor('Bob and Carol hear from Alice inside MLS after the forged flags', 10, async () => {
      for (const t of [bob, carol]) {
        const { now, m } = await hook(t, (n) => ({ now: Date.now(), m: window.conclave.members().find((x) => x.name === n) }), alice.name);
        if (now - m.silentMs <= injectAt + 50) return `${t.label} last heard Alice before the forgery`;
      }
      return true;
    });
    for (const t of [bob, carol]) {
      const p = (await peers(t)).find((x) => x.name === alice.name);
      check(p.audio && p.video, `${t.label} believes the relay's mute flags: ${JSON.stringify(p)}`);
      check(!(await badge(t, '.mic-off')) && !(await badge(t, '.cam-off')), `${t.label} shows the relay's mute badges`);
    }
    await alice.page.click('#toggle-audio');
    for (const t of [bob, carol]) evil.byParticipant(t.me).inject({ type: 'peer_media', participant: alice.me, audio: true, video: true });
    await waitFor('Bob and Carol show Alice\'s microphone off (said inside MLS), despite the relay', 10, async () => {
      for (const t of [bob, carol]) {
        const p = (await peers(t)).find((x) => x.name === alice.name);
        if (p.audio !== false || p.video !== true) return `${t.label} sees ${JSON.stringify(p)}`;
        if (!(await badge(t, '.mic-off'))) return `${t.label} shows no mic-off badge`;
      }
      return true;
    });
    await alice.page.click('#toggle-audio');
    await waitFor('and on again', 10, async () => {
      for (const t of [bob, carol]) if (!(await peers(t)).find((x) => x.name === alice.name).audio) return `${t.label} still sees her muted`;
      return true;
    });
    const sentMedia = evil.byParticipant(alice.me).sent.filter((m) => m.type === 'media');
    check(sentMedia.length === 0, `Alice told the relay her mute state ${sentMedia.length} times`);
    return 'badges followed MLS; the page never sent the relay a `media` message';
  });

  await step('(v) the relay stops delivering Bob\'s messages: Alice and Carol show it; nobody is removed while it reports him connected', async () => {
    evil.attack = { toClient: (conn, msg) => (msg.type === 'mls' && msg.from === bob.me && conn.me !== bob.me ? null : msg) };
    const since = Date.now();
    await waitFor('Alice and Carol show "the relay stopped delivering Bob"', 20, async () => {
      for (const t of [alice, carol]) {
        const p = (await peers(t)).find((x) => x.name === bob.name);
        if (!p || p.status !== 'stale') return `${t.label}'s tile for Bob has status ${p && p.status}`;
        const text = (await events(t)).join('\n');
        if (!text.includes(`The relay stopped delivering ${bob.name}`)) return `${t.label}'s event list: ${text}`;
        const notice = await t.page.textContent(`.tile[data-participant="${bob.me}"] .relay-status`);
        if (!/the relay stopped delivering/.test(notice)) return `${t.label}'s tile notice: ${notice}`;
      }
      return true;
    });
    const shownAfter = (Date.now() - since) / 1000;
    await rosterIs(all, NAMES);
    for (const t of all) check((await removals(t)).length === 0, `${t.label} saw a removal`);
    evil.attack = passThrough;
    await waitFor('Bob is delivered again', 15, async () => {
      for (const t of [alice, carol]) {
        const p = (await peers(t)).find((x) => x.name === bob.name);
        if (!p) return `${t.label} shows no tile for Bob`;
        if (p.status === 'stale') return `${t.label} still shows Bob as not delivered`;
      }
      return true;
    });
    return `shown after ${shownAfter.toFixed(1)} s; nobody removed`;
  });

  await step('Alice removes Bob with the roster\'s Remove button: everyone sees who did it; Bob is told', async () => {
    const bLeaf = await leafOf(alice, bob.name);
    check(await hook(alice, (l) => window.conclave.remove(l), bLeaf), 'Alice has no Remove button for Bob');
    await waitFor('Bob is removed and told by whom', 20, async () => {
      const errs = await hook(bob, () => window.conclave.errors);
      return errs.some((e) => e.code === 'removed' && e.message === `You were removed from the call by ${alice.name}.`) || `Bob's errors: ${JSON.stringify(errs)}`;
    });
    await waitFor('Carol shows Bob was removed by Alice', 15, async () => {
      const d = await removals(carol);
      if (!d.some((x) => x.name === bob.name && x.how === 'removed' && x.by === alice.name)) return `Carol's departures: ${JSON.stringify(d)}`;
      return (await events(carol)).some((t) => t.includes(`${bob.name} was removed by ${alice.name}`)) || 'not in the event list';
    });
    await rosterIs([alice, carol], [alice.name, carol.name]);
  });

  await step('Carol presses Leave: a member commits it at once, and Alice sees "Carol left"', async () => {
    await carol.page.click('#leave');
    await waitFor('Alice shows Carol left', 15, async () => {
      const d = await removals(alice);
      if (!d.some((x) => x.name === carol.name && x.how === 'left')) return `Alice's departures: ${JSON.stringify(d)}`;
      return (await events(alice)).some((t) => t.includes(`${carol.name} left the call`)) || 'not in the event list';
    });
    await rosterIs([alice], [alice.name]);
  });
  evil.stop();
}

main(scenario, { label: 'evil relay', timeoutS: 150 });
