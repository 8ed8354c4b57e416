// @ts-check
// The signaling connection to the relay: one WebSocket per stay in a room
// (`/r/<room-id>/ws`, JSON messages defined in crates/proto). It says hello,
// sends what the page asks, and hands each message to the page strictly one
// after another. MLS messages have a queue of their own: they must not wait
// for the camera (a permission prompt can take a while), only for the page's
// create-or-join decision (`decided()`), which it makes on `joined`.
//
// Nothing the relay says is trusted here: this only moves messages.

import { signalingUrl } from './link.js';

// 2: `join` carries the room's founder token (crates/e2ee founder.rs).
export const PROTOCOL_VERSION = 2;

/** Errors after which the relay closes the connection (ErrorCode::is_fatal). */
export const FATAL_ERRORS = new Set([
  'unsupported_version', 'invalid_room_id', 'bad_founder_token', 'room_full', 'too_many_rooms', 'shutting_down', 'media_lost', 'internal',
]);

/**
 * A message from the relay (crates/proto ServerMsg), as JSON.
 * @typedef {{type: string, [field: string]: any}} RelayMessage
 */

export class Relay {
  /**
   * Connects to the room's signaling socket and sends `join` with the room's
   * founder token, which shows the relay that we opened the link (it hashes
   * to the room id) without telling it the secret.
   * @param {string | null} base the relay's base URL (`conclave open`), or null for this page's origin
   * @param {string} roomId
   * @param {string} founder the founder token (RoomKey.founderToken())
   * @param {object} on
   * @param {(msg: RelayMessage) => Promise<void> | void} on.message every message but `mls`, in order
   * @param {(msg: RelayMessage) => Promise<void> | void} on.mls `mls` messages, in order, once decided
   * @param {(err: unknown) => void} on.failed a handler threw
   * @param {(ev: CloseEvent) => void} on.close the socket closed
   */
  constructor(base, roomId, founder, on) {
    this.on = on;
    /** @type {Promise<void>} relay messages are handled strictly one after another */
    this.inbox = Promise.resolve();
    /** @type {Promise<void>} … and MLS messages among themselves */
    this.mlsInbox = Promise.resolve();
    /** @type {() => void} */
    let markDecided = () => {};
    /** @type {Promise<void>} resolves once we created the group or asked to join */
    this.decision = new Promise((resolve) => { markDecided = resolve; });
    this.markDecided = markDecided;
    /** @type {() => void} */
    let markClosed = () => {};
    /** @type {Promise<void>} resolves when the socket has closed */
    this.closed = new Promise((resolve) => { markClosed = resolve; });
    const ws = new WebSocket(signalingUrl(base, roomId, location));
    this.ws = ws;
    ws.onopen = () => this.send({ type: 'join', protocol: PROTOCOL_VERSION, founder });
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch {
        console.warn('relay sent something that is not JSON', ev.data);
        return;
      }
      if (msg.type === 'mls') this.queueMls(() => on.mls(msg));
      else this.inbox = this.inbox.then(() => on.message(msg)).catch(on.failed);
    };
    ws.onclose = (ev) => {
      markClosed();
      on.close(ev);
    };
  }

  /** The page has created the group or asked to join: MLS messages may flow. */
  decided() {
    this.markDecided();
  }

  /**
   * Runs `task` in the MLS queue, after the decision and every MLS message
   * before it.
   * @param {() => Promise<void> | void} task
   */
  queueMls(task) {
    this.mlsInbox = this.mlsInbox.then(() => this.decision).then(task).catch(this.on.failed);
  }

  /**
   * Sends a message if the socket is open (drops it otherwise: the call is
   * ending or over).
   * @param {object} msg
   */
  send(msg) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  /**
   * Sends a raw text frame (tests of the relay's input checks).
   * @param {string} text
   */
  sendRaw(text) {
    this.ws.send(text);
  }

  close() {
    if (this.ws.readyState <= WebSocket.OPEN) this.ws.close();
  }
}
