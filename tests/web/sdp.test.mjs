// Unit tests of the page's SDP policy (crates/web/assets/sdp.js): what a
// relay's answer or offer may turn on (issue 10, metadata: "the relay is the
// adversary"). The descriptions are shaped like the relay's (str0m: Opus and
// VP8 with rtx, abs-send-time, transport-cc, mid) and Chromium's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AUDIO_LEVEL_URIS, AUDIO_MAX_BITRATE, SdpRefused, checkRemote, hardenRemote, hasAudioLevel, parse, problems,
  stopAudioLevel, stripAudioLevel,
} from '../../crates/web/assets/sdp.js';

import { AUDIO, HONEST, SESSION, VIDEO, sdp } from './sdp-fixture.mjs';

/** Replaces line `match` of the audio section with `lines`. */
const audioWith = (match, ...lines) => AUDIO.flatMap((l) => (l.startsWith(match) ? lines : [l]));

test('an honest relay answer passes, with constant-bitrate Opus added', () => {
  assert.deepEqual(problems(HONEST), []);
  const out = checkRemote('answer', HONEST);
  assert.match(out, /^a=fmtp:111 minptime=10;useinbandfec=1;cbr=1\r$/m);
  // Nothing else changes, line endings included.
  assert.equal(out.replace(';cbr=1', ''), HONEST);
  // Idempotent: an answer already saying cbr=1 is left alone.
  assert.equal(hardenRemote(out), out);
});

test('Opus without fmtp gets one; cbr other than 0 or 1 is set to 1', () => {
  const bare = sdp(SESSION, audioWith('a=fmtp:111'), VIDEO);
  const out = checkRemote('answer', bare);
  assert.match(out, /a=rtpmap:111 opus\/48000\/2\r\na=fmtp:111 cbr=1\r\n/);
  const odd = sdp(SESSION, audioWith('a=fmtp:111', 'a=fmtp:111 cbr=2;useinbandfec=1'), VIDEO);
  assert.match(checkRemote('offer', odd), /a=fmtp:111 cbr=1;useinbandfec=1\r\n/);
});

test('an answer that turns audio levels back on is refused, on any m-line or the session', () => {
  for (const uri of AUDIO_LEVEL_URIS) {
    for (const [where, text] of [
      ['audio', sdp(SESSION, [...AUDIO, `a=extmap:1 ${uri}`], VIDEO)],
      ['video', sdp(SESSION, AUDIO, [...VIDEO, `a=extmap:5/sendrecv ${uri}`])],
      ['session', sdp([...SESSION, `a=extmap:1 ${uri}`], AUDIO, VIDEO)],
      ['upper case', sdp(SESSION, [...AUDIO, `a=extmap:1 ${uri.toUpperCase()}`], VIDEO)],
    ]) {
      const found = problems(text);
      assert.equal(found.length, 1, `${uri} in ${where}: ${found}`);
      assert.match(found[0], /audio-level header extension .* who is speaking/);
      assert.throws(() => checkRemote('answer', text), (e) => {
        assert.ok(e instanceof SdpRefused);
        assert.equal(e.code, 'hostile_sdp');
        assert.match(e.message, /^The relay's answer was refused and no media was sent: it turns on the audio-level/);
        assert.match(e.message, /tell its operator/);
        return true;
      });
    }
  }
});

test('DTX and variable bitrate asked for outright are refused', () => {
  const dtx = sdp(SESSION, audioWith('a=fmtp:111', 'a=fmtp:111 minptime=10; usedtx=1;useinbandfec=1'), VIDEO);
  assert.match(problems(dtx).join(), /Opus DTX \(usedtx=1\) on m-line 0 \(audio\).*packet rate follow speech/);
  assert.throws(() => checkRemote('answer', dtx), SdpRefused);
  const vbr = sdp(SESSION, audioWith('a=fmtp:111', 'a=fmtp:111 cbr=0'), VIDEO);
  assert.match(problems(vbr).join(), /variable-bitrate Opus \(cbr=0\)/);
  // usedtx=0 is what we want anyway.
  assert.deepEqual(problems(sdp(SESSION, audioWith('a=fmtp:111', 'a=fmtp:111 usedtx=0;cbr=1'), VIDEO)), []);
});

test('codecs we cannot encrypt are refused on sending and receiving m-lines', () => {
  const cases = [
    ['H264 video', sdp(SESSION, AUDIO, ['m=video 9 UDP/TLS/RTP/SAVPF 96 98', ...VIDEO.slice(1), 'a=rtpmap:98 H264/90000']), /codec h264 on m-line 1 \(video\)/],
    ['VP9 instead of VP8', sdp(SESSION, AUDIO, VIDEO.map((l) => l.replace('VP8', 'VP9'))), /codec vp9/],
    ['PCMU by static payload type', sdp(SESSION, ['m=audio 9 UDP/TLS/RTP/SAVPF 111 0', ...AUDIO.slice(1)], VIDEO), /payload type 0 .* without naming its codec/],
    ['comfort noise', sdp(SESSION, ['m=audio 9 UDP/TLS/RTP/SAVPF 111 13', ...AUDIO.slice(1), 'a=rtpmap:13 CN/8000'], VIDEO), /codec cn/],
    ['telephone-event', sdp(SESSION, ['m=audio 9 UDP/TLS/RTP/SAVPF 111 126', ...AUDIO.slice(1), 'a=rtpmap:126 telephone-event/8000'], VIDEO), /codec telephone-event/],
    ['RED', sdp(SESSION, ['m=audio 9 UDP/TLS/RTP/SAVPF 63 111', ...AUDIO.slice(1), 'a=rtpmap:63 red/48000/2'], VIDEO), /codec red/],
    ['Opus on a video m-line', sdp(SESSION, AUDIO, ['m=video 9 UDP/TLS/RTP/SAVPF 96', ...VIDEO.slice(1, 6), 'a=rtpmap:96 opus/48000/2']), /codec opus on m-line 1 \(video\)/],
    ['a sendonly (relay-to-us) m-line with ulpfec', sdp(SESSION, AUDIO, ['m=video 9 UDP/TLS/RTP/SAVPF 96 97 100', ...VIDEO.slice(1).map((l) => l.replace('recvonly', 'sendonly')), 'a=rtpmap:100 ulpfec/90000']), /codec ulpfec/],
    ['an unknown media kind', sdp(SESSION, AUDIO, VIDEO, ['m=text 9 UDP/TLS/RTP/SAVPF 98', 'a=rtpmap:98 t140/1000']), /m-line 2 \(text\), a kind of media/],
  ];
  for (const [what, text, want] of cases) {
    const found = problems(text);
    assert.equal(found.length, 1, `${what}: ${JSON.stringify(found)}`);
    assert.match(found[0], want, what);
    assert.throws(() => checkRemote('offer', text), /The relay's offer was refused and this call's media was stopped: it /, what);
  }
  // Data channels carry no media and pass.
  assert.deepEqual(problems(sdp(SESSION, AUDIO, VIDEO, ['m=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'a=mid:2'])), []);
});

test('every problem is named at once', () => {
  const text = sdp(SESSION, audioWith('a=fmtp:111', 'a=fmtp:111 usedtx=1', 'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level'),
    VIDEO.map((l) => l.replace('VP8', 'H264')));
  const found = problems(text);
  assert.equal(found.length, 3, JSON.stringify(found));
  assert.throws(() => checkRemote('answer', text), (e) => {
    assert.equal(e.problems.length, 3);
    assert.match(e.message, /DTX.*; it .*codec h264/);
    return true;
  });
});

test('our own offer loses its audio-level lines and nothing else', () => {
  const chromium = sdp(SESSION, ['m=audio 9 UDP/TLS/RTP/SAVPF 111 63', 'a=mid:0',
    'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
    'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
    'a=extmap:5/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level',
    'a=sendonly', 'a=rtpmap:111 opus/48000/2', 'a=rtpmap:63 red/48000/2'], VIDEO);
  assert.ok(hasAudioLevel(chromium));
  const out = stripAudioLevel(chromium);
  assert.ok(!hasAudioLevel(out));
  assert.equal(out.split('\r\n').length, chromium.split('\r\n').length - 2);
  assert.match(out, /a=extmap:2 http:\/\/www.webrtc.org\/experiments\/rtp-hdrext\/abs-send-time\r\n/);
  assert.equal(stripAudioLevel(HONEST), HONEST);
  assert.ok(!hasAudioLevel(HONEST));
});

test('setHeaderExtensionsToNegotiate input: audio levels stopped, the rest untouched', () => {
  const exts = [
    { uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', direction: 'sendrecv' },
    { uri: 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time', direction: 'sendrecv' },
    { uri: 'urn:ietf:params:rtp-hdrext:csrc-audio-level', direction: 'recvonly' },
    { uri: 'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time', direction: 'stopped' },
  ];
  assert.deepEqual(stopAudioLevel(exts).map((e) => e.direction), ['stopped', 'sendrecv', 'stopped', 'stopped']);
  assert.equal(exts[0].direction, 'sendrecv', 'the input is not changed');
});

test('parse keeps sections apart and the sender cap is Chromium\'s Opus default', () => {
  const p = parse(HONEST);
  assert.equal(p.session.length, SESSION.length);
  assert.deepEqual(p.media.map((m) => [m.kind, m.formats]), [['audio', ['111']], ['video', ['96', '97']]]);
  assert.equal(AUDIO_MAX_BITRATE, 32000);
  // LF-only text parses too, and comes back with CRLF.
  assert.deepEqual(problems(HONEST.replace(/\r\n/g, '\n')), []);
});
