// @ts-check
// Media a member says it sends but that never reaches us (docs/design.md §1:
// the relay may refuse service, but not quietly). A member says inside MLS
// whether its camera and microphone are on (its profile, membership.js); the
// media worker says when a frame of each kind last decrypted under that
// member's key (e2ee-worker.js `senders`). When a member says a kind is on
// and none of its frames of that kind has decrypted for `gapMs`, the relay is
// not delivering them: its tile says so, whatever the relay claims.
//
// Honest delays are not gaps: the wait counts from the latest of when we
// could first receive (a member with keys and a connected media path), when
// the member first appeared in our roster, when it last turned that kind on
// (or we first learned it was on), and its last frame of that kind.
//
// Pure: plain values and the time in, plain values out (tests/web/gaps.test.mjs).

/** Default wait before a missing kind counts as a gap (`&debug=1&media_gap_s=N` shortens it). */
export const GAP_MS = 8000;

/** @typedef {'audio' | 'video'} Kind */
/** @type {Kind[]} */
export const KINDS = ['audio', 'video'];

/**
 * How long a kind has been missing, or null while it is not a gap.
 * @param {object} q
 * @param {boolean} q.on the member says this kind is on
 * @param {number | null} q.since when we could expect its frames (null: not yet)
 * @param {number} q.lastFrameAt when a frame of this kind last decrypted under its key (0: never)
 * @param {number} q.now
 * @param {number} q.gapMs
 * @returns {number | null} ms since the last frame (or since `since` without one) once over gapMs
 */
export function gapOf({ on, since, lastFrameAt, now, gapMs }) {
  if (!on || since === null) return null;
  const start = Math.max(since, lastFrameAt || 0);
  if (now - start < gapMs) return null;
  return now - (lastFrameAt > 0 ? lastFrameAt : start);
}

/**
 * @typedef {object} GapMember
 * @property {number} leaf
 * @property {boolean} said the member sent its profile (what it sends is known)
 * @property {boolean} audio it says its microphone is on
 * @property {boolean} video it says its camera is on
 * @property {boolean} away it is leaving, or the relay says its connection is gone: no media expected
 */

/** @typedef {{audio: number | null, video: number | null}} Gap */

/**
 * Follows the members over time (when each appeared and turned each kind on)
 * and says, at each call, which kinds are missing from whom.
 */
export class GapWatch {
  constructor() {
    /** @type {Map<number, number>} leaf -> when it first appeared in our roster */
    this.firstSeen = new Map();
    /** @type {Map<string, number>} "leaf kind" -> since when it says that kind is on (absent: off or unknown) */
    this.onSince = new Map();
  }

  /**
   * @param {GapMember[]} members the other members, now
   * @param {object} ctx
   * @param {number} ctx.now
   * @param {number | null} ctx.readySince since when we can receive (member, keys, media connected); null: we cannot
   * @param {number} ctx.gapMs
   * @param {(leaf: number, kind: Kind) => number} ctx.lastFrameAt when a frame of `kind` last decrypted under `leaf`'s key (0: never)
   * @returns {Map<number, Gap>} leaf -> how long each kind has been missing (null: not a gap)
   */
  update(members, { now, readySince, gapMs, lastFrameAt }) {
    const present = new Set(members.map((m) => m.leaf));
    // A member that left and comes back gets the grace of a newcomer.
    for (const leaf of this.firstSeen.keys()) {
      if (!present.has(leaf)) {
        this.firstSeen.delete(leaf);
        for (const kind of KINDS) this.onSince.delete(`${leaf} ${kind}`);
      }
    }
    /** @type {Map<number, Gap>} */
    const out = new Map();
    for (const m of members) {
      if (!this.firstSeen.has(m.leaf)) this.firstSeen.set(m.leaf, now);
      /** @type {Gap} */
      const gap = { audio: null, video: null };
      for (const kind of KINDS) {
        const key = `${m.leaf} ${kind}`;
        const on = m.said && m[kind];
        if (!on) { this.onSince.delete(key); continue; }
        if (!this.onSince.has(key)) this.onSince.set(key, now);
        if (m.away || readySince === null) continue;
        const since = Math.max(readySince, /** @type {number} */ (this.firstSeen.get(m.leaf)), /** @type {number} */ (this.onSince.get(key)));
        gap[kind] = gapOf({ on, since, lastFrameAt: lastFrameAt(m.leaf, kind), now, gapMs });
      }
      out.set(m.leaf, gap);
    }
    return out;
  }
}

/**
 * What a tile and the event list say about a gap, or null when there is none.
 * @param {string} name the member's name (from its own profile)
 * @param {Gap} gap
 */
export function gapText(name, gap) {
  const ms = Math.max(gap.audio ?? 0, gap.video ?? 0);
  const s = Math.round(ms / 1000);
  if (gap.audio !== null && gap.video !== null) {
    return `No video or audio from ${name} for ${s} s, though ${name} says camera and microphone are on: the relay is not delivering them`;
  }
  if (gap.video !== null) return `No video from ${name} for ${s} s, though ${name} says the camera is on: the relay is not delivering it`;
  if (gap.audio !== null) return `No audio from ${name} for ${s} s, though ${name} says the microphone is on: the relay is not delivering it`;
  return null;
}

/**
 * The kinds missing, for `data-media-gap`: 'audio', 'video', 'audio video' or ''.
 * @param {Gap} gap
 */
export function gapKinds(gap) {
  return KINDS.filter((k) => gap[k] !== null).join(' ');
}
