// Unit tests of whose each remote track is (crates/web/assets/tracks.js): by
// the SFrame key that decrypted its frames, never by the relay's label.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RECENT_MS, SETTLE_MS, attribute } from '../../crates/web/assets/tracks.js';

const NOW = 100000;
const profiles = { p1: 1, p2: 2, p3: 3 };
const ctx = { members: new Set([1, 2, 3]), leafOfLabel: (l) => profiles[l] ?? null, now: NOW };
const rx = (mid, kind, label, sender, over = {}) => ({ mid, kind, label, sender, live: true, labelAt: 0, ok: 10, lastOkAt: NOW - 100, ...over });

test('each track is shown under the member whose key decrypts it', () => {
  const a = attribute([rx('3', 'audio', 'p1', 1), rx('4', 'video', 'p1', 1), rx('5', 'video', 'p2', 2)], ctx);
  assert.deepEqual([...a.shown], [[1, { audio: '3', video: '4' }], [2, { video: '5' }]]);
  assert.deepEqual(a.relabeled, []);
  assert.deepEqual(a.duplicates, []);
});

test('tracks the relay swapped between two members are shown under their true senders, and flagged', () => {
  const a = attribute([rx('4', 'video', 'p2', 1), rx('5', 'video', 'p1', 2)], ctx);
  assert.deepEqual(a.shown.get(1), { video: '4' });
  assert.deepEqual(a.shown.get(2), { video: '5' });
  assert.deepEqual(a.relabeled.map((r) => [r.mid, r.claimed, r.sender]), [['4', 2, 1], ['5', 1, 2]]);
});

test('a mismatch right after the relay relabelled a reused m-line is not flagged yet', () => {
  const a = attribute([rx('4', 'video', 'p2', 1, { labelAt: NOW - 200, lastOkAt: NOW - 100 })], ctx);
  assert.deepEqual(a.relabeled, []);
  const b = attribute([rx('4', 'video', 'p2', 1, { labelAt: NOW - 5000, lastOkAt: NOW - 5000 + SETTLE_MS })], ctx);
  assert.equal(b.relabeled.length, 1);
});

test('a track with no authenticated frame, or from someone not in the group, is shown under no name', () => {
  const a = attribute([rx('4', 'video', 'p1', null, { ok: 0 }), rx('5', 'video', 'p2', 9), rx('6', 'audio', 'p3', 3, { live: false })], ctx);
  assert.equal(a.shown.size, 0);
  assert.deepEqual(a.unattributed.sort(), ['4', '5']);
});

test('two receivers of one kind decrypting to one member: the newest is shown, the other flagged while it still receives', () => {
  const a = attribute([rx('4', 'video', 'p1', 1, { lastOkAt: NOW - 500 }), rx('6', 'video', 'p3', 1, { lastOkAt: NOW - 50 })], ctx);
  assert.deepEqual(a.shown.get(1), { video: '6' });
  assert.deepEqual(a.duplicates, [{ mid: '4', kind: 'video', sender: 1, shownMid: '6' }]);
  const old = attribute([rx('4', 'video', 'p1', 1, { lastOkAt: NOW - RECENT_MS - 1 }), rx('6', 'video', 'p1', 1)], ctx);
  assert.deepEqual(old.shown.get(1), { video: '6' });
  assert.deepEqual(old.duplicates, []);
});

test('a screen share is the receiver whose frames decrypt under a member\'s screen key (context 1), apart from the camera', () => {
  const a = attribute([
    rx('3', 'audio', 'p1', 1, { context: 0 }),
    rx('4', 'video', 'p1', 1, { context: 0 }),
    rx('7', 'video', 'p1', 1, { context: 1 }),
    rx('8', 'video', 'p2', 2, { context: 1 }),
  ], ctx);
  assert.deepEqual(a.shown.get(1), { audio: '3', video: '4' });
  assert.deepEqual([...a.screens], [[1, '7'], [2, '8']]);
  assert.equal(a.shown.has(2), false, 'a screen alone is not a camera');
  assert.deepEqual(a.duplicates, []);
});

test('the relay cannot make a camera a screen or the reverse by its labels: only the key counts', () => {
  // The relay labels the camera's m-line as Bo's and puts Ann's screen where her camera was.
  const a = attribute([rx('4', 'video', 'p2', 1, { context: 1 }), rx('7', 'video', 'p1', 1, { context: 0 })], ctx);
  assert.deepEqual([...a.screens], [[1, '4']]);
  assert.deepEqual(a.shown.get(1), { video: '7' });
  assert.deepEqual(a.relabeled.map((r) => [r.mid, r.claimed, r.sender]), [['4', 2, 1]]);
  // A second copy of a screen is flagged like any other; a screen key on audio is nobody's.
  const b = attribute([
    rx('7', 'video', 'p1', 1, { context: 1, lastOkAt: NOW - 50 }),
    rx('9', 'video', 'p1', 1, { context: 1, lastOkAt: NOW - 400 }),
    rx('5', 'audio', 'p1', 1, { context: 1 }),
  ], ctx);
  assert.deepEqual([...b.screens], [[1, '7']]);
  assert.deepEqual(b.duplicates, [{ mid: '9', kind: 'screen', sender: 1, shownMid: '7' }]);
  assert.deepEqual(b.unattributed, ['5']);
});
