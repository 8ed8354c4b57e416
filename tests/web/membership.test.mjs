// Unit tests of the browser client's membership decisions
// (crates/web/assets/membership.js), outside the browser: `node --test
// tests/web/` (scripts/test.d/web-unit.sh). Several tabs, each a Membership
// with a fake of the wasm Call, talk through a fake relay (fake-room.mjs);
// time is simulated, in milliseconds. Each test states what a user of the
// call would see.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIT_TIMEOUT_MS, HEARTBEAT_MS, REKEY_MS, SILENT_MS, STALE_MS, SWITCH_DELAY_MS, TAKEOVER_MS } from '../../crates/web/assets/membership.js';
import { Net, Tab, envelope } from './fake-room.mjs';

/** Tabs named `names` join one after another, 5 s apart; the first creates
 * the room. Returns them at the time the last one got in. */
function callOf(names) {
  const net = new Net();
  const tabs = names.map((name, i) => new Tab(name, `p${i + 1}`));
  let now = 0;
  for (const tab of tabs) {
    net.connect(tab, now);
    net.flush(now);
    now += 5000;
  }
  return { net, tabs, now };
}

/** The commits the delivery service accepted that added someone. */
const addCommits = (net) => net.commits.filter((c) => c.added.length);

test('the first tab in an empty room starts the group alone, and its keys go to the worker', () => {
  const net = new Net();
  const a = net.connect(new Tab('Alice', 'p1'), 0);
  net.flush(0);
  assert.equal(a.m.state, 'member');
  assert.equal(a.m.epoch, 0);
  assert.deepEqual(a.names(), ['Alice (you)']);
  assert.deepEqual(a.keys, [{ epoch: 0, switchAfterMs: SWITCH_DELAY_MS }]);
  assert.ok(a.actions.some((x) => x.type === 'member' && x.how === 'created'));
  assert.ok(a.notes.some((n) => /You started the meeting/.test(n)));
});

test('everyone in a call sees the same roster, with names only from MLS profiles', () => {
  const { tabs: [a, b, c] } = callOf(['Alice', 'Bob', 'Carol']);
  assert.deepEqual(a.names(), ['Alice (you)', 'Bob', 'Carol']);
  assert.deepEqual(b.names(), ['Alice', 'Bob (you)', 'Carol']);
  assert.deepEqual(c.names(), ['Alice', 'Bob', 'Carol (you)']);
  assert.equal(new Set([a, b, c].map((t) => t.m.safetyCode)).size, 1);
  assert.deepEqual(c.m.members().map((r) => r.participant), ['p1', 'p2', 'p3']);
  // Those already there hear of each newcomer; the newcomer is not told that
  // the people it found there "joined".
  assert.ok(a.notes.includes('Carol joined'));
  assert.ok(!c.notes.some((n) => / joined$/.test(n)));
});

test('a joiner whose proof checks is admitted by exactly one member: the first in line', () => {
  const { net, tabs: [a, b, c], now } = callOf(['Alice', 'Bob', 'Carol']);
  const before = addCommits(net).length;
  const d = net.connect(new Tab('Dave', 'p4'), now);
  net.flush(now);
  assert.equal(d.m.state, 'member');
  const adds = addCommits(net).slice(before);
  assert.deepEqual(adds, [{ by: 'Alice', added: [3], removed: [] }]);
  // Later, the others' takeover delays pass: nobody admits Dave again.
  net.ticks(now + 1000, now + 4 * TAKEOVER_MS);
  assert.equal(addCommits(net).length, before + 1);
  for (const t of [b, c]) assert.ok(!t.actions.some((x) => x.type === 'send' && /"added":\[3\]/.test(new TextDecoder().decode(x.bytes))));
  assert.deepEqual(d.names(), ['Alice', 'Bob', 'Carol', 'Dave (you)']);
  assert.equal(new Set([a, b, c, d].map((t) => t.m.safetyCode)).size, 1);
});

test('when the first in line does nothing, the next takes over after TAKEOVER_MS, and only it', () => {
  const { net, tabs: [a], now } = callOf(['Alice', 'Bob', 'Carol']);
  net.hung.add(a); // Alice's tab is stuck (still in the room, says nothing)
  const before = net.commits.length;
  const d = net.connect(new Tab('Dave', 'p4'), now);
  net.flush(now);
  net.tick(now + TAKEOVER_MS - 1000);
  assert.equal(net.commits.length, before, 'Bob acted before his turn');
  assert.equal(d.m.state, 'waiting');
  net.tick(now + TAKEOVER_MS);
  assert.deepEqual(net.commits.slice(before), [{ by: 'Bob', added: [3], removed: [] }]);
  assert.equal(d.m.state, 'member');
  net.ticks(now + TAKEOVER_MS + 1000, now + 3 * TAKEOVER_MS);
  assert.equal(addCommits(net).length, 3, 'Carol admitted Dave a second time');
});

test('a joiner told to wait longer (admitTimeoutMs) gives up only then, and says how long it waited', () => {
  const { net, now } = callOf(['Alice', 'Bob']);
  const m = net.connect(new Tab('Mallory', 'p3', { goodSecret: false, admitTimeoutMs: 90000 }), now);
  net.flush(now);
  net.ticks(now + 1000, now + 89000);
  assert.equal(m.failure, null);
  assert.equal(m.m.state, 'waiting');
  net.tick(now + 90000);
  assert.equal(m.failure?.code, 'not_admitted');
  assert.match(m.failure.message, /within 90 seconds/);
});

test('a refused join is reported to every member, and the joiner gives up after ADMIT_TIMEOUT_MS', () => {
  const { net, tabs: [a, b], now } = callOf(['Alice', 'Bob']);
  const before = net.commits.length;
  const m = net.connect(new Tab('Mallory', 'p3', { goodSecret: false }), now);
  net.flush(now);
  for (const t of [a, b]) {
    assert.deepEqual(t.m.refused.map((r) => r.what), ['join']);
    assert.ok(t.notes.some((n) => /Someone tried to join without the right link/.test(n)));
    assert.ok(t.actions.some((x) => x.type === 'note' && x.kind === 'warn'));
  }
  net.ticks(now + 1000, now + ADMIT_TIMEOUT_MS - 1000);
  assert.equal(m.failure, null);
  assert.equal(m.m.state, 'waiting');
  net.tick(now + ADMIT_TIMEOUT_MS);
  assert.equal(m.failure?.code, 'not_admitted');
  assert.match(m.failure.message, /Nobody in this meeting let you in within 20 seconds/);
  assert.equal(m.m.state, 'out');
  assert.equal(net.commits.length, before, 'someone was let in without the link');
});

test('someone who presses Leave (said inside MLS) is removed at once by one member, with keys switched at once', () => {
  const { net, tabs: [a, b, c], now } = callOf(['Alice', 'Bob', 'Carol']);
  const before = net.commits.length;
  net.depart(a, now);
  net.flush(now);
  assert.deepEqual(net.commits.slice(before), [{ by: 'Bob', added: [], removed: [0] }]);
  for (const t of [b, c]) {
    assert.ok(t.notes.includes('Alice left the call; new keys'));
    assert.deepEqual(t.keys.at(-1), { epoch: 3, switchAfterMs: 0 });
  }
  assert.deepEqual(c.names(), ['Bob', 'Carol (you)']);
  net.ticks(now + 1000, now + 3 * TAKEOVER_MS);
  assert.equal(net.commits.length, before + 1);
  assert.deepEqual(c.m.departures.map(({ name, how, by }) => ({ name, how, by })), [{ name: 'Alice', how: 'left', by: null }]);
});

test('a leaf that never says who it is (no connection the relay could vouch for) is removed after SILENT_MS, not before', () => {
  const { net, tabs: [a, b], now } = callOf(['Alice', 'Bob']);
  net.dropWelcomes = true; // the joiner never gets in, though the group added it
  const c = net.connect(new Tab('Carol', 'p3'), now);
  net.flush(now);
  assert.equal(a.m.roster.length, 3);
  assert.deepEqual(b.names(), ['Alice', 'Bob (you)', '(no name yet)']);
  const before = net.commits.length;
  net.ticks(now + 1000, now + SILENT_MS - 1000);
  assert.equal(net.commits.length, before, 'removed before SILENT_MS');
  // The joiner, never let in, gave up on its own meanwhile.
  assert.equal(c.failure?.code, 'not_admitted');
  assert.ok(b.notes.some((n) => /The relay stopped delivering leaf 2/.test(n)), 'no warning before the removal');
  net.tick(now + SILENT_MS);
  assert.deepEqual(net.commits.slice(before), [{ by: 'Alice', added: [], removed: [2] }]);
  assert.deepEqual(b.names(), ['Alice', 'Bob (you)']);
});

test('the group rekeys after REKEY_MS, once, by the first in line', () => {
  const { net, tabs: [a, b], now } = callOf(['Alice', 'Bob']);
  const since = now - 5000; // Bob was let in then: the last epoch change
  const before = net.commits.length;
  net.ticks(now, since + REKEY_MS - 1000);
  assert.equal(net.commits.length, before, 'rekeyed early');
  net.tick(since + REKEY_MS);
  assert.deepEqual(net.commits.slice(before), [{ by: 'Alice', added: [], removed: [] }]);
  for (const t of [a, b]) assert.deepEqual(t.keys.at(-1), { epoch: 2, switchAfterMs: SWITCH_DELAY_MS });
  net.ticks(since + REKEY_MS + 1000, since + REKEY_MS + 2 * TAKEOVER_MS);
  assert.equal(net.commits.length, before + 1, 'Bob rekeyed too');
  assert.equal(a.m.safetyCode, b.m.safetyCode);
});

test('each epoch\'s keys go to the worker exactly once, in order: joins, host approval, rekeys, a leave, a removal', () => {
  // The worker's encryptor restarts its SFrame frame counter on every new
  // epoch; the same epoch twice would reuse nonces under one key. Every
  // member here lives through a Welcome, its own commits (Accepted) and the
  // others' commits; fake-room.mjs also refuses a repeat in every test.
  const net = new Net();
  const h = net.connect(new Tab('Heron', 'p1', { rekeyMs: 5000 }), 0, { hostApproval: true });
  net.flush(0);
  const g = net.connect(new Tab('Gecko', 'p2', { rekeyMs: 5000 }), 1000);
  const l = net.connect(new Tab('Lemur', 'p3', { rekeyMs: 5000 }), 1000);
  net.flush(1000);
  assert.equal(h.asks.length, 2);
  net.run(h, h.m.admit(h.asks[0], 2000));
  net.run(h, h.m.admit(h.asks[1], 2000));
  net.flush(2000);
  const c = net.connect(new Tab('Carp', 'p4', { rekeyMs: 5000 }), 3000);
  net.flush(3000);
  net.run(h, h.m.admit(h.asks[2], 3500));
  net.flush(3500);
  net.ticks(4000, 20000); // rekeys, by whoever is first in line
  net.depart(l, 20500); // a leave, committed by a member
  net.flush(20500);
  net.run(h, h.m.removeMember(g.m.ownLeaf, 21000)); // a removal
  net.flush(21000);
  net.ticks(22000, 40000);
  for (const t of [h, c]) {
    const epochs = t.keys.map((k) => k.epoch);
    assert.deepEqual(epochs, [...new Set(epochs)].sort((x, y) => x - y), `${t.name} got ${epochs}`);
    assert.equal(epochs.at(-1), t.m.epoch);
    assert.equal(t.m.epoch, h.m.epoch);
  }
  assert.ok(h.m.epoch >= 8, `only ${h.m.epoch} epochs`);
  assert.deepEqual(h.names(), ['Heron (you)', 'Carp']);
  assert.equal(h.keys.length, h.m.epoch + 1, 'the host missed an epoch or got one twice');
});

test('a shorter rekey interval (the tests\' rekey_s) is honoured', () => {
  const net = new Net();
  const a = net.connect(new Tab('Alice', 'p1', { rekeyMs: 5000 }), 0);
  net.flush(0);
  net.ticks(1000, 4000);
  assert.equal(net.commits.length, 0);
  net.tick(5000);
  assert.equal(net.commits.length, 1);
  assert.equal(a.m.epoch, 1);
});

test('host approval: only the host is asked, once; nobody commits until the host admits', () => {
  const net = new Net();
  const h = net.connect(new Tab('Heron', 'p1'), 0, { hostApproval: true });
  net.flush(0);
  const g = net.connect(new Tab('Gecko', 'p2'), 5000);
  net.flush(5000);
  assert.equal(h.asks.length, 1);
  net.ticks(6000, 15000);
  assert.equal(h.asks.length, 1, 'the host was asked twice');
  assert.equal(net.commits.length, 0);
  assert.equal(g.m.state, 'waiting');
  net.run(h, h.m.admit(h.asks[0], 15000));
  net.flush(15500);
  assert.equal(g.m.state, 'member');
  assert.deepEqual(g.names(), ['Heron', 'Gecko (you)']);
  assert.deepEqual(g.m.members().map((r) => r.host), [true, false]);

  // A second guest: the member who is not a host never admits; the host denies.
  const l = net.connect(new Tab('Lemur', 'p3'), 20000);
  net.flush(20000);
  assert.equal(h.asks.length, 2);
  assert.ok(!g.actions.some((x) => x.type === 'ask_host'));
  net.run(h, h.m.deny(h.asks[1]));
  assert.ok(h.notes.includes('You denied a join request'));
  net.ticks(21000, 20000 + ADMIT_TIMEOUT_MS);
  assert.equal(net.commits.length, 1);
  assert.equal(l.failure?.code, 'not_admitted');
});

test('a host\'s Admit while its own rekey waits for the delivery service is carried out after it, not lost', () => {
  const net = new Net();
  const h = net.connect(new Tab('Heron', 'p1', { rekeyMs: 5000 }), 0, { hostApproval: true });
  net.flush(0);
  const g = net.connect(new Tab('Gecko', 'p2'), 1000);
  net.flush(1000);
  assert.equal(h.asks.length, 1);
  // The rekey is due: the host commits, and the relay has not answered yet.
  net.run(h, h.m.handleTimeout(5000));
  assert.ok(h.call.hasPendingCommit(), 'the host has a rekey in flight');
  net.run(h, h.m.admit(h.asks[0], 5001));
  assert.ok(h.notes.some((n) => /once the key change in progress settles/.test(n)));
  net.flush(5002);
  net.flush(5003);
  assert.equal(g.m.state, 'member', 'the guest was not admitted after the rekey settled');
  assert.deepEqual(g.names(), ['Heron', 'Gecko (you)']);
});

test('a forged peer_left removes nobody, and the page says the relay claims she left while her messages still arrive', () => {
  const { net, tabs: [a, b, c], now } = callOf(['Alice', 'Bob', 'Carol']);
  const before = net.commits.length;
  // The relay tells Alice and Carol that Bob left, while Bob is still there.
  net.forgePeerLeft(b, now, [a, c]);
  net.flush(now);
  // Long past every removal deadline: Bob's heartbeats keep arriving inside MLS.
  net.ticks(now + 1000, now + 2 * SILENT_MS);
  assert.equal(net.commits.filter((x) => x.removed.length).length, 0, 'someone was removed');
  assert.equal(b.failure, null);
  for (const t of [a, c]) {
    assert.deepEqual(t.names().filter((n) => !n.endsWith('(you)')).length, 2);
    assert.ok(t.names().includes('Bob'));
    const bob = t.m.members(now + 2 * SILENT_MS).find((r) => r.name === 'Bob');
    assert.equal(bob.relayClaimsLeft, true);
    assert.equal(bob.stale, false);
    assert.ok(t.notes.some((n) => n === 'The relay says Bob left, but Bob did not leave the call: their messages still arrive'));
  }
  // Rekeys went on (the group works), and nothing else happened.
  assert.ok(net.commits.length >= before);
  assert.ok(net.commits.slice(before).every((x) => !x.removed.length && !x.added.length));
});

test('a member silent inside MLS and gone from the relay is removed after SILENT_MS, not before; the others first see the relay stopped delivering them', () => {
  const { net, tabs: [a, b, c], now } = callOf(['Alice', 'Bob', 'Carol']);
  net.hung.add(c); // Carol's tab died without a word
  net.leave(c, now); // and the relay says her connection is gone
  const last = a.m.heard.get(2);
  assert.ok(last <= now);
  const before = net.commits.length;
  net.ticks(now + 1000, last + STALE_MS - 1000);
  assert.ok(!a.notes.some((n) => /stopped delivering Carol/.test(n)), 'warned before STALE_MS');
  net.ticks(last + STALE_MS, last + SILENT_MS - 1000);
  for (const t of [a, b]) {
    assert.ok(t.notes.some((n) => /^The relay stopped delivering Carol: nothing from them inside the call for \d+ s$/.test(n)), `${t.name}: ${t.notes}`);
    assert.equal(t.m.members(last + SILENT_MS - 1000).find((r) => r.name === 'Carol').stale, true);
  }
  assert.equal(net.commits.length, before, 'removed before SILENT_MS');
  net.tick(last + SILENT_MS);
  assert.deepEqual(net.commits.slice(before), [{ by: 'Alice', added: [], removed: [2] }]);
  assert.deepEqual(b.names(), ['Alice', 'Bob (you)']);
  assert.ok(b.notes.some((n) => /^Carol was removed by Alice \(nothing from them inside the call for 45 s and the relay no longer has them\)/.test(n)), b.notes.join('\n'));
  assert.deepEqual(b.m.departures.map(({ name, how, by, silent }) => ({ name, how, by, silent })), [{ name: 'Carol', how: 'removed', by: 'Alice', silent: true }]);
});

test('a relay that withholds a member\'s messages gets her shown as not delivered, never removed while it keeps her connection', () => {
  const { net, tabs: [a, b, c], now } = callOf(['Alice', 'Bob', 'Carol']);
  net.muted.add(c); // the relay drops everything Carol says toward the others
  net.ticks(now + 1000, now + 3 * SILENT_MS);
  assert.equal(net.commits.filter((x) => x.removed.length).length, 0);
  for (const t of [a, b]) {
    assert.ok(t.names().includes('Carol'));
    assert.ok(t.notes.some((n) => /^The relay stopped delivering Carol/.test(n)));
    assert.equal(t.m.members(now + 3 * SILENT_MS).find((r) => r.name === 'Carol').stale, true);
  }
  // A forged peer_left on top of that would make it rule (c): silence AND absence.
  net.forgePeerLeft(c, now + 3 * SILENT_MS + 1000);
  net.flush(now + 3 * SILENT_MS + 1000);
  assert.deepEqual(net.commits.filter((x) => x.removed.length).map((x) => x.removed), [[2]]);
});

test('heartbeats go out every HEARTBEAT_MS, and mute state travels inside MLS', () => {
  const { net, tabs: [a, b], now } = callOf(['Alice', 'Bob']);
  const sent = () => a.actions.filter((x) => x.type === 'send').length;
  const n0 = sent();
  net.ticks(now + 1000, now + 3 * HEARTBEAT_MS);
  assert.ok(sent() - n0 >= 3 && sent() - n0 <= 4, `${sent() - n0} messages in ${3 * HEARTBEAT_MS} ms`);
  net.run(a, a.m.setSending({ audio: false, video: true }, now + 3 * HEARTBEAT_MS + 10));
  net.flush(now + 3 * HEARTBEAT_MS + 10);
  const alice = b.m.members(now + 3 * HEARTBEAT_MS + 10).find((r) => r.name === 'Alice');
  assert.deepEqual([alice.audio, alice.video], [false, true]);
  net.run(a, a.m.setSending({ audio: true, video: false }, now + 3 * HEARTBEAT_MS + 20));
  net.flush(now + 3 * HEARTBEAT_MS + 20);
  const again = b.m.members(now + 3 * HEARTBEAT_MS + 20).find((r) => r.name === 'Alice');
  assert.deepEqual([again.audio, again.video], [true, false]);
});

test('a screen share starting and stopping travels inside MLS, and the microphone button does not undo it', () => {
  const { net, tabs: [a, b], now } = callOf(['Alice', 'Bob']);
  const alice = (at) => b.m.members(at).find((r) => r.name === 'Alice');
  assert.equal(alice(now).screen, false);
  net.run(a, a.m.setScreen(true, now + 10));
  net.flush(now + 10);
  assert.equal(alice(now + 10).screen, true);
  assert.equal(a.m.members(now + 10).find((r) => r.self).screen, true);
  net.run(a, a.m.setSending({ audio: false, video: true }, now + 20));
  net.flush(now + 20);
  assert.deepEqual([alice(now + 20).audio, alice(now + 20).screen], [false, true]);
  net.run(a, a.m.setScreen(false, now + 30));
  net.flush(now + 30);
  assert.equal(alice(now + 30).screen, false);
});

test('an explicit removal is committed by whoever pressed Remove, and everyone sees who did it; the removed member is told', () => {
  const { net, tabs: [a, b, c], now } = callOf(['Alice', 'Bob', 'Carol']);
  const before = net.commits.length;
  net.run(c, c.m.removeMember(1, now));
  net.flush(now);
  assert.deepEqual(net.commits.slice(before), [{ by: 'Carol', added: [], removed: [1] }]);
  assert.equal(b.failure?.code, 'removed');
  assert.equal(b.failure.message, 'You were removed from the call by Carol.');
  assert.deepEqual(a.names(), ['Alice (you)', 'Carol']);
  assert.ok(a.notes.includes('Bob was removed by Carol; new keys'), a.notes.join('\n'));
  assert.ok(c.notes.includes('Bob was removed by you; new keys'), c.notes.join('\n'));
  assert.deepEqual(a.m.departures.map(({ name, how, by }) => ({ name, how, by })), [{ name: 'Bob', how: 'removed', by: 'Carol' }]);
});

test('a removal nobody announced inside MLS says "by a member"', () => {
  const { net, tabs: [a, b, c], now } = callOf(['Alice', 'Bob', 'Carol']);
  net.run(c, [{ type: 'send', bytes: c.call.remove([1]) }]); // a bare commit, no announcement
  net.flush(now);
  assert.ok(a.notes.includes('Bob was removed by a member; new keys'), a.notes.join('\n'));
  assert.equal(b.failure.message, 'You were removed from the call by a member.');
});

test('where only hosts may remove, only a host gets to remove', () => {
  const net = new Net();
  const h = net.connect(new Tab('Heron', 'p1', { hostsOnlyRemove: true }), 0);
  net.flush(0);
  const g = net.connect(new Tab('Gecko', 'p2'), 5000);
  net.flush(5000);
  const l = net.connect(new Tab('Lemur', 'p3'), 10000);
  net.flush(10000);
  assert.equal(h.m.canRemove(), true);
  assert.equal(g.m.canRemove(), false);
  const before = net.commits.length;
  assert.deepEqual(g.m.removeMember(2, 11000), []);
  net.flush(11000);
  assert.equal(net.commits.length, before);
  net.run(h, h.m.removeMember(2, 12000));
  net.flush(12000);
  assert.deepEqual(net.commits.slice(before), [{ by: 'Heron', added: [], removed: [2] }]);
  assert.equal(l.failure?.code, 'removed');
  assert.deepEqual(g.names(), ['Heron', 'Gecko (you)']);
});

test('a second claim of someone\'s relay id moves no name', () => {
  const { net, tabs: [a, b, c], now } = callOf(['Alice', 'Bob', 'Carol']);
  const group = c.call.group;
  // Carol's leaf says Bob's connection is hers (a confused or lying client).
  net.deliver(a, c, { t: 'app', group, sender: 2, text: JSON.stringify({ profile: { name: 'Carol', participant: 'p2' } }) }, now);
  assert.deepEqual(a.names(), ['Alice (you)', 'Bob', 'Carol']);
  assert.equal(a.m.members(now).find((r) => r.leaf === 1).participant, 'p2');
});

test('a forged invitation is refused, and the joiner asks again with a fresh ticket', () => {
  const { net, tabs: [a], now } = callOf(['Alice']);
  const j = new Tab('Joy', 'p2');
  net.hung.add(a); // nobody answers for now
  net.connect(j, now);
  net.flush(now);
  const first = j.call.ticket;
  net.hung.delete(a);
  net.deliver(j, a, { t: 'welcome', group: 'forged', ticket: 'not-ours', epoch: 7, roster: [], leaf: 0, policy: null }, now + 100);
  assert.deepEqual(j.m.refused.map((r) => r.what), ['welcome']);
  assert.ok(j.notes.some((n) => /An invitation that no member made was refused/.test(n)));
  assert.notEqual(j.call.ticket, first);
  net.flush(now + 100); // the new request reaches Alice, who admits it
  assert.equal(j.m.state, 'member');
  assert.deepEqual(j.names(), ['Alice', 'Joy (you)']);
});

test('a commit no member made is refused and changes nothing', () => {
  const { net, tabs: [a, b], now } = callOf(['Alice', 'Bob']);
  const code = a.m.safetyCode;
  net.deliver(a, b, { t: 'commit', group: 'elsewhere', epoch: 1, roster: [], added: [], removed: [0], welcomes: [] }, now);
  assert.deepEqual(a.m.refused.map((r) => r.what), ['commit']);
  assert.ok(a.notes.some((n) => /A change to the call that no member made was refused/.test(n)));
  assert.equal(a.m.safetyCode, code);
  assert.equal(a.m.state, 'member');
});

test('two tabs that started the room at the same moment end in one group: the higher relay id gives up its own', () => {
  const net = new Net();
  const a = new Tab('Alice', 'p1');
  const b = new Tab('Bob', 'p2');
  net.connect(a, 0, { alone: true });
  net.connect(b, 0, { alone: true });
  assert.equal(a.m.state, 'member');
  assert.equal(b.m.state, 'member');
  net.flush(0);
  assert.ok(b.actions.some((x) => x.type === 'rejoining'));
  assert.ok(b.actions.some((x) => x.type === 'stop_keys'));
  assert.ok(b.notes.some((n) => /Someone else started this meeting at the same moment/.test(n)));
  assert.ok(b.calls[0].freed, 'the abandoned group was not freed');
  assert.ok(!a.actions.some((x) => x.type === 'rejoining'));
  assert.equal(a.m.state, 'member');
  assert.equal(b.m.state, 'member');
  assert.deepEqual(a.names(), ['Alice (you)', 'Bob']);
  assert.equal(a.m.safetyCode, b.m.safetyCode);
  // The tab that kept its group cannot read the other's first message and
  // lists it as refused, as the page always has; the one that gave up its
  // group does not.
  assert.deepEqual(b.m.refused, []);
});

test('profile names are cut to 64 characters, blank ones become Guest, oversized profiles are ignored', () => {
  const { net, tabs: [a, b], now } = callOf(['Alice', 'Bob']);
  const group = b.call.group;
  const say = (profile, at) => net.deliver(a, b, { t: 'app', group, sender: 1, text: JSON.stringify({ profile }) }, at);
  say({ name: `  ${'x'.repeat(100)}  `, participant: 'p2' }, now);
  assert.equal(a.names()[1], 'x'.repeat(64));
  say({ name: '   ', participant: 'p2' }, now);
  assert.equal(a.names()[1], 'Guest');
  say({ name: 'y'.repeat(600), participant: 'p2' }, now);
  assert.equal(a.names()[1], 'Guest');
  net.deliver(a, b, { t: 'app', group, sender: 1, text: 'not json' }, now);
  assert.equal(a.names()[1], 'Guest');
  assert.equal(a.m.leafOf('p2'), 1);
  // Only members' messages count; an unknown leaf says nothing.
  net.deliver(a, b, { t: 'app', group, sender: 7, text: JSON.stringify({ profile: { name: 'Ghost', participant: 'p9' } }) }, now);
  assert.ok(!a.names().includes('Ghost'));
});

test('nothing is sent for a participant the relay says left before they ever showed up', () => {
  const net = new Net();
  const a = net.connect(new Tab('Alice', 'p1'), 0);
  net.flush(0);
  net.run(a, a.m.peerLeft('p9', 1000));
  a.m.peerPresent('p9');
  assert.ok(a.m.hasLeft('p9'));
  assert.ok(!a.m.present.has('p9'));
  assert.equal(net.queue.length, 0);
  // A closed membership ignores whatever still arrives.
  a.m.close();
  assert.deepEqual(a.m.handleMls('p2', envelope({ t: 'app' }), 2000), []);
  assert.equal(a.m.state, 'out');
});

test('a device key is shown as four groups of four hex digits', async () => {
  const { fingerprint } = await import('../../crates/web/assets/membership.js');
  assert.equal(fingerprint('3f2a91c07b1e0d44aa'), '3f2a 91c0 7b1e 0d44');
  assert.equal(fingerprint(null), null);
  assert.equal(fingerprint('not hex at all, no'), null);
});

test('a relay that withholds the answer to our key change is called out once, after STUCK_MS', async () => {
  const { STUCK_MS } = await import('../../crates/web/assets/membership.js');
  const net = new Net();
  const a = net.connect(new Tab('Alice', 'p1', { rekeyMs: 5000 }), 0);
  net.flush(0);
  net.dropAnswers = true;
  net.ticks(1000, 5000); // the rekey goes out at 5 s; no answer comes back
  assert.ok(a.call.hasPendingCommit(), 'the rekey is waiting');
  net.ticks(6000, 5000 + STUCK_MS - 1000);
  assert.ok(!a.notes.some((n) => /has not answered our key change/.test(n)), 'called out too early');
  net.ticks(5000 + STUCK_MS, 5000 + STUCK_MS + 5000);
  assert.equal(a.notes.filter((n) => /has not answered our key change/.test(n)).length, 1);
  assert.equal(a.m.stuck, true);
});

test('chat: a member\'s message reaches the page with its leaf; a non-member\'s or malformed one does not; only members send', () => {
  const { net, tabs: [a, b], now } = callOf(['Alice', 'Bob']);
  const group = b.call.group;
  const chats = () => a.actions.filter((x) => x.type === 'chat').map((x) => [x.from, x.text]);
  net.deliver(a, b, { t: 'app', group, sender: 1, text: JSON.stringify({ chat: { text: ' hello ' } }) }, now);
  assert.deepEqual(chats(), [[1, 'hello']]);
  net.deliver(a, b, { t: 'app', group, sender: 7, text: JSON.stringify({ chat: { text: 'ghost' } }) }, now);
  net.deliver(a, b, { t: 'app', group, sender: 1, text: JSON.stringify({ chat: { text: 5 } }) }, now);
  assert.deepEqual(chats(), [[1, 'hello']], 'no message from an unknown leaf, none malformed');
  const sent = a.m.sendChat('hi all');
  assert.deepEqual(sent.map((x) => x.type), ['send'], 'one MLS message goes out');
  a.m.close();
  assert.equal(a.m.sendChat('too late'), null, 'not a member any more: not sent, not kept');
});
