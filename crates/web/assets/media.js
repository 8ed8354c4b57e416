// @ts-check
// This tab's media (docs/design.md §4 step 3): camera and microphone, the one
// RTCPeerConnection to the relay, and the worker that SFrame-encrypts every
// frame we send and decrypts every frame we receive (e2ee-worker.js, wired in
// through RTCRtpScriptTransform on every sender and receiver). We offer our
// tracks once (sendonly) and answer every renegotiation offer the relay makes
// as other participants' tracks come and go. The relay sets each forwarded
// stream's msid to its publisher's participant id; that label is only a claim
// (the relay is the adversary): whose track it is, is decided by the SFrame key
// that decrypts its frames (the worker's `rx[mid].sender`; tracks.js). Also the
// receive statistics the test hook reports.
//
// The worker gets this epoch's keys and our own leaf from the MLS group
// (membership.js decides, app.js hands them over) and reports per receiver
// whether frames decrypt and under whose key, why it dropped the others
// (forged, replayed, reflected, early, lateEpoch), and per member when a
// frame of each kind last decrypted under its key (for gaps.js).
//
// Screen sharing (screenshare.js) is a second video sender, created with the
// others, before the one offer, so sharing changes no SDP and needs no
// renegotiation: it idles without a track until `setScreenTrack`. Its
// transform is set at creation too (Chromium passes no frames through one
// set later) and tells the worker it carries stream context 1: the screen's
// own SFrame key and counter. One encoding, no simulcast.

/**
 * Per-receiver decryption status from the worker: frames decrypted (`ok`),
 * dropped (`failed`, the sum of forged, replayed, duplicate, early and lateEpoch), and
 * dropped because they were our own (`reflected`).
 * `context` is the stream of the last frame that decrypted (0 camera and
 * microphone, 1 screen), from the key that opened it.
 * @typedef {{kind?: 'audio' | 'video', ok: number, failed: number, lastError?: string | null, sender?: number | null,
 *   context?: number | null, epoch?: number,
 *   lastOkAt?: number, reflected?: number, forged?: number, replayed?: number, duplicate?: number, early?: number, lateEpoch?: number}} RxStatus
 */
/**
 * Frames the worker dropped, by cause (see e2ee-worker.js).
 * @typedef {{forged: number, replayed: number, reflected: number, duplicate: number, early: number, lateEpoch: number}} Dropped
 */
/**
 * The worker's counters (see e2ee-worker.js).
 * @typedef {{epoch: number, encrypted: {audio: number, video: number}, decrypted: {audio: number, video: number},
 *   failed: {audio: number, video: number}, reflected: {audio: number, video: number}, firstDecryptAt: {video?: number}}} WorkerStats
 */

/** A receiver that decrypted a frame this recently is fine, though the relay slips other frames in. */
const DECRYPTS_NOW_MS = 3000;

import { AUDIO_MAX_BITRATE, checkRemote, hasAudioLevel, stopAudioLevel, stripAudioLevel } from './sdp.js';
import { cameraLayers } from './simulcast.js';

/** The screen share's bitrate cap (bit/s): text stays sharp at 15 frames/s of 1920x1080. */
export const SCREEN_MAX_BITRATE = 2_500_000;

/** Waiting longer than this for a worker reply gives null. */
const WORKER_REPLY_MS = 2000;
/** The worker gets this long to forget its keys before it is terminated. */
const WORKER_STOP_MS = 1000;

export class Media {
  /**
   * Starts the media worker.
   * @param {object} opts
   * @param {boolean} opts.debug `&debug=1`: the worker keeps plaintext samples for tests
   * @param {(rx: Record<string, RxStatus>) => void} opts.onRx the worker's per-receiver status changed
   * @param {(message: string) => void} opts.onFailure the worker cannot encrypt: the call cannot go on
   */
  constructor({ debug, onRx, onFailure }) {
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** @type {MediaStream | null} our camera and microphone */
    this.local = null;
    /** @type {Set<RTCRtpTransceiver>} our own (sendonly) transceivers: the others receive */
    this.own = new Set();
    /** @type {RTCRtpSender | null} the screen share's sender (no track while not sharing) */
    this.screenSender = null;
    /** @type {Map<string, string>} receiver track id -> participant id (latest ontrack) */
    this.owners = new Map();
    /** @type {Map<string, string>} transceiver mid -> the participant id the relay labelled it with (a claim) */
    this.midOwners = new Map();
    /** @type {Map<string, number>} transceiver mid -> when the relay last (re)labelled it */
    this.midLabelAt = new Map();
    /** @type {Record<string, RxStatus>} receiver (mid) -> worker status */
    this.rx = {};
    /** @type {Record<string, {audio: number, video: number}>} MLS leaf -> when a frame of each kind last decrypted under its key */
    this.senders = {};
    /** @type {Dropped} frames dropped, both kinds, every receiver */
    this.dropped = { forged: 0, replayed: 0, reflected: 0, duplicate: 0, early: 0, lateEpoch: 0 };
    /** @type {WorkerStats | null} */
    this.stats = null;
    /** The epoch whose keys the worker has. */
    this.workerEpoch = -1;
    this.closed = false;
    /** @type {Map<number, (reply: any) => void>} worker request id -> resolve */
    this.replies = new Map();
    this.nextReply = 1;
    this.worker = new Worker('/assets/e2ee-worker.js', { type: 'module' });
    if (debug) this.worker.postMessage({ type: 'debug' });
    this.worker.onmessage = (ev) => {
      const m = ev.data;
      if (m.type === 'rx') {
        this.rx = m.rx;
        this.senders = m.senders || {};
        if (m.dropped) this.dropped = m.dropped;
        onRx(this.rx);
      } else if (m.type === 'error') {
        onFailure(`End-to-end encryption is not available: ${m.message}`);
      } else if (m.id && this.replies.has(m.id)) {
        const reply = this.replies.get(m.id);
        this.replies.delete(m.id);
        if (reply) reply(m);
      }
    };
    this.worker.onerror = (ev) => onFailure(`The media encryption worker failed: ${ev.message || 'unknown error'}`);
  }

  /**
   * Hands this epoch's keys to the worker.
   * @param {Uint8Array} bytes `Call.mediaEpoch()`
   * @param {number} epoch
   * @param {number} switchAfterMs when our sender moves to the new key
   * @param {number} ownLeaf our MLS leaf (the worker drops our own frames reflected back)
   */
  setKeys(bytes, epoch, switchAfterMs, ownLeaf) {
    this.worker.postMessage({ type: 'epoch', bytes, switchAfterMs, ownLeaf });
    this.workerEpoch = epoch;
  }

  /** The worker forgets every key (our group is gone). */
  stopKeys() {
    this.worker.postMessage({ type: 'stop' });
    this.workerEpoch = -1;
  }

  /**
   * Asks the worker something; null when it does not answer in time.
   * @param {'stats' | 'samples'} type
   * @returns {Promise<any>}
   */
  ask(type) {
    if (this.closed) return Promise.resolve(null);
    const id = this.nextReply++;
    return Promise.race([
      new Promise((resolve) => { this.replies.set(id, resolve); this.worker.postMessage({ type, id }); }),
      new Promise((resolve) => setTimeout(() => resolve(null), WORKER_REPLY_MS)),
    ]);
  }

  /** Fetches the worker's counters into `stats`; true when they came. */
  async refreshStats() {
    const r = await this.ask('stats');
    if (r) this.stats = r.stats;
    return !!r;
  }

  /**
   * Opens camera and microphone, or takes `given` (the preview's stream,
   * prejoin.js); false when the call ended meanwhile.
   * @param {MediaStream | null} [given]
   */
  async openCamera(given = null) {
    try {
      this.local = given || await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    } catch (e) {
      const err = /** @type {DOMException} */ (e);
      throw new Error(`cannot use camera and microphone (${err.name}: ${err.message}); allow them and rejoin`);
    }
    if (this.closed) { this.local.getTracks().forEach((t) => t.stop()); return false; }
    return true;
  }

  /**
   * Creates the peer connection with our tracks, each through the worker's
   * encryption from the start.
   * @param {object} on
   * @param {RTCIceServer[]} [on.iceServers] TURN servers the relay named, already checked (ice.js)
   * @param {(mid: string | null, track: MediaStreamTrack) => void} on.track a remote track arrived
   * @param {(state: RTCPeerConnectionState) => void} on.connectionState
   */
  connect(on) {
    if (typeof RTCRtpScriptTransform === 'undefined') {
      throw new Error('this browser cannot encrypt media end to end (no RTCRtpScriptTransform); use a current Chromium, Chrome, Firefox or Safari');
    }
    const local = /** @type {MediaStream} */ (this.local);
    // Only VP8 and Opus are protected (the relay negotiates nothing else).
    const pc = peerConnection(on.iceServers || []);
    this.pc = pc;
    for (const track of [...local.getAudioTracks(), ...local.getVideoTracks()]) {
      const tr = pc.addTransceiver(track, {
        direction: 'sendonly',
        streams: [local],
        ...(track.kind === 'video' ? { sendEncodings: cameraLayers(track.getSettings().height || 0) } : {}),
      });
      // Now, not later: a transform set on a live sender passes no frames.
      tr.sender.transform = new RTCRtpScriptTransform(this.worker, { side: 'send', kind: track.kind });
      this.own.add(tr);
    }
    // The screen share's sender, idle until sharing starts (see the top).
    const screen = pc.addTransceiver('video', { direction: 'sendonly', streams: [local], sendEncodings: [{ maxBitrate: SCREEN_MAX_BITRATE }] });
    screen.sender.transform = new RTCRtpScriptTransform(this.worker, { side: 'send', kind: 'video', context: 1 });
    this.own.add(screen);
    this.screenSender = screen.sender;
    pc.ontrack = (ev) => this.onTrack(ev, on.track);
    pc.onconnectionstatechange = () => on.connectionState(pc.connectionState);
  }

  /**
   * Our one offer (sendonly); returns its SDP for the relay. It carries no
   * audio-level header extension, and the microphone's sender is capped so
   * its constant-bitrate Opus frames fit the padded size (sdp.js).
   */
  async offer() {
    const pc = /** @type {RTCPeerConnection} */ (this.pc);
    let stopped = true;
    for (const t of pc.getTransceivers()) {
      if (typeof t.setHeaderExtensionsToNegotiate === 'function') {
        t.setHeaderExtensionsToNegotiate(stopAudioLevel(t.getHeaderExtensionsToNegotiate()));
      } else {
        stopped = false;
      }
      if (t.sender.track && t.sender.track.kind === 'audio') {
        const params = t.sender.getParameters();
        for (const e of params.encodings) e.maxBitrate = AUDIO_MAX_BITRATE;
        await t.sender.setParameters(params);
      }
    }
    const offer = await pc.createOffer();
    // Without setHeaderExtensionsToNegotiate, take the lines out (Chromium
    // accepts an offer without them).
    const sdp = stopped || !offer.sdp ? offer.sdp : stripAudioLevel(offer.sdp);
    await pc.setLocalDescription({ type: 'offer', sdp });
    const local = /** @type {RTCSessionDescription} */ (pc.localDescription).sdp;
    if (hasAudioLevel(local)) {
      pc.close();
      throw new Error('this browser insists on sending audio levels, which would tell the relay who is speaking; '
        + 'nothing was sent. Use a current Chromium, Chrome or Firefox');
    }
    // The relay is ICE-lite and learns our address from our connectivity checks,
    // so the offer needs no candidates and we do not wait for gathering.
    return local;
  }

  /**
   * Applies the relay's answer to our offer.
   * @param {string} sdp
   */
  async applyAnswer(sdp) {
    await this.applyRemote('answer', sdp);
  }

  /**
   * Applies a renegotiation offer of the relay; returns our answer's SDP.
   * @param {string} sdp
   */
  async answer(sdp) {
    const pc = /** @type {RTCPeerConnection} */ (this.pc);
    await this.applyRemote('offer', sdp);
    this.transformReceivers();
    await pc.setLocalDescription(await pc.createAnswer());
    return /** @type {RTCSessionDescription} */ (pc.localDescription).sdp;
  }

  /**
   * Applies the relay's offer or answer after sdp.js checked it. A
   * description that would leak who is speaking or carry a codec we cannot
   * encrypt ends the media connection (nothing more is sent) and throws
   * `SdpRefused`, whose message the page shows.
   * @param {'offer' | 'answer'} type
   * @param {string} sdp
   */
  async applyRemote(type, sdp) {
    const pc = /** @type {RTCPeerConnection} */ (this.pc);
    let safe;
    try {
      safe = checkRemote(type, sdp);
    } catch (e) {
      pc.close();
      console.error(`refused the relay's ${type}:\n${sdp}`);
      throw e;
    }
    try {
      await pc.setRemoteDescription({ type, sdp: safe });
    } catch (e) {
      const err = /** @type {DOMException} */ (e);
      console.error(`the relay's ${type} was refused by this browser:\n${sdp}`);
      throw new Error(`the relay's ${type} does not fit this browser (${err.message})`);
    }
  }

  /** Puts every receiver through the worker's decryption (once each). */
  transformReceivers() {
    if (!this.pc) return;
    for (const t of this.pc.getTransceivers()) {
      const r = t.receiver;
      // Our own sendonly transceivers receive nothing.
      if (r.transform || t.mid == null || this.own.has(t)) continue;
      r.transform = new RTCRtpScriptTransform(this.worker, { side: 'recv', kind: r.track.kind, id: t.mid });
    }
  }

  /**
   * A remote track arrived: keep the relay's label for it (its stream id, a
   * claim we only compare with the true sender) and tell the page.
   * @param {RTCTrackEvent} ev
   * @param {(mid: string | null, track: MediaStreamTrack) => void} onTrack
   */
  onTrack(ev, onTrack) {
    this.transformReceivers();
    const stream = ev.streams[0];
    const label = stream ? stream.id : null;
    const mid = ev.transceiver.mid;
    if (label !== null) this.owners.set(ev.track.id, label);
    if (mid != null) {
      if (label !== null) this.midOwners.set(mid, label);
      else this.midOwners.delete(mid);
      this.midLabelAt.set(mid, Date.now());
    }
    onTrack(mid, ev.track);
  }

  /**
   * Every remote receiver, with the relay's label for it and what the worker
   * says decrypted its frames (tracks.js decides whose it is).
   * @returns {(import('./tracks.js').Receiver & {track: MediaStreamTrack})[]}
   */
  receivers() {
    if (!this.pc || this.closed) return [];
    const out = [];
    for (const t of this.pc.getTransceivers()) {
      if (t.mid == null || this.own.has(t)) continue; // ours: sendonly
      const track = t.receiver.track;
      const rx = this.rx[t.mid] || { ok: 0, failed: 0 };
      const dir = t.currentDirection;
      out.push({
        mid: t.mid,
        kind: /** @type {'audio' | 'video'} */ (track.kind),
        track,
        live: track.readyState === 'live' && (dir === 'recvonly' || dir === 'sendrecv'),
        label: this.midOwners.get(t.mid) ?? null,
        labelAt: this.midLabelAt.get(t.mid) ?? 0,
        ok: rx.ok || 0,
        sender: rx.sender ?? null,
        context: rx.context ?? null,
        lastOkAt: rx.lastOkAt || 0,
      });
    }
    return out;
  }

  /**
   * Turns our microphone or camera on or off; returns what is on now.
   * @param {'audio' | 'video'} kind
   */
  toggle(kind) {
    const local = /** @type {MediaStream} */ (this.local);
    const tracks = kind === 'audio' ? local.getAudioTracks() : local.getVideoTracks();
    const on = !tracks.every((t) => t.enabled);
    tracks.forEach((t) => { t.enabled = on; });
    return this.sending();
  }

  /**
   * Sends from another camera or microphone: opens `deviceId`, puts its
   * track on our sender of that kind in place of the old one (replaceTrack:
   * the m-line, the encryption transform and the simulcast layers stay, so
   * the relay sees no signaling), and stops the old device. The new track
   * is on or off as the old one was. If the device cannot be opened, the
   * old one keeps sending and the error says why.
   * @param {'audio' | 'video'} kind
   * @param {string} deviceId from enumerateDevices
   * @returns {Promise<MediaStreamTrack | null>} the track now sent (null: the call ended meanwhile)
   */
  async switchDevice(kind, deviceId) {
    const noun = kind === 'audio' ? 'microphone' : 'camera';
    const local = this.local;
    const old = local && (kind === 'audio' ? local.getAudioTracks() : local.getVideoTracks())[0];
    const sender = [...this.own].map((t) => t.sender).find((x) => x !== this.screenSender && x.track && x.track.kind === kind);
    if (!local || !old || !sender || this.closed) throw new Error(`there is no ${noun} in this call to switch from`);
    if (old.getSettings().deviceId === deviceId) return old;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ [kind]: { deviceId: { exact: deviceId } } });
    } catch (e) {
      const err = /** @type {DOMException} */ (e);
      const why = err.name === 'NotReadableError' ? 'another program may be using it'
        : err.name === 'OverconstrainedError' || err.name === 'NotFoundError' ? 'it is no longer connected'
          : err.name === 'NotAllowedError' ? 'the browser was not allowed to use it' : `${err.name}: ${err.message}`;
      throw new Error(`cannot use that ${noun} (${why}); still using the previous one`);
    }
    const track = stream.getTracks()[0];
    if (this.closed || !track) { stream.getTracks().forEach((t) => t.stop()); return null; }
    track.enabled = old.enabled;
    try {
      await sender.replaceTrack(track);
    } catch (e) {
      track.stop();
      throw new Error(`cannot send from that ${noun} (${e instanceof Error ? e.message : e}); still using the previous one`);
    }
    local.removeTrack(old);
    local.addTrack(track);
    old.stop();
    return track;
  }

  /** The devices we send from now (deviceId per kind; null: none). */
  devices() {
    const local = this.local;
    const id = (/** @type {MediaStreamTrack[]} */ tracks) => (tracks[0] ? tracks[0].getSettings().deviceId || null : null);
    const sent = (/** @type {'audio' | 'video'} */ kind) => {
      const x = [...this.own].map((t) => t.sender).find((y) => y !== this.screenSender && y.track && y.track.kind === kind);
      return x && x.track ? x.track.getSettings().deviceId || null : null;
    };
    return {
      audio: local ? id(local.getAudioTracks()) : null,
      video: local ? id(local.getVideoTracks()) : null,
      sent: { audio: sent('audio'), video: sent('video') },
    };
  }

  /**
   * Puts a screen track on the screen share's sender, or takes it off
   * (null). The sender's m-line, transform and stream context stay: the
   * relay sees no new signaling, only packets start or stop.
   * @param {MediaStreamTrack | null} track
   */
  async setScreenTrack(track) {
    if (!this.screenSender || this.closed) throw new Error('not connected to the relay');
    await this.screenSender.replaceTrack(track);
  }

  /** Whether our microphone and camera are on. */
  sending() {
    const local = /** @type {MediaStream} */ (this.local);
    return {
      audio: local.getAudioTracks().every((t) => t.enabled),
      video: local.getVideoTracks().every((t) => t.enabled),
    };
  }

  /**
   * Why we cannot show the media of these receivers, or null.
   * @param {string[]} mids
   * @param {boolean} member whether we are in the encrypted call
   * @returns {string | null}
   */
  decryptProblem(mids, member) {
    const rx = mids.map((m) => this.rx[m]).filter((r) => r && (r.ok > 0 || r.failed > 0));
    const now = Date.now();
    // Frames the relay slips in between a member's own do not hide them.
    if (!rx.length || rx.some((r) => r.ok > 0 && (!r.lastError || now - (r.lastOkAt || 0) < DECRYPTS_NOW_MS))) return null;
    const err = rx.map((r) => r.lastError).find(Boolean) || '';
    if (!member || /no media keys/.test(err)) return 'can\'t decrypt: we are not in the encrypted call (yet)';
    if (/not a member|unknown or expired epoch|authentication/.test(err)) return 'can\'t decrypt: not from a member of this call';
    return `can't decrypt: ${err}`;
  }

  /**
   * When a frame of `kind` last decrypted under `leaf`'s key (0: never).
   * @param {number} leaf
   * @param {'audio' | 'video'} kind
   */
  lastFrameAt(leaf, kind) {
    const last = this.senders[String(leaf)];
    return (last && last[kind]) || 0;
  }

  /**
   * Every receiver that dropped frames the relay should not have sent, by
   * cause; `sender` is the member whose key decrypted its frames (null: none
   * did).
   * @returns {{mid: string, kind: 'audio' | 'video', sender: number | null, context: number | null, forged: number, replayed: number, reflected: number,
   *   duplicate: number, early: number, lateEpoch: number}[]}
   */
  droppedByReceiver() {
    return Object.entries(this.rx).map(([mid, r]) => ({
      mid,
      kind: r.kind === 'audio' ? 'audio' : 'video',
      sender: r.ok > 0 ? r.sender ?? null : null,
      context: r.ok > 0 ? r.context ?? null : null,
      forged: r.forged || 0,
      replayed: r.replayed || 0,
      reflected: r.reflected || 0,
      duplicate: r.duplicate || 0,
      early: r.early || 0,
      lateEpoch: r.lateEpoch || 0,
    }));
  }

  /**
   * Frames dropped because they did not decrypt, per participant (or `mid N`
   * for a receiver nobody owns).
   * @returns {Record<string, number>}
   */
  failuresByParticipant() {
    /** @type {Record<string, number>} */
    const byParticipant = {};
    for (const [mid, rx] of Object.entries(this.rx)) {
      const p = this.midOwners.get(mid) || `mid ${mid}`;
      byParticipant[p] = (byParticipant[p] || 0) + rx.failed;
    }
    return byParticipant;
  }

  /**
   * The candidate pair ICE chose, as getStats says: each side's candidate
   * type (`host`, `srflx`, `prflx`, `relay`: through a TURN server),
   * protocol, and for our relay candidate how we reach the TURN server.
   * Null before a pair is chosen.
   */
  async selectedPair() {
    if (!this.pc) return null;
    const report = await this.pc.getStats();
    /** @type {any} */
    let pair = null;
    report.forEach((r) => {
      if (r.type === 'transport' && r.selectedCandidatePairId) pair = report.get(r.selectedCandidatePairId) || pair;
    });
    if (!pair) return null;
    /** @param {any} c */
    const side = (c) => (c ? { candidateType: c.candidateType, protocol: c.protocol, relayProtocol: c.relayProtocol || null } : null);
    return {
      state: pair.state,
      local: side(report.get(pair.localCandidateId)),
      remote: side(report.get(pair.remoteCandidateId)),
      bytesSent: pair.bytesSent || 0,
      bytesReceived: pair.bytesReceived || 0,
    };
  }

  /**
   * Receive statistics per member, from pc.getStats(): inbound-rtp reports
   * of the receivers shown for each member (`shown`: mid -> MLS leaf, from
   * tracks.js: by the key that decrypted them). Where an m-line was reused,
   * the newest SSRC wins.
   * @param {Map<string, number>} shown
   */
  async receiveStats(shown) {
    if (!this.pc || this.closed) return [];
    const report = await this.pc.getStats();
    const trackMid = new Map(this.pc.getTransceivers().filter((t) => t.mid != null).map((t) => [t.receiver.track.id, t.mid]));
    /** @type {Map<number, {leaf: number, video: Record<string, unknown> | null, audio: Record<string, unknown> | null}>} */
    const byPeer = new Map();
    for (const r of report.values()) {
      if (r.type !== 'inbound-rtp') continue;
      const mid = r.mid ?? trackMid.get(r.trackIdentifier);
      const participant = mid != null ? shown.get(mid) : undefined;
      if (participant === undefined) continue;
      /** @type {'audio' | 'video'} */
      const kind = r.kind || r.mediaType;
      if (kind !== 'audio' && kind !== 'video') continue;
      const entry = byPeer.get(participant) || { leaf: participant, video: null, audio: null };
      const prev = /** @type {any} */ (entry[kind]);
      if (prev && (prev.lastPacketReceivedTimestamp || 0) >= (r.lastPacketReceivedTimestamp || 0)) continue;
      entry[kind] = kind === 'video'
        ? pick(r, ['ssrc', 'mid', 'packetsReceived', 'packetsLost', 'bytesReceived', 'framesReceived',
          'framesDecoded', 'keyFramesDecoded', 'framesDropped', 'frameWidth', 'frameHeight', 'pliCount',
          'nackCount', 'lastPacketReceivedTimestamp'])
        : pick(r, ['ssrc', 'mid', 'packetsReceived', 'packetsLost', 'bytesReceived', 'totalSamplesReceived',
          'concealedSamples', 'audioLevel', 'totalAudioEnergy', 'lastPacketReceivedTimestamp']);
      byPeer.set(participant, entry);
    }
    return [...byPeer.values()];
  }

  /**
   * The audio energy each member's receiver has played so far
   * (`totalAudioEnergy`, `totalSamplesDuration`; speaking.js), by the leaf
   * `shown` says the receiver's m-line is shown under.
   * @param {Map<string, number>} shown mid -> MLS leaf
   */
  async audioEnergy(shown) {
    /** @type {Map<number, {energy: number, duration: number}>} */
    const out = new Map();
    if (!this.pc || this.closed) return out;
    const report = await this.pc.getStats();
    for (const r of report.values()) {
      if (r.type !== 'inbound-rtp' || (r.kind || r.mediaType) !== 'audio' || typeof r.totalAudioEnergy !== 'number') continue;
      const leaf = r.mid != null ? shown.get(r.mid) : undefined;
      if (leaf === undefined) continue;
      out.set(leaf, { energy: r.totalAudioEnergy, duration: r.totalSamplesDuration || 0 });
    }
    return out;
  }

  /** The m-lines we receive video on now (for `video_width`, simulcast.js). */
  videoMids() {
    if (!this.pc || this.closed) return [];
    return this.pc.getTransceivers()
      .filter((t) => t.mid != null && !this.own.has(t) && t.receiver.track.kind === 'video' && t.currentDirection !== 'stopped')
      .map((t) => /** @type {string} */ (t.mid));
  }

  /**
   * Every remote receiver: the relay's label for it (`participant`), the
   * member it is shown under (`leaf`, by the key that decrypted it, from
   * `shown`), and whether it is shown at all (`inStream`).
   * @param {Map<string, number>} shown mid -> MLS leaf
   */
  remoteTracks(shown) {
    if (!this.pc || this.closed) return [];
    return this.pc.getTransceivers()
      .filter((t) => t.mid != null && !this.own.has(t))
      .map((t) => {
        const track = t.receiver.track;
        const mid = /** @type {string} */ (t.mid);
        const rx = this.rx[mid];
        return {
          participant: this.midOwners.get(mid) ?? this.owners.get(track.id) ?? null,
          leaf: shown.get(mid) ?? null,
          sender: rx && rx.ok > 0 ? rx.sender ?? null : null,
          context: rx && rx.ok > 0 ? rx.context ?? null : null,
          kind: track.kind,
          mid,
          direction: t.currentDirection,
          readyState: track.readyState,
          muted: track.muted,
          inStream: shown.has(mid),
        };
      });
  }

  /** The current local and remote session descriptions (diagnostics). */
  sdp() {
    const pc = this.pc;
    return pc ? { local: pc.localDescription && pc.localDescription.sdp, remote: pc.remoteDescription && pc.remoteDescription.sdp } : null;
  }

  /** Ends everything: keys forgotten, worker ended, camera off. */
  close() {
    this.closed = true;
    const worker = this.worker;
    worker.postMessage({ type: 'stop' });
    setTimeout(() => worker.terminate(), WORKER_STOP_MS);
    if (this.pc) this.pc.close();
    if (this.local) this.local.getTracks().forEach((t) => t.stop());
  }
}

/**
 * @param {any} obj
 * @param {string[]} keys
 */
function pick(obj, keys) {
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}

/**
 * Our RTCPeerConnection, with the TURN servers if the browser takes them.
 * ice.js checked them, so a refusal here is a browser's own stricter rule:
 * the call then goes on without them rather than not at all.
 * @param {RTCIceServer[]} iceServers
 */
function peerConnection(iceServers) {
  if (iceServers.length === 0) return new RTCPeerConnection();
  try {
    return new RTCPeerConnection({ iceServers });
  } catch (e) {
    console.warn(`this browser refused the relay's TURN servers (${e}); connecting without them`);
    return new RTCPeerConnection();
  }
}
