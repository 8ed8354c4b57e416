//! The forwarding core, sans-I/O: rooms, peers and routes, driven by
//! [`Sfu::handle_command`], [`Sfu::handle_datagram`] and [`Sfu::handle_timeout`],
//! with every datagram to send collected in [`Sfu::transmits`]. The media
//! engine ([`crate::engine`]) owns the socket and the clock around it.
//!
//! The state is split by how long it lives; [`Sfu`] (this file) is the one
//! place that sees both routes and peers, and dispatches:
//! - `room`: a room and its members — join (founder token, limits), their
//!   signaling and MLS envelopes (the room's delivery service), leaving;
//! - `peer`: one connection — its str0m `Rtc`, what it publishes and
//!   receives, its address and SRTP sealing, how it is polled and released;
//! - `negotiation`: SDP with one connection (its offer, the relay's offers);
//! - `track`: one published track (`Route`: its simulcast layers, each with
//!   a retransmission cache and key-frame throttle, and its subscriptions)
//!   and one subscriber's copy (`Subscription`: its SSRC, payload type,
//!   layer);
//! - `layers`: which layer a subscription receives and how that layer's
//!   sequence numbers and timestamps are rewritten across switches;
//! - `congestion`: one subscriber's congestion control — the transport-wide
//!   numbers on the copies the relay seals for it, the estimate its feedback
//!   drives (`crate::bwe`), probes, and the layers that fit (layers.rs);
//! - `forward`: the per-packet path, NACKs and key-frame requests;
//! - `release`: one flush — what waits leaves, on several cores if many wait;
//! - `ids`: the keys all of these are found by.
//!
//! The hot path, top to bottom (docs/conventions.md §2):
//! datagram in → [`Sfu::handle_datagram`] (or [`Sfu::handle_tcp_frame`] for an
//! ICE-TCP peer) finds the peer by source address and transport ([`Via`]) →
//! its `Rtc` (str0m, RTP mode) removes SRTP and yields an RTP packet →
//! `Sfu::forward` (forward.rs) looks up the route for (publisher, mid) → for
//! each subscription: rewrite payload type and sequence number and seal the
//! copy with the subscriber's SRTP key straight into that peer's next
//! segmented send ([`crate::srtp`], "direct send"; or `write_rtp` into the
//! subscriber's `Rtc` when direct send is off, before its keys exist, and for
//! the copy every 0.9 s that keeps str0m's sender reports right) →
//! [`Sfu::flush`] (release.rs) hands each touched peer's datagrams to the
//! engine, running its `Rtc` only when that has work. The payload (already
//! SFrame ciphertext once E2EE is on) is shared by reference and never read.

mod congestion;
mod forward;
mod ids;
mod layers;
mod negotiation;
mod peer;
mod release;
mod room;
mod track;

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use conclave_proto::{ClientMsg, ErrorCode, ParticipantId, RoomId, ServerMsg};
use str0m::media::Direction;
use str0m::net::{Protocol, Receive};
use str0m::rtp::rtcp::Rtcp;
use str0m::rtp::RawPacket;
use str0m::{Event, IceConnectionState, Input};
use tokio::sync::mpsc::UnboundedSender;
use tracing::debug;

pub use ids::new_participant_id;
pub use release::SendNow;

use crate::adversary::Adversary;
use crate::insider::RtpTap;
use crate::metrics::Metrics;
use ids::{KeyHasher, PeerKey, TrackKey};
use peer::{poll_peer, Change, Peer, PollOut};
use release::{Fanout, FRAME_HOLD};
use room::Room;
use track::Route;

/// Where the engine sends a participant's signaling replies and events.
pub type EventSender = UnboundedSender<ServerMsg>;

/// What the signaling layer asks of the engine.
#[derive(Debug)]
pub enum Command {
    /// A new connection wants to enter `room`.
    Join {
        /// The id the signaling layer assigned to this connection.
        participant: ParticipantId,
        /// The room from the URL.
        room: RoomId,
        /// The founder token from the client's `join` (base64url): it must
        /// hash to `room` ([`conclave_e2ee::founder`]). Checked, then dropped.
        founder: String,
        /// Where to send replies and room events.
        events: EventSender,
    },
    /// A message after join: offer, answer, media, broadcast.
    Signal {
        /// From whom.
        participant: ParticipantId,
        /// The message.
        msg: ClientMsg,
    },
    /// The connection closed or the client said leave.
    Leave {
        /// Who.
        participant: ParticipantId,
    },
    /// Tell every client the relay is going away.
    Shutdown,
}

/// How a peer's packets travel: UDP datagrams on the media port, or RFC 4571
/// frames on a TCP connection the peer opened to the HTTPS port (ICE-TCP,
/// for networks that block UDP; [`crate::tcp_media`]). An address is a
/// peer's only with its `Via`: the same number may be a UDP and a TCP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// A UDP datagram.
    Udp,
    /// A frame on the peer's ICE-TCP connection.
    Tcp,
}

impl Via {
    fn of(proto: Protocol) -> Via {
        match proto {
            Protocol::Udp => Via::Udp,
            _ => Via::Tcp,
        }
    }

    fn protocol(self) -> Protocol {
        match self {
            Via::Udp => Protocol::Udp,
            Via::Tcp => Protocol::Tcp,
        }
    }
}

/// A datagram for the engine to send.
#[derive(Debug)]
pub struct Transmit {
    /// Where to.
    pub destination: SocketAddr,
    /// Over which transport.
    pub via: Via,
    /// The bytes (DTLS, STUN or SRTP).
    pub contents: Vec<u8>,
    /// `Some(n)`: `contents` holds several datagrams of `n` bytes each (the
    /// last may be shorter) for one segmented (GSO) send.
    pub segment_size: Option<usize>,
}

impl Transmit {
    /// One datagram.
    pub fn single((destination, via): (SocketAddr, Via), contents: Vec<u8>) -> Self {
        Transmit {
            destination,
            via,
            contents,
            segment_size: None,
        }
    }

    /// The datagrams in `contents`.
    pub fn datagrams(&self) -> impl Iterator<Item = &[u8]> {
        self.contents
            .chunks(self.segment_size.unwrap_or(self.contents.len()).max(1))
    }
}

/// Most bytes one segmented send may carry (a UDP datagram's 64 KiB, less headers).
pub const MAX_SEGMENTED_BYTES: usize = 60_000;

/// Limits and addresses the core needs.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The one UDP address browsers send media to (ICE host candidate).
    pub media_addr: SocketAddr,
    /// The address of the ICE-TCP passive candidate (the HTTPS port), or
    /// `None` for UDP only.
    pub tcp_addr: Option<SocketAddr>,
    /// Room limit.
    pub max_rooms: usize,
    /// Participant-per-room limit.
    pub max_participants: usize,
    /// Seal forwarded copies on the relay's own SRTP path instead of
    /// str0m's per-packet machinery ([`crate::srtp`]).
    pub direct_send: bool,
    /// Number forwarded copies, estimate each subscriber's bandwidth and
    /// choose its layers by it (`congestion.rs`; direct send only). Off,
    /// forwarded streams carry no transport-wide sequence numbers at all.
    pub congestion_control: bool,
}

/// The relay's forwarding state for all rooms.
pub struct Sfu {
    config: SfuConfig,
    metrics: Arc<Metrics>,
    rooms: HashMap<RoomId, Room>,
    peers: HashMap<PeerKey, Peer, BuildHasherDefault<KeyHasher>>,
    by_addr: HashMap<(SocketAddr, Via), PeerKey>,
    routes: HashMap<TrackKey, Route>,
    /// Datagrams produced; the engine drains and sends them.
    pub transmits: Vec<Transmit>,
    dirty: Vec<PeerKey>,
    /// Since when copies of an unfinished video frame wait in `dirty` peers.
    held_since: Option<Instant>,
    /// Something in `dirty` must leave now (audio, a frame's last packet, RTCP).
    flush_due: bool,
    /// Reused buffers for polling peers.
    out_buf: PollOut,
    /// Most datagrams one segmented send may carry (1: no GSO).
    gso_segments: usize,
    /// Release packets on several cores when many peers wait ([`Sfu::set_fanout`]).
    fanout: Option<Fanout>,
    tap: Option<Box<dyn RtpTap>>,
    /// Test builds only: a relay that lies ([`crate::adversary`]).
    adversary: Option<Arc<dyn Adversary>>,
    addr_changes: Vec<((SocketAddr, Via), bool)>,
}

impl Sfu {
    /// An empty relay core.
    pub fn new(config: SfuConfig, metrics: Arc<Metrics>) -> Self {
        Sfu {
            config,
            metrics,
            rooms: HashMap::new(),
            peers: HashMap::default(),
            by_addr: HashMap::new(),
            routes: HashMap::new(),
            transmits: Vec::with_capacity(256),
            dirty: Vec::new(),
            held_since: None,
            flush_due: false,
            out_buf: PollOut::default(),
            gso_segments: 1,
            fanout: None,
            tap: None,
            adversary: None,
            addr_changes: Vec::new(),
        }
    }

    /// Lets copies sealed on the direct path to one peer leave in segmented
    /// sends of up to `segments` datagrams (the socket's GSO limit; 1: none).
    pub fn set_gso_segments(&mut self, segments: usize) {
        self.gso_segments = segments.max(1);
    }

    /// Lets [`Sfu::flush`] release packets for many peers on up to `threads`
    /// cores at once (rayon's pool), each group's datagrams sent by `sender`
    /// from the thread that made them.
    pub fn set_fanout(&mut self, threads: usize, sender: Arc<dyn SendNow>) {
        self.fanout = (threads > 1).then_some(Fanout { threads, sender });
    }

    /// Shows every published RTP packet to `tap` (`--insider-view`).
    pub fn set_tap(&mut self, tap: Box<dyn RtpTap>) {
        self.tap = Some(tap);
    }

    /// Lets `adversary` drop, rewrite or reflect forwarded media (the
    /// test-only evil relay; [`crate::adversary`]).
    pub fn set_adversary(&mut self, adversary: Arc<dyn Adversary>) {
        self.adversary = Some(adversary);
    }

    /// Number of rooms now.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// The earliest time any peer needs [`Sfu::handle_timeout`].
    pub fn next_timeout(&self) -> Option<Instant> {
        let held = self.held_since.map(|t| t + FRAME_HOLD);
        self.peers.values().map(|p| p.due_at()).chain(held).min()
    }

    /// Applies a signaling command.
    pub fn handle_command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::Join {
                participant,
                room,
                founder,
                events,
            } => self.join(now, participant, room, &founder, events),
            Command::Signal { participant, msg } => {
                let Some(key) = PeerKey::parse(&participant).filter(|k| self.peers.contains_key(k))
                else {
                    return;
                };
                self.signal(now, key, msg);
            }
            Command::Leave { participant } => {
                if let Some(key) = PeerKey::parse(&participant) {
                    self.remove_peer(key, "left");
                }
            }
            Command::Shutdown => {
                for peer in self.peers.values() {
                    peer.send(ServerMsg::Error {
                        code: ErrorCode::ShuttingDown,
                        message: "the relay is shutting down; rejoin later or use another relay"
                            .into(),
                    });
                }
                let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
                for key in keys {
                    self.remove_peer(key, "shutdown");
                }
            }
        }
        self.flush(now);
    }

    /// Feeds one received UDP datagram; returns whether one of this core's
    /// peers took it. Call [`Sfu::flush`] after a batch of them so that what
    /// they caused leaves together.
    pub fn handle_datagram(&mut self, now: Instant, source: SocketAddr, data: &[u8]) -> bool {
        self.receive(now, (source, Via::Udp), self.config.media_addr, data)
    }

    /// Feeds one RFC 4571 frame from the ICE-TCP connection whose remote
    /// end is `source`; returns whether one of this core's peers took it
    /// (always false when ICE-TCP is off).
    pub fn handle_tcp_frame(&mut self, now: Instant, source: SocketAddr, data: &[u8]) -> bool {
        let Some(local) = self.config.tcp_addr else {
            return false;
        };
        self.receive(now, (source, Via::Tcp), local, data)
    }

    fn receive(
        &mut self,
        now: Instant,
        from: (SocketAddr, Via),
        local: SocketAddr,
        data: &[u8],
    ) -> bool {
        if self.feedback_shortcut(now, from, data) {
            return true;
        }
        let Ok(receive) = Receive::new(from.1.protocol(), from.0, local, data) else {
            return false;
        };
        let input = Input::Receive(now, receive);
        let key = match self.by_addr.get(&from) {
            Some(k) => *k,
            None => {
                let Some((k, _)) = self.peers.iter().find(|(_, p)| p.rtc.accepts(&input)) else {
                    return false;
                };
                let k = *k;
                self.by_addr.insert(from, k);
                self.addr_changes.push((from, true));
                if let Some(old) = self.peers.get_mut(&k).and_then(|p| p.addr.replace(from)) {
                    self.by_addr.remove(&old);
                    self.addr_changes.push((old, false));
                }
                k
            }
        };
        let Some(peer) = self.peers.get_mut(&key) else {
            return false;
        };
        if let Err(e) = peer.rtc.handle_input(input) {
            debug!(peer = %peer.participant, "input refused: {e}");
        }
        self.drive_from(now, key, Some(from));
        true
    }

    /// Addresses this core started (`true`) or stopped (`false`) serving since
    /// the last call, for the engine to tell its other shards.
    pub fn take_addr_changes(&mut self) -> Vec<((SocketAddr, Via), bool)> {
        std::mem::take(&mut self.addr_changes)
    }

    /// Advances every peer whose timer is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<(PeerKey, bool)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.due_at() <= now)
            .map(|(k, p)| (*k, p.media_lost.is_some()))
            .collect();
        for (key, media_lost) in due {
            if media_lost {
                self.remove_peer(key, "media lost");
            } else {
                self.mark_dirty(key);
            }
        }
        self.flush(now);
    }

    /// Polls one peer's `Rtc` until it has nothing more to say, then handles its events.
    fn drive(&mut self, now: Instant, key: PeerKey) {
        self.drive_from(now, key, None);
    }

    /// [`Sfu::drive`] after a datagram from `from`: if str0m took media or
    /// RTCP out of it (it decrypted and authenticated it), the relay's own
    /// sends follow that address ([`Peer::media_from`]).
    fn drive_from(&mut self, now: Instant, key: PeerKey, from: Option<(SocketAddr, Via)>) {
        let mut out = std::mem::take(&mut self.out_buf);
        if let Some(peer) = self.peers.get_mut(&key) {
            poll_peer(key, peer, &mut out);
            let authenticated = out.events.iter().any(|(_, e)| from_peer(e));
            if let Some(from) = from.filter(|f| authenticated && peer.media_from != Some(*f)) {
                debug!(peer = %peer.participant, "media now comes from another address; sending there");
                peer.media_from = Some(from);
            }
        }
        self.transmits.append(&mut out.transmits);
        self.finish(now, out);
    }

    /// Counts what a poll produced, handles its events and removes dead peers.
    /// (Its transmits have been taken already.)
    fn finish(&mut self, now: Instant, mut out: PollOut) {
        if out.packets > 0 {
            Metrics::add(&self.metrics.packets_out, out.packets);
            Metrics::add(&self.metrics.bytes_out, out.bytes);
        }
        for (key, event) in out.events.drain(..) {
            self.handle_event(now, key, event);
        }
        for key in out.dead.drain(..) {
            let Some(p) = self.peers.get(&key).filter(|p| p.media_lost.is_none()) else {
                continue;
            };
            p.send(ServerMsg::Error {
                code: ErrorCode::MediaLost,
                message: "the media connection to the relay was lost; rejoin to continue".into(),
            });
            self.media_lost(now, key);
        }
        out.packets = 0;
        out.bytes = 0;
        self.out_buf = out;
    }

    fn handle_event(&mut self, now: Instant, key: PeerKey, event: Event) {
        match event {
            Event::RtpPacket(pkt) => self.forward(now, key, pkt),
            Event::MediaAdded(m) => {
                if !matches!(m.direction, Direction::RecvOnly | Direction::SendRecv) {
                    return;
                }
                let Some(peer) = self.peers.get_mut(&key) else {
                    return;
                };
                peer.published.push((m.mid, m.kind));
                let room = peer.room.clone();
                let track = TrackKey {
                    publisher: key,
                    mid: m.mid,
                };
                let rids: Vec<_> = m
                    .simulcast
                    .iter()
                    .flat_map(|s| s.recv.iter().map(|l| l.rid))
                    .collect();
                self.routes.insert(track, Route::new(m.kind, &rids));
                // Only a lying relay sends a publisher its own track.
                let reflect = self
                    .adversary
                    .as_ref()
                    .is_some_and(|a| a.reflect(&key.participant()));
                let others: Vec<PeerKey> = self.rooms[&room]
                    .peers
                    .iter()
                    .copied()
                    .filter(|k| *k != key || reflect)
                    .collect();
                for other in others {
                    // A peer that has not made its offer yet gets every
                    // published track (this one included) when it does, in
                    // accept_offer; queueing it here too would add the track
                    // twice (duplicate a=msid, which browsers refuse).
                    if let Some(p) = self.peers.get_mut(&other).filter(|p| p.offered) {
                        p.queued.push(Change::Subscribe(track, m.kind));
                    }
                    self.renegotiate(other);
                }
            }
            Event::KeyframeRequest(req) => {
                let track = self
                    .peers
                    .get(&key)
                    .and_then(|p| p.receiving.get(&req.mid))
                    .copied();
                if let Some(track) = track {
                    // For the layer this subscriber gets.
                    let layer = self.routes.get(&track).and_then(|r| {
                        r.subscriptions
                            .iter()
                            .find(|s| s.subscriber == key)
                            .and_then(|s| s.layer.current())
                    });
                    self.request_keyframe(now, track, layer);
                }
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                if let Some(p) = self.peers.get_mut(&key) {
                    p.rtc.disconnect();
                }
            }
            Event::Connected => {
                if let Some(p) = self.peers.get(&key) {
                    debug!(peer = %p.participant, "media connected");
                }
            }
            Event::RawPacket(raw) => match *raw {
                RawPacket::RtcpRx(Rtcp::Nack(nack)) => self.retransmit(now, key, &nack),
                RawPacket::RtcpRx(Rtcp::Twcc(twcc)) => self.on_twcc(now, key, twcc),
                RawPacket::RtcpTx(Rtcp::Nack(nack)) => {
                    // str0m asks a publisher again for packets lost on its way in.
                    let asked: u32 = nack.reports.iter().map(|e| 1 + e.blp.count_ones()).sum();
                    Metrics::add(&self.metrics.nacked, u64::from(asked));
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn mark_dirty(&mut self, key: PeerKey) {
        if let Some(p) = self.peers.get_mut(&key) {
            p.str0m_due = true;
            if !p.dirty {
                p.dirty = true;
                self.dirty.push(key);
            }
        }
    }

    fn error(&mut self, key: PeerKey, code: ErrorCode, message: &str) {
        Metrics::add(&self.metrics.signaling_errors, 1);
        if let Some(p) = self.peers.get(&key) {
            p.send(ServerMsg::Error {
                code,
                message: message.to_string(),
            });
        }
    }

    fn room_broadcast(&self, room: &RoomId, except: PeerKey, msg: ServerMsg) {
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        for k in r.peers.iter().filter(|k| **k != except) {
            if let Some(p) = self.peers.get(k) {
                p.send(msg.clone());
            }
        }
    }
}

/// A room id shortened for logs: enough to tell rooms apart in one log, not
/// the full id.
fn short(room: &RoomId) -> &str {
    let s = room.as_str();
    &s[..s.len().min(6)]
}
/// An event str0m makes only from a packet the peer sent and str0m
/// decrypted and authenticated (SRTP, SRTCP).
fn from_peer(e: &Event) -> bool {
    match e {
        Event::RtpPacket(_) => true,
        Event::RawPacket(raw) => matches!(**raw, RawPacket::RtcpRx(_) | RawPacket::RtpRx(..)),
        _ => false,
    }
}
