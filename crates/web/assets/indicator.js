// @ts-check
// The "end-to-end encrypted" indicator, steady across key changes (issue 13
// item 5). It is on when our media is encrypted under the group's current
// epoch and others' decrypts; every join, leave and periodic rekey starts a
// new epoch, and for a moment (the worker switching keys, senders
// confirming) that is not yet true. Turning the indicator off then would
// cry wolf on every rekey; it stays on for a short grace after an epoch
// change, if it was on just before. Anything else that turns it off (no
// keys, a member whose media fails to decrypt) shows at once.
//
// Pure: tests/web/indicator.test.mjs.

/** How long a key change may take to settle before the indicator says so. */
export const KEY_CHANGE_GRACE_MS = 5000;

/**
 * Whether to show the indicator on.
 * @param {object} o
 * @param {boolean} o.settled our worker and the stats are on the group's current epoch
 * @param {boolean} o.ok media is encrypted and decrypts (only meaningful when settled)
 * @param {number | null} o.onAt when the indicator was last on
 * @param {number | null} o.epochAt when the group's epoch last changed
 * @param {number} o.now
 */
export function indicatorOn({ settled, ok, onAt, epochAt, now }) {
  if (settled) return ok;
  const recent = (t) => t !== null && now - t < KEY_CHANGE_GRACE_MS;
  return recent(epochAt) && recent(onAt);
}
