// The E2EE indicator across key changes (crates/web/assets/indicator.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KEY_CHANGE_GRACE_MS, indicatorOn } from '../../crates/web/assets/indicator.js';

test('a key change in progress keeps an indicator that was on, for a while', () => {
  const now = 100_000;
  assert.equal(indicatorOn({ settled: false, ok: false, onAt: now - 500, epochAt: now - 200, now }), true);
  assert.equal(indicatorOn({ settled: false, ok: false, onAt: now - 500, epochAt: now - KEY_CHANGE_GRACE_MS, now }), false, 'a change that does not settle shows');
  assert.equal(indicatorOn({ settled: false, ok: false, onAt: null, epochAt: now - 200, now }), false, 'never on: no grace');
  assert.equal(indicatorOn({ settled: false, ok: false, onAt: now - KEY_CHANGE_GRACE_MS - 1, epochAt: now - 100, now }), false, 'off long before: no grace');
});

test('once settled, what is true is shown at once', () => {
  assert.equal(indicatorOn({ settled: true, ok: false, onAt: 99_000, epochAt: 99_500, now: 100_000 }), false, 'a member whose media fails shows at once');
  assert.equal(indicatorOn({ settled: true, ok: true, onAt: null, epochAt: null, now: 1 }), true);
});
