// Unit tests of which screen shares a page shows (crates/web/assets/
// screenshare.js): the ones decrypting under a member's screen key, while
// frames arrive and the sharer does not say inside MLS that it stopped; and
// that a browser that cannot share says why.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SCREEN_IDLE_MS, SCREEN_SAID_IDLE_MS, captureProblem, shareProblem, visibleScreens } from '../../crates/web/assets/screenshare.js';

const NOW = 500000;
const screens = new Map([[1, '7'], [2, '8'], [3, '9']]);

test('a screen shows while its frames arrive, and goes at once when its sharer says inside MLS it stopped', () => {
  const said = { 1: true, 2: false, 3: true };
  const last = { 7: NOW - 100, 8: NOW - 100, 9: NOW - 100 };
  const v = visibleScreens(screens, { said: (l) => said[l], lastOkAt: (m) => last[m], now: NOW });
  assert.deepEqual([...v], [[1, '7'], [3, '9']]);
});

test('without a word from the sharer, frames stopping for SCREEN_IDLE_MS take it down', () => {
  const said = () => null;
  const at = (ago) => visibleScreens(new Map([[1, '7']]), { said, lastOkAt: () => NOW - ago, now: NOW });
  assert.equal(at(SCREEN_IDLE_MS - 1).size, 1);
  assert.equal(at(SCREEN_IDLE_MS).size, 0);
});

test('a still screen its sharer says it shares stays up longer, then goes', () => {
  const said = () => true;
  const at = (ago) => visibleScreens(new Map([[1, '7']]), { said, lastOkAt: () => NOW - ago, now: NOW });
  assert.equal(at(SCREEN_IDLE_MS + 1000).size, 1);
  assert.equal(at(SCREEN_SAID_IDLE_MS).size, 0);
  // Never a frame: nothing to show.
  assert.equal(visibleScreens(new Map([[1, '7']]), { said, lastOkAt: () => 0, now: NOW }).size, 0);
});

test('a browser without getDisplayMedia or encoded transforms says why it cannot share', () => {
  assert.equal(shareProblem({ mediaDevices: { getDisplayMedia: () => {} } }, true), null);
  assert.match(shareProblem({ mediaDevices: {} }, true), /cannot share a screen/);
  assert.match(shareProblem(undefined, true), /cannot share a screen/);
  assert.match(shareProblem({ mediaDevices: { getDisplayMedia: () => {} } }, false), /RTCRtpScriptTransform/);
});

test('a capture that cannot work here (no screen, not supported) is said on the button for good; a refusal is not', () => {
  assert.deepEqual(captureProblem({ name: 'NotAllowedError', message: 'Permission denied' }), { text: 'you or the browser declined it', lasting: false });
  const none = captureProblem({ name: 'NotFoundError', message: 'The object can not be found here.' });
  assert.equal(none.lasting, true);
  assert.match(none.text, /found no screen, window or tab/);
  assert.equal(captureProblem({ name: 'NotSupportedError', message: '' }).lasting, true);
  assert.deepEqual(captureProblem({ name: 'AbortError', message: 'stopped' }), { text: 'AbortError: stopped', lasting: false });
});
