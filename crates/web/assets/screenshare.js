// @ts-check
// Screen sharing (issue 13 item 1): a member's second video stream,
// end-to-end encrypted like the camera with the SFrame key of stream context
// 1 (crates/e2ee media: its own key, counter and replay window per member),
// shown large under "<name>'s screen".
//
// Sending (`ScreenShare`): the page made a second, idle video sender when it
// joined (media.js), so sharing is `getDisplayMedia` → `replaceTrack` on it:
// no new SDP, no renegotiation, nothing the relay has not seen before but
// packets. The share stops from our button or from the browser's own "stop
// sharing" (the track's `ended`) → `replaceTrack(null)`; either way we say
// so inside MLS (our profile's `screen`, membership.js).
//
// Receiving (`visibleScreens`, `ScreenTiles`): a screen is whatever decrypts
// under a member's context-1 key (tracks.js `screens`), never what the
// relay's SDP says. It is shown while its frames arrive and its sharer does
// not say inside MLS that it stopped; it goes at once when the sharer says
// so, and on its own when frames stop.
//
// `visibleScreens`, `shareProblem` and `captureProblem` are pure
// (tests/web/screenshare.test.mjs).

import { $, el, removeTile } from './ui.js';

/** With no word from the sharer inside MLS, a screen whose frames stopped this long is gone. */
export const SCREEN_IDLE_MS = 2000;
/** While its sharer says inside MLS it shares, the tile stays this long
 * after the last frame: a still screen may send frames rarely (capture
 * follows changes), and a share its sharer says is on should not flicker. */
export const SCREEN_SAID_IDLE_MS = 10000;

/**
 * Which members' screens to show now: leaf -> mid.
 * @param {Map<number, string>} screens leaf -> the receiver decrypting under its screen key (tracks.js)
 * @param {object} ctx
 * @param {(leaf: number) => boolean | null} ctx.said whether the member last said inside MLS that it shares (null: no word yet)
 * @param {(mid: string) => number} ctx.lastOkAt when a frame last decrypted on this receiver (0: never)
 * @param {number} ctx.now
 * @returns {Map<number, string>}
 */
export function visibleScreens(screens, { said, lastOkAt, now }) {
  /** @type {Map<number, string>} */
  const out = new Map();
  for (const [leaf, mid] of screens) {
    const says = said(leaf);
    if (says === false) continue;
    const idle = says === true ? SCREEN_SAID_IDLE_MS : SCREEN_IDLE_MS;
    if (now - lastOkAt(mid) < idle) out.set(leaf, mid);
  }
  return out;
}

/**
 * Why this browser cannot share its screen in the call, or null when it can.
 * @param {{mediaDevices?: {getDisplayMedia?: unknown}, userAgent?: string} | undefined} nav
 * @param {boolean} hasTransform whether RTCRtpScriptTransform exists (E2EE of every frame)
 * @returns {string | null}
 */
export function shareProblem(nav, hasTransform) {
  if (!nav || !nav.mediaDevices || typeof nav.mediaDevices.getDisplayMedia !== 'function') {
    return 'this browser cannot share a screen (it has no getDisplayMedia; phones and tablets usually cannot)';
  }
  if (!hasTransform) return 'this browser cannot encrypt a shared screen end to end (no RTCRtpScriptTransform)';
  return null;
}

/**
 * What a failed getDisplayMedia means for the user, and whether trying
 * again cannot help (no screen to capture, or capture not supported).
 * @param {{name?: string, message?: string}} err
 * @returns {{text: string, lasting: boolean}}
 */
export function captureProblem(err) {
  const name = err && err.name;
  if (name === 'NotAllowedError') return { text: 'you or the browser declined it', lasting: false };
  if (name === 'NotFoundError') return { text: 'this browser found no screen, window or tab it can share (NotFoundError)', lasting: true };
  if (name === 'NotSupportedError') return { text: 'this browser cannot capture a screen here (NotSupportedError)', lasting: true };
  const detail = err && err.message ? err.message : String(err);
  return { text: name && name !== 'Error' ? `${name}: ${detail}` : detail, lasting: false };
}

/** A screen tile: a muted video, never mirrored, shown whole (not cropped). */
function screenTile(text, self) {
  const tile = el('div', self ? 'tile screen self-screen' : 'tile screen');
  const video = /** @type {HTMLVideoElement} */ (el('video'));
  video.autoplay = true;
  video.playsInline = true;
  video.muted = true;
  const label = el('div', 'label');
  label.append(el('span', 'name', text));
  tile.append(video, label);
  return tile;
}

/**
 * @param {HTMLElement} tile
 * @param {MediaStream | null} stream
 */
function showStream(tile, stream) {
  const video = /** @type {HTMLVideoElement} */ (tile.querySelector('video'));
  if (video.srcObject === stream) return;
  video.srcObject = stream;
  if (stream) video.play().catch(() => {});
}

/** Our own screen share, from the button or the browser's controls. */
export class ScreenShare {
  /**
   * @param {object} deps
   * @param {import('./media.js').Media} deps.media
   * @param {(on: boolean) => void} deps.onSharing sharing started or stopped: tell the members inside MLS
   * @param {(text: string) => void} deps.note a line for the event list
   */
  constructor({ media, onSharing, note }) {
    this.media = media;
    this.onSharing = onSharing;
    this.note = note;
    /** @type {MediaStreamTrack | null} */
    this.track = null;
    /** @type {HTMLElement | null} our own view of what we share */
    this.tile = null;
    this.busy = false;
    this.closed = false;
    this.problem = shareProblem(globalThis.navigator, typeof RTCRtpScriptTransform !== 'undefined');
    this.render();
  }

  get sharing() {
    return this.track !== null;
  }

  /** The button: share, or stop sharing. */
  async toggle() {
    if (this.sharing) await this.stop();
    else await this.start();
  }

  /** Asks the browser for a screen, window or tab and sends it. */
  async start() {
    if (this.busy || this.sharing || this.closed || this.problem || !this.media.screenSender) return;
    this.busy = true;
    this.render();
    let track = null;
    try {
      const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { max: 15 } }, audio: false });
      track = stream.getVideoTracks()[0] || null;
      stream.getAudioTracks().forEach((t) => t.stop());
      if (!track) throw new Error('the browser gave no video');
      if (this.closed) throw new Error('the call ended meanwhile');
      // Text and edges over smoothness; the encoder keeps resolution.
      if ('contentHint' in track) track.contentHint = 'detail';
      const ended = track;
      // The browser's own "stop sharing" ends the track.
      ended.addEventListener('ended', () => { if (this.track === ended) this.stop(); });
      await this.media.setScreenTrack(track);
      this.track = track;
      this.tile = screenTile('Your screen (you are sharing it)', true);
      showStream(this.tile, new MediaStream([track]));
      $('grid').append(this.tile);
      this.onSharing(true);
    } catch (e) {
      if (track) track.stop();
      const err = /** @type {DOMException} */ (e);
      const why = captureProblem(err);
      // Nothing to capture here (no display, or the browser cannot): say so
      // on the button for good, not only once in the event list.
      if (why.lasting) this.problem = why.text;
      this.note(`Screen not shared: ${why.text}`);
    } finally {
      this.busy = false;
      this.render();
    }
  }

  /** Stops sending our screen and says so inside MLS. */
  async stop() {
    const track = this.track;
    if (!track) return;
    this.track = null;
    if (this.tile) removeTile(this.tile);
    this.tile = null;
    track.stop();
    this.render();
    if (this.closed) return;
    try {
      await this.media.setScreenTrack(null);
    } catch { /* the connection is gone: nothing is sent anyway */ }
    this.onSharing(false);
  }

  /**
   * The call ends but the page rejoins on its own (reconnect.js): hands over
   * the capture, still live, for the next session to send (`resume`);
   * null when we do not share. The browser's own "stop sharing" control
   * keeps working on it meanwhile (the track ends).
   */
  detach() {
    const track = this.track;
    this.track = null;
    if (this.tile) removeTile(this.tile);
    this.tile = null;
    this.closed = true;
    this.render();
    return track && track.readyState === 'live' ? track : null;
  }

  /**
   * Sends a capture handed over from the session before (`detach`): after
   * a reconnect the share goes on without asking again (the browser would
   * want a click for a new one). Members learn it inside MLS once we are
   * back in the group.
   * @param {MediaStreamTrack} track
   */
  async resume(track) {
    if (this.closed || this.sharing || track.readyState !== 'live' || !this.media.screenSender) {
      track.stop();
      return;
    }
    try {
      await this.media.setScreenTrack(track);
    } catch (e) {
      track.stop();
      this.note(`Screen not shared again after rejoining: ${e instanceof Error ? e.message : e}`);
      return;
    }
    if (this.closed) { track.stop(); return; }
    const ended = track;
    ended.addEventListener('ended', () => { if (this.track === ended) this.stop(); });
    this.track = track;
    this.tile = screenTile('Your screen (you are sharing it)', true);
    showStream(this.tile, new MediaStream([track]));
    $('grid').append(this.tile);
    this.onSharing(true);
    this.render();
  }

  /** The call is over: stop the capture, say nothing more. */
  close() {
    this.closed = true;
    if (this.track) this.track.stop();
    this.track = null;
    if (this.tile) removeTile(this.tile);
    this.tile = null;
    this.render();
  }

  /** The button and, where sharing cannot work here, why (in words, not a silent no-op). */
  render() {
    const button = /** @type {HTMLButtonElement} */ ($('toggle-screen'));
    const why = $('screen-why');
    const ready = !this.closed && !!this.media.screenSender;
    button.disabled = !!this.problem || this.busy || !ready;
    button.textContent = this.sharing ? 'Stop sharing' : 'Share screen';
    button.setAttribute('aria-pressed', String(this.sharing));
    why.textContent = this.problem ? `Screen sharing is not available: ${this.problem}.` : '';
    why.hidden = !this.problem;
  }
}

/** Other members' screens, shown large (the first row of the grid). */
export class ScreenTiles {
  constructor() {
    /** @type {Map<number, {tile: HTMLElement, mid: string, stream: MediaStream | null}>} leaf -> its screen tile */
    this.tiles = new Map();
  }

  /**
   * Shows exactly these screens.
   * @param {Map<number, {mid: string, track: MediaStreamTrack | undefined, name: string}>} visible
   */
  update(visible) {
    for (const [leaf, t] of this.tiles) {
      if (visible.has(leaf)) continue;
      removeTile(t.tile);
      this.tiles.delete(leaf);
    }
    for (const [leaf, v] of visible) {
      let t = this.tiles.get(leaf);
      if (!t) {
        t = { tile: screenTile('', false), mid: v.mid, stream: null };
        t.tile.dataset.leaf = String(leaf);
        $('grid').append(t.tile);
        this.tiles.set(leaf, t);
      }
      // textContent: the name comes from the member, inside MLS.
      /** @type {HTMLElement} */ (t.tile.querySelector('.name')).textContent = `${v.name}'s screen`;
      t.tile.setAttribute('aria-label', `${v.name}'s screen`);
      if (v.track && (!t.stream || t.mid !== v.mid || !t.stream.getTracks().includes(v.track))) t.stream = new MediaStream([v.track]);
      t.mid = v.mid;
      showStream(t.tile, t.stream);
    }
    $('grid').classList.toggle('has-screen', this.tiles.size > 0);
  }

  /** What is shown: [{leaf, mid, tile}]. */
  shown() {
    return [...this.tiles].map(([leaf, t]) => ({ leaf, mid: t.mid, tile: t.tile }));
  }

  /** Removes every screen tile. */
  clear() {
    this.update(new Map());
  }
}
