// @ts-check
// The other members' tiles (app.js draws them after every change of the
// group, the worker's status or the media): one tile per other leaf of the
// MLS group, never per relay participant, showing the tracks that decrypt
// under that member's key (tracks.js), the mute state that member sent
// inside MLS, and what the relay got wrong — tracks it labelled as someone
// else's, second tracks, frames the worker dropped (drops.js), media a
// member says it sends that does not arrive (gaps.js) — each noted once in
// the event list. Also whether end-to-end encryption is visibly working
// (e2eeActive, the indicator) and why a member's media cannot be shown.

import { attribute } from './tracks.js';
import { dropNotes } from './drops.js';
import { KINDS, gapKinds, gapText } from './gaps.js';
import { indicatorOn } from './indicator.js';
import { visibleScreens } from './screenshare.js';
import * as ui from './ui.js';

/** @typedef {import('./app.js').Session} Session */
/** @typedef {import('./app.js').Peer} Peer */

/**
 * One tile per other member of the MLS group, showing the tracks that
 * decrypt under that member's key; what the relay got wrong is counted and
 * put in the event list once.
 * @param {Session} s
 */
export function renderPeers(s) {
  const now = Date.now();
  const members = s.m.members(now).filter((m) => !m.self);
  const leaves = new Set(members.map((m) => m.leaf));
  for (const [leaf, peer] of s.peers) {
    if (!leaves.has(leaf)) {
      s.peers.delete(leaf);
      ui.removeTile(peer.tile);
    }
  }
  const receivers = s.media.receivers();
  s.attr = attribute(receivers, { members: leaves, leafOfLabel: (label) => s.m.leafOf(label), now });
  const nameOf = (/** @type {number} */ leaf) => s.m.nameOf(leaf) ?? `leaf ${leaf}`;
  for (const r of s.attr.relabeled) {
    const key = `${r.mid}|${r.label}|${r.sender}`;
    if (s.relabeled.has(key)) continue;
    s.relabeled.set(key, { mid: r.mid, kind: r.kind, label: r.label, claimed: nameOf(r.claimed), sender: nameOf(r.sender), at: now });
    ui.note(`The relay labelled ${nameOf(r.sender)}'s ${r.kind} as ${nameOf(r.claimed)}'s; shown under ${nameOf(r.sender)}, whose key it is`, 'warn');
  }
  for (const d of s.attr.duplicates) {
    const key = `${d.mid}|${d.sender}`;
    if (s.duplicates.has(key)) continue;
    s.duplicates.set(key, { mid: d.mid, kind: d.kind, sender: nameOf(d.sender), at: now });
    ui.note(`The relay sends a second ${d.kind} track from ${nameOf(d.sender)}; not shown`, 'warn');
  }
  for (const text of dropNotes(s.media.droppedByReceiver(), s.dropNotes, nameOf)) ui.note(text, 'warn');
  // Media members say they send but that does not arrive (gaps.js): only
  // once we can receive at all, and not from someone on their way out.
  const pc = s.media.pc;
  const ready = s.m.state === 'member' && s.media.workerEpoch >= 0 && !!pc && pc.connectionState === 'connected';
  if (!ready) s.readySince = null;
  else if (s.readySince === null) s.readySince = now;
  const gaps = s.gaps.update(members.map((m) => ({
    leaf: m.leaf,
    said: m.name !== null && m.name !== undefined, // its profile came: what it sends is known
    audio: !!m.audio,
    video: !!m.video,
    away: !!m.leaving || !!(m.relayGone && m.participant),
  })), { now, readySince: s.readySince, gapMs: s.gapMs, lastFrameAt: (leaf, kind) => s.media.lastFrameAt(leaf, kind) });
  for (const leaf of s.gapEpisodes.keys()) if (!leaves.has(leaf)) s.gapEpisodes.delete(leaf);
  const byMid = new Map(receivers.map((r) => [r.mid, r.track]));
  // Screens: decrypted under the member's screen key, and not said stopped inside MLS.
  const said = new Map(members.map((m) => [m.leaf, m.screen ?? null]));
  const screens = visibleScreens(s.attr.screens, { said: (leaf) => said.get(leaf) ?? null, lastOkAt: (mid) => s.media.rx[mid]?.lastOkAt || 0, now });
  s.screens.update(new Map([...screens].map(([leaf, mid]) => [leaf, { mid, track: byMid.get(mid), name: nameOf(leaf) }])));
  for (const m of members) {
    let peer = s.peers.get(m.leaf);
    if (!peer) {
      peer = { leaf: m.leaf, participant: null, name: null, audio: true, video: true, status: '', mids: {}, stream: null, tile: ui.addTile(m.leaf), gap: { audio: null, video: null } };
      s.peers.set(m.leaf, peer);
    }
    const mids = s.attr.shown.get(m.leaf) || {};
    const tracks = /** @type {MediaStreamTrack[]} */ ([mids.audio, mids.video].map((mid) => mid && byMid.get(mid)).filter(Boolean));
    const current = peer.stream ? peer.stream.getTracks() : [];
    if (tracks.length !== current.length || tracks.some((t) => !current.includes(t))) {
      peer.stream = tracks.length ? new MediaStream(tracks) : null;
    }
    peer.mids = mids;
    peer.participant = m.participant;
    peer.name = m.name;
    peer.audio = m.audio;
    peer.video = m.video;
    const name = m.name ?? '(no name yet)';
    peer.status = m.leaving ? 'leaving' : m.stale ? 'stale' : m.relayClaimsLeft ? 'relay-claims-left' : m.relayGone && m.participant ? 'relay-gone' : '';
    const statusText = {
      leaving: `${name} is leaving`,
      stale: `the relay stopped delivering ${name} (nothing from them inside the call for ${Math.round(m.silentMs / 1000)} s)`,
      'relay-claims-left': `the relay claims ${name} left, but their messages still arrive`,
      'relay-gone': `the relay says ${name}'s connection is gone`,
      '': '',
    }[peer.status];
    peer.gap = gaps.get(m.leaf) || { audio: null, video: null };
    const gap = gapText(name, peer.gap);
    const episode = s.gapEpisodes.get(m.leaf);
    if (gap && episode === undefined) {
      s.gapEpisodes.set(m.leaf, now);
      ui.note(gap, 'warn');
    } else if (!gap && episode !== undefined && KINDS.some((k) => s.media.lastFrameAt(m.leaf, k) >= episode)) {
      // The episode ends when media comes back, not when the gap stops
      // counting for another reason (they say it is off, the relay says they
      // are gone): a gap that resumes then is the same episode, noted once.
      s.gapEpisodes.delete(m.leaf);
      ui.note(`Media from ${name} arrives again`);
    }
    ui.renderTile(peer.tile, {
      gapText: gap,
      gapKinds: gapKinds(peer.gap),
      name,
      participant: m.participant,
      problem: decryptProblem(s, peer),
      status: peer.status,
      statusText,
      audio: m.audio,
      video: m.video,
      stream: peer.stream,
    });
  }
}

/**
 * Why we cannot show this member's media, or null.
 * @param {Session} s
 * @param {Peer} peer
 */
export function decryptProblem(s, peer) {
  return s.media.decryptProblem(/** @type {string[]} */ ([peer.mids.audio, peer.mids.video].filter(Boolean)), s.m.state === 'member');
}

/**
 * Whether we both encrypt what we send and decrypt what we receive, now.
 * @param {Session | null} s
 */
export function e2eeActive(s) {
  if (!s || s.over) return false;
  const m = s.m;
  if (m.state !== 'member') return false;
  const now = Date.now();
  if (s.indicator.epoch !== m.epoch) s.indicator = { ...s.indicator, epoch: m.epoch, epochAt: now };
  const st = s.media.stats;
  const settled = s.media.workerEpoch === m.epoch && !!st && st.epoch === m.epoch;
  let ok = false;
  if (settled && st) {
    const sent = st.encrypted.audio + st.encrypted.video;
    const others = m.roster.length > 1;
    const received = st.decrypted.audio + st.decrypted.video;
    // Sent, received, and nobody's media is currently failing to decrypt.
    ok = sent > 0 && (!others || received > 0) && [...s.peers.values()].every((p) => !decryptProblem(s, p));
  }
  // A key change settling keeps the indicator steady (indicator.js).
  const on = indicatorOn({ settled, ok, onAt: s.indicator.onAt, epochAt: s.indicator.epochAt, now });
  if (on && settled) s.indicator.onAt = now;
  return on;
}
