// MLS-message browser suite (issue 10 items 3 and 7): a relay that plays
// games with the group's MLS messages. Real Chromium tabs load the page
// through tests/browser/evil-relay.mjs, a proxy in front of a real relay that
// rewrites its signaling (the delivery service's MLS frames ride in it);
// media still flows through the real relay. What each page shows:
//
//   (b) duplicate: every MLS frame to Alice (who commits the rekeys, so her
//       Accepted answers too) arrives twice: the call goes on, nothing shown
//   (c) reorder: the messages of a new epoch reach Carol before the commit
//       that starts it, two of them swapped: she reads them once it comes
//   (a) replay: the proxy re-sends Bob every MLS frame he ever got (old
//       commits, profiles and heartbeats, his Welcome, a join request):
//       nothing changes, nothing is shown
//   for (a)-(c): everyone stays a member with one safety code, the roster
//       holds, media keeps decrypting, and no event says anyone left, was
//       removed, joined, or that anything was refused
//   (d) withheld commit: the proxy keeps the group's key changes from Carol
//       while the others move on: within seconds her page says the relay is
//       holding back the group's key change; once the proxy lets them
//       through she catches up (the same safety code again) and is told
//   (e) the relay answers nobody's key change: the committer's page says so
//       (stuck), and goes on once the relay orders it
//   (f) fork: Alice and Bob commit for the same epoch; the relay orders
//       Alice's, shows it to Carol only, and tells Bob his was accepted too.
//       Both sides show that the group has split and what to do; their
//       safety codes differ
//
// One room, three members; every member rekeys 5 s after the last epoch
// change if nobody before it in line did (the page's `&debug=1` settings),
// heartbeats every 2 s ("stopped delivering" only after 12 s, and media gaps
// called out only after 30 s, so a tab slowed by a busy machine is not taken
// for one the relay starves). Conditions are awaited, never slept on.

import { EvilRelay, acceptedMls, mlsEnvelope, passThrough } from './evil-relay.mjs';
import {
  CHROMIUM, check, waitFor, relay, startRelay, browser, launchBrowser, cliLink,
  openLinkTab, hook, e2eeOf, statsOf, waitJoined, waitGroup, waitMedia, step, main,
} from './harness.mjs';

const NAMES = ['Alice Mlsproof', 'Bob Mlsproof', 'Carol Mlsproof'];
const SETTINGS = '&autojoin=1&debug=1&heartbeat_s=2&stale_s=12&silent_s=30&rekey_s=5&media_gap_s=30';

const events = (tab) => hook(tab, () => window.conclave.events());
const epochOf = (tab) => hook(tab, () => window.conclave.epoch());

/** What a tab's event list says, newest first, since `mark` (its newest entry then). */
async function eventsSince(tab, mark) {
  const list = await events(tab);
  const i = mark ? list.findIndex((e) => e.text === mark.text) : -1;
  return i < 0 ? list : list.slice(0, i);
}

/** Marks every tab's event list now. */
async function markAll(group) {
  return new Map(await Promise.all(group.map(async (t) => [t, (await events(t))[0] || null])));
}

/** Nothing a user should worry about was shown since `marks`. */
async function quiet(group, marks) {
  const bad = /left|removed|joined|refused|split|holding back|stopped delivering|not answered/i;
  for (const t of group) {
    const shown = await eventsSince(t, marks.get(t));
    const wrong = shown.filter((e) => e.kind === 'warn' || bad.test(e.text));
    check(wrong.length === 0, `${t.label} showed ${JSON.stringify(wrong.map((e) => e.text))}`);
  }
}

/** `tab` keeps decoding video from each of `others`. */
async function mediaFlows(tab, others, timeoutS = 15) {
  const frames = async () => Object.fromEntries((await statsOf(tab)).map((r) => [r.participant, r.video ? r.video.framesDecoded || 0 : 0]));
  const before = await frames();
  await waitFor(`${tab.label} keeps decoding video from ${others.map((o) => o.label).join(', ')}`, timeoutS, async () => {
    const now = await frames();
    const stuck = others.filter((o) => !((now[o.me] || 0) > (before[o.me] || 0) + 10));
    return stuck.length ? `no new frames from ${stuck.map((o) => o.label).join(', ')}` : true;
  });
}

/** Waits until `tab` shows an event matching `re` after `mark`; returns its text. */
async function shows(tab, mark, re, timeoutS, what) {
  let text = null;
  await waitFor(`${tab.label} shows ${what}`, timeoutS, async () => {
    const hit = (await eventsSince(tab, mark)).find((e) => re.test(e.text));
    if (hit) { text = hit.text; return true; }
    return `events: ${JSON.stringify((await events(tab)).slice(0, 4).map((e) => e.text))}`;
  });
  return text;
}

/** After an attack: everyone in one group, the roster whole, refusals as before, media flowing. */
async function intact(group, marks, refusedBefore) {
  await waitGroup(group, 20, 'after the attack');
  for (const [i, t] of group.entries()) {
    const e = await e2eeOf(t);
    check(e.refused.length === refusedBefore[i], `${t.label} refused ${JSON.stringify(e.refused.slice(refusedBefore[i]))}`);
    const departed = await hook(t, () => window.conclave.departures());
    check(departed.length === 0, `${t.label} saw departures ${JSON.stringify(departed)}`);
  }
  for (const t of group) await mediaFlows(t, group.filter((o) => o !== t));
  await quiet(group, marks);
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
  const all = [];
  await step('Alice, Bob and Carol join through the proxy and see and hear each other', async () => {
    for (const [i, label] of ['alice', 'bob', 'carol'].entries()) {
      const tab = await openLinkTab(label, link, `name=${encodeURIComponent(NAMES[i])}${SETTINGS}`, evil.url);
      tab.name = NAMES[i];
      all.push(tab);
      await waitJoined([tab], 40);
      tab.me = await hook(tab, () => window.conclave.me);
    }
    await waitGroup(all, 30);
    await waitMedia(all, 60, 20);
    return `ids ${all.map((t) => `${t.label}=${t.me}`).join(' ')}; epoch ${await epochOf(all[0])}`;
  });
  const [alice, bob, carol] = all;
  const connOf = (tab) => evil.byParticipant(tab.me);
  const refusedNow = async () => Promise.all(all.map(async (t) => (await e2eeOf(t)).refused.length));

  await step('(b) duplicate: every MLS frame to Alice (the rekeys\' committer) arrives twice; the call goes on over two key changes', async () => {
    const marks = await markAll(all);
    const refused = await refusedNow();
    const start = await epochOf(alice);
    let doubled = 0;
    evil.attack = {
      toClient: (conn, msg) => {
        if (conn.me !== alice.me || msg.type !== 'mls') return msg;
        doubled++;
        return [msg, msg];
      },
    };
    await waitFor('the group moves on two epochs', 30, async () => ((await epochOf(alice)) >= start + 2 ? true : `epoch ${await epochOf(alice)}`));
    evil.attack = passThrough;
    const answers = connOf(alice).seen.filter((m) => { const e = mlsEnvelope(m); return e && e.kind === 'accepted'; }).length;
    await intact(all, marks, refused);
    return `${doubled} frames to Alice doubled (${answers} Accepted answers seen in all); epoch ${start} → ${await epochOf(alice)}`;
  });

  await step('(c) reorder: a new epoch\'s messages reach Carol before its commit, two of them swapped; she reads them once it comes', async () => {
    const marks = await markAll(all);
    const refused = await refusedNow();
    let commit = null;
    let first = null;
    let done = null;
    evil.attack = {
      toClient: (conn, msg) => {
        if (conn.me !== carol.me || done) return msg;
        const env = mlsEnvelope(msg);
        if (!env) return msg;
        if (!commit && env.kind === 'commit') { commit = { msg, epoch: env.epoch }; return null; }
        if (commit && env.kind === 'application' && env.epoch > commit.epoch) {
          if (!first) { first = msg; return null; }
          done = { epoch: commit.epoch, from: [msg.from, first.from] };
          return [msg, first, commit.msg];
        }
        return msg;
      },
    };
    await waitFor('the proxy delivers two messages of the new epoch, swapped, before its commit', 20, () => (done ? true : `commit held: ${!!commit}, first held: ${!!first}`));
    evil.attack = passThrough;
    await waitFor('Carol reaches the new epoch', 10, async () => ((await epochOf(carol)) > done.epoch ? true : `epoch ${await epochOf(carol)}`));
    await intact(all, marks, refused);
    const name = (id) => all.find((t) => t.me === id)?.label ?? id;
    return `commit for epoch ${done.epoch} delivered after ${name(done.from[0])}'s and ${name(done.from[1])}'s messages of epoch ${done.epoch + 1}`;
  });

  await step('(a) replay: the proxy re-sends Bob every MLS frame he ever got; nothing changes, nothing is shown', async () => {
    const marks = await markAll(all);
    const refused = await refusedNow();
    const before = await e2eeOf(bob);
    const old = connOf(bob).seen.filter((m) => m.type === 'mls');
    const kinds = {};
    for (const m of old) {
      const env = mlsEnvelope(m);
      kinds[env ? env.kind : 'other'] = (kinds[env ? env.kind : 'other'] || 0) + 1;
      connOf(bob).inject(m);
    }
    check(kinds.commit >= 1 && kinds.application >= 5 && kinds.welcome === 1, `too little to replay: ${JSON.stringify(kinds)}`);
    // A heartbeat of Alice's that arrives later on the same socket proves the replays were handled.
    const at = Date.now();
    await waitFor('Bob hears from Alice inside MLS after the replays', 10, async () => {
      const { now, m } = await hook(bob, (n) => ({ now: Date.now(), m: window.conclave.members().find((x) => x.name === n) }), alice.name);
      return now - m.silentMs > at + 50 || 'not yet';
    });
    const after = await e2eeOf(bob);
    check(after.state === 'member', `Bob is ${after.state}`);
    await intact(all, marks, refused);
    return `${old.length} frames replayed (${JSON.stringify(kinds)}); Bob at epoch ${after.epoch} (was ${before.epoch})`;
  });

  await step('(d) withheld commit: the proxy keeps the key changes from Carol; her page says so within seconds, and she catches up once they come', async () => {
    const marks = await markAll(all);
    const held = [];
    evil.attack = {
      toClient: (conn, msg) => {
        const env = mlsEnvelope(msg);
        if (conn.me === carol.me && env && env.kind === 'commit') { held.push(msg); return null; }
        return msg;
      },
    };
    const since = Date.now();
    const warning = await shows(carol, marks.get(carol), /The relay is holding back the group's key change/, 25, 'that the relay holds back the group\'s key change');
    const shownAfter = (Date.now() - since) / 1000;
    const [mine, theirs] = [await epochOf(carol), await epochOf(alice)];
    check(held.length >= 1 && mine < theirs, `Carol at epoch ${mine}, Alice at ${theirs}, ${held.length} commits held`);
    check(/\bCompare safety codes|rejoin with the link/i.test(warning), `the warning does not say what to do: ${warning}`);
    // The proxy lets them through, in order.
    evil.attack = passThrough;
    for (const m of held) connOf(carol).inject(m);
    await shows(carol, marks.get(carol), /The held-back key change arrived/, 15, 'that the key change arrived');
    await waitGroup(all, 20, 'Carol caught up');
    const wrong = (await eventsSince(carol, marks.get(carol))).filter((e) => /left|removed|joined|split/i.test(e.text));
    check(wrong.length === 0, `Carol showed ${JSON.stringify(wrong.map((e) => e.text))}`);
    for (const t of all) await mediaFlows(t, all.filter((o) => o !== t), 20);
    return `warned after ${shownAfter.toFixed(1)} s (Carol at epoch ${mine}, the group at ${theirs}); ${held.length} commits released; one group again at epoch ${await epochOf(carol)}`;
  });

  await step('(e) the relay answers nobody\'s key change: Alice\'s page says so; once the relay orders it, the group moves on', async () => {
    const marks = await markAll(all);
    const held = new Map(); // participant -> first commit it sent
    evil.attack = {
      toRelay: (conn, msg) => {
        const env = mlsEnvelope(msg);
        if (!env || env.kind !== 'commit') return msg;
        if (!held.has(conn.me)) held.set(conn.me, msg);
        return null;
      },
    };
    const start = await epochOf(alice);
    await waitFor('Alice\'s page says the relay has not answered her key change', 30, async () => (await hook(alice, () => window.conclave.stuck())) || `held from ${[...held.keys()].join(', ')}`);
    await shows(alice, marks.get(alice), /The relay has not answered our key change/, 5, 'the stuck note');
    check(held.has(alice.me), 'Alice\'s commit was not held');
    evil.attack = passThrough;
    connOf(alice).injectToRelay(held.get(alice.me));
    await shows(alice, marks.get(alice), /The relay answered our key change/, 15, 'that the relay answered');
    await waitGroup(all, 20, 'the held commit ordered');
    check(!(await hook(alice, () => window.conclave.stuck())), 'Alice still shows the key change as stuck');
    check((await epochOf(alice)) > start, 'the group did not move on');
    return `${held.size} commits held (${all.filter((t) => held.has(t.me)).map((t) => t.label).join(', ')}); Alice's released, epoch ${start} → ${await epochOf(alice)}`;
  });

  await step('(f) fork: Alice\'s and Bob\'s commits for one epoch both "accepted"; Carol sees Alice\'s. Both sides show the split; the codes differ', async () => {
    const marks = await markAll(all);
    const held = new Map();
    evil.attack = {
      toRelay: (conn, msg) => {
        const env = mlsEnvelope(msg);
        if (!env || env.kind !== 'commit') return msg;
        if (!held.has(conn.me)) held.set(conn.me, { msg, epoch: env.epoch });
        return null;
      },
    };
    await waitFor('Alice and Bob both commit for the same epoch', 30, () => (held.has(alice.me) && held.has(bob.me) ? true : `held from ${[...held.keys()].join(', ')}`));
    const epoch = held.get(alice.me).epoch;
    check(held.get(bob.me).epoch === epoch, `the commits are for epochs ${epoch} and ${held.get(bob.me).epoch}`);
    // The relay orders Alice's; Bob never gets it and is told his own was accepted.
    const aliceCommit = held.get(alice.me).msg.data;
    evil.attack = {
      toClient: (conn, msg) => (conn.me === bob.me && msg.type === 'mls' && msg.from === alice.me && msg.data === aliceCommit ? null : msg),
    };
    connOf(alice).injectToRelay(held.get(alice.me).msg);
    await waitFor('Alice and Carol move to the next epoch', 10, async () => ((await epochOf(alice)) > epoch && (await epochOf(carol)) > epoch ? true : 'not yet'));
    connOf(bob).inject(acceptedMls(bob.me, epoch));
    await waitFor('Bob moves to the next epoch on his own commit', 10, async () => ((await epochOf(bob)) > epoch ? true : `epoch ${await epochOf(bob)}`));
    const split = /The group has split/;
    const texts = {};
    for (const t of all) texts[t.label] = await shows(t, marks.get(t), split, 20, 'that the group has split');
    for (const [label, text] of Object.entries(texts)) {
      check(/Compare safety codes/.test(text) && /rejoin with the link/.test(text), `${label}'s warning does not say what to do: ${text}`);
    }
    const codes = Object.fromEntries(await Promise.all(all.map(async (t) => [t.label, (await e2eeOf(t)).code])));
    check(codes.alice === codes.carol, `Alice and Carol, on one side, show different codes: ${JSON.stringify(codes)}`);
    check(codes.bob !== codes.alice, `the split does not show in the safety codes: ${JSON.stringify(codes)}`);
    evil.attack = passThrough;
    return `split at epoch ${epoch}: Alice and Carol ${codes.alice} / Bob ${codes.bob}`;
  });
  evil.stop();
}

main(scenario, { label: 'mls relay', timeoutS: 170 });
