// A member whose network lets no UDP through still joins (issue 12 §5):
// the relay offers a passive ICE-TCP candidate on its HTTPS port and tells
// ICE-TCP from TLS by the first byte (crates/relay/src/tcp_media).
//
// Tomas's Chromium runs in a network namespace of its own with nothing but
// a loopback interface, so it has no UDP path to the relay at all (no
// firewall rule needed: there is no route). The only way out is a TCP
// bridge (tcp-bridge.mjs) from 127.0.0.1:PORT inside to the relay's
// HTTPS port 127.0.0.1:PORT outside, through a Unix socket: the page,
// signaling and media all take it. Ana's Chromium is outside, on UDP.
// The suite proves: both decode each other's end-to-end encrypted video
// and audio; the media went through the bridge (bytes counted) and the
// relay's ICE-TCP gauge; when Tomas leaves the connection closes.
//
// Needs root (ip netns). Run by scripts/test.d/browser.sh.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CHROMIUM, check, cliLink, hook, httpsGet, launchBrowser, log, main, openTab, relay, startRelay, step, waitFor,
  waitJoined, waitMedia,
} from './harness.mjs';

const NS = `conclave-tcp-${process.pid}`;
const dir = mkdtempSync(path.join(os.tmpdir(), 'conclave-tcp-'));
const socketPath = path.join(dir, 'bridge.sock');
const counted = { up: 0, down: 0, connections: 0 };
let bridge = null;
let outside = null;

function teardown() {
  if (bridge) bridge.kill('SIGKILL');
  if (outside) outside.close();
  try { execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' }); } catch { /* not made */ }
  rmSync(dir, { recursive: true, force: true });
}
process.on('exit', teardown);

/** The Unix-socket end outside the namespace: each connection goes on to the relay's HTTPS port. */
function startOutside(port) {
  outside = net.createServer((fromNs) => {
    counted.connections += 1;
    const toRelay = net.connect(port, '127.0.0.1');
    fromNs.on('data', (d) => { counted.up += d.length; });
    toRelay.on('data', (d) => { counted.down += d.length; });
    fromNs.pipe(toRelay);
    toRelay.pipe(fromNs);
    const end = () => { fromNs.destroy(); toRelay.destroy(); };
    for (const s of [fromNs, toRelay]) { s.on('error', end); s.on('close', end); }
  });
  return new Promise((resolve) => outside.listen(socketPath, resolve));
}

async function metric(name) {
  const res = await httpsGet(new URL('/metrics', relay.url));
  const line = res.body.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`;

async function scenario() {
  let port;
  let inNs;
  await step('relay starts; a network namespace with no UDP path, only a TCP bridge to the relay\'s HTTPS port', async () => {
    await startRelay();
    port = Number(relay.url.port);
    check(relay.out.some((l) => /tcp port \d+ for networks without UDP/.test(l)), 'the relay does not say it carries media over TCP');
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    await startOutside(port);
    const here = path.dirname(fileURLToPath(import.meta.url));
    bridge = spawn('ip', ['netns', 'exec', NS, process.execPath, path.join(here, 'tcp-bridge.mjs'), '127.0.0.1', String(port), socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    bridge.stdout.on('data', (d) => { said += d; });
    bridge.stderr.on('data', (d) => { said += d; });
    await waitFor('the bridge listens inside the namespace', 15, () => said.includes('listening') ? true : `bridge said ${JSON.stringify(said)}`, 100);
    const wrapper = path.join(dir, 'chromium-in-ns');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${NS} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
    await launchBrowser();
    inNs = await launchBrowser({ executablePath: wrapper });
    const links = execFileSync('ip', ['-n', NS, '-brief', 'link'], { encoding: 'utf8' }).trim().split('\n');
    check(links.length === 1 && links[0].startsWith('lo '), `the namespace has more than loopback: ${links.join('; ')}`);
    return `namespace ${NS}: ${links[0].replace(/\s+/g, ' ')}`;
  });

  const link = cliLink();
  let ana;
  let tomas;
  await step('Ana (outside, UDP) and Tomas (inside, TCP only) join one meeting and decode each other', async () => {
    ana = await openTab('Ana', link.room, `#${link.secret}&name=Ana&autojoin=1`);
    await waitJoined([ana], 30);
    tomas = await openTab('Tomas', link.room, `#${link.secret}&name=Tomas&autojoin=1`, '/', relay.url, inNs);
    await waitJoined([tomas], 45);
    ana.me = await hook(ana, () => window.conclave.me);
    tomas.me = await hook(tomas, () => window.conclave.me);
    const last = await waitMedia([ana, tomas], 60, 30);
    const frames = (tab, other) => {
      const st = (last.get(tab.label) || []).find((x) => x.participant === other.me);
      return st && st.video ? st.video.framesDecoded : 0;
    };
    return `frames decoded: Ana from Tomas ${frames(ana, tomas)}, Tomas from Ana ${frames(tomas, ana)}`;
  });

  await step('the media went over TCP: through the bridge, on the relay\'s ICE-TCP connection', async () => {
    const links = await metric('conclave_ice_tcp_connections');
    check(links === 1, `conclave_ice_tcp_connections is ${links}, want 1 (Tomas's media)`);
    const before = { ...counted };
    await new Promise((r) => setTimeout(r, 3000));
    const down = counted.down - before.down;
    const up = counted.up - before.up;
    // Video at even a low rate is well over 20 KB/s each way; signaling alone is a few hundred bytes.
    check(down > 60000 && up > 60000, `in 3 s the bridge carried ${up} B up and ${down} B down: media is not on it`);
    const e2ee = await hook(tomas, () => window.conclave.e2ee());
    check(e2ee, 'Tomas\'s call is not end-to-end encrypted');
    return `3 s of call: ${(up / 3000).toFixed(0)} kB/s up, ${(down / 3000).toFixed(0)} kB/s down through the bridge; ${counted.connections} TCP connections (page, signaling, media); in all ${mib(counted.up)} up, ${mib(counted.down)} down`;
  });

  await step('Tomas leaves: the relay closes his ICE-TCP connection', async () => {
    await hook(tomas, () => window.conclave.leave());
    await waitFor('the ICE-TCP gauge returns to 0', 30, async () => {
      const n = await metric('conclave_ice_tcp_connections');
      return n === 0 ? true : `conclave_ice_tcp_connections ${n}`;
    });
    log(`relay: ICE-TCP frames dropped ${await metric('conclave_ice_tcp_frames_dropped_total')}`);
  });
}

main(scenario, { label: 'suite-tcp', timeoutS: 240 });
