// When the page reconnects by itself (crates/web/assets/reconnect.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RECONNECT_ATTEMPTS, reconnectDelay } from '../../crates/web/assets/reconnect.js';

test('a lost relay is retried with growing waits, for a few minutes', () => {
  assert.equal(reconnectDelay('closed', 0, true), 500);
  assert.equal(reconnectDelay('shutting_down', 1, true), 1000);
  assert.equal(reconnectDelay('closed', 20, true), 10000);
  const total = Array.from({ length: RECONNECT_ATTEMPTS }, (_, i) => reconnectDelay('closed', i, true)).reduce((a, b) => a + b, 0);
  assert.ok(total > 4 * 60_000 && total < 7 * 60_000, `${total} ms in all`);
  assert.equal(reconnectDelay('closed', RECONNECT_ATTEMPTS, true), null, 'then the error is shown');
});

test('never after being removed, refused or failing before ever being in the call', () => {
  for (const code of ['removed', 'not_admitted', 'bad_founder_token', 'room_full', 'e2ee', 'client']) {
    assert.equal(reconnectDelay(code, 0, true), null, code);
  }
  assert.equal(reconnectDelay('closed', 0, false), null, 'a first join that fails shows its error');
});
