// Conclave's browser client: one page, no framework, no build step.
//
// "/" offers a new meeting; "/r/<room-id>#<secret>" is a meeting. The page
// talks to the relay over one WebSocket (`/r/<room-id>/ws`, JSON messages
// defined in crates/proto) and one RTCPeerConnection: it offers its microphone
// and camera once, then answers every renegotiation offer the relay makes as
// other participants' tracks come and go (DESIGN.md §4).
//
// End-to-end encryption (issue 4), with conclave-e2ee compiled to wasm
// (crates/wasm): the room secret S lives in the URL fragment, which browsers
// never send to a server; the room id in the path derives from it and a link
// whose halves do not match is refused. The page holds the MLS group (a `Call`)
// and speaks it through the relay's delivery service (`mls` messages); the
// media worker (e2ee-worker.js) SFrame-encrypts every frame we send and
// decrypts every frame we receive with keys exported from the group. Names
// travel only inside MLS application messages; the roster shown is the MLS
// group's leaves; the safety code comes from the epoch authenticator.
//
// `window.conclave` is a small hook for tests and curious users: state, own
// participant id, peers, per-participant receive statistics, and the E2EE
// state (roster, epoch, safety code, refused attempts, decrypt failures).

import initWasm, { Call, RoomKey } from './conclave_wasm.js';

const PROTOCOL_VERSION = 1;
// How long a joiner waits for a member to admit it.
const ADMIT_TIMEOUT_MS = 20000;
// How long the next member in line waits before it takes over admitting a
// joiner or removing someone who left (multiplied by its place in line).
const TAKEOVER_MS = 3000;
// A leaf that has not said who it is this long after it was added is removed
// (e.g. a joiner whose Welcome never arrived, or who dropped at once).
const ORPHAN_MS = 15000;
// How long after a join or self-update senders keep the previous key.
const SWITCH_DELAY_MS = 150;
// New epoch at least this often (DESIGN.md §4 step 4: ≤ 5 minutes).
const REKEY_MS = 4 * 60 * 1000;
// A name in a profile message, at most.
const MAX_PROFILE_LEN = 512;
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

function toBase64(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

function fromBase64(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// ---------------------------------------------------------------- page state

const page = {
  state: 'idle', // idle | joining | joined | left | error
  roomId: null,
  key: null, // RoomKey: the link's secret (never leaves this tab but inside MLS)
  settings: new Map(), // the fragment's key=value settings
  debug: false, // `&debug=1`: the worker keeps plaintext samples for tests
  session: null,
  errors: [], // every error shown, newest last: {code, message}
  openedAt: Date.now(),
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
  if (page.state === 'joining') text = s && s.e2ee.state === 'waiting' ? 'waiting to be admitted…' : 'joining…';
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
    mlsInbox: Promise.resolve(), // … and MLS messages among themselves
    decided: null, // resolves once we created the group or asked to join
    markDecided: null,
    relayError: null, // the relay's last error message, shown if it then closes
    leaving: false,
    over: false,
    e2ee: {
      call: new Call(page.key), // our MLS state: joiner, then member
      state: 'connecting', // connecting | waiting (for a Welcome) | member | out
      worker: null,
      workerEpoch: -1, // the epoch whose keys the worker has
      profiles: new Map(), // leaf -> {name, participant}: only from MLS messages
      roster: [], // [{leaf, identity, host}] from the group
      ownLeaf: -1,
      epoch: 0,
      epochAt: 0,
      safetyCode: '',
      policy: null,
      joins: new Map(), // ticket -> {since, hostDecides}: checked, not yet admitted
      refused: [], // {what, reason, at}: attempts members refused
      rx: {}, // receiver (mid) -> worker status
      stats: null,
      admitTimer: null,
      tick: null,
      replies: new Map(), // worker request id -> resolve
      nextReply: 1,
      joinedAt: null,
      marks: {}, // milestone -> ms since the page opened (performance.now())
      addedAt: new Map(), // leaf -> when we first saw it in the group
      rivals: new Set(), // relay ids whose MLS messages we could not read while alone
    },
  };
}

function send(s, msg) {
  if (s.ws && s.ws.readyState === WebSocket.OPEN) s.ws.send(JSON.stringify(msg));
}

/** Tells the members our display name and which relay connection is ours,
 * inside an MLS application message: the relay never sees either. Sent on
 * joining and on every epoch change, so newcomers learn it. */
function sendProfile(s) {
  const e = s.e2ee;
  if (e.state !== 'member') return;
  const text = JSON.stringify({ profile: { name: s.name, participant: s.me } });
  sendMls(s, e.call.send(text));
}

/** Reads a member's application message; ignores what it does not understand. */
function receiveApplication(s, sender, text) {
  const e = s.e2ee;
  if (text.length > MAX_PROFILE_LEN) return;
  let body;
  try { body = JSON.parse(text); } catch { return; }
  const p = body && body.profile;
  if (!p || typeof p.name !== 'string' || typeof p.participant !== 'string') return;
  const name = p.name.trim().slice(0, MAX_NAME_LEN) || 'Guest';
  const first = !e.profiles.has(sender);
  // A participant id names one connection; whoever claimed it before
  // (an earlier leaf of a rejoining device) no longer owns it.
  for (const [leaf, q] of e.profiles) if (leaf !== sender && q.participant === p.participant) e.profiles.delete(leaf);
  e.profiles.set(sender, { name, participant: p.participant });
  if (first && sender !== e.ownLeaf && e.joinedAt !== null && Date.now() - e.joinedAt > 1500) note(s, `${name} joined`);
  for (const peer of s.peers.values()) renderPeer(s, peer);
  renderE2ee(s);
  maintain(s);
}

function sendMls(s, bytes) {
  send(s, { type: 'mls', data: toBase64(bytes) });
}

/** A new `tag` element with an optional class and text. */
function el(tag, className = '', text = '') {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text) e.textContent = text;
  return e;
}

/** A line in the call's event list, for everyone to see (joins, leaves,
 * refused attempts). */
function note(s, text, kind = 'info') {
  const li = el('li', kind, `${new Date().toLocaleTimeString()} ${text}`);
  $('events').prepend(li);
  while ($('events').children.length > 50) $('events').lastChild.remove();
  console.info(`call: ${text}`);
}

function join() {
  const problem = roomIdProblem(page.roomId);
  if (problem) {
    showError('invalid_room_id', `This meeting link is not valid: ${problem}.`);
    setState('error');
    return;
  }
  if (!page.key) {
    showError('no_secret', 'This meeting link has no secret (the part after #). Ask for the whole link.');
    setState('error');
    return;
  }
  clearError();
  const name = $('name').value.trim().slice(0, MAX_NAME_LEN) || 'Guest';
  const s = newSession(page.roomId, name);
  s.decided = new Promise((resolve) => { s.markDecided = resolve; });
  page.session = s;
  $('grid').replaceChildren();
  $('events').replaceChildren();
  startWorker(s);
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
    const failed = (err) => {
      console.error(err);
      fail(s, 'client', `Something went wrong in this page: ${err && err.message ? err.message : err}`);
    };
    // MLS messages have their own queue: they must not wait for the camera
    // (a permission prompt can take a while), only for our create-or-join
    // decision on 'joined'.
    if (msg.type === 'mls') s.mlsInbox = s.mlsInbox.then(() => s.decided).then(() => handle(s, msg)).catch(failed);
    else s.inbox = s.inbox.then(() => handle(s, msg)).catch(failed);
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
  const e = s.e2ee;
  clearTimeout(e.admitTimer);
  clearInterval(e.tick);
  if (e.worker) {
    e.worker.postMessage({ type: 'stop' });
    setTimeout(() => e.worker.terminate(), 1000);
  }
  if (e.state !== 'out') e.state = 'out';
  try { e.call.free(); } catch { /* already freed */ }
  renderE2ee(s);
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
      mark(s, 'relayJoined');
      s.me = msg.participant;
      for (const p of msg.peers || []) Object.assign(ensurePeer(s, p.participant) || {}, { audio: p.audio, video: p.video });
      // Decide before opening the camera: MLS messages (a join request for
      // us to check, our Welcome) are handled while the camera starts.
      if (!msg.peers || msg.peers.length === 0) {
        // Nobody here: we start the room's group. The policy is fixed now.
        s.e2ee.call.create(page.settings.get('approval') === '1');
        becomeMember(s, 'created');
      } else {
        askToJoin(s);
      }
      s.markDecided();
      await publish(s);
      mark(s, 'published');
      if (s.over) return;
      if (s.e2ee.state === 'member') setState('joined');
      break;
    case 'answer':
      await applyRemote(s, 'answer', msg.sdp);
      break;
    case 'offer':
      await applyRemote(s, 'offer', msg.sdp);
      transformReceivers(s);
      await s.pc.setLocalDescription(await s.pc.createAnswer());
      send(s, { type: 'answer', sdp: s.pc.localDescription.sdp });
      break;
    case 'peer_joined':
      ensurePeer(s, msg.participant);
      break;
    case 'peer_left':
      removePeer(s, msg.participant);
      maintain(s); // someone commits the Remove of their leaf
      break;
    case 'peer_media': {
      const peer = ensurePeer(s, msg.participant);
      if (!peer) break;
      peer.audio = msg.audio;
      peer.video = msg.video;
      renderPeer(s, peer);
      break;
    }
    case 'mls':
      onMls(s, msg.from, msg.data);
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
  if (typeof RTCRtpScriptTransform === 'undefined') {
    throw new Error('this browser cannot encrypt media end to end (no RTCRtpScriptTransform); use a current Chromium, Chrome, Firefox or Safari');
  }
  // Only VP8 and Opus are protected (the relay negotiates nothing else).
  const pc = new RTCPeerConnection();
  s.pc = pc;
  for (const track of [...s.local.getAudioTracks(), ...s.local.getVideoTracks()]) {
    const tr = pc.addTransceiver(track, { direction: 'sendonly', streams: [s.local] });
    // Now, not later: a transform set on a live sender passes no frames.
    tr.sender.transform = new RTCRtpScriptTransform(s.e2ee.worker, { side: 'send', kind: track.kind });
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

/** Puts every receiver through the worker's decryption (once each). */
function transformReceivers(s) {
  if (!s.pc) return;
  for (const t of s.pc.getTransceivers()) {
    const r = t.receiver;
    // Our own sendonly transceivers receive nothing.
    if (r.transform || t.mid == null || t.sender.track) continue;
    r.transform = new RTCRtpScriptTransform(s.e2ee.worker, { side: 'recv', kind: r.track.kind, id: t.mid });
  }
}

function onTrack(s, ev) {
  transformReceivers(s);
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

// ---------------------------------------------------------------- E2EE

function startWorker(s) {
  const e = s.e2ee;
  e.worker = new Worker('/assets/e2ee-worker.js', { type: 'module' });
  if (page.debug) e.worker.postMessage({ type: 'debug' });
  e.worker.onmessage = (ev) => {
    const m = ev.data;
    if (m.type === 'rx') {
      e.rx = m.rx;
      for (const peer of s.peers.values()) renderPeer(s, peer);
      renderE2ee(s);
    } else if (m.type === 'error') {
      fail(s, 'e2ee', `End-to-end encryption is not available: ${m.message}`);
    } else if (m.id && e.replies.has(m.id)) {
      e.replies.get(m.id)(m);
      e.replies.delete(m.id);
    }
  };
  e.worker.onerror = (ev) => fail(s, 'e2ee', `The media encryption worker failed: ${ev.message || 'unknown error'}`);
  e.tick = setInterval(() => { if (!s.over) { maintain(s); refreshStats(s); } }, 1000);
}

function askWorker(s, type) {
  const e = s.e2ee;
  if (!e.worker || s.over) return Promise.resolve(null);
  const id = e.nextReply++;
  return Promise.race([
    new Promise((resolve) => { e.replies.set(id, resolve); e.worker.postMessage({ type, id }); }),
    new Promise((resolve) => setTimeout(() => resolve(null), 2000)),
  ]);
}

async function refreshStats(s) {
  const r = await askWorker(s, 'stats');
  if (r) { s.e2ee.stats = r.stats; renderE2ee(s); }
}

/** Someone is in the room: ask the members to let us in, and wait. */
function mark(s, what) {
  s.e2ee.marks[what] ??= Math.round(performance.now());
}

function askToJoin(s) {
  const e = s.e2ee;
  mark(s, 'joinRequest');
  e.state = 'waiting';
  sendMls(s, e.call.joinRequest(Date.now()));
  renderStatus();
  renderE2ee(s);
  clearTimeout(e.admitTimer);
  e.admitTimer = setTimeout(() => {
    if (e.state !== 'waiting' || s.over) return;
    fail(s, 'not_admitted', `Nobody in this meeting let you in within ${ADMIT_TIMEOUT_MS / 1000} seconds. `
      + 'Members admit only people whose link has the right secret: check that you have the whole link, or ask a member for a new one.');
  }, ADMIT_TIMEOUT_MS);
}

/** We are in the group (created it, or joined from a Welcome). */
function becomeMember(s, how) {
  const e = s.e2ee;
  clearTimeout(e.admitTimer);
  mark(s, how);
  e.state = 'member';
  e.joinedAt = Date.now();
  e.policy = JSON.parse(e.call.policy());
  onEpoch(s, null);
  note(s, how === 'created' ? 'You started the meeting; it is end-to-end encrypted' : 'You were let in; the call is end-to-end encrypted');
  if (s.pc) setState('joined'); // else once the camera is up (see 'joined')
}

/** After every epoch change: new media keys, roster and safety code; our
 * profile again so newcomers learn our name. */
function onEpoch(s, ev) {
  const e = s.e2ee;
  const before = new Map(e.roster.map((r) => [r.leaf, r]));
  e.roster = JSON.parse(e.call.roster());
  for (const r of e.roster) if (!e.addedAt.has(r.leaf)) e.addedAt.set(r.leaf, Date.now());
  for (const leaf of [...e.addedAt.keys()]) if (!e.roster.some((r) => r.leaf === leaf)) e.addedAt.delete(leaf);
  e.ownLeaf = e.call.ownLeaf();
  e.epoch = e.call.epoch();
  e.epochAt = Date.now();
  e.safetyCode = e.call.safetyCode();
  // Senders switch a moment later so members still applying the commit do not
  // drop our frames, except after a removal: then the removed member's keys
  // must stop opening our frames at once.
  const removal = !!(ev && (ev.removed || []).length);
  e.worker.postMessage({ type: 'epoch', bytes: e.call.mediaEpoch(), switchAfterMs: removal ? 0 : SWITCH_DELAY_MS });
  e.workerEpoch = e.epoch;
  if (ev) {
    for (const leaf of ev.removed || []) {
      const p = e.profiles.get(leaf);
      if (before.has(leaf)) note(s, `${p ? p.name : `leaf ${leaf}`} left the call; new keys`);
      e.profiles.delete(leaf);
    }
    for (const t of ev.admitted || []) e.joins.delete(t);
    if ((ev.added || []).length) note(s, `${ev.added.length === 1 ? 'someone was' : `${ev.added.length} people were`} let in; new keys`);
  }
  sendProfile(s);
  for (const peer of s.peers.values()) renderPeer(s, peer);
  renderE2ee(s);
  maintain(s);
}

function refuse(s, what, reason) {
  const e = s.e2ee;
  e.refused.push({ what, reason, at: Date.now() });
  const text = {
    join: 'Someone tried to join without the right link; they were not let in',
    commit: 'A change to the call that no member made was refused',
    welcome: 'An invitation that no member made was refused',
  }[what] || `A ${what} that no member sent was refused`;
  note(s, `${text} (${reason})`, 'warn');
  renderE2ee(s);
}

function onMls(s, from, data) {
  const e = s.e2ee;
  if (e.state === 'out') return;
  let bytes;
  try { bytes = fromBase64(data); } catch { return; }
  const ev = JSON.parse(e.call.handle(bytes, Date.now()));
  switch (ev.kind) {
    case 'join_request':
      if (!ev.ok) { refuse(s, 'join', ev.reason); break; }
      e.joins.set(ev.ticket, { since: Date.now(), hostDecides: ev.host_decides, asked: false });
      break;
    case 'welcomed':
      becomeMember(s, 'welcomed');
      break;
    case 'epoch':
      onEpoch(s, ev);
      break;
    case 'rejected':
      // The winning commit was already applied; maintain() decides again.
      break;
    case 'leave_requested':
      break; // committed by maintain() through the peer_left that follows
    case 'application':
      receiveApplication(s, ev.sender, ev.text);
      break;
    case 'removed':
      fail(s, 'removed', 'You were removed from the call by a member.');
      return;
    case 'refused':
      if (ev.what === 'message' && rivalGroup(s, from)) return;
      refuse(s, ev.what, ev.reason);
      if (ev.what === 'welcome' && e.state === 'waiting') {
        // The relay used up our join ticket on a fake invitation: ask again.
        sendMls(s, e.call.joinRequest(Date.now()));
      }
      break;
    default:
      break;
  }
  maintain(s);
}

/** Two tabs that found the room empty at the same moment each started a
 * group. While we are alone in ours, a message we cannot read from another
 * connection means another group exists: the connection with the lower relay
 * id keeps its group, the other drops its own and asks to join. Returns true
 * when we switched. */
function rivalGroup(s, from) {
  const e = s.e2ee;
  if (e.state !== 'member' || e.roster.length !== 1 || e.epoch !== 0 || !s.peers.has(from) || e.rivals.has(from)) return false;
  e.rivals.add(from);
  if (!(from < s.me)) {
    sendProfile(s); // so the other one learns of our group and joins it
    return false;
  }
  note(s, 'Someone else started this meeting at the same moment; joining their group');
  e.worker.postMessage({ type: 'stop' });
  e.call.free();
  e.call = new Call(page.key);
  e.roster = [];
  e.profiles.clear();
  e.addedAt.clear();
  e.workerEpoch = -1;
  setState('joining');
  askToJoin(s);
  return true;
}

/** Leaves of members whose relay connection is still here, lowest first: the
 * order in which they take on admitting and removing. */
function onlineLeaves(s) {
  const e = s.e2ee;
  return e.roster.map((r) => r.leaf).filter((leaf) => {
    if (leaf === e.ownLeaf) return true;
    const p = e.profiles.get(leaf);
    return p && s.peers.has(p.participant) && !s.gone.has(p.participant);
  });
}

/** The one place that decides what this member commits, run after every event
 * and once a second: removals of people who left, admissions of checked join
 * requests, periodic rekeying. One member acts (the lowest online leaf, or a
 * host where the room needs host approval); the next in line takes over when
 * nothing happened after TAKEOVER_MS times its place. */
function maintain(s) {
  const e = s.e2ee;
  if (s.over || e.state !== 'member' || e.call.hasPendingCommit()) return;
  const now = Date.now();
  const online = onlineLeaves(s);
  const rank = Math.max(0, online.indexOf(e.ownLeaf));
  const waited = (since) => now - since >= rank * TAKEOVER_MS;
  try {
    // Someone left: remove their leaf (their keys must not open new frames).
    const leftLeaves = e.roster.filter((r) => {
      if (r.leaf === e.ownLeaf) return false;
      const p = e.profiles.get(r.leaf);
      if (p) return s.gone.has(p.participant);
      return now - (e.addedAt.get(r.leaf) ?? now) > ORPHAN_MS; // never said who it is
    }).map((r) => r.leaf);
    if (leftLeaves.length) {
      e.leftSince ??= now;
      if (waited(e.leftSince)) { sendMls(s, e.call.remove(leftLeaves)); return; }
    } else {
      e.leftSince = null;
    }
    // Checked joiners waiting to be let in.
    const pending = e.call.pendingJoins();
    for (const t of [...e.joins.keys()]) if (!pending.includes(t)) e.joins.delete(t);
    if (pending.length) {
      if (e.policy && e.policy.hostApproval) {
        if (e.policy.amHost) askHost(s, pending);
      } else {
        const since = Math.min(...pending.map((t) => (e.joins.get(t) || { since: now }).since));
        if (waited(since)) { sendMls(s, e.call.admit(pending)); return; }
      }
    }
    // Rekey.
    if (now - e.epochAt >= rekeyMs() + rank * TAKEOVER_MS) sendMls(s, e.call.selfUpdate());
  } catch (err) {
    console.warn(`E2EE: could not commit: ${err.message}`);
  }
}

/** The rekey interval; tests may shorten it with `&debug=1&rekey_s=N`. */
function rekeyMs() {
  const n = Number(page.settings.get('rekey_s'));
  return page.debug && n >= 1 ? n * 1000 : REKEY_MS;
}

/** Host-approval rooms: the host decides about each checked joiner. */
function askHost(s, tickets) {
  const e = s.e2ee;
  for (const t of tickets) {
    const j = e.joins.get(t);
    if (!j || j.asked) continue;
    j.asked = true;
    const li = el('li', 'request');
    li.dataset.ticket = t;
    const text = el('span', '', 'Someone with the link asks to join. ');
    const admit = el('button', 'primary', 'Admit');
    const deny = el('button', '', 'Deny');
    admit.onclick = () => {
      li.remove();
      try { sendMls(s, e.call.admit([t])); } catch (err) { note(s, `Could not admit: ${err.message}`, 'warn'); }
    };
    deny.onclick = () => { li.remove(); e.call.dropJoin(t); note(s, 'You denied a join request'); };
    li.append(text, admit, deny);
    $('requests').append(li);
  }
}

/** Whether we both encrypt what we send and decrypt what we receive, now. */
function e2eeActive(s) {
  const e = s && s.e2ee;
  if (!e || s.over || e.state !== 'member' || e.workerEpoch !== e.epoch) return false;
  const st = e.stats;
  if (!st || st.epoch !== e.epoch) return false;
  const sent = st.encrypted.audio + st.encrypted.video;
  const others = e.roster.length > 1;
  const received = st.decrypted.audio + st.decrypted.video;
  if (!(sent > 0 && (!others || received > 0))) return false;
  // And nobody's media is currently failing to decrypt.
  return [...s.peers.values()].every((p) => !decryptProblem(s, p));
}

function renderE2ee(s) {
  const e = s.e2ee;
  const box = $('e2ee');
  box.hidden = false;
  $('e2ee-on').hidden = !e2eeActive(s);
  $('e2ee-off').hidden = e2eeActive(s);
  $('e2ee-off').textContent = e.state === 'waiting' ? 'waiting to be admitted by a member…'
    : e.state === 'member' ? 'setting up encryption…' : 'not encrypted: not in the call';
  $('safety-code').textContent = e.state === 'member' ? e.safetyCode : '—';
  $('epoch').textContent = e.state === 'member' ? String(e.epoch) : '—';
  const list = $('roster');
  list.replaceChildren(...e.roster.map((r) => {
    const li = el('li');
    const p = e.profiles.get(r.leaf);
    li.dataset.leaf = String(r.leaf);
    li.textContent = r.leaf === e.ownLeaf ? `${s.name} (you)` : p ? p.name : '(no name yet)';
    if (r.host) li.textContent += ' · host';
    return li;
  }));
  if (e.state !== 'member') list.replaceChildren();
}

/** The MLS leaf whose profile names this relay participant, if any. */
function leafOf(s, participant) {
  for (const [leaf, p] of s.e2ee.profiles) if (p.participant === participant) return leaf;
  return null;
}

/** Why we cannot show this participant's media, or null. */
function decryptProblem(s, peer) {
  const e = s.e2ee;
  const mids = [...s.midOwners.entries()].filter(([, p]) => p === peer.participant).map(([mid]) => mid);
  const rx = mids.map((m) => e.rx[m]).filter((r) => r && (r.ok > 0 || r.failed > 0));
  if (!rx.length || rx.some((r) => r.ok > 0 && !r.lastError)) return null;
  const err = rx.map((r) => r.lastError).find(Boolean) || '';
  if (e.state !== 'member' || /no media keys/.test(err)) return 'can\'t decrypt: we are not in the encrypted call (yet)';
  if (/not a member|unknown or expired epoch|authentication/.test(err)) return 'can\'t decrypt: not from a member of this call';
  return `can't decrypt: ${err}`;
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
  const tile = el('div', 'tile');
  const video = el('video');
  video.autoplay = true;
  video.playsInline = true;
  const label = el('div', 'label');
  label.append(el('span', 'name'), el('span', 'badge mic-off', 'mic off'), el('span', 'badge cam-off', 'camera off'));
  const why = el('div', 'why');
  why.hidden = true;
  tile.append(video, label, why);
  return tile;
}

function renderPeer(s, peer) {
  const { tile } = peer;
  const leaf = leafOf(s, peer.participant);
  const profile = leaf !== null ? s.e2ee.profiles.get(leaf) : null;
  peer.name = profile ? profile.name : null;
  peer.leaf = leaf;
  // textContent, never innerHTML: names come from other people.
  tile.querySelector('.name').textContent = peer.name ?? (s.e2ee.state === 'member' ? 'not in the encrypted call' : 'joining…');
  const problem = decryptProblem(s, peer);
  tile.querySelector('.why').textContent = problem || '';
  tile.querySelector('.why').hidden = !problem;
  tile.classList.toggle('undecryptable', !!problem);
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
  /** The safety code members compare aloud ("" before joining). */
  safetyCode() { const s = page.session; return s && s.e2ee.state === 'member' ? s.e2ee.safetyCode : ''; },
  /** The MLS group's leaves with the names and relay ids from their profiles. */
  roster() {
    const s = page.session;
    if (!s || s.e2ee.state !== 'member') return [];
    return s.e2ee.roster.map((r) => {
      const p = s.e2ee.profiles.get(r.leaf);
      const self = r.leaf === s.e2ee.ownLeaf;
      return { leaf: r.leaf, self, name: self ? s.name : (p ? p.name : null), participant: self ? s.me : (p ? p.participant : null) };
    });
  },
  epoch() { const s = page.session; return s && s.e2ee.state === 'member' ? s.e2ee.epoch : null; },
  /** 'connecting' | 'waiting' | 'member' | 'out' */
  e2eeState() { const s = page.session; return s ? s.e2ee.state : null; },
  /** True only while we encrypt what we send and decrypt what we receive. */
  e2ee() { return e2eeActive(page.session); },
  /** Attempts members refused: [{what: 'join'|'commit'|'welcome'|…, reason, at}]. */
  refusedAttempts() { const s = page.session; return s ? s.e2ee.refused.slice() : []; },
  /** Received frames dropped because they did not decrypt: {audio, video, byParticipant}. */
  decryptFailures() {
    const s = page.session;
    const st = s && s.e2ee.stats;
    const byParticipant = {};
    if (s) {
      for (const [mid, rx] of Object.entries(s.e2ee.rx)) {
        const p = s.midOwners.get(mid) || `mid ${mid}`;
        byParticipant[p] = (byParticipant[p] || 0) + rx.failed;
      }
    }
    return { audio: st ? st.failed.audio : 0, video: st ? st.failed.video : 0, byParticipant };
  },
  /** Why each remote tile shows no media, by participant ("" when fine). */
  tileProblems() {
    const s = page.session;
    if (!s) return {};
    return Object.fromEntries([...s.peers.values()].map((p) => [p.participant, decryptProblem(s, p) || '']));
  },
  /** The worker's counters: frames and milliseconds spent encrypting and decrypting per kind. */
  async transformStats() { const s = page.session; const r = s && await askWorker(s, 'stats'); return r ? r.stats : null; },
  /** With `&debug=1` only: the last plaintext frames our sender transform saw. */
  async plaintextSamples() { const s = page.session; const r = s && await askWorker(s, 'samples'); return r ? r.samples : null; },
  /** Milestones of this stay, in ms since the page opened: relayJoined,
   * published, joinRequest, created|welcomed, firstDecrypt. */
  async timeline() {
    const s = page.session;
    if (!s) return null;
    const r = await askWorker(s, 'stats');
    const at = r && r.stats.firstDecryptAt.video;
    return { ...s.e2ee.marks, ...(at ? { firstDecrypt: Math.round(at - performance.timeOrigin) } : {}) };
  },
  /** Milliseconds from opening this page to the first decrypted remote video frame. */
  async firstDecryptMs() {
    const s = page.session;
    const r = s && await askWorker(s, 'stats');
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
  injectMls(data, from = 'relay') {
    const s = page.session;
    if (!page.debug || !s || s.over) return false;
    s.mlsInbox = s.mlsInbox.then(() => onMls(s, from, data));
    return true;
  },
  /** Sends a raw text frame on the signaling socket (tests of the relay's input checks). */
  sendRaw(text) { if (page.session && page.session.ws) page.session.ws.send(text); },
};

// ---------------------------------------------------------------- start

async function start() {
  try {
    await initWasm();
  } catch (err) {
    showError('e2ee', `This page cannot load its end-to-end encryption module (${err.message}); nothing was sent.`);
    return;
  }
  const path = location.pathname;
  const { settings, token } = parseFragment(location.hash);
  page.settings = settings;
  page.debug = settings.get('debug') === '1';
  if (path === '/' || path === '/index.html') {
    $('home').hidden = false;
    $('new-meeting').onclick = () => {
      // The secret is made here, in this tab; the relay only ever sees the
      // room id derived from it.
      const key = RoomKey.generate();
      const extra = $('approval').checked ? '&approval=1' : '';
      location.assign(`/r/${key.roomId()}#${key.secret()}${extra}`);
      key.free();
    };
    return;
  }
  const m = /^\/r\/([^/]*)\/?$/.exec(path);
  if (!m) {
    showError('not_found', 'There is no meeting at this address. Start one from the home page.');
    return;
  }
  page.roomId = m[1];
  $('room').hidden = false;
  $('join-form').onsubmit = (ev) => { ev.preventDefault(); join(); };
  $('rejoin').onclick = () => join();
  $('leave').onclick = () => leave();
  $('toggle-audio').onclick = () => toggle('audio');
  $('toggle-video').onclick = () => toggle('video');
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
  $('name').value = (settings.get('name') || '').slice(0, MAX_NAME_LEN);
  setState('idle');
  const problem = roomIdProblem(page.roomId);
  if (problem) {
    showError('invalid_room_id', `This meeting link is not valid: ${problem}.`);
    setState('error');
    return;
  }
  if (!token) {
    showError('no_secret', 'This meeting link has no secret (the part after #), so you cannot be let in. Ask for the whole link.');
    setState('error');
    return;
  }
  let key;
  try {
    key = RoomKey.fromSecret(token);
  } catch (err) {
    showError('bad_secret', `This meeting link's secret is damaged (${err.message}). Ask for the whole link.`);
    setState('error');
    return;
  }
  if (!key.matchesRoom(page.roomId)) {
    if (!page.debug) {
      key.free();
      showError('room_mismatch', 'This meeting link was altered: its secret does not belong to its room. Ask for the whole link.');
      setState('error');
      return;
    }
    // Tests only: join a room with a secret that is not its own, to prove
    // that members refuse us.
    console.warn('debug: joining a room whose id does not derive from this secret; members will refuse us');
  }
  page.key = key;
  // The link to share: room id and secret, without our own settings.
  $('share-link').value = `${location.origin}/r/${page.roomId}#${token}`;
  if (settings.get('autojoin') === '1') join();
}

start();
