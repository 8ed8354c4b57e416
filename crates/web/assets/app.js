// Conclave's browser client: one page, no framework, no build step.
//
// "/" offers a new meeting; "/r/<room-id>" is a meeting. The page talks to the
// relay over one WebSocket (`/r/<room-id>/ws`, JSON messages defined in
// crates/proto) and one RTCPeerConnection: it offers its microphone and camera
// once, then answers every renegotiation offer the relay makes as other
// participants' tracks come and go (DESIGN.md §4). Per-user settings ride in
// the URL fragment (`#name=Alice&autojoin=1`, later the room secret), which
// browsers never send to a server, and this page never sends it anywhere.
//
// `window.conclave` is a small hook for tests and curious users: state, own
// participant id, peers, and per-participant receive statistics.

const PROTOCOL_VERSION = 1;
const MAX_ROOM_ID_LEN = 64;
const MAX_NAME_LEN = 64;
// Errors after which the relay closes the connection (ErrorCode::is_fatal).
const FATAL_ERRORS = new Set([
  'unsupported_version', 'invalid_room_id', 'room_full', 'too_many_rooms', 'shutting_down', 'media_lost', 'internal',
]);

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- URL parsing

/** Splits a fragment into `key=value` settings and at most one bare token
 * (the room secret, from issue 4 on). Nothing here leaves the browser. */
function parseFragment(hash) {
  const settings = new Map();
  let token = null;
  for (const part of hash.replace(/^#/, '').split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    try {
      if (eq < 0) token ??= decodeURIComponent(part);
      else settings.set(decodeURIComponent(part.slice(0, eq)), decodeURIComponent(part.slice(eq + 1)));
    } catch { /* a malformed %-escape: ignore that part */ }
  }
  return { settings, token };
}

/** Why `id` is not a room id the relay accepts (crates/proto RoomId), or null. */
function roomIdProblem(id) {
  if (!id) return 'the room id is empty';
  if (id.length > MAX_ROOM_ID_LEN) return `the room id is ${id.length} characters long; the limit is ${MAX_ROOM_ID_LEN}`;
  const bad = [...id].find((c) => !/[A-Za-z0-9_-]/.test(c));
  if (bad !== undefined) return `the room id contains ${JSON.stringify(bad)}; only A-Z a-z 0-9 - _ are allowed`;
  return null;
}

/** 128 random bits as 22 base64url characters. */
function newRoomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// ---------------------------------------------------------------- page state

const page = {
  state: 'idle', // idle | joining | joined | left | error
  roomId: null,
  session: null,
  errors: [], // every error shown, newest last: {code, message}
};

function setState(state) {
  page.state = state;
  document.body.dataset.state = state;
  $('join-form').hidden = state !== 'idle';
  // After leaving, or losing a call we were in, offer to (re)join.
  $('left').hidden = !(state === 'left' || (state === 'error' && page.session));
  $('left-text').textContent = state === 'left' ? 'You left the meeting.' : 'You are not in the meeting.';
  $('call').hidden = !(state === 'joining' || state === 'joined');
  renderStatus();
}

function showError(code, message) {
  page.errors.push({ code, message });
  const box = $('error');
  box.textContent = message;
  box.dataset.code = code;
  box.hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

function renderStatus() {
  const s = page.session;
  let text = '';
  if (page.state === 'joining') text = 'joining…';
  if (page.state === 'joined' && s) {
    const n = s.peers.size + 1;
    text = `${n} participant${n === 1 ? '' : 's'}`;
    if (s.pc && s.pc.connectionState !== 'connected') text += ` · media ${s.pc.connectionState}`;
  }
  if (page.state === 'left') text = 'left';
  if (page.state === 'error') text = 'disconnected';
  $('status').textContent = text;
}

// ---------------------------------------------------------------- one call

/** Everything about one stay in the room, from Join to Leave. */
function newSession(roomId, name) {
  return {
    roomId,
    name,
    ws: null,
    pc: null,
    local: null, // our MediaStream
    me: null, // our participant id
    peers: new Map(), // participant id -> peer (see ensurePeer)
    owners: new Map(), // receiver track id -> participant id (latest ontrack)
    midOwners: new Map(), // transceiver mid -> participant id
    streams: new Map(), // participant id -> their MediaStream, kept after they leave
    gone: new Set(), // participants who left; ids are never reused
    inbox: Promise.resolve(), // relay messages are handled strictly one after another
    relayError: null, // the relay's last error message, shown if it then closes
    leaving: false,
    over: false,
  };
}

function send(s, msg) {
  if (s.ws && s.ws.readyState === WebSocket.OPEN) s.ws.send(JSON.stringify(msg));
}

/** Tells the others our display name. The only place that knows how profiles
 * travel: today a plain broadcast the relay forwards without reading; with
 * E2EE (issue 4) an MLS application message. */
function sendProfile(s) {
  send(s, { type: 'broadcast', data: JSON.stringify({ profile: { name: s.name } }) });
}

/** Reads a peer's broadcast; ignores anything it does not understand. */
function receiveBroadcast(s, from, data) {
  let body;
  try { body = JSON.parse(data); } catch { return; }
  const name = body && body.profile && body.profile.name;
  if (typeof name !== 'string') return;
  const peer = ensurePeer(s, from);
  if (!peer) return;
  peer.name = name.trim().slice(0, MAX_NAME_LEN);
  renderPeer(s, peer);
}

function join() {
  const problem = roomIdProblem(page.roomId);
  if (problem) {
    showError('invalid_room_id', `This meeting link is not valid: ${problem}.`);
    setState('error');
    return;
  }
  clearError();
  const name = $('name').value.trim().slice(0, MAX_NAME_LEN) || 'Guest';
  const s = newSession(page.roomId, name);
  page.session = s;
  $('grid').replaceChildren();
  setState('joining');

  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}/r/${encodeURIComponent(s.roomId)}/ws`);
  s.ws = ws;
  ws.onopen = () => send(s, { type: 'join', protocol: PROTOCOL_VERSION });
  ws.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch {
      console.warn('relay sent something that is not JSON', ev.data);
      return;
    }
    s.inbox = s.inbox.then(() => handle(s, msg)).catch((err) => {
      console.error(err);
      fail(s, 'client', `Something went wrong in this page: ${err && err.message ? err.message : err}`);
    });
  };
  ws.onclose = (ev) => {
    if (s.leaving || s.over) return;
    if (s.relayError && Date.now() - s.relayError.at < 3000) {
      fail(s, s.relayError.code, `The relay closed the connection: ${s.relayError.message}`);
      return;
    }
    const why = ev.reason ? `: ${ev.reason}` : ` (code ${ev.code})`;
    fail(s, 'closed', page.state === 'joining' && !s.me
      ? `Could not join: the relay closed the connection${why}.`
      : `The connection to the relay was lost${why}.`);
  };
}

/** Ends the session because of an error the user should see. */
function fail(s, code, message) {
  if (s.over) return;
  showError(code, message);
  teardown(s);
  if (page.session === s) setState('error');
}

function teardown(s) {
  s.over = true;
  if (s.pc) s.pc.close();
  if (s.local) s.local.getTracks().forEach((t) => t.stop());
  if (s.ws && s.ws.readyState <= WebSocket.OPEN) s.ws.close();
}

function leave() {
  const s = page.session;
  if (!s || s.over) return;
  s.leaving = true;
  send(s, { type: 'leave' });
  teardown(s);
  $('grid').replaceChildren();
  setState('left');
}

async function handle(s, msg) {
  if (s.over) return;
  console.debug(`relay: ${msg.type}${msg.participant ? ` ${msg.participant}` : ''}${msg.code ? ` ${msg.code}` : ''}`);
  switch (msg.type) {
    case 'joined':
      s.me = msg.participant;
      for (const p of msg.peers || []) Object.assign(ensurePeer(s, p.participant) || {}, { audio: p.audio, video: p.video });
      await publish(s);
      sendProfile(s);
      setState('joined');
      break;
    case 'answer':
      await applyRemote(s, 'answer', msg.sdp);
      break;
    case 'offer':
      await applyRemote(s, 'offer', msg.sdp);
      await s.pc.setLocalDescription(await s.pc.createAnswer());
      send(s, { type: 'answer', sdp: s.pc.localDescription.sdp });
      break;
    case 'peer_joined':
      ensurePeer(s, msg.participant);
      sendProfile(s); // so the newcomer learns our name
      break;
    case 'peer_left':
      removePeer(s, msg.participant);
      break;
    case 'peer_media': {
      const peer = ensurePeer(s, msg.participant);
      if (!peer) break;
      peer.audio = msg.audio;
      peer.video = msg.video;
      renderPeer(s, peer);
      break;
    }
    case 'broadcast':
      receiveBroadcast(s, msg.from, msg.data);
      break;
    case 'error':
      s.relayError = { code: msg.code, message: msg.message, at: Date.now() };
      if (FATAL_ERRORS.has(msg.code)) fail(s, msg.code, `The relay refused: ${msg.message}`);
      else showError(msg.code, `The relay refused a message: ${msg.message}`);
      break;
    default:
      console.warn('unknown message from the relay', msg);
  }
  renderStatus();
}

async function applyRemote(s, type, sdp) {
  try {
    await s.pc.setRemoteDescription({ type, sdp });
  } catch (err) {
    console.error(`the relay's ${type} was refused by this browser:\n${sdp}`);
    throw new Error(`the relay's ${type} does not fit this browser (${err.message})`);
  }
}

/** Opens camera and microphone and makes our one offer (sendonly). */
async function publish(s) {
  try {
    s.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  } catch (err) {
    throw new Error(`cannot use camera and microphone (${err.name}: ${err.message}); allow them and rejoin`);
  }
  if (s.over) { s.local.getTracks().forEach((t) => t.stop()); return; }
  const pc = new RTCPeerConnection();
  s.pc = pc;
  for (const track of [...s.local.getAudioTracks(), ...s.local.getVideoTracks()]) {
    pc.addTransceiver(track, { direction: 'sendonly', streams: [s.local] });
  }
  pc.ontrack = (ev) => onTrack(s, ev);
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === 'failed' && !s.over) {
      showError('media', 'The media connection to the relay failed. The relay\'s UDP port may be blocked, '
        + 'or the relay needs --public-ip behind NAT.');
    }
    renderStatus();
  };
  addSelfTile(s);
  await pc.setLocalDescription(await pc.createOffer());
  // The relay is ICE-lite and learns our address from our connectivity checks,
  // so the offer needs no candidates and we do not wait for gathering.
  send(s, { type: 'offer', sdp: pc.localDescription.sdp });
}

function onTrack(s, ev) {
  const stream = ev.streams[0];
  if (!stream) return; // the relay always sets msid = participant id
  const participant = stream.id;
  s.owners.set(ev.track.id, participant);
  if (ev.transceiver.mid != null) s.midOwners.set(ev.transceiver.mid, participant);
  s.streams.set(participant, stream);
  const peer = ensurePeer(s, participant);
  if (!peer) return; // a late track of someone who already left
  peer.stream = stream;
  const rerender = () => renderPeer(s, peer);
  ev.track.addEventListener('mute', rerender);
  ev.track.addEventListener('unmute', rerender);
  ev.track.addEventListener('ended', rerender);
  stream.onremovetrack = rerender;
  stream.onaddtrack = rerender;
  renderPeer(s, peer);
}

// ---------------------------------------------------------------- the grid

/** The peer with this id, created on first mention; null once they left. */
function ensurePeer(s, participant) {
  if (s.gone.has(participant)) return null;
  let peer = s.peers.get(participant);
  if (!peer) {
    peer = { participant, name: null, audio: true, video: true, stream: null, tile: makeTile() };
    s.peers.set(participant, peer);
    peer.tile.dataset.participant = participant;
    $('grid').append(peer.tile);
    renderPeer(s, peer);
  }
  return peer;
}

function removePeer(s, participant) {
  s.gone.add(participant);
  const peer = s.peers.get(participant);
  if (!peer) return;
  s.peers.delete(participant);
  peer.tile.querySelector('video').srcObject = null;
  peer.tile.remove();
}

function makeTile() {
  const tile = document.createElement('div');
  tile.className = 'tile';
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  const label = document.createElement('div');
  label.className = 'label';
  const name = document.createElement('span');
  name.className = 'name';
  const mic = document.createElement('span');
  mic.className = 'badge mic-off';
  mic.textContent = 'mic off';
  const cam = document.createElement('span');
  cam.className = 'badge cam-off';
  cam.textContent = 'camera off';
  label.append(name, mic, cam);
  tile.append(video, label);
  return tile;
}

function renderPeer(s, peer) {
  const { tile } = peer;
  // textContent, never innerHTML: names come from other people.
  tile.querySelector('.name').textContent = peer.name ?? 'joining…';
  tile.querySelector('.mic-off').hidden = peer.audio;
  tile.querySelector('.cam-off').hidden = peer.video;
  tile.classList.toggle('video-off', !peer.video);
  const video = tile.querySelector('video');
  if (peer.stream && video.srcObject !== peer.stream) {
    video.srcObject = peer.stream;
    play(video);
  }
}

/** Starts playback; where the browser blocks sound without a click, plays
 * muted and unmutes on the next click anywhere. */
function play(video) {
  video.play().catch(() => {
    video.muted = true;
    video.play().catch(() => {});
    document.addEventListener('click', () => { video.muted = false; }, { once: true });
  });
}

function addSelfTile(s) {
  const tile = makeTile();
  tile.classList.add('self');
  tile.dataset.participant = s.me;
  const video = tile.querySelector('video');
  video.muted = true; // never play our own microphone back
  video.srcObject = s.local;
  play(video);
  tile.querySelector('.name').textContent = `${s.name} (you)`;
  s.selfTile = tile;
  renderSelf(s);
  $('grid').prepend(tile);
}

function renderSelf(s) {
  const audio = s.local.getAudioTracks().every((t) => t.enabled);
  const video = s.local.getVideoTracks().every((t) => t.enabled);
  s.selfTile.querySelector('.mic-off').hidden = audio;
  s.selfTile.querySelector('.cam-off').hidden = video;
  s.selfTile.classList.toggle('video-off', !video);
  $('toggle-audio').textContent = audio ? 'Mute mic' : 'Unmute mic';
  $('toggle-audio').setAttribute('aria-pressed', String(!audio));
  $('toggle-video').textContent = video ? 'Stop camera' : 'Start camera';
  $('toggle-video').setAttribute('aria-pressed', String(!video));
  return { audio, video };
}

function toggle(kind) {
  const s = page.session;
  if (!s || !s.local || s.over) return;
  const tracks = kind === 'audio' ? s.local.getAudioTracks() : s.local.getVideoTracks();
  const on = !tracks.every((t) => t.enabled);
  tracks.forEach((t) => { t.enabled = on; });
  send(s, { type: 'media', ...renderSelf(s) });
}

// ---------------------------------------------------------------- test hook

/** Receive statistics per remote participant, from pc.getStats(): inbound-rtp
 * reports mapped to participants through the transceiver (mid) or receiver
 * track that carried them. Where an m-line was reused, the newest SSRC wins. */
async function stats() {
  const s = page.session;
  if (!s || !s.pc || s.over) return [];
  const report = await s.pc.getStats();
  const byPeer = new Map();
  for (const r of report.values()) {
    if (r.type !== 'inbound-rtp') continue;
    const participant = (r.mid != null && s.midOwners.get(r.mid)) || s.owners.get(r.trackIdentifier);
    if (!participant || !s.peers.has(participant)) continue;
    const kind = r.kind || r.mediaType;
    if (kind !== 'audio' && kind !== 'video') continue;
    const entry = byPeer.get(participant) || { participant, video: null, audio: null };
    const prev = entry[kind];
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

function pick(obj, keys) {
  const out = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}

/** Every receiver and whom its track currently belongs to. */
function remoteTracks() {
  const s = page.session;
  if (!s || !s.pc || s.over) return [];
  return s.pc.getTransceivers()
    .filter((t) => t.mid != null && s.owners.has(t.receiver.track.id))
    .map((t) => {
      const track = t.receiver.track;
      const participant = s.midOwners.get(t.mid) || s.owners.get(track.id) || null;
      const stream = participant && s.streams.get(participant);
      return {
        participant,
        kind: track.kind,
        mid: t.mid,
        direction: t.currentDirection,
        readyState: track.readyState,
        muted: track.muted,
        inStream: !!(stream && stream.getTracks().includes(track)),
      };
    });
}

window.conclave = {
  get state() { return page.state; },
  get room() { return page.roomId; },
  get me() { return page.session ? page.session.me : null; },
  get name() { return page.session ? page.session.name : null; },
  get errors() { return page.errors.slice(); },
  get connectionState() { return page.session && page.session.pc ? page.session.pc.connectionState : null; },
  peers() {
    const s = page.session;
    if (!s || s.over) return [];
    return [...s.peers.values()].map((p) => ({
      participant: p.participant,
      name: p.name,
      audio: p.audio,
      video: p.video,
      tracks: p.stream ? p.stream.getTracks().filter((t) => t.readyState === 'live').map((t) => t.kind).sort() : [],
    }));
  },
  stats,
  remoteTracks,
  /** The current local and remote session descriptions (diagnostics). */
  sdp() {
    const pc = page.session && page.session.pc;
    return pc ? { local: pc.localDescription && pc.localDescription.sdp, remote: pc.remoteDescription && pc.remoteDescription.sdp } : null;
  },
  join: () => join(),
  leave: () => leave(),
  toggleAudio: () => toggle('audio'),
  toggleVideo: () => toggle('video'),
  /** Sends a raw text frame on the signaling socket (tests of the relay's input checks). */
  sendRaw(text) { if (page.session && page.session.ws) page.session.ws.send(text); },
};

// ---------------------------------------------------------------- start

function start() {
  const path = location.pathname;
  if (path === '/' || path === '/index.html') {
    $('home').hidden = false;
    $('new-meeting').onclick = () => { location.assign(`/r/${newRoomId()}${location.hash}`); };
    return;
  }
  const m = /^\/r\/([^/]*)\/?$/.exec(path);
  if (!m) {
    showError('not_found', 'There is no meeting at this address. Start one from the home page.');
    return;
  }
  page.roomId = m[1];
  $('room').hidden = false;
  $('share-link').value = `${location.origin}/r/${page.roomId}`;
  $('copy-link').onclick = async () => {
    const input = $('share-link');
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      input.select();
      document.execCommand('copy');
    }
    $('copy-link').textContent = 'Copied';
    setTimeout(() => { $('copy-link').textContent = 'Copy'; }, 1500);
  };
  $('join-form').onsubmit = (ev) => { ev.preventDefault(); join(); };
  $('rejoin').onclick = () => join();
  $('leave').onclick = () => leave();
  $('toggle-audio').onclick = () => toggle('audio');
  $('toggle-video').onclick = () => toggle('video');

  const { settings } = parseFragment(location.hash);
  $('name').value = (settings.get('name') || '').slice(0, MAX_NAME_LEN);
  setState('idle');
  const problem = roomIdProblem(page.roomId);
  if (problem) {
    showError('invalid_room_id', `This meeting link is not valid: ${problem}.`);
    setState('error');
    return;
  }
  if (settings.get('autojoin') === '1') join();
}

start();
