// Unit tests of media gaps (crates/web/assets/gaps.js): a member says its
// camera or microphone is on, and nothing of that kind decrypts under its key
// for GAP ms: the relay is not delivering it. Honest delays are not gaps.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GAP_MS, GapWatch, gapKinds, gapOf, gapText } from '../../crates/web/assets/gaps.js';

const T0 = 1_000_000;
const bob = (over = {}) => ({ leaf: 2, said: true, audio: true, video: true, away: false, ...over });

/** A watch fed with `frames` (leaf -> kind -> last frame time) at `now`. */
function run(watch, members, now, frames, readySince = T0) {
  return watch.update(members, {
    now,
    readySince,
    gapMs: GAP_MS,
    lastFrameAt: (leaf, kind) => (frames[leaf] && frames[leaf][kind]) || 0,
  });
}

test('no gap while frames flow', () => {
  const w = new GapWatch();
  for (let t = T0; t < T0 + 60000; t += 1000) {
    const g = run(w, [bob()], t, { 2: { audio: t - 20, video: t - 33 } });
    assert.deepEqual(g.get(2), { audio: null, video: null });
  }
});

test('a gap once nothing of a kind decrypted for GAP ms, measured from the last frame', () => {
  const w = new GapWatch();
  const last = T0 + 10000;
  run(w, [bob()], T0, {});
  assert.deepEqual(run(w, [bob()], last + GAP_MS - 1, { 2: { audio: last, video: last } }).get(2), { audio: null, video: null });
  const g = run(w, [bob()], last + GAP_MS + 1000, { 2: { audio: last + GAP_MS, video: last } }).get(2);
  assert.deepEqual(g, { audio: null, video: GAP_MS + 1000 });
  assert.equal(gapKinds(g), 'video');
  assert.equal(gapText('Bob', g), `No video from Bob for 9 s, though Bob says the camera is on: the relay is not delivering it`);
  const both = run(w, [bob()], last + GAP_MS + 1000, { 2: { audio: last, video: last } }).get(2);
  assert.equal(gapKinds(both), 'audio video');
  assert.equal(gapText('Bob', both), 'No video or audio from Bob for 9 s, though Bob says camera and microphone are on: the relay is not delivering them');
});

test('a member that never sent a frame gets GAP ms from when we could receive, then shows a gap', () => {
  const w = new GapWatch();
  assert.deepEqual(run(w, [bob()], T0, {}).get(2), { audio: null, video: null });
  assert.deepEqual(run(w, [bob()], T0 + GAP_MS - 1, {}).get(2), { audio: null, video: null });
  assert.deepEqual(run(w, [bob()], T0 + GAP_MS + 500, {}).get(2), { audio: GAP_MS + 500, video: GAP_MS + 500 });
});

test('no gap when the member says that kind is off, or has not said yet, or is going away', () => {
  const w = new GapWatch();
  run(w, [bob()], T0, {});
  const late = T0 + 10 * GAP_MS;
  assert.deepEqual(run(w, [bob({ video: false })], late, { 2: { audio: late - 10 } }).get(2), { audio: null, video: null });
  const fresh = new GapWatch();
  assert.deepEqual(run(fresh, [bob({ said: false })], late, {}).get(2), { audio: null, video: null });
  assert.deepEqual(run(fresh, [bob({ said: false })], late + 2 * GAP_MS, {}).get(2), { audio: null, video: null });
  const away = new GapWatch();
  run(away, [bob()], T0, {});
  assert.deepEqual(run(away, [bob({ away: true })], late, {}).get(2), { audio: null, video: null });
});

test('no gap before we can receive: not yet a member with keys and a media connection', () => {
  const w = new GapWatch();
  run(w, [bob()], T0, {}, null);
  assert.deepEqual(run(w, [bob()], T0 + 10 * GAP_MS, {}, null).get(2), { audio: null, video: null });
  // Ready now: the grace starts now, not when the member appeared.
  const ready = T0 + 10 * GAP_MS;
  assert.deepEqual(run(w, [bob()], ready + GAP_MS - 1, {}, ready).get(2), { audio: null, video: null });
  assert.notEqual(run(w, [bob()], ready + GAP_MS, {}, ready).get(2).video, null);
});

test('grace after a member joins and after it turns a kind back on', () => {
  const w = new GapWatch();
  const carol = { ...bob(), leaf: 3 };
  const later = T0 + 5 * GAP_MS;
  run(w, [bob()], later - 1000, { 2: { audio: later - 1000, video: later - 1000 } });
  // Carol appears at `later`, long after we became ready: she gets GAP ms.
  assert.deepEqual(run(w, [bob(), carol], later, { 2: { audio: later, video: later } }).get(3), { audio: null, video: null });
  assert.deepEqual(run(w, [bob(), carol], later + GAP_MS - 1, { 2: { audio: later + GAP_MS - 1, video: later + GAP_MS - 1 } }).get(3), { audio: null, video: null });
  assert.notEqual(run(w, [bob(), carol], later + GAP_MS, { 2: { audio: later + GAP_MS, video: later + GAP_MS } }).get(3).audio, null);
  // Bob turns his camera off for a while, then on: GAP ms of grace from then.
  const off = later + 2 * GAP_MS;
  run(w, [bob({ video: false })], off, { 2: { audio: off, video: later } });
  const on = off + 3 * GAP_MS;
  assert.equal(run(w, [bob()], on, { 2: { audio: on, video: later } }).get(2).video, null);
  assert.equal(run(w, [bob()], on + GAP_MS - 1, { 2: { audio: on + GAP_MS - 1, video: later } }).get(2).video, null);
  assert.notEqual(run(w, [bob()], on + GAP_MS, { 2: { audio: on + GAP_MS, video: later } }).get(2).video, null);
});

test('a member that leaves and comes back gets the grace of a newcomer', () => {
  const w = new GapWatch();
  run(w, [bob()], T0, {});
  run(w, [], T0 + 5 * GAP_MS, {});
  const back = T0 + 6 * GAP_MS;
  assert.deepEqual(run(w, [bob()], back, {}).get(2), { audio: null, video: null });
  assert.deepEqual(run(w, [bob()], back + GAP_MS - 1, {}).get(2), { audio: null, video: null });
});

test('a gap clears as soon as a frame arrives again', () => {
  const w = new GapWatch();
  const last = T0 + 1000;
  run(w, [bob()], T0, {});
  const t = last + 3 * GAP_MS;
  assert.notEqual(run(w, [bob()], t, { 2: { audio: last, video: last } }).get(2).video, null);
  const g = run(w, [bob()], t + 500, { 2: { audio: t + 400, video: t + 450 } }).get(2);
  assert.deepEqual(g, { audio: null, video: null });
  assert.equal(gapText('Bob', g), null);
  assert.equal(gapKinds(g), '');
});

test('gapOf: off or not yet expected is never a gap', () => {
  assert.equal(gapOf({ on: false, since: 0, lastFrameAt: 0, now: T0, gapMs: GAP_MS }), null);
  assert.equal(gapOf({ on: true, since: null, lastFrameAt: 0, now: T0, gapMs: GAP_MS }), null);
  assert.equal(gapOf({ on: true, since: T0 - GAP_MS, lastFrameAt: 0, now: T0, gapMs: GAP_MS }), GAP_MS);
});
