// A viewer on a slow link (issue 12 §3 and §6): Pia publishes her camera
// in three simulcast layers (a 960×540 camera at 20 frames/s: 240, 480 and
// 960 wide);
// Ana watches on a clean link; Ben's Chromium sits in a network namespace
// (netns.mjs) whose downlink is then limited to 400 kbit/s by `tc tbf`,
// with 2 % of his media datagrams lost each way by the proxy (impair.mjs).
// The relay must notice from Ben's congestion feedback that the top layer
// (up to 1.5 Mbit/s) no longer fits and forward him a lower one:
//
// - constrained: within 20 s of the limit Ben decodes Pia narrower than her
//   top layer, keeps decoding with few freezes, and Ana keeps the top layer;
// - recovery: once the limit is lifted (and the loss), Ben is back on the
//   top layer within 30 s.
//
// Widths, frames and freezes come from each viewer's own getStats
// (`frameWidth`, `framesDecoded`, `freezeCount`, `totalFreezesDuration`);
// bitrates from the proxy's byte counts and the tbf qdisc's counters. The
// step results print them per phase, with the relay's `conclave_bwe*` and
// `conclave_layer*` metrics when it has any.
//
// The limit is applied only once both viewers decode Pia's top layer, not
// from the start: so the suite proves the relay moves a live subscriber
// down from a layer it was forwarding (a phone leaving Wi-Fi) and back up,
// with a defined start for "within 20 s"; joining (page, MLS admission,
// ICE and DTLS over a 400 kbit/s link) is not what is measured here.
//
// Local stand-ins, since this suite owns no page or harness code:
// - the cameras: Y4M files the suite writes (no ffmpeg on these machines),
//   given to Chromiums launched here with `--use-file-for-fake-video-capture`
//   (harness launchBrowser takes no extra flags): Pia's 960×540 at 20
//   frames/s (see CAMERA), the
//   viewers' 160×120 (one small layer: the two cores go to Pia's encoder
//   and the decoders of her video, not to cameras nobody looks at);
// - the viewers' pages see devicePixelRatio 2 (openTabAs: an init script, as
//   a HiDPI screen reports), so that their tiles (about 380 CSS px, a third
//   of the page's 1200 px column) count 760 device pixels and the page asks
//   the relay for no width limit (simulcast.js widthFor); at ratio 1 it asks
//   for 640 and gets the middle layer whatever the link. Emulating the
//   ratio (Playwright deviceScaleFactor) would also render everything at
//   twice the size, which costs the two cores and changes nothing here;
// - Ana and Ben turn their cameras off (window.conclave.toggleVideo): they
//   are viewers, and Ben's 400 kbit/s should carry Pia's video and the
//   call's audio;
// - the pages' peer connections are kept in `window.czPeerConnections`
//   (openTabAs) to read what window.conclave.rtpStats leaves out: why Pia's
//   encoder holds a layer back, her browser's outgoing bandwidth estimate.
//
// The relay runs with `--congestion-control true`.
//
// Needs root (ip netns, veth, tc).

import { chromium } from 'playwright-core';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CHROMIUM, TestFailure, check, cliLink, hook, httpsGet, log, main, registerBrowser, relay,
  secs, sleep, startRelay, step, t0, tabs, waitFor, waitJoined,
} from './harness.mjs';
import { ADVERTISED, DIRECT, impairedHost } from './netns.mjs';

/**
 * Pia's camera. 960×540 is the smallest Chromium sends three layers of
 * (simulcast.js); 20 frames/s. At 1280×720 and 30 frames/s her encoder and
 * the viewers' decoders took both cores of a CI machine (load average 7-8,
 * no idle time, a debug relay at 18 %), and every stall of a process there
 * looked like a queue on the path: Pia's own congestion control switched
 * her top layer off ("bandwidth") on a loopback link, and the relay's
 * estimate of Ana's moved her down — the suite then measured the machine,
 * not the relay. The layers' caps (150/500/1500 kbit/s) stay as they are:
 * the camera's noise fills them at this size too, and only the lowest fits
 * Ben's 400 kbit/s.
 */
const CAMERA = { width: 960, height: 540, fps: 20 };
const RATE_KBIT = 400;
const LOSS = 0.02;
/** The issue's bounds: a lower layer within 20 s, the top one back within 30 s. */
const DOWN_WITHIN_S = 20;
const UP_WITHIN_S = 30;
/** How long Ben's decoding is measured on the lower layer, once adapted. */
const WINDOW_S = 15;
const SAMPLE_MS = 500;
/**
 * "Adapted": Ben decodes a layer below the top one, and over the last 2 s at
 * least the frame rate `minFps` asks. The time from the limit to that is the
 * time to adapt (reported; bounded by DOWN_WITHIN_S). It includes the
 * switch's freeze: the top layer flooded the 300 ms queue until the relay's
 * estimate fell, and the lower layer's key frame has to get through it
 * (2-6 s of frozen picture here; the relay stops the old layer at once when
 * its estimate moves a viewer down, so the queue drains while it waits).
 *
 * Freezes Ben may have in the window after that. Chromium counts a freeze
 * when a frame comes more than max(3 × the mean frame interval, mean +
 * 150 ms) after the one before (200 ms at 20 frames/s). Ben's picture
 * may stop now and then even when the relay does its job: a retransmission
 * of one of the 2 % lost packets waits behind up to 300 ms of queue (the
 * tbf latency). The lower layer is ~15 packets/s, so about one packet in
 * 3 s is lost on the way to Ben (and his NACK or its answer may be lost
 * too): runs here had 0-4 short freezes (0.3 s each) in 15 s. Up to 6
 * freezes (one per 2.5 s) and 15 % of the window frozen is a picture that
 * moves with a hiccup; more is the stutter a 400 kbit/s viewer of an
 * oversized layer sees, which is what congestion control is for. Freezes
 * say nothing when no frame comes at all (a freeze is counted when the late
 * frame arrives), so frames per second are checked too.
 */
const MAX_FREEZES = 6;
const MAX_FROZEN_S = WINDOW_S * 0.15;
/**
 * Frames per second Ben must decode: the camera sends 30. On two shared
 * cores the machine itself may slow every decoder, so the bound follows
 * what Ana (clean link, same machine) decodes: half her rate, at most 10
 * (a third of the source: motion, not a slideshow), never below 5.
 */
const minFps = (anaFps) => Math.max(5, Math.min(10, anaFps / 2));

const dir = mkdtempSync(path.join(os.tmpdir(), 'conclave-constrained-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/**
 * Writes a Y4M camera (4:2:0) of `frames` frames that Chromium loops: a
 * scrolling texture of 16×16 blocks with new noise in every frame, as a
 * camera's sensor makes. The noise cannot be predicted from the previous
 * frame, so the encoder fills each layer's bitrate cap (simulcast.js: 150,
 * 500 and 1500 kbit/s) as a real camera does, instead of sending a static
 * picture in a few kbit/s that would fit any link.
 */
function writeCamera(file, { width, height, fps = 30, frames = 60 }) {
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, `YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg\n`);
    const ySize = width * height;
    const [cw, ch] = [width / 2, height / 2];
    const frame = Buffer.alloc(ySize + 2 * cw * ch);
    let r = 0x9e3779b9; // xorshift32: the same file every run
    const rand = () => { r ^= r << 13; r ^= r >>> 17; r ^= r << 5; return r >>> 0; };
    const bw = width / 16 + 1;
    const blocks = new Uint8Array(bw * (height / 16 + 1));
    for (let i = 0; i < blocks.length; i++) blocks[i] = 40 + (rand() % 176);
    for (let f = 0; f < frames; f++) {
      const shift = Math.floor(f * 2.5);
      for (let y = 0; y < height; y++) {
        const by = (y >> 4) * bw;
        for (let x = 0; x < width; x++) {
          const xs = (x + shift) % width;
          const v = blocks[by + (xs >> 4)] + ((xs * 3 + y) & 31) + (rand() & 7) - 4;
          frame[y * width + x] = v < 16 ? 16 : v > 235 ? 235 : v;
        }
      }
      for (let y = 0; y < ch; y++) {
        for (let x = 0; x < cw; x++) {
          frame[ySize + y * cw + x] = 112 + (((x + f) >> 3) & 31);
          frame[ySize + cw * ch + y * cw + x] = 112 + (((y + f) >> 3) & 31);
        }
      }
      writeSync(fd, 'FRAME\n');
      writeSync(fd, frame);
    }
  } finally {
    closeSync(fd);
  }
}

/** Chromium with harness.mjs's flags and `camera` as its fake camera
 * (harness launchBrowser takes no extra flags); `executablePath` as there
 * (netns.mjs's wrapper runs it in the namespace). Closed by the harness's cleanup. */
async function launchWithCamera(camera, executablePath = CHROMIUM) {
  const launched = await chromium.launch({
    executablePath,
    headless: !process.env.CONCLAVE_BROWSER_HEADFUL,
    ignoreDefaultArgs: ['--mute-audio'],
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection', '--ignore-certificate-errors',
      '--autoplay-policy=no-user-gesture-required', '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows',
      `--use-file-for-fake-video-capture=${camera}`,
    ],
  });
  registerBrowser(launched);
  return launched;
}

/**
 * harness openTab, in a context of our own whose pages report
 * devicePixelRatio `ratio` and keep their peer connections in
 * `window.czPeerConnections` (see the top).
 */
async function openTabAs(label, fragment, base, on, ratio) {
  const context = await on.newContext({ ignoreHTTPSErrors: true, viewport: { width: 800, height: 600 } });
  await context.addInitScript((r) => {
    Object.defineProperty(window, 'devicePixelRatio', { get: () => r, configurable: true });
    const Original = window.RTCPeerConnection;
    window.czPeerConnections = [];
    window.RTCPeerConnection = class extends Original {
      constructor(...args) {
        super(...args);
        window.czPeerConnections.push(this);
      }
    };
  }, ratio);
  const page = await context.newPage();
  const tab = { label, context, page, console: [], me: null, name: null, openedAt: Date.now() };
  page.on('console', (m) => {
    tab.console.push(`${secs(Date.now() - t0)}s ${m.type()}: ${m.text()}`);
    if (tab.console.length > 200) tab.console.shift();
  });
  page.on('pageerror', (e) => tab.console.push(`${secs(Date.now() - t0)}s pageerror: ${e.message}`));
  tab.url = new URL(`/${fragment}`, base).href;
  tab.response = await page.goto(tab.url);
  tabs.push(tab);
  return tab;
}

/** What a tab's browser sends of its camera, per layer, and its outgoing
 * bandwidth estimate (from its peer connections' getStats). */
async function senderStats(tab) {
  return hook(tab, async () => {
    const out = { layers: [], availableOutgoingKbit: null };
    for (const pc of window.czPeerConnections || []) {
      if (pc.connectionState === 'closed') continue;
      for (const r of (await pc.getStats()).values()) {
        if (r.type === 'outbound-rtp' && r.kind === 'video') {
          out.layers.push({
            rid: r.rid, width: r.frameWidth, fps: r.framesPerSecond, targetKbit: Math.round((r.targetBitrate || 0) / 1000),
            limited: r.qualityLimitationReason, active: r.active, bytes: r.bytesSent,
          });
        }
        if (r.type === 'candidate-pair' && r.nominated && r.availableOutgoingBitrate) {
          out.availableOutgoingKbit = Math.round(r.availableOutgoingBitrate / 1000);
        }
      }
    }
    out.layers.sort((a, b) => (a.width || 0) - (b.width || 0));
    return out;
  });
}

const sum = (rows, k) => rows.reduce((n, r) => n + (r[k] || 0), 0);

/** What `tab` decodes of `from`'s video: width, frames, bytes, and the
 * freezes of the receiver it is shown from (rtpStats, by its m-line). */
async function viewOf(tab, from) {
  const rows = await hook(tab, () => window.conclave.stats());
  const v = rows.find((r) => r.participant === from.me)?.video;
  if (!v) return { width: 0, frames: 0, bytes: 0, lost: 0, freezes: 0, frozenS: 0, pauses: 0 };
  const mine = (await hook(tab, () => window.conclave.rtpStats())).inbound.filter((r) => r.mid === v.mid);
  return {
    width: v.frameWidth || 0,
    frames: v.framesDecoded || 0,
    bytes: v.bytesReceived || 0,
    lost: v.packetsLost || 0,
    freezes: sum(mine, 'freezeCount'),
    frozenS: sum(mine, 'totalFreezesDuration'),
    pauses: sum(mine, 'pauseCount'),
  };
}

/** Pia's layers as she sends them: [{rid, width, frames, bytes}], lowest first. */
async function layersOf(tab) {
  const out = (await hook(tab, () => window.conclave.rtpStats())).outbound;
  return out.filter((o) => o.rid && (o.framesEncoded || 0) > 0)
    .map((o) => ({ rid: o.rid, width: o.frameWidth || 0, frames: o.framesEncoded || 0, target: o.targetBitrate || 0 }))
    .sort((a, b) => a.width - b.width);
}

/** The relay's congestion-control and layer metrics, if it has any. */
async function bweMetrics() {
  try {
    const res = await httpsGet(new URL('/metrics', relay.url));
    const lines = res.body.split('\n').filter((l) => /^conclave_(bwe|layer)/.test(l));
    return lines.length ? lines.join('; ') : 'no conclave_bwe*/conclave_layer* metrics';
  } catch (e) {
    return `/metrics: ${e.message}`;
  }
}

async function scenario() {
  let host;
  let pia;
  let ana;
  let ben;
  await step(`a namespace for Ben, relay, a ${CAMERA.width}×${CAMERA.height} camera for Pia, three Chromiums`, async () => {
    const camera = path.join(dir, `camera-${CAMERA.width}x${CAMERA.height}.y4m`);
    const small = path.join(dir, 'camera-160x120.y4m');
    writeCamera(camera, CAMERA);
    writeCamera(small, { width: 160, height: 120, frames: 30 });
    host = impairedHost('constrained');
    await startRelay({ listen: '0.0.0.0:0', args: ['--public-ip', ADVERTISED, '--congestion-control', 'true'] });
    await host.startProxy(Number(relay.url.port), { loss: 0, seed: 6 });
    const anaBrowser = await launchWithCamera(small);
    const benBrowser = await launchWithCamera(small, host.chromium);
    const piaBrowser = await launchWithCamera(camera);
    const link = cliLink();
    const direct = new URL(relay.url);
    direct.hostname = DIRECT;
    pia = await openTabAs('Pia', `#${link.secret}&name=Pia&autojoin=1`, relay.url, piaBrowser, 1);
    await waitJoined([pia], 30);
    ana = await openTabAs('Ana', `#${link.secret}&name=Ana&autojoin=1`, relay.url, anaBrowser, 2);
    ben = await openTabAs('Ben', `#${link.secret}&name=Ben&autojoin=1`, direct, benBrowser, 2);
    return `${host.ns}: Ben's media to ${ADVERTISED}:${relay.url.port} through the proxy, his page from ${DIRECT}`;
  });

  let top = 0;
  let layers = [];
  let before = null;
  await step('Pia, Ana and Ben join; Pia sends three layers; Ana and Ben decode her top one', async () => {
    await waitJoined([ana, ben], 45);
    for (const t of [pia, ana, ben]) t.me = await hook(t, () => window.conclave.me);
    for (const t of [ana, ben]) await hook(t, () => window.conclave.toggleVideo());
    // Her encoder starts low and adds layers as its own estimate grows
    // (the top one comes last, and may come and go for a few seconds).
    await waitFor(`Pia sends three layers, the top one ${CAMERA.width} wide`, 60, async () => {
      layers = await layersOf(pia);
      if (process.env.CZ_DEBUG) log(JSON.stringify(await senderStats(pia)));
      return layers.length >= 3 && layers[layers.length - 1].width >= CAMERA.width ? true : `active layers ${JSON.stringify(layers)}`;
    });
    top = layers[layers.length - 1].width;
    check(top >= CAMERA.width, `Pia's top layer is ${top} wide; her camera is ${CAMERA.width}×${CAMERA.height} (${JSON.stringify(layers)})`);
    await waitFor('Ana and Ben decode Pia at her top layer', 45, async () => {
      const [a, b] = [await viewOf(ana, pia), await viewOf(ben, pia)];
      if (process.env.CZ_DEBUG) log(`Ana ${a.width} Ben ${b.width} ${JSON.stringify(await senderStats(pia))}`);
      if (a.width === top && b.width === top && b.frames > 30) return true;
      const told = { ana: await hook(ana, () => window.conclave.videoWidths()), ben: await hook(ben, () => window.conclave.videoWidths()) };
      return `Ana ${a.width} wide (${a.frames} frames), Ben ${b.width} wide (${b.frames} frames), top ${top}; `
        + `widths told to the relay ${JSON.stringify(told)}; Pia sends ${JSON.stringify(await senderStats(pia))}`;
    });
    check(host.counts && host.counts.down.in > 100, `the proxy saw ${JSON.stringify(host.counts)}: Ben's media does not pass it`);
    // Ben unconstrained, for comparison with what follows.
    const s0 = await sample();
    await sleep(5000);
    const s1 = await sample();
    before = rates(s0, s1);
    return `Pia's layers ${layers.map((l) => `${l.rid} ${l.width}`).join(', ')}; unconstrained for ${before.seconds.toFixed(1)} s: `
      + `Ben ${s1.ben.width} wide at ${before.ben.fps.toFixed(1)} frames/s, ${before.ben.kbit.toFixed(0)} kbit/s of Pia's video, `
      + `proxy to Ben ${before.proxyKbit.toFixed(0)} kbit/s; Ana ${s1.ana.width} wide at ${before.ana.fps.toFixed(1)} frames/s`;
  });

  /** One look at everything: both viewers' view of Pia, what Pia's
   * encoder makes of her top layer, the proxy, the qdisc. */
  async function sample() {
    const [b, a] = [await viewOf(ben, pia), await viewOf(ana, pia)];
    const topRid = layers[layers.length - 1].rid;
    const out = (await hook(pia, () => window.conclave.rtpStats())).outbound.find((o) => o.rid === topRid) || {};
    const r = {
      at: Date.now(), ben: b, ana: a,
      piaTop: { frames: out.framesEncoded || 0, width: out.frameWidth || 0, reason: out.qualityLimitationReason || '' },
      proxy: { ...JSON.parse(JSON.stringify(host.counts)), at: host.countsAt },
      qdisc: host.downlinkQdisc(),
    };
    if (process.env.CZ_DEBUG) log(`sample: Ana ${r.ana.width} Ben ${r.ben.width} Pia top ${JSON.stringify(r.piaTop)}`);
    return r;
  }

  /** Rates between two samples. `proxyKbit`: UDP payload that reached the
   * proxy from the relay, `deliveredKbit`: what it passed on after its loss
   * (into the tbf, which comes after it), both over the time between the
   * proxy's count lines (about one a second); the tbf line counts what left
   * the limit for Ben, 42 bytes more per packet (Ethernet, IP, UDP). */
  function rates(s0, s1) {
    const seconds = (s1.at - s0.at) / 1000;
    const proxySeconds = Math.max(1, (s1.proxy.at - s0.proxy.at) / 1000);
    const per = (a, b) => ({
      fps: (b.frames - a.frames) / seconds,
      kbit: ((b.bytes - a.bytes) * 8) / seconds / 1000,
      freezes: b.freezes - a.freezes,
      frozenS: b.frozenS - a.frozenS,
      pauses: b.pauses - a.pauses,
      lost: b.lost - a.lost,
    });
    const down = (s) => s.proxy.down;
    const q = s1.qdisc && s0.qdisc && s1.qdisc.kind === 'tbf' && s0.qdisc.kind === 'tbf'
      ? { kbit: ((s1.qdisc.bytes - s0.qdisc.bytes) * 8) / seconds / 1000, drops: s1.qdisc.drops - s0.qdisc.drops, packets: s1.qdisc.packets - s0.qdisc.packets }
      : null;
    return {
      seconds,
      ben: per(s0.ben, s1.ben),
      ana: per(s0.ana, s1.ana),
      proxyKbit: ((down(s1).bytes - down(s0).bytes) * 8) / proxySeconds / 1000,
      deliveredKbit: (((down(s1).bytes - down(s1).bytesDropped) - (down(s0).bytes - down(s0).bytesDropped)) * 8) / proxySeconds / 1000,
      proxyDropped: down(s1).dropped - down(s0).dropped,
      tbf: q,
    };
  }

  /**
   * When Pia's own encoder did not send her top layer: the sample intervals
   * in which it encoded under half the camera's frame rate, or encoded it
   * narrower than `top` wide. Chromium drops or
   * shrinks a publisher's top layer when her machine runs short of CPU
   * (qualityLimitationReason "cpu") or her uplink of bandwidth; the relay
   * then moves every viewer of that layer down (layers.rs LAYER_IDLE: no
   * packet for 0.6 s) and back at its next key frame. Not the viewers'
   * congestion control, which is what Ana's check is about.
   */
  const topGaps = (samples) => {
    const steps = samples.slice(1).map((s, i) => ({
      from: samples[i].at, to: s.at, s,
      fps: (s.piaTop.frames - samples[i].piaTop.frames) / ((s.at - samples[i].at) / 1000),
    }));
    return steps.filter((x) => x.fps < CAMERA.fps / 2 || (x.s.piaTop.width > 0 && x.s.piaTop.width < top));
  };
  /** "sent throughout", or when it was not (see topGaps). */
  const topGapsText = (samples, from) => {
    const gaps = topGaps(samples);
    if (!gaps.length) return 'sent throughout';
    return `held back by her encoder ${gaps.map((g) => `${secs(g.from - from)}-${secs(g.to - from)}s `
      + `(${g.fps.toFixed(0)} of ${CAMERA.fps} frames/s, ${g.s.piaTop.width} wide${g.s.piaTop.reason ? `, ${g.s.piaTop.reason}` : ''})`).join(', ')}`;
  };
  /** Ana's samples below `top` not explained by Pia holding her top layer
   * back: within TOP_RETURN_S after a gap the relay still waits for the top
   * layer's key frame (asked at once; a loaded machine takes a while). */
  const TOP_RETURN_S = 3;
  const anaOffTop = (samples) => {
    const gaps = topGaps(samples);
    return samples.filter((s) => s.ana.width > 0 && s.ana.width !== top
      && !gaps.some((g) => s.at >= g.from && s.at <= g.to + TOP_RETURN_S * 1000));
  };

  /** "0.0s 960 → 6.5s 240": when Ben's decoded width changed. */
  const widthsOverTime = (samples, from) => samples
    .filter((s, i) => i === 0 || s.ben.width !== samples[i - 1].ben.width)
    .map((s) => `${secs(s.at - from)}s ${s.ben.width}`).join(' → ');
  /** Ben's frames/s in steps of about 2 s. */
  const fpsOverTime = (samples) => {
    const out = [];
    let from = samples[0];
    for (const s of samples) {
      if (s.at - from.at < 2000) continue;
      out.push(Math.round((s.ben.frames - from.ben.frames) / ((s.at - from.at) / 1000)));
      from = s;
    }
    return out.join(' ');
  };
  const fmtRates = (r) => `Ben ${r.ben.fps.toFixed(1)} frames/s, ${r.ben.freezes} freezes (${r.ben.frozenS.toFixed(2)} s frozen), `
    + `${r.ben.pauses} pauses, ${r.ben.lost} packets lost, ${r.ben.kbit.toFixed(0)} kbit/s of Pia's video; `
    + `proxy: ${r.proxyKbit.toFixed(0)} kbit/s from the relay, ${r.deliveredKbit.toFixed(0)} kbit/s on (${r.proxyDropped} datagrams lost)`
    + `${r.tbf ? `; the limit passed ${r.tbf.kbit.toFixed(0)} kbit/s to Ben (${r.tbf.packets} packets), dropped ${r.tbf.drops}` : ''}; `
    + `Ana ${r.ana.fps.toFixed(1)} frames/s, ${r.ana.freezes} freezes`;

  await step(`Ben's downlink limited to ${RATE_KBIT} kbit/s with ${LOSS * 100} % loss: within ${DOWN_WITHIN_S} s he decodes a lower layer, `
    + 'keeps decoding with few freezes; Ana keeps the top layer', async () => {
    host.limitDownlink({ rate: `${RATE_KBIT}kbit` });
    host.impair({ loss: LOSS });
    const limitedAt = Date.now();
    const samples = [await sample()];
    let downAt = null;
    let adaptedAt = null;
    let need = 5;
    while (Date.now() - limitedAt < DOWN_WITHIN_S * 1000) {
      await sleep(SAMPLE_MS);
      const s = await sample();
      samples.push(s);
      const lower = s.ben.width > 0 && s.ben.width < top;
      if (lower && !downAt) downAt = s.at;
      // Adapted: on a lower layer, decoding steadily over the last 2 s.
      const back = samples.findLast((x) => s.at - x.at >= 2000);
      if (lower && back) {
        const seconds = (s.at - back.at) / 1000;
        need = minFps((s.ana.frames - back.ana.frames) / seconds);
        if ((s.ben.frames - back.ben.frames) / seconds >= need) { adaptedAt = s.at; break; }
      }
    }
    // Measured whether or not he adapted: the figures are the point when he did not.
    const w0 = samples[samples.length - 1];
    const windowStart = samples.length - 1;
    const transition = rates(samples[0], w0);
    while (Date.now() - w0.at < WINDOW_S * 1000) {
      await sleep(SAMPLE_MS);
      samples.push(await sample());
    }
    const w1 = samples[samples.length - 1];
    const r = rates(w0, w1);
    const inWindow = samples.slice(windowStart);
    const benWidths = [...new Set(inWindow.map((s) => s.ben.width))];
    const anaWidths = [...new Set(samples.map((s) => s.ana.width))];
    const piaNow = await layersOf(pia);
    const bwe = await bweMetrics();
    const switched = downAt ? `${secs(downAt - limitedAt)} s` : `not within ${DOWN_WITHIN_S} s`;
    const adapted = adaptedAt ? `${secs(adaptedAt - limitedAt)} s (${transition.ben.frozenS.toFixed(2)} s frozen till then)` : `not within ${DOWN_WITHIN_S} s`;
    const observed = `Ben decoded Pia ${widthsOverTime(samples, limitedAt)} (top ${top}); switched down: ${switched}; `
      + `decoding steadily: ${adapted}; frames/s per 2 s: ${fpsOverTime(samples)}; `
      + `over the ${r.seconds.toFixed(1)} s window after that: ${fmtRates(r)}; `
      + `Ana's widths ${anaWidths.join(', ')}; Pia's top layer ${topGapsText(samples, limitedAt)}; Pia sends ${piaNow.map((l) => `${l.rid} ${l.width}`).join(', ')}; relay: ${bwe}`;
    log(`constrained: ${observed}`);

    // The rig first: without a working limit the rest means nothing.
    check(r.tbf && r.tbf.packets > 0, `the tbf limit is not on Ben's path (qdisc ${JSON.stringify(w1.qdisc)}); ${observed}`);
    check(r.tbf.kbit <= RATE_KBIT * 1.1, `the ${RATE_KBIT} kbit/s limit passed ${r.tbf.kbit.toFixed(0)} kbit/s to Ben; ${observed}`);

    need = minFps(r.ana.fps);
    const problems = [];
    if (!downAt) problems.push(`Ben still decoded Pia ${w0.ben.width} wide ${DOWN_WITHIN_S} s after his link was limited (top ${top})`);
    else if (!adaptedAt) problems.push(`Ben did not decode a lower layer steadily within ${DOWN_WITHIN_S} s of the limit`);
    else if (!(w1.ben.width > 0 && w1.ben.width < top)) problems.push(`Ben went back to ${w1.ben.width} wide during the window (widths ${benWidths.join(', ')})`);
    if (r.ben.fps < need) problems.push(`Ben decoded ${r.ben.fps.toFixed(1)} frames/s (need ${need.toFixed(1)}: half of Ana's ${r.ana.fps.toFixed(1)}, 5 to 10)`);
    if (r.ben.freezes > MAX_FREEZES || r.ben.frozenS > MAX_FROZEN_S) {
      problems.push(`Ben froze ${r.ben.freezes} times for ${r.ben.frozenS.toFixed(2)} s of ${r.seconds.toFixed(1)} s (at most ${MAX_FREEZES} and ${MAX_FROZEN_S.toFixed(1)} s)`);
    }
    const anaBelow = anaOffTop(samples);
    if (anaBelow.length) {
      problems.push(`Ana decoded Pia narrower than her top layer ${top} while Pia sent it: ${anaBelow.map((s) => `${secs(s.at - limitedAt)}s ${s.ana.width}`).join(', ')}`);
    }
    if (problems.length) throw new TestFailure(`${problems.join('; ')}. Observed: ${observed}`);
    return observed;
  });

  await step(`the limit and the loss lifted: Ben is back on the top layer within ${UP_WITHIN_S} s`, async () => {
    host.unlimitDownlink();
    host.impair({ loss: 0 });
    const liftedAt = Date.now();
    const lifted = host.downlinkQdisc();
    check(lifted.rateKbit >= 1e6, `Ben's link is still limited after the limit was lifted: ${JSON.stringify(lifted)}`);
    const samples = [await sample()];
    // Back on top = decoding the top layer steadily: at least the frame rate
    // `minFps` asks over the last 2 s. (The first top frame alone is not
    // enough: in 2 of 8 runs here Ben's picture froze for a few seconds
    // right after the switch up, then went on; see issue 12's notes.)
    let firstTopAt = null;
    let upAt = null;
    while (Date.now() - liftedAt < UP_WITHIN_S * 1000) {
      await sleep(SAMPLE_MS);
      const s = await sample();
      samples.push(s);
      const prev = samples[samples.length - 2];
      if (s.ben.width === top && s.ben.frames > prev.ben.frames && !firstTopAt) firstTopAt = s.at;
      const back = samples.findLast((x) => s.at - x.at >= 2000);
      if (s.ben.width === top && back) {
        const seconds = (s.at - back.at) / 1000;
        const need = minFps((s.ana.frames - back.ana.frames) / seconds);
        if ((s.ben.frames - back.ben.frames) / seconds >= need) { upAt = s.at; break; }
      }
    }
    const last = samples[samples.length - 1];
    const seen = `${widthsOverTime(samples, liftedAt)}; frames/s per 2 s ${fpsOverTime(samples)}; `
      + `Ana's widths ${[...new Set(samples.map((x) => x.ana.width))].join(', ')}; Pia's top layer ${topGapsText(samples, liftedAt)}`;
    if (!upAt) {
      throw new TestFailure(`Ben did not decode Pia's top layer (${top}) steadily within ${UP_WITHIN_S} s of the limit being lifted: `
        + `${seen}; ${fmtRates(rates(samples[0], last))}; relay: ${await bweMetrics()}`);
    }
    return `Ben ${seen} (first top frame after ${secs(firstTopAt - liftedAt)} s, steadily on top after ${secs(upAt - liftedAt)} s); `
      + `relay: ${await bweMetrics()}`;
  });
}

main(scenario, { label: 'suite-constrained', timeoutS: 300 });
