// Unit tests of what the page makes of a relay that plays games with MLS
// messages (crates/web/assets/mls-order.js, through membership.js): replays,
// duplicates, reordering, a withheld commit, a fork. Tabs talk through the
// fake relay of fake-room.mjs, whose `tamper` hook lies; time is simulated.
// Each test states what a user of the call would see.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEARTBEAT_MS, STUCK_MS } from '../../crates/web/assets/membership.js';
import { BEHIND_MS, HOLD_MAX, MlsOrder } from '../../crates/web/assets/mls-order.js';
import { Net, Tab } from './fake-room.mjs';

const REKEY = 20000;

/** Alice, Bob and Carol in one call (Alice rekeys every REKEY ms). */
function call() {
  const net = new Net();
  const tabs = [new Tab('Alice', 'p1', { rekeyMs: REKEY }), new Tab('Bob', 'p2', { rekeyMs: REKEY }), new Tab('Carol', 'p3', { rekeyMs: REKEY })];
  let now = 0;
  for (const tab of tabs) {
    net.connect(tab, now);
    net.flush(now);
    now += 1000;
  }
  net.ticks(now, now + 3000);
  return { net, tabs, now: now + 4000 };
}

/** Everything a tab showed from `since` (an index into its notes). */
const notesSince = (tab, since) => tab.notes.slice(since);

/** All tabs are in one group: same code, all names, members all. */
function oneGroup(tabs) {
  assert.equal(new Set(tabs.map((t) => t.m.safetyCode)).size, 1, `codes differ: ${tabs.map((t) => t.m.safetyCode).join(' / ')}`);
  for (const t of tabs) {
    assert.equal(t.m.state, 'member');
    assert.deepEqual(t.m.members().map((r) => r.name).sort(), ['Alice', 'Bob', 'Carol']);
  }
}

/** Lets time pass until Alice's next rekey is applied everywhere. */
function rekey(net, tabs, from) {
  const epoch = tabs[0].m.epoch;
  let now = from;
  while (tabs[0].m.epoch === epoch) {
    now += 1000;
    net.tick(now);
    assert.ok(now - from < 2 * REKEY, 'no rekey');
  }
  return now;
}

test('a relay that replays old MLS messages (commits, profiles, Welcomes) changes nothing and shows nothing', () => {
  const { net, tabs, now } = call();
  const [, bob] = tabs;
  const t = rekey(net, tabs, now);
  const old = net.delivered.get(bob).slice();
  assert.ok(old.some((d) => d.env.t === 'commit') && old.some((d) => d.env.t === 'app') && old.some((d) => d.env.t === 'welcome'));
  const notes = bob.notes.length;
  const keys = bob.keys.length;
  for (const d of old) net.deliver(bob, d.from, d.env, t + 100);
  // Our own messages reflected back, too.
  for (const d of net.delivered.get(tabs[0]).filter((x) => x.from === bob)) net.deliver(bob, bob, d.env, t + 200);
  net.flush(t + 200);
  assert.deepEqual(notesSince(bob, notes), []);
  assert.equal(bob.keys.length, keys, 'the media keys changed');
  assert.deepEqual(bob.m.refused, []);
  assert.ok(bob.m.order.counts.duplicate + bob.m.order.counts.old >= old.length);
  oneGroup(tabs);
  assert.deepEqual(bob.m.departures, []);
});

test('a relay that delivers every MLS message twice: the call goes on as before, nothing shown', () => {
  const { net, tabs, now } = call();
  const [, bob] = tabs;
  net.tamper = (to, _from, env) => (to === bob ? [env, env] : [env]);
  const notes = bob.notes.length;
  let t = rekey(net, tabs, now);
  t = rekey(net, tabs, t);
  net.ticks(t, t + 2 * HEARTBEAT_MS);
  assert.deepEqual(notesSince(bob, notes).filter((n) => !/^(someone was|\d+ people were) let in/.test(n)), []);
  assert.deepEqual(bob.m.refused, []);
  assert.ok(bob.m.order.counts.duplicate > 0);
  oneGroup(tabs);
  // Each epoch's keys reached the worker once.
  assert.deepEqual(bob.keys.map((k) => k.epoch), [...new Set(bob.keys.map((k) => k.epoch))]);
});

test('messages of a new epoch before the commit that starts it are held and read once it comes; swapped ones too', () => {
  const { net, tabs, now } = call();
  const [alice, , carol] = tabs;
  // Toward Carol: hold Alice's commit until two messages of the new epoch
  // have passed, and swap those two.
  let commit = null;
  let first = null;
  net.tamper = (to, from, env) => {
    if (to !== carol) return [env];
    if (env.t === 'commit' && !commit) { commit = { from, env }; return []; }
    if (commit && env.t === 'app' && env.epoch > commit.env.epoch) {
      if (!first) { first = env; return []; }
      const out = [env, first, commit.env];
      net.tamper = null;
      return out;
    }
    return [env];
  };
  const notes = carol.notes.length;
  const t = rekey(net, tabs, now);
  assert.equal(net.tamper, null, 'the relay did not get to reorder');
  net.ticks(t, t + BEHIND_MS + 2000);
  assert.deepEqual(notesSince(carol, notes), []);
  assert.deepEqual(carol.m.refused, []);
  assert.ok(carol.m.order.counts.held >= 2);
  assert.equal(carol.m.order.held.length, 0);
  oneGroup(tabs);
  // What the held messages said counted: Carol heard Alice inside MLS.
  assert.ok(carol.m.heard.get(alice.m.ownLeaf) > t - 1000);
});

test('a member\'s profiles delivered out of order: the newer one stands', () => {
  const { net, tabs, now } = call();
  const [alice, bob] = tabs;
  let held = null;
  net.tamper = (to, from, env) => {
    if (to !== bob || from !== alice || env.t !== 'app') return [env];
    if (!held) { held = env; return []; }
    net.tamper = null;
    return [env, held];
  };
  net.run(alice, alice.m.setSending({ audio: false, video: true }, now));
  net.run(alice, alice.m.setSending({ audio: true, video: true }, now + 10));
  net.flush(now + 10);
  const a = bob.m.members().find((m) => m.name === 'Alice');
  assert.equal(a.audio, true, 'the older profile (microphone off) undid the newer one');
});

test('a relay that withholds a commit from one member: she is told within BEHIND_MS, commits nothing meanwhile, and catches up when it comes', () => {
  const { net, tabs, now } = call();
  const [, bob, carol] = tabs;
  const held = [];
  net.tamper = (to, from, env) => {
    if (to === carol && env.t === 'commit') { held.push({ from, env }); return []; }
    return [env];
  };
  const notes = carol.notes.length;
  const sent = carol.actions.length;
  let t = rekey(net, tabs, now);
  assert.equal(held.length, 1);
  assert.notEqual(carol.m.epoch, bob.m.epoch);
  const start = t;
  while (!carol.notes.some((n) => /The relay is holding back the group's key change/.test(n))) {
    t += 1000;
    net.tick(t);
    assert.ok(t - start <= BEHIND_MS + HEARTBEAT_MS + 1000, 'not told in time');
  }
  // Long enough for Carol's own rekey turn: she commits nothing on a stale epoch.
  net.ticks(t + 1000, t + REKEY);
  t += REKEY;
  const commits = carol.actions.slice(sent).filter((a) => a.type === 'send' && /"t":"commit"/.test(new TextDecoder().decode(a.bytes)));
  assert.deepEqual(commits, []);
  net.tamper = null;
  for (const h of held) net.deliver(carol, h.from, h.env, t + 10);
  net.flush(t + 10);
  net.ticks(t + 1000, t + 3000);
  oneGroup(tabs);
  const shown = notesSince(carol, notes);
  assert.equal(shown.filter((n) => /holding back/.test(n)).length, 1);
  assert.ok(shown.some((n) => /The held-back key change arrived/.test(n)), shown.join('\n'));
  assert.ok(!shown.some((n) => /split/.test(n)));
});

test('a relay that accepts two commits for one epoch (a fork): both sides are told at once, and their codes differ', () => {
  const { net, tabs, now } = call();
  const [alice, bob, carol] = tabs;
  const epoch = alice.m.epoch;
  // Alice's and Bob's rekeys for the same epoch; the relay says yes to both
  // and shows Carol Alice's.
  const a = alice.call.selfUpdate();
  bob.call.selfUpdate();
  const marks = tabs.map((t) => t.notes.length);
  net.deliver(alice, alice, { t: 'accepted', epoch }, now);
  net.deliver(bob, bob, { t: 'accepted', epoch }, now);
  net.deliver(carol, alice, JSON.parse(new TextDecoder().decode(a)), now);
  net.epoch += 1; // the relay counts one commit for the epoch
  net.flush(now);
  assert.equal(alice.m.epoch, bob.m.epoch, 'the same epoch number on both sides');
  assert.equal(alice.m.safetyCode, carol.m.safetyCode);
  assert.notEqual(alice.m.safetyCode, bob.m.safetyCode);
  for (const [i, t] of tabs.entries()) {
    const shown = notesSince(t, marks[i]).filter((n) => /The group has split/.test(n));
    assert.equal(shown.length, 1, `${t.name}: ${t.notes.join('\n')}`);
    assert.match(shown[0], /Compare safety codes/);
    assert.match(shown[0], /rejoin with the link/);
  }
  // Later messages across the split say nothing new.
  net.ticks(now + 1000, now + 3 * HEARTBEAT_MS);
  for (const t of tabs) assert.equal(t.notes.filter((n) => /The group has split/.test(n)).length, 1);
});

test('held messages are bounded in number and time, and a stuck committer is still called out', () => {
  const order = new MlsOrder();
  for (let i = 0; i < HOLD_MAX + 10; i++) order.place('p1', new Uint8Array([i]), { kind: 'refused', epoch: 5, relation: 'ahead' }, 3, i);
  assert.equal(order.held.length, HOLD_MAX);
  assert.equal(order.held[0].bytes[0], 10, 'the oldest went first');
  assert.ok(order.behind(3));
  const notes = order.watch(BEHIND_MS + 100, 3);
  assert.equal(notes.length, 1);
  assert.equal(notes[0].kind, 'warn');
  // The relay never sends the commit: the messages go after HOLD_MS, the warning stands.
  assert.deepEqual(order.watch(60000, 3), []);
  assert.equal(order.held.length, 0);
  assert.ok(!order.behind(3));
  // Old, duplicate and unplaced messages.
  assert.equal(order.place('p1', new Uint8Array(), { kind: 'refused', epoch: 1, relation: 'behind' }, 3, 0), 'old');
  assert.equal(order.place('p1', new Uint8Array(), { kind: 'duplicate' }, 3, 0), 'duplicate');
  assert.equal(order.place('p1', new Uint8Array(), { kind: 'refused', what: 'commit' }, 3, 0), null);
  assert.equal(order.place('p1', new Uint8Array(), { kind: 'refused', epoch: 3, relation: 'current' }, 3, 0), 'fork');
  assert.ok(STUCK_MS > 0);
});
