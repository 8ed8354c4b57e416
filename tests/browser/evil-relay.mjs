// A lying relay, for tests only: a proxy that sits between headless Chromium
// and a real Conclave relay and rewrites what the relay says (issue 10 item 7:
// "the relay is the adversary"). It is never part of the relay binary.
//
// It listens on http://127.0.0.1:<port>. A loopback page is a secure context,
// so the browser runs the real client unchanged: every GET (the page, its
// scripts, the wasm) is fetched from the relay and passed through byte for
// byte, and the room WebSocket `/r/<room>/ws` is joined to a WebSocket to the
// relay. Media does not pass through here: the relay's SDP names its own UDP
// address, so the browser's media goes to the real relay.
//
// Each signaling frame, in either direction, goes through the proxy's current
// attack: `attack.toClient(conn, msg)` and `attack.toRelay(conn, msg)` get the
// parsed JSON and return the message to pass on (possibly changed), `null` to
// drop it, or an array of messages to send instead. `conn.inject(msg)` sends a
// frame to that browser as if the relay had; `conn.injectToRelay(msg)` sends
// one to the relay as that browser. Every connection is listed in `conns`
// with the participant id the relay gave it (`conn.me`) and everything it was
// sent (`conn.seen`), so a test can replay or reorder. `mlsEnvelope(msg)`
// reads the clear envelope of an `mls` frame (kind, epoch) so an attack can
// pick commits or application messages; `acceptedMls` forges the delivery
// service's answer to a committer.

import http from 'node:http';
import https from 'node:https';
import WebSocket, { WebSocketServer } from 'ws';

/** Envelope kinds of crates/e2ee delivery.rs, by their byte. */
export const MLS_KINDS = { 1: 'join_request', 2: 'commit', 3: 'proposal', 4: 'application', 5: 'welcome', 6: 'accepted', 7: 'rejected' };

/** The clear envelope of an `mls` frame (either direction): its kind, the
 * epoch it names (commits, proposals, application messages, the delivery
 * service's answers), and its bytes; null for anything else. */
export function mlsEnvelope(msg) {
  if (!msg || msg.type !== 'mls' || typeof msg.data !== 'string') return null;
  const bytes = Buffer.from(msg.data, 'base64');
  if (bytes.length < 2 || bytes[0] !== 1) return null;
  const kind = MLS_KINDS[bytes[1]] || 'unknown';
  const epoch = [2, 3, 4, 6, 7].includes(bytes[1]) && bytes.length >= 10 ? Number(bytes.readBigUInt64BE(2)) : null;
  return { kind, epoch, bytes };
}

/** The delivery service's `Accepted` for a commit made in `epoch`, as the
 * relay sends it to the committer (`from` is the committer itself). */
export function acceptedMls(participant, epoch) {
  const b = Buffer.alloc(10);
  b[0] = 1;
  b[1] = 6;
  b.writeBigUInt64BE(BigInt(epoch), 2);
  return { type: 'mls', from: participant, data: b.toString('base64') };
}

export const passThrough = {
  toClient: (_conn, msg) => msg,
  toRelay: (_conn, msg) => msg,
};

export class EvilRelay {
  /** @param {URL} relayUrl the real relay's https:// address */
  constructor(relayUrl) {
    this.relayUrl = relayUrl;
    this.attack = passThrough;
    /** @type {Conn[]} */
    this.conns = [];
    this.server = null;
    this.url = null;
  }

  async start() {
    this.server = http.createServer((req, res) => this.forwardGet(req, res));
    const wss = new WebSocketServer({ noServer: true });
    this.server.on('upgrade', (req, socket, head) => {
      if (!/^\/r\/[^/]+\/ws$/.test(new URL(req.url, 'http://x').pathname)) {
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (client) => this.bridge(client, req.url));
    });
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = new URL(`http://127.0.0.1:${this.server.address().port}/`);
    return this;
  }

  stop() {
    for (const c of this.conns) c.close();
    if (this.server) this.server.close();
  }

  /** The connection whose relay participant id is `id`. */
  byParticipant(id) {
    return this.conns.find((c) => c.me === id);
  }

  forwardGet(req, res) {
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    const up = https.get(new URL(req.url, this.relayUrl), { rejectUnauthorized: false }, (r) => {
      const headers = { ...r.headers };
      // The page talks to this proxy, which is not the relay's origin.
      delete headers['strict-transport-security'];
      res.writeHead(r.statusCode || 502, headers);
      r.pipe(res);
    });
    up.on('error', (err) => res.writeHead(502).end(`evil relay: upstream failed: ${err.message}`));
  }

  bridge(client, path) {
    const wsUrl = new URL(path, this.relayUrl);
    wsUrl.protocol = 'wss:';
    const upstream = new WebSocket(wsUrl, { rejectUnauthorized: false });
    const conn = new Conn(this, client, upstream);
    this.conns.push(conn);
    const pending = [];
    upstream.on('open', () => { for (const m of pending.splice(0)) upstream.send(m); });
    client.on('message', (data) => {
      const out = conn.through('toRelay', data.toString());
      for (const m of out) {
        if (upstream.readyState === WebSocket.OPEN) upstream.send(m);
        else pending.push(m);
      }
    });
    upstream.on('message', (data) => {
      for (const m of conn.through('toClient', data.toString())) conn.sendClient(m);
    });
    const closeBoth = () => conn.close();
    client.on('close', closeBoth);
    upstream.on('close', closeBoth);
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
  }
}

class Conn {
  constructor(evil, client, upstream) {
    this.evil = evil;
    this.client = client;
    this.upstream = upstream;
    this.me = null;
    /** every frame sent to the browser, parsed, in order */
    this.seen = [];
    /** every frame the browser sent, parsed, in order */
    this.sent = [];
  }

  /** Runs one frame through the attack; returns the texts to pass on. */
  through(dir, text) {
    let msg;
    try { msg = JSON.parse(text); } catch { return [text]; }
    if (dir === 'toClient' && msg.type === 'joined') this.me = msg.participant;
    (dir === 'toClient' ? this.seen : this.sent).push(msg);
    const hook = this.evil.attack[dir] || passThrough[dir];
    let out = hook(this, msg);
    if (out === null || out === undefined) return [];
    if (!Array.isArray(out)) out = [out];
    return out.map((m) => (typeof m === 'string' ? m : JSON.stringify(m)));
  }

  sendClient(text) {
    if (this.client.readyState === WebSocket.OPEN) this.client.send(text);
  }

  /** Sends `msg` to this browser as if the relay had. */
  inject(msg) {
    this.sendClient(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** Sends `msg` to the relay as if this browser had. */
  injectToRelay(msg) {
    if (this.upstream.readyState === WebSocket.OPEN) this.upstream.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  close() {
    try { this.client.close(); } catch { /* gone */ }
    try { this.upstream.close(); } catch { /* gone */ }
  }
}
