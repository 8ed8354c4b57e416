// @ts-check
// Whose face and voice each remote track is (docs/design.md §4, "Membership
// changes only through MLS"): decided by the SFrame key that decrypted the
// track's frames, never by the stream id (`a=msid`) the relay wrote into its
// SDP, nor by which transceiver it used. The media worker reports, per
// receiver, the MLS leaf whose key opened its last frame (`rx[mid].sender`)
// and which of that member's streams the key was for (`rx[mid].context`: 0
// camera and microphone, 1 screen share); this module turns that into one
// audio and one camera video receiver per member (`shown`) and one screen
// share receiver per member (`screens`), and lists what the relay got wrong: tracks it labelled as someone other
// than their true sender (`relabeled`), second receivers of one kind that
// decrypt to a member already shown (`duplicates`), and live tracks with no
// authenticated frame, shown under no name (`unattributed`).
//
// Pure: plain values in, plain values out (tests/web/tracks.test.mjs).

/** A receiver that decrypted a frame this recently counts as receiving now. */
export const RECENT_MS = 3000;
/** A mismatch between label and sender counts only once frames arrived this
 * long after the relay (re)labelled the receiver: a reused m-line may carry
 * the previous sender's last frames for a moment. */
export const SETTLE_MS = 1000;

/**
 * @typedef {object} Receiver
 * @property {string} mid
 * @property {'audio' | 'video'} kind
 * @property {boolean} live the track is live and the transceiver receives
 * @property {string | null} label the relay's stream id for it (a participant id)
 * @property {number} labelAt when the relay last (re)labelled it (ms)
 * @property {number} ok frames that decrypted
 * @property {number | null} sender the MLS leaf whose key decrypted the last frame
 * @property {number | null} [context] that key's stream: 0 camera and microphone, 1 screen share
 * @property {number} lastOkAt when the last frame decrypted (ms; 0: never)
 */

/**
 * @param {Receiver[]} receivers
 * @param {object} ctx
 * @param {Set<number>} ctx.members the other members' leaves (MLS roster, not us)
 * @param {(label: string) => number | null} ctx.leafOfLabel the leaf whose MLS profile names this relay id
 * @param {number} ctx.now
 */
export function attribute(receivers, { members, leafOfLabel, now }) {
  /** @type {Map<number, {audio?: string, video?: string}>} */
  const shown = new Map();
  /** @type {Map<number, string>} leaf -> the mid of its screen share */
  const screens = new Map();
  /** @type {{mid: string, kind: string, label: string, claimed: number, sender: number}[]} */
  const relabeled = [];
  /** @type {{mid: string, kind: string, sender: number, shownMid: string}[]} */
  const duplicates = [];
  /** @type {string[]} */
  const unattributed = [];
  /** @type {Map<string, {source: string, list: Receiver[]}>} "leaf source" -> receivers decrypting to it */
  const bySender = new Map();
  for (const r of receivers) {
    if (!r.live) continue;
    // Only video has a screen stream; a screen key on audio no member sends.
    const source = r.context === 1 ? (r.kind === 'video' ? 'screen' : null) : r.kind;
    if (!(r.ok > 0) || r.sender === null || !members.has(r.sender) || source === null) {
      unattributed.push(r.mid);
      continue;
    }
    const key = `${r.sender} ${source}`;
    const entry = bySender.get(key) || { source, list: [] };
    entry.list.push(r);
    bySender.set(key, entry);
    if (r.label !== null && r.lastOkAt >= r.labelAt + SETTLE_MS) {
      const claimed = leafOfLabel(r.label);
      if (claimed !== null && claimed !== r.sender) relabeled.push({ mid: r.mid, kind: r.kind, label: r.label, claimed, sender: r.sender });
    }
  }
  for (const { source, list } of bySender.values()) {
    // The one receiving most recently is shown; another that still receives
    // is a second copy the relay should not send.
    list.sort((a, b) => b.lastOkAt - a.lastOkAt || Number(a.mid) - Number(b.mid));
    const [best, ...rest] = list;
    const leaf = /** @type {number} */ (best.sender);
    if (source === 'screen') {
      screens.set(leaf, best.mid);
    } else {
      const entry = shown.get(leaf) || {};
      entry[best.kind] = best.mid;
      shown.set(leaf, entry);
    }
    for (const r of rest) {
      if (now - r.lastOkAt < RECENT_MS) duplicates.push({ mid: r.mid, kind: source, sender: leaf, shownMid: best.mid });
    }
  }
  return { shown, screens, relabeled, duplicates, unattributed };
}
