// @ts-check
// Who is in the call, as the MLS group says (docs/design.md §4 steps 2, 4, 5): the
// decisions this tab makes as a member of the room's end-to-end encrypted
// group. It creates the group or asks to join it, reads what the wasm `Call`
// makes of each MLS message, keeps the roster, the names members gave
// themselves inside MLS and their microphone/camera state (also said inside
// MLS), and decides what to commit: admitting checked joiners, removing
// leaves (by the rule below), periodic rekeys, and giving up a group started
// at the same moment as another one.
//
// The relay is the adversary (docs/design.md §1): nothing it says about a
// participant (`peer_left`, `peer_joined`, `peer_media`, a participant id)
// changes the roster, a name or a mute badge. Membership changes only
// through MLS (docs/design.md §4, "Membership changes only through MLS"): a
// member's leaf is removed when
//   (a) the member itself said, inside MLS, that it is leaving (its Leave
//       button sends `{leave: true}`, or a self-remove proposal where the wasm
//       `Call` can make one): the first member in line commits it at once;
//   (b) a member removed it explicitly (the roster's Remove button; only
//       hosts where the room policy says only hosts may remove), announcing
//       it inside MLS (`{remove: {leaves}}`) right before its commit, so the
//       others can say who did it;
//   (c) nothing from it arrived inside MLS for SILENT_MS (every member sends
//       an encrypted heartbeat, its profile, every HEARTBEAT_MS) AND the
//       relay says its connection is gone. A leaf that never said who it is
//       has no connection the relay could vouch for: silence alone counts.
// So a single relay message can never make anyone remove anyone: the relay
// can withhold a member's messages, but then the others show "the relay
// stopped delivering <name>" (after STALE_MS) well before SILENT_MS.
//
// Sans-I/O (docs/conventions.md §1): no DOM, no WebSocket, no clock, no timers.
// Every input is a method call that takes the time as `now` (ms since the
// epoch, as `Date.now()`) and returns the actions the page must carry out, in
// order: MLS bytes to send, media keys for the worker, lines for the event
// list, state changes. The page calls `handleTimeout(now)` once a second (and
// when the admission deadline passes). The wasm `Call` comes from the factory
// passed in, so tests can drive this with a fake of its surface and simulated
// time (tests/web/membership.test.mjs).

import { readChat } from './chat.js';
import { cleanName } from './link.js';
import { MlsOrder } from './mls-order.js';

/** How long a joiner waits for a member to admit it. */
export const ADMIT_TIMEOUT_MS = 20000;
/** How long the next member in line waits before it takes over admitting a
 * joiner or removing a leaf (multiplied by its place in line). */
export const TAKEOVER_MS = 3000;
/** How long after a join or self-update senders keep the previous key. */
export const SWITCH_DELAY_MS = 150;
/** New epoch at least this often (docs/design.md §4 step 4: ≤ 5 minutes). */
export const REKEY_MS = 4 * 60 * 1000;
/** Every member says it is still here (its profile, inside MLS) this often. */
export const HEARTBEAT_MS = 10000;
/** Nothing from a member inside MLS this long: the page says the relay
 * stopped delivering them (two and a half heartbeats). */
export const STALE_MS = 25000;
/** Nothing from a member inside MLS this long, and the relay says their
 * connection is gone: their leaf is removed (rule (c) above). */
export const SILENT_MS = 45000;
/** Our commit has had no answer from the delivery service this long: the
 * page says the relay may be holding back the group's key changes. */
export const STUCK_MS = 10000;
/** A profile, at most (longer ones are ignored). */
export const MAX_PROFILE_LEN = 512;
/** Any application message (a chat message of MAX_CHAT_LEN characters
 * fits), at most, in UTF-16 units. */
export const MAX_APPLICATION_LEN = 8192;
/** Names that arrive this soon after we got in are the people already there,
 * not news for the event list. */
const QUIET_AFTER_JOIN_MS = 1500;
/** The relay's `peer_left` for someone whose messages still arrive is called
 * out after this long (their own leave message may still be on its way). */
const RELAY_CLAIM_GRACE_MS = 2000;
/** A member's "I am removing these" is matched to the commit for this long. */
const REMOVE_INTENT_MS = 30000;

/**
 * The part of the wasm `Call` (crates/wasm) this module uses.
 * @typedef {object} CallLike
 * @property {(hostApproval: boolean) => void} create
 * @property {(nowMs: number) => Uint8Array} joinRequest
 * @property {(bytes: Uint8Array, nowMs: number) => string} handle JSON of an MLS event
 * @property {() => string[]} pendingJoins
 * @property {(ticket: string) => void} dropJoin
 * @property {(tickets: string[]) => Uint8Array} admit
 * @property {(leaves: number[]) => Uint8Array} remove
 * @property {() => Uint8Array} selfUpdate
 * @property {() => Uint8Array} [commitPending] commits stored proposals (members' leave proposals)
 * @property {() => Uint8Array} [leave] a self-remove proposal (where the wasm has one)
 * @property {() => boolean} hasPendingCommit
 * @property {(text: string) => Uint8Array} send
 * @property {() => number} epoch
 * @property {() => number} ownLeaf
 * @property {() => string} roster JSON `[{leaf, identity, host}]`
 * @property {() => string} policy JSON `{hostApproval, amHost, e2eeRequired, hostsOnlyRemove?}` or `null`
 * @property {() => string} safetyCode
 * @property {() => Uint8Array} mediaEpoch
 * @property {() => void} free
 */

/**
 * What the page must do, in order.
 * @typedef {{type: 'send', bytes: Uint8Array}
 *   | {type: 'keys', bytes: Uint8Array, epoch: number, switchAfterMs: number, ownLeaf: number}
 *   | {type: 'stop_keys'}
 *   | {type: 'note', text: string, kind: 'info' | 'warn'}
 *   | {type: 'waiting'}
 *   | {type: 'member', how: 'created' | 'welcomed'}
 *   | {type: 'rejoining'}
 *   | {type: 'ask_host', ticket: string, name: string | null, fingerprint: string | null}
 *   | {type: 'admission', secret: string}
 *   | {type: 'fail', code: string, message: string}} Action
 *
 * - `admission`: a member revoked the room's link; `secret` (base64url) is
 *   the new admission secret, for `a=` in the link to share
 * - `send`: an MLS envelope for the relay's delivery service
 * - `keys`: this epoch's media keys for the worker (`Call.mediaEpoch()`), and
 *   our own leaf, whose frames the worker drops when the relay reflects them
 * - `stop_keys`: the worker must forget every key (we dropped our group)
 * - `note`: a line for the call's event list, for the user to see
 * - `waiting`: we asked to join; the admission deadline runs from now
 * - `member`: we are in the group (created it, or a Welcome let us in)
 * - `rejoining`: we gave up our own group for a rival one and ask to join it
 * - `ask_host`: the user (a host) decides about this checked joiner
 * - `fail`: the call is over for us, with this error for the user
 */

/** @typedef {{leaf: number, identity: string, host: boolean}} RosterRow */
/** @typedef {{name: string, participant: string, audio: boolean, video: boolean, screen: boolean, seq: number}} Profile */
/** @typedef {{leaf: number, name: string, how: 'left' | 'removed', by: string | null, silent: boolean, at: number}} Departure */
/** @typedef {{since: number, hostDecides: boolean, asked: boolean, approved?: boolean, name?: string | null, identity?: string | null}} Join */

/**
 * A device key as people compare it: the first 16 hex digits in groups of
 * four ("3f2a 91c0 7b1e 0d44"), or null.
 * @param {string | null | undefined} identity hex
 * @returns {string | null}
 */
export function fingerprint(identity) {
  if (typeof identity !== 'string' || !/^[0-9a-f]{16,}$/.test(identity)) return null;
  return identity.slice(0, 16).match(/.{4}/g).join(' ');
}
/** @typedef {{what: string, reason: string, at: number}} Refusal */

export class Membership {
  /**
   * @param {object} opts
   * @param {() => CallLike} opts.newCall a fresh device identity for this room (`new Call(roomKey)`)
   * @param {string} opts.name our display name, sent only inside MLS
   * @param {number} [opts.rekeyMs] rekey interval (tests shorten it)
   * @param {number} [opts.admitTimeoutMs] how long to wait to be admitted (tests on slow machines lengthen it)
   */
  constructor({ newCall, name, rekeyMs = REKEY_MS, heartbeatMs = HEARTBEAT_MS, staleMs = STALE_MS, silentMs = SILENT_MS, admitTimeoutMs = ADMIT_TIMEOUT_MS }) {
    this.newCall = newCall;
    /** Our MLS state: joiner, then member. */
    this.call = newCall();
    this.name = name;
    this.rekeyMs = rekeyMs;
    this.admitTimeoutMs = admitTimeoutMs;
    this.heartbeatMs = heartbeatMs;
    this.staleMs = staleMs;
    this.silentMs = silentMs;
    /** What we send: told to the members inside MLS, never to the relay. */
    this.sending = { audio: true, video: true, screen: false };
    /** When we last sent our profile (the heartbeat). */
    this.profileSentAt = -Infinity;
    /** @type {Map<number, number>} leaf -> when anything from it last arrived inside MLS */
    this.heard = new Map();
    /** @type {Map<number, number>} leaf -> when it said, inside MLS, that it leaves */
    this.leaving = new Map();
    /** @type {Set<number>} leaves whose self-remove proposal we hold (commitPending) */
    this.proposedLeave = new Set();
    /** @type {Map<number, {by: number, at: number}>} leaf -> a member's announced removal */
    this.removing = new Map();
    /** @type {number[]} leaves the user asked us to remove, not yet committed */
    this.toRemove = [];
    /** @type {string | undefined} the admission secret once a member revoked the first link */
    this.admission = undefined;
    /** @type {number | null} since when our commit waits for the delivery service's answer */
    this.pendingSince = null;
    /** Whether we told the user the relay holds back our key change. */
    this.stuck = false;
    /** @type {Map<number, number>} leaf -> when the relay said its connection left */
    this.relayLeftAt = new Map();
    /** @type {Set<string>} warnings already in the event list (`stale:3`, `claim:3`) */
    this.warned = new Set();
    /** @type {Departure[]} who left or was removed, and how */
    this.departures = [];
    /** @type {string | null} our relay participant id */
    this.me = null;
    /** @type {'connecting' | 'waiting' | 'member' | 'out'} */
    this.state = 'connecting';
    /** @type {Map<number, Profile>} leaf -> profile: only from MLS messages */
    this.profiles = new Map();
    /** @type {RosterRow[]} the group's leaves */
    this.roster = [];
    this.ownLeaf = -1;
    this.epoch = 0;
    this.epochAt = 0;
    this.safetyCode = '';
    /** @type {{hostApproval: boolean, amHost: boolean} | null} */
    this.policy = null;
    /** @type {Map<string, Join>} ticket -> checked, not yet admitted */
    this.joins = new Map();
    /** @type {Refusal[]} attempts members refused */
    this.refused = [];
    /** @type {number | null} */
    this.joinedAt = null;
    /** @type {number | null} when we last asked to join */
    this.waitingSince = null;
    /** @type {Map<number, number>} leaf -> when we first saw it in the group */
    this.addedAt = new Map();
    /** @type {Set<string>} relay ids whose MLS messages we could not read while alone */
    this.rivals = new Set();
    /** @type {number | null} since when leaves wait for removal */
    this.leftSince = null;
    /** @type {Set<string>} relay participants here now (what the relay says) */
    this.present = new Set();
    /** @type {Set<string>} relay participants who left; ids are never reused */
    this.gone = new Set();
    /** Replays, duplicates, messages from other epochs and forks (mls-order.js). */
    this.order = new MlsOrder();
    /** Counts our profiles, so a reordered older one never undoes a newer one. */
    this.profileSeq = 0;
    /** @type {Action[]} */
    this.out = [];
  }

  // ------------------------------------------------------------ inputs

  /**
   * The relay let us into the room under this participant id.
   * @param {string} me
   */
  connected(me) {
    this.me = me;
  }

  /**
   * The relay says this participant is here (ignored once they left).
   * @param {string} participant
   */
  peerPresent(participant) {
    if (!this.gone.has(participant)) this.present.add(participant);
  }

  /**
   * The relay says this participant left. That alone removes nobody: it is
   * one half of rule (c) (the other: nothing from their leaf inside MLS for
   * SILENT_MS). If their messages still arrive, the page says the relay
   * claims they left (see handleTimeout).
   * @param {string} participant
   * @param {number} now
   * @returns {Action[]}
   */
  peerLeft(participant, now) {
    this.out = [];
    this.gone.add(participant);
    this.present.delete(participant);
    for (const [leaf, p] of this.profiles) if (p.participant === participant && !this.relayLeftAt.has(leaf)) this.relayLeftAt.set(leaf, now);
    this.maintain(now);
    return this.take();
  }

  /**
   * We leave: tells the members inside MLS (so one of them commits our
   * removal at once, rule (a)), with a self-remove proposal too where the
   * wasm `Call` can make one. The page sends these before it closes.
   * @param {number} now
   * @returns {Action[]}
   */
  leave(now) {
    this.out = [];
    if (this.state !== 'member') return [];
    try {
      this.send(this.call.send(JSON.stringify({ leave: true })));
      if (typeof this.call.leave === 'function') this.send(this.call.leave());
    } catch (err) {
      console.warn(`E2EE: could not say we leave: ${errorText(err)}`);
    }
    this.profileSentAt = now;
    return this.take();
  }

  /**
   * Our microphone or camera changed: the members learn it inside MLS (the
   * relay's `peer_media` is never believed).
   * @param {{audio: boolean, video: boolean}} on
   * @param {number} now
   * @returns {Action[]}
   */
  setSending(on, now) {
    this.out = [];
    this.sending = { ...this.sending, audio: !!on.audio, video: !!on.video };
    this.sendProfile(now);
    return this.take();
  }

  /**
   * We started or stopped sharing our screen: the members learn it inside
   * MLS, so they take the share down at once when it stops (screenshare.js).
   * @param {boolean} on
   * @param {number} now
   * @returns {Action[]}
   */
  setScreen(on, now) {
    this.out = [];
    this.sending = { ...this.sending, screen: !!on };
    this.sendProfile(now);
    return this.take();
  }

  /**
   * The user pressed Remove on this member (rule (b)). We announce it inside
   * MLS, then commit; if a commit of ours is in flight, once it settles.
   * @param {number} leaf
   * @param {number} now
   * @returns {Action[]}
   */
  removeMember(leaf, now) {
    this.out = [];
    if (!this.canRemove() || leaf === this.ownLeaf || !this.roster.some((r) => r.leaf === leaf)) return [];
    if (!this.toRemove.includes(leaf)) this.toRemove.push(leaf);
    const p = this.profiles.get(leaf);
    this.note(`You are removing ${p ? p.name : `leaf ${leaf}`}`);
    this.maintain(now);
    return this.take();
  }

  /**
   * Create the group (nobody else is in the room; the policy is fixed now) or
   * ask the members to let us in.
   * @param {number} now
   * @param {{alone: boolean, hostApproval: boolean}} how
   * @returns {Action[]}
   */
  start(now, { alone, hostApproval }) {
    this.out = [];
    if (alone) {
      this.call.create(hostApproval);
      this.becomeMember(now, 'created');
    } else {
      this.askToJoin(now);
    }
    return this.take();
  }

  /**
   * One MLS envelope from the relay (an `mls` message's bytes), sent by relay
   * participant `from`.
   * @param {string} from
   * @param {Uint8Array} bytes
   * @param {number} now
   * @returns {Action[]}
   */
  handleMls(from, bytes, now) {
    this.out = [];
    if (this.state === 'out') return [];
    let stop = this.receive(from, bytes, now);
    // Messages that waited for the commit that starts their epoch, now that it came.
    for (let h; !stop && this.state === 'member' && (h = this.order.next(this.epoch));) stop = this.receive(h.from, h.bytes, now);
    if (!stop) this.maintain(now);
    return this.take();
  }

  /**
   * Reads one MLS envelope; true when nothing more may be done now (we
   * were removed, or gave up our group for a rival one).
   * @param {string} from
   * @param {Uint8Array} bytes
   * @param {number} now
   */
  receive(from, bytes, now) {
    const ev = JSON.parse(this.call.handle(bytes, now));
    if (this.state === 'member') {
      // Replays, duplicates, other epochs, forks (mls-order.js).
      const placed = this.order.place(from, bytes, ev, this.epoch, now);
      if (placed === 'fork') {
        const n = this.order.forkNote(this.epoch, now);
        if (n) this.note(n.text, n.kind);
      }
      if (placed) return false;
    }
    switch (ev.kind) {
      case 'join_request':
        if (!ev.ok) { this.refuse('join', ev.reason, now); break; }
        this.joins.set(ev.ticket, { since: now, hostDecides: ev.host_decides, asked: false, name: typeof ev.name === 'string' ? ev.name : null, identity: ev.identity || null });
        break;
      case 'welcomed':
        this.becomeMember(now, 'welcomed');
        break;
      case 'epoch':
        this.onEpoch(now, ev);
        break;
      case 'rejected':
        // The winning commit was already applied; maintain() decides again.
        break;
      case 'leave_requested':
        // A self-remove proposal: only its own leaf can make it (MLS checks).
        this.heard.set(ev.leaf, now);
        if (!this.leaving.has(ev.leaf)) this.leaving.set(ev.leaf, now);
        this.proposedLeave.add(ev.leaf);
        break;
      case 'application':
        this.receiveApplication(ev.sender, ev.text, now);
        break;
      case 'removed': {
        const by = this.removing.get(this.ownLeaf);
        const who = by && now - by.at < REMOVE_INTENT_MS ? this.nameOf(by.by) : null;
        this.fail('removed', `You were removed from the call by ${who ?? 'a member'}.`);
        return true;
      }
      case 'refused':
        if (ev.what === 'message' && this.rivalGroup(from, now)) return true;
        this.refuse(ev.what, ev.reason, now);
        if (ev.what === 'welcome' && this.state === 'waiting') {
          // The relay used up our join ticket on a fake invitation: ask again.
          this.send(this.call.joinRequest(now));
        }
        break;
      default:
        break;
    }
    return false;
  }

  /**
   * Time passed: give up waiting to be admitted after `admitTimeoutMs`, send
   * our heartbeat, call out what the relay withholds or claims, and do what
   * maintain() decides now. Call once a second.
   * @param {number} now
   * @returns {Action[]}
   */
  handleTimeout(now) {
    this.out = [];
    if (this.state === 'waiting' && this.waitingSince !== null && now - this.waitingSince >= this.admitTimeoutMs) {
      this.fail('not_admitted', `Nobody in this meeting let you in within ${Math.round(this.admitTimeoutMs / 1000)} seconds. `
        + 'Members admit only people whose link has the right secret: check that you have the whole link, or ask a member for a new one.');
      return this.take();
    }
    if (this.state === 'member') {
      if (now - this.profileSentAt >= this.heartbeatMs) this.sendProfile(now);
      this.watch(now);
      this.watchPending(now);
      for (const n of this.order.watch(now, this.epoch)) this.note(n.text, n.kind);
    }
    this.maintain(now);
    return this.take();
  }

  /**
   * Puts in the event list, once each, what the relay does to a member
   * before any removal rule fires: it stopped delivering their messages, or
   * it claims they left while their messages still arrive.
   * @param {number} now
   */
  watch(now) {
    for (const r of this.roster) {
      if (r.leaf === this.ownLeaf || this.leaving.has(r.leaf)) continue;
      const name = this.nameOf(r.leaf) ?? `leaf ${r.leaf}`;
      const st = this.statusOf(r.leaf, now);
      if (st.stale && !this.warned.has(`stale:${r.leaf}`)) {
        this.warned.add(`stale:${r.leaf}`);
        this.note(`The relay stopped delivering ${name}: nothing from them inside the call for ${Math.round((now - this.heardAt(r.leaf, now)) / 1000)} s`, 'warn');
      }
      if (!st.stale) this.warned.delete(`stale:${r.leaf}`);
      const claimed = this.relayLeftAt.get(r.leaf);
      if (claimed !== undefined && st.relayClaimsLeft && now - claimed >= RELAY_CLAIM_GRACE_MS && !this.warned.has(`claim:${r.leaf}`)) {
        this.warned.add(`claim:${r.leaf}`);
        this.note(`The relay says ${name} left, but ${name} did not leave the call: their messages still arrive`, 'warn');
      }
    }
  }

  /**
   * A host pressed Admit for this checked joiner (host-approval rooms). The
   * decision is kept: if a commit of ours (a rekey) is still waiting for the
   * delivery service's answer, the admission follows as soon as it settles,
   * instead of being lost with the prompt.
   * @param {string} ticket
   * @param {number} now
   * @returns {Action[]}
   */
  admit(ticket, now) {
    this.out = [];
    const j = this.joins.get(ticket);
    if (j) j.approved = true;
    else this.joins.set(ticket, { since: now, hostDecides: true, asked: true, approved: true });
    if (this.call.hasPendingCommit()) this.note('Admitting them once the key change in progress settles');
    this.maintain(now);
    return this.take();
  }

  /**
   * A host pressed Deny for this checked joiner.
   * @param {string} ticket
   * @returns {Action[]}
   */
  deny(ticket) {
    this.out = [];
    this.call.dropJoin(ticket);
    this.note('You denied a join request');
    return this.take();
  }

  /** We left, or the call ended for us: forget the group. */
  close() {
    this.state = 'out';
    this.waitingSince = null;
    try { this.call.free(); } catch { /* already freed */ }
  }

  // ------------------------------------------------------------ views

  /**
   * The MLS group's leaves with what their members said inside MLS (name,
   * relay connection, microphone and camera), ours included, and what this
   * tab sees of each (see statusOf); empty unless we are a member.
   * @param {number} [now] for the status fields (default: the last epoch change)
   */
  members(now = this.epochAt) {
    if (this.state !== 'member') return [];
    return this.roster.map((r) => {
      const p = this.profiles.get(r.leaf);
      const self = r.leaf === this.ownLeaf;
      return {
        leaf: r.leaf,
        self,
        host: r.host,
        name: self ? this.name : (p ? p.name : null),
        participant: self ? this.me : (p ? p.participant : null),
        audio: self ? this.sending.audio : (p ? p.audio : true),
        video: self ? this.sending.video : (p ? p.video : true),
        screen: self ? this.sending.screen : (p ? p.screen : null),
        ...(self ? { leaving: false, stale: false, relayGone: false, relayClaimsLeft: false, silentMs: 0 } : this.statusOf(r.leaf, now)),
      };
    });
  }

  /**
   * What this tab sees of a member, apart from the roster: whether it said it
   * leaves; whether nothing from it arrived inside MLS for STALE_MS (the
   * relay stopped delivering it); whether the relay says its connection is
   * gone; whether the relay says so while its messages still arrive.
   * @param {number} leaf
   * @param {number} now
   */
  statusOf(leaf, now) {
    const silentMs = Math.max(0, now - this.heardAt(leaf, now));
    const stale = silentMs >= this.staleMs;
    const relayGone = !this.relayPresent(leaf);
    return {
      leaving: this.leaving.has(leaf),
      stale,
      relayGone,
      relayClaimsLeft: this.relayClaimsLeft(leaf),
      silentMs,
    };
  }

  /**
   * Whether the relay said this member's connection left, and a message from
   * them arrived inside MLS after that: the relay's word is proven wrong.
   * @param {number} leaf
   */
  relayClaimsLeft(leaf) {
    const claimed = this.relayLeftAt.get(leaf);
    const heard = this.heard.get(leaf);
    return claimed !== undefined && heard !== undefined && heard > claimed;
  }

  /** @param {number} leaf @param {number} now */
  heardAt(leaf, now) {
    return this.heard.get(leaf) ?? this.addedAt.get(leaf) ?? now;
  }

  /**
   * Whether the relay says this member's connection (the one it named in its
   * profile) is here. A leaf that never said which is not vouched for.
   * @param {number} leaf
   */
  relayPresent(leaf) {
    const p = this.profiles.get(leaf);
    return !!p && this.present.has(p.participant) && !this.gone.has(p.participant);
  }

  /** @param {number} leaf @returns {string | null} */
  nameOf(leaf) {
    if (leaf === this.ownLeaf) return 'you';
    const p = this.profiles.get(leaf);
    return p ? p.name : null;
  }

  /** Whether this member may remove others (room policy: maybe hosts only). */
  canRemove() {
    if (this.state !== 'member') return false;
    const pol = /** @type {any} */ (this.policy);
    return !(pol && pol.hostsOnlyRemove && !pol.amHost);
  }

  /**
   * The MLS leaf whose profile names this relay participant, if exactly one
   * does. Only for comparing the relay's labels with the true senders:
   * nothing shown depends on it.
   * @param {string} participant
   * @returns {number | null}
   */
  leafOf(participant) {
    const leaves = [...this.profiles].filter(([, p]) => p.participant === participant).map(([leaf]) => leaf);
    return leaves.length === 1 ? leaves[0] : null;
  }

  /**
   * Whether the relay said this participant left.
   * @param {string} participant
   */
  hasLeft(participant) {
    return this.gone.has(participant);
  }

  // ------------------------------------------------------------ decisions

  /** @param {number} now */
  askToJoin(now) {
    this.state = 'waiting';
    this.waitingSince = now;
    this.out.push({ type: 'waiting' });
    // Our name, sealed into the request for the members (a host deciding
    // whether to let us in sees it; the relay cannot read it).
    if (typeof this.call.setName === 'function') this.call.setName(this.name);
    this.send(this.call.joinRequest(now));
  }

  /**
   * We are in the group (created it, or joined from a Welcome).
   * @param {number} now
   * @param {'created' | 'welcomed'} how
   */
  becomeMember(now, how) {
    this.waitingSince = null;
    this.state = 'member';
    this.joinedAt = now;
    this.policy = JSON.parse(this.call.policy());
    // First, so the page's milestones say when we got in, before the keys.
    this.out.push({ type: 'member', how });
    this.onEpoch(now, null);
    this.note(how === 'created' ? 'You started the meeting; it is end-to-end encrypted' : 'You were let in; the call is end-to-end encrypted');
  }

  /**
   * After every epoch change: new media keys, roster and safety code; our
   * profile again so newcomers learn our name.
   * @param {number} now
   * @param {{removed?: number[], added?: number[], admitted?: string[]} | null} ev
   */
  onEpoch(now, ev) {
    const before = new Map(this.roster.map((r) => [r.leaf, r]));
    this.roster = JSON.parse(this.call.roster());
    for (const r of this.roster) if (!this.addedAt.has(r.leaf)) this.addedAt.set(r.leaf, now);
    this.ownLeaf = this.call.ownLeaf();
    this.epoch = this.call.epoch();
    this.epochAt = now;
    this.safetyCode = this.call.safetyCode();
    // Senders switch a moment later so members still applying the commit do not
    // drop our frames, except after a removal: then the removed member's keys
    // must stop opening our frames at once.
    const removal = !!(ev && (ev.removed || []).length);
    this.out.push({ type: 'keys', bytes: this.call.mediaEpoch(), epoch: this.epoch, switchAfterMs: removal ? 0 : SWITCH_DELAY_MS, ownLeaf: this.ownLeaf });
    if (ev) {
      for (const leaf of ev.removed || []) {
        const p = this.profiles.get(leaf);
        if (before.has(leaf)) this.noteDeparture(leaf, p ? p.name : `leaf ${leaf}`, now);
        this.profiles.delete(leaf);
        this.removing.delete(leaf);
        for (const k of [`stale:${leaf}`, `claim:${leaf}`]) this.warned.delete(k);
      }
      for (const [leaf, r] of [...this.removing]) if (now - r.at >= REMOVE_INTENT_MS) this.removing.delete(leaf);
      for (const t of ev.admitted || []) this.joins.delete(t);
      const added = ev.added || [];
      if (added.length) this.note(`${added.length === 1 ? 'someone was' : `${added.length} people were`} let in; new keys`);
    }
    // What we knew of leaves no longer in the group goes (after the notes above used it).
    const inGroup = new Set(this.roster.map((r) => r.leaf));
    for (const map of [this.addedAt, this.heard, this.leaving, this.relayLeftAt]) for (const leaf of [...map.keys()]) if (!inGroup.has(leaf)) map.delete(leaf);
    for (const leaf of [...this.proposedLeave]) if (!inGroup.has(leaf)) this.proposedLeave.delete(leaf);
    this.toRemove = this.toRemove.filter((l) => inGroup.has(l));
    const admission = typeof this.call.admissionSecret === 'function' ? this.call.admissionSecret() : undefined;
    if (admission && admission !== this.admission) {
      // The first time we see it after joining with it is no news.
      if (this.admission !== undefined || (ev && (ev.removed || []).length)) {
        this.note('The link was revoked: the old one no longer lets anyone in. Share the new link shown above.', 'warn');
      }
      this.out.push({ type: 'admission', secret: admission });
    }
    this.admission = admission ?? this.admission;
    this.sendProfile(now);
    this.maintain(now);
  }

  /**
   * Says in the event list how a member went: their own leave ("Alice left"),
   * a member's removal that the member announced inside MLS ("Alice was
   * removed by Bob"), or a commit nobody announced ("by a member": the wasm
   * does not say who committed).
   * @param {number} leaf
   * @param {string} name
   * @param {number} now
   */
  noteDeparture(leaf, name, now) {
    const r = this.removing.get(leaf);
    const by = r && !this.leaving.has(leaf) && now - r.at < REMOVE_INTENT_MS ? r.by : null;
    const silent = !this.leaving.has(leaf) && now - this.heardAt(leaf, now) >= this.silentMs;
    if (this.leaving.has(leaf)) {
      this.departures.push({ leaf, name, how: 'left', by: null, silent: false, at: now });
      this.note(`${name} left the call; new keys`);
      return;
    }
    const byName = by === null ? null : by === this.ownLeaf ? 'you' : (this.nameOf(by) ?? `leaf ${by}`);
    this.departures.push({ leaf, name, how: 'removed', by: byName, silent, at: now });
    const why = silent ? ` (nothing from them inside the call for ${Math.round(this.silentMs / 1000)} s and the relay no longer has them)` : '';
    this.note(`${name} was removed by ${byName ?? 'a member'}${why}; new keys`, by === null ? 'warn' : 'info');
  }

  /** Tells the members our display name, which relay connection is ours and
   * whether our microphone, camera and screen share are on, inside an MLS application
   * message: the relay never sees any of it. Sent on joining, on every epoch
   * change (so newcomers learn it), when the microphone or camera changes,
   * and every HEARTBEAT_MS (so the others know we are still here).
   * @param {number} now
   */
  sendProfile(now) {
    if (this.state !== 'member') return;
    const text = JSON.stringify({ profile: { name: this.name, participant: this.me, audio: this.sending.audio, video: this.sending.video, screen: this.sending.screen, seq: ++this.profileSeq } });
    this.send(this.call.send(text));
    this.profileSentAt = now;
  }

  /**
   * A chat message to the members (chat.js): the actions that send it, or
   * null if we are not a member now (it is not kept to send later).
   * @param {string} text
   * @returns {Action[] | null}
   */
  sendChat(text) {
    this.out = [];
    if (this.state !== 'member') return null;
    this.send(this.call.send(JSON.stringify({ chat: { text } })));
    return this.take();
  }

  /**
   * Reads a member's application message; ignores what it does not understand.
   * @param {number} sender leaf
   * @param {string} text
   * @param {number} now
   */
  receiveApplication(sender, text, now) {
    if (!this.roster.some((r) => r.leaf === sender)) return;
    // Whatever it says, it came from that member: they are still here.
    this.heard.set(sender, now);
    if (text.length > MAX_APPLICATION_LEN) return;
    let body;
    try { body = JSON.parse(text); } catch { return; }
    if (!body || typeof body !== 'object') return;
    const chat = readChat(body);
    if (chat !== null) {
      this.out.push({ type: 'chat', from: sender, text: chat, at: now });
      return;
    }
    if (body.leave === true) {
      if (!this.leaving.has(sender)) this.leaving.set(sender, now);
      return;
    }
    const rm = body.remove;
    if (rm && Array.isArray(rm.leaves)) {
      for (const leaf of rm.leaves) if (Number.isInteger(leaf) && leaf !== sender) this.removing.set(leaf, { by: sender, at: now });
      return;
    }
    const p = body.profile;
    if (text.length > MAX_PROFILE_LEN) return;
    if (!p || typeof p.name !== 'string' || typeof p.participant !== 'string') return;
    const name = cleanName(p.name);
    const first = !this.profiles.has(sender);
    // One the relay delivered after a newer one of the same member changes nothing.
    const seq = Number.isSafeInteger(p.seq) ? p.seq : 0;
    if (!first && seq && seq <= (this.profiles.get(sender)?.seq ?? 0)) return;
    // Each leaf keeps its own name: a profile never moves another leaf's.
    this.profiles.set(sender, { name, participant: p.participant, audio: p.audio !== false, video: p.video !== false, screen: p.screen === true, seq });
    // The connection it names now is the one the relay must vouch for.
    if (this.present.has(p.participant) && !this.gone.has(p.participant)) this.relayLeftAt.delete(sender);
    if (first && sender !== this.ownLeaf && this.joinedAt !== null && now - this.joinedAt > QUIET_AFTER_JOIN_MS) this.note(`${name} joined`);
  }

  /**
   * Members refused something (a join without the link's secret, a commit or
   * Welcome no member made); everyone sees it.
   * @param {string} what
   * @param {string} reason
   * @param {number} now
   */
  refuse(what, reason, now) {
    this.refused.push({ what, reason, at: now });
    const text = {
      join: 'Someone tried to join without the right link; they were not let in',
      commit: 'A change to the call that no member made was refused',
      welcome: 'An invitation that no member made was refused',
    }[what] || `A ${what} that no member sent was refused`;
    this.note(`${text} (${reason})`, 'warn');
  }

  /**
   * Two tabs that found the room empty at the same moment each started a
   * group. While we are alone in ours, a message we cannot read from another
   * connection means another group exists: the connection with the lower
   * relay id keeps its group, the other drops its own and asks to join.
   * Returns true when we switched.
   * @param {string} from
   * @param {number} now
   */
  rivalGroup(from, now) {
    if (this.state !== 'member' || this.roster.length !== 1 || this.epoch !== 0 || !this.present.has(from) || this.rivals.has(from)) return false;
    this.rivals.add(from);
    if (!(this.me !== null && from < this.me)) {
      this.sendProfile(now); // so the other one learns of our group and joins it
      return false;
    }
    this.note('Someone else started this meeting at the same moment; joining their group');
    this.out.push({ type: 'stop_keys' });
    this.call.free();
    this.call = this.newCall();
    this.roster = [];
    this.profiles.clear();
    this.addedAt.clear();
    this.heard.clear();
    this.out.push({ type: 'rejoining' });
    this.askToJoin(now);
    return true;
  }

  /** Leaves of members heard from inside MLS within STALE_MS (and not
   * leaving), lowest first, ours included: the order in which they take on
   * admitting and removing. Nothing the relay says changes it. */
  liveLeaves(now) {
    return this.roster.map((r) => r.leaf).filter((leaf) => leaf === this.ownLeaf
      || (!this.leaving.has(leaf) && now - this.heardAt(leaf, now) < this.staleMs));
  }

  /**
   * The leaves the removal rule (module header) says go now: those that said
   * they leave (rule a), and those silent inside MLS for SILENT_MS whose
   * connection the relay says is gone (rule c). Explicit removals (rule b)
   * are `toRemove`.
   * @param {number} now
   */
  leavesToRemove(now) {
    const leaving = [];
    const silent = [];
    for (const r of this.roster) {
      if (r.leaf === this.ownLeaf) continue;
      if (this.leaving.has(r.leaf)) leaving.push(r.leaf);
      else if (now - this.heardAt(r.leaf, now) >= this.silentMs && !this.relayPresent(r.leaf)) silent.push(r.leaf);
    }
    return { leaving, silent };
  }

  /**
   * The one place that decides what this member commits, run after every
   * event and once a second: removals (by the rule in the module header),
   * admissions of checked join requests, periodic rekeying. One member acts
   * (the lowest live leaf, or a host where the room needs host approval);
   * the next in line takes over when nothing happened after TAKEOVER_MS
   * times its place. A removal the user asked for is carried out by us.
   * @param {number} now
   */
  maintain(now) {
    // Nothing while messages of a newer epoch wait for their commit: ours
    // would be for an epoch the others left (mls-order.js).
    if (this.state !== 'member' || this.call.hasPendingCommit() || this.order.behind(this.epoch)) return;
    const live = this.liveLeaves(now);
    const rank = Math.max(0, live.indexOf(this.ownLeaf));
    /** @param {number} since */
    const waited = (since) => now - since >= rank * TAKEOVER_MS;
    try {
      // The user removed someone (rule b): announce it inside MLS, commit.
      if (this.toRemove.length) {
        const leaves = this.toRemove.filter((l) => this.roster.some((r) => r.leaf === l));
        this.toRemove = [];
        if (leaves.length) {
          for (const l of leaves) this.removing.set(l, { by: this.ownLeaf, at: now });
          this.send(this.call.send(JSON.stringify({ remove: { leaves } })));
          // A removal a person asked for revokes the link too (issue 10,
          // revocation): everyone then derives a new admission secret from
          // the new epoch, and the old link admits nobody.
          this.send(typeof this.call.revoke === 'function' ? this.call.revoke(leaves) : this.call.remove(leaves));
          return;
        }
      }
      // Members who said they leave (a), or silent and gone from the relay (c).
      const { leaving, silent } = this.leavesToRemove(now);
      if (leaving.length || silent.length) {
        this.leftSince ??= now;
        if (waited(this.leftSince)) {
          const proposed = leaving.filter((l) => this.proposedLeave.has(l));
          if (proposed.length === leaving.length && !silent.length && typeof this.call.commitPending === 'function') {
            // Only self-remove proposals: any member may commit them, whatever the policy.
            this.send(this.call.commitPending());
            return;
          }
          if (silent.length) {
            for (const l of silent) this.removing.set(l, { by: this.ownLeaf, at: now });
            this.send(this.call.send(JSON.stringify({ remove: { leaves: silent } })));
          }
          this.send(this.call.remove([...leaving, ...silent]));
          return;
        }
      } else {
        this.leftSince = null;
      }
      // Checked joiners waiting to be let in.
      const pending = this.call.pendingJoins();
      for (const t of [...this.joins.keys()]) if (!pending.includes(t)) this.joins.delete(t);
      if (pending.length) {
        if (this.policy && this.policy.hostApproval) {
          const approved = pending.filter((t) => this.joins.get(t)?.approved);
          if (approved.length) { this.send(this.call.admit(approved)); return; }
          if (this.policy.amHost) this.askHost(pending);
        } else {
          const since = Math.min(...pending.map((t) => (this.joins.get(t) || { since: now }).since));
          if (waited(since)) { this.send(this.call.admit(pending)); return; }
        }
      }
      // Rekey.
      if (now - this.epochAt >= this.rekeyMs + rank * TAKEOVER_MS) this.send(this.call.selfUpdate());
    } catch (err) {
      console.warn(`E2EE: could not commit: ${errorText(err)}`);
    }
  }

  /**
   * Host-approval rooms: the host decides about each checked joiner, once.
   * @param {string[]} tickets
   */
  askHost(tickets) {
    for (const t of tickets) {
      const j = this.joins.get(t);
      if (!j || j.asked) continue;
      j.asked = true;
      this.out.push({ type: 'ask_host', ticket: t, name: j.name ?? null, fingerprint: fingerprint(j.identity) });
    }
  }

  /**
   * A commit of ours that the delivery service neither accepts nor refuses
   * is the relay withholding the group's key changes (or a dead relay): the
   * user is told, once, and again when it moves (docs/design.md §1: refusing
   * service is made visible). The call goes on with the current keys.
   * @param {number} now
   */
  watchPending(now) {
    if (!this.call.hasPendingCommit()) {
      if (this.stuck) this.note('The relay answered our key change; the group moves on');
      this.pendingSince = null;
      this.stuck = false;
      return;
    }
    this.pendingSince ??= now;
    if (!this.stuck && now - this.pendingSince >= STUCK_MS) {
      this.stuck = true;
      this.note(`The relay has not answered our key change for ${Math.round((now - this.pendingSince) / 1000)} s: `
        + 'it may be holding back the group\'s messages. The call goes on with the current keys.', 'warn');
    }
  }

  // ------------------------------------------------------------ output

  /** @param {Uint8Array} bytes */
  send(bytes) {
    this.out.push({ type: 'send', bytes });
  }

  /**
   * @param {string} text
   * @param {'info' | 'warn'} [kind]
   */
  note(text, kind = 'info') {
    this.out.push({ type: 'note', text, kind });
  }

  /**
   * @param {string} code
   * @param {string} message
   */
  fail(code, message) {
    this.out.push({ type: 'fail', code, message });
    this.state = 'out';
    this.waitingSince = null;
  }

  /** @returns {Action[]} */
  take() {
    const out = this.out;
    this.out = [];
    return out;
  }
}

/** @param {unknown} err */
function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}
