// @ts-check
// Coming back after the relay went away (issue 13 item 5): a page that was
// in a call and lost its relay (the connection dropped, the relay said it is
// shutting down or lost our media) joins the same meeting again on its own,
// through admission like anyone with the link, and says what it is doing.
// It never comes back after being removed or refused, nor after the user
// left.
//
// Pure: tests/web/reconnect.test.mjs.

/** Errors after which the page reconnects by itself. */
export const RECONNECT_ON = new Set(['closed', 'shutting_down', 'media_lost']);
/** Waits before each attempt; the last repeats. */
export const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 10000];
/** Attempts before the page gives up and shows the error (about 5 minutes). */
export const RECONNECT_ATTEMPTS = 35;

/**
 * How long to wait before reconnect attempt `attempt` (0-based) after an
 * error with `code`, or null to stop and show the error.
 * @param {string} code
 * @param {number} attempt
 * @param {boolean} wasInCall this page was in the call before (or is already reconnecting)
 */
export function reconnectDelay(code, attempt, wasInCall) {
  if (!wasInCall || !RECONNECT_ON.has(code) || attempt >= RECONNECT_ATTEMPTS) return null;
  return RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)];
}
