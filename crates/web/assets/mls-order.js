// @ts-check
// The order in which the relay hands this tab the group's MLS messages, and
// what its games with that order mean (docs/design.md §1: the relay is the
// adversary; issue 10 items 3 and 7). membership.js asks this module about
// every MLS message the wasm `Call` could not read, or had read before:
//
// - a replay or a duplicate (the wasm says `duplicate`: these exact bytes were
//   read or sent before) changes nothing and is not shown;
// - a message from an older epoch (`relation: 'behind'`) is dropped quietly:
//   MLS keeps the keys of the last epochs for stragglers, and anything older
//   is a replay (or the losing side of a fork, which shows up below);
// - a message from a newer epoch (`ahead`) is held, at most HOLD_MAX of them
//   for at most HOLD_MS each, and read as soon as the commit that starts its
//   epoch arrives (the relay reordered it, or holds back that commit). If it
//   still has not come after BEHIND_MS, the user is told that the relay is
//   holding back the group's key change; and told again when it arrives.
//   While such messages wait, this tab commits nothing (membership.js
//   maintain()): a commit made for an epoch the others left would be ordered
//   by a relay that counts on, and split the group;
// - a message of our own epoch that does not decrypt (`current`) although it
//   names our group: whoever sent it holds other keys for the same epoch
//   number. The group has forked (the relay showed members different
//   commits), or the relay forges messages. The user is told at once what to
//   do: compare safety codes, and rejoin with the link.
//
// Sans-I/O (docs/conventions.md §1): no clock, no timers; `now` is an argument.

/** Most messages from newer epochs held at once (the oldest go first). */
export const HOLD_MAX = 64;
/** How long one such message is held. */
export const HOLD_MS = 30000;
/** How long messages from a newer epoch may wait for their commit before the
 * user is told the relay holds back the group's key change. An honest relay
 * delivers a commit before anything of the epoch it starts (one ordered
 * stream per connection), so this only allows for slow tabs. */
export const BEHIND_MS = 5000;

/** @typedef {{from: string, bytes: Uint8Array, epoch: number, at: number}} Held */
/** @typedef {{text: string, kind: 'info' | 'warn'}} Note */

export class MlsOrder {
  /**
   * @param {object} [opts]
   * @param {number} [opts.behindMs]
   * @param {number} [opts.holdMs]
   * @param {number} [opts.holdMax]
   */
  constructor({ behindMs = BEHIND_MS, holdMs = HOLD_MS, holdMax = HOLD_MAX } = {}) {
    this.behindMs = behindMs;
    this.holdMs = holdMs;
    this.holdMax = holdMax;
    /** @type {Held[]} messages from newer epochs, oldest first */
    this.held = [];
    /** What was set aside, by why (for diagnostics and tests). */
    this.counts = { duplicate: 0, old: 0, held: 0, expired: 0, fork: 0 };
    /** @type {number | null} since when messages of a newer epoch wait */
    this.behindSince = null;
    /** The newest epoch such messages claimed, this time. */
    this.newest = -1;
    this.warnedBehind = false;
    /** @type {{epoch: number, at: number} | null} the first sign of a fork */
    this.fork = null;
  }

  /**
   * What a message the wasm reported as `duplicate` or `refused` is.
   * `duplicate` and `old`: drop it quietly; `held`: kept for its commit;
   * `fork`: a message of our epoch that does not decrypt (see forkNote);
   * null: none of these, refuse it as before.
   * @param {string} from relay participant id
   * @param {Uint8Array} bytes the envelope
   * @param {{kind: string, epoch?: number, relation?: string}} ev the wasm's event
   * @param {number} epoch ours
   * @param {number} now
   * @returns {'duplicate' | 'old' | 'held' | 'fork' | null}
   */
  place(from, bytes, ev, epoch, now) {
    if (ev.kind === 'duplicate') {
      this.counts.duplicate++;
      return 'duplicate';
    }
    if (ev.kind !== 'refused' || !Number.isSafeInteger(ev.epoch)) return null;
    const at = /** @type {number} */ (ev.epoch);
    if (ev.relation === 'behind' && at < epoch) {
      this.counts.old++;
      return 'old';
    }
    if (ev.relation === 'ahead' && at > epoch) {
      this.counts.held++;
      this.held.push({ from, bytes, epoch: at, at: now });
      if (this.held.length > this.holdMax) this.held.shift();
      this.behindSince ??= now;
      this.newest = Math.max(this.newest, at);
      return 'held';
    }
    if (ev.relation === 'current' && at === epoch) {
      this.counts.fork++;
      return 'fork';
    }
    return null;
  }

  /**
   * The oldest held message whose epoch has come (to read now), or null.
   * @param {number} epoch ours
   * @returns {Held | null}
   */
  next(epoch) {
    const i = this.held.findIndex((h) => h.epoch <= epoch);
    return i < 0 ? null : this.held.splice(i, 1)[0];
  }

  /**
   * Whether messages of a newer epoch wait for a commit we do not have.
   * @param {number} epoch ours
   */
  behind(epoch) {
    return this.held.some((h) => h.epoch > epoch);
  }

  /**
   * The first sign of a fork: the note for the user, once.
   * @param {number} epoch ours
   * @param {number} now
   * @returns {Note | null}
   */
  forkNote(epoch, now) {
    if (this.fork) return null;
    this.fork = { epoch, at: now };
    return {
      kind: 'warn',
      text: `The group has split: a message for this call's key epoch ${epoch} did not decrypt here, so members hold `
        + 'different keys for the same epoch — the relay showed them different key changes (a fork), or forges messages. '
        + 'Compare safety codes aloud: whoever\'s code differs from yours is in another group. '
        + 'To meet again in one group, everyone should leave and rejoin with the link.',
    };
  }

  /**
   * Once a second: forgets messages held too long, and says what the user
   * must know about a commit the relay holds back.
   * @param {number} now
   * @param {number} epoch ours
   * @returns {Note[]}
   */
  watch(now, epoch) {
    const before = this.held.length;
    this.held = this.held.filter((h) => now - h.at < this.holdMs);
    this.counts.expired += before - this.held.length;
    /** @type {Note[]} */
    const notes = [];
    if (this.behind(epoch)) {
      const since = this.behindSince ?? now;
      if (!this.warnedBehind && now - since >= this.behindMs) {
        this.warnedBehind = true;
        notes.push({
          kind: 'warn',
          text: `The relay is holding back the group's key change: messages from key epoch ${this.newest} arrive, `
            + `but not the change that starts it (this tab is at epoch ${epoch}, for ${Math.round((now - since) / 1000)} s). `
            + 'Until it comes you may not see or hear the others, nor they you. '
            + 'If this stays, compare safety codes and rejoin with the link.',
        });
      }
      return notes;
    }
    if (this.warnedBehind && epoch >= this.newest) {
      notes.push({ kind: 'info', text: `The held-back key change arrived; this tab is in step with the group again (epoch ${epoch})` });
    }
    if (this.warnedBehind && epoch < this.newest) return notes; // expired unread: keep the warning standing
    this.warnedBehind = false;
    this.behindSince = null;
    this.newest = -1;
    return notes;
  }
}
