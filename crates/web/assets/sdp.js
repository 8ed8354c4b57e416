// @ts-check
// What this page lets the relay negotiate (docs/design.md §1, "read who is
// speaking" and "inject media or downgrade encryption"). The relay writes the
// SDP answers to our offer and the offers for every renegotiation, and the
// relay is the adversary: a line in its SDP could make the browser tell it who
// is speaking, or send media it cannot protect. Pure functions over SDP text,
// no DOM; media.js applies them (tests/web/sdp.test.mjs, and
// tests/browser/suite-metadata.mjs through a lying relay).
//
// What we send:
// - Our offer carries no audio-level header extension (RFC 6464 ssrc-audio-
//   level, RFC 6465 csrc-audio-level): media.js stops it on every transceiver
//   with `setHeaderExtensionsToNegotiate` (Chromium has it) and otherwise
//   takes its `a=extmap` lines out of the offer ([stripAudioLevel]), which
//   Chromium accepts. Stripping is right here: it is our own offer.
// - Our Opus encoder runs at constant bitrate: every description we apply gets
//   `cbr=1` on its Opus formats ([hardenRemote]) — fmtp parameters in the
//   remote description are how a browser is told how to encode — and the
//   audio sender is capped at [AUDIO_MAX_BITRATE] (so a relay's
//   `maxaveragebitrate` or `stereo=1` cannot grow frames). Chromium then makes
//   every 20 ms frame 80 bytes, which the E2EE layer pads to one size
//   (crates/e2ee media.rs `AUDIO_PADDED_SIZE`). This is our choice, not a
//   relay's: an honest relay says nothing about `cbr`, and we set it.
//
// What we refuse ([checkRemote] throws [SdpRefused]; media.js then closes the
// peer connection, so no media is sent — none at all for a refused answer,
// none more for a refused renegotiation offer — and the page shows the
// message). A
// refusal is visible; quietly fixing a hostile description would hide that the
// relay tried, and the user would go on trusting it. An honest Conclave relay
// never sends any of these (crates/relay/src/sfu/room.rs: Opus and VP8 only, no
// audio-level), so a refusal always means a lying or broken relay:
// - the audio-level extension, on any m-line: it is a clear RTP header that
//   says how loud each packet is;
// - Opus DTX (`usedtx=1`): the packet rate would follow speech (silence sends
//   almost nothing);
// - variable bitrate asked for outright (`cbr=0`): sizes would follow speech
//   (padding would still hide them, but asking for it is hostile);
// - any codec but Opus (audio) and VP8 (video), plus `rtx` (retransmission
//   carries the protected payload unchanged): everything else — H.264, VP9,
//   AV1, RED, FEC, comfort noise (CN), telephone-event, PCMU/PCMA, a static
//   payload type with no rtpmap — is one our E2EE worker cannot encrypt or
//   that carries speech information in clear, on sending and receiving
//   m-lines alike;
// - an m-line of a kind we do not know.
// Other Opus parameters (`ptime`, `maxaveragebitrate`, `stereo`,
// `useinbandfec`) do not make sizes or rates follow speech under constant
// bitrate and the cap, and pass.

/** The audio-level header extensions (RFC 6464, RFC 6465). */
export const AUDIO_LEVEL_URIS = Object.freeze([
  'urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'urn:ietf:params:rtp-hdrext:csrc-audio-level',
]);

/**
 * The audio sender's cap, bit/s: Chromium's Opus default for mono, at which
 * constant bitrate makes 80-byte frames (fits `AUDIO_PADDED_SIZE`, 96).
 */
export const AUDIO_MAX_BITRATE = 32000;

/** Codecs (lower case) we can protect end to end, per media kind. */
const PROTECTED = /** @type {Record<string, string[]>} */ ({
  audio: ['opus', 'rtx'],
  video: ['vp8', 'rtx'],
});

/** A relay's description that this page will not apply. */
export class SdpRefused extends Error {
  /**
   * @param {'offer' | 'answer'} type
   * @param {string[]} problems one clause each ("turns on …")
   */
  constructor(type, problems) {
    super(`The relay's ${type} was refused and ${type === 'answer' ? 'no media was sent' : 'this call\'s media was stopped'}: `
      + `it ${problems.join('; it ')}. `
      + 'An honest Conclave relay never asks for this, so this relay may be compromised or misconfigured: '
      + 'tell its operator, and meet on another relay until it is fixed.');
    this.name = 'SdpRefused';
    /** A code for the page's error list. */
    this.code = 'hostile_sdp';
    this.type = type;
    this.problems = problems;
  }
}

/**
 * One m-section of an SDP.
 * @typedef {{index: number, kind: string, port: string, formats: string[], lines: string[]}} Section
 */

/**
 * Splits SDP text into its session part and m-sections (line endings kept
 * apart: callers join with CRLF).
 * @param {string} sdp
 * @returns {{session: string[], media: Section[]}}
 */
export function parse(sdp) {
  const lines = sdp.split(/\r?\n/);
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  /** @type {string[]} */
  const session = [];
  /** @type {Section[]} */
  const media = [];
  for (const line of lines) {
    if (line.startsWith('m=')) {
      const [kind = '', port = '', , ...formats] = line.slice(2).trim().split(/\s+/);
      media.push({ index: media.length, kind, port, formats, lines: [line] });
    } else if (media.length) {
      media[media.length - 1].lines.push(line);
    } else {
      session.push(line);
    }
  }
  return { session, media };
}

/**
 * @param {{session: string[], media: Section[]}} parsed
 * @returns {string}
 */
function join({ session, media }) {
  return [...session, ...media.flatMap((m) => m.lines)].map((l) => `${l}\r\n`).join('');
}

/**
 * The URI of an `a=extmap` line, or null.
 * @param {string} line
 */
function extmapUri(line) {
  const m = /^a=extmap:\d+(?:\/\w+)?\s+(\S+)/i.exec(line);
  return m ? m[1] : null;
}

/** @param {string | null} uri */
const isAudioLevel = (uri) => uri !== null && AUDIO_LEVEL_URIS.includes(uri.toLowerCase());

/**
 * Payload type -> codec name (lower case) and line of a section's rtpmap
 * lines; `twice` lists payload types named more than once (ambiguous).
 * @param {Section} s
 */
function codecs(s) {
  /** @type {Map<string, {name: string, line: number}>} */
  const byPt = new Map();
  /** @type {string[]} */
  const twice = [];
  s.lines.forEach((line, i) => {
    const m = /^a=rtpmap:(\d+)\s+([^/\s]+)/i.exec(line);
    if (!m) return;
    if (byPt.has(m[1])) twice.push(m[1]);
    byPt.set(m[1], { name: m[2].toLowerCase(), line: i });
  });
  return { byPt, twice };
}

/**
 * Payload type -> fmtp parameters (names lower case) and line of a section;
 * `twice` lists payload types with more than one fmtp line (ambiguous).
 * @param {Section} s
 */
function fmtps(s) {
  /** @type {Map<string, {params: Map<string, string>, line: number}>} */
  const byPt = new Map();
  /** @type {string[]} */
  const twice = [];
  s.lines.forEach((line, i) => {
    const m = /^a=fmtp:(\d+)\s+(.*)$/i.exec(line);
    if (!m) return;
    const params = new Map();
    for (const p of m[2].split(';')) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim());
    }
    if (byPt.has(m[1])) twice.push(m[1]);
    byPt.set(m[1], { params, line: i });
  });
  return { byPt, twice };
}

/**
 * Everything in a relay's description that this page refuses, one clause
 * each (empty: nothing).
 * @param {string} sdp
 * @returns {string[]}
 */
export function problems(sdp) {
  const parsed = parse(sdp);
  /** @type {string[]} */
  const found = [];
  // What this check cannot read, it does not let through (a browser might
  // read it differently).
  const odd = [...parsed.session, ...parsed.media.flatMap((m) => m.lines)].filter((l) => !/^[a-z]=/.test(l));
  if (odd.length) found.push(`has ${odd.length} line${odd.length === 1 ? '' : 's'} that are not SDP (first: ${JSON.stringify(odd[0].slice(0, 60))})`);
  for (const line of parsed.session) {
    const uri = extmapUri(line);
    if (isAudioLevel(uri)) found.push(`turns on the audio-level header extension (${uri}) for every m-line, which would tell the relay who is speaking`);
  }
  for (const s of parsed.media) {
    const where = `m-line ${s.index} (${s.kind})`;
    for (const line of s.lines) {
      const uri = extmapUri(line);
      if (isAudioLevel(uri)) found.push(`turns on the audio-level header extension (${uri}) on ${where}, which would tell the relay who is speaking`);
    }
    if (s.kind === 'application') continue; // data channels carry no media
    const allowed = PROTECTED[s.kind];
    if (!allowed) {
      found.push(`adds ${where}, a kind of media this page does not know`);
      continue;
    }
    const { byPt: names, twice } = codecs(s);
    const { byPt: params, twice: twiceFmtp } = fmtps(s);
    // A browser may read either of two lines for one payload type: refuse
    // rather than guess which one it applies.
    for (const pt of new Set(twice)) found.push(`names payload type ${pt} twice on ${where} (two a=rtpmap lines)`);
    for (const pt of new Set(twiceFmtp)) found.push(`gives payload type ${pt} two a=fmtp lines on ${where}`);
    for (const pt of s.formats) {
      const name = names.get(pt)?.name;
      if (name === undefined) {
        found.push(`offers payload type ${pt} on ${where} without naming its codec (a static codec such as PCMU, which this page cannot encrypt)`);
      } else if (!allowed.includes(name)) {
        found.push(`offers the codec ${name} on ${where}, which this page cannot encrypt end to end (only Opus and VP8)`);
      }
    }
    for (const [pt, { name }] of names) {
      if (name !== 'opus') continue;
      const p = params.get(pt)?.params;
      if (p && p.get('usedtx') === '1') found.push(`turns on Opus DTX (usedtx=1) on ${where}, which would make the packet rate follow speech`);
      if (p && p.get('cbr') === '0') found.push(`asks for variable-bitrate Opus (cbr=0) on ${where}, which would make packet sizes follow speech`);
    }
  }
  return found;
}

/**
 * Sets `cbr=1` on every Opus format of a description we are about to apply:
 * our encoder then makes frames of one size. Run [problems] first: this does
 * not look for anything to refuse.
 * @param {string} sdp
 * @returns {string}
 */
export function hardenRemote(sdp) {
  const parsed = parse(sdp);
  // Every section: an Opus line is hardened wherever the relay put it.
  for (const s of parsed.media) {
    const params = fmtps(s).byPt;
    // Last line first, so inserting a line moves none still to be changed.
    const opus = [...codecs(s).byPt].filter(([, c]) => c.name === 'opus').sort((a, b) => b[1].line - a[1].line);
    for (const [pt, codec] of opus) {
      const f = params.get(pt);
      if (f && f.params.get('cbr') === '1') continue;
      if (f) {
        const line = s.lines[f.line];
        s.lines[f.line] = f.params.has('cbr')
          ? line.replace(/(^|[\s;])cbr\s*=\s*[^;]*/i, '$1cbr=1')
          : `${line.replace(/;\s*$/, '')};cbr=1`;
      } else {
        s.lines.splice(codec.line + 1, 0, `a=fmtp:${pt} cbr=1`);
      }
    }
  }
  return join(parsed);
}

/**
 * Checks a relay's offer or answer: throws [SdpRefused] for anything in
 * [problems]; otherwise returns the description to apply ([hardenRemote]).
 * @param {'offer' | 'answer'} type
 * @param {string} sdp
 * @returns {string}
 */
export function checkRemote(type, sdp) {
  const found = problems(sdp);
  if (found.length) throw new SdpRefused(type, found);
  return hardenRemote(sdp);
}

/**
 * Our own offer without audio-level extensions: the fallback for browsers
 * without `setHeaderExtensionsToNegotiate`.
 * @param {string} sdp
 * @returns {string}
 */
export function stripAudioLevel(sdp) {
  const parsed = parse(sdp);
  parsed.session = parsed.session.filter((l) => !isAudioLevel(extmapUri(l)));
  for (const s of parsed.media) s.lines = s.lines.filter((l) => !isAudioLevel(extmapUri(l)));
  return join(parsed);
}

/**
 * Whether an SDP (ours, after the browser made it) still negotiates an
 * audio-level extension.
 * @param {string} sdp
 */
export function hasAudioLevel(sdp) {
  return sdp.split(/\r?\n/).some((l) => isAudioLevel(extmapUri(l)));
}

/**
 * A transceiver's header extensions (`getHeaderExtensionsToNegotiate()`)
 * with the audio-level ones stopped, for `setHeaderExtensionsToNegotiate`.
 * @template {{uri: string, direction: string}} T
 * @param {T[]} extensions
 * @returns {T[]}
 */
export function stopAudioLevel(extensions) {
  return extensions.map((e) => (isAudioLevel(e.uri) ? { ...e, direction: 'stopped' } : e));
}
