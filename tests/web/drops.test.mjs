// Unit tests of why the media worker drops a received frame
// (crates/web/assets/drops.js): what the relay did (forged, replayed) apart
// from honest races (duplicate deliveries, frames before keys, key changes).
// The messages are crates/e2ee FrameError's.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EPOCH_SLACK, REPLAY_RING, ReplayRing, causeOf, nearHeldEpoch, dropNotes } from '../../crates/web/assets/drops.js';

const ctx = { held: [5, 6], seenFrame: false };

test('frames no member made are forged', () => {
  for (const m of [
    'frame failed authentication (tampered, or wrong key); drop it',
    'frame is malformed: bad SFrame header',
    'frame is malformed: VP8 frame shorter than its header',
    'frame is malformed: padding without end marker',
    'frame is from leaf 7, which is not a member in that epoch; drop it',
    'SFrame failure: something',
  ]) assert.equal(causeOf(m, ctx), 'forged', m);
});

test('a key id naming an epoch far from any we held is forged; one next to them is a key-change race', () => {
  assert.equal(causeOf('frame is from an unknown or expired epoch (epoch bits 200); drop it', ctx), 'forged');
  assert.equal(causeOf('frame is from an unknown or expired epoch (epoch bits 7); drop it', ctx), 'lateEpoch');
  assert.equal(causeOf('frame is from an unknown or expired epoch (epoch bits 4); drop it', ctx), 'lateEpoch');
  assert.equal(causeOf(`frame is from an unknown or expired epoch (epoch bits ${6 + EPOCH_SLACK + 1}); drop it`, ctx), 'forged');
  // The epoch bits wrap at 256.
  assert.ok(nearHeldEpoch(0, [255]));
  assert.ok(nearHeldEpoch(255, [0, 1]));
  assert.ok(!nearHeldEpoch(3, []));
});

test('before keys every drop is early, whatever the decryptor says', () => {
  assert.equal(causeOf('no media keys yet', { held: [], seenFrame: false }), 'early');
});

test('an old frame re-sent as a new one is replayed; the same RTP frame delivered twice is a duplicate', () => {
  for (const m of ['frame counter 41 was already received (replay); drop it', 'frame counter 3 is older than the replay window; drop it']) {
    assert.equal(causeOf(m, ctx), 'replayed', m);
    assert.equal(causeOf(m, { ...ctx, seenFrame: true }), 'duplicate', m);
  }
});

test('replays now and then are duplicates; sustained ones (more than 1 in 8 recent frames) are the relay\'s', () => {
  const m = 'frame counter 41 was already received (replay); drop it';
  const ring = new ReplayRing();
  // One replay in 16 frames, for a long time: never called an attack.
  for (let i = 0; i < 10 * REPLAY_RING; i++) {
    if (i % 16 === 0) assert.equal(causeOf(m, { ...ctx, ring }), 'duplicate');
    else ring.push(false);
  }
  // One in four (the lying relay's rate): called out within the window.
  const got = [];
  for (let i = 0; i < 2 * REPLAY_RING; i++) {
    if (i % 4 === 0) got.push(causeOf(m, { ...ctx, ring }));
    else ring.push(false);
  }
  assert.ok(got.filter((c) => c === 'replayed').length > got.length / 2, JSON.stringify(got));
  // The same RTP frame twice is a duplicate however often.
  assert.equal(causeOf(m, { ...ctx, ring, seenFrame: true }), 'duplicate');
});

test('frames the relay forged, replayed or sent back are noted once per receiver and cause, under whose stream they were', () => {
  const noted = new Set();
  const nameOf = (leaf) => ({ 1: 'Ann', 2: 'Bo' })[leaf];
  const zero = { forged: 0, replayed: 0, reflected: 0 };
  const receivers = [
    { mid: '3', kind: 'video', context: 0, sender: 1, ...zero, forged: 2 },
    { mid: '4', kind: 'video', context: 1, sender: 2, ...zero, replayed: 5 },
    { mid: '5', kind: 'audio', context: null, sender: null, ...zero, forged: 1, reflected: 3 },
    { mid: '6', kind: 'video', context: 0, sender: 1, ...zero },
  ];
  assert.deepEqual(dropNotes(receivers, noted, nameOf), [
    'The relay sent frames on Ann\'s video that no member made: dropped, never shown',
    'The relay replayed old frames of Bo\'s screen: dropped',
    'The relay sent audio frames that no member made: dropped, never shown',
    'The relay sent our own audio back to us: dropped, never shown',
  ]);
  // Counted again later: already said.
  assert.deepEqual(dropNotes(receivers.map((r) => ({ ...r, forged: r.forged * 2 })), noted, nameOf), []);
});

test('a key id naming a stream context no member sends is forged', () => {
  assert.equal(causeOf('frame is from unknown stream context 2, which no member sends; drop it', ctx), 'forged');
});
