// Who is speaking, decided in the receiver's browser (crates/web/assets/speaking.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOLD_MS, SPEAKING_LEVEL, Speaking, rms } from '../../crates/web/assets/speaking.js';

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
