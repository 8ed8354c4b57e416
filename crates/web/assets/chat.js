// @ts-check
// Chat inside the encrypted group (issue 13 item 4): each message is an MLS
// application message (`{chat: {text}}`), so only members can read it and
// the name shown with it is the one its sender's leaf gave in its own
// profile, never anything the relay says. Nothing is stored: a message
// reaches whoever is in the call when it is sent; the relay forwards it
// like any MLS message and keeps nothing (docs/design.md, "As built"). The
// relay sees that a member sent an application message and its size class
// (padded to multiples of 256 bytes, like profiles).
//
// Pure: tests/web/chat.test.mjs.

/** Longest chat message, in characters. */
export const MAX_CHAT_LEN = 1000;
/** Messages kept on the page (the oldest go first). */
export const CHAT_KEPT = 200;

/**
 * The text to send for what the user typed, or an error saying why not.
 * @param {string} typed
 * @returns {{text: string} | {error: string}}
 */
export function chatText(typed) {
  const text = typed.trim();
  if (!text) return { error: 'type a message first' };
  if ([...text].length > MAX_CHAT_LEN) return { error: `a message can be at most ${MAX_CHAT_LEN} characters` };
  return { text };
}

/**
 * A member's chat message as received, or null if it is not one (or is
 * malformed, or too long: then it is ignored, never shown cut).
 * @param {unknown} body the parsed application message
 */
export function readChat(body) {
  const chat = body && typeof body === 'object' ? /** @type {any} */ (body).chat : null;
  if (!chat || typeof chat.text !== 'string') return null;
  const text = chat.text.trim();
  if (!text || [...text].length > MAX_CHAT_LEN) return null;
  return text;
}

/** The page's chat history for this call: [{name, text, own, at}]. */
export class ChatLog {
  constructor() {
    /** @type {{name: string, text: string, own: boolean, at: number}[]} */
    this.items = [];
  }

  /** @param {{name: string, text: string, own: boolean, at: number}} item */
  add(item) {
    this.items.push(item);
    if (this.items.length > CHAT_KEPT) this.items.shift();
  }
}
