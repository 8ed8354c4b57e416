// @ts-check
// Conclave's browser client: one page, native ES modules, no framework, no
// build step. This file wires the others together and owns a stay in a room,
// from Join to Leave.
//
// "/" offers a new meeting; "/#<secret>" is a meeting (older links,
// "/r/<room-id>#<secret>", still work). The room secret S lives in the URL
// fragment, which browsers never send to a server; the room id derives from
// it, and a link that also names a room id that does not match is refused
// (link.js). The path is the same for every meeting, so a page load does not
// tell the relay which meeting it is for. `relay=<base>` in the fragment
// (written by `conclave open`, which serves this page from the user's own
// binary on loopback) names the relay to talk to. The page talks to the relay over one WebSocket
// (relay.js) and one RTCPeerConnection whose every frame the media worker
// SFrame-encrypts or decrypts (media.js). It holds the room's MLS group (a
// wasm `Call`, crates/wasm) and speaks it through the relay's delivery
// service; membership.js decides what to make of each MLS message and what to
// commit, and this file carries out its decisions. Names travel only inside
// MLS application messages; the roster shown is the MLS group's leaves; the
// safety code comes from the epoch authenticator (ui.js draws them).
//
// `window.conclave` (hook.js) is a small hook for tests and curious users.

import initWasm, { Call, RoomKey } from './conclave_wasm.js';
import { cleanName, fromBase64, readLink, roomIdProblem, toBase64, MAX_NAME_LEN } from './link.js';
import { ADMIT_TIMEOUT_MS, REKEY_MS, Membership } from './membership.js';
import { Media } from './media.js';
import { FATAL_ERRORS, Relay } from './relay.js';
import { installHook } from './hook.js';
import * as ui from './ui.js';

const { $ } = ui;
/** A closed socket right after an error message was closed for that error. */
const RELAY_ERROR_CLOSE_MS = 3000;
/** How often membership decisions are revisited and worker counters read. */
const TICK_MS = 1000;

/**
 * The page, across stays in the room.
 * @type {{state: ui.PageState, roomId: string | null, founder: string | null, relayBase: string | null,
 *   key: RoomKey | null, settings: Map<string, string>,
 *   debug: boolean, session: Session | null, errors: {code: string, message: string}[]}}
 */
const page = {
  state: 'idle',
  roomId: null, // the room id to join: derived from the secret
  founder: null, // the founder token each join shows the relay
  relayBase: null, // `relay=` (a page served by `conclave open`): the relay to talk to

  key: null, // the link's secret (never leaves this tab but inside MLS)
  settings: new Map(), // the fragment's key=value settings
  debug: false, // `&debug=1`: the worker keeps plaintext samples for tests
  session: null,
  errors: [], // every error shown, newest last
};

/**
 * A remote participant as the relay announced them; their name only ever
 * comes from their MLS profile.
 * @typedef {{participant: string, name: string | null, leaf: number | null, audio: boolean, video: boolean,
 *   stream: MediaStream | null, tile: HTMLElement}} Peer
 */

/**
 * Everything about one stay in the room, from Join to Leave.
 * @typedef {object} Session
 * @property {string} roomId
 * @property {string} name
 * @property {Relay} relay
 * @property {Media} media
 * @property {Membership} m
 * @property {string | null} me our participant id
 * @property {Map<string, Peer>} peers participant id -> peer (see ensurePeer)
 * @property {HTMLElement | null} selfTile
 * @property {{code: string, message: string, at: number} | null} relayError the relay's last error, shown if it then closes
 * @property {boolean} leaving
 * @property {boolean} over
 * @property {Record<string, number>} marks milestone -> ms since the page opened (performance.now())
 * @property {ReturnType<typeof setTimeout> | undefined} admitTimer
 * @property {ReturnType<typeof setInterval> | undefined} tick
 */

/** @param {ui.PageState} state */
function setState(state) {
  page.state = state;
  ui.showState(state, !!page.session);
  renderStatus();
}

/**
 * @param {string} code
 * @param {string} message
 */
function showError(code, message) {
  page.errors.push({ code, message });
  ui.showError(code, message);
}

function renderStatus() {
  const s = page.session;
  let text = '';
  if (page.state === 'joining') text = s && s.m.state === 'waiting' ? 'waiting to be admitted…' : 'joining…';
  if (page.state === 'joined' && s) {
    const n = s.peers.size + 1;
    text = `${n} participant${n === 1 ? '' : 's'}`;
    if (s.media.pc && s.media.pc.connectionState !== 'connected') text += ` · media ${s.media.pc.connectionState}`;
  }
  if (page.state === 'left') text = 'left';
  if (page.state === 'error') text = 'disconnected';
  ui.showStatus(text);
}

/**
 * @param {Session} s
 * @param {string} what
 */
function mark(s, what) {
  s.marks[what] ??= Math.round(performance.now());
}

/** The rekey interval; tests may shorten it with `&debug=1&rekey_s=N`. */
function rekeyMs() {
  const n = Number(page.settings.get('rekey_s'));
  return page.debug && n >= 1 ? n * 1000 : REKEY_MS;
}

/**
 * An exception's message (the wasm throws Error objects).
 * @param {unknown} err
 */
function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------- one call

function join() {
  const problem = roomIdProblem(page.roomId);
  if (problem) {
    showError('invalid_room_id', `This meeting link is not valid: ${problem}.`);
    setState('error');
    return;
  }
  const key = page.key;
  if (!key) {
    showError('no_secret', 'This meeting link has no secret (the part after #). Ask for the whole link.');
    setState('error');
    return;
  }
  const roomId = /** @type {string} */ (page.roomId);
  ui.clearError();
  /** @type {Session} */
  const s = {
    roomId,
    name: cleanName($('name').value),
    relay: /** @type {any} */ (null),
    media: /** @type {any} */ (null),
    m: /** @type {any} */ (null),
    me: null,
    peers: new Map(),
    selfTile: null,
    relayError: null,
    leaving: false,
    over: false,
    marks: {},
    admitTimer: undefined,
    tick: undefined,
  };
  s.m = new Membership({ newCall: () => new Call(key), name: s.name, rekeyMs: rekeyMs() });
  page.session = s;
  ui.clearGrid();
  ui.clearEvents();
  s.media = new Media({
    debug: page.debug,
    onRx: () => render(s),
    onFailure: (message) => fail(s, 'e2ee', message),
  });
  s.tick = setInterval(() => {
    if (s.over) return;
    apply(s, s.m.handleTimeout(Date.now()));
    s.media.refreshStats().then((got) => { if (got) renderE2ee(s); });
  }, TICK_MS);
  setState('joining');

  /** @param {unknown} err */
  const failed = (err) => {
    console.error(err);
    fail(s, 'client', `Something went wrong in this page: ${errorText(err)}`);
  };
  s.relay = new Relay(page.relayBase, roomId, /** @type {string} */ (page.founder), {
    message: (msg) => handle(s, msg),
    mls: (msg) => onMls(s, msg.from, msg.data),
    failed,
    close: (ev) => {
      if (s.leaving || s.over) return;
      if (s.relayError && Date.now() - s.relayError.at < RELAY_ERROR_CLOSE_MS) {
        fail(s, s.relayError.code, `The relay closed the connection: ${s.relayError.message}`);
        return;
      }
      const why = ev.reason ? `: ${ev.reason}` : ` (code ${ev.code})`;
      fail(s, 'closed', page.state === 'joining' && !s.me
        ? `Could not join: the relay closed the connection${why}.`
        : `The connection to the relay was lost${why}.`);
    },
  });
}

/**
 * Ends the session because of an error the user should see.
 * @param {Session} s
 * @param {string} code
 * @param {string} message
 */
function fail(s, code, message) {
  if (s.over) return;
  showError(code, message);
  teardown(s);
  if (page.session === s) setState('error');
}

/** @param {Session} s */
function teardown(s) {
  s.over = true;
  clearTimeout(s.admitTimer);
  clearInterval(s.tick);
  s.m.close();
  s.media.close();
  renderE2ee(s);
  s.relay.close();
}

function leave() {
  const s = page.session;
  if (!s || s.over) return;
  s.leaving = true;
  s.relay.send({ type: 'leave' });
  teardown(s);
  ui.clearGrid();
  setState('left');
}

/**
 * One message from the relay (all but `mls`), in order.
 * @param {Session} s
 * @param {import('./relay.js').RelayMessage} msg
 */
async function handle(s, msg) {
  if (s.over) return;
  console.debug(`relay: ${msg.type}${msg.participant ? ` ${msg.participant}` : ''}${msg.code ? ` ${msg.code}` : ''}`);
  switch (msg.type) {
    case 'joined': {
      mark(s, 'relayJoined');
      s.me = msg.participant;
      s.m.connected(msg.participant);
      for (const p of msg.peers || []) Object.assign(ensurePeer(s, p.participant) || {}, { audio: p.audio, video: p.video });
      // Decide before opening the camera: MLS messages (a join request for
      // us to check, our Welcome) are handled while the camera starts.
      const alone = !msg.peers || msg.peers.length === 0;
      if (!alone) mark(s, 'joinRequest');
      apply(s, s.m.start(Date.now(), { alone, hostApproval: page.settings.get('approval') === '1' }));
      s.relay.decided();
      await publish(s);
      mark(s, 'published');
      if (s.over) return;
      if (s.m.state === 'member') setState('joined');
      break;
    }
    case 'answer':
      await s.media.applyAnswer(msg.sdp);
      break;
    case 'offer':
      s.relay.send({ type: 'answer', sdp: await s.media.answer(msg.sdp) });
      break;
    case 'peer_joined':
      ensurePeer(s, msg.participant);
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

/**
 * An `mls` message from the relay: the membership logic decides.
 * @param {Session} s
 * @param {string} from relay participant id of the sender
 * @param {string} data base64 envelope
 */
function onMls(s, from, data) {
  if (s.over || s.m.state === 'out') return;
  let bytes;
  try { bytes = fromBase64(data); } catch { return; }
  apply(s, s.m.handleMls(from, bytes, Date.now()));
}

/**
 * Carries out what the membership logic decided, in order.
 * @param {Session} s
 * @param {import('./membership.js').Action[]} actions
 */
function apply(s, actions) {
  if (!actions.length) return;
  for (const a of actions) {
    switch (a.type) {
      case 'send':
        s.relay.send({ type: 'mls', data: toBase64(a.bytes) });
        break;
      case 'keys':
        s.media.setKeys(a.bytes, a.epoch, a.switchAfterMs);
        break;
      case 'stop_keys':
        s.media.stopKeys();
        break;
      case 'note':
        ui.note(a.text, a.kind);
        break;
      case 'waiting':
        mark(s, 'joinRequest');
        clearTimeout(s.admitTimer);
        s.admitTimer = setTimeout(() => { if (!s.over) apply(s, s.m.handleTimeout(Date.now())); }, ADMIT_TIMEOUT_MS);
        break;
      case 'member':
        clearTimeout(s.admitTimer);
        mark(s, a.how);
        if (s.media.pc) setState('joined'); // else once the camera is up (see 'joined')
        break;
      case 'rejoining':
        setState('joining');
        break;
      case 'ask_host': {
        const ticket = a.ticket;
        ui.askHost(ticket, { admit: () => apply(s, s.m.admit(ticket, Date.now())), deny: () => apply(s, s.m.deny(ticket)) });
        break;
      }
      case 'fail':
        fail(s, a.code, a.message);
        return;
      default:
        break;
    }
  }
  render(s);
}

/**
 * Opens camera and microphone and makes our one offer (sendonly).
 * @param {Session} s
 */
async function publish(s) {
  if (!(await s.media.openCamera())) return;
  s.media.connect({
    track: (participant, stream, track) => onTrack(s, participant, stream, track),
    connectionState: (state) => {
      if (state === 'failed' && !s.over) {
        showError('media', 'The media connection to the relay failed. The relay\'s UDP port may be blocked, '
          + 'or the relay needs --public-ip behind NAT.');
      }
      renderStatus();
    },
  });
  const local = /** @type {MediaStream} */ (s.media.local);
  s.selfTile = ui.addSelfTile(s.me, s.name, local);
  ui.renderSelf(s.selfTile, s.media.sending());
  s.relay.send({ type: 'offer', sdp: await s.media.offer() });
}

/**
 * A remote track arrived; the relay set its stream id to its owner's id.
 * @param {Session} s
 * @param {string} participant
 * @param {MediaStream} stream
 * @param {MediaStreamTrack} track
 */
function onTrack(s, participant, stream, track) {
  const peer = ensurePeer(s, participant);
  if (!peer) return; // a late track of someone who already left
  peer.stream = stream;
  const rerender = () => renderPeer(s, peer);
  track.addEventListener('mute', rerender);
  track.addEventListener('unmute', rerender);
  track.addEventListener('ended', rerender);
  stream.onremovetrack = rerender;
  stream.onaddtrack = rerender;
  renderPeer(s, peer);
}

/**
 * @param {'audio' | 'video'} kind
 */
function toggle(kind) {
  const s = page.session;
  if (!s || !s.media.local || s.over || !s.selfTile) return;
  const on = s.media.toggle(kind);
  ui.renderSelf(s.selfTile, on);
  s.relay.send({ type: 'media', ...on });
}

// ---------------------------------------------------------------- participants

/**
 * The peer with this id, created on first mention; null once they left.
 * @param {Session} s
 * @param {string} participant
 * @returns {Peer | null}
 */
function ensurePeer(s, participant) {
  if (s.m.hasLeft(participant)) return null;
  let peer = s.peers.get(participant);
  if (!peer) {
    peer = { participant, name: null, leaf: null, audio: true, video: true, stream: null, tile: ui.addTile(participant) };
    s.peers.set(participant, peer);
    s.m.peerPresent(participant);
    renderPeer(s, peer);
  }
  return peer;
}

/**
 * The relay says this participant left: their tile goes, and someone commits
 * the Remove of their leaf.
 * @param {Session} s
 * @param {string} participant
 */
function removePeer(s, participant) {
  const peer = s.peers.get(participant);
  if (peer) {
    s.peers.delete(participant);
    ui.removeTile(peer.tile);
  }
  apply(s, s.m.peerLeft(participant, Date.now()));
}

/**
 * @param {Session} s
 * @param {Peer} peer
 */
function renderPeer(s, peer) {
  const leaf = s.m.leafOf(peer.participant);
  const profile = leaf !== null ? s.m.profiles.get(leaf) : null;
  peer.name = profile ? profile.name : null;
  peer.leaf = leaf;
  ui.renderTile(peer.tile, {
    name: peer.name ?? (s.m.state === 'member' ? 'not in the encrypted call' : 'joining…'),
    problem: decryptProblem(s, peer),
    audio: peer.audio,
    video: peer.video,
    stream: peer.stream,
  });
}

/**
 * Why we cannot show this peer's media, or null.
 * @param {Session} s
 * @param {Peer} peer
 */
function decryptProblem(s, peer) {
  return s.media.decryptProblem(peer.participant, s.m.state === 'member');
}

/**
 * Whether we both encrypt what we send and decrypt what we receive, now.
 * @param {Session | null} s
 */
function e2eeActive(s) {
  if (!s || s.over) return false;
  const m = s.m;
  if (m.state !== 'member' || s.media.workerEpoch !== m.epoch) return false;
  const st = s.media.stats;
  if (!st || st.epoch !== m.epoch) return false;
  const sent = st.encrypted.audio + st.encrypted.video;
  const others = m.roster.length > 1;
  const received = st.decrypted.audio + st.decrypted.video;
  if (!(sent > 0 && (!others || received > 0))) return false;
  // And nobody's media is currently failing to decrypt.
  return [...s.peers.values()].every((p) => !decryptProblem(s, p));
}

/** @param {Session} s */
function renderE2ee(s) {
  const m = s.m;
  ui.renderE2ee({ active: e2eeActive(s), state: m.state, safetyCode: m.safetyCode, epoch: m.epoch, members: m.members() });
}

/**
 * Everything that depends on the group or on the worker's status.
 * @param {Session} s
 */
function render(s) {
  for (const peer of s.peers.values()) renderPeer(s, peer);
  renderE2ee(s);
  renderStatus();
}

// ---------------------------------------------------------------- start

installHook({
  page,
  join,
  leave,
  toggle,
  e2eeActive,
  decryptProblem,
  /** @param {Session} s @param {string} from @param {string} data */
  injectMls: (s, from, data) => s.relay.queueMls(() => onMls(s, from, data)),
});

async function start() {
  try {
    await initWasm();
  } catch (err) {
    showError('e2ee', `This page cannot load its end-to-end encryption module (${errorText(err)}); nothing was sent.`);
    return;
  }
  // Pasting another link into the address bar changes only the fragment,
  // which reloads nothing: start afresh.
  window.addEventListener('hashchange', () => location.reload());
  const link = readLink(location.pathname, location.hash);
  page.settings = link.settings;
  page.debug = link.settings.get('debug') === '1';
  page.relayBase = link.relay;
  if (link.kind === 'none') {
    showError('not_found', 'There is no meeting at this address. Start one from the home page.');
    return;
  }
  if (link.kind === 'home') {
    $('home').hidden = false;
    $('new-meeting').onclick = () => {
      // The secret is made here, in this tab; the relay only ever sees the
      // room id and founder token derived from it, when someone joins.
      const key = RoomKey.generate();
      const extra = $('approval').checked ? '&approval=1' : '';
      const relay = link.relay ? `&relay=${encodeURIComponent(link.relay)}` : '';
      history.replaceState(null, '', `${location.pathname}#${key.secret()}${extra}${relay}`);
      key.free();
      $('home').hidden = true;
      openMeeting(readLink(location.pathname, location.hash));
    };
    return;
  }
  openMeeting(link);
}

/**
 * Shows the meeting a link names, ready to join.
 * @param {ReturnType<typeof readLink>} link
 */
function openMeeting(link) {
  page.settings = link.settings;
  $('room').hidden = false;
  $('join-form').onsubmit = (/** @type {Event} */ ev) => { ev.preventDefault(); join(); };
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
  $('name').value = (link.settings.get('name') || '').slice(0, MAX_NAME_LEN);
  setState('idle');
  const problem = link.roomId === null ? null : roomIdProblem(link.roomId);
  if (problem) {
    showError('invalid_room_id', `This meeting link is not valid: ${problem}.`);
    setState('error');
    return;
  }
  if (!link.secret) {
    showError('no_secret', 'This meeting link has no secret (the part after #), so you cannot be let in. Ask for the whole link.');
    setState('error');
    return;
  }
  let key;
  try {
    key = RoomKey.fromSecret(link.secret);
  } catch (err) {
    showError('bad_secret', `This meeting link's secret is damaged (${errorText(err)}). Ask for the whole link.`);
    setState('error');
    return;
  }
  page.roomId = key.roomId();
  page.founder = key.founderToken();
  if (link.twoRooms || (link.roomId !== null && !key.matchesRoom(link.roomId))) {
    if (!page.debug) {
      key.free();
      showError('room_mismatch', 'This meeting link was altered: its secret does not belong to its room. Ask for the whole link.');
      setState('error');
      return;
    }
    // Tests only: join the link's room with a secret that is not its own,
    // holding what the relay knows of that room (its id and, given as
    // `founder=`, the founder token every join shows it), to prove that
    // members refuse us.
    console.warn('debug: joining a room whose id does not derive from this secret; members will refuse us');
    page.roomId = link.roomId;
    page.founder = link.settings.get('founder') || page.founder;
  }
  page.key = key;
  // The link to share: the relay's address and the secret, nothing about us.
  // The path names no meeting, so a page load tells the relay nothing.
  $('share-link').value = `${link.relay || location.origin}/#${link.secret}`;
  if (link.settings.get('autojoin') === '1') join();
}

start();
