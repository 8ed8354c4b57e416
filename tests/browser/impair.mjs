// A user-space UDP impairment proxy (issue 12 §6): these machines have no
// `netem`, so loss, delay and jitter are made here. The model (Impairment)
// is pure and seeded, so a run is repeatable (tests/browser/impair.test.mjs);
// the proxy around it forwards datagrams between clients and one upstream
// address, with one upstream socket per client (as a NAT would), applying
// the model to each direction.
//
// Run inside a network namespace by tests/browser/netns.mjs:
//   node impair.mjs LISTEN_HOST:PORT UPSTREAM_HOST:PORT '{"loss":0.05,"seed":1}'
// It prints "impair: listening" when ready, then one JSON line of counts per
// second ({up, down}: datagrams `in` and `dropped`, and their UDP payload
// `bytes` and `bytesDropped`). A JSON line on stdin replaces the settings
// (e.g. {"loss":0}); {"rebind":true} gives every client a new upstream port,
// as a NAT that rebinds (or a client moving networks) does.

import dgram from 'node:dgram';
import { pathToFileURL } from 'node:url';

/** mulberry32: a small seeded PRNG (uniform in [0, 1)). */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * What happens to each datagram on one direction of a link: dropped with
 * probability `loss` (0–1), else delivered after `delayMs` plus a uniform
 * jitter in [0, `jitterMs`]. Packets are never reordered unless
 * `reorder` is set (each packet is held at least until the one before it
 * leaves, as on a real queue).
 */
export class Impairment {
  constructor({ loss = 0, delayMs = 0, jitterMs = 0, reorder = false, seed = 1 } = {}) {
    this.set({ loss, delayMs, jitterMs, reorder });
    this.random = prng(seed);
    this.lastAt = 0;
    this.counts = { in: 0, dropped: 0, bytes: 0, bytesDropped: 0 };
  }

  /** Changes the settings; the random sequence goes on. */
  set({ loss = this.loss, delayMs = this.delayMs, jitterMs = this.jitterMs, reorder = this.reorder }) {
    if (!(loss >= 0 && loss <= 1)) throw new Error(`loss must be between 0 and 1, not ${loss}`);
    if (!(delayMs >= 0) || !(jitterMs >= 0)) throw new Error('delay and jitter must be 0 or more milliseconds');
    Object.assign(this, { loss, delayMs, jitterMs, reorder });
  }

  /** For a datagram of `size` bytes arriving at `now` (ms): when it leaves,
   * or null if lost. Sizes are only counted (bitrates in the suites). */
  decide(now, size = 0) {
    this.counts.in += 1;
    this.counts.bytes += size;
    // Draw both numbers for every packet, so one setting does not shift the other's sequence.
    const lost = this.random() < this.loss;
    const jitter = this.random() * this.jitterMs;
    if (lost) {
      this.counts.dropped += 1;
      this.counts.bytesDropped += size;
      return null;
    }
    let at = now + this.delayMs + jitter;
    if (!this.reorder) at = Math.max(at, this.lastAt);
    this.lastAt = at;
    return at;
  }
}

function parseAddr(text) {
  const i = text.lastIndexOf(':');
  return { host: text.slice(0, i), port: Number(text.slice(i + 1)) };
}

/** Runs the proxy (the CLI above). */
export function runProxy(listen, upstream, settings) {
  const up = parseAddr(upstream);
  const server = dgram.createSocket('udp4');
  const toUpstream = new Impairment({ ...settings, seed: settings.seed || 1 });
  const toClient = new Impairment({ ...settings, seed: (settings.seed || 1) + 1 });
  const clients = new Map(); // "host:port" -> upstream socket
  const later = (at, fn) => {
    const wait = at - performance.now();
    if (wait <= 0.5) fn(); else setTimeout(fn, wait);
  };
  server.on('message', (msg, rinfo) => {
    const key = `${rinfo.address}:${rinfo.port}`;
    let sock = clients.get(key);
    if (!sock) {
      sock = dgram.createSocket('udp4');
      sock.on('message', (reply) => {
        const at = toClient.decide(performance.now(), reply.length);
        if (at !== null) later(at, () => server.send(reply, rinfo.port, rinfo.address));
      });
      sock.on('error', () => {});
      clients.set(key, sock);
    }
    const at = toUpstream.decide(performance.now(), msg.length);
    if (at !== null) later(at, () => sock.send(msg, up.port, up.host));
  });
  server.on('error', (e) => { console.error(`impair: ${e.message}`); process.exit(1); });
  const { host, port } = parseAddr(listen);
  server.bind(port, host, () => console.log('impair: listening'));
  setInterval(() => {
    console.log(JSON.stringify({ up: toUpstream.counts, down: toClient.counts, clients: clients.size }));
  }, 1000);
  process.stdin.setEncoding('utf8');
  let buffered = '';
  process.stdin.on('data', (d) => {
    buffered += d;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line) continue;
      try {
        const next = JSON.parse(line);
        if (next.rebind) {
          // A NAT rebinding (or a client moving networks): from now on the
          // relay sees each client's packets come from a new port.
          for (const sock of clients.values()) sock.close();
          clients.clear();
          console.log('impair: rebound');
          continue;
        }
        toUpstream.set(next);
        toClient.set(next);
        console.log(`impair: now ${JSON.stringify(next)}`);
      } catch (e) {
        console.error(`impair: ignored ${JSON.stringify(line)}: ${e.message}`);
      }
    }
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [listen, upstream, json = '{}'] = process.argv.slice(2);
  if (!listen || !upstream) {
    console.error('usage: node impair.mjs LISTEN_HOST:PORT UPSTREAM_HOST:PORT [SETTINGS_JSON]');
    process.exit(2);
  }
  runProxy(listen, upstream, JSON.parse(json));
}
