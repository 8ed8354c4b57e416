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
// The relay is the adversary (docs/design.md §1): a tile is an MLS member
// (keyed by leaf), never a relay participant; it shows the tracks whose
// frames decrypt under that member's SFrame key (tracks.js), whatever the
// relay's SDP labels say, and the mute badges that member sent inside MLS.
// The relay's `peer_joined`/`peer_left` only feed membership.js's view of
// which connections the relay claims are here; `peer_media` is ignored (the
// relay only broadcasts it, so we no longer send `media` either).
//
// What the relay does to media is made plain too: frames it forged, replayed
// or sent back to us are dropped by the worker and named once each in the
// event list (per receiver and cause) and counted in the E2EE panel; media a
// member says inside MLS it sends, but that does not arrive, shows on its
// tile (gaps.js).
//
// A member's screen share is a second video stream under its own SFrame key
// (context 1), shown large as "<name>'s screen" (screenshare.js).
//
// `window.conclave` (hook.js) is a small hook for tests and curious users.

import initWasm, { Call, RoomKey } from './conclave_wasm.js';
import { cleanName, fromBase64, readLink, roomIdProblem, toBase64, MAX_NAME_LEN } from './link.js';
import { ADMIT_TIMEOUT_MS, HEARTBEAT_MS, REKEY_MS, SILENT_MS, STALE_MS, Membership } from './membership.js';
import { Media } from './media.js';
import { attribute } from './tracks.js';
import { GAP_MS, GapWatch } from './gaps.js';
import { FATAL_ERRORS, Relay } from './relay.js';
import { iceServersFrom } from './ice.js';
import { installHook } from './hook.js';
import { VideoWidths } from './simulcast.js';
import { SpeakingWatch } from './speaking.js';
import { ChatLog, chatText } from './chat.js';
import { reconnectDelay } from './reconnect.js';
import { Preview } from './prejoin.js';
import { ScreenShare, ScreenTiles } from './screenshare.js';
import { DeviceSwitch } from './devices.js';
import * as ui from './ui.js';
import { decryptProblem, e2eeActive, renderPeers } from './tiles.js';

const { $ } = ui;
/** A closed socket right after an error message was closed for that error. */
const RELAY_ERROR_CLOSE_MS = 3000;
/** How often membership decisions are revisited and worker counters read. */
const TICK_MS = 1000;
/** Longest the media stays up after Leave, waiting for the relay to take it. */
const LEAVE_WAIT_MS = 1000;

/**
 * The page, across stays in the room.
 * @type {{state: ui.PageState, roomId: string | null, founder: string | null, relayBase: string | null, shareBase: string,
 *   key: RoomKey | null, settings: Map<string, string>,
 *   debug: boolean, session: Session | null, errors: {code: string, message: string}[]}}
 */
const page = {
  state: 'idle',
  roomId: null, // the room id to join: derived from the secret
  founder: null, // the founder token each join shows the relay
  relayBase: null, // `relay=` (a page served by `conclave open`): the relay to talk to
  shareBase: '', // the link to share, without a revoked link's `a=`

  key: null, // the link's secret (never leaves this tab but inside MLS)
  settings: new Map(), // the fragment's key=value settings
  debug: false, // `&debug=1`: the worker keeps plaintext samples for tests
  session: null,
  errors: [], // every error shown, newest last
  // Coming back after the relay went away (reconnect.js): attempts so far,
  // the pending one, and whether we are between calls because of it.
  reconnect: { attempt: 0, timer: /** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined), active: false },
  // Our screen capture, kept live across a reconnect (screenshare.js detach/resume).
  carriedScreen: /** @type {MediaStreamTrack | null} */ (null),
  /** @type {Preview | null} the camera preview before joining (prejoin.js) */
  preview: null,
  /** @type {{stream: MediaStream, audio: boolean, video: boolean} | null} what the preview handed to the next join */
  chosen: null,
};

/**
 * A remote member's tile: one MLS leaf, its name from its own profile, and
 * the receivers whose frames decrypt under its key; `gap`: how long each kind
 * it says it sends has been missing (ms; null: not missing, gaps.js).
 * @typedef {{leaf: number, participant: string | null, name: string | null, audio: boolean, video: boolean,
 *   status: string, mids: {audio?: string, video?: string}, stream: MediaStream | null, tile: HTMLElement,
 *   gap: import('./gaps.js').Gap}} Peer
 */

/**
 * Everything about one stay in the room, from Join to Leave.
 * @typedef {object} Session
 * @property {string} roomId
 * @property {string} name
 * @property {Relay} relay
 * @property {VideoWidths} widths what the relay was told of our tiles' width (simulcast)
 * @property {Media} media
 * @property {Membership} m
 * @property {string | null} me our participant id
 * @property {RTCIceServer[]} iceServers the TURN servers the relay named in `joined`, as checked by ice.js
 * @property {Map<number, Peer>} peers MLS leaf -> tile of that member (see renderPeers)
 * @property {ReturnType<typeof attribute>} attr whose each remote track is, by the key that decrypts it
 * @property {Map<string, {mid: string, kind: string, label: string, claimed: string, sender: string, at: number}>} relabeled
 *   tracks the relay labelled as someone other than their true sender
 * @property {Map<string, {mid: string, kind: string, sender: string, at: number}>} duplicates second copies of a member's track
 * @property {Set<string>} dropNotes "mid|cause" of every drop cause already in the event list
 * @property {GapWatch} gaps which media members say they send but does not arrive
 * @property {SpeakingWatch} speaking who speaks, from their decrypted audio, in this browser only
 * @property {ChatLog} chat this call's chat messages (never stored)
 * @property {ScreenShare | null} screen our screen share (once the media connection exists)
 * @property {DeviceSwitch | null} devices the call's camera and microphone choice (once the media connection exists)
 * @property {ScreenTiles} screens the other members' screens we show
 * @property {{epoch: number | null, epochAt: number | null, onAt: number | null}} indicator the E2EE indicator's recent past (indicator.js)
 * @property {number} gapMs how long media may be missing before it is a gap
 * @property {number | null} readySince since when we can receive media (member, keys, connected); null: we cannot
 * @property {Map<number, number>} gapEpisodes leaf -> when its current media gap was put in the event list
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
  if (page.state === 'joining' && page.reconnect.active) text = `the relay went away; rejoining (attempt ${page.reconnect.attempt})…`;
  if (page.state === 'joined' && s) {
    const n = Math.max(1, s.m.roster.length); // the MLS group, not the relay's list
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

/**
 * A time setting in seconds; tests may shorten it with `&debug=1&<key>=N`.
 * @param {string} key
 * @param {number} fallbackMs
 */
function debugMs(key, fallbackMs) {
  const n = Number(page.settings.get(key));
  return page.debug && n >= 1 ? n * 1000 : fallbackMs;
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
  if (page.preview) {
    page.chosen = page.preview.take();
    page.preview = null;
  }
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
    iceServers: [],
    peers: new Map(),
    attr: { shown: new Map(), screens: new Map(), relabeled: [], duplicates: [], unattributed: [] },
    screen: null,
    devices: null,
    screens: new ScreenTiles(),
    relabeled: new Map(),
    duplicates: new Map(),
    dropNotes: new Set(),
    gaps: new GapWatch(),
    gapMs: debugMs('media_gap_s', GAP_MS),
    readySince: null,
    gapEpisodes: new Map(),
    selfTile: null,
    relayError: null,
    leaving: false,
    over: false,
    marks: {},
    admitTimer: undefined,
    tick: undefined,
  };
  s.m = new Membership({
    newCall: () => new Call(key),
    name: s.name,
    rekeyMs: debugMs('rekey_s', REKEY_MS),
    heartbeatMs: debugMs('heartbeat_s', HEARTBEAT_MS),
    staleMs: debugMs('stale_s', STALE_MS),
    silentMs: debugMs('silent_s', SILENT_MS),
    admitTimeoutMs: debugMs('admit_s', ADMIT_TIMEOUT_MS),
  });
  s.chat = new ChatLog();
  s.indicator = { epoch: null, epochAt: null, onAt: null };
  ui.clearChat();
  s.speaking = new SpeakingWatch(async () => (s.media ? s.media.audioEnergy(shownMids(s)) : new Map()), (leaf, on) => {
    const peer = s.peers.get(leaf);
    if (!peer) return;
    ui.setSpeaking(peer.tile, on);
    // Speaker view follows whoever starts speaking and stays on them, unless
    // they stop while someone else still speaks.
    if (on) ui.setActiveSpeaker(peer.tile);
    else if (peer.tile.classList.contains('active-speaker')) {
      const next = s.speaking.speaking().map((l) => s.peers.get(l)).find((p) => p && p !== peer);
      if (next) ui.setActiveSpeaker(next.tile);
    }
  });
  page.session = s;
  ui.clearGrid();
  // A rejoin after the relay went away keeps what happened before.
  if (!page.reconnect.active) ui.clearEvents();
  s.media = new Media({
    debug: page.debug,
    onRx: () => render(s),
    onFailure: (message) => fail(s, 'e2ee', message),
  });
  s.tick = setInterval(() => {
    if (s.over) return;
    apply(s, s.m.handleTimeout(Date.now()));
    render(s);
    s.media.refreshStats().then((got) => { if (got) renderE2ee(s); });
    if (s.relay) s.widths.update(ui.widestTile(), s.media.videoMids());
  }, TICK_MS);
  setState('joining');

  /** @param {unknown} err */
  const failed = (err) => {
    console.error(err);
    fail(s, 'client', `Something went wrong in this page: ${errorText(err)}`);
  };
  s.widths = new VideoWidths((mid, width) => s.relay.send({ type: 'video_width', mid, width }));
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
  const wasInCall = page.state === 'joined' || page.reconnect.active;
  const delay = s.leaving ? null : reconnectDelay(code, page.reconnect.attempt, wasInCall);
  // Rejoining on our own: a screen share goes on in the next session.
  if (delay !== null && s.screen) dropCarriedScreen(s.screen.detach());
  teardown(s);
  if (delay !== null && page.session === s) {
    // The relay went away (or restarts): join again through admission, on our own.
    page.reconnect.active = true;
    page.reconnect.attempt += 1;
    ui.note(`${message} Rejoining in ${(delay / 1000).toFixed(1)} s (attempt ${page.reconnect.attempt}).`, 'warn');
    clearTimeout(page.reconnect.timer);
    page.reconnect.timer = setTimeout(() => { if (page.session === s) join(); }, delay);
    setState('joining');
    return;
  }
  page.reconnect = { attempt: 0, timer: undefined, active: false };
  dropCarriedScreen(null);
  showError(code, message);
  if (page.session === s) setState('error');
}

/**
 * Ends the session: timers, screen, devices, membership, signaling and
 * (unless `keepMedia`: the caller closes it later) the media connection.
 * @param {Session} s
 * @param {boolean} [keepMedia]
 */
function teardown(s, keepMedia = false) {
  s.over = true;
  clearTimeout(s.admitTimer);
  clearInterval(s.tick);
  s.speaking.close();
  if (s.screen) s.screen.close();
  if (s.devices) s.devices.close();
  s.screens.clear();
  s.m.close();
  if (!keepMedia) s.media.close();
  renderE2ee(s);
  s.relay.close();
}

/**
 * The m-line of each receiver shown under a member: mid -> MLS leaf.
 * @param {Session} s
 */
function shownMids(s) {
  /** @type {Map<string, number>} */
  const m = new Map();
  for (const [leaf, mids] of s.attr.shown) for (const mid of Object.values(mids)) if (mid) m.set(mid, leaf);
  return m;
}

/**
 * Sends a chat message to the members now in the call.
 * @param {string} typed
 */
function sendChat(typed) {
  const s = page.session;
  const t = chatText(typed);
  if ('error' in t) return ui.note(`Not sent: ${t.error}`, 'warn');
  const actions = s && !s.over ? s.m.sendChat(t.text) : null;
  if (!s || !actions) return ui.note('Not sent: you are not in the call now (messages are not kept to send later)', 'warn');
  const item = { name: 'You', text: t.text, own: true, at: Date.now() };
  s.chat.add(item);
  ui.addChat(item);
  apply(s, actions);
}

/**
 * Keeps `track` (or nothing) as the screen capture to send after the
 * rejoin; a capture kept before is stopped.
 * @param {MediaStreamTrack | null} track
 */
function dropCarriedScreen(track) {
  if (page.carriedScreen && page.carriedScreen !== track) page.carriedScreen.stop();
  page.carriedScreen = track;
}

function leave() {
  clearTimeout(page.reconnect.timer);
  page.reconnect = { attempt: 0, timer: undefined, active: false };
  dropCarriedScreen(null);
  const s = page.session;
  if (!s || s.over) return;
  s.leaving = true;
  // Said inside MLS first, so a member commits our removal at once (rule (a)).
  if (!s.over) {
    const said = s.m.leave(Date.now());
    console.debug(`leaving: ${said.length} MLS message(s) to the members`);
    apply(s, said);
  }
  s.relay.send({ type: 'leave' });
  // Everything ends now but the media connection: it closes once the relay
  // has closed signaling, i.e. taken `leave` and the MLS messages before it
  // (or after 1 s). Closed first, the relay could see the media go before
  // those messages and drop them with us: the members would then wait 45 s
  // to remove us instead of committing our removal at once.
  teardown(s, true);
  const waited = new Promise((resolve) => { setTimeout(resolve, LEAVE_WAIT_MS); });
  Promise.race([s.relay.closed, waited]).then(() => s.media.close());
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
      // TURN servers for networks that need one; the relay may name any
      // server, so each is checked first (ice.js) and a refusal is shown.
      const ice = iceServersFrom(msg.ice_servers);
      s.iceServers = ice.servers;
      for (const why of ice.refused) ui.note(`The relay's TURN settings were not all used: ${why}`, 'warn');
      // Only who the relay claims is connected; mute flags it relays are not believed.
      for (const p of msg.peers || []) s.m.peerPresent(p.participant);
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
      s.m.peerPresent(msg.participant);
      break;
    case 'peer_left':
      // Removes nobody by itself (membership.js, rule (c)).
      apply(s, s.m.peerLeft(msg.participant, Date.now()));
      render(s);
      break;
    case 'peer_media':
      break; // members say it inside MLS; the relay's word is not believed
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
  const actions = s.m.handleMls(from, bytes, Date.now());
  if (page.debug) console.debug(`mls from ${from}: ${bytes[1]} -> ${actions.map((a) => a.type).join(',')}`);
  apply(s, actions);
}

/**
 * A member revoked the room's link: show the new one to share, and keep it in
 * this tab's own address so a reload or rejoin uses it.
 * @param {string} secret the new admission secret (base64url)
 */
function showNewLink(secret) {
  $('share-link').value = `${page.shareBase}&a=${secret}`;
  const parts = location.hash.replace(/^#/, '').split('&').filter((p) => p && !p.startsWith('a='));
  history.replaceState(null, '', `${location.pathname}${location.search}#${[...parts, `a=${secret}`].join('&')}`);
  if (page.key) page.key.setAdmission(secret);
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
        s.media.setKeys(a.bytes, a.epoch, a.switchAfterMs, a.ownLeaf);
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
        s.admitTimer = setTimeout(() => { if (!s.over) apply(s, s.m.handleTimeout(Date.now())); }, s.m.admitTimeoutMs);
        break;
      case 'member':
        clearTimeout(s.admitTimer);
        mark(s, a.how);
        if (page.reconnect.active) ui.note(`Back in the call after ${page.reconnect.attempt} attempt${page.reconnect.attempt === 1 ? '' : 's'} (new keys; compare safety codes again)`);
        page.reconnect = { attempt: 0, timer: undefined, active: false };
        if (s.media.pc) setState('joined'); // else once the camera is up (see 'joined')
        break;
      case 'rejoining':
        setState('joining');
        break;
      case 'ask_host': {
        const ticket = a.ticket;
        ui.askHost(ticket, { name: a.name, fingerprint: a.fingerprint }, { admit: () => apply(s, s.m.admit(ticket, Date.now())), deny: () => apply(s, s.m.deny(ticket)) });
        break;
      }
      case 'admission':
        showNewLink(a.secret);
        break;
      case 'chat': {
        const item = { name: s.m.nameOf(a.from) ?? 'someone without a name yet', text: a.text, own: false, at: a.at };
        s.chat.add(item);
        ui.addChat(item);
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
  const chosen = page.chosen;
  page.chosen = null;
  if (!(await s.media.openCamera(chosen && chosen.stream))) return;
  if (chosen) {
    // Join with the microphone or camera off, as chosen before joining.
    if (!chosen.audio) s.media.toggle('audio');
    if (!chosen.video) s.media.toggle('video');
    apply(s, s.m.setSending(s.media.sending(), Date.now()));
  }
  s.media.connect({
    iceServers: s.iceServers,
    track: (_mid, track) => onTrack(s, track),
    connectionState: (state) => {
      if (state === 'failed' && !s.over) {
        showError('media', 'The media connection to the relay failed. The relay\'s UDP port may be blocked, '
          + 'or the relay needs --public-ip behind NAT.');
      }
      renderStatus();
    },
  });
  // Our screen share: its sender exists now, idle until the button.
  s.screen = new ScreenShare({ media: s.media, onSharing: (on) => apply(s, s.m.setScreen(on, Date.now())), note: (text) => ui.note(text, 'warn') });
  if (page.carriedScreen) {
    const track = page.carriedScreen;
    page.carriedScreen = null;
    s.screen.resume(track).then(() => { if (s.screen && s.screen.sharing) ui.note('Your screen is shared again'); });
  }
  const local = /** @type {MediaStream} */ (s.media.local);
  s.selfTile = ui.addSelfTile(s.me, s.name, local);
  ui.renderSelf(s.selfTile, s.media.sending());
  s.devices = new DeviceSwitch({
    media: s.media,
    cameras: /** @type {HTMLSelectElement} */ ($('call-camera')),
    mics: /** @type {HTMLSelectElement} */ ($('call-mic')),
    note: (text, kind) => ui.note(text, kind),
    onSwitched: () => { if (s.selfTile && s.media.local) ui.showSelf(s.selfTile, s.media.local); },
  });
  s.devices.fill().catch((e) => console.warn(`cannot list cameras and microphones: ${e}`));
  s.relay.send({ type: 'offer', sdp: await s.media.offer() });
}

/**
 * A remote track arrived. Whose it is, is decided by the key that decrypts
 * its frames (render), not by the stream id the relay gave it.
 * @param {Session} s
 * @param {MediaStreamTrack} track
 */
function onTrack(s, track) {
  const rerender = () => render(s);
  track.addEventListener('mute', rerender);
  track.addEventListener('unmute', rerender);
  track.addEventListener('ended', rerender);
  render(s);
}

/**
 * @param {'audio' | 'video'} kind
 */
function toggle(kind) {
  const s = page.session;
  if (!s || !s.media.local || s.over || !s.selfTile) return;
  const on = s.media.toggle(kind);
  ui.renderSelf(s.selfTile, on);
  // Inside MLS: the members show what we said, not what the relay says.
  apply(s, s.m.setSending(on, Date.now()));
}

// ---------------------------------------------------------------- members

/** @param {Session} s */
function renderE2ee(s) {
  const m = s.m;
  ui.renderE2ee({
    active: e2eeActive(s),
    state: m.state,
    safetyCode: m.safetyCode,
    epoch: m.epoch,
    members: m.members(Date.now()),
    canRemove: m.canRemove() && !s.over,
    remove: (leaf) => { if (!s.over) { apply(s, m.removeMember(leaf, Date.now())); } },
  });
  ui.renderDropped(s.media.dropped);
}

/**
 * Everything that depends on the group or on the worker's status.
 * @param {Session} s
 */
function render(s) {
  if (!s.over) renderPeers(s);
  renderE2ee(s);
  renderStatus();
}

// ---------------------------------------------------------------- start

installHook({
  page,
  join,
  leave,
  sendChat,
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
  $('chat-form').onsubmit = (ev) => {
    ev.preventDefault();
    const input = /** @type {HTMLInputElement} */ ($('chat-input'));
    sendChat(input.value);
    input.value = '';
  };
  $('toggle-audio').onclick = () => toggle('audio');
  $('toggle-video').onclick = () => toggle('video');
  $('toggle-layout').onclick = () => ui.setLayout(!$('grid').classList.contains('speaker-view'));
  $('toggle-screen').onclick = () => { const s = page.session; if (s && s.screen && !s.over) s.screen.toggle(); };
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
  const admission = link.settings.get('a');
  if (admission) {
    try {
      key.setAdmission(admission);
    } catch (err) {
      showError('bad_secret', `This meeting link's admission part (a=) is damaged (${errorText(err)}). Ask for the whole link.`);
      setState('error');
      return;
    }
  }
  page.shareBase = `${link.relay || location.origin}/#${link.secret}`;
  $('share-link').value = admission ? `${page.shareBase}&a=${admission}` : page.shareBase;
  if (link.settings.get('autojoin') === '1') return join();
  page.preview = new Preview({
    video: /** @type {HTMLVideoElement} */ ($('preview')),
    meter: /** @type {HTMLMeterElement} */ ($('mic-level')),
    cameras: /** @type {HTMLSelectElement} */ ($('camera-select')),
    mics: /** @type {HTMLSelectElement} */ ($('mic-select')),
    micOn: /** @type {HTMLInputElement} */ ($('join-mic')),
    camOn: /** @type {HTMLInputElement} */ ($('join-cam')),
    status: (text) => ui.note(text, 'warn'),
  });
  page.preview.open();
}

start();
