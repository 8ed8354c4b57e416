// @ts-check
// What a meeting link says, read without touching the network: the URL
// fragment's settings, room secret and relay (the part browsers never send to
// a server), the room id's syntax, and the base64 that carries MLS bytes over
// the signaling socket. Plain functions, so the page and Node's tests can both
// use them.

export const MAX_ROOM_ID_LEN = 64;
export const MAX_NAME_LEN = 64;

/**
 * Splits a fragment into `key=value` settings and at most one bare token (the
 * room secret). Nothing here leaves the browser.
 * @param {string} hash `location.hash`, with or without its `#`
 * @returns {{settings: Map<string, string>, token: string | null}}
 */
export function parseFragment(hash) {
  const settings = new Map();
  let token = null;
  for (const part of hash.replace(/^#/, '').split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    try {
      if (eq < 0) token ??= decodeURIComponent(part);
      else settings.set(decodeURIComponent(part.slice(0, eq)), decodeURIComponent(part.slice(eq + 1)));
    } catch { /* a malformed %-escape: ignore that part */ }
  }
  return { settings, token };
}

/**
 * The room id in an older link's path (`/r/<room-id>`), or null for any other
 * path.
 * @param {string} path `location.pathname`
 * @returns {string | null}
 */
export function roomIdFromPath(path) {
  const m = /^\/r\/([^/]*)\/?$/.exec(path);
  return m ? m[1] : null;
}

/**
 * What the page's address says. The meeting is in the fragment only:
 * `/#<secret>[&name=…]`, or as `conclave open` writes it,
 * `/#relay=<base>&r=<room-id>&s=<secret>` (src/open.rs defines that grammar).
 * Older links carry the room id in the path, `/r/<room-id>#<secret>`.
 * `roomId` is a room id the link names (path or `r=`), to be checked against
 * the secret; `relay` is the relay to talk to when this page is not served by
 * it.
 * @param {string} path `location.pathname`
 * @param {string} hash `location.hash`
 * @returns {{kind: 'home' | 'meeting' | 'none', secret: string | null, roomId: string | null,
 *   twoRooms: boolean, relay: string | null, settings: Map<string, string>}}
 */
export function readLink(path, hash) {
  const { settings, token } = parseFragment(hash);
  const secret = settings.get('s') || token;
  const pathRoom = roomIdFromPath(path);
  const fragRoom = settings.has('r') ? /** @type {string} */ (settings.get('r')) : null;
  const relay = relayBase(settings.get('relay'));
  /** @type {'home' | 'meeting' | 'none'} */
  let kind = 'none';
  if (pathRoom !== null) kind = 'meeting';
  else if (path === '/' || path === '/index.html') kind = secret || fragRoom !== null ? 'meeting' : 'home';
  // Two different room ids in one link: it was edited.
  const twoRooms = pathRoom !== null && fragRoom !== null && pathRoom !== fragRoom;
  return { kind, secret: secret || null, roomId: pathRoom ?? fragRoom, twoRooms, relay, settings };
}

/**
 * A relay base URL from `relay=`, or null if absent or not http(s). The
 * page's Content-Security-Policy decides which relay it may really reach.
 * @param {string | undefined} text
 * @returns {string | null}
 */
export function relayBase(text) {
  if (!text) return null;
  try {
    const u = new URL(text);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return null;
    return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return null;
  }
}

/**
 * The signaling WebSocket address of a room: on `base` (a relay base URL) or
 * on the page's own origin.
 * @param {string | null} base
 * @param {string} roomId
 * @param {{protocol: string, host: string}} here `location`
 * @returns {string}
 */
export function signalingUrl(base, roomId, here) {
  const room = `/r/${encodeURIComponent(roomId)}/ws`;
  if (base) return `${base.replace(/^http/, 'ws')}${room}`;
  return `${here.protocol === 'https:' ? 'wss:' : 'ws:'}//${here.host}${room}`;
}

/**
 * Why `id` is not a room id the relay accepts (crates/proto RoomId), or null.
 * @param {string | null} id
 * @returns {string | null}
 */
export function roomIdProblem(id) {
  if (!id) return 'the room id is empty';
  if (id.length > MAX_ROOM_ID_LEN) return `the room id is ${id.length} characters long; the limit is ${MAX_ROOM_ID_LEN}`;
  const bad = [...id].find((c) => !/[A-Za-z0-9_-]/.test(c));
  if (bad !== undefined) return `the room id contains ${JSON.stringify(bad)}; only A-Z a-z 0-9 - _ are allowed`;
  return null;
}

/**
 * A display name as we send it: trimmed, at most MAX_NAME_LEN characters,
 * "Guest" when empty.
 * @param {string} name
 * @returns {string}
 */
export function cleanName(name) {
  return name.trim().slice(0, MAX_NAME_LEN) || 'Guest';
}

/**
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function toBase64(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/**
 * @param {string} text
 * @returns {Uint8Array} throws on text that is not base64
 */
export function fromBase64(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
