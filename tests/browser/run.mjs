// Browser end-to-end test of the walking skeleton (issue 2): a real relay,
// Debian's headless Chromium with fake camera and microphone, and the page the
// relay serves.
//
//   room A: three tabs decode video and receive audio from both others and show
//           their names; one leaves and the other two see its tile and tracks go
//   room B: two tabs at the same time, isolated from room A both ways
//   bad input: a link with an invalid room id shows a clear error; malformed
//           signaling gets an error reply and the call goes on
//
// Run: `node run.mjs` (scripts/test.d/browser.sh builds the relay first).
// Environment: CONCLAVE_BIN (default target/debug/conclave), CHROMIUM
// (default /usr/bin/chromium), CONCLAVE_BROWSER_TIMEOUT_S (default 180),
// CONCLAVE_BROWSER_HEADFUL=1 to watch.

import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.resolve(ROOT, process.env.CONCLAVE_BIN || 'target/debug/conclave');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const HARD_TIMEOUT_S = Number(process.env.CONCLAVE_BROWSER_TIMEOUT_S || 180);
const MEDIA_TIMEOUT_S = 60;
const MIN_FRAMES = 30;

const t0 = Date.now();
const secs = (ms) => (ms / 1000).toFixed(1);
const log = (line) => console.log(`[browser ${secs(Date.now() - t0).padStart(5)}s] ${line}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const roomId = () => randomBytes(16).toString('base64url');

class TestFailure extends Error {}
const check = (cond, msg) => { if (!cond) throw new TestFailure(msg); };

/** Polls `probe` (returns a truthy value when done, or a string saying what
 * is still missing) until done or `timeoutS` passes. */
async function waitFor(what, timeoutS, probe, intervalMs = 500) {
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

const relay = { proc: null, url: null, out: [], exited: null };

function keepTail(buf, chunk) {
  // eslint-disable-next-line no-control-regex
  for (const line of chunk.toString().replace(/\x1b\[[0-9;]*m/g, '').split('\n')) if (line) buf.push(line);
  if (buf.length > 400) buf.splice(0, buf.length - 400);
}

async function startRelay() {
  relay.proc = spawn(BIN, ['serve', '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' },
  });
  relay.proc.on('exit', (code, signal) => { relay.exited = { code, signal }; });
  relay.proc.on('error', (err) => { relay.exited = { error: err.message }; });
  relay.proc.stderr.on('data', (d) => keepTail(relay.out, d));
  relay.proc.stdout.on('data', (d) => {
    keepTail(relay.out, d);
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

function httpsGet(url) {
  return new Promise((resolve, reject) => {
    (url.protocol === 'https:' ? https : http).get(url, { rejectUnauthorized: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

/** CPU time (s) and resident memory (MiB) of the relay, from /proc. */
function relayUsage() {
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

let browser = null;
const tabs = [];

async function launchBrowser() {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
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
      '--use-fake-device-for-media-stream',
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
}

async function openTab(label, room, fragment) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 800, height: 600 } });
  const page = await context.newPage();
  const tab = { label, room, context, page, console: [], me: null, name: null };
  page.on('console', (m) => {
    tab.console.push(`${secs(Date.now() - t0)}s ${m.type()}: ${m.text()}`);
    if (tab.console.length > 200) tab.console.shift();
  });
  page.on('pageerror', (e) => tab.console.push(`${secs(Date.now() - t0)}s pageerror: ${e.message}`));
  tab.url = new URL(`/r/${room}${fragment}`, relay.url).href;
  tab.response = await page.goto(tab.url);
  tabs.push(tab);
  return tab;
}

const hook = (tab, fn, arg) => tab.page.evaluate(fn, arg);
const state = (tab) => hook(tab, () => window.conclave && window.conclave.state);
const peersOf = (tab) => hook(tab, () => window.conclave.peers());
const statsOf = (tab) => hook(tab, () => window.conclave.stats());
const tracksOf = (tab) => hook(tab, () => window.conclave.remoteTracks());
const errorsOf = (tab) => hook(tab, () => window.conclave.errors);

async function waitJoined(group, timeoutS) {
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
async function waitMedia(group, timeoutS, minFrames, base = new Map()) {
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

function framesMap(group, statsByLabel) {
  const m = new Map();
  for (const tab of group) {
    for (const st of statsByLabel.get(tab.label) || []) {
      const other = group.find((t) => t.me === st.participant);
      if (other && st.video) m.set(`${tab.label}>${other.label}`, st.video.framesDecoded || 0);
    }
  }
  return m;
}

/** Checks that each tab knows exactly the others of its room, by id and name,
 * in its hook and on its page, and receives nothing from anyone else. */
async function checkRoster(group, allTabs) {
  const outsiders = allTabs.filter((t) => !group.includes(t));
  for (const tab of group) {
    const others = group.filter((t) => t !== tab);
    const want = others.map((t) => t.me).sort();
    const peers = await peersOf(tab);
    const got = peers.map((p) => p.participant).sort();
    check(JSON.stringify(got) === JSON.stringify(want),
      `${tab.label} sees participants ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    for (const o of others) {
      const p = peers.find((x) => x.participant === o.me);
      check(p.name === o.name, `${tab.label} shows ${o.label}'s name as ${JSON.stringify(p.name)}, expected ${o.name}`);
      check(p.tracks.includes('audio') && p.tracks.includes('video'),
        `${tab.label} has tracks ${JSON.stringify(p.tracks)} from ${o.label}, expected audio and video`);
    }
    const shown = await hook(tab, () => [...document.querySelectorAll('#grid .tile:not(.self) .name')].map((e) => e.textContent).sort());
    const wantNames = others.map((t) => t.name).sort();
    check(JSON.stringify(shown) === JSON.stringify(wantNames),
      `${tab.label}'s page shows names ${JSON.stringify(shown)}, expected ${JSON.stringify(wantNames)}`);
    const foreign = new Set(outsiders.map((t) => t.me));
    const stats = await statsOf(tab);
    const tracks = await tracksOf(tab);
    const leak = [...stats.map((s) => s.participant), ...tracks.map((t) => t.participant)].filter((p) => foreign.has(p));
    check(leak.length === 0, `${tab.label} receives media from another room's participants ${JSON.stringify(leak)}`);
    const badTracks = tracks.filter((t) => t.participant && !want.includes(t.participant));
    check(badTracks.length === 0, `${tab.label} has receivers for unknown participants ${JSON.stringify(badTracks)}`);
    const names = await hook(tab, () => document.body.innerText);
    for (const o of outsiders) check(!names.includes(o.name), `${tab.label}'s page shows ${o.name} from another room`);
  }
}

/** Opens a raw WebSocket, sends `frames`, and collects what the relay answers
 * for a short while (or the HTTP refusal of the upgrade). */
function rawSignaling(room, frames, waitMs = 1500) {
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

// ------------------------------------------------------------------ scenario

const steps = [];
async function step(name, fn) {
  const start = Date.now();
  log(`${name} …`);
  const detail = await fn();
  const took = (Date.now() - start) / 1000;
  steps.push({ name, took });
  log(`ok   ${name} (${took.toFixed(1)}s)${detail ? ` — ${detail}` : ''}`);
}

async function scenario() {
  await step('relay starts and answers /healthz', async () => {
    await startRelay();
    return relay.url.href;
  });
  await step('chromium starts', async () => {
    await launchBrowser();
    return `${CHROMIUM} ${browser.version()}`;
  });

  const roomA = roomId();
  const roomB = roomId();
  const A = [];
  const B = [];
  await step('3 tabs join room A and 2 tabs join room B', async () => {
    for (const [group, room, prefix, n] of [[A, roomA, 'A', 3], [B, roomB, 'B', 2]]) {
      for (let i = 1; i <= n; i++) {
        const name = `${prefix === 'A' ? 'Tab' : 'Room B tab '}${i}`;
        const tab = await openTab(`${prefix}${i}`, room, `#name=${encodeURIComponent(name)}&autojoin=1`);
        tab.name = name;
        group.push(tab);
      }
    }
    const took = await waitJoined([...A, ...B], 30);
    for (const tab of [...A, ...B]) tab.me = await hook(tab, () => window.conclave.me);
    return `all joined after ${took.toFixed(1)}s; ids ${[...A, ...B].map((t) => `${t.label}=${t.me}`).join(' ')}`;
  });

  const usageStart = relayUsage();
  let mediaA;
  await step(`every tab decodes video (> ${MIN_FRAMES} frames) and receives audio from every other tab of its room`, async () => {
    const [a] = await Promise.all([
      waitMedia(A, MEDIA_TIMEOUT_S, MIN_FRAMES),
      waitMedia(B, MEDIA_TIMEOUT_S, MIN_FRAMES),
    ]);
    mediaA = a;
    const frames = [...framesMap(A, a).entries()].map(([k, v]) => `${k}:${v}`).join(' ');
    const s1 = (a.get('A1') || []).find((x) => x.participant === A[1].me);
    const audio = s1 && s1.audio ? `; A1<A2 audio ${s1.audio.totalSamplesReceived} samples, ${s1.audio.bytesReceived} bytes, level ${s1.audio.audioLevel}` : '';
    return `frames decoded ${frames}${audio}`;
  });
  const usageEnd = relayUsage();
  if (usageStart && usageEnd) {
    const dt = (usageEnd.at - usageStart.at) / 1000;
    relay.usage = `${((100 * (usageEnd.cpu - usageStart.cpu)) / Math.max(dt, 0.001)).toFixed(1)}% of one core, RSS ${usageEnd.rssMiB.toFixed(1)} MiB (5 tabs, 2 rooms, over ${dt.toFixed(1)}s)`;
  }

  await step('each tab shows the names of exactly the others of its room; rooms A and B are isolated', async () => {
    await waitFor('names arrive', 10, async () => {
      for (const tab of [...A, ...B]) {
        const peers = await peersOf(tab);
        const unnamed = peers.filter((p) => !p.name);
        if (unnamed.length) return `${tab.label} has no name yet for ${unnamed.map((p) => p.participant)}`;
      }
      return true;
    });
    await checkRoster(A, [...A, ...B]);
    await checkRoster(B, [...A, ...B]);
  });

  await step('muting the mic shows on the other tabs', async () => {
    await A[0].page.click('#toggle-audio');
    await waitFor('A2 and A3 see A1 muted', 10, async () => {
      for (const tab of [A[1], A[2]]) {
        const p = (await peersOf(tab)).find((x) => x.participant === A[0].me);
        if (!p || p.audio !== false) return `${tab.label} sees audio=${p && p.audio}`;
        const badge = await tab.page.isVisible(`.tile[data-participant="${A[0].me}"] .mic-off`);
        if (!badge) return `${tab.label} shows no mic-off badge`;
      }
      return true;
    });
    await A[0].page.click('#toggle-audio');
    await waitFor('A2 and A3 see A1 unmuted', 10, async () => {
      for (const tab of [A[1], A[2]]) {
        const p = (await peersOf(tab)).find((x) => x.participant === A[0].me);
        if (!p || p.audio !== true) return `${tab.label} sees audio=${p && p.audio}`;
      }
      return true;
    });
  });

  await step('a link with an invalid room id shows a clear error', async () => {
    const tab = await openTab('bad-room', 'x'.repeat(65), '#name=Bad&autojoin=1');
    const status = tab.response ? tab.response.status() : null;
    if (status !== null && status >= 400) {
      const body = (await tab.response.text()).trim();
      check(body.length > 0, `relay refused the page with HTTP ${status} and an empty body`);
      return `relay refused the page: HTTP ${status} ${JSON.stringify(body.slice(0, 80))}`;
    }
    await waitFor('error shown', 10, async () => (await state(tab)) === 'error' || `state ${await state(tab)}`);
    const text = await tab.page.textContent('#error');
    check(await tab.page.isVisible('#error') && /room id/i.test(text), `error box shows ${JSON.stringify(text)}`);
    await tab.context.close();
    tabs.splice(tabs.indexOf(tab), 1);
    return JSON.stringify(text);
  });

  await step('malformed signaling gets an error reply and the call goes on', async () => {
    const before = framesMap(A, new Map(await Promise.all(A.map(async (t) => [t.label, await statsOf(t)]))));
    // From inside a joined tab: garbage on its own signaling socket.
    const nErr = (await errorsOf(A[0])).length;
    await hook(A[0], () => window.conclave.sendRaw('{"type":"offer","sdp":'));
    await waitFor('A1 gets an error reply', 10, async () => ((await errorsOf(A[0])).length > nErr) || 'no error yet');
    const errs = await errorsOf(A[0]);
    const reply = errs[errs.length - 1];
    check(reply.code === 'bad_message', `A1 got ${JSON.stringify(reply)}, expected code bad_message`);
    check(await state(A[0]) === 'joined', `A1 is ${await state(A[0])} after a malformed message, expected still joined`);
    check(await A[0].page.isVisible('#error'), 'A1 does not show the relay\'s error');
    // From a raw client: garbage before join, a too-long room id, an unknown version.
    const raw = await rawSignaling(roomA, ['not json at all']);
    check(raw.messages.some((m) => m.type === 'error'), `raw garbage got ${JSON.stringify(raw)}, expected an error message`);
    const long = await rawSignaling('y'.repeat(65), [JSON.stringify({ type: 'join', protocol: 1 })]);
    check(long.httpStatus >= 400 || long.messages.some((m) => m.type === 'error' && m.code === 'invalid_room_id'),
      `a 65-character room id got ${JSON.stringify(long)}, expected invalid_room_id`);
    const version = await rawSignaling(roomA, [JSON.stringify({ type: 'join', protocol: 999 })]);
    check(version.messages.some((m) => m.type === 'error' && m.code === 'unsupported_version'),
      `join with protocol 999 got ${JSON.stringify(version)}, expected unsupported_version`);
    // Everyone in room A still decodes everyone else.
    await waitMedia(A, 30, 10, before);
    return `A1 shows ${JSON.stringify(reply.message)}`;
  });

  await step('A3 leaves: A1 and A2 see its tile and tracks go, and keep decoding each other', async () => {
    const leaver = A[2];
    await leaver.page.click('#leave');
    check(await state(leaver) === 'left', `A3 is ${await state(leaver)} after Leave`);
    check(await leaver.page.isVisible('#rejoin') && /you left/i.test(await leaver.page.textContent('#left')),
      'A3 does not show "You left" with a Rejoin button');
    const took = await waitFor('A3 disappears from A1 and A2', 15, async () => {
      for (const tab of [A[0], A[1]]) {
        const peers = await peersOf(tab);
        if (peers.some((p) => p.participant === leaver.me)) return `${tab.label} still lists A3`;
        if (await tab.page.$(`.tile[data-participant="${leaver.me}"]`)) return `${tab.label} still shows A3's tile`;
        const live = (await tracksOf(tab)).filter((t) => t.participant === leaver.me && t.readyState === 'live' && !t.muted && t.inStream);
        if (live.length) return `${tab.label} still has live tracks from A3: ${JSON.stringify(live)}`;
      }
      return true;
    });
    const stats = new Map(await Promise.all([A[0], A[1]].map(async (t) => [t.label, await statsOf(t)])));
    await waitMedia([A[0], A[1]], 30, 10, framesMap([A[0], A[1]], stats));
    const ended = (await tracksOf(A[0])).filter((t) => t.participant === leaver.me)
      .map((t) => `${t.kind} ${t.readyState}${t.muted ? ' muted' : ''}${t.inStream ? '' : ' removed'}${t.direction ? ` ${t.direction}` : ''}`);
    // Room B did not notice.
    await checkRoster(B, [...A, ...B]);
    return `gone after ${took.toFixed(1)}s; A1's receivers of A3: ${ended.join(', ') || 'none left'}`;
  });

  await step('A3 rejoins: all three decode each other again', async () => {
    const tab = A[2];
    const old = tab.me;
    await tab.page.click('#rejoin');
    await waitJoined([tab], 30);
    tab.me = await hook(tab, () => window.conclave.me);
    check(tab.me && tab.me !== old, `A3 rejoined with id ${tab.me}, expected a new id (was ${old})`);
    await waitMedia(A, MEDIA_TIMEOUT_S, MIN_FRAMES);
    await checkRoster(A, [...A, ...B]);
    return `A3 is now ${tab.me}`;
  });
}

// ------------------------------------------------------------------ harness

async function dumpDiagnostics() {
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

async function cleanup() {
  if (browser) await Promise.race([browser.close().catch(() => {}), sleep(5000)]);
  if (relay.proc && !relay.exited) {
    relay.proc.kill('SIGTERM');
    for (let i = 0; i < 30 && !relay.exited; i++) await sleep(100);
    if (!relay.exited) relay.proc.kill('SIGKILL');
  }
}

let timedOut = false;

async function main() {
  const hard = setTimeout(async () => {
    timedOut = true;
    console.log(`\nFAIL: the browser test did not finish within ${HARD_TIMEOUT_S}s`);
    await dumpDiagnostics().catch(() => {});
    await cleanup().catch(() => {});
    process.exit(1);
  }, HARD_TIMEOUT_S * 1000);
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
  console.log(`  total ${secs(Date.now() - t0)}s`);
  console.log(`browser: ${steps.length} passed, ${failed ? 1 : 0} failed`);
  process.exit(failed ? 1 : 0);
}

process.on('SIGINT', async () => { await cleanup(); process.exit(130); });
process.on('SIGTERM', async () => { await cleanup(); process.exit(143); });
main();
