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
//   {type:'rx', rx: {<receiver id>: {ok, failed, lastError, sender, epoch, lastOkAt, reflected}}}
//                           per-receiver status, at most twice a second:
//                           `sender` is the MLS leaf whose key decrypted the
//                           last frame, which is who sent it (the page shows
//                           the track under that member, whatever the relay
//                           says), `lastOkAt` when (Date.now())
//   {type:'ready'} / {type:'error', message}

import init, { FrameDecryptor, FrameEncryptor } from './conclave_wasm.js';

const SAMPLE_FRAMES = 64; // plaintext samples kept per kind with debug on
const SAMPLE_BYTES = 48; // bytes kept of each, right after the clear prefix

let encryptor = null;
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
  failed: { audio: 0, video: 0 },
  reflected: { audio: 0, video: 0 }, // decrypted under our own key: the relay sent us our own frames
  firstDecryptAt: { audio: null, video: null }, // Date.now() of the first good frame
  keysAt: null,
  epoch: -1,
};
const receivers = new Map(); // id -> {ok, failed, lastError, sender, epoch}
let rxDirty = false;
// Transformers, to ask for key frames: a receiver that just got keys needs
// one to start decoding, and a sender that switched keys sends one so
// newcomers start at once.
const videoSenders = new Set();
const videoReceivers = new Map(); // transformer -> its status (see receiveTransform)
let switchTimer = null;
let haveKeys = false;
let ownLeaf = -1; // our MLS leaf: frames under its key are our own, reflected

const ready = init({ module_or_path: new URL('./conclave_wasm_bg.wasm', import.meta.url) }).then(() => {
  encryptor = new FrameEncryptor();
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

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

function keepSample(kind, codec, data) {
  let prefix = 0;
  try { prefix = FrameEncryptor.clearPrefix(codec, data); } catch { return; }
  const list = samples[kind];
  list.push({ codec, length: data.length, prefix, key: kind === 'video' && (data[0] & 1) === 0, body: hex(data.subarray(prefix, prefix + SAMPLE_BYTES)), head: hex(data.subarray(0, prefix)) });
  if (list.length > SAMPLE_FRAMES) list.shift();
}

function sendTransform(kind) {
  return (frame, controller) => {
    if (!encryptor) { stats.sendDropped[kind]++; return; }
    const data = new Uint8Array(frame.data);
    const codec = codecOf(kind, frame);
    if (debug) keepSample(kind, codec, data);
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
    stats.encryptBytes[kind] += data.length;
    frame.data = out.buffer;
    controller.enqueue(frame);
  };
}

function receiveTransform(kind, id) {
  const rx = { kind, ok: 0, failed: 0, lastError: null, lastFailAt: 0, sender: null, epoch: null, lastOkAt: 0, reflected: 0 };
  receivers.set(id, rx);
  return (frame, controller) => {
    const dec = decryptors[kind];
    const data = new Uint8Array(frame.data);
    const t0 = performance.now();
    let out;
    try {
      if (!dec) throw new Error('no media keys yet');
      out = dec.decrypt(codecOf(kind, frame), data, Date.now());
    } catch (err) {
      stats.failed[kind]++;
      rx.failed++;
      rx.lastError = err && err.message ? err.message : String(err);
      rx.lastFailAt = Date.now();
      rxDirty = true;
      return; // dropped: never rendered
    }
    const sender = dec.lastSender();
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
    rxDirty = true; // lastOkAt moves: the page needs it to tell live receivers from old ones
    rx.ok++;
    rx.lastOkAt = Date.now();
    rx.sender = sender;
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
  const transform = options.side === 'send' ? sendTransform(kind) : receiveTransform(kind, String(options.id));
  if (kind === 'video' && options.side === 'send') videoSenders.add(event.transformer);
  if (kind === 'video' && options.side !== 'send') videoReceivers.set(event.transformer, receivers.get(String(options.id)));
  if (kind === 'video' && options.side !== 'send' && haveKeys) requestKeyFrame(event.transformer);
  readable.pipeThrough(new TransformStream({ transform })).pipeTo(writable).catch(() => {});
};

setInterval(() => {
  if (!rxDirty) return;
  rxDirty = false;
  self.postMessage({ type: 'rx', rx: Object.fromEntries(receivers) });
}, 500);

self.onmessage = async (event) => {
  const msg = event.data;
  await ready;
  switch (msg.type) {
    case 'epoch': {
      const now = Date.now();
      if (Number.isInteger(msg.ownLeaf)) ownLeaf = msg.ownLeaf;
      decryptors.audio.addEpoch(msg.bytes, now);
      decryptors.video.addEpoch(msg.bytes, now);
      if (stats.keysAt === null) stats.keysAt = now;
      // A receiver that had to drop frames (no keys yet, or a sender already
      // on this epoch) needs a key frame to decode again.
      for (const [t, rx] of videoReceivers) {
        if (!haveKeys || (rx && rx.lastFailAt && now - rx.lastFailAt < 2000)) requestKeyFrame(t);
      }
      haveKeys = true;
      clearTimeout(switchTimer);
      const switchNow = () => {
        encryptor.setEpoch(msg.bytes);
        stats.epoch = encryptor.epoch();
        for (const t of videoSenders) if (t.generateKeyFrame) t.generateKeyFrame().catch(() => {});
      };
      if (msg.switchAfterMs > 0 && encryptor.epoch() >= 0) switchTimer = setTimeout(switchNow, msg.switchAfterMs);
      else switchNow();
      break;
    }
    case 'stop':
      clearTimeout(switchTimer);
      haveKeys = false;
      ownLeaf = -1;
      encryptor = new FrameEncryptor();
      decryptors.audio.clear();
      decryptors.video.clear();
      stats.epoch = -1;
      break;
    case 'debug':
      debug = true;
      break;
    case 'stats':
      self.postMessage({
        type: 'stats',
        id: msg.id,
        stats: { ...stats, receiveEpochs: decryptors.video.epochs(Date.now()), receivers: Object.fromEntries(receivers) },
      });
      break;
    case 'samples':
      self.postMessage({ type: 'samples', id: msg.id, samples: debug ? samples : null });
      break;
    default:
      break;
  }
};
