// Conclave's media worker: end-to-end encryption of every frame this tab sends
// and receives (docs/design.md §4 step 3), with the same Rust code as every other
// client (crates/wasm, its own wasm instance in this worker).
//
// The page installs an RTCRtpScriptTransform on every sender (when the
// transceiver is created) and every receiver; each lands here as an
// `rtctransform` event. Senders SFrame-encrypt (VP8 keeps its 10-byte key-frame
// / 1-byte delta-frame header in clear for the packetizer, authenticated; Opus
// keeps nothing); receivers authenticate and decrypt, and drop anything that
// fails: there is no plaintext pass-through, before keys or after.
//
// A sender's options say which of our streams it carries: `context` 0
// (camera and microphone, one key and counter) or 1 (the screen share, its
// own key and counter: the SFrame KID's context, crates/e2ee media). A
// receiver learns whose stream a frame is, leaf and context, only from the
// key that decrypted it (`rx[id].sender`, `rx[id].context`), never from
// the relay.
//
// Messages from the page:
//   {type:'epoch', bytes, switchAfterMs, ownLeaf}
//                           this epoch's SFrame keys (Call.mediaEpoch()) and
//                           our own MLS leaf (frames that decrypt under our
//                           own key came back from the relay: dropped and
//                           counted as `reflected`):
//                           receivers take them now and keep the previous
//                           epoch for 10 s; the sender switches after
//                           `switchAfterMs` (so members still applying the
//                           commit do not drop our frames; 0 after a removal)
//                           and then sends a key frame under the new key
//   {type:'stop'}           forget every key (left the call)
//   {type:'debug'}          keep a sample of plaintext frames for the tests
//                           (only with `&debug=1` in the link; off by default)
//   {type:'stats', id}      reply {type:'stats', id, stats}
//   {type:'samples', id}    reply {type:'samples', id, samples}
// Messages to the page:
//   {type:'rx', rx: {<receiver id>: {kind, ok, failed, lastError, lastFailAt, sender, context, epoch, lastOkAt,
//                                    reflected, forged, replayed, duplicate, early, lateEpoch}},
//    senders: {<leaf>: {audio, video, screen}}, dropped: {forged, replayed, reflected, duplicate, early, lateEpoch}}
//                           per-receiver status, at most twice a second:
//                           `sender` is the MLS leaf whose key decrypted the
//                           last frame, which is who sent it, and `context`
//                           which of its streams (0 camera and microphone,
//                           1 screen) (the page shows the track under that
//                           member, whatever the relay says), `lastOkAt`
//                           when (Date.now()); `senders` when (Date.now()) a
//                           frame of each kind (camera video and screen
//                           apart) last decrypted under each leaf's key, on
//                           any receiver (the page's media-gap check,
//                           gaps.js); `dropped` the totals of the drop causes
//                           below, both kinds
//   {type:'ready'} / {type:'error', message}
//
// Every dropped received frame is counted under one cause (per receiver, and
// per kind in `stats`; drops.js decides); `failed` is the sum of all but
// `reflected`:
//   forged     no member made it: authentication failed, malformed or
//              plaintext, bad SFrame header, a sender that is not a member,
//              or a key id naming an epoch we never had nor are about to have
//   replayed   a frame counter already received, or older than the window,
//              in an RTP frame (timestamp) this receiver has not decrypted
//              before (an old frame re-sent as a new one), while more than 1
//              in 8 of the receiver's last 128 frames are such replays
//   duplicate  the same, but a frame delivered twice or only now and then:
//              honest relays cause these under load; still dropped
//   reflected  it decrypted under our own key: the relay sent it back to us
//   early      we had no keys yet (still joining)
//   lateEpoch  an epoch we just left or are about to enter: honest senders
//              race key changes (docs/design.md §4 step 4), not an attack

import init, { FrameDecryptor, FrameEncryptor } from './conclave_wasm.js';
import { ReplayRing, causeOf } from './drops.js';

const SAMPLE_FRAMES = 64; // plaintext samples kept per kind with debug on
const SAMPLE_BYTES = 48; // bytes kept of each, right after the clear prefix

/** Our encryptors by stream context: 0 camera and microphone, 1 screen. */
const encryptors = { 0: null, 1: null };
const CONTEXTS = /** @type {const} */ ([0, 1]);
const decryptors = {}; // per kind: a kind's counters never mix with the other's
let debug = false;
const samples = { audio: [], video: [] };
const stats = {
  encrypted: { audio: 0, video: 0 },
  encryptMs: { audio: 0, video: 0 },
  encryptBytes: { audio: 0, video: 0 },
  sendDropped: { audio: 0, video: 0 }, // no keys yet: not sent at all
  decrypted: { audio: 0, video: 0 },
  decryptMs: { audio: 0, video: 0 },
  decryptBytes: { audio: 0, video: 0 },
  failed: { audio: 0, video: 0 }, // every decrypt failure: the sum of the causes below but `reflected`
  reflected: { audio: 0, video: 0 }, // decrypted under our own key: the relay sent us our own frames
  forged: { audio: 0, video: 0 }, // no member made it (see the list above)
  replayed: { audio: 0, video: 0 }, // sustained replays: the relay's doing
  duplicate: { audio: 0, video: 0 }, // now-and-then replays: retransmission races
  early: { audio: 0, video: 0 }, // before we had keys
  lateEpoch: { audio: 0, video: 0 }, // an epoch just left or about to come: a key-change race
  firstDecryptAt: { audio: null, video: null }, // Date.now() of the first good frame
  // Screen-share frames (context 1), also counted under `video` above.
  screen: { encrypted: 0, decrypted: 0, firstDecryptAt: null },
  keysAt: null,
  epoch: -1,
};
const receivers = new Map(); // id -> its status (see receiveTransform)
/** @type {Map<number, {audio: number, video: number, screen: number}>} leaf -> when a frame of each kind (camera video and screen apart) last decrypted under its key */
const senders = new Map();
let rxDirty = false;
/** Epochs we held keys for, this stay (for telling a key-change race from a forged key id). */
const heldEpochs = new Set();
/** How many RTP timestamps of decrypted frames each receiver remembers, to
 * tell a frame delivered twice (`duplicate`) from an old one re-sent as new
 * (`replayed`): 10 s of audio, 17 s of video. */
const SEEN_FRAMES = 512;
/** A frame whose exact bytes decrypted (on any receiver) less than this long
 * ago, arriving again, is a retransmission that raced its original (the
 * relay keeps 0.5 s of packets for NACKs): `duplicate`, not `replayed`. A
 * relay that re-sends a frame that recent gains nothing: it was shown. */
const RECENT_REPEAT_MS = 1500;
/** Fingerprint (length and first bytes: codec prefix, SFrame key id and
 * counter, ciphertext) -> when it decrypted; the oldest go first. */
const recentFrames = new Map();
const RECENT_FRAMES = 2048;
const fingerprint = (data) => `${data.length}:${hex(data.subarray(0, 24))}`;
// Transformers, to ask for key frames: a receiver that just got keys needs
// one to start decoding, and a sender that switched keys sends one so
// newcomers start at once.
const videoSenders = new Set();
const videoReceivers = new Map(); // transformer -> its status (see receiveTransform)
let switchTimer = null;
let haveKeys = false;
let ownLeaf = -1; // our MLS leaf: frames under its key are our own, reflected

const ready = init({ module_or_path: new URL('./conclave_wasm_bg.wasm', import.meta.url) }).then(() => {
  for (const c of CONTEXTS) encryptors[c] = FrameEncryptor.withContext(c);
  decryptors.audio = new FrameDecryptor();
  decryptors.video = new FrameDecryptor();
  self.postMessage({ type: 'ready' });
}).catch((err) => {
  self.postMessage({ type: 'error', message: `the E2EE module did not load: ${err.message || err}` });
  throw err;
});

const codecOf = (kind, frame) => {
  let mime = null;
  try { mime = frame.getMetadata().mimeType; } catch { /* older metadata without mimeType */ }
  return mime || (kind === 'video' ? 'video/VP8' : 'audio/opus');
};

/** The frame's RTP timestamp (undefined if the browser does not say). */
const rtpTimestampOf = (frame) => {
  let ts;
  try { ts = frame.getMetadata().rtpTimestamp; } catch { /* no metadata */ }
  return ts ?? frame.timestamp;
};

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

function keepSample(kind, codec, data, context) {
  let prefix = 0;
  try { prefix = FrameEncryptor.clearPrefix(codec, data); } catch { return; }
  const list = samples[kind];
  list.push({ codec, context, length: data.length, prefix, key: kind === 'video' && (data[0] & 1) === 0, body: hex(data.subarray(prefix, prefix + SAMPLE_BYTES)), head: hex(data.subarray(0, prefix)) });
  if (list.length > SAMPLE_FRAMES) list.shift();
}

function sendTransform(kind, context) {
  return (frame, controller) => {
    const encryptor = encryptors[context];
    if (!encryptor) { stats.sendDropped[kind]++; return; }
    const data = new Uint8Array(frame.data);
    const codec = codecOf(kind, frame);
    if (debug) keepSample(kind, codec, data, context);
    let out;
    const t0 = performance.now();
    try {
      out = encryptor.encrypt(codec, data);
    } catch {
      stats.sendDropped[kind]++; // no keys yet, or a codec we cannot protect: never send it in clear
      return;
    }
    stats.encryptMs[kind] += performance.now() - t0;
    stats.encrypted[kind]++;
    if (context === 1) stats.screen.encrypted++;
    stats.encryptBytes[kind] += data.length;
    frame.data = out.buffer;
    controller.enqueue(frame);
  };
}

/** A video receiver that dropped a forged or replayed frame asks for a key
 * frame at most this often: the frame it replaced broke the decoder's chain. */
const RECOVER_MS = 1000;

function receiveTransform(kind, id, transformer) {
  const rx = {
    kind, ok: 0, failed: 0, lastError: null, lastFailAt: 0, sender: null, context: null, epoch: null, lastOkAt: 0,
    reflected: 0, forged: 0, replayed: 0, duplicate: 0, early: 0, lateEpoch: 0,
  };
  receivers.set(id, rx);
  // The RTP timestamps of the last SEEN_FRAMES frames that decrypted here.
  const seen = new Set();
  const seenOrder = new Array(SEEN_FRAMES);
  let seenAt = 0;
  const ring = new ReplayRing();
  let recoverAt = 0;
  return (frame, controller) => {
    const dec = decryptors[kind];
    const data = new Uint8Array(frame.data);
    const t0 = performance.now();
    let out;
    try {
      // Without keys the decryptor would say "unknown epoch": say why.
      if (!dec || !haveKeys) throw new Error('no media keys yet');
      out = dec.decrypt(codecOf(kind, frame), data, Date.now());
    } catch (err) {
      const message = err && err.message ? err.message : String(err);
      const repeatedAt = recentFrames.get(fingerprint(data));
      const recentRepeat = repeatedAt !== undefined && Date.now() - repeatedAt < RECENT_REPEAT_MS;
      const cause = causeOf(message, { held: heldEpochs, seenFrame: recentRepeat || seen.has(rtpTimestampOf(frame)), ring });
      stats.failed[kind]++;
      stats[cause][kind]++;
      rx.failed++;
      rx[cause]++;
      rx.lastError = message;
      rx.lastFailAt = Date.now();
      rxDirty = true;
      if (kind === 'video' && (cause === 'forged' || cause === 'replayed') && rx.lastFailAt - recoverAt >= RECOVER_MS) {
        recoverAt = rx.lastFailAt;
        requestKeyFrame(transformer);
      }
      return; // dropped: never rendered
    }
    const sender = dec.lastSender();
    const context = dec.lastContext();
    if (sender === ownLeaf) {
      // Our own frame, sent back to us by the relay: never shown as someone else's.
      stats.reflected[kind]++;
      rx.reflected++;
      rxDirty = true;
      return;
    }
    stats.decryptMs[kind] += performance.now() - t0;
    stats.decrypted[kind]++;
    stats.decryptBytes[kind] += out.length;
    if (stats.firstDecryptAt[kind] === null) stats.firstDecryptAt[kind] = Date.now();
    if (context === 1) {
      stats.screen.decrypted++;
      if (stats.screen.firstDecryptAt === null) stats.screen.firstDecryptAt = Date.now();
    }
    rxDirty = true; // lastOkAt moves: the page needs it to tell live receivers from old ones
    const ts = rtpTimestampOf(frame);
    if (ts !== undefined && !seen.has(ts)) {
      if (seenOrder[seenAt] !== undefined) seen.delete(seenOrder[seenAt]);
      seenOrder[seenAt] = ts;
      seenAt = (seenAt + 1) % SEEN_FRAMES;
      seen.add(ts);
    }
    ring.push(false);
    recentFrames.set(fingerprint(data), Date.now());
    if (recentFrames.size > RECENT_FRAMES) recentFrames.delete(recentFrames.keys().next().value);
    rx.ok++;
    rx.lastOkAt = Date.now();
    rx.sender = sender;
    rx.context = context;
    const last = senders.get(sender) || { audio: 0, video: 0, screen: 0 };
    last[kind === 'video' && context === 1 ? 'screen' : kind] = rx.lastOkAt;
    senders.set(sender, last);
    rx.epoch = dec.lastEpoch();
    rx.lastError = null;
    frame.data = out.buffer;
    controller.enqueue(frame);
  };
}

function requestKeyFrame(transformer) {
  try {
    const r = transformer.sendKeyFrameRequest && transformer.sendKeyFrameRequest();
    if (r && r.catch) r.catch(() => {});
  } catch { /* not supported, or the stream is gone: the decoder asks by itself */ }
}

self.onrtctransform = async (event) => {
  const { readable, writable, options } = event.transformer;
  await ready;
  const kind = options.kind === 'audio' ? 'audio' : 'video';
  // Only the page's screen sender says context 1; anything else is camera and microphone.
  const context = options.side === 'send' && kind === 'video' && options.context === 1 ? 1 : 0;
  const transform = options.side === 'send' ? sendTransform(kind, context) : receiveTransform(kind, String(options.id), event.transformer);
  if (kind === 'video' && options.side === 'send') videoSenders.add(event.transformer);
  if (kind === 'video' && options.side !== 'send') videoReceivers.set(event.transformer, receivers.get(String(options.id)));
  if (kind === 'video' && options.side !== 'send' && haveKeys) requestKeyFrame(event.transformer);
  readable.pipeThrough(new TransformStream({ transform })).pipeTo(writable).catch(() => {});
};

setInterval(() => {
  if (!rxDirty) return;
  rxDirty = false;
  self.postMessage({ type: 'rx', rx: Object.fromEntries(receivers), senders: Object.fromEntries(senders), dropped: droppedTotals() });
}, 500);

/** The drop causes' totals over both kinds. */
function droppedTotals() {
  /** @param {{audio: number, video: number}} c */
  const sum = (c) => c.audio + c.video;
  return {
    forged: sum(stats.forged), replayed: sum(stats.replayed), reflected: sum(stats.reflected),
    duplicate: sum(stats.duplicate), early: sum(stats.early), lateEpoch: sum(stats.lateEpoch),
  };
}

self.onmessage = async (event) => {
  const msg = event.data;
  await ready;
  switch (msg.type) {
    case 'epoch': {
      const now = Date.now();
      if (Number.isInteger(msg.ownLeaf)) ownLeaf = msg.ownLeaf;
      decryptors.audio.addEpoch(msg.bytes, now);
      decryptors.video.addEpoch(msg.bytes, now);
      for (const e of decryptors.video.epochs(now)) heldEpochs.add(e);
      if (stats.keysAt === null) stats.keysAt = now;
      // A receiver that had to drop frames (no keys yet, or a sender already
      // on this epoch) needs a key frame to decode again.
      for (const [t, rx] of videoReceivers) {
        if (!haveKeys || (rx && rx.lastFailAt && now - rx.lastFailAt < 2000)) requestKeyFrame(t);
      }
      haveKeys = true;
      clearTimeout(switchTimer);
      const switchNow = () => {
        for (const c of CONTEXTS) encryptors[c].setEpoch(msg.bytes);
        stats.epoch = encryptors[0].epoch();
        for (const t of videoSenders) if (t.generateKeyFrame) t.generateKeyFrame().catch(() => {});
      };
      if (msg.switchAfterMs > 0 && encryptors[0].epoch() >= 0) switchTimer = setTimeout(switchNow, msg.switchAfterMs);
      else switchNow();
      break;
    }
    case 'stop':
      clearTimeout(switchTimer);
      haveKeys = false;
      ownLeaf = -1;
      for (const c of CONTEXTS) encryptors[c] = FrameEncryptor.withContext(c);
      decryptors.audio.clear();
      decryptors.video.clear();
      heldEpochs.clear();
      senders.clear();
      stats.epoch = -1;
      break;
    case 'debug':
      debug = true;
      break;
    case 'stats':
      self.postMessage({
        type: 'stats',
        id: msg.id,
        stats: { ...stats, dropped: droppedTotals(), receiveEpochs: decryptors.video.epochs(Date.now()), receivers: Object.fromEntries(receivers) },
      });
      break;
    case 'samples':
      self.postMessage({ type: 'samples', id: msg.id, samples: debug ? samples : null });
      break;
    default:
      break;
  }
};
