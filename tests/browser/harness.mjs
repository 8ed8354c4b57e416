// The browser tests' shared harness: a real relay (with `--insider-view`),
// Debian's headless Chromium driven by playwright-core with fake camera and
// microphone, tabs on the page the relay serves, the page's test hook
// (`window.conclave`), and a step runner with one hard deadline that prints
// `<suite>: N passed, N failed`. run.mjs (calls, E2EE, admission, insider
// view) and the other suites in this folder import it.
//
// Environment: CONCLAVE_BIN (default target/debug/conclave), CHROMIUM
// (default /usr/bin/chromium), CONCLAVE_BROWSER_TIMEOUT_S (default 230),
// CONCLAVE_BROWSER_HEADFUL=1 to watch.


import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import { closeSync, createWriteStream, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import os from 'node:os';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';


export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.resolve(ROOT, process.env.CONCLAVE_BIN || 'target/debug/conclave');
/** The test-only relay that lies about media (crates/evil-relay). */
export const EVIL_BIN = path.resolve(ROOT, process.env.CONCLAVE_EVIL_BIN || 'target/debug/conclave-evil-relay');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// Frame rate of Chromium's fake camera (its default is 20). Every tab encodes
// three simulcast layers and decodes every other tab; at 20 fps five tabs
// saturate a 2-core machine and steps time out for want of CPU, not for a bug.
export const FAKE_FPS = Number(process.env.CONCLAVE_FAKE_FPS || 10);
export const HARD_TIMEOUT_S = Number(process.env.CONCLAVE_BROWSER_TIMEOUT_S || 230);

export const t0 = Date.now();
export const secs = (ms) => (ms / 1000).toFixed(1);
export const log = (line) => console.log(`[browser ${secs(Date.now() - t0).padStart(5)}s] ${line}`);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class TestFailure extends Error {}
export const check = (cond, msg) => { if (!cond) throw new TestFailure(msg); };

/** Polls `probe` (returns a truthy value when done, or a string saying what
 * is still missing) until done or `timeoutS` passes. */
export async function waitFor(what, timeoutS, probe, intervalMs = 500) {
  const start = Date.now();
  let last = 'not checked yet';
  while (Date.now() - start < timeoutS * 1000) {
    const r = await probe();
    if (r === true) return (Date.now() - start) / 1000;
    last = r;
    await sleep(intervalMs);
  }
  throw new TestFailure(`${what}: not done after ${timeoutS}s; still missing: ${last}`);
}


// ------------------------------------------------------------------ the relay

export const relay = { proc: null, url: null, control: null, out: [], all: [], err: [], exited: null, insider: null };

export function keepTail(buf, chunk) {
  // eslint-disable-next-line no-control-regex
  for (const line of chunk.toString().replace(/\x1b\[[0-9;]*m/g, '').split('\n')) if (line) buf.push(line);
  if (buf.length > 400) buf.splice(0, buf.length - 400);
}

/**
 * Starts a relay on a free loopback port and waits for its address. `bin`
 * picks another program with the same `serve` flags (the test-only lying
 * relay, EVIL_BIN, which also prints `evil control: ADDR`: relay.control).
 * `listen` and `args` change where it listens and add flags (netns.mjs:
 * all interfaces, advertising a veth address).
 */
export async function startRelay({ bin = BIN, listen = '127.0.0.1:0', args = [] } = {}) {
  relay.insider = mkdtempSync(path.join(os.tmpdir(), 'conclave-insider-'));
  relay.proc = spawn(bin, ['serve', '--listen', listen, '--insider-view', relay.insider, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' },
  });
  relay.proc.on('exit', (code, signal) => { relay.exited = { code, signal }; });
  // CONCLAVE_RELAY_LOG=FILE keeps all of the relay's output (e.g. with RUST_LOG=debug).
  if (process.env.CONCLAVE_RELAY_LOG) {
    const file = createWriteStream(process.env.CONCLAVE_RELAY_LOG, { flags: 'a' });
    relay.proc.stdout.pipe(file);
    relay.proc.stderr.pipe(file);
  }
  relay.proc.on('error', (err) => { relay.exited = { error: err.message }; });
  relay.proc.stderr.on('data', (d) => { keepTail(relay.out, d); relay.all.push(d); relay.err.push(d); });
  relay.proc.stdout.on('data', (d) => {
    keepTail(relay.out, d);
    relay.all.push(d);
    const control = /evil control: (\S+)/.exec(d.toString());
    if (control) relay.control = control[1];
    if (!relay.url) {
      const line = d.toString().split('\n').find((l) => l.includes('open:'));
      const m = line && /https?:\/\/\S+/.exec(line);
      if (m) relay.url = new URL(m[0]);
    }
  });
  await waitFor('relay prints its address', 30, () => {
    if (relay.exited) throw new TestFailure(`relay exited at start: ${JSON.stringify(relay.exited)}`);
    return relay.url ? true : 'no "open:" line on stdout';
  }, 100);
  const health = await httpsGet(new URL('/healthz', relay.url));
  check(health.status === 200 && health.body.trim() === 'ok', `/healthz answered ${health.status} ${JSON.stringify(health.body)}`);
}

export function httpsGet(url) {
  return new Promise((resolve, reject) => {
    (url.protocol === 'https:' ? https : http).get(url, { rejectUnauthorized: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

/** CPU time (s) and resident memory (MiB) of the relay, from /proc. */
export function relayUsage() {
  try {
    const stat = readFileSync(`/proc/${relay.proc.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${relay.proc.pid}/status`, 'utf8'));
    return { cpu: ticks / 100, rssMiB: rss ? Number(rss[1]) / 1024 : NaN, at: Date.now() };
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------ browser

export let browser = null;
/** Every browser launched (closed by cleanup). */
const browsers = [];
export const tabs = [];

/** Closes `b` (a browser launched elsewhere, e.g. Firefox by puppeteer) at cleanup. */
export function registerBrowser(b) {
  browsers.push(b);
}

/**
 * Launches headless Chromium; the first one launched is `browser`, which
 * openTab uses unless told another. `executablePath` may be a wrapper that
 * starts Chromium elsewhere (suite-tcp: in a network namespace).
 */
export async function launchBrowser({ executablePath = CHROMIUM, fakeDevices = '' } = {}) {
  const launched = await chromium.launch({
    executablePath,
    headless: !process.env.CONCLAVE_BROWSER_HEADFUL,
    // Playwright mutes audio output by default; keep it so audio is rendered
    // like on a user's machine (and totalSamplesReceived counts).
    ignoreDefaultArgs: ['--mute-audio'],
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // `fakeDevices`: more of Chromium's options for its fake devices,
      // e.g. 'device-count=3' for more cameras.
      `--use-fake-device-for-media-stream=fps=${FAKE_FPS}${fakeDevices ? `,${fakeDevices}` : ''}`,
      '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection',
      '--ignore-certificate-errors',
      '--autoplay-policy=no-user-gesture-required',
      // Background tabs must keep decoding at full speed.
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
    ],
  });
  browsers.push(launched);
  if (!browser) browser = launched;
  return launched;
}

/** A fresh meeting link from `conclave link` (the secret made by the CLI). */
export function cliLink() {
  const out = execFileSync(BIN, ['link', '--relay', relay.url.origin], { encoding: 'utf8' }).trim();
  return parseLink(out);
}

/** A meeting link `https://HOST/#<secret>`: no room id in the path. */
export function parseLink(text) {
  const m = /^(https:\/\/[^/]+)\/#([A-Za-z0-9_-]{43})$/.exec(text);
  check(m, `not a meeting link with a secret (https://HOST/#SECRET): ${JSON.stringify(text)}`);
  const { room, founder } = roomOf(m[2]);
  return { href: text, room, founder, secret: m[2] };
}

/** The room id and founder token a secret derives (crates/e2ee link.rs and
 * founder.rs): what the relay learns when someone joins. */
export function roomOf(secret) {
  const founder = Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'base64url'), Buffer.alloc(0), 'conclave founder token', 32));
  const room = createHash('sha256').update('conclave room id v2').update(founder).digest().subarray(0, 16);
  return { room: room.toString('base64url'), founder: founder.toString('base64url') };
}

/** Opens `link` (a meeting link with its secret) plus per-user settings;
 * `base` (default the relay) is the origin the page is loaded from, e.g. a
 * lying proxy's (tests/browser/evil-relay.mjs). */
export async function openLinkTab(label, link, settings, base = relay.url) {
  return openTab(label, link.room, `#${link.secret}&${settings}`, '/', base);
}

/** Opens the page at `/` (or `/r/<room>` for an older link: `path`) with
 * `fragment`, from `base` (default the relay), in `on` (default `browser`). */
export async function openTab(label, room, fragment, path = '/', base = relay.url, on = browser) {
  const context = await on.newContext({ ignoreHTTPSErrors: true, viewport: { width: 800, height: 600 } });
  const page = await context.newPage();
  const tab = { label, room, context, page, console: [], me: null, name: null, openedAt: Date.now() };
  page.on('console', (m) => {
    tab.console.push(`${secs(Date.now() - t0)}s ${m.type()}: ${m.text()}`);
    if (tab.console.length > 200) tab.console.shift();
  });
  page.on('pageerror', (e) => tab.console.push(`${secs(Date.now() - t0)}s pageerror: ${e.message}`));
  tab.url = new URL(`${path}${fragment}`, base).href;
  tab.fragment = fragment;
  // Generous: on a saturated 2-core machine a page with its wasm can take
  // longer than the default 30 s to load.
  tab.response = await page.goto(tab.url, { timeout: 90000 });
  tabs.push(tab);
  return tab;
}

export const hook = (tab, fn, arg) => tab.page.evaluate(fn, arg);
export const state = (tab) => hook(tab, () => window.conclave && window.conclave.state);
export const peersOf = (tab) => hook(tab, () => window.conclave.peers());
export const statsOf = (tab) => hook(tab, () => window.conclave.stats());
export const tracksOf = (tab) => hook(tab, () => window.conclave.remoteTracks());
export const errorsOf = (tab) => hook(tab, () => window.conclave.errors);
export const e2eeOf = (tab) => hook(tab, async () => ({
  state: window.conclave.e2eeState(),
  on: window.conclave.e2ee(),
  epoch: window.conclave.epoch(),
  code: window.conclave.safetyCode(),
  roster: window.conclave.roster(),
  refused: window.conclave.refusedAttempts(),
  failures: window.conclave.decryptFailures(),
  problems: window.conclave.tileProblems(),
}));

/** Waits until every tab of `group` is an MLS member with E2EE on, the same
 * epoch and safety code, and a roster of exactly the group's names. Returns
 * the shared {epoch, code}. */
export async function waitGroup(group, timeoutS, why) {
  let agreed = null;
  await waitFor(`${group.map((t) => t.label).join(', ')} agree on one encrypted group${why ? ` (${why})` : ''}`, timeoutS, async () => {
    const seen = [];
    for (const tab of group) {
      const e = await e2eeOf(tab);
      if (e.state !== 'member') return `${tab.label} is ${e.state}`;
      if (!e.on) return `${tab.label} does not show end-to-end encryption as on`;
      const names = e.roster.map((r) => r.name).sort();
      const want = group.map((t) => t.name).sort();
      if (JSON.stringify(names) !== JSON.stringify(want)) return `${tab.label}'s roster shows ${JSON.stringify(names)}, expected ${JSON.stringify(want)}`;
      const ids = e.roster.map((r) => r.participant).sort();
      const wantIds = group.map((t) => t.me).sort();
      if (JSON.stringify(ids) !== JSON.stringify(wantIds)) return `${tab.label}'s roster maps to relay ids ${JSON.stringify(ids)}, expected ${JSON.stringify(wantIds)}`;
      seen.push(e);
    }
    if (new Set(seen.map((e) => e.epoch)).size !== 1) return `epochs differ: ${seen.map((e) => e.epoch)}`;
    if (new Set(seen.map((e) => e.code)).size !== 1) return `safety codes differ: ${seen.map((e) => e.code).join(' / ')}`;
    agreed = { epoch: seen[0].epoch, code: seen[0].code };
    return true;
  });
  // What the page shows a person: the same code, the explanation, the lock.
  for (const tab of group) {
    // The page shows what its group holds now: a periodic rekey may have
    // moved the group on since the codes were compared, and the lock is off
    // for a moment while a key change settles.
    await waitFor(`${tab.label} shows its current safety code, the explanation and the lock`, 15, async () => {
      const shown = (await tab.page.textContent('#safety-code')).trim();
      const now = (await e2eeOf(tab)).code;
      if (shown !== now) return `${tab.label} shows safety code ${JSON.stringify(shown)}, its hook says ${now}`;
      if (!/read it aloud; if everyone's matches, nobody else is listening/i.test(await tab.page.textContent('#e2ee'))) {
        return `${tab.label} does not explain the safety code`;
      }
      return (await tab.page.isVisible('#e2ee-on')) || `${tab.label} does not show the end-to-end encrypted indicator`;
    });
  }
  return agreed;
}

// ------------------------------------------------------------------ a fake relay's messages

/** A raw WebSocket client in a room: sees what any participant sees and
 * sends what it likes, impersonating the relay's delivery service. */
export function forger(room, founder) {
  return new Promise((resolve, reject) => {
    const url = new URL(`/r/${room}/ws`, relay.url);
    url.protocol = 'wss:';
    const ws = new WebSocket(url, { rejectUnauthorized: false });
    const f = { ws, got: [], close: () => ws.terminate(), send: (m) => ws.send(JSON.stringify(m)) };
    ws.on('open', () => { f.send({ type: 'join', protocol: 2, founder }); resolve(f); });
    ws.on('message', (d) => { try { f.got.push(JSON.parse(d.toString())); } catch { /* ignore */ } });
    ws.on('error', reject);
  });
}

export const u64 = (n) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };
export const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
export const bytesOf = (b) => Buffer.concat([u32(b.length), b]);
/** Envelopes in crates/e2ee's delivery format (version 1). */
export const envelope = {
  join: (ticket, request) => Buffer.concat([Buffer.from([1, 1]), ticket, bytesOf(request)]),
  commit: (epoch, commit, ticket, welcome) => Buffer.concat([Buffer.from([1, 2]), u64(epoch), bytesOf(commit),
    ...(ticket ? [Buffer.from([1]), ticket, bytesOf(welcome)] : [Buffer.from([0])])]),
  welcome: (ticket, welcome) => Buffer.concat([Buffer.from([1, 5]), ticket, bytesOf(welcome)]),
};
export const mlsKinds = { 1: 'join_request', 2: 'commit', 3: 'proposal', 4: 'application', 5: 'welcome', 6: 'accepted', 7: 'rejected' };

// ------------------------------------------------------------------ the insider view

/** The relay's signaling so far (insider view), one object per message. */
export function relaySignaling() {
  return readFileSync(path.join(relay.insider, 'signaling.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((line) => {
    const rec = JSON.parse(line);
    let msg = null;
    try { msg = JSON.parse(rec.text); } catch { /* not JSON: kept as is */ }
    return { dir: rec.dir, participant: rec.participant, type: msg && msg.type };
  });
}

/** Reads DIR/media.pcap (LINKTYPE_RAW: IPv4 | UDP | 12-byte RTP | payload). */
export function readPcap(file) {
  const buf = readFileSync(file);
  check(buf.length >= 24 && buf.readUInt32LE(0) === 0xa1b2c3d4, 'media.pcap has no little-endian pcap header');
  check(buf.readUInt32LE(20) === 101, 'media.pcap is not LINKTYPE_RAW');
  const packets = [];
  for (let off = 24; off + 16 <= buf.length;) {
    const len = buf.readUInt32LE(off + 8);
    const data = buf.subarray(off + 16, off + 16 + len);
    off += 16 + len;
    if (data.length < 40 || data[0] >> 4 !== 4 || data[9] !== 17) continue;
    const ihl = (data[0] & 15) * 4;
    const rtp = data.subarray(ihl + 8);
    packets.push({ pt: rtp[1] & 0x7f, ssrc: rtp.readUInt32BE(8), payload: rtp.subarray(12) });
  }
  return { bytes: buf, packets };
}

/** The first step of most suites: a real relay and Chromium. */
export async function startRelayAndBrowser() {
  await startRelay();
  await launchBrowser();
  return relay.url.href;
}

/**
 * Opens one tab per name on `link` (with `settings` appended to each
 * fragment): the first founds the meeting, the others join it together.
 * Waits until all are in and knows each tab's relay id (`tab.me`).
 */
export async function joinCall(link, names, settings = '') {
  const group = [];
  for (const name of names) {
    group.push(await openTab(name, link.room, `#${link.secret}&name=${name}&autojoin=1${settings}`));
    if (group.length === 1) await waitJoined(group, 30);
  }
  await waitJoined(group, 60);
  await learnIds(group);
  return group;
}

/** Reads each tab's relay id into `tab.me` (after a join or rejoin). */
export async function learnIds(group) {
  for (const t of group) t.me = await hook(t, () => window.conclave.me);
}

export async function waitJoined(group, timeoutS) {
  return waitFor(`tabs ${group.map((t) => t.label).join(', ')} join`, timeoutS, async () => {
    const missing = [];
    for (const tab of group) {
      const st = await state(tab);
      if (st === 'error') {
        const errs = await errorsOf(tab);
        throw new TestFailure(`${tab.label} failed to join: ${JSON.stringify(errs)}`);
      }
      if (st !== 'joined') missing.push(`${tab.label}=${st}`);
    }
    return missing.length ? missing.join(' ') : true;
  });
}

/** Waits until every tab in `group` decodes more than `minFrames` video
 * frames (beyond `base`) from every other tab of the group and gets audio
 * samples that keep increasing. Returns the last stats seen per tab. */
export async function waitMedia(group, timeoutS, minFrames, base = new Map()) {
  const audioSeen = new Map(); // "tab>peer" -> last audio count
  const audioOk = new Set();
  const last = new Map();
  await waitFor(`media flows between ${group.map((t) => t.label).join(', ')}`, timeoutS, async () => {
    const missing = [];
    for (const tab of group) {
      const stats = await statsOf(tab);
      last.set(tab.label, stats);
      for (const other of group) {
        if (other === tab) continue;
        const key = `${tab.label}>${other.label}`;
        const st = stats.find((x) => x.participant === other.me);
        const frames = st && st.video ? st.video.framesDecoded || 0 : 0;
        if (frames <= (base.get(key) || 0) + minFrames) missing.push(`${key} video ${frames} frames`);
        const audio = st && st.audio ? (st.audio.totalSamplesReceived || st.audio.bytesReceived || 0) : 0;
        const prev = audioSeen.get(key);
        if (prev !== undefined && audio > prev && audio > 0) audioOk.add(key);
        audioSeen.set(key, audio);
        if (!audioOk.has(key)) missing.push(`${key} audio ${audio}`);
      }
    }
    return missing.length ? missing.join(', ') : true;
  }, 1000);
  return last;
}

/** The other members' screen shares `tab` shows (hook.js screens()). */
export const screensOf = (tab) => hook(tab, () => window.conclave.screens());

/**
 * Waits until each of `viewers` shows exactly one screen share: the member
 * named `sharer`'s, by the key that decrypts it (that member's leaf, SFrame
 * stream context 1), labelled "<sharer>'s screen" (the name from MLS),
 * larger than every other tile, playing, and decoding (framesDecoded grows
 * between two looks). Returns the last row seen per viewer label.
 */
export async function waitScreenShown(viewers, sharer, timeoutS) {
  const last = new Map();
  const before = new Map();
  await waitFor(`${viewers.map((v) => v.label).join(', ')} show ${sharer}'s screen large and decode it`, timeoutS, async () => {
    const missing = [];
    for (const v of viewers) {
      const rows = await screensOf(v);
      const leaf = (await hook(v, () => window.conclave.roster())).find((r) => r.name === sharer)?.leaf;
      const row = rows.length === 1 ? rows[0] : null;
      last.set(v.label, row);
      if (!row) { missing.push(`${v.label}: ${rows.length} screens`); continue; }
      const fine = leaf !== undefined && row.leaf === leaf && row.sender === leaf && row.context === 1 && row.label === `${sharer}'s screen`
        && row.name === sharer && row.playing && row.tileWidth > 1.5 * row.widestOtherTile;
      const prev = before.get(v.label);
      before.set(v.label, row.framesDecoded);
      if (!fine || !(row.framesDecoded > 10) || prev === undefined || row.framesDecoded <= prev) {
        missing.push(`${v.label}: ${JSON.stringify({ ...row, expectLeaf: leaf, prev })}`);
      }
    }
    return missing.length ? missing.join('; ') : true;
  }, 700);
  return last;
}

/** Waits until no tab of `group` shows a screen share, its own or another's. */
export async function waitNoScreen(group, what, timeoutS = 10) {
  return waitFor(`${what}: no page shows a screen`, timeoutS, async () => {
    const left = [];
    for (const t of group) {
      const rows = await screensOf(t);
      const own = await hook(t, () => document.querySelectorAll('#grid .tile.screen').length);
      if (rows.length || own) left.push(`${t.label} ${rows.length} screens, ${own} screen tiles`);
    }
    return left.length ? left.join(', ') : true;
  }, 250);
}

export function framesMap(group, statsByLabel) {
  const m = new Map();
  for (const tab of group) {
    for (const st of statsByLabel.get(tab.label) || []) {
      const other = group.find((t) => t.me === st.participant);
      if (other && st.video) m.set(`${tab.label}>${other.label}`, st.video.framesDecoded || 0);
    }
  }
  return m;
}

/** Opens a raw WebSocket, sends `frames`, and collects what the relay answers
 * for a short while (or the HTTP refusal of the upgrade). */
export function rawSignaling(room, frames, waitMs = 1500) {
  return new Promise((resolve) => {
    const url = new URL(`/r/${room}/ws`, relay.url);
    url.protocol = relay.url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url, { rejectUnauthorized: false });
    const got = [];
    let done = false;
    const finish = (extra) => {
      if (done) return;
      done = true;
      try { ws.terminate(); } catch { /* already gone */ }
      resolve({ messages: got, ...extra });
    };
    ws.on('unexpected-response', (_req, res) => finish({ httpStatus: res.statusCode }));
    ws.on('open', () => {
      for (const f of frames) ws.send(f);
      setTimeout(() => finish({}), waitMs);
    });
    ws.on('message', (d) => {
      try { got.push(JSON.parse(d.toString())); } catch { got.push({ unparsable: d.toString() }); }
    });
    ws.on('close', (code, reason) => finish({ closed: { code, reason: reason.toString() } }));
    ws.on('error', (e) => finish({ error: e.message }));
  });
}


export const steps = [];
export async function step(name, fn) {
  const start = Date.now();
  log(`${name} …`);
  const detail = await fn();
  const took = (Date.now() - start) / 1000;
  steps.push({ name, took });
  log(`ok   ${name} (${took.toFixed(1)}s)${detail ? ` — ${detail}` : ''}`);
}


// ------------------------------------------------------------------ harness

export async function dumpDiagnostics() {
  for (const tab of tabs) {
    console.log(`\n--- ${tab.label} (${tab.url})`);
    try {
      const info = await Promise.race([
        hook(tab, async () => ({
          state: window.conclave.state,
          me: window.conclave.me,
          connection: window.conclave.connectionState,
          errors: window.conclave.errors,
          peers: window.conclave.peers(),
          tracks: window.conclave.remoteTracks(),
          stats: await window.conclave.stats(),
        })),
        sleep(3000).then(() => 'no answer from the page'),
      ]);
      console.log(JSON.stringify(info, null, 1).slice(0, 4000));
    } catch (e) {
      console.log(`(page state unavailable: ${e.message})`);
    }
    console.log(`console (last 40 of ${tab.console.length}):`);
    for (const line of tab.console.slice(-40)) console.log(`  ${line.length > 6000 ? `${line.slice(0, 6000)} …` : line}`);
  }
  console.log(`\n--- relay output (last 60 lines)${relay.exited ? `; exited ${JSON.stringify(relay.exited)}` : ''}`);
  for (const line of relay.out.slice(-60)) console.log(`  ${line}`);
}

/**
 * Searches the live memory of process `pid` (every readable private or
 * anonymous mapping: heap, stacks, buffers; not the mapped binary or
 * libraries) for each needle, as an insider with a memory dump would.
 * Returns the bytes scanned and, per needle label, whether it was found.
 */
export function scanMemory(pid, needles) {
  const maps = readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n');
  const longest = Math.max(...needles.map(([, n]) => n.length));
  const found = new Map(needles.map(([label]) => [label, false]));
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  const chunk = Buffer.alloc(1 << 20);
  let scanned = 0;
  try {
    for (const line of maps) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) (r.)(.)p \S+ \S+ (\d+)\s*(.*)$/.exec(line);
      if (!m) continue;
      const [, lo, hi, , , inode, name] = m;
      // Private writable data, the heap and stacks; skip mapped files (the
      // binary, libraries) and the kernel's vdso/vvar.
      const writable = m[3][1] === 'w';
      if (!writable || (inode !== '0' && !name.startsWith('['))) continue;
      if (name === '[vvar]' || name === '[vsyscall]' || name === '[vvar_vclock]') continue;
      let pos = parseInt(lo, 16);
      const end = parseInt(hi, 16);
      let carry = Buffer.alloc(0);
      while (pos < end) {
        const len = Math.min(chunk.length, end - pos);
        let n;
        try {
          n = readSync(fd, chunk, 0, len, pos);
        } catch {
          carry = Buffer.alloc(0);
          pos += len;
          continue; // a guard page or an unmapped hole
        }
        if (n <= 0) break;
        scanned += n;
        const hay = carry.length ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n);
        for (const [label, needle] of needles) {
          if (!found.get(label) && hay.indexOf(needle) >= 0) found.set(label, true);
        }
        carry = Buffer.from(hay.subarray(Math.max(0, hay.length - longest + 1)));
        pos += n;
      }
    }
  } finally {
    closeSync(fd);
  }
  return { scanned, found };
}

/** Stops the relay gracefully (SIGTERM: it flushes the insider view). */
export async function stopRelay() {
  if (relay.proc && !relay.exited) {
    relay.proc.kill('SIGTERM');
    for (let i = 0; i < 100 && !relay.exited; i++) await sleep(100);
    if (!relay.exited) relay.proc.kill('SIGKILL');
  }
}

export async function cleanup() {
  for (const b of browsers) await Promise.race([b.close().catch(() => {}), sleep(5000)]);
  await stopRelay();
  if (relay.insider && !process.env.CONCLAVE_KEEP_INSIDER) rmSync(relay.insider, { recursive: true, force: true });
}

let timedOut = false;

/**
 * Runs `scenario` under a hard deadline, prints the summary and the closing
 * line the test runner reads (`browser: N passed, N failed`), cleans up and
 * exits. `label` names the suite in that line.
 */
export async function main(scenario, { label = 'browser', timeoutS = HARD_TIMEOUT_S } = {}) {
  const hard = setTimeout(async () => {
    timedOut = true;
    console.log(`\nFAIL: the ${label} test did not finish within ${timeoutS}s`);
    await dumpDiagnostics().catch(() => {});
    await cleanup().catch(() => {});
    process.exit(1);
  }, timeoutS * 1000);
  let failed = null;
  try {
    await scenario();
  } catch (e) {
    failed = e;
  }
  if (timedOut) return; // the deadline handler reports, cleans up and exits
  if (failed) {
    console.log(`\nFAIL: ${failed instanceof TestFailure ? failed.message : failed.stack}`);
    await dumpDiagnostics();
  }
  await cleanup();
  clearTimeout(hard);
  console.log('\nsummary:');
  for (const s of steps) console.log(`  ${s.took.toFixed(1).padStart(5)}s  ${s.name}`);
  if (relay.usage) console.log(`  relay during media: ${relay.usage}`);
  if (relay.transformCost) console.log(`  transform cost:\n    ${relay.transformCost}`);
  if (relay.insiderSummary) console.log(`  insider view of the run:\n    ${relay.insiderSummary}`);
  console.log(`  total ${secs(Date.now() - t0)}s`);
  console.log(`${label}: ${steps.length} passed, ${failed ? 1 : 0} failed`);
  process.exit(failed ? 1 : 0);
}

process.on('SIGINT', async () => { await cleanup(); process.exit(130); });
process.on('SIGTERM', async () => { await cleanup(); process.exit(143); });

