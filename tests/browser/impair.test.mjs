// The impairment model of tests/browser/impair.mjs: seeded and repeatable,
// loss near the asked rate, delay and jitter within bounds, no reordering
// unless asked. Run by scripts/test.d/browser.sh (node --test).

import assert from 'node:assert/strict';
import test from 'node:test';
import { Impairment } from './impair.mjs';

test('one seed gives one sequence of fates', () => {
  const run = () => { const m = new Impairment({ loss: 0.1, jitterMs: 20, seed: 42 }); return Array.from({ length: 500 }, (_, i) => m.decide(i)); };
  assert.deepEqual(run(), run());
  const other = new Impairment({ loss: 0.1, jitterMs: 20, seed: 43 });
  assert.notDeepEqual(run(), Array.from({ length: 500 }, (_, i) => other.decide(i)));
});

test('loss is near the asked rate', () => {
  for (const loss of [0, 0.02, 0.05, 0.3, 1]) {
    const m = new Impairment({ loss, seed: 7 });
    for (let i = 0; i < 20000; i++) m.decide(i);
    const rate = m.counts.dropped / m.counts.in;
    assert.ok(Math.abs(rate - loss) < 0.01, `asked ${loss}, got ${rate}`);
  }
});

test('delay and jitter stay in bounds, and packets keep their order', () => {
  const m = new Impairment({ delayMs: 30, jitterMs: 10, seed: 3 });
  let last = 0;
  for (let now = 0; now < 2000; now += 2) {
    const at = m.decide(now);
    assert.ok(at >= now + 30 && at <= Math.max(now + 40, last), `${at} for ${now}`);
    assert.ok(at >= last, 'reordered');
    last = at;
  }
  const r = new Impairment({ jitterMs: 50, reorder: true, seed: 3 });
  const fates = Array.from({ length: 200 }, (_, i) => r.decide(i));
  assert.ok(fates.some((at, i) => i > 0 && at < fates[i - 1]), 'reorder: true never reordered');
});

test('bad settings are refused with a reason', () => {
  assert.throws(() => new Impairment({ loss: 5 }), /between 0 and 1/);
  const m = new Impairment();
  assert.throws(() => m.set({ delayMs: -1 }), /0 or more/);
});

test('bytes in and bytes lost are counted with the datagrams', () => {
  const m = new Impairment({ loss: 0.1, seed: 5 });
  let delivered = 0;
  for (let i = 0; i < 5000; i++) {
    const size = 100 + (i % 1100);
    if (m.decide(i, size) !== null) delivered += size;
  }
  assert.equal(m.counts.bytes, Array.from({ length: 5000 }, (_, i) => 100 + (i % 1100)).reduce((a, b) => a + b, 0));
  assert.equal(m.counts.bytes - m.counts.bytesDropped, delivered);
  assert.ok(m.counts.bytesDropped > 0 && m.counts.dropped > 0);
  // Without a size only datagrams are counted, as before.
  const bare = new Impairment({ seed: 5 });
  bare.decide(0);
  assert.deepEqual(bare.counts, { in: 1, dropped: 0, bytes: 0, bytesDropped: 0 });
});
