// A member whose only way out is TCP to the relay's page and to a TURN
// server still gets media, through the TURN server (issue 12 §5; relay
// `--turn`, crates/relay/src/turn.rs; page crates/web/assets/ice.js).
//
// Tomas's Chromium runs in a network namespace of its own with nothing but
// a loopback interface: no UDP path anywhere. Two TCP bridges
// (tcp-bridge.mjs, through Unix sockets) lead out: one to the relay's HTTPS
// port (page and signaling) and one to Debian's coturn, which the suite
// starts on loopback with a generated secret and the hardening of
// deploy/turnserver.conf (every peer address denied but the relay's). The
// relay runs with `--ice-tcp false`, so it offers no TCP candidate: only
// TURN can carry Tomas's media. Ana's Chromium is outside, on UDP. Both
// namespaces see the same 127.0.0.1 ports, so the relay's `--turn` URL
// (the operator's, the one browsers reach) is `turn:127.0.0.1:PORT?transport=tcp`.
//
// The suite proves: without TURN settings the same Tomas gets no media
// connection; with them each join gets its own credential in coturn's
// scheme (never the secret, which appears in no relay output), both members
// decode each other's end-to-end encrypted video and audio, Tomas's chosen
// candidate pair is a TURN relay candidate (reached over TCP), and the
// media bytes went through the bridge to coturn.
//
// Needs root (ip netns) and coturn (scripts/setup-test-deps.sh installs
// it). Run by scripts/test.d/browser.sh.

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CHROMIUM, check, cliLink, hook, httpsGet, keepTail, launchBrowser, log, main, openTab, relay, sleep, startRelay,
  step, stopRelay, waitFor, waitJoined, waitMedia,
} from './harness.mjs';

const NS = `conclave-turn-${process.pid}`;
const dir = mkdtempSync(path.join(os.tmpdir(), 'conclave-turn-'));
const secret = randomBytes(24).toString('hex');
const secretFile = path.join(dir, 'turn-secret');
const here = path.dirname(fileURLToPath(import.meta.url));
/** Bytes through each bridge: `relay` (page, signaling) and `turn` (media). */
const counted = { relay: { up: 0, down: 0 }, turn: { up: 0, down: 0, connections: 0 } };
const children = [];
const servers = [];
const turn = { proc: null, out: [], exited: null };

function teardown() {
  for (const c of children) c.kill('SIGKILL');
  for (const s of servers) s.close();
  try { execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' }); } catch { /* not made */ }
  rmSync(dir, { recursive: true, force: true });
}
process.on('exit', teardown);

/** A TCP port free on 127.0.0.1 now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** The Unix-socket end outside the namespace: each connection goes on to 127.0.0.1:`port`. */
function startOutside(socketPath, port, count) {
  const server = net.createServer((fromNs) => {
    if ('connections' in count) count.connections += 1;
    const onward = net.connect(port, '127.0.0.1');
    fromNs.on('data', (d) => { count.up += d.length; });
    onward.on('data', (d) => { count.down += d.length; });
    fromNs.pipe(onward);
    onward.pipe(fromNs);
    const end = () => { fromNs.destroy(); onward.destroy(); };
    for (const s of [fromNs, onward]) { s.on('error', end); s.on('close', end); }
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(socketPath, resolve));
}

/** 127.0.0.1:`port` inside the namespace, leading to `socketPath` outside. */
async function bridgeIn(port, socketPath) {
  const bridge = spawn('ip', ['netns', 'exec', NS, process.execPath, path.join(here, 'tcp-bridge.mjs'), '127.0.0.1', String(port), socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(bridge);
  let said = '';
  bridge.stdout.on('data', (d) => { said += d; });
  bridge.stderr.on('data', (d) => { said += d; });
  await waitFor(`the bridge to port ${port} listens inside the namespace`, 15, () => said.includes('listening') ? true : `bridge said ${JSON.stringify(said)}`, 100);
}

/** Debian's coturn on loopback, configured like deploy/turnserver.conf
 * but for a test: plain TURN on `port` (UDP and TCP), loopback peers
 * allowed (the relay is on 127.0.0.1), every other peer address denied. */
async function startTurn(port) {
  const conf = path.join(dir, 'turnserver.conf');
  writeFileSync(conf, [
    'listening-ip=127.0.0.1', `listening-port=${port}`, 'relay-ip=127.0.0.1',
    'no-tls', 'no-dtls', 'no-stun', 'no-cli', 'no-software-attribute', 'fingerprint',
    'use-auth-secret', `static-auth-secret=${secret}`, 'realm=conclave.test',
    'no-multicast-peers', 'allow-loopback-peers',
    'denied-peer-ip=0.0.0.0-255.255.255.255', 'denied-peer-ip=::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    'allowed-peer-ip=127.0.0.1', 'no-tcp-relay',
    `pidfile=${path.join(dir, 'turnserver.pid')}`, `userdb=${path.join(dir, 'turndb')}`,
    'log-file=stdout', 'simple-log',
  ].join('\n') + '\n', { mode: 0o600 });
  turn.proc = spawn('turnserver', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(turn.proc);
  turn.proc.on('exit', (code, signal) => { turn.exited = { code, signal }; });
  turn.proc.on('error', (e) => { turn.exited = { error: e.message }; });
  for (const s of [turn.proc.stdout, turn.proc.stderr]) s.on('data', (d) => keepTail(turn.out, d));
  await waitFor('coturn accepts TCP', 15, () => {
    if (turn.exited) throw new Error(`coturn exited at start: ${JSON.stringify(turn.exited)}; ${turn.out.slice(-5).join(' | ')}`);
    return new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.on('connect', () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve('not listening yet'));
    });
  }, 200);
}

/** Starts a relay on `port` again (the harness keeps one relay at a time). */
async function restartRelay(port, args) {
  await stopRelay();
  if (relay.insider) rmSync(relay.insider, { recursive: true, force: true });
  Object.assign(relay, { proc: null, url: null, exited: null, out: [], all: [], err: [], insider: null });
  await startRelay({ listen: `127.0.0.1:${port}`, args });
}

async function metric(name) {
  const res = await httpsGet(new URL('/metrics', relay.url));
  const line = res.body.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

/** The `joined` messages the relay sent, from its insider view. */
function joinedSent() {
  const lines = readFileSync(path.join(relay.insider, 'signaling.jsonl'), 'utf8').trim().split('\n').filter(Boolean);
  return lines.map((l) => JSON.parse(l)).filter((r) => r.dir === 'out').map((r) => JSON.parse(r.text)).filter((m) => m.type === 'joined');
}

async function scenario() {
  let relayPort;
  let turnPort;
  let inNs;
  await step('a network namespace with no UDP path: TCP bridges to the relay\'s HTTPS port and to a TURN port only', async () => {
    check(spawnable('turnserver'), 'coturn\'s turnserver is not installed: run scripts/setup-test-deps.sh');
    relayPort = await freePort();
    turnPort = await freePort();
    writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    const relaySock = path.join(dir, 'relay.sock');
    const turnSock = path.join(dir, 'turn.sock');
    await startOutside(relaySock, relayPort, counted.relay);
    await startOutside(turnSock, turnPort, counted.turn);
    await bridgeIn(relayPort, relaySock);
    await bridgeIn(turnPort, turnSock);
    const wrapper = path.join(dir, 'chromium-in-ns');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${NS} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
    await launchBrowser();
    inNs = await launchBrowser({ executablePath: wrapper });
    const links = execFileSync('ip', ['-n', NS, '-brief', 'link'], { encoding: 'utf8' }).trim().split('\n');
    check(links.length === 1 && links[0].startsWith('lo '), `the namespace has more than loopback: ${links.join('; ')}`);
    return `relay port ${relayPort}, TURN port ${turnPort}; namespace ${NS}: ${links[0].replace(/\s+/g, ' ')}`;
  });

  await step('without TURN settings (and no ICE-TCP) Tomas gets no media connection within 10 s', async () => {
    await restartRelay(relayPort, ['--ice-tcp', 'false']);
    check(!relay.out.some((l) => /tcp port \d+ for networks without UDP|turn:/.test(l)), 'the relay offers TCP media or TURN though told not to');
    const link = cliLink();
    const tomas = await openTab('Tomas-no-turn', link.room, `#${link.secret}&name=Tomas&autojoin=1`, '/', relay.url, inNs);
    await waitJoined([tomas], 45);
    check((await hook(tomas, () => window.conclave.iceServers)).length === 0, 'the page took TURN servers from a relay that has none');
    const states = new Set();
    const start = Date.now();
    while (Date.now() - start < 10000) {
      const st = await hook(tomas, () => window.conclave.connectionState);
      states.add(st);
      check(st !== 'connected', 'Tomas\'s media connected though there is no path: the namespace leaks');
      await sleep(500);
    }
    const pair = await hook(tomas, () => window.conclave.candidatePair());
    check(pair === null, `a candidate pair was chosen: ${JSON.stringify(pair)}`);
    await tomas.context.close();
    return `connection states seen: ${[...states].join(', ')}`;
  });

  await step('coturn starts, and a relay with --turn', async () => {
    await startTurn(turnPort);
    const url = `turn:127.0.0.1:${turnPort}?transport=tcp`;
    await restartRelay(relayPort, ['--ice-tcp', 'false', '--turn', url, '--turn-secret-file', secretFile]);
    check(relay.out.some((l) => l.includes(`turn:        ${url}`)), 'the relay does not say which TURN server it hands out');
    return url;
  });

  const link = cliLink();
  let ana;
  let tomas;
  await step('Ana (outside, UDP) and Tomas (inside, TURN over TCP only) join one meeting and decode each other', async () => {
    ana = await openTab('Ana', link.room, `#${link.secret}&name=Ana&autojoin=1`);
    await waitJoined([ana], 30);
    tomas = await openTab('Tomas', link.room, `#${link.secret}&name=Tomas&autojoin=1`, '/', relay.url, inNs);
    await waitJoined([tomas], 45);
    ana.me = await hook(ana, () => window.conclave.me);
    tomas.me = await hook(tomas, () => window.conclave.me);
    const last = await waitMedia([ana, tomas], 45, 30);
    const frames = (tab, other) => {
      const st = (last.get(tab.label) || []).find((x) => x.participant === other.me);
      return st && st.video ? st.video.framesDecoded : 0;
    };
    return `frames decoded: Ana from Tomas ${frames(ana, tomas)}, Tomas from Ana ${frames(tomas, ana)}`;
  });

  await step('Tomas\'s media goes through the TURN server; each join got its own credential', async () => {
    const pair = await hook(tomas, () => window.conclave.candidatePair());
    check(pair && pair.local && pair.local.candidateType === 'relay', `Tomas's chosen pair is not through TURN: ${JSON.stringify(pair)}`);
    check(pair.local.relayProtocol === 'tcp', `Tomas reaches the TURN server over ${pair.local.relayProtocol}, not TCP`);
    const anaPair = await hook(ana, () => window.conclave.candidatePair());
    check(anaPair && anaPair.local && anaPair.local.candidateType !== 'relay', `Ana, who has UDP, went through TURN: ${JSON.stringify(anaPair)}`);
    const before = { ...counted.turn };
    await sleep(3000);
    const up = counted.turn.up - before.up;
    const down = counted.turn.down - before.down;
    // Video at even a low rate is well over 20 KB/s each way.
    check(up > 60000 && down > 60000, `in 3 s the TURN bridge carried ${up} B up and ${down} B down: media is not on it`);
    check(await hook(tomas, () => window.conclave.e2ee()), 'Tomas\'s call is not end-to-end encrypted');

    const joined = joinedSent();
    check(joined.length === 2, `the relay sent ${joined.length} joined messages, want 2`);
    const now = Date.now() / 1000;
    const names = new Set();
    for (const j of joined) {
      check(Array.isArray(j.ice_servers) && j.ice_servers.length === 1, `joined carries ${JSON.stringify(j.ice_servers)}`);
      const [{ urls, username, credential }] = j.ice_servers;
      check(JSON.stringify(urls) === JSON.stringify([`turn:127.0.0.1:${turnPort}?transport=tcp`]), `urls ${JSON.stringify(urls)}`);
      const m = /^(\d+):([0-9a-f]{16})$/.exec(username);
      check(m, `username ${JSON.stringify(username)} is not <expiry>:<random id>`);
      check(Math.abs(Number(m[1]) - (now + 600)) < 120, `credential expires at ${m[1]}, not about 600 s from now (${now.toFixed(0)})`);
      check(/^[A-Za-z0-9+/]{27}=$/.test(credential), `credential ${JSON.stringify(credential)} is not base64 of a SHA-1 HMAC`);
      names.add(username);
    }
    check(names.size === 2, 'two joins got the same TURN username');
    check(await metric('conclave_turn_credentials_total') === 2, 'conclave_turn_credentials_total is not 2');
    const everything = Buffer.concat(relay.all).toString();
    check(!everything.includes(secret), 'the relay printed or logged the TURN secret');
    const metrics = (await httpsGet(new URL('/metrics', relay.url))).body;
    check(!metrics.includes(secret), 'the TURN secret is in /metrics');
    return `pair ${pair.local.candidateType}/${pair.local.relayProtocol} → ${pair.remote.candidateType}/${pair.remote.protocol}; `
      + `3 s: ${(up / 3000).toFixed(0)} kB/s up, ${(down / 3000).toFixed(0)} kB/s down through the TURN bridge `
      + `(${counted.turn.connections} TCP connections to coturn from the namespace)`;
  });
}

function spawnable(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

process.on('exit', (code) => {
  if (code && turn.out.length) {
    console.log('\n--- coturn output (last 30 lines)');
    for (const line of turn.out.slice(-30)) console.log(`  ${line}`);
  }
});

main(scenario, { label: 'suite-turn', timeoutS: 180 }).catch((e) => { log(`suite-turn: ${e.stack}`); process.exit(1); });
