// Who is speaking, decided in the receiver's browser (crates/web/assets/speaking.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOLD_MS, SPEAKING_LEVEL, Speaking, levelBetween, rms } from '../../crates/web/assets/speaking.js';

test('loud frames start speaking at once; it holds across short pauses, then stops', () => {
  const s = new Speaking();
  assert.equal(s.level(0, 0), false);
  assert.equal(s.speaking, false);
  assert.equal(s.level(SPEAKING_LEVEL * 2, 100), true, 'starts at the first loud frame');
  assert.equal(s.speaking, true);
  assert.equal(s.level(0, 100 + HOLD_MS - 1), false, 'a pause shorter than the hold changes nothing');
  assert.equal(s.level(SPEAKING_LEVEL, 200 + HOLD_MS), false);
  assert.equal(s.level(0, 200 + 2 * HOLD_MS), true, 'silence longer than the hold stops it');
  assert.equal(s.speaking, false);
});

test('quiet noise is not speech', () => {
  const s = new Speaking();
  for (let t = 0; t < 5000; t += 100) s.level(SPEAKING_LEVEL / 2, t);
  assert.equal(s.speaking, false);
});

test('rms of a signal', () => {
  assert.equal(rms(new Float32Array(0)), 0);
  assert.equal(rms(new Float32Array([0.5, -0.5, 0.5, -0.5])), 0.5);
});

test('the level between two readings of a receiver\'s statistics', () => {
  // 0.5 s at a steady level of 0.3: energy grows by 0.3^2 * 0.5.
  const level = levelBetween({ energy: 1, duration: 10 }, { energy: 1 + 0.09 * 0.5, duration: 10.5 });
  assert.ok(Math.abs(level - 0.3) < 1e-9, String(level));
  assert.equal(levelBetween({ energy: 1, duration: 10 }, { energy: 1, duration: 10 }), 0, 'nothing played');
  assert.equal(levelBetween({ energy: 1, duration: 10 }, { energy: 1, duration: 11 }), 0, 'silence');
});
