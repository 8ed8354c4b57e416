// @ts-check
// Everything the page draws (index.html holds the elements): which part of the
// page shows, the status line, errors, the call's event list, the video tiles,
// the E2EE panel (lock, safety code, epoch, roster from the MLS group, with a
// Remove button where this member may remove others) and a host's admit/deny
// requests. A tile is one MLS member (`data-leaf`); what the relay does to
// that member (stopped delivering them, claims they left, withholds the media
// they say they send) shows on it. The panel also counts the frames the relay
// sent that we dropped. Functions take plain values and hold no call
// state. Names and messages come from other people: they go in through
// textContent, never innerHTML.

/** @typedef {'idle' | 'joining' | 'joined' | 'left' | 'error'} PageState */

/** At most this many lines in the event list. */
const MAX_EVENTS = 50;

/**
 * The element with this id (index.html has every one we ask for).
 * @param {string} id
 * @returns {any}
 */
export const $ = (id) => document.getElementById(id);

/**
 * A new `tag` element with an optional class and text.
 * @param {string} tag
 * @param {string} [className]
 * @param {string} [text]
 * @returns {HTMLElement}
 */
export function el(tag, className = '', text = '') {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text) e.textContent = text;
  return e;
}

/**
 * Shows the part of the room page that fits `state`.
 * @param {PageState} state
 * @param {boolean} hadCall whether we were in (or joining) a call
 */
export function showState(state, hadCall) {
  document.body.dataset.state = state;
  $('join-form').hidden = state !== 'idle';
  // After leaving, or losing a call we were in, offer to (re)join.
  $('left').hidden = !(state === 'left' || (state === 'error' && hadCall));
  $('left-text').textContent = state === 'left' ? 'You left the meeting.' : 'You are not in the meeting.';
  $('call').hidden = !(state === 'joining' || state === 'joined');
}

/** @param {string} text */
export function showStatus(text) {
  $('status').textContent = text;
}

/**
 * @param {string} code
 * @param {string} message
 */
export function showError(code, message) {
  const box = $('error');
  box.textContent = message;
  box.dataset.code = code;
  box.hidden = false;
}

export function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

/**
 * A line in the call's event list, for everyone to see (joins, leaves,
 * refused attempts).
 * @param {string} text
 * @param {string} [kind] 'info' or 'warn'
 */
export function note(text, kind = 'info') {
  const li = el('li', kind, `${new Date().toLocaleTimeString()} ${text}`);
  $('events').prepend(li);
  while ($('events').children.length > MAX_EVENTS) $('events').lastChild.remove();
  console.info(`call: ${text}`);
}

/** Empties the video grid. */
export function clearGrid() {
  $('grid').replaceChildren();
}

/** The widest remote camera tile, in device pixels (0: none shown). Screen
 * shares are left out: they come in one layer, whatever the width. */
export function widestTile() {
  const widths = [...document.querySelectorAll('#grid .tile:not(.screen) video')].map((v) => /** @type {HTMLElement} */ (v).clientWidth);
  return Math.max(0, ...widths) * (window.devicePixelRatio || 1);
}

/** Empties the chat. */
export function clearChat() {
  $('chat-log').replaceChildren();
}

/**
 * Shows a chat message (textContent only: it comes from other people).
 * @param {{name: string, text: string, own: boolean}} item
 */
export function addChat({ name, text, own }) {
  const li = el('li', own ? 'own' : '');
  li.append(el('span', 'who', name), el('span', 'text', text));
  const log = $('chat-log');
  log.append(li);
  while (log.children.length > 200) log.firstElementChild?.remove();
  log.scrollTop = log.scrollHeight;
}

/** Empties the event list. */
export function clearEvents() {
  $('events').replaceChildren();
}

/** An empty video tile, not yet in the grid. */
function makeTile() {
  const tile = el('div', 'tile');
  const video = /** @type {HTMLVideoElement} */ (el('video'));
  video.autoplay = true;
  video.playsInline = true;
  const label = el('div', 'label');
  label.append(el('span', 'name'), el('span', 'badge mic-off', 'mic off'), el('span', 'badge cam-off', 'camera off'));
  const why = el('div', 'why');
  why.hidden = true;
  // What the relay does to this member, stacked at the top of the tile.
  const notices = el('div', 'notices');
  const status = el('div', 'relay-status');
  status.hidden = true;
  const gap = el('div', 'media-gap');
  gap.hidden = true;
  notices.append(status, gap);
  tile.append(video, label, why, notices);
  return tile;
}

/**
 * A tile for a remote member (an MLS leaf), appended to the grid.
 * @param {number} leaf
 */
export function addTile(leaf) {
  const tile = makeTile();
  tile.dataset.leaf = String(leaf);
  $('grid').append(tile);
  return tile;
}

/**
 * Grid or speaker view (the member who spoke last, large).
 * @param {boolean} speaker
 */
export function setLayout(speaker) {
  $('grid').classList.toggle('speaker-view', speaker);
  $('toggle-layout').textContent = speaker ? 'Grid view' : 'Speaker view';
  $('toggle-layout').setAttribute('aria-pressed', String(speaker));
}

/**
 * The tile shown large in speaker view (null: none yet).
 * @param {HTMLElement | null} tile
 */
export function setActiveSpeaker(tile) {
  for (const t of document.querySelectorAll('#grid .tile.active-speaker')) if (t !== tile) t.classList.remove('active-speaker');
  if (tile) tile.classList.add('active-speaker');
}

/**
 * Marks a member's tile as speaking (a ring) or not.
 * @param {HTMLElement} tile
 * @param {boolean} on
 */
export function setSpeaking(tile, on) {
  tile.classList.toggle('speaking', on);
}

/** @param {HTMLElement} tile */
export function removeTile(tile) {
  /** @type {HTMLVideoElement} */ (tile.querySelector('video')).srcObject = null;
  tile.remove();
}

/**
 * Draws a remote member's tile.
 * @param {HTMLElement} tile
 * @param {{name: string, participant: string | null, problem: string | null, status: string, statusText: string,
 *   audio: boolean, video: boolean, stream: MediaStream | null, gapText: string | null, gapKinds: string}} view
 *   `gapText`/`gapKinds`: media the member says it sends that does not reach us (gaps.js)
 */
export function renderTile(tile, view) {
  // textContent, never innerHTML: names come from other people.
  /** @type {HTMLElement} */ (tile.querySelector('.name')).textContent = view.name;
  // The relay connection the member named inside MLS (tests select on it).
  if (view.participant) tile.dataset.participant = view.participant;
  else delete tile.dataset.participant;
  const status = /** @type {HTMLElement} */ (tile.querySelector('.relay-status'));
  status.textContent = view.statusText;
  status.hidden = !view.statusText;
  tile.dataset.status = view.status;
  const gap = /** @type {HTMLElement} */ (tile.querySelector('.media-gap'));
  gap.textContent = view.gapText || '';
  gap.hidden = !view.gapText;
  if (view.gapKinds) tile.dataset.mediaGap = view.gapKinds;
  else delete tile.dataset.mediaGap;
  const why = /** @type {HTMLElement} */ (tile.querySelector('.why'));
  why.textContent = view.problem || '';
  why.hidden = !view.problem;
  tile.classList.toggle('undecryptable', !!view.problem);
  /** @type {HTMLElement} */ (tile.querySelector('.mic-off')).hidden = view.audio;
  /** @type {HTMLElement} */ (tile.querySelector('.cam-off')).hidden = view.video;
  tile.classList.toggle('video-off', !view.video);
  const video = /** @type {HTMLVideoElement} */ (tile.querySelector('video'));
  if (video.srcObject !== view.stream) {
    video.srcObject = view.stream;
    if (view.stream) play(video);
  }
}

/**
 * Starts playback; where the browser blocks sound without a click, plays
 * muted and unmutes on the next click anywhere.
 * @param {HTMLVideoElement} video
 */
function play(video) {
  video.play().catch(() => {
    video.muted = true;
    video.play().catch(() => {});
    document.addEventListener('click', () => { video.muted = false; }, { once: true });
  });
}

/**
 * Our own tile, first in the grid; never plays our microphone back.
 * @param {string | null} me our participant id
 * @param {string} name
 * @param {MediaStream} stream
 */
export function addSelfTile(me, name, stream) {
  const tile = makeTile();
  tile.classList.add('self');
  if (me !== null) tile.dataset.participant = me;
  const video = /** @type {HTMLVideoElement} */ (tile.querySelector('video'));
  video.muted = true; // never play our own microphone back
  video.srcObject = stream;
  play(video);
  /** @type {HTMLElement} */ (tile.querySelector('.name')).textContent = `${name} (you)`;
  $('grid').prepend(tile);
  return tile;
}

/**
 * Our tile shows `stream` again (after a camera switch changed its track).
 * @param {HTMLElement} tile
 * @param {MediaStream} stream
 */
export function showSelf(tile, stream) {
  const video = /** @type {HTMLVideoElement} */ (tile.querySelector('video'));
  video.srcObject = null;
  video.srcObject = stream;
  play(video);
}

/**
 * Our tile's badges and the mute buttons.
 * @param {HTMLElement} tile
 * @param {{audio: boolean, video: boolean}} on what we send
 */
export function renderSelf(tile, { audio, video }) {
  /** @type {HTMLElement} */ (tile.querySelector('.mic-off')).hidden = audio;
  /** @type {HTMLElement} */ (tile.querySelector('.cam-off')).hidden = video;
  tile.classList.toggle('video-off', !video);
  $('toggle-audio').textContent = audio ? 'Mute mic' : 'Unmute mic';
  $('toggle-audio').setAttribute('aria-pressed', String(!audio));
  $('toggle-video').textContent = video ? 'Stop camera' : 'Start camera';
  $('toggle-video').setAttribute('aria-pressed', String(!video));
}

/** What the roster's Remove buttons call (the session's, as last rendered).
 * @type {(leaf: number) => void} */
let removeMember = () => {};

/**
 * The E2EE panel.
 * @param {object} view
 * @param {boolean} view.active we encrypt what we send and decrypt what we receive, now
 * @param {'connecting' | 'waiting' | 'member' | 'out'} view.state
 * @param {string} view.safetyCode
 * @param {number} view.epoch
 * @param {{leaf: number, self: boolean, host: boolean, name: string | null, leaving?: boolean, stale?: boolean,
 *   relayClaimsLeft?: boolean}[]} view.members the MLS group
 * @param {boolean} view.canRemove whether we may remove others (room policy)
 * @param {(leaf: number) => void} view.remove the user pressed Remove on this member
 */
export function renderE2ee({ active, state, safetyCode, epoch, members, canRemove, remove }) {
  $('e2ee').hidden = false;
  $('e2ee-on').hidden = !active;
  $('e2ee-off').hidden = active;
  $('e2ee-off').textContent = state === 'waiting' ? 'waiting to be admitted by a member…'
    : state === 'member' ? 'setting up encryption…' : 'not encrypted: not in the call';
  $('safety-code').textContent = state === 'member' ? safetyCode : '—';
  $('epoch').textContent = state === 'member' ? String(epoch) : '—';
  // Rebuilt only when what it shows changes: the panel is rendered again
  // every few hundred milliseconds (statistics), and a Remove button
  // replaced under the pointer loses the click.
  const shown = state === 'member' ? members : [];
  const key = JSON.stringify([canRemove, shown.map((m) => [m.leaf, m.self, m.host, m.name, m.leaving, m.stale, m.relayClaimsLeft])]);
  const roster = $('roster');
  removeMember = remove;
  if (roster.dataset.shown === key) return;
  roster.dataset.shown = key;
  roster.replaceChildren(...shown.map((m) => {
    const li = el('li');
    li.dataset.leaf = String(m.leaf);
    li.textContent = m.self ? `${m.name} (you)` : m.name ?? '(no name yet)';
    if (m.host) li.textContent += ' · host';
    const flag = m.self ? '' : m.leaving ? 'leaving' : m.stale ? 'not delivered by the relay' : m.relayClaimsLeft ? 'relay claims they left' : '';
    if (flag) li.append(el('span', 'flag', ` · ${flag}`));
    if (canRemove && !m.self) {
      const b = el('button', 'remove', 'Remove');
      b.title = 'Remove from the call (new keys; everyone sees who did it)';
      b.onclick = () => { b.setAttribute('disabled', ''); removeMember(m.leaf); };
      li.append(' ', b);
    }
    return li;
  }));
}

/**
 * A host's question about one checked joiner; each button answers once. The
 * name is the one the joiner sealed into its request for the members (the
 * relay cannot read it); the fingerprint is its device key.
 * @param {string} ticket
 * @param {{name: string | null, fingerprint: string | null}} who
 * @param {{admit: () => void, deny: () => void}} on
 */
export function askHost(ticket, who, on) {
  const li = el('li', 'request');
  li.dataset.ticket = ticket;
  // textContent only: the name comes from the joiner.
  const text = el('span', '', `${who.name ? `${who.name} asks to join` : 'Someone with the link asks to join (no name given)'}`);
  if (who.fingerprint) text.append(' ', el('span', 'fingerprint', `(device key ${who.fingerprint})`));
  text.append('. ');
  const admit = el('button', 'primary', 'Admit');
  const deny = el('button', '', 'Deny');
  admit.onclick = () => { li.remove(); on.admit(); };
  deny.onclick = () => { li.remove(); on.deny(); };
  li.append(text, admit, deny);
  $('requests').append(li);
}

/**
 * The panel's count of frames the relay sent that we dropped (hidden while
 * there are none): forged (no member made them), replayed, and our own sent
 * back to us. Drops at key changes and before we had keys are honest races,
 * not counted here.
 * @param {{forged: number, replayed: number, reflected: number}} n
 */
export function renderDropped({ forged, replayed, reflected }) {
  const line = $('dropped');
  const any = forged + replayed + reflected > 0;
  line.hidden = !any;
  line.textContent = any ? `Dropped from the relay: ${forged} forged · ${replayed} replayed · ${reflected} of our own` : '';
}
