// Metadata browser suite (issue 10 item 5): what the relay can tell about
// who is speaking (docs/design.md §1, "read who is speaking";
// docs/operator-view.md, "packet sizes and timing").
//
//   speech and silence: two tabs in a call, each in its own Chromium whose
//           fake microphone plays a WAV made here — one speech-like
//           (syllables of voiced harmonics and noise with pauses), one
//           silent. In the relay's insider view (media.pcap) every audio
//           frame of both has one ciphertext size (AUDIO_PADDED_SIZE 96 + the
//           16-byte tag); the receiving tabs prove the fixtures differ (audio
//           energy). The only size difference the relay sees is the SFrame
//           header, whose key id and counter grow with epochs and frames sent,
//           never with speech. No offer or answer a page sent names the
//           audio-level header extension (signaling.jsonl).
//   hostile SDP, through tests/browser/evil-relay.mjs: an answer that turns
//           audio levels back on, an answer that turns on Opus DTX, and an
//           offer that adds H.264 to a member's receiving m-line are each
//           refused with a visible error; the tabs sent no media (answers) or
//           stopped (offer).
//
// About 60 s; every condition is awaited, never slept on, except the fixed
// 8 s of audio measured.

import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EvilRelay, passThrough } from './evil-relay.mjs';
import {
  CHROMIUM, check, waitFor, relay, startRelay, stopRelay, cliLink, hook, secs, t0, tabs,
  e2eeOf, errorsOf, state, statsOf, waitJoined, waitGroup, waitMedia, step, main, log,
} from './harness.mjs';

const AUDIO_PADDED_SIZE = 96; // crates/e2ee/src/media.rs
const TAG = 16; // SFrame suite 0x0004's tag
const MEASURE_S = 8;
const SETTINGS = '&autojoin=1&debug=1';

// ------------------------------------------------------------------ fixtures

/** A 16-bit mono WAV of `pcm` at `rate`. */
function wav(pcm, rate) {
  const b = Buffer.alloc(44 + pcm.length * 2);
  b.write('RIFF', 0); b.writeUInt32LE(36 + pcm.length * 2, 4); b.write('WAVE', 8);
  b.write('fmt ', 12); b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24); b.writeUInt32LE(rate * 2, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34);
  b.write('data', 36); b.writeUInt32LE(pcm.length * 2, 40);
  Buffer.from(pcm.buffer).copy(b, 44);
  return b;
}

/** Speech-like sound (deterministic): syllables of 120–270 ms — voiced
 * harmonics of a 110–200 Hz pitch with vibrato, or noisy fricatives — under a
 * syllable envelope, with pauses of 50–250 ms and, one time in five, 0.6–1.2 s. */
function speechWav(seconds = 8, rate = 48000) {
  let seed = 12345;
  const rnd = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 2 ** 32; };
  const pcm = new Int16Array(seconds * rate);
  for (let t = 0; t < pcm.length;) {
    const syllable = Math.floor((0.12 + 0.15 * rnd()) * rate);
    const pause = Math.floor((rnd() < 0.2 ? 0.6 + 0.6 * rnd() : 0.05 + 0.2 * rnd()) * rate);
    const f0 = 110 + 90 * rnd();
    const fricative = rnd() < 0.3;
    for (let i = 0; i < syllable && t + i < pcm.length; i++) {
      const env = Math.sin((Math.PI * i) / syllable) ** 0.7;
      const phase = (2 * Math.PI * f0 * (1 + 0.05 * Math.sin((2 * Math.PI * 3 * i) / rate)) * i) / rate;
      let v = 0;
      for (let h = 1; h <= 25; h++) v += (Math.sin(h * phase) / h) * (1 + Math.cos((h * f0) / 700));
      if (fricative) v = v * 0.3 + (rnd() * 2 - 1) * 1.2;
      pcm[t + i] = Math.max(-32767, Math.min(32767, (v * 0.25 * env * 32767) / 2));
    }
    t += syllable + pause;
  }
  return wav(pcm, rate);
}

// ------------------------------------------------------------------ browsers

const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection', '--ignore-certificate-errors',
  '--autoplay-policy=no-user-gesture-required', '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows',
];
const browsers = [];

/** Chromium whose fake microphone plays `wavFile` (harness.mjs's flags). */
async function launchWith(wavFile) {
  const b = await chromium.launch({
    executablePath: CHROMIUM,
    headless: !process.env.CONCLAVE_BROWSER_HEADFUL,
    ignoreDefaultArgs: ['--mute-audio'],
    args: [...ARGS, `--use-file-for-fake-audio-capture=${wavFile}`],
  });
  browsers.push(b);
  return b;
}

/** Opens a meeting link in `b` at `base` (the relay or the lying proxy). */
async function openIn(b, label, link, name, base) {
  const context = await b.newContext({ ignoreHTTPSErrors: true, viewport: { width: 800, height: 600 } });
  const page = await context.newPage();
  const tab = { label, room: link.room, context, page, console: [], me: null, name, openedAt: Date.now() };
  page.on('console', (m) => {
    tab.console.push(`${secs(Date.now() - t0)}s ${m.type()}: ${m.text()}`);
    if (tab.console.length > 200) tab.console.shift();
  });
  page.on('pageerror', (e) => tab.console.push(`${secs(Date.now() - t0)}s pageerror: ${e.message}`));
  tab.url = new URL(`/#${link.secret}&name=${encodeURIComponent(name)}${SETTINGS}`, base).href;
  tab.response = await page.goto(tab.url);
  tabs.push(tab); // the harness's diagnostics include it
  return tab;
}

// ------------------------------------------------------------------ the insider view

/** media.pcap with capture times; a record cut short (the relay's buffered
 * writer, read while it runs) is left out. */
function readPcapTimed(file) {
  const buf = readFileSync(file);
  const packets = [];
  for (let off = 24; off + 16 <= buf.length;) {
    const t = buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) / 1e6;
    const len = buf.readUInt32LE(off + 8);
    if (off + 16 + len > buf.length) break;
    const data = buf.subarray(off + 16, off + 16 + len);
    off += 16 + len;
    if (data.length < 40 || data[0] >> 4 !== 4 || data[9] !== 17) continue;
    const rtp = data.subarray((data[0] & 15) * 4 + 8);
    packets.push({ t, pt: rtp[1] & 0x7f, ssrc: rtp.readUInt32BE(8), payload: rtp.subarray(12) });
  }
  return packets;
}

/** The length of the SFrame header (RFC 9605 §4.3) at the start of `p`. */
function sframeHeaderLen(p) {
  const c = p[0];
  const kid = c & 0x80 ? ((c >> 4) & 7) + 1 : 0;
  const ctr = c & 0x08 ? (c & 7) + 1 : 0;
  return 1 + kid + ctr;
}

const signaling = () => readFileSync(path.join(relay.insider, 'signaling.jsonl'), 'utf8')
  .split('\n').filter(Boolean).map((l) => JSON.parse(l))
  .map((l) => { try { return { ...l, msg: JSON.parse(l.text) }; } catch { return { ...l, msg: {} }; } });

/** The SSRCs a participant's offers announce for `kind`. */
function ssrcsOf(participant, kind) {
  const out = new Set();
  for (const l of signaling()) {
    if (l.dir !== 'in' || l.participant !== participant || l.msg.type !== 'offer') continue;
    for (const section of l.msg.sdp.split(/\r\nm=/).slice(1)) {
      if (!section.startsWith(kind)) continue;
      for (const m of section.matchAll(/a=ssrc:(\d+) /g)) out.add(Number(m[1]));
    }
  }
  return out;
}

// ------------------------------------------------------------------ hostile SDP

/** Rewrites every m-section of `sdp` for which `pick(section)` holds with
 * `change(section)` (sections without their line break before the next). */
function editSections(sdp, pick, change) {
  const body = sdp.replace(/\r\n$/, '');
  return `${body.split(/\r\n(?=m=)/).map((sec) => (sec.startsWith('m=') && pick(sec) ? change(sec) : sec)).join('\r\n')}\r\n`;
}

/** The relay's answer with the audio-level extension on its audio m-line. */
const withAudioLevel = (sdp) => editSections(sdp, (sec) => sec.startsWith('m=audio'),
  (sec) => `${sec}\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level`);

/** The relay's description with Opus DTX on. */
const withDtx = (sdp) => editSections(sdp, (sec) => sec.startsWith('m=audio'), (sec) => {
  const pt = (/a=rtpmap:(\d+) opus\//i.exec(sec) || [])[1];
  return sec.replace(new RegExp(`(a=fmtp:${pt} [^\\r]*)`), '$1;usedtx=1');
});

/** The relay's offer with H.264 added to every video m-line it sends on
 * (the member's receiving m-lines). */
const withH264 = (sdp) => editSections(sdp, (sec) => sec.startsWith('m=video') && /\r\na=sendonly/.test(sec),
  (sec) => `${sec.replace(/^(m=video [^\r]*)/, '$1 98')}\r\na=rtpmap:98 H264/90000`);

/** Waits until `tab` shows an error matching `re`, and has no live media. */
async function waitRefused(tab, re, what) {
  await waitFor(`${tab.label} refuses ${what} with a visible error`, 30, async () => {
    const errs = await errorsOf(tab);
    if (!errs.some((e) => re.test(e.message))) return `errors ${JSON.stringify(errs)}`;
    const shown = await hook(tab, () => document.body.innerText);
    if (!re.test(shown)) return 'the page does not show it';
    return true;
  });
  const pcState = await hook(tab, () => window.conclave.connectionState);
  check(pcState !== 'connected', `${tab.label}'s media connection is still ${pcState} after the refusal`);
  return (await errorsOf(tab)).find((e) => re.test(e.message)).message;
}

async function scenario() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'conclave-metadata-'));
  const speechFile = path.join(dir, 'speech.wav');
  const silentFile = path.join(dir, 'silence.wav');
  writeFileSync(speechFile, speechWav());
  writeFileSync(silentFile, wav(new Int16Array(8 * 48000), 48000));

  let evil;
  let speechBrowser;
  let silentBrowser;
  await step('relay, the lying proxy, and two Chromiums: one speaks, one is silent', async () => {
    await startRelay();
    evil = await new EvilRelay(relay.url).start();
    speechBrowser = await launchWith(speechFile);
    silentBrowser = await launchWith(silentFile);
    return `relay ${relay.url.href}, proxy ${evil.url.href}, ${CHROMIUM} ${speechBrowser.version()}`;
  });

  const link = cliLink();
  let S;
  let Q;
  await step('the speaker and the silent one join a call; media flows', async () => {
    S = await openIn(speechBrowser, 'speaker', link, 'Sam Speaker', relay.url);
    await waitJoined([S], 30);
    Q = await openIn(silentBrowser, 'silent', link, 'Quinn Quiet', relay.url);
    await waitJoined([S, Q], 40);
    for (const t of [S, Q]) t.me = await hook(t, () => window.conclave.me);
    await waitGroup([S, Q], 30);
    await waitMedia([S, Q], 60, 20);
    return `speaker ${S.me}, silent ${Q.me}`;
  });

  let window0;
  let window1;
  await step(`${MEASURE_S} s of speech and silence`, async () => {
    const before = await Promise.all([statsOf(S), statsOf(Q)]);
    window0 = Date.now() / 1000;
    await new Promise((r) => setTimeout(r, MEASURE_S * 1000));
    window1 = Date.now() / 1000;
    const after = await Promise.all([statsOf(S), statsOf(Q)]);
    // The fixtures differ where it counts: what each receives.
    const energy = (stats, from, i) => {
      const a = stats[i].find((x) => x.participant === from.me);
      const b = before[i].find((x) => x.participant === from.me);
      return ((a && a.audio && a.audio.totalAudioEnergy) || 0) - ((b && b.audio && b.audio.totalAudioEnergy) || 0);
    };
    const heardSpeech = energy(after, S, 1); // Quinn hears Sam
    const heardSilence = energy(after, Q, 0); // Sam hears Quinn
    check(heardSpeech > 0.01 && heardSpeech > 100 * heardSilence,
      `the fixtures do not differ at the receivers: energy from the speaker ${heardSpeech}, from the silent one ${heardSilence}`);
    return `audio energy received: from the speaker ${heardSpeech.toExponential(2)}, from the silent one ${heardSilence.toExponential(2)}`;
  });

  await step('the relay sees one audio frame size for speech and for silence; no audio-level extension was offered', async () => {
    const log1 = signaling();
    const answer = log1.find((l) => l.dir === 'out' && l.participant === S.me && l.msg.type === 'answer');
    check(answer, 'no answer to the speaker in signaling.jsonl');
    const opus = /a=rtpmap:(\d+) opus\//i.exec(answer.msg.sdp);
    check(opus, `the relay's answer names no Opus payload type:\n${answer.msg.sdp}`);
    const pt = Number(opus[1]);
    const sent = log1.filter((l) => l.dir === 'in' && (l.msg.type === 'offer' || l.msg.type === 'answer'));
    check(sent.length >= 2, `only ${sent.length} offers/answers from the pages in signaling.jsonl`);
    const leaky = sent.filter((l) => /audio-level/i.test(l.msg.sdp));
    check(leaky.length === 0, `a page offered audio levels: ${leaky.map((l) => l.msg.sdp).join('\n---\n')}`);

    const packets = readPcapTimed(path.join(relay.insider, 'media.pcap'));
    const report = [];
    const sizes = {};
    for (const [tab, who] of [[S, 'speech'], [Q, 'silence']]) {
      const ssrcs = ssrcsOf(tab.me, 'audio');
      check(ssrcs.size > 0, `${tab.label}'s offer announces no audio SSRC`);
      const audio = packets.filter((p) => p.pt === pt && ssrcs.has(p.ssrc) && p.t >= window0 && p.t <= window1);
      check(audio.length >= MEASURE_S * 40, `only ${audio.length} audio packets from ${tab.label} in ${MEASURE_S} s`);
      const bodies = new Map();
      for (const p of audio) {
        const n = p.payload.length - sframeHeaderLen(p.payload);
        bodies.set(n, (bodies.get(n) || 0) + 1);
      }
      sizes[who] = bodies;
      const bytes = audio.reduce((s, p) => s + p.payload.length, 0);
      const span = audio[audio.length - 1].t - audio[0].t;
      report.push(`${who}: ${audio.length} packets, ciphertext sizes ${JSON.stringify([...bodies])}, `
        + `payload ${((bytes * 8) / span / 1000).toFixed(1)} kbit/s`);
    }
    log(report.join('; '));
    for (const [who, bodies] of Object.entries(sizes)) {
      check(bodies.size === 1 && bodies.has(AUDIO_PADDED_SIZE + TAG),
        `${who}'s audio frames reach the relay in sizes ${JSON.stringify([...bodies])}, expected only ${AUDIO_PADDED_SIZE + TAG} (padded + tag)`);
    }
    return report.join('; ');
  });

  const refused = [];
  await step('an answer that turns audio levels back on is refused; no media is sent', async () => {
    evil.attack = {
      toClient: (_conn, msg) => (msg.type === 'answer'
        ? { ...msg, sdp: withAudioLevel(msg.sdp) }
        : msg),
    };
    const E = await openIn(silentBrowser, 'evil-level', cliLink(), 'Lev Level', evil.url);
    const msg = await waitRefused(E, /answer was refused and no media was sent: it turns on the audio-level header extension/, 'the audio-level answer');
    refused.push(E);
    return msg;
  });

  await step('an answer that turns on Opus DTX is refused; no media is sent', async () => {
    evil.attack = {
      toClient: (_conn, msg) => (msg.type === 'answer'
        ? { ...msg, sdp: withDtx(msg.sdp) }
        : msg),
    };
    const E = await openIn(silentBrowser, 'evil-dtx', cliLink(), 'Dot Dtx', evil.url);
    const msg = await waitRefused(E, /answer was refused and no media was sent: it turns on Opus DTX \(usedtx=1\)/, 'the DTX answer');
    refused.push(E);
    return msg;
  });

  await step('an offer that adds H.264 to a member\'s receiving m-line is refused; her media stops', async () => {
    evil.attack = passThrough;
    const roomLink = cliLink();
    const A = await openIn(silentBrowser, 'evil-codec-a', roomLink, 'Ada Codec', evil.url);
    await waitJoined([A], 30);
    A.me = await hook(A, () => window.conclave.me);
    evil.attack = {
      toClient: (conn, msg) => {
        if (conn.me !== A.me || msg.type !== 'offer') return msg;
        return { ...msg, sdp: withH264(msg.sdp) };
      },
    };
    const B = await openIn(silentBrowser, 'evil-codec-b', roomLink, 'Bea Codec', evil.url);
    const msg = await waitRefused(A, /offer was refused and this call's media was stopped: it offers the codec h264/, 'the H.264 offer');
    refused.push(A);
    void B;
    return msg;
  });

  await step('the refused answers sent no media, and the relay never saw audio levels', async () => {
    // The relay's view, complete: stop it so media.pcap is flushed.
    const ids = [];
    for (const t of refused.slice(0, 2)) ids.push(t.me || await hook(t, () => window.conclave.me));
    await stopRelay();
    const packets = readPcapTimed(path.join(relay.insider, 'media.pcap'));
    for (const [i, id] of ids.entries()) {
      check(id, `${refused[i].label} never learned its participant id`);
      const ssrcs = new Set([...ssrcsOf(id, 'audio'), ...ssrcsOf(id, 'video')]);
      check(ssrcs.size > 0, `${refused[i].label}'s offer announces no SSRC`);
      const from = packets.filter((p) => ssrcs.has(p.ssrc));
      check(from.length === 0, `${refused[i].label} refused the answer but the relay got ${from.length} packets from it`);
    }
    const offers = signaling().filter((l) => l.dir === 'in' && /^(offer|answer)$/.test(l.msg.type));
    check(offers.every((l) => !/audio-level/i.test(l.msg.sdp)), 'a page sent an audio-level extension');
    return `${packets.length} packets in media.pcap, none from ${ids.join(', ')}; ${offers.length} offers/answers from pages, none with audio levels`;
  });

  evil.stop();
  for (const b of browsers) await b.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}

await main(scenario, { label: 'metadata', timeoutS: 150 });
