//! The MLS delivery service: key-less ordering of the group's handshake
//! messages, run by the relay.
//!
//! MLS (RFC 9420 §14) needs someone to put commits in one order: two members
//! that commit in the same epoch at the same time would fork the group. The
//! relay does that job here without holding any key and without reading any
//! MLS message. It works from a small **clear envelope** that clients wrap
//! around every MLS message ([`Envelope`]): the kind (join request, commit,
//! proposal, application), the MLS epoch the message was made in, and for a
//! commit that adds people, the [`JoinTicket`]s of the joiners its Welcome is
//! for. The MLS bytes inside are opaque (PrivateMessages, Welcomes,
//! KeyPackages).
//!
//! Why an envelope and not MLS's own public framing: the Welcome has no clear
//! epoch or routing field a relay could use without computing KeyPackage
//! references, and the envelope keeps the relay's parser tiny (it is fuzzed).
//! The envelope is not trusted by members: a client that lies in it only
//! misroutes its own message, because members check epochs, senders and
//! signatures inside MLS (docs/design.md §1, "slip in a ghost participant").
//!
//! What the relay learns from it (listed for "what the operator can see"):
//! message kinds and sizes, the epoch counter, and which connection a Welcome
//! goes to. Never who adds or removes whom: commits are MLS PrivateMessages.
//!
//! Rules, each tested below. Together they mean the service cannot be
//! steered by a connection that merely knows the room id (docs/design.md §1,
//! "slip in a ghost participant"; the relay's own check that every
//! connection was made from the link is [`crate::founder`]):
//! - only connections that hold the group (the room's founder and joiners a
//!   Welcome was routed to) may send commits, proposals and application
//!   messages ([`DeliveryError::NotAMember`]); when every one of them has
//!   left, the next connection to send one holds the group;
//! - a join request goes only to those members ([`Recipients::Members`]),
//!   never to every connection in the room: someone waiting to be let in does
//!   not see others' tickets or KeyPackages;
//! - a join ticket is first-come: a join request whose ticket is already
//!   pending for another connection is refused to its sender
//!   ([`DeliveryError::TicketTaken`]) and the ticket stays with the first
//!   connection, so replaying a request cannot redirect its Welcome (the
//!   same connection may re-send its own);
//! - once the service knows the group's epoch, only commits and proposals
//!   for exactly that epoch are accepted: an older one (it lost the race) or
//!   a newer one (an epoch jump, which would make every honest commit look
//!   stale) is refused to its sender with [`Envelope::Rejected`], which
//!   names the current epoch, so the sender drops it and processes the
//!   winner instead. While the epoch is unknown (a new room, or after a
//!   relay restart: nothing survives, docs/design.md §1 "keep history") the first
//!   member commit sets it;
//! - the first commit for the current epoch wins: it goes to every other
//!   connection, [`Envelope::Accepted`] goes back to its sender (who then
//!   merges its pending commit), and its Welcome goes only to the
//!   connections whose join requests carried the named tickets;
//! - application messages go to every other connection;
//! - clients may not send the service's own replies (Welcome, Accepted,
//!   Rejected).
//!
//! ```
//! use conclave_e2ee::delivery::{DeliveryService, Envelope, Epoch, Recipients};
//! let mut ds = DeliveryService::new();
//! ds.add_member("alice");
//! ds.add_member("bob");
//! let commit = Envelope::Commit { epoch: Epoch(0), commit: vec![1, 2, 3], welcome: None };
//! let out = ds.handle(&"alice", &commit.encode()).unwrap();
//! assert_eq!(out[0].to, Recipients::AllExcept("alice"));
//! assert_eq!(out[1].to, Recipients::One("alice")); // Accepted
//! // Bob committed in the same epoch, a moment later: refused.
//! let late = Envelope::Commit { epoch: Epoch(0), commit: vec![4], welcome: None };
//! let out = ds.handle(&"bob", &late.encode()).unwrap();
//! assert_eq!(
//!     Envelope::decode(&out[0].bytes).unwrap(),
//!     Envelope::Rejected { epoch: Epoch(0), current: Epoch(1) }
//! );
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

/// First byte of every envelope: the envelope format version.
pub const ENVELOPE_VERSION: u8 = 1;
/// Largest MLS payload an envelope carries (a Welcome with the ratchet tree
/// for a 1,000-member group is about 300 KiB).
pub const MAX_PAYLOAD: usize = 1 << 20;
/// Most joiners one commit may address.
pub const MAX_TICKETS: usize = 64;
/// How many outstanding join tickets the service remembers per room.
pub const MAX_PENDING_TICKETS: usize = 256;

/// An MLS epoch number (RFC 9420 §8): it counts the group's commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub u64);

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "epoch {}", self.0)
    }
}

/// A random 16-byte label a joiner puts on its join request so the relay can
/// route the Welcome back to it. It is the join proof's nonce, so it carries
/// no identity (docs/design.md §1, "hand out names").
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JoinTicket(pub [u8; 16]);

impl fmt::Debug for JoinTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JoinTicket(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// The Welcome part of a commit that adds members, with the joiners it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WelcomeBundle {
    /// The joiners' tickets, from their join requests.
    pub tickets: Vec<JoinTicket>,
    /// The MLS Welcome message (opaque).
    pub welcome: Vec<u8>,
}

/// The clear wrapper around each MLS message a client or the delivery service
/// sends. See the module docs for what each kind means to the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    /// Joiner → members: a join request (KeyPackage and admission proof).
    JoinRequest {
        /// Where to send the Welcome back.
        ticket: JoinTicket,
        /// The encoded join request (opaque to the relay).
        request: Vec<u8>,
    },
    /// Member → service: a commit made in `epoch`, with the Welcome for the
    /// members it adds, if any.
    Commit {
        /// The epoch the commit was made in (it moves the group to `epoch + 1`).
        epoch: Epoch,
        /// The MLS commit (a PrivateMessage).
        commit: Vec<u8>,
        /// Welcome for the added members; stripped before forwarding.
        welcome: Option<WelcomeBundle>,
    },
    /// Member → members: a proposal (e.g. "I leave") made in `epoch`.
    Proposal {
        /// The epoch the proposal was made in.
        epoch: Epoch,
        /// The MLS proposal (a PrivateMessage).
        proposal: Vec<u8>,
    },
    /// Member → members: an MLS application message (profiles, chat).
    Application {
        /// The epoch the message was encrypted in.
        epoch: Epoch,
        /// The MLS application message (a PrivateMessage).
        message: Vec<u8>,
    },
    /// Service → joiner: the Welcome of an accepted commit.
    Welcome {
        /// The ticket of the joiner's request.
        ticket: JoinTicket,
        /// The MLS Welcome.
        welcome: Vec<u8>,
    },
    /// Service → committer: your commit for `epoch` was ordered first; merge it.
    Accepted {
        /// The epoch the accepted commit was made in.
        epoch: Epoch,
    },
    /// Service → committer: your commit or proposal for `epoch` came too late;
    /// drop it and process the winning commit, then retry in `current`.
    Rejected {
        /// The epoch the refused message was made in.
        epoch: Epoch,
        /// The epoch the group is in now.
        current: Epoch,
    },
}

const KIND_JOIN: u8 = 1;
const KIND_COMMIT: u8 = 2;
const KIND_PROPOSAL: u8 = 3;
const KIND_APPLICATION: u8 = 4;
const KIND_WELCOME: u8 = 5;
const KIND_ACCEPTED: u8 = 6;
const KIND_REJECTED: u8 = 7;

/// Why an envelope could not be parsed or was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The bytes end before the envelope does.
    #[error(
        "envelope truncated: needed {needed} more bytes; the client must send whole envelopes"
    )]
    Truncated {
        /// How many more bytes were expected.
        needed: usize,
    },
    /// Bytes left after the envelope.
    #[error("{0} trailing bytes after the envelope; send exactly one envelope per message")]
    TrailingBytes(usize),
    /// A version this code does not speak.
    #[error("envelope version {0} is not supported (this side speaks {ENVELOPE_VERSION}); update the client")]
    UnsupportedVersion(u8),
    /// An unknown kind byte.
    #[error("unknown envelope kind {0}")]
    UnknownKind(u8),
    /// A payload over [`MAX_PAYLOAD`].
    #[error("payload of {0} bytes exceeds the {MAX_PAYLOAD}-byte limit")]
    TooLarge(usize),
    /// A commit addressing more than [`MAX_TICKETS`] joiners.
    #[error("{0} join tickets in one commit; the limit is {MAX_TICKETS}")]
    TooManyTickets(usize),
    /// A client sent a kind only the delivery service may send.
    #[error("clients may not send {0} envelopes; only the delivery service does")]
    NotFromClients(&'static str),
    /// A commit, proposal or application message from a connection that does
    /// not hold the group.
    #[error("only members of the call may send commits, proposals and application messages; send a join request and wait for the Welcome")]
    NotAMember,
    /// A join request whose ticket another connection's request already
    /// holds: tickets are first-come, so a re-sent request cannot redirect
    /// the Welcome.
    #[error("this join ticket is already pending for another connection; make a new join request (it carries a fresh ticket)")]
    TicketTaken,
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DeliveryError> {
        if self.buf.len() < n {
            return Err(DeliveryError::Truncated {
                needed: n - self.buf.len(),
            });
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, DeliveryError> {
        Ok(self.take(1)?[0])
    }
    fn u64(&mut self) -> Result<u64, DeliveryError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    fn ticket(&mut self) -> Result<JoinTicket, DeliveryError> {
        let b = self.take(16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ok(JoinTicket(a))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, DeliveryError> {
        let b = self.take(4)?;
        let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if len > MAX_PAYLOAD {
            return Err(DeliveryError::TooLarge(len));
        }
        Ok(self.take(len)?.to_vec())
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    // Payloads are bounded by MAX_PAYLOAD on decode; encode trusts its caller's
    // sizes but never silently wraps.
    let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b);
}

impl Envelope {
    /// Serializes: `version u8 | kind u8 | fields`, integers big-endian,
    /// byte strings as `u32 length | bytes`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![ENVELOPE_VERSION];
        match self {
            Envelope::JoinRequest { ticket, request } => {
                out.push(KIND_JOIN);
                out.extend_from_slice(&ticket.0);
                put_bytes(&mut out, request);
            }
            Envelope::Commit {
                epoch,
                commit,
                welcome,
            } => {
                out.push(KIND_COMMIT);
                out.extend_from_slice(&epoch.0.to_be_bytes());
                put_bytes(&mut out, commit);
                match welcome {
                    None => out.push(0),
                    Some(w) => {
                        out.push(u8::try_from(w.tickets.len()).unwrap_or(u8::MAX));
                        for t in &w.tickets {
                            out.extend_from_slice(&t.0);
                        }
                        put_bytes(&mut out, &w.welcome);
                    }
                }
            }
            Envelope::Proposal { epoch, proposal } => {
                out.push(KIND_PROPOSAL);
                out.extend_from_slice(&epoch.0.to_be_bytes());
                put_bytes(&mut out, proposal);
            }
            Envelope::Application { epoch, message } => {
                out.push(KIND_APPLICATION);
                out.extend_from_slice(&epoch.0.to_be_bytes());
                put_bytes(&mut out, message);
            }
            Envelope::Welcome { ticket, welcome } => {
                out.push(KIND_WELCOME);
                out.extend_from_slice(&ticket.0);
                put_bytes(&mut out, welcome);
            }
            Envelope::Accepted { epoch } => {
                out.push(KIND_ACCEPTED);
                out.extend_from_slice(&epoch.0.to_be_bytes());
            }
            Envelope::Rejected { epoch, current } => {
                out.push(KIND_REJECTED);
                out.extend_from_slice(&epoch.0.to_be_bytes());
                out.extend_from_slice(&current.0.to_be_bytes());
            }
        }
        out
    }

    /// Parses one envelope from untrusted bytes. Never panics; every length is
    /// checked against the input and the limits above.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, DeliveryError> {
        let mut r = Reader { buf: bytes };
        let version = r.u8()?;
        if version != ENVELOPE_VERSION {
            return Err(DeliveryError::UnsupportedVersion(version));
        }
        let env = match r.u8()? {
            KIND_JOIN => Envelope::JoinRequest {
                ticket: r.ticket()?,
                request: r.bytes()?,
            },
            KIND_COMMIT => {
                let epoch = Epoch(r.u64()?);
                let commit = r.bytes()?;
                let n = r.u8()? as usize;
                let welcome = if n == 0 {
                    None
                } else {
                    if n > MAX_TICKETS {
                        return Err(DeliveryError::TooManyTickets(n));
                    }
                    let mut tickets = Vec::with_capacity(n);
                    for _ in 0..n {
                        tickets.push(r.ticket()?);
                    }
                    Some(WelcomeBundle {
                        tickets,
                        welcome: r.bytes()?,
                    })
                };
                Envelope::Commit {
                    epoch,
                    commit,
                    welcome,
                }
            }
            KIND_PROPOSAL => Envelope::Proposal {
                epoch: Epoch(r.u64()?),
                proposal: r.bytes()?,
            },
            KIND_APPLICATION => Envelope::Application {
                epoch: Epoch(r.u64()?),
                message: r.bytes()?,
            },
            KIND_WELCOME => Envelope::Welcome {
                ticket: r.ticket()?,
                welcome: r.bytes()?,
            },
            KIND_ACCEPTED => Envelope::Accepted {
                epoch: Epoch(r.u64()?),
            },
            KIND_REJECTED => Envelope::Rejected {
                epoch: Epoch(r.u64()?),
                current: Epoch(r.u64()?),
            },
            k => return Err(DeliveryError::UnknownKind(k)),
        };
        if !r.buf.is_empty() {
            return Err(DeliveryError::TrailingBytes(r.buf.len()));
        }
        Ok(env)
    }
}

/// Who an outgoing envelope goes to, in the relay's own peer ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients<P> {
    /// Every connection in the room except this one (the sender).
    AllExcept(P),
    /// Exactly these connections: the members of the group (those that hold
    /// it), without the sender. May be empty: nobody holds the group yet.
    Members(Vec<P>),
    /// Exactly this connection.
    One(P),
}

/// An envelope the relay must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing<P> {
    /// Whom to send it to.
    pub to: Recipients<P>,
    /// The encoded envelope.
    pub bytes: Vec<u8>,
}

/// Per-room ordering state. Sans-I/O: feed it what a connection sent with
/// [`DeliveryService::handle`]; send what it returns. `P` is the relay's peer
/// id type.
#[derive(Debug)]
pub struct DeliveryService<P> {
    /// The epoch the group is in, once a commit has been seen. Starts unknown:
    /// after a relay restart nothing survives (docs/design.md §1, "keep history").
    epoch: Option<u64>,
    tickets: BTreeMap<JoinTicket, P>,
    ticket_order: VecDeque<JoinTicket>,
    /// Connections that hold the group: the room's founder, and each joiner a
    /// Welcome was routed to. Only they may send commits, proposals and
    /// application messages, so a connection that merely knows the room id
    /// cannot win an epoch with a forged commit and stall the group.
    members: Vec<P>,
}

impl<P> Default for DeliveryService<P> {
    fn default() -> Self {
        Self {
            epoch: None,
            tickets: BTreeMap::new(),
            ticket_order: VecDeque::new(),
            members: Vec::new(),
        }
    }
}

impl<P: Clone + Eq> DeliveryService<P> {
    /// A service for a new room, epoch not yet known.
    pub fn new() -> Self {
        Self::default()
    }

    /// The epoch the service believes the group is in (after the last accepted
    /// commit), if it has seen one.
    pub fn epoch(&self) -> Option<Epoch> {
        self.epoch.map(Epoch)
    }

    /// Marks a connection as holding the group: the relay calls this for the
    /// first connection of an empty room (the one that creates the group).
    /// Joiners become members when their Welcome is routed to them. When every
    /// member has left, the next connection to send a group message takes over
    /// (it restarted the group; the others will see a new safety code).
    pub fn add_member(&mut self, peer: P) {
        if !self.members.contains(&peer) {
            self.members.push(peer);
        }
    }

    /// Whether `peer` may send group messages.
    pub fn is_member(&self, peer: &P) -> bool {
        self.members.contains(peer)
    }

    /// Forget a connection that left: its membership and pending join ticket, if any.
    pub fn peer_left(&mut self, peer: &P) {
        self.members.retain(|p| p != peer);
        self.tickets.retain(|_, p| p != peer);
        let tickets = &self.tickets;
        self.ticket_order.retain(|t| tickets.contains_key(t));
    }

    /// The members a join request from `from` goes to.
    fn members_except(&self, from: &P) -> Vec<P> {
        self.members
            .iter()
            .filter(|m| *m != from)
            .cloned()
            .collect()
    }

    /// Records that `peer` waits for a Welcome under `ticket`. First come:
    /// a ticket pending for another connection is not re-pointed.
    fn remember_ticket(&mut self, ticket: JoinTicket, peer: P) -> Result<(), DeliveryError> {
        match self.tickets.get(&ticket) {
            Some(holder) if *holder != peer => return Err(DeliveryError::TicketTaken),
            Some(_) => return Ok(()),
            None => {}
        }
        self.tickets.insert(ticket, peer);
        self.ticket_order.push_back(ticket);
        while self.ticket_order.len() > MAX_PENDING_TICKETS {
            if let Some(old) = self.ticket_order.pop_front() {
                self.tickets.remove(&old);
            }
        }
        Ok(())
    }

    /// Whether a commit or proposal made in `epoch` must be refused: the
    /// service knows the group's epoch and this is not it (older: it lost the
    /// race; newer: an epoch jump).
    fn is_not_current(&self, epoch: Epoch) -> bool {
        matches!(self.epoch, Some(current) if epoch.0 != current)
    }

    fn rejected(&self, from: &P, epoch: Epoch) -> Outgoing<P> {
        Outgoing {
            to: Recipients::One(from.clone()),
            bytes: Envelope::Rejected {
                epoch,
                current: Epoch(self.epoch.unwrap_or(epoch.0)),
            }
            .encode(),
        }
    }

    /// Handles one envelope sent by connection `from` and returns what to send
    /// to whom. An `Err` means the bytes were not a valid client envelope: drop
    /// them (and tell the sender, if the relay wishes); the state is unchanged.
    pub fn handle(&mut self, from: &P, bytes: &[u8]) -> Result<Vec<Outgoing<P>>, DeliveryError> {
        let env = Envelope::decode(bytes)?;
        if matches!(
            env,
            Envelope::Commit { .. } | Envelope::Proposal { .. } | Envelope::Application { .. }
        ) {
            if self.members.is_empty() {
                // Everyone who held the group left: this connection holds a
                // new (or restarted) group whose epochs start over.
                self.members.push(from.clone());
                self.epoch = None;
            } else if !self.members.contains(from) {
                return Err(DeliveryError::NotAMember);
            }
        }
        let mut out = Vec::new();
        match env {
            Envelope::JoinRequest { ticket, .. } => {
                self.remember_ticket(ticket, from.clone())?;
                out.push(Outgoing {
                    to: Recipients::Members(self.members_except(from)),
                    bytes: bytes.to_vec(),
                });
            }
            Envelope::Commit {
                epoch,
                commit,
                welcome,
            } => {
                if self.is_not_current(epoch) {
                    out.push(self.rejected(from, epoch));
                    return Ok(out);
                }
                // First commit for the current epoch (or, while the epoch is
                // unknown, for any): it wins.
                self.epoch = Some(epoch.0.saturating_add(1));
                out.push(Outgoing {
                    to: Recipients::AllExcept(from.clone()),
                    bytes: Envelope::Commit {
                        epoch,
                        commit,
                        welcome: None,
                    }
                    .encode(),
                });
                out.push(Outgoing {
                    to: Recipients::One(from.clone()),
                    bytes: Envelope::Accepted { epoch }.encode(),
                });
                if let Some(w) = welcome {
                    for ticket in w.tickets {
                        if let Some(peer) = self.tickets.remove(&ticket) {
                            if !self.members.contains(&peer) {
                                self.members.push(peer.clone());
                            }
                            out.push(Outgoing {
                                to: Recipients::One(peer),
                                bytes: Envelope::Welcome {
                                    ticket,
                                    welcome: w.welcome.clone(),
                                }
                                .encode(),
                            });
                        }
                    }
                    let tickets = &self.tickets;
                    self.ticket_order.retain(|t| tickets.contains_key(t));
                }
            }
            Envelope::Proposal { epoch, .. } => {
                if self.is_not_current(epoch) {
                    out.push(self.rejected(from, epoch));
                } else {
                    out.push(Outgoing {
                        to: Recipients::AllExcept(from.clone()),
                        bytes: bytes.to_vec(),
                    });
                }
            }
            Envelope::Application { .. } => out.push(Outgoing {
                to: Recipients::AllExcept(from.clone()),
                bytes: bytes.to_vec(),
            }),
            Envelope::Welcome { .. } => return Err(DeliveryError::NotFromClients("Welcome")),
            Envelope::Accepted { .. } => return Err(DeliveryError::NotFromClients("Accepted")),
            Envelope::Rejected { .. } => return Err(DeliveryError::NotFromClients("Rejected")),
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_members<P: Clone + Eq>(members: &[P]) -> DeliveryService<P> {
        let mut ds = DeliveryService::new();
        for m in members {
            ds.add_member(m.clone());
        }
        ds
    }

    #[test]
    fn only_members_send_group_messages() {
        let mut ds = with_members(&[1]);
        // A connection that only knows the room id cannot win an epoch.
        assert_eq!(
            ds.handle(&9, &commit(0, &[])),
            Err(DeliveryError::NotAMember)
        );
        let app = Envelope::Application {
            epoch: Epoch(0),
            message: vec![1],
        }
        .encode();
        assert_eq!(ds.handle(&9, &app), Err(DeliveryError::NotAMember));
        assert_eq!(ds.epoch(), None, "state unchanged");
        // A joiner becomes a member when its Welcome is routed to it.
        let ticket = [4u8; 16];
        let join = Envelope::JoinRequest {
            ticket: JoinTicket(ticket),
            request: vec![1],
        }
        .encode();
        ds.handle(&2, &join).unwrap();
        assert!(!ds.is_member(&2));
        ds.handle(&1, &commit(0, &[ticket])).unwrap();
        assert!(ds.is_member(&2));
        assert!(ds.handle(&2, &app).is_ok());
        // When every member has left, the next to speak holds the group, and
        // its epochs start over.
        assert_eq!(ds.epoch(), Some(Epoch(1)));
        ds.peer_left(&1);
        ds.peer_left(&2);
        assert!(ds.handle(&3, &app).is_ok());
        assert_eq!(ds.epoch(), None);
        assert!(ds.is_member(&3));
        assert_eq!(ds.handle(&4, &app), Err(DeliveryError::NotAMember));
    }

    fn commit(epoch: u64, tickets: &[[u8; 16]]) -> Vec<u8> {
        Envelope::Commit {
            epoch: Epoch(epoch),
            commit: vec![0xC0; 10],
            welcome: (!tickets.is_empty()).then(|| WelcomeBundle {
                tickets: tickets.iter().map(|t| JoinTicket(*t)).collect(),
                welcome: vec![0x77; 20],
            }),
        }
        .encode()
    }

    #[test]
    fn envelopes_round_trip() {
        let all = [
            Envelope::JoinRequest {
                ticket: JoinTicket([1; 16]),
                request: vec![1, 2],
            },
            Envelope::Commit {
                epoch: Epoch(7),
                commit: vec![3],
                welcome: Some(WelcomeBundle {
                    tickets: vec![JoinTicket([2; 16]), JoinTicket([3; 16])],
                    welcome: vec![9; 5],
                }),
            },
            Envelope::Commit {
                epoch: Epoch(u64::MAX),
                commit: vec![],
                welcome: None,
            },
            Envelope::Proposal {
                epoch: Epoch(1),
                proposal: vec![4],
            },
            Envelope::Application {
                epoch: Epoch(2),
                message: vec![5; 100],
            },
            Envelope::Welcome {
                ticket: JoinTicket([4; 16]),
                welcome: vec![6],
            },
            Envelope::Accepted { epoch: Epoch(3) },
            Envelope::Rejected {
                epoch: Epoch(3),
                current: Epoch(4),
            },
        ];
        for e in all {
            assert_eq!(Envelope::decode(&e.encode()).unwrap(), e);
        }
    }

    #[test]
    fn malformed_envelopes_are_refused_with_reason() {
        assert_eq!(
            Envelope::decode(&[]),
            Err(DeliveryError::Truncated { needed: 1 })
        );
        assert_eq!(
            Envelope::decode(&[2, 1]),
            Err(DeliveryError::UnsupportedVersion(2))
        );
        assert_eq!(
            Envelope::decode(&[1, 99]),
            Err(DeliveryError::UnknownKind(99))
        );
        let mut huge = vec![1, KIND_APPLICATION];
        huge.extend_from_slice(&0u64.to_be_bytes());
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            Envelope::decode(&huge),
            Err(DeliveryError::TooLarge(u32::MAX as usize))
        );
        let mut extra = Envelope::Accepted { epoch: Epoch(1) }.encode();
        extra.push(0);
        assert_eq!(
            Envelope::decode(&extra),
            Err(DeliveryError::TrailingBytes(1))
        );
        let full = commit(1, &[[1; 16]]);
        for cut in 0..full.len() {
            assert!(Envelope::decode(&full[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn first_commit_per_epoch_wins_and_later_ones_are_stale() {
        let mut ds = with_members(&[1, 2, 3]);
        let out = ds.handle(&1u32, &commit(5, &[])).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].to, Recipients::AllExcept(1));
        assert_eq!(out[1].to, Recipients::One(1));
        assert_eq!(
            Envelope::decode(&out[1].bytes).unwrap(),
            Envelope::Accepted { epoch: Epoch(5) }
        );
        assert_eq!(ds.epoch(), Some(Epoch(6)));

        // Late for epoch 5, older, and epoch jumps: all refused, naming the
        // current epoch; none moves it.
        for (peer, epoch) in [(2u32, 5u64), (3, 4), (2, 7), (3, u64::MAX)] {
            let out = ds.handle(&peer, &commit(epoch, &[])).unwrap();
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].to, Recipients::One(peer));
            assert_eq!(
                Envelope::decode(&out[0].bytes).unwrap(),
                Envelope::Rejected {
                    epoch: Epoch(epoch),
                    current: Epoch(6)
                }
            );
        }
        assert_eq!(ds.epoch(), Some(Epoch(6)));
        // The next epoch's first commit is accepted.
        let out = ds.handle(&2, &commit(6, &[])).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(ds.epoch(), Some(Epoch(7)));
    }

    #[test]
    fn welcome_goes_only_to_the_joiner_and_commit_to_everyone_else() {
        let mut ds = DeliveryService::new();
        let ticket = [7u8; 16];
        let join = Envelope::JoinRequest {
            ticket: JoinTicket(ticket),
            request: vec![1, 2, 3],
        }
        .encode();
        ds.add_member("alice");
        let out = ds.handle(&"joiner", &join).unwrap();
        assert_eq!(
            out,
            vec![Outgoing {
                to: Recipients::Members(vec!["alice"]),
                bytes: join
            }]
        );

        let out = ds.handle(&"alice", &commit(0, &[ticket, [8; 16]])).unwrap();
        assert_eq!(
            out.len(),
            3,
            "commit, accepted, one welcome (unknown ticket dropped)"
        );
        let forwarded = Envelope::decode(&out[0].bytes).unwrap();
        assert!(
            matches!(forwarded, Envelope::Commit { welcome: None, .. }),
            "welcome stripped"
        );
        assert_eq!(out[2].to, Recipients::One("joiner"));
        assert_eq!(
            Envelope::decode(&out[2].bytes).unwrap(),
            Envelope::Welcome {
                ticket: JoinTicket(ticket),
                welcome: vec![0x77; 20]
            }
        );
    }

    #[test]
    fn stale_commit_sends_no_welcome() {
        let mut ds = DeliveryService::new();
        ds.add_member("alice");
        ds.add_member("bob");
        let ticket = [7u8; 16];
        let join = Envelope::JoinRequest {
            ticket: JoinTicket(ticket),
            request: vec![],
        };
        ds.handle(&"joiner", &join.encode()).unwrap();
        ds.handle(&"alice", &commit(0, &[])).unwrap();
        let out = ds.handle(&"bob", &commit(0, &[ticket])).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to, Recipients::One("bob"));
    }

    #[test]
    fn stale_proposals_are_refused_and_others_forwarded() {
        let mut ds = with_members(&[1, 2, 3]);
        ds.handle(&1, &commit(3, &[])).unwrap();
        let stale = Envelope::Proposal {
            epoch: Epoch(3),
            proposal: vec![1],
        };
        let out = ds.handle(&2, &stale.encode()).unwrap();
        assert_eq!(out[0].to, Recipients::One(2));
        let ahead = Envelope::Proposal {
            epoch: Epoch(9),
            proposal: vec![1],
        };
        let out = ds.handle(&2, &ahead.encode()).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to, Recipients::One(2));
        assert_eq!(
            Envelope::decode(&out[0].bytes).unwrap(),
            Envelope::Rejected {
                epoch: Epoch(9),
                current: Epoch(4)
            }
        );
        let fresh = Envelope::Proposal {
            epoch: Epoch(4),
            proposal: vec![1],
        };
        let out = ds.handle(&2, &fresh.encode()).unwrap();
        assert_eq!(out[0].to, Recipients::AllExcept(2));
        let app = Envelope::Application {
            epoch: Epoch(1),
            message: vec![1],
        };
        let out = ds.handle(&2, &app.encode()).unwrap();
        assert_eq!(out[0].to, Recipients::AllExcept(2));
    }

    #[test]
    fn the_first_member_commit_sets_an_unknown_epoch() {
        // A new room, or a relay that restarted while the group was at
        // epoch 41: nothing survived, so the first member commit says where
        // the group is.
        let mut ds = with_members(&[1, 2]);
        assert_eq!(ds.epoch(), None);
        let proposal = Envelope::Proposal {
            epoch: Epoch(41),
            proposal: vec![1],
        };
        let out = ds.handle(&2, &proposal.encode()).unwrap();
        assert_eq!(out[0].to, Recipients::AllExcept(2), "forwarded");
        assert_eq!(ds.epoch(), None, "a proposal does not set the epoch");
        let out = ds.handle(&1, &commit(41, &[])).unwrap();
        assert_eq!(out.len(), 2, "accepted");
        assert_eq!(ds.epoch(), Some(Epoch(42)));
        // From now on only epoch 42 is accepted.
        for e in [41, 43, 1000] {
            let out = ds.handle(&2, &commit(e, &[])).unwrap();
            assert_eq!(out.len(), 1, "epoch {e} refused");
        }
        assert_eq!(ds.handle(&2, &commit(42, &[])).unwrap().len(), 2);
    }

    fn join_request(ticket: [u8; 16]) -> Vec<u8> {
        Envelope::JoinRequest {
            ticket: JoinTicket(ticket),
            request: vec![0x4B; 8],
        }
        .encode()
    }

    #[test]
    fn join_requests_reach_only_members() {
        // Alice founded the room and admitted Bob; Carol waits to be let in.
        let mut ds = with_members(&["alice"]);
        ds.handle(&"bob", &join_request([1; 16])).unwrap();
        ds.handle(&"alice", &commit(0, &[[1; 16]])).unwrap();
        let out = ds.handle(&"carol", &join_request([2; 16])).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to, Recipients::Members(vec!["alice", "bob"]));
        // Dave, also waiting, never sees Carol's request (its ticket and
        // KeyPackage), and Carol never sees his.
        let out = ds.handle(&"dave", &join_request([3; 16])).unwrap();
        assert_eq!(out[0].to, Recipients::Members(vec!["alice", "bob"]));
        // A member's own join request does not come back to it.
        let out = ds.handle(&"bob", &join_request([4; 16])).unwrap();
        assert_eq!(out[0].to, Recipients::Members(vec!["alice"]));
        // Nobody holds the group: a join request reaches no one.
        ds.peer_left(&"alice");
        ds.peer_left(&"bob");
        let out = ds.handle(&"carol", &join_request([5; 16])).unwrap();
        assert_eq!(out[0].to, Recipients::Members(vec![]));
    }

    #[test]
    fn join_tickets_are_first_come() {
        let mut ds = with_members(&["alice"]);
        let ticket = [6u8; 16];
        ds.handle(&"bob", &join_request(ticket)).unwrap();
        // Mallory replays Bob's request (or makes one with his ticket): refused,
        // and the ticket still points at Bob.
        assert_eq!(
            ds.handle(&"mallory", &join_request(ticket)),
            Err(DeliveryError::TicketTaken)
        );
        assert!(DeliveryError::TicketTaken
            .to_string()
            .contains("new join request"));
        // Bob may re-send his own request: forwarded again, nothing changes.
        let out = ds.handle(&"bob", &join_request(ticket)).unwrap();
        assert_eq!(out[0].to, Recipients::Members(vec!["alice"]));
        assert_eq!(ds.tickets.len(), 1);
        assert_eq!(ds.ticket_order.len(), 1);
        // The Welcome goes to Bob, not Mallory, who stays outside.
        let out = ds.handle(&"alice", &commit(0, &[ticket])).unwrap();
        assert_eq!(out[2].to, Recipients::One("bob"));
        assert!(ds.is_member(&"bob"));
        assert!(!ds.is_member(&"mallory"));
        // Once Bob's ticket is used up, or Bob left, it is free again (a
        // member would refuse the replayed proof itself: AdmissionGuard).
        assert!(ds.handle(&"mallory", &join_request(ticket)).is_ok());
        ds.handle(&"carol", &join_request([7; 16])).unwrap();
        ds.peer_left(&"carol");
        assert!(ds.handle(&"mallory", &join_request([7; 16])).is_ok());
    }

    #[test]
    fn clients_cannot_forge_service_replies() {
        let mut ds: DeliveryService<u8> = DeliveryService::new();
        for e in [
            Envelope::Accepted { epoch: Epoch(0) },
            Envelope::Rejected {
                epoch: Epoch(0),
                current: Epoch(0),
            },
            Envelope::Welcome {
                ticket: JoinTicket([0; 16]),
                welcome: vec![],
            },
        ] {
            assert!(matches!(
                ds.handle(&1, &e.encode()),
                Err(DeliveryError::NotFromClients(_))
            ));
        }
        assert_eq!(ds.epoch(), None);
    }

    #[test]
    fn pending_tickets_are_bounded_and_forgotten_with_their_peer() {
        let mut ds = DeliveryService::new();
        for i in 0..(MAX_PENDING_TICKETS as u32 + 10) {
            let mut t = [0u8; 16];
            t[..4].copy_from_slice(&i.to_be_bytes());
            let join = Envelope::JoinRequest {
                ticket: JoinTicket(t),
                request: vec![],
            };
            ds.handle(&i, &join.encode()).unwrap();
        }
        assert_eq!(ds.tickets.len(), MAX_PENDING_TICKETS);
        ds.peer_left(&(MAX_PENDING_TICKETS as u32 + 9));
        assert_eq!(ds.tickets.len(), MAX_PENDING_TICKETS - 1);
        assert_eq!(ds.ticket_order.len(), MAX_PENDING_TICKETS - 1);
    }
}
