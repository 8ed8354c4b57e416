// @ts-check
// Who is in the call, as the MLS group says (docs/design.md §4 steps 2, 4, 5): the
// decisions this tab makes as a member of the room's end-to-end encrypted
// group. It creates the group or asks to join it, reads what the wasm `Call`
// makes of each MLS message, keeps the roster and the names members gave
// themselves inside MLS, and decides what to commit: admitting checked
// joiners, removing leaves of people who left (or who never said who they
// are), periodic rekeys, and giving up a group started at the same moment as
// another one.
//
// Sans-I/O (docs/conventions.md §1): no DOM, no WebSocket, no clock, no timers.
// Every input is a method call that takes the time as `now` (ms since the
// epoch, as `Date.now()`) and returns the actions the page must carry out, in
// order: MLS bytes to send, media keys for the worker, lines for the event
// list, state changes. The page calls `handleTimeout(now)` once a second (and
// when the admission deadline passes). The wasm `Call` comes from the factory
// passed in, so tests can drive this with a fake of its surface and simulated
// time (tests/web/membership.test.mjs).

import { cleanName } from './link.js';

/** How long a joiner waits for a member to admit it. */
export const ADMIT_TIMEOUT_MS = 20000;
/** How long the next member in line waits before it takes over admitting a
 * joiner or removing someone who left (multiplied by its place in line). */
export const TAKEOVER_MS = 3000;
/** A leaf that has not said who it is this long after it was added is removed
 * (e.g. a joiner whose Welcome never arrived, or who dropped at once). */
export const ORPHAN_MS = 15000;
/** How long after a join or self-update senders keep the previous key. */
export const SWITCH_DELAY_MS = 150;
/** New epoch at least this often (docs/design.md §4 step 4: ≤ 5 minutes). */
export const REKEY_MS = 4 * 60 * 1000;
/** A profile message, at most. */
export const MAX_PROFILE_LEN = 512;
/** Names that arrive this soon after we got in are the people already there,
 * not news for the event list. */
const QUIET_AFTER_JOIN_MS = 1500;

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
 * @property {() => boolean} hasPendingCommit
 * @property {(text: string) => Uint8Array} send
 * @property {() => number} epoch
 * @property {() => number} ownLeaf
 * @property {() => string} roster JSON `[{leaf, identity, host}]`
 * @property {() => string} policy JSON `{hostApproval, amHost, e2eeRequired}` or `null`
 * @property {() => string} safetyCode
 * @property {() => Uint8Array} mediaEpoch
 * @property {() => void} free
 */

/**
 * What the page must do, in order.
 * @typedef {{type: 'send', bytes: Uint8Array}
 *   | {type: 'keys', bytes: Uint8Array, epoch: number, switchAfterMs: number}
 *   | {type: 'stop_keys'}
 *   | {type: 'note', text: string, kind: 'info' | 'warn'}
 *   | {type: 'waiting'}
 *   | {type: 'member', how: 'created' | 'welcomed'}
 *   | {type: 'rejoining'}
 *   | {type: 'ask_host', ticket: string}
 *   | {type: 'fail', code: string, message: string}} Action
 *
 * - `send`: an MLS envelope for the relay's delivery service
 * - `keys`: this epoch's media keys for the worker (`Call.mediaEpoch()`)
 * - `stop_keys`: the worker must forget every key (we dropped our group)
 * - `note`: a line for the call's event list, for the user to see
 * - `waiting`: we asked to join; the admission deadline runs from now
 * - `member`: we are in the group (created it, or a Welcome let us in)
 * - `rejoining`: we gave up our own group for a rival one and ask to join it
 * - `ask_host`: the user (a host) decides about this checked joiner
 * - `fail`: the call is over for us, with this error for the user
 */

/** @typedef {{leaf: number, identity: string, host: boolean}} RosterRow */
/** @typedef {{name: string, participant: string}} Profile */
/** @typedef {{since: number, hostDecides: boolean, asked: boolean, approved?: boolean}} Join */
/** @typedef {{what: string, reason: string, at: number}} Refusal */

export class Membership {
  /**
   * @param {object} opts
   * @param {() => CallLike} opts.newCall a fresh device identity for this room (`new Call(roomKey)`)
   * @param {string} opts.name our display name, sent only inside MLS
   * @param {number} [opts.rekeyMs] rekey interval (tests shorten it)
   */
  constructor({ newCall, name, rekeyMs = REKEY_MS }) {
    this.newCall = newCall;
    /** Our MLS state: joiner, then member. */
    this.call = newCall();
    this.name = name;
    this.rekeyMs = rekeyMs;
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
    /** @type {number | null} since when leaves of people who left wait for removal */
    this.leftSince = null;
    /** @type {Set<string>} relay participants here now (what the relay says) */
    this.present = new Set();
    /** @type {Set<string>} relay participants who left; ids are never reused */
    this.gone = new Set();
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
   * The relay says this participant left: someone commits the Remove of their leaf.
   * @param {string} participant
   * @param {number} now
   * @returns {Action[]}
   */
  peerLeft(participant, now) {
    this.out = [];
    this.gone.add(participant);
    this.present.delete(participant);
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
    const ev = JSON.parse(this.call.handle(bytes, now));
    switch (ev.kind) {
      case 'join_request':
        if (!ev.ok) { this.refuse('join', ev.reason, now); break; }
        this.joins.set(ev.ticket, { since: now, hostDecides: ev.host_decides, asked: false });
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
        break; // committed by maintain() through the peer_left that follows
      case 'application':
        this.receiveApplication(ev.sender, ev.text, now);
        break;
      case 'removed':
        this.fail('removed', 'You were removed from the call by a member.');
        return this.take();
      case 'refused':
        if (ev.what === 'message' && this.rivalGroup(from, now)) return this.take();
        this.refuse(ev.what, ev.reason, now);
        if (ev.what === 'welcome' && this.state === 'waiting') {
          // The relay used up our join ticket on a fake invitation: ask again.
          this.send(this.call.joinRequest(now));
        }
        break;
      default:
        break;
    }
    this.maintain(now);
    return this.take();
  }

  /**
   * Time passed: give up waiting to be admitted after ADMIT_TIMEOUT_MS, and
   * do what maintain() decides now. Call once a second.
   * @param {number} now
   * @returns {Action[]}
   */
  handleTimeout(now) {
    this.out = [];
    if (this.state === 'waiting' && this.waitingSince !== null && now - this.waitingSince >= ADMIT_TIMEOUT_MS) {
      this.fail('not_admitted', `Nobody in this meeting let you in within ${ADMIT_TIMEOUT_MS / 1000} seconds. `
        + 'Members admit only people whose link has the right secret: check that you have the whole link, or ask a member for a new one.');
      return this.take();
    }
    this.maintain(now);
    return this.take();
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
   * The MLS group's leaves with the names and relay ids from their profiles,
   * ours included; empty unless we are a member.
   * @returns {{leaf: number, self: boolean, host: boolean, name: string | null, participant: string | null}[]}
   */
  members() {
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
      };
    });
  }

  /**
   * The MLS leaf whose profile names this relay participant, if any.
   * @param {string} participant
   * @returns {number | null}
   */
  leafOf(participant) {
    for (const [leaf, p] of this.profiles) if (p.participant === participant) return leaf;
    return null;
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
    for (const leaf of [...this.addedAt.keys()]) if (!this.roster.some((r) => r.leaf === leaf)) this.addedAt.delete(leaf);
    this.ownLeaf = this.call.ownLeaf();
    this.epoch = this.call.epoch();
    this.epochAt = now;
    this.safetyCode = this.call.safetyCode();
    // Senders switch a moment later so members still applying the commit do not
    // drop our frames, except after a removal: then the removed member's keys
    // must stop opening our frames at once.
    const removal = !!(ev && (ev.removed || []).length);
    this.out.push({ type: 'keys', bytes: this.call.mediaEpoch(), epoch: this.epoch, switchAfterMs: removal ? 0 : SWITCH_DELAY_MS });
    if (ev) {
      for (const leaf of ev.removed || []) {
        const p = this.profiles.get(leaf);
        if (before.has(leaf)) this.note(`${p ? p.name : `leaf ${leaf}`} left the call; new keys`);
        this.profiles.delete(leaf);
      }
      for (const t of ev.admitted || []) this.joins.delete(t);
      const added = ev.added || [];
      if (added.length) this.note(`${added.length === 1 ? 'someone was' : `${added.length} people were`} let in; new keys`);
    }
    this.sendProfile();
    this.maintain(now);
  }

  /** Tells the members our display name and which relay connection is ours,
   * inside an MLS application message: the relay never sees either. Sent on
   * joining and on every epoch change, so newcomers learn it. */
  sendProfile() {
    if (this.state !== 'member') return;
    const text = JSON.stringify({ profile: { name: this.name, participant: this.me } });
    this.send(this.call.send(text));
  }

  /**
   * Reads a member's application message; ignores what it does not understand.
   * @param {number} sender leaf
   * @param {string} text
   * @param {number} now
   */
  receiveApplication(sender, text, now) {
    if (text.length > MAX_PROFILE_LEN) return;
    let body;
    try { body = JSON.parse(text); } catch { return; }
    const p = body && body.profile;
    if (!p || typeof p.name !== 'string' || typeof p.participant !== 'string') return;
    const name = cleanName(p.name);
    const first = !this.profiles.has(sender);
    // A participant id names one connection; whoever claimed it before
    // (an earlier leaf of a rejoining device) no longer owns it.
    for (const [leaf, q] of this.profiles) if (leaf !== sender && q.participant === p.participant) this.profiles.delete(leaf);
    this.profiles.set(sender, { name, participant: p.participant });
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
      this.sendProfile(); // so the other one learns of our group and joins it
      return false;
    }
    this.note('Someone else started this meeting at the same moment; joining their group');
    this.out.push({ type: 'stop_keys' });
    this.call.free();
    this.call = this.newCall();
    this.roster = [];
    this.profiles.clear();
    this.addedAt.clear();
    this.out.push({ type: 'rejoining' });
    this.askToJoin(now);
    return true;
  }

  /** Leaves of members whose relay connection is still here, lowest first: the
   * order in which they take on admitting and removing. */
  onlineLeaves() {
    return this.roster.map((r) => r.leaf).filter((leaf) => {
      if (leaf === this.ownLeaf) return true;
      const p = this.profiles.get(leaf);
      return !!p && this.present.has(p.participant) && !this.gone.has(p.participant);
    });
  }

  /**
   * The one place that decides what this member commits, run after every
   * event and once a second: removals of people who left, admissions of
   * checked join requests, periodic rekeying. One member acts (the lowest
   * online leaf, or a host where the room needs host approval); the next in
   * line takes over when nothing happened after TAKEOVER_MS times its place.
   * @param {number} now
   */
  maintain(now) {
    if (this.state !== 'member' || this.call.hasPendingCommit()) return;
    const online = this.onlineLeaves();
    const rank = Math.max(0, online.indexOf(this.ownLeaf));
    /** @param {number} since */
    const waited = (since) => now - since >= rank * TAKEOVER_MS;
    try {
      // Someone left: remove their leaf (their keys must not open new frames).
      const leftLeaves = this.roster.filter((r) => {
        if (r.leaf === this.ownLeaf) return false;
        const p = this.profiles.get(r.leaf);
        if (p) return this.gone.has(p.participant);
        return now - (this.addedAt.get(r.leaf) ?? now) > ORPHAN_MS; // never said who it is
      }).map((r) => r.leaf);
      if (leftLeaves.length) {
        this.leftSince ??= now;
        if (waited(this.leftSince)) { this.send(this.call.remove(leftLeaves)); return; }
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
      this.out.push({ type: 'ask_host', ticket: t });
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
