// @ts-check
// Why the media worker dropped a received frame (e2ee-worker.js), from the
// E2EE core's error (crates/e2ee FrameError's messages), so the page can say
// what the relay did (docs/design.md §1, "inject media or downgrade
// encryption") without calling honest races attacks:
//
//   forged     no member made it: authentication failed, malformed or
//              plaintext, bad SFrame header, a sender that is not a member,
//              or a key id naming an epoch we never held nor are about to
//   replayed   a frame counter already received, or older than the window,
//              in an RTP frame (timestamp) this receiver had not decrypted
//              (an old frame re-sent as a new one), while such frames are
//              more than 1 in 8 of the receiver's last 128 (ReplayRing)
//   duplicate  the same, in an RTP frame this receiver already decrypted, or
//              a frame whose exact bytes decrypted less than 1.5 s ago (the
//              same packets delivered twice: a retransmission that raced its
//              original, and Chromium assembled the frame again), or now and
//              then: honest relays cause these under load (seen in
//              tests/browser/run.mjs on a loaded machine); still dropped
//   early      we had no keys yet (still joining)
//   lateEpoch  an epoch we just left or are about to enter: honest senders
//              race key changes (docs/design.md §4 step 4)
//   reflected  (decided by the worker after a decrypt succeeds: our own key)
//
// Pure: tests/web/drops.test.mjs. dropNotes words what the page puts in
// the event list about them.

/** How far outside the epochs we held an honest sender's key id can be: a
 * member one or two commits ahead of us, or not yet switched when we joined. */
export const EPOCH_SLACK = 2;
/** The key id carries the epoch's low 8 bits (crates/e2ee EPOCH_BITS). */
const EPOCH_MASK = 0xff;

/** @typedef {'forged' | 'replayed' | 'duplicate' | 'early' | 'lateEpoch'} DropCause */

/** Replays count as the relay's once more than REPLAY_RING / 8 of a
 * receiver's last REPLAY_RING frames (decrypted or replayed) were replays. */
export const REPLAY_RING = 128;

/** One receiver's last REPLAY_RING outcomes: decrypted, or replayed. */
export class ReplayRing {
  constructor() {
    this.ring = new Uint8Array(REPLAY_RING);
    this.at = 0;
    this.replays = 0;
  }

  /** @param {boolean} replay */
  push(replay) {
    const bit = replay ? 1 : 0;
    this.replays += bit - this.ring[this.at];
    this.ring[this.at] = bit;
    this.at = (this.at + 1) % REPLAY_RING;
  }

  /** Whether replays are now sustained (more than 1 in 8). */
  sustained() {
    return this.replays > REPLAY_RING / 8;
  }
}

/**
 * Whether a key id's epoch bits name an epoch an honest sender may be on:
 * one we held keys for, or up to EPOCH_SLACK past the newest or before the
 * oldest.
 * @param {number} lsb the epoch bits of the frame's key id
 * @param {Iterable<number>} held the epochs we held keys for, this stay
 */
export function nearHeldEpoch(lsb, held) {
  const list = [...held];
  if (!list.length) return false;
  const newest = Math.max(...list);
  const oldest = Math.min(...list);
  const near = new Set(list.map((e) => e & EPOCH_MASK));
  for (let d = 1; d <= EPOCH_SLACK; d++) {
    near.add((newest + d) & EPOCH_MASK);
    near.add((oldest - d) & EPOCH_MASK);
  }
  return near.has(lsb);
}

/**
 * Why a received frame was dropped.
 * @param {string} message the decryptor's error ('no media keys yet' before keys)
 * @param {object} ctx
 * @param {Iterable<number>} ctx.held the epochs we held keys for, this stay
 * @param {boolean} ctx.seenFrame this receiver already decrypted a frame with this RTP timestamp
 * @param {ReplayRing} [ctx.ring] the receiver's recent replays (pushed to here); without it every replay counts
 * @returns {DropCause}
 */
export function causeOf(message, { held, seenFrame, ring }) {
  if (/no media keys yet/.test(message)) return 'early';
  if (/\(replay\)|older than the replay window/.test(message)) {
    if (seenFrame) return 'duplicate';
    if (!ring) return 'replayed';
    ring.push(true);
    return ring.sustained() ? 'replayed' : 'duplicate';
  }
  const epoch = /unknown or expired epoch \(epoch bits (\d+)\)/.exec(message);
  if (epoch) return nearHeldEpoch(Number(epoch[1]), held) ? 'lateEpoch' : 'forged';
  // Authentication failed, malformed or plaintext, a sender that is not a
  // member, or anything else: no member made it.
  return 'forged';
}

/**
 * The event-list lines for frames the relay should not have sent: one per
 * receiver and cause (forged, replayed, reflected), under the member whose
 * key decrypted that receiver's other frames when there is one, and that
 * member's stream (a screen share is named as such). Drops before we had
 * keys or at a key change are honest races and get none. `noted` holds
 * "mid|cause" of the lines already given, and gets the new ones.
 * @param {{mid: string, kind: string, context?: number | null, sender: number | null,
 *   forged: number, replayed: number, reflected: number}[]} receivers
 * @param {Set<string>} noted
 * @param {(leaf: number) => string} nameOf
 * @returns {string[]}
 */
export function dropNotes(receivers, noted, nameOf) {
  const out = [];
  for (const r of receivers) {
    const stream = r.context === 1 && r.kind === 'video' ? 'screen' : r.kind;
    for (const cause of /** @type {const} */ (['forged', 'replayed', 'reflected'])) {
      const key = `${r.mid}|${cause}`;
      if (!(r[cause] > 0) || noted.has(key)) continue;
      noted.add(key);
      const whose = r.sender !== null ? `${nameOf(r.sender)}'s ${stream}` : null;
      out.push({
        forged: whose ? `The relay sent frames on ${whose} that no member made: dropped, never shown`
          : `The relay sent ${r.kind} frames that no member made: dropped, never shown`,
        replayed: whose ? `The relay replayed old frames of ${whose}: dropped` : `The relay replayed old ${r.kind} frames: dropped`,
        reflected: `The relay sent our own ${stream} back to us: dropped, never shown`,
      }[cause]);
    }
  }
  return out;
}
