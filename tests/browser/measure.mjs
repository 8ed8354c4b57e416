// Measurements for issue 4's closing note (not a pass/fail test): one
// three-person end-to-end encrypted call on a relay with `--insider-view`.
//
//   - time from opening the link to the first decrypted remote video frame,
//     per joiner, with the page's milestones;
//   - the media worker's time inside SFrame encrypt/decrypt, per frame and
//     as a share of one core per stream;
//   - the wasm bundle's size;
//   - what the insider view holds for the call: signaling message kinds and
//     counts, MLS envelope kinds and sizes, RTP packets and payload sizes.
//
// Run: `node tests/browser/measure.mjs` after `cargo build --bin conclave`.
// Environment: CONCLAVE_BIN, CHROMIUM as for run.mjs; CONCLAVE_MEASURE_S
// (default 30) for how long the call runs.

import { chromium } from 'playwright-core';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.resolve(ROOT, process.env.CONCLAVE_BIN || 'target/debug/conclave');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CALL_S = Number(process.env.CONCLAVE_MEASURE_S || 30);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MLS_KINDS = { 1: 'join_request', 2: 'commit', 3: 'proposal', 4: 'application', 5: 'welcome', 6: 'accepted', 7: 'rejected' };

const dir = mkdtempSync(path.join(os.tmpdir(), 'conclave-measure-'));
const relay = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--insider-view', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
let origin = null;
relay.stdout.on('data', (d) => {
  const m = /open:\s*(https?:\/\/[^/\s]+)/.exec(d.toString());
  if (m && !origin) origin = m[1];
});
for (let i = 0; !origin && i < 300; i++) await sleep(100);
if (!origin) throw new Error('the relay printed no address');

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  ignoreDefaultArgs: ['--mute-audio'],
  args: ['--no-sandbox', '--disable-gpu', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
    '--ignore-certificate-errors', '--autoplay-policy=no-user-gesture-required',
    '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows'],
});
const link = execFileSync(BIN, ['link', '--relay', origin], { encoding: 'utf8' }).trim();
const tabs = [];
for (const name of ['Ann', 'Ben', 'Cat']) {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await ctx.newPage();
  await page.goto(`${link}&name=${name}&autojoin=1`);
  tabs.push({ name, page });
  // One at a time, as people do: each joiner is admitted by a member.
  for (let i = 0; i < 200; i++) {
    if (await page.evaluate(() => window.conclave.e2ee())) break;
    await sleep(100);
  }
}
await sleep(CALL_S * 1000);

console.log(`three-person call, ${CALL_S} s after the last join (${await browser.version()})\n`);
console.log('link opened → first decrypted remote video frame (page milestones, ms since the link was opened):');
for (const t of tabs.slice(1)) console.log(`  ${t.name}: ${JSON.stringify(await t.page.evaluate(() => window.conclave.timeline()))}`);
console.log('\nworker time inside SFrame (performance.now around each call):');
for (const t of tabs) {
  const st = await t.page.evaluate(() => window.conclave.transformStats());
  const row = (what, ms, n, bytes) => `${what} ${(ms / Math.max(1, n)).toFixed(3)} ms/frame over ${n} frames (${(bytes / Math.max(1, n)).toFixed(0)} B avg)`;
  console.log(`  ${t.name}: ${row('encrypt video', st.encryptMs.video, st.encrypted.video, st.encryptBytes.video)}, ${row('audio', st.encryptMs.audio, st.encrypted.audio, st.encryptBytes.audio)};`
    + ` ${row('decrypt video', st.decryptMs.video, st.decrypted.video, st.decryptBytes.video)}, ${row('audio', st.decryptMs.audio, st.decrypted.audio, st.decryptBytes.audio)}; failed ${JSON.stringify(st.failed)}`);
  const secs = (Date.now() - st.keysAt) / 1000;
  const share = (ms) => `${((100 * ms) / 1000 / secs).toFixed(2)}%`;
  console.log(`        as a share of one core: encrypt video ${share(st.encryptMs.video)}, audio ${share(st.encryptMs.audio)}; decrypt (2 streams each) video ${share(st.decryptMs.video)}, audio ${share(st.decryptMs.audio)}`);
}
const codes = await Promise.all(tabs.map((t) => t.page.evaluate(() => window.conclave.safetyCode())));
console.log(`\nsafety codes: ${codes.join(' | ')}`);
const wasm = path.join(ROOT, 'crates/web/assets/conclave_wasm_bg.wasm');
console.log(`wasm bundle: ${statSync(wasm).size} B (${gzipSync(readFileSync(wasm), { level: 9 }).length} B gzipped), glue ${statSync(path.join(ROOT, 'crates/web/assets/conclave_wasm.js')).size} B`);

await browser.close();
relay.kill('SIGTERM');
await new Promise((r) => relay.on('exit', r));

const kinds = {};
const mls = {};
for (const line of readFileSync(path.join(dir, 'signaling.jsonl'), 'utf8').split('\n')) {
  if (!line) continue;
  const rec = JSON.parse(line);
  const m = JSON.parse(rec.text);
  kinds[`${rec.dir} ${m.type}`] = (kinds[`${rec.dir} ${m.type}`] || 0) + 1;
  if (m.type === 'mls') {
    const b = Buffer.from(m.data, 'base64');
    const k = `${rec.dir} ${MLS_KINDS[b[1]] || b[1]}`;
    mls[k] ??= { n: 0, bytes: 0 };
    mls[k].n++;
    mls[k].bytes += b.length;
  }
}
const pcap = readFileSync(path.join(dir, 'media.pcap'));
const streams = new Map();
let packets = 0;
for (let off = 24; off + 16 <= pcap.length;) {
  const len = pcap.readUInt32LE(off + 8);
  const rtp = pcap.subarray(off + 16 + 28, off + 16 + len);
  off += 16 + len;
  packets++;
  const key = rtp.readUInt32BE(8);
  const s = streams.get(key) || { pt: rtp[1] & 0x7f, n: 0, bytes: 0, sizes: new Set() };
  s.n++;
  s.bytes += rtp.length - 12;
  s.sizes.add(rtp.length - 12);
  streams.set(key, s);
}
console.log('\ninsider view (what the operator can see):');
console.log(`  signaling.jsonl: ${Object.entries(kinds).map(([k, n]) => `${k} ×${n}`).join(', ')}`);
console.log(`  MLS envelopes (clear kind and epoch, opaque MLS inside): ${Object.entries(mls).map(([k, v]) => `${k} ×${v.n} (${(v.bytes / v.n).toFixed(0)} B avg)`).join(', ')}`);
console.log(`  media.pcap: ${packets} RTP packets, ${pcap.length} B`);
for (const [ssrc, s] of streams) {
  console.log(`    ssrc ${ssrc.toString(16)} pt ${s.pt}: ${s.n} packets, ${(s.bytes / s.n).toFixed(0)} B avg payload, ${s.sizes.size} distinct sizes`);
}
rmSync(dir, { recursive: true, force: true });
