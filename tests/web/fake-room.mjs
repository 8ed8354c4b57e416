// A fake of the wasm `Call` (crates/wasm) and of the relay's MLS delivery
// service, small enough to read, for unit tests of the page's membership
// decisions (crates/web/assets/membership.js) with simulated time. It keeps
// what the decisions depend on: who is in the group, epochs, checked join
// requests and their tickets, one pending commit at a time, first commit per
// epoch wins, Welcomes routed by ticket, messages a group cannot read from
// another group. It does no cryptography: the real wasm is exercised by
// crates/wasm's tests and the browser tests (tests/browser/run.mjs).
//
// Envelopes are JSON in bytes:
//   {t:'join', ticket, identity, good}        a join request (good: proof checks)
//   {t:'commit', group, epoch, by, roster, added, removed, welcomes, id, secret}   (by: the committer's leaf)
//   {t:'accepted', epoch} / {t:'rejected', epoch, current}   the service to a committer
//   {t:'welcome', group, ticket, epoch, roster, leaf, policy, secret}
//   {t:'app', group, sender, text, epoch, id, secret}   an application message
//
// Like MLS, each epoch has its own key (`secret`: the id of the commit that
// started it), so a message made under another branch of the same epoch
// number (a fork) does not read; an application message reads in its epoch
// and the two before it; messages handled or sent before (by `id`) are
// duplicates; and the wasm's `relation` (behind, current, ahead) is reported
// for messages of our group it cannot read. Messages a test builds by hand
// without `epoch` read in any epoch.
//
// `Net` plays the relay: it connects tabs (each a Membership with its own
// FakeCall), tells them who is present, carries out their actions and
// delivers what they send, in order. It can also lie like a relay: forge a
// `peer_left`, withhold a member's application messages (`muted`), hang a tab.

import { Membership } from '../../crates/web/assets/membership.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** @param {object} obj */
export const envelope = (obj) => encoder.encode(JSON.stringify(obj));
/** @param {Uint8Array} bytes */
export const open = (bytes) => JSON.parse(decoder.decode(bytes));

let identities = 0;
let tickets = 0;
let ids = 0;
/** How many past epochs' keys a member keeps (crates/e2ee group.rs MAX_PAST_EPOCHS). */
const PAST_EPOCHS = 2;

/** The surface of the wasm `Call` that membership.js uses. */
export class FakeCall {
  /** @param {{goodSecret?: boolean}} [opts] goodSecret false: our join proofs do not check */
  constructor({ goodSecret = true, hostsOnlyRemove = false } = {}) {
    this.identity = `id${++identities}`;
    this.goodSecret = goodSecret;
    this.hostsOnlyRemove = hostsOnlyRemove;
    this.state = 'joining'; // joining | member | gone
    this.freed = false;
    this.ticket = null;
    this.group = null;
    this.epochN = 0;
    this.rosterRows = [];
    this.leaf = -1;
    this.pol = null;
    this.pending = new Map(); // ticket -> {identity, seen}
    this.commit = null; // our commit awaiting the service's verdict
    this.secret = null; // this epoch's key
    this.secrets = new Map(); // epoch -> key, ours and the last PAST_EPOCHS
    this.seen = new Set(); // ids of messages handled or sent
  }

  /** The key of a new epoch. */
  setEpoch(epoch, secret) {
    this.epochN = epoch;
    this.secret = secret;
    this.secrets.set(epoch, secret);
    for (const e of [...this.secrets.keys()]) if (e < epoch - PAST_EPOCHS) this.secrets.delete(e);
  }

  /** Where a message of our group stands against our epoch, as the wasm says it. */
  place(env, what, readable) {
    const refused = (relation) => ({ kind: 'refused', what, reason: `not readable (${relation})`, epoch: env.epoch, relation });
    if (env.epoch > this.epochN) return refused('ahead');
    if (env.epoch < this.epochN && !readable) return refused('behind');
    if (env.epoch === this.epochN && env.secret !== this.secret) return refused('current');
    return null;
  }

  alive() {
    if (this.freed) throw new Error('null pointer passed to rust');
  }

  member() {
    this.alive();
    if (this.state !== 'member') throw new Error('not a member of the call');
  }

  create(hostApproval) {
    this.alive();
    if (this.state !== 'joining') throw new Error('this device is already in the call');
    this.state = 'member';
    this.group = `group of ${this.identity}`;
    this.leaf = 0;
    this.rosterRows = [{ leaf: 0, identity: this.identity, host: hostApproval }];
    this.pol = { hostApproval, hostsOnlyRemove: this.hostsOnlyRemove, hosts: hostApproval || this.hostsOnlyRemove ? [this.identity] : [] };
    this.setEpoch(0, `${this.group}#0`);
  }

  joinRequest() {
    this.alive();
    if (this.state !== 'joining') throw new Error('only a device waiting to join sends join requests');
    this.ticket = `t${++tickets}`;
    return envelope({ t: 'join', ticket: this.ticket, identity: this.identity, good: this.goodSecret });
  }

  handle(bytes, now) {
    this.alive();
    const env = open(bytes);
    const out = (o) => JSON.stringify(o);
    if (this.state === 'gone') return out({ kind: 'ignored' });
    if (this.state === 'joining') {
      if (env.t !== 'welcome') return out({ kind: 'ignored' });
      if (env.ticket !== this.ticket) return out({ kind: 'refused', what: 'welcome', reason: 'not an invitation for us' });
      Object.assign(this, { state: 'member', group: env.group, rosterRows: env.roster, leaf: env.leaf, pol: env.policy });
      this.setEpoch(env.epoch, env.secret);
      return out({ kind: 'welcomed', epoch: env.epoch, leaf: env.leaf });
    }
    if (env.id !== undefined && this.seen.has(env.id)) return out({ kind: 'duplicate' });
    const read = (o) => {
      if (env.id !== undefined && o.kind !== 'refused') this.seen.add(env.id);
      return out(o);
    };
    switch (env.t) {
      case 'welcome':
        return out({ kind: 'ignored' });
      case 'join': {
        // The request that let someone in, replayed: they are here.
        if (env.good && this.rosterRows.some((r) => r.identity === env.identity)) return out({ kind: 'duplicate' });
        if (!env.good) return out({ kind: 'join_request', ticket: env.ticket, ok: false, reason: 'the join proof was not made with this meeting\'s link', host_decides: false });
        if (this.pol.hostApproval && !this.pol.hosts.includes(this.identity)) {
          return out({ kind: 'join_request', ticket: env.ticket, ok: true, host_decides: true });
        }
        this.pending.set(env.ticket, { identity: env.identity, seen: now });
        return out({ kind: 'join_request', ticket: env.ticket, ok: true, host_decides: false, identity: env.identity });
      }
      case 'commit': {
        const placed = env.group === this.group && env.secret !== undefined && this.place(env, 'commit', false);
        if (placed) return out(placed);
        if (env.group !== this.group || env.epoch !== this.epochN) return out({ kind: 'refused', what: 'commit', reason: 'not a commit of this group\'s epoch' });
        const committer = this.rosterRows.find((r) => r.leaf === env.by);
        if (this.pol.hostsOnlyRemove && env.removed.length && !(committer && this.pol.hosts.includes(committer.identity))) {
          return out({ kind: 'refused', what: 'commit', reason: 'a non-host removed someone in a room where only hosts may' });
        }
        return read(this.apply(env));
      }
      case 'accepted': {
        const c = this.commit;
        this.commit = null;
        return out(c ? this.apply(c) : { kind: 'ignored' });
      }
      case 'rejected':
        // Only the answer to the commit we have out (a replayed one is not).
        if (this.commit && env.epoch !== undefined && env.epoch !== this.commit.epoch) return out({ kind: 'ignored' });
        this.commit = null;
        return out({ kind: 'rejected', current: env.current });
      case 'app': {
        if (env.group !== this.group) return out({ kind: 'refused', what: 'message', reason: 'cannot decrypt' });
        const placed = env.epoch !== undefined && this.place(env, 'message', this.secrets.get(env.epoch) === env.secret);
        if (placed) return out(placed);
        return read({ kind: 'application', sender: env.sender, text: env.text });
      }
      default:
        return out({ kind: 'refused', what: 'envelope', reason: 'unknown envelope' });
    }
  }

  /** Applies a commit of this epoch: the MLS event the wasm reports. */
  apply(c) {
    if (c.removed.includes(this.leaf)) {
      this.state = 'gone';
      return { kind: 'removed' };
    }
    this.setEpoch(c.epoch + 1, c.id);
    this.rosterRows = c.roster;
    const inGroup = c.roster.map((r) => r.identity);
    const admitted = [...this.pending].filter(([, p]) => inGroup.includes(p.identity)).map(([t]) => t);
    for (const t of admitted) this.pending.delete(t);
    return { kind: 'epoch', epoch: this.epochN, added: c.added, removed: c.removed, admitted };
  }

  /** Our commit: the next roster, the joiners' Welcomes. */
  makeCommit({ add = [], remove = [] }) {
    this.member();
    const roster = this.rosterRows.filter((r) => !remove.includes(r.leaf)).map((r) => ({ ...r }));
    const added = [];
    const welcomes = [];
    for (const j of add) {
      // MLS puts a new member in the leftmost free leaf.
      let leaf = 0;
      while (roster.some((r) => r.leaf === leaf)) leaf++;
      roster.push({ leaf, identity: j.identity, host: false });
      roster.sort((a, b) => a.leaf - b.leaf);
      added.push(leaf);
      welcomes.push({ ticket: j.ticket, leaf });
    }
    this.commit = { t: 'commit', group: this.group, epoch: this.epochN, by: this.leaf, roster, added, removed: remove, welcomes, policy: this.pol, id: `c${++ids}`, secret: this.secret };
    this.seen.add(this.commit.id);
    return envelope(this.commit);
  }

  pendingJoins() {
    return [...this.pending].sort((a, b) => a[1].seen - b[1].seen).map(([t]) => t);
  }

  dropJoin(ticket) {
    this.alive();
    this.pending.delete(ticket);
  }

  admit(tickets) {
    const add = tickets.filter((t) => this.pending.has(t)).map((t) => ({ ticket: t, identity: this.pending.get(t).identity }));
    if (!add.length) throw new Error('no checked join request with those tickets');
    return this.makeCommit({ add });
  }

  remove(leaves) { return this.makeCommit({ remove: leaves }); }

  selfUpdate() { return this.makeCommit({}); }

  hasPendingCommit() { return this.state === 'member' && !!this.commit; }

  send(text) {
    this.member();
    const id = `m${++ids}`;
    this.seen.add(id);
    return envelope({ t: 'app', group: this.group, sender: this.leaf, text, epoch: this.epochN, id, secret: this.secret });
  }

  epoch() { return this.state === 'member' ? this.epochN : 0; }

  ownLeaf() { return this.state === 'member' ? this.leaf : -1; }

  roster() { return JSON.stringify(this.state === 'member' ? this.rosterRows : []); }

  policy() {
    if (this.state !== 'member') return 'null';
    return JSON.stringify({ hostApproval: this.pol.hostApproval, amHost: this.pol.hosts.includes(this.identity), e2eeRequired: true, hostsOnlyRemove: !!this.pol.hostsOnlyRemove });
  }

  safetyCode() {
    return this.state === 'member' ? `${this.group}/${this.epochN}/${this.secret}/${this.rosterRows.map((r) => r.identity).join(',')}` : '';
  }

  mediaEpoch() {
    this.member();
    return envelope({ epoch: this.epochN });
  }

  free() {
    this.alive();
    this.freed = true;
  }
}

/** One browser tab: its Membership and everything it was asked to do. */
export class Tab {
  constructor(name, participant, { goodSecret = true, rekeyMs, admitTimeoutMs, hostsOnlyRemove = false } = {}) {
    this.name = name;
    this.participant = participant;
    this.calls = [];
    this.m = new Membership({
      newCall: () => { const c = new FakeCall({ goodSecret, hostsOnlyRemove }); this.calls.push(c); return c; },
      name,
      ...(rekeyMs ? { rekeyMs } : {}),
      ...(admitTimeoutMs ? { admitTimeoutMs } : {}),
    });
    this.actions = []; // every action, in order
    this.notes = [];
    this.failure = null;
    this.asks = []; // tickets a host was asked about
    this.keys = []; // {epoch, switchAfterMs} handed to the worker
    this.workerEpoch = null; // the epoch the worker's encryptor last got (null: none since it started or stopped)
  }

  get call() { return this.m.call; }

  /** The names in this tab's roster, as it would show them. */
  names() {
    return this.m.members().map((r) => (r.self ? `${r.name} (you)` : r.name ?? '(no name yet)'));
  }
}

/** The relay: presence, and a delivery service that orders commits. */
export class Net {
  constructor() {
    this.tabs = [];
    this.queue = [];
    this.epoch = 0; // the delivery service's count
    this.commits = []; // accepted commits: {by, added, removed}
    this.hung = new Set(); // tabs that neither send nor receive (a stuck tab)
    this.muted = new Set(); // tabs whose messages the relay withholds from the others
    this.dropWelcomes = false;
    this.dropAnswers = false; // the relay withholds its Accepted/Rejected replies
    /** @type {((to: Tab, from: Tab, env: object) => object[]) | null} a lying
     * relay's hand on each envelope it delivers: what `to` gets instead */
    this.tamper = null;
    /** @type {Map<Tab, {from: Tab, env: object}[]>} what each tab was delivered */
    this.delivered = new Map();
  }

  /** A tab connects; `alone` when the relay's `joined` lists nobody. */
  connect(tab, now, { alone = this.tabs.length === 0, hostApproval = false } = {}) {
    tab.m.connected(tab.participant);
    for (const other of this.tabs) {
      tab.m.peerPresent(other.participant);
      other.m.peerPresent(tab.participant);
    }
    this.tabs.push(tab);
    this.run(tab, tab.m.start(now, { alone, hostApproval }));
    return tab;
  }

  /** The relay's peer_left, to everyone still here (the tab's connection closed). */
  leave(tab, now) {
    this.tabs = this.tabs.filter((t) => t !== tab);
    for (const other of this.tabs) this.run(other, other.m.peerLeft(tab.participant, now));
  }

  /** The tab's Leave button: it says so inside MLS, then its connection closes. */
  depart(tab, now) {
    this.run(tab, tab.m.leave(now));
    this.flush(now);
    tab.m.close();
    this.leave(tab, now);
  }

  /** A forged peer_left for `tab`, to `to` (default everyone else); `tab` stays. */
  forgePeerLeft(tab, now, to = this.tabs.filter((t) => t !== tab)) {
    for (const other of to) this.run(other, other.m.peerLeft(tab.participant, now));
  }

  /** Carries out a tab's actions the way app.js does. */
  run(tab, actions) {
    for (const a of actions) {
      tab.actions.push(a);
      if (a.type === 'send') this.queue.push({ from: tab, bytes: a.bytes });
      if (a.type === 'note') tab.notes.push(a.text);
      if (a.type === 'keys') {
        // The worker's encryptor gets each epoch once, in order (a second
        // setEpoch of one epoch would restart its SFrame counter under the
        // same key): every membership test checks it.
        if (tab.workerEpoch !== null && a.epoch <= tab.workerEpoch) {
          throw new Error(`${tab.name} handed the worker epoch ${a.epoch} after epoch ${tab.workerEpoch}`);
        }
        tab.workerEpoch = a.epoch;
        tab.keys.push({ epoch: a.epoch, switchAfterMs: a.switchAfterMs });
      }
      if (a.type === 'stop_keys') tab.workerEpoch = null; // the worker starts a fresh encryptor
      if (a.type === 'ask_host') tab.asks.push(a.ticket);
      if (a.type === 'fail') { tab.failure = a; tab.m.close(); }
    }
  }

  /** @param {Tab} to */
  deliver(to, from, env, now) {
    if (this.hung.has(to) || to.failure) return;
    if (!this.delivered.has(to)) this.delivered.set(to, []);
    this.delivered.get(to).push({ from, env });
    this.run(to, to.m.handleMls(from.participant, envelope(env), now));
  }

  /** Delivers as the relay does, through `tamper` when set. */
  relay(to, from, env, now) {
    for (const e of this.tamper ? this.tamper(to, from, env) : [env]) this.deliver(to, from, e, now);
  }

  /** Delivers everything sent so far (and what that makes them send). */
  flush(now) {
    while (this.queue.length) {
      const { from, bytes } = this.queue.shift();
      if (this.hung.has(from)) continue;
      const env = open(bytes);
      if (this.muted.has(from) && env.t === 'app') continue;
      const others = this.tabs.filter((t) => t !== from);
      if (env.t === 'commit') {
        if (env.epoch !== this.epoch) {
          this.relay(from, from, { t: 'rejected', epoch: env.epoch, current: this.epoch }, now);
          continue;
        }
        this.epoch += 1;
        this.commits.push({ by: from.name, added: env.added, removed: env.removed });
        if (!this.dropAnswers) this.relay(from, from, { t: 'accepted', epoch: env.epoch }, now);
        for (const t of others) this.relay(t, from, env, now);
        if (this.dropWelcomes) continue;
        for (const w of env.welcomes) {
          const joiner = this.tabs.find((t) => t.call.ticket === w.ticket);
          const welcome = { t: 'welcome', group: env.group, ticket: w.ticket, epoch: env.epoch + 1, roster: env.roster, leaf: w.leaf, policy: env.policy, secret: env.id };
          if (joiner) this.relay(joiner, from, welcome, now);
        }
      } else {
        for (const t of others) this.relay(t, from, env, now);
      }
    }
  }

  /** Every tab's once-a-second timer, then delivery. */
  tick(now) {
    for (const t of this.tabs) if (!this.hung.has(t) && !t.failure) this.run(t, t.m.handleTimeout(now));
    this.flush(now);
  }

  /** Ticks every second from `from` to `to` (inclusive). */
  ticks(from, to) {
    for (let now = from; now <= to; now += 1000) this.tick(now);
  }
}
