// @ts-check
// `window.conclave`: a small read-mostly hook for tests (tests/browser/run.mjs,
// tests/browser/suite-*.mjs, tests/browser/measure.mjs) and curious users: the
// page's state, our participant id, the members' tiles (keyed by MLS leaf,
// with the relay connection each member named inside MLS), per-member receive
// statistics (by the key that decrypted the frames), the E2EE state (roster,
// epoch, safety code, refused attempts, decrypt failures), and what the relay
// got wrong (relabeled tracks, duplicates, departures and how, frames it
// forged, replayed or reflected, media it withholds). Its shape is
// what the browser tests rely on; change it with them.

/** @typedef {import('./app.js').Session} Session */
/** @typedef {import('./app.js').Peer} Peer */

/**
 * Installs `window.conclave`.
 * @param {object} deps
 * @param {{state: string, roomId: string | null, debug: boolean, session: Session | null,
 *   errors: {code: string, message: string}[]}} deps.page
 * @param {() => void} deps.join
 * @param {() => void} deps.leave
 * @param {(text: string) => void} deps.sendChat
 * @param {(kind: 'audio' | 'video') => void} deps.toggle
 * @param {(s: Session | null) => boolean} deps.e2eeActive
 * @param {(s: Session, peer: Peer) => string | null} deps.decryptProblem
 * @param {(s: Session, from: string, data: string) => void} deps.injectMls
 */
export function installHook({ page, join, leave, sendChat, toggle, e2eeActive, decryptProblem, injectMls }) {
  /** mid -> MLS leaf, of every track shown in a member's tile. @param {Session} s */
  const shownMids = (s) => {
    /** @type {Map<string, number>} */
    const m = new Map();
    for (const [leaf, mids] of s.attr.shown) for (const mid of Object.values(mids)) if (mid) m.set(mid, leaf);
    return m;
  };
  /** @param {Session} s @param {'stats' | 'samples'} type */
  const ask = (s, type) => s.media.ask(type);
  /** @type {any} */ (window).conclave = {
    get state() { return page.state; },
    get room() { return page.roomId; },
    get me() { return page.session ? page.session.me : null; },
    get name() { return page.session ? page.session.name : null; },
    get errors() { return page.errors.slice(); },
    get connectionState() { return page.session && page.session.media.pc ? page.session.media.pc.connectionState : null; },
    /** One entry per other member's tile (MLS leaf): the relay id and name
     * it said inside MLS, the mic/camera state it said inside MLS, the kinds
     * of the tracks shown (decrypted under its key), and what the relay does
     * to it (`status`: '' | 'leaving' | 'stale' | 'relay-claims-left' | 'relay-gone'). */
    peers() {
      const s = page.session;
      if (!s || s.over) return [];
      return [...s.peers.values()].map((p) => ({
        leaf: p.leaf,
        participant: p.participant,
        name: p.name,
        audio: p.audio,
        video: p.video,
        status: p.status,
        tracks: p.stream ? p.stream.getTracks().filter((t) => t.readyState === 'live').map((t) => t.kind).sort() : [],
      }));
    },
    /** The URLs of the TURN servers this page took from the relay (ice.js); never the credentials. */
    get iceServers() {
      const s = page.session;
      return s ? s.iceServers.flatMap((e) => (Array.isArray(e.urls) ? e.urls : [e.urls])) : [];
    },
    /** The media connection's chosen ICE candidate pair (Media.selectedPair): `local.candidateType` is 'relay' through TURN. */
    async candidatePair() {
      const s = page.session;
      return s && !s.over && s.media ? s.media.selectedPair() : null;
    },
    /** Receive statistics per member, of the tracks shown under them (see Media.receiveStats). */
    async stats() {
      const s = page.session;
      if (!s || s.over) return [];
      const rows = await s.media.receiveStats(shownMids(s));
      return rows.map((r) => ({ ...r, participant: s.peers.get(r.leaf)?.participant ?? null, name: s.peers.get(r.leaf)?.name ?? null }));
    },
    /** This call's chat messages as shown: [{name, text, own}] (chat.js). */
    chat() { const s = page.session; return s && s.chat ? s.chat.items.map(({ name, text, own }) => ({ name, text, own })) : []; },
    /** Sends a chat message as the form would. @param {string} text */
    sendChat: (text) => sendChat(text),
    /** Names of the members this page hears speaking now (speaking.js). */
    speaking() {
      const s = page.session;
      return s && s.speaking ? s.speaking.speaking().map((leaf) => s.peers.get(leaf)?.name ?? null) : [];
    },
    /** Other members' screen shares shown on this page (screenshare.js):
     * [{leaf, name (from MLS), label (the tile's), mid, sender and context
     * (whose key decrypted its last frame: leaf, and 1 for a screen),
     * framesDecoded, frameWidth, tileWidth, widestOtherTile, playing}]. */
    async screens() {
      const s = page.session;
      if (!s || s.over) return [];
      const report = s.media.pc ? [...(await s.media.pc.getStats()).values()] : [];
      const others = [...document.querySelectorAll('#grid .tile:not(.screen)')].map((t) => /** @type {HTMLElement} */ (t).clientWidth);
      const trackOf = new Map((s.media.pc ? s.media.pc.getTransceivers() : []).map((t) => [t.mid, t.receiver.track.id]));
      return s.screens.shown().map(({ leaf, mid, tile }) => {
        const rx = s.media.rx[mid] || {};
        // By mid, or (browsers whose statistics lack it) by the receiver's track.
        const inbound = report.filter((r) => r.type === 'inbound-rtp' && (r.mid === mid || (r.mid === undefined && r.trackIdentifier === trackOf.get(mid))))
          .sort((a, b) => (b.lastPacketReceivedTimestamp || 0) - (a.lastPacketReceivedTimestamp || 0))[0] || {};
        const video = /** @type {HTMLVideoElement} */ (tile.querySelector('video'));
        return {
          leaf,
          name: s.m.nameOf(leaf) ?? null,
          label: tile.querySelector('.name')?.textContent ?? '',
          mid,
          sender: rx.sender ?? null,
          context: rx.context ?? null,
          framesDecoded: inbound.framesDecoded || 0,
          frameWidth: inbound.frameWidth || 0,
          tileWidth: tile.clientWidth,
          widestOtherTile: Math.max(0, ...others),
          playing: video.videoWidth > 0,
        };
      });
    },
    /** Our own screen share: whether we share, and why we cannot (null: we can). */
    sharing() {
      const s = page.session;
      const share = s && s.screen;
      return { sharing: !!(share && share.sharing), problem: share ? share.problem : null, button: document.getElementById('toggle-screen')?.textContent ?? null };
    },
    /** The camera and microphone we send from (deviceIds: of our local
     * tracks, and of the tracks on our senders), what the call's selects
     * offer, and whether our own tile plays; null before the call. */
    devices() {
      const s = page.session;
      if (!s || !s.media.local) return null;
      const options = (/** @type {string} */ id) => {
        const select = /** @type {HTMLSelectElement | null} */ (document.getElementById(id));
        return select ? { value: select.value, disabled: select.disabled, choices: [...select.options].map((o) => o.value) } : null;
      };
      const self = s.selfTile && /** @type {HTMLVideoElement | null} */ (s.selfTile.querySelector('video'));
      return { ...s.media.devices(), cameras: options('call-camera'), mics: options('call-mic'), selfPlaying: !!self && self.videoWidth > 0 };
    },
    /** Ends our screen capture as the browser's own "stop sharing" control
     * does (the track's `ended` event); false when we do not share. */
    endScreenCapture() {
      const s = page.session;
      const track = s && s.screen && s.screen.track;
      if (!track) return false;
      track.stop();
      track.dispatchEvent(new Event('ended'));
      return true;
    },
    /** What the relay was told of our tiles' width, per video m-line (simulcast.js). */
    videoWidths() { const s = page.session; return s && s.widths ? Object.fromEntries(s.widths.told) : {}; },
    /** Raw RTP statistics of the media connection, video only: what we
     * send (retransmissions, NACKs received) and receive (freezes). */
    async rtpStats() {
      const s = page.session;
      if (!s || s.over || !s.media.pc) return { outbound: [], inbound: [] };
      const report = await s.media.pc.getStats();
      const rows = [...report.values()].filter((r) => (r.kind || r.mediaType) === 'video');
      const pick = (r, keys) => Object.fromEntries(keys.filter((k) => r[k] !== undefined).map((k) => [k, r[k]]));
      return {
        outbound: rows.filter((r) => r.type === 'outbound-rtp').map((r) => pick(r, ['ssrc', 'mid', 'rid', 'qualityLimitationReason', 'frameHeight', 'framesPerSecond', 'packetsSent', 'retransmittedPacketsSent', 'nackCount', 'pliCount', 'frameWidth', 'framesEncoded', 'targetBitrate'])),
        inbound: rows.filter((r) => r.type === 'inbound-rtp').map((r) => pick(r, ['ssrc', 'mid', 'packetsReceived', 'packetsLost', 'retransmittedPacketsReceived', 'nackCount', 'framesDecoded', 'frameWidth', 'freezeCount', 'totalFreezesDuration', 'pauseCount'])),
      };
    },
    /** Every receiver: the relay's label for it, and the member it is shown under. */
    remoteTracks() {
      const s = page.session;
      if (!s || s.over) return [];
      return s.media.remoteTracks(shownMids(s));
    },
    /** Tracks the relay labelled as someone other than the member whose key
     * decrypts them: [{mid, kind, label, claimed, sender, at}] (names). */
    relabeled() { const s = page.session; return s ? [...s.relabeled.values()] : []; },
    /** Second receivers of one kind decrypting to a member already shown. */
    duplicates() { const s = page.session; return s ? [...s.duplicates.values()] : []; },
    /** Who left or was removed, and how: [{leaf, name, how: 'left'|'removed', by, silent, at}]. */
    departures() { const s = page.session; return s ? s.m.departures.slice() : []; },
    /** The MLS members with what they said and what this tab sees of them (membership.js members()). */
    members() { const s = page.session; return s ? s.m.members(Date.now()) : []; },
    /** The event list, newest first. */
    events() { return [...document.querySelectorAll('#events li')].map((li) => ({ text: li.textContent, kind: li.className })); },
    /** The current local and remote session descriptions (diagnostics). */
    sdp() { return page.session ? page.session.media.sdp() : null; },
    /** The safety code members compare aloud ("" before joining). */
    safetyCode() { const s = page.session; return s && s.m.state === 'member' ? s.m.safetyCode : ''; },
    /** The MLS group's leaves with the names and relay ids from their profiles. */
    roster() {
      const s = page.session;
      if (!s) return [];
      return s.m.members().map(({ leaf, self, name, participant }) => ({ leaf, self, name, participant }));
    },
    epoch() { const s = page.session; return s && s.m.state === 'member' ? s.m.epoch : null; },
    /** 'connecting' | 'waiting' | 'member' | 'out' */
    e2eeState() { const s = page.session; return s ? s.m.state : null; },
    /** True only while we encrypt what we send and decrypt what we receive. */
    e2ee() { return e2eeActive(page.session); },
    /** Attempts members refused: [{what: 'join'|'commit'|'welcome'|…, reason, at}]. */
    refusedAttempts() { const s = page.session; return s ? s.m.refused.slice() : []; },
    /** True while our key change waits on a relay that does not answer (membership.js STUCK_MS). */
    stuck() { const s = page.session; return !!(s && s.m.stuck); },
    /** Received frames dropped because they did not decrypt: {audio, video, byParticipant}. */
    decryptFailures() {
      const s = page.session;
      const st = s && s.media.stats;
      const byParticipant = s ? s.media.failuresByParticipant() : {};
      return { audio: st ? st.failed.audio : 0, video: st ? st.failed.video : 0, byParticipant, reflected: st && st.reflected ? st.reflected : { audio: 0, video: 0 } };
    },
    /** Received frames the worker dropped, by cause (e2ee-worker.js): totals
     * over both kinds, and per receiver with the member whose key decrypted
     * its other frames (`sender` leaf and `name`, null when none did):
     * {forged, replayed, reflected, duplicate, early, lateEpoch, receivers: [{mid, kind, sender, name, forged,
     * replayed, reflected, duplicate, early, lateEpoch}]}. `duplicate` (a retransmission now and then that
     * raced its original), `early` (no keys yet) and `lateEpoch` (key-change races) are honest. */
    dropped() {
      const s = page.session;
      const totals = s ? s.media.dropped : { forged: 0, replayed: 0, reflected: 0, duplicate: 0, early: 0, lateEpoch: 0 };
      const receivers = s ? s.media.droppedByReceiver().map((r) => ({ ...r, name: r.sender !== null ? s.m.nameOf(r.sender) ?? null : null })) : [];
      return { ...totals, receivers };
    },
    /** Media each other member says inside MLS it sends but that does not
     * arrive (gaps.js): [{leaf, name, audio, video}], each kind the ms since
     * its last frame (or since we could expect one) once over the gap limit,
     * else null. */
    mediaGaps() {
      const s = page.session;
      if (!s || s.over) return [];
      return [...s.peers.values()].map((p) => ({ leaf: p.leaf, name: p.name, audio: p.gap.audio, video: p.gap.video }));
    },
    /** Why each remote tile shows no media, by the relay id its member named ("" when fine). */
    tileProblems() {
      const s = page.session;
      if (!s) return {};
      return Object.fromEntries([...s.peers.values()].map((p) => [p.participant ?? `leaf ${p.leaf}`, decryptProblem(s, p) || '']));
    },
    /** The worker's counters: frames and milliseconds spent encrypting and decrypting per kind. */
    async transformStats() { const s = page.session; const r = s && await ask(s, 'stats'); return r ? r.stats : null; },
    /** With `&debug=1` only: the last plaintext frames our sender transform saw. */
    async plaintextSamples() { const s = page.session; const r = s && await ask(s, 'samples'); return r ? r.samples : null; },
    /** Milestones of this stay, in ms since the page opened: relayJoined,
     * published, joinRequest, created|welcomed, firstDecrypt. */
    async timeline() {
      const s = page.session;
      if (!s) return null;
      const r = await ask(s, 'stats');
      const at = r && r.stats.firstDecryptAt.video;
      return { ...s.marks, ...(at ? { firstDecrypt: Math.round(at - performance.timeOrigin) } : {}) };
    },
    /** Milliseconds from opening this page to the first decrypted remote video frame. */
    async firstDecryptMs() {
      const s = page.session;
      const r = s && await ask(s, 'stats');
      const at = r && r.stats.firstDecryptAt.video;
      return at ? at - performance.timeOrigin : null;
    },
    join: () => join(),
    leave: () => leave(),
    toggleAudio: () => toggle('audio'),
    toggleVideo: () => toggle('video'),
    /** With `&debug=1` only: hands `data` (base64 envelope) to this page's MLS
     * handling as if the relay had sent it — for tests of a relay that forges
     * commits and Welcomes. */
    injectMls(/** @type {string} */ data, from = 'relay') {
      const s = page.session;
      if (!page.debug || !s || s.over) return false;
      injectMls(s, from, data);
      return true;
    },
    /** Presses Remove on this member (by MLS leaf), as the roster's button does. */
    remove(/** @type {number} */ leaf) {
      const b = /** @type {HTMLButtonElement | null} */ (document.querySelector(`#roster li[data-leaf="${leaf}"] button.remove`));
      if (!b) return false;
      b.click();
      return true;
    },
    /** Sends a raw text frame on the signaling socket (tests of the relay's input checks). */
    sendRaw(/** @type {string} */ text) { if (page.session && page.session.relay) page.session.relay.sendRaw(text); },
  };
}
