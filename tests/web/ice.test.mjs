// Unit tests of the page's check of the TURN servers a relay names in
// `joined` (crates/web/assets/ice.js). The relay is the adversary: only
// turn:/turns: URLs in bounded, plain entries get to the RTCPeerConnection;
// everything else is left out with a reason a person can read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_FIELD, MAX_SERVERS, MAX_URLS, iceServersFrom, turnUrlProblem } from '../../crates/web/assets/ice.js';

const good = (over = {}) => ({
  urls: ['turns:turn.example.org:443?transport=tcp'],
  username: '1700000600:00112233445566ff',
  credential: 'Qufq9JbmmR9pMVWRstsrnWODLJA=',
  ...over,
});

test('a relay without TURN settings (or an older one) gives none, and nothing to say', () => {
  assert.deepEqual(iceServersFrom(undefined), { servers: [], refused: [] });
  assert.deepEqual(iceServersFrom(null), { servers: [], refused: [] });
  assert.deepEqual(iceServersFrom([]), { servers: [], refused: [] });
});

test('a well-formed entry is taken as is', () => {
  const { servers, refused } = iceServersFrom([good({ urls: ['turn:192.0.2.7:3478?transport=udp', 'turns:turn.example.org:443?transport=tcp'] })]);
  assert.deepEqual(refused, []);
  assert.deepEqual(servers, [good({ urls: ['turn:192.0.2.7:3478?transport=udp', 'turns:turn.example.org:443?transport=tcp'] })]);
});

test('only urls, username and credential are taken from an entry', () => {
  const { servers, refused } = iceServersFrom([good({ credentialType: 'oauth', extra: { toString: 1 } })]);
  assert.deepEqual(refused, []);
  assert.deepEqual(Object.keys(servers[0]).sort(), ['credential', 'urls', 'username']);
});

test('the URLs a page accepts: turn: and turns: URIs (RFC 7065), nothing else', () => {
  for (const url of [
    'turn:turn.example.org', 'turns:turn.example.org:443?transport=tcp', 'turn:127.0.0.1:3478?transport=tcp',
    'turn:[2001:db8::1]:3478', 'turns:t', 'turn:a-b.example:65535',
  ]) assert.equal(turnUrlProblem(url), null, url);
  for (const url of [
    'stun:stun.example.org', 'https://turn.example.org', 'TURN:turn.example.org', 'turn:', 'turn::3478',
    'turn://turn.example.org', 'turn:user@turn.example.org', 'turn:turn.example.org/x', 'turn:turn.example.org:0',
    'turn:turn.example.org:65536', 'turn:turn.example.org:99999', 'turn:turn.example.org:', 'turn:turn.example.org?transport=sctp',
    'turn:turn.example.org?transport=tcp&x=1', 'turns:turn.example.org?transport=udp', 'turn:-x.org', 'turn:x.org.',
    'turn:té.org', 'turn:turn.example.org\n', ' turn:turn.example.org', `turn:${'a'.repeat(MAX_FIELD)}.org`,
    'javascript:alert(1)', 7, null, {}, ['turn:x'],
  ]) assert.notEqual(turnUrlProblem(url), null, JSON.stringify(url));
});

test('a bad entry is left out with its reason; the good ones are kept', () => {
  const { servers, refused } = iceServersFrom([
    good({ urls: ['stun:stun.example.org'] }),
    good(),
    good({ username: 42 }),
    good({ credential: 'x'.repeat(MAX_FIELD + 1) }),
  ]);
  assert.deepEqual(servers, [good()]);
  assert.equal(refused.length, 3, refused.join('\n'));
  assert.match(refused[0], /"stun:stun.example.org" is not a turn: or turns: URL/);
  assert.match(refused[1], /its username is not a non-empty string/);
  assert.match(refused[2], /its credential is longer than 256 characters/);
  assert.match(iceServersFrom([good({ credential: '' })]).refused[0], /its credential is not a non-empty string/);
});

test('counts and shapes are bounded', () => {
  const many = Array.from({ length: MAX_SERVERS + 3 }, () => good());
  const r = iceServersFrom(many);
  assert.equal(r.servers.length, MAX_SERVERS);
  assert.match(r.refused[0], /7 TURN servers named/);

  const tooManyUrls = iceServersFrom([good({ urls: Array.from({ length: MAX_URLS + 1 }, () => 'turn:t.example') })]);
  assert.deepEqual(tooManyUrls.servers, []);
  assert.match(tooManyUrls.refused[0], /9 URLs/);

  for (const value of [{}, 'turn:x', 7, true]) {
    const r2 = iceServersFrom(value);
    assert.deepEqual(r2.servers, []);
    assert.deepEqual(r2.refused, ['the TURN server list is not a list']);
  }
  for (const entry of [null, [], 'x', 1, good({ urls: 'turn:t.example' }), good({ urls: [] }), good({ urls: [1] })]) {
    const r3 = iceServersFrom([entry]);
    assert.deepEqual(r3.servers, [], JSON.stringify(entry));
    assert.equal(r3.refused.length, 1);
  }
});

test('seeded mutations of a good entry: whatever is taken is plain and within bounds', () => {
  let seed = 12345;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const pieces = ['turn:', 'turns:', 'stun:', '[', ']', ':', '?transport=', 'udp', 'tcp', '@', '/', '.', '-', 'x', '9', '\u0000', ' ', '%'];
  for (let i = 0; i < 5000; i++) {
    let url = '';
    for (let k = rnd(8); k >= 0; k--) url += pieces[rnd(pieces.length)];
    const { servers } = iceServersFrom([good({ urls: [url] })]);
    for (const s of servers) {
      for (const u of /** @type {string[]} */ (s.urls)) {
        assert.ok(/^turns?:[A-Za-z0-9[\]:.-]+(\?transport=(udp|tcp))?$/.test(u), u);
        assert.ok(u.length <= MAX_FIELD);
      }
    }
  }
});
