// Unit tests of the page's link reading (crates/web/assets/link.js): which
// address is a meeting, where the secret and the relay come from, and that
// the path never needs to name the meeting (issue 10, "the served code").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readLink, signalingUrl } from '../../crates/web/assets/link.js';

const SECRET = 'BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc';

test('the home page is "/" without a secret', () => {
  assert.equal(readLink('/', '').kind, 'home');
  assert.equal(readLink('/', '#approval=1').kind, 'home');
});

test('a meeting link names no meeting in its path', () => {
  const l = readLink('/', `#${SECRET}&name=Ann&autojoin=1`);
  assert.equal(l.kind, 'meeting');
  assert.equal(l.secret, SECRET);
  assert.equal(l.roomId, null);
  assert.equal(l.settings.get('name'), 'Ann');
});

test('older links with the room id in the path still open the meeting', () => {
  const l = readLink('/r/hS0C2R2zJoxkngYCbAKWXQ', `#${SECRET}`);
  assert.equal(l.kind, 'meeting');
  assert.equal(l.roomId, 'hS0C2R2zJoxkngYCbAKWXQ');
  assert.equal(l.twoRooms, false);
});

test('conclave open links name the relay, the room and the secret in the fragment', () => {
  const l = readLink('/', `#relay=${encodeURIComponent('https://relay.example:8443/')}&r=hS0C2R2zJoxkngYCbAKWXQ&s=${SECRET}`);
  assert.equal(l.kind, 'meeting');
  assert.equal(l.secret, SECRET);
  assert.equal(l.roomId, 'hS0C2R2zJoxkngYCbAKWXQ');
  assert.equal(l.relay, 'https://relay.example:8443');
  assert.equal(signalingUrl(l.relay, 'R', { protocol: 'http:', host: '127.0.0.1:9' }), 'wss://relay.example:8443/r/R/ws');
  assert.equal(signalingUrl(null, 'R', { protocol: 'https:', host: 'h:1' }), 'wss://h:1/r/R/ws');
});

test('a link with two different room ids, or a relay that is not http(s), is not taken', () => {
  assert.equal(readLink('/r/AAAA', `#r=BBBB&s=${SECRET}`).twoRooms, true);
  assert.equal(readLink('/', `#${SECRET}&relay=javascript%3Aalert(1)`).relay, null);
  assert.equal(readLink('/elsewhere', `#${SECRET}`).kind, 'none');
});
