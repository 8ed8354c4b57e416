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
// A rate limit (`limitDownlink`) is a `tc tbf` qdisc on the root-namespace
// end of the veth: its egress is everything the root namespace sends into
// NS (the relay's media to the proxy, and the page and signaling), i.e. the
// impaired host's downlink. Its uplink stays unlimited.

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
      // A qdisc goes with its link; deleting the veth (below) removes a rate limit too.
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
   * Limits NS's downlink (what the root namespace sends into it) to `rate`
   * with a token bucket, like an access link. The defaults are those of a
   * slow DSL or mobile link:
   * - burst 32 kbit (tc: 4 KiB, 2–3 full-size packets, 80 ms at 400 kbit/s):
   *   a real link lets only a few packets through back to back; a bucket of
   *   many packets would let a whole key frame pass at veth speed and hide
   *   the queue from a delay-based estimator. It must hold one packet of the
   *   veth's MTU (1500 + 14 bytes) or tbf drops every large packet; larger
   *   UDP GSO batches are split by tbf into packets first.
   * - latency 300 ms: how long a packet may wait in the queue before tbf
   *   drops it (queue ≈ rate × latency + burst ≈ 19 kB at 400 kbit/s), in the
   *   range of a modem's or a mobile bearer's buffer (100 ms–1 s): deep
   *   enough that a sender's burst is delayed (the receiver's transport-wide
   *   feedback shows the queue growing) before anything is lost, shallow
   *   enough that an oversubscribed link drops packets.
   * `tc qdisc replace`, so calling it again changes the limit.
   */
  host.limitDownlink = ({ rate = '400kbit', burst = '32kbit', latency = '300ms' } = {}) => {
    execFileSync('tc', ['qdisc', 'replace', 'dev', outer, 'root', 'tbf', 'rate', rate, 'burst', burst, 'latency', latency]);
    host.limit = { rate, burst, latency };
  };
  /** Lifts the downlink limit (back to the veth's default queue). */
  host.unlimitDownlink = () => {
    try { execFileSync('tc', ['qdisc', 'del', 'dev', outer, 'root'], { stdio: 'ignore' }); } catch { /* none */ }
    host.limit = null;
  };
  /** The downlink limit's counters: {kind, bytes, packets, drops, overlimits,
   * backlog} of the root qdisc of the root-namespace end (kind `tbf` while limited). */
  host.downlinkQdisc = () => {
    const [q] = JSON.parse(execFileSync('tc', ['-s', '-j', 'qdisc', 'show', 'dev', outer, 'root'], { encoding: 'utf8' }));
    return q ? { kind: q.kind, bytes: q.bytes, packets: q.packets, drops: q.drops, overlimits: q.overlimits, backlog: q.backlog } : null;
  };
  return host;
}
