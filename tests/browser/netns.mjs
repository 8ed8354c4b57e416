// A Chromium on an impaired link (issue 12 §6), in a network namespace the
// test makes and deletes. These machines have no `netem`; loss, delay and
// jitter come from the user-space proxy impair.mjs, rate limits from `tc tbf`.
//
//   root namespace                               namespace NS (the impaired host)
//   relay: 0.0.0.0:PORT, advertises A=10.231.0.1  Chromium; its page and signaling
//   viewers' Chromium (reach A locally)           go to B=10.231.1.1 over the veth;
//   veth end: A/30 and B/30 ───────────────────── veth end 10.231.0.2/30, 10.231.1.2/30
//                                                 A/32 on NS's own lo, where impair.mjs
//                                                 listens and forwards to B:PORT
//
// Inside NS the relay's advertised media address A is local, so Chromium's
// media (UDP, and ICE-TCP, which finds nothing there) goes to the proxy; the
// proxy reaches the relay at B through the veth. Everything else in NS goes
// straight over the veth. All of it is removed on exit.
//
// A rate limit (`limitDownlink`) is a `tc tbf` qdisc inside NS, on the hop
// from the proxy to Chromium (NS's lo, selected by the proxy's source
// address and port): the impaired host's downlink for media. It is not on
// the root-namespace end of the veth, because a queue in the sending host's
// own qdisc is charged to the sending socket: the relay's one UDP socket
// would fill while one viewer's queue stood, and the relay would lose sends
// to every other viewer too (a test artifact; on a real path the queue is
// in a router). Here the queue is charged to the proxy's socket, as a
// router's would be to nobody's. The page and signaling are not limited.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM, check, waitFor } from './harness.mjs';

/** The relay's advertised media address (start it with `--public-ip` this). */
export const ADVERTISED = '10.231.0.1';
/** The relay's address on the veth, for the impaired host's page and the proxy. */
export const DIRECT = '10.231.1.1';

const here = path.dirname(fileURLToPath(import.meta.url));
const made = [];

function ip(...args) {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

function teardownAll() {
  for (const h of made.splice(0)) h.close();
}
process.on('exit', teardownAll);

/**
 * Makes the namespace and its veth (before the relay starts: the relay's
 * advertised address lives on the veth). Returns a host whose
 * `startProxy(port, settings)` starts the impairment proxy once the relay's
 * port is known, and whose `chromium` is a wrapper that runs Chromium inside.
 */
export function impairedHost(label) {
  const tag = String(process.pid % 100000);
  const ns = `conclave-${label}-${tag}`;
  const [outer, inner] = [`cz${tag}o`, `cz${tag}i`];
  const existing = ip('-brief', 'addr');
  check(!existing.includes(`${ADVERTISED}/`) && !existing.includes(`${DIRECT}/`),
    `${ADVERTISED} or ${DIRECT} is already in use on this machine (another test run?): ${existing}`);
  const dir = mkdtempSync(path.join(os.tmpdir(), `conclave-${label}-`));
  const host = {
    ns,
    proxy: null,
    proxyOut: [],
    counts: null,
    countsAt: null,
    close() {
      if (host.proxy) host.proxy.kill('SIGKILL');
      // A rate limit's qdisc is on NS's lo: it goes with the namespace.
      try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* gone */ }
      try { execFileSync('ip', ['link', 'del', outer], { stdio: 'ignore' }); } catch { /* went with the namespace */ }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  made.push(host);
  ip('netns', 'add', ns);
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner, 'netns', ns);
  // No IPv6 link-local addresses: they appear a second or two after the
  // link is up (duplicate address detection), and Chromium, already running
  // outside, takes that as a network change and aborts the page loads in
  // flight (net::ERR_NETWORK_CHANGED: suite-loss's Vic once loaded nothing).
  ip('link', 'set', outer, 'addrgenmode', 'none');
  ip('-n', ns, 'link', 'set', inner, 'addrgenmode', 'none');
  ip('addr', 'add', `${ADVERTISED}/30`, 'dev', outer);
  ip('addr', 'add', `${DIRECT}/30`, 'dev', outer);
  ip('link', 'set', outer, 'up');
  ip('-n', ns, 'addr', 'add', '10.231.0.2/30', 'dev', inner);
  ip('-n', ns, 'addr', 'add', '10.231.1.2/30', 'dev', inner);
  ip('-n', ns, 'link', 'set', inner, 'up');
  ip('-n', ns, 'addr', 'add', `${ADVERTISED}/32`, 'dev', 'lo');
  host.chromium = path.join(dir, 'chromium-in-ns');
  writeFileSync(host.chromium, `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM} "$@"\n`, { mode: 0o755 });

  /** Starts impair.mjs inside: ADVERTISED:port → DIRECT:port with `settings`. */
  host.startProxy = async (port, settings) => {
    host.proxyPort = port;
    host.proxy = spawn('ip', ['netns', 'exec', ns, process.execPath, path.join(here, 'impair.mjs'),
      `${ADVERTISED}:${port}`, `${DIRECT}:${port}`, JSON.stringify(settings)], { stdio: ['pipe', 'pipe', 'pipe'] });
    host.proxy.stdout.setEncoding('utf8');
    host.proxy.stdout.on('data', (d) => {
      for (const line of d.split('\n')) {
        if (line.startsWith('{')) {
          host.counts = JSON.parse(line);
          host.countsAt = Date.now(); // for rates: the lines come about once a second
        }
        else if (line) host.proxyOut.push(line);
      }
    });
    host.proxy.stderr.on('data', (d) => host.proxyOut.push(String(d)));
    await waitFor('the impairment proxy listens', 15, () => host.proxyOut.some((l) => l.includes('listening')) ? true : host.proxyOut.join(' '), 100);
  };
  /** Changes the proxy's settings (e.g. {loss: 0}). */
  host.impair = (settings) => host.proxy.stdin.write(`${JSON.stringify(settings)}\n`);

  /**
   * Limits NS's media downlink (what the proxy passes on to Chromium) to
   * `rate` with a token bucket, like an access link. The defaults are those
   * of a slow DSL or mobile link:
   * - burst 32 kbit (tc: 4 KiB, 2–3 full-size packets, 80 ms at 400 kbit/s):
   *   a real link lets only a few packets through back to back; a bucket of
   *   many packets would let a whole key frame pass at once and hide the
   *   queue from a delay-based estimator. It must hold the largest packet
   *   (media datagrams are under 1300 bytes) or tbf drops every such packet.
   * - latency 300 ms: how long a packet may wait in the queue before tbf
   *   drops it (queue ≈ rate × latency + burst ≈ 19 kB at 400 kbit/s), in the
   *   range of a modem's or a mobile bearer's buffer (100 ms–1 s): deep
   *   enough that a sender's burst is delayed (the receiver's transport-wide
   *   feedback shows the queue growing) before anything is lost, shallow
   *   enough that an oversubscribed link drops packets.
   * NS's lo carries both directions between Chromium and the proxy, so an
   * htb root sends only the proxy's packets (source A and the relay's port)
   * through the tbf; the rest (Chromium's uplink) passes unlimited.
   * Calling it again changes the limit.
   */
  host.limitDownlink = ({ rate = '400kbit', burst = '32kbit', latency = '300ms' } = {}) => {
    check(host.proxyPort, 'limitDownlink needs the proxy started (startProxy) first');
    const tc = (...args) => execFileSync('tc', ['-n', ns, ...args]);
    if (!host.limit) {
      tc('qdisc', 'replace', 'dev', 'lo', 'root', 'handle', '1:', 'htb', 'default', '20');
      for (const c of ['1:10', '1:20']) tc('class', 'replace', 'dev', 'lo', 'parent', '1:', 'classid', c, 'htb', 'rate', '10gbit', 'quantum', '60000');
      tc('filter', 'replace', 'dev', 'lo', 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32',
        'match', 'ip', 'src', `${ADVERTISED}/32`, 'match', 'ip', 'sport', String(host.proxyPort), '0xffff', 'flowid', '1:10');
    }
    tc('qdisc', 'replace', 'dev', 'lo', 'parent', '1:10', 'handle', '10:', 'tbf', 'rate', rate, 'burst', burst, 'latency', latency);
    host.limit = { rate, burst, latency };
  };
  /** Lifts the downlink limit: the link becomes fast (1 Gbit/s), and what
   * waits in its queue is delivered (deleting the qdisc would drop it all at
   * once, a loss burst no real link makes when it gets faster). */
  host.unlimitDownlink = () => {
    if (!host.limit) return;
    execFileSync('tc', ['-n', ns, 'qdisc', 'change', 'dev', 'lo', 'parent', '1:10', 'handle', '10:', 'tbf',
      'rate', '1gbit', 'burst', '1mbit', 'latency', host.limit.latency]);
    host.limit = null;
  };
  /** The downlink limit's counters: {kind, rateKbit, bytes, packets, drops,
   * overlimits, backlog} of its tbf (`null` before the first limit). */
  host.downlinkQdisc = () => {
    const all = JSON.parse(execFileSync('tc', ['-n', ns, '-s', '-j', 'qdisc', 'show', 'dev', 'lo'], { encoding: 'utf8' }));
    const q = all.find((x) => x.kind === 'tbf');
    return q ? { kind: q.kind, rateKbit: (q.options.rate * 8) / 1000, bytes: q.bytes, packets: q.packets, drops: q.drops, overlimits: q.overlimits, backlog: q.backlog } : null;
  };
  return host;
}
