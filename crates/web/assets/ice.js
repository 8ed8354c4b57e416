// @ts-check
// The TURN servers the relay names in `joined` (`ice_servers`), checked
// before the page hands them to its RTCPeerConnection (docs/design.md,
// "TURN").
//
// The relay is the adversary, so it may name any server. What a TURN
// server it names can learn is what the relay already learns: this
// browser's addresses, when and how much it sends, and DTLS/SRTP packets
// whose media inside is SFrame-encrypted with keys that never leave the
// members. So a hostile entry costs no secrecy; the check keeps what the
// relay can make the browser do small and plain: only `turn:` and `turns:`
// URIs (RFC 7065; no `stun:`, which would only add a server to send our
// address to), at most MAX_SERVERS entries of at most MAX_URLS URLs, every
// field a string of bounded length, and nothing but `urls`, `username` and
// `credential` taken from an entry. An entry that fails is left out (the
// others are kept) and the reason is returned, for the console and the
// event list: a relay that sends such entries is broken or lying, and a
// person should be able to see it. The call itself goes on without them
// (straight to the relay, over UDP or ICE-TCP).

/** Most TURN server entries taken from one `joined`. */
export const MAX_SERVERS = 4;
/** Most URLs in one entry. */
export const MAX_URLS = 8;
/** Longest URL, username or credential taken. */
export const MAX_FIELD = 256;

// RFC 7065 §3.1: turn[s]:host[:port][?transport=udp|tcp]; host a DNS name,
// an IPv4 address or a bracketed IPv6 address. No user info, path or other query.
const TURN_URI = /^turns?:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::([0-9]{1,5}))?(?:\?transport=(udp|tcp))?$/;

/**
 * Why a TURN URI is refused, or null if it is fine.
 * @param {unknown} url
 * @returns {string | null}
 */
export function turnUrlProblem(url) {
  if (typeof url !== 'string') return 'a URL is not a string';
  if (url.length > MAX_FIELD) return `a URL is longer than ${MAX_FIELD} characters`;
  const m = TURN_URI.exec(url);
  if (!m) return `${JSON.stringify(url)} is not a turn: or turns: URL`;
  const port = m[1] === undefined ? null : Number(m[1]);
  if (port !== null && (port < 1 || port > 65535)) return `${JSON.stringify(url)} has no valid port`;
  if (url.startsWith('turns:') && m[2] === 'udp') return `${JSON.stringify(url)} asks for TURN over DTLS, which browsers do not do`;
  return null;
}

/**
 * The relay's `ice_servers`, checked: the entries to use (fresh objects
 * with only `urls`, `username` and `credential`) and why each other one
 * was left out.
 * @param {unknown} value `joined.ice_servers` as the relay sent it
 * @returns {{servers: RTCIceServer[], refused: string[]}}
 */
export function iceServersFrom(value) {
  /** @type {RTCIceServer[]} */
  const servers = [];
  /** @type {string[]} */
  const refused = [];
  if (value === undefined || value === null) return { servers, refused };
  if (!Array.isArray(value)) return { servers, refused: ['the TURN server list is not a list'] };
  if (value.length > MAX_SERVERS) refused.push(`${value.length} TURN servers named; only the first ${MAX_SERVERS} are used`);
  for (const entry of value.slice(0, MAX_SERVERS)) {
    const why = entryProblem(entry);
    if (why) { refused.push(`a TURN server was left out: ${why}`); continue; }
    const e = /** @type {{urls: string[], username: string, credential: string}} */ (entry);
    servers.push({ urls: [...e.urls], username: e.username, credential: e.credential });
  }
  return { servers, refused };
}

/**
 * @param {unknown} entry
 * @returns {string | null}
 */
function entryProblem(entry) {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return 'an entry is not an object';
  const { urls, username, credential } = /** @type {Record<string, unknown>} */ (entry);
  if (!Array.isArray(urls) || urls.length === 0) return 'its urls are not a non-empty list';
  if (urls.length > MAX_URLS) return `it has ${urls.length} URLs (at most ${MAX_URLS})`;
  for (const url of urls) {
    const why = turnUrlProblem(url);
    if (why) return why;
  }
  for (const [name, v] of [['username', username], ['credential', credential]]) {
    if (typeof v !== 'string' || v.length === 0) return `its ${name} is not a non-empty string`;
    if (v.length > MAX_FIELD) return `its ${name} is longer than ${MAX_FIELD} characters`;
  }
  return null;
}
