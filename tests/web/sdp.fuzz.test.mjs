// Fuzzing the page's check of the relay's SDP (crates/web/assets/sdp.js):
// the relay writes every offer and answer the page applies, so this is a
// parser of hostile network input (issue 10; docs/conventions.md §5). A
// seeded, count-bounded mutation fuzzer runs in the unit tests (no extra
// tools, same result every run): each case is a relay-shaped description
// mutated by deleting, duplicating, swapping, truncating or re-casing lines
// and by inserting hostile lines. For every case, `checkRemote` either
// refuses it with SdpRefused or returns a description that a line-by-line
// oracle — written apart from sdp.js's parser — finds clean: only Opus and
// VP8 (and rtx), every Opus format at cbr=1 and without DTX, no audio-level
// extension, one rtpmap and at most one fmtp per payload type.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AUDIO_LEVEL_URIS, SdpRefused, checkRemote } from '../../crates/web/assets/sdp.js';
import { HONEST } from './sdp-fixture.mjs';

const CASES = 20000;

const SEED_SDP = HONEST.trimEnd().split('\r\n');

const HOSTILE = [
  'a=rtpmap:111 H264/90000',
  'a=rtpmap:111 OPUS/48000/2',
  'a=rtpmap:98 H264/90000',
  'a=rtpmap:0 PCMU/8000',
  'a=fmtp:111 usedtx=1',
  'a=fmtp:111 cbr=0',
  'a=fmtp:111 CBR = 0; UseDTX=1',
  'a=fmtp:111 minptime=10;cbr=1',
  'a=fmtp:96 usedtx=1',
  'a=extmap:5 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'a=extmap:6/sendrecv URN:IETF:PARAMS:RTP-HDREXT:SSRC-AUDIO-LEVEL',
  'a=extmap:7 urn:ietf:params:rtp-hdrext:csrc-audio-level',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 98',
  'm=text 9 RTP/AVP 100',
  'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
  'a=rtpmap:100 t140/1000',
  '',
  ' ',
  'a=fmtp:111',
  'a=rtpmap:111',
];

/** xorshift32: the same cases every run. */
function rng(seed) {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x % n;
  };
}

function mutate(lines, r) {
  const out = lines.slice();
  const rounds = 1 + r(4);
  for (let k = 0; k < rounds; k++) {
    const i = r(out.length + 1);
    switch (r(8)) {
      case 0: out.splice(i, 1); break;
      case 1: if (out[i] !== undefined) out.splice(i, 0, out[i]); break;
      case 2: { const j = r(out.length); [out[i % out.length], out[j]] = [out[j], out[i % out.length]]; break; }
      case 3: out.splice(i, 0, HOSTILE[r(HOSTILE.length)]); break;
      case 4: if (out[i] !== undefined) out[i] = r(2) ? out[i].toUpperCase() : out[i].toLowerCase(); break;
      case 5: if (out[i] !== undefined) out[i] = out[i].slice(0, r(out[i].length + 1)); break;
      case 6: if (out[i] !== undefined) out[i] = out[i].replace(/ /g, r(2) ? '  ' : '\t'); break;
      default: if (out[i] !== undefined) out[i] += String.fromCharCode(r(128)); break;
    }
  }
  return out;
}

/** What must hold of anything the page applies; apart from sdp.js's parser. */
function oracle(sdp) {
  const levels = AUDIO_LEVEL_URIS.map((u) => u.toLowerCase());
  let kind = null;
  let rtpmaps = new Map();
  let fmtps = new Map();
  let formats = [];
  const endSection = () => {
    if (kind === null || kind === 'application') return;
    assert.ok(kind === 'audio' || kind === 'video', `applied an m-line of kind ${kind}`);
    for (const pt of formats) {
      const codecs = rtpmaps.get(pt) || [];
      assert.equal(codecs.length, 1, `payload type ${pt} has ${codecs.length} rtpmaps`);
      const ok = kind === 'audio' ? ['opus', 'rtx'] : ['vp8', 'rtx'];
      assert.ok(ok.includes(codecs[0]), `applied codec ${codecs[0]} on ${kind}`);
    }
    for (const [pt, lines] of fmtps) {
      assert.ok(lines.length <= 1, `payload type ${pt} has ${lines.length} fmtp lines`);
      const codec = (rtpmaps.get(pt) || [])[0];
      if (codec !== 'opus') continue;
      const params = lines[0].toLowerCase().replace(/\s+/g, '');
      assert.ok(/(^|;)cbr=1(;|$)/.test(params), `Opus fmtp without cbr=1: ${lines[0]}`);
      assert.ok(!/(^|;)usedtx=1(;|$)/.test(params), `Opus fmtp with DTX: ${lines[0]}`);
    }
    for (const [pt, codecs] of rtpmaps) {
      if (codecs[0] === 'opus' && !fmtps.has(pt) && formats.includes(pt)) assert.fail(`Opus ${pt} without an fmtp (no cbr=1)`);
    }
  };
  for (const line of sdp.split(/\r\n/)) {
    const ext = /^a=extmap:\S+\s+(\S+)/i.exec(line);
    if (ext) assert.ok(!levels.includes(ext[1].toLowerCase()), `applied audio-level extension: ${line}`);
    if (line.startsWith('m=')) {
      endSection();
      const parts = line.slice(2).trim().split(/\s+/);
      kind = parts[0];
      formats = parts.slice(3);
      rtpmaps = new Map();
      fmtps = new Map();
      continue;
    }
    const map = /^a=rtpmap:(\d+)\s+([^/\s]+)/i.exec(line);
    if (map) rtpmaps.set(map[1], [...(rtpmaps.get(map[1]) || []), map[2].toLowerCase()]);
    const fmtp = /^a=fmtp:(\d+)\s+(.*)$/i.exec(line);
    if (fmtp) fmtps.set(fmtp[1], [...(fmtps.get(fmtp[1]) || []), fmtp[2]]);
  }
  endSection();
}

test(`checkRemote refuses or cleans ${CASES} mutated relay descriptions`, () => {
  const r = rng(0xc0c1a7e);
  let refused = 0;
  for (let n = 0; n < CASES; n++) {
    const lines = mutate(SEED_SDP, r);
    const sdp = lines.join(r(4) === 0 ? '\n' : '\r\n');
    let out;
    try {
      out = checkRemote(r(2) ? 'offer' : 'answer', sdp);
    } catch (err) {
      assert.ok(err instanceof SdpRefused, `case ${n} threw ${err && err.stack}\n${sdp}`);
      assert.ok(err.problems.length > 0, `case ${n}: a refusal that names no problem`);
      refused++;
      continue;
    }
    try {
      oracle(out);
    } catch (err) {
      assert.fail(`case ${n}: accepted a description that is not clean: ${err.message}\n--- in:\n${sdp}\n--- applied:\n${out}`);
    }
  }
  // Both outcomes are exercised.
  assert.ok(refused > CASES / 10 && refused < CASES - CASES / 10, `${refused} of ${CASES} refused`);
});
