//! The forwarding core, sans-I/O: rooms, peers and routes, driven by
//! [`Sfu::handle_command`], [`Sfu::handle_datagram`] and [`Sfu::handle_timeout`],
//! with every datagram to send collected in [`Sfu::transmits`]. The media
//! engine ([`crate::engine`]) owns the socket and the clock around it.
//!
//! The hot path, top to bottom (docs/conventions.md §2):
//! datagram in → [`Sfu::handle_datagram`] finds the peer by source address →
//! its `Rtc` (str0m, RTP mode) removes SRTP and yields an RTP packet →
//! `Sfu::forward` looks up the route for (publisher, mid) → for each
//! subscriber: rewrite payload type and sequence number and seal the copy
//! with the subscriber's SRTP key straight into that peer's next segmented
//! send ([`crate::srtp`], "direct send"; or `write_rtp` into the subscriber's
//! `Rtc` when direct send is off, before its keys exist, and for the copy
//! every 0.9 s that keeps str0m's sender reports right) → [`Sfu::flush`]
//! hands each touched peer's datagrams to the engine, running its `Rtc` only
//! when that has work. The payload (already SFrame ciphertext once E2EE is
//! on) is shared by reference and never read.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use conclave_e2ee::delivery::{DeliveryService, Recipients};
use conclave_proto::{ClientMsg, ErrorCode, ParticipantId, PeerState, RoomId, ServerMsg};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::rtcp::{Nack, Rtcp};
use str0m::rtp::{Extension, ExtensionValues, RawPacket, RtpPacket, RtpWrite, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, info, warn};

use crate::adversary::{Adversary, Outgoing, Verdict};
use crate::insider::{RtpFields, RtpTap};
use crate::metrics::Metrics;
use crate::srtp::{self, KeySlot, SrtpSender};

/// Where the engine sends a participant's signaling replies and events.
pub type EventSender = UnboundedSender<ServerMsg>;

/// Keyframe requests to one publisher's track are sent at most this often.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

/// Resend history kept per forwarded video track: half a second answers any
/// NACK that can still help a real-time stream, and each slot costs memory.
const RTX_CACHE_PACKETS: usize = 128;
const RTX_CACHE_AGE: Duration = Duration::from_millis(500);
/// Most retransmissions per second for one forwarded stream (a 1.5 Mbit/s
/// video stream is ~150 packets/s; more than that is a NACK flood).
const RTX_PER_SECOND: u32 = 200;
/// How often a direct-path stream sends a copy through str0m, whose sender
/// reports (every 1 s for video) take their RTP-to-wallclock mapping from it.
const SYNC_INTERVAL: Duration = Duration::from_millis(900);
/// How long [`Sfu::flush_if_due`] may hold the copies of a video frame's
/// leading packets waiting for its last (marker) packet, so each subscriber's
/// share of a frame leaves in few releases and batched sends: each release
/// of a peer costs str0m about as much as three packets. The frame is
/// complete (decodable) only with its last packet, which is never held, so
/// frame latency grows only by the extra copies made at that moment. 5 ms is
/// the step browsers' pacers have long used, so what leaves in one go stays
/// as small a burst as the publisher's own pacing made it (docs/benchmarks.md
/// has the measured trade: 1, 5 and 10 ms against paced input).
const FRAME_HOLD: Duration = Duration::from_millis(5);

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

/// A datagram for the engine to send.
#[derive(Debug)]
pub struct Transmit {
    /// Where to.
    pub destination: SocketAddr,
    /// The bytes (DTLS, STUN or SRTP).
    pub contents: Vec<u8>,
    /// `Some(n)`: `contents` holds several datagrams of `n` bytes each (the
    /// last may be shorter) for one segmented (GSO) send.
    pub segment_size: Option<usize>,
}

impl Transmit {
    /// One datagram.
    pub fn single(destination: SocketAddr, contents: Vec<u8>) -> Self {
        Transmit {
            destination,
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
    /// Room limit.
    pub max_rooms: usize,
    /// Participant-per-room limit.
    pub max_participants: usize,
    /// Seal forwarded copies on the relay's own SRTP path instead of
    /// str0m's per-packet machinery ([`crate::srtp`]).
    pub direct_send: bool,
}

/// A track one participant publishes: the key of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TrackKey {
    publisher: PeerKey,
    mid: Mid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct PeerKey(u64);

impl PeerKey {
    fn participant(self) -> ParticipantId {
        ParticipantId(format!("{:016x}", self.0))
    }

    fn parse(p: &ParticipantId) -> Option<PeerKey> {
        if p.0.len() != 16 {
            return None;
        }
        u64::from_str_radix(&p.0, 16).ok().map(PeerKey)
    }
}

/// Hashes a [`PeerKey`] with one multiply: keys are random numbers the relay
/// drew (never chosen by a client), so SipHash's protection against crafted
/// keys buys nothing on the per-packet lookups.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached if PeerKey's Hash changes; stays correct, just slower.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        // One multiply spreads the bits (ids have their lowest bit set).
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Makes a fresh participant id for a new connection.
pub fn new_participant_id() -> ParticipantId {
    PeerKey(rand::random::<u64>() | 1).participant()
}

/// One subscriber's copy of a published track.
#[derive(Debug)]
struct Subscription {
    subscriber: PeerKey,
    /// The subscriber-side m-line carrying this track.
    mid: Mid,
    /// The subscriber's payload type for the track's codec.
    pt: Pt,
    /// Sequence numbers are rebased so every subscriber's stream starts low
    /// (a fresh SRTP receiver assumes rollover counter 0, RFC 3711 §3.3.1).
    seq_offset: Option<u64>,
    /// The subscriber-side stream's SSRC (direct send).
    ssrc: u32,
    /// Its retransmission stream: SSRC, payload type and the next RTX
    /// sequence number (direct send; RFC 4588).
    rtx: Option<(u32, u8)>,
    rtx_seq: u64,
    /// Retransmissions in the current second, and when it began: a NACK
    /// flood costs the relay at most `RTX_PER_SECOND` seals per stream.
    rtx_window: (Instant, u32),
    /// Highest sequence number sent to this subscriber.
    last_out: u64,
    /// When a copy last went through str0m, which keeps its sender reports'
    /// RTP-to-wallclock mapping from such copies (direct send).
    via_str0m_at: Option<Instant>,
}

/// Everything subscribed to one published track.
#[derive(Debug)]
struct Route {
    kind: MediaKind,
    subscriptions: Vec<Subscription>,
    last_keyframe_request: Option<Instant>,
    /// Recent video packets by publisher sequence number, for retransmission
    /// to any subscriber (direct send); payloads are shared, not copied.
    recent: VecDeque<Recent>,
}

/// A packet kept for retransmission on the direct path.
#[derive(Debug)]
struct Recent {
    seq: u64,
    timestamp: u32,
    marker: bool,
    payload: Arc<[u8]>,
    at: Instant,
}

/// Renegotiation work queued for a peer.
#[derive(Debug, Clone, Copy)]
enum Change {
    Subscribe(TrackKey, MediaKind),
    Unsubscribe(Mid),
}

struct Peer {
    participant: ParticipantId,
    room: RoomId,
    rtc: Rtc,
    events: EventSender,
    audio: bool,
    video: bool,
    /// The client's one offer has been answered.
    offered: bool,
    pending_offer: Option<SdpPendingOffer>,
    /// Subscriptions in the offer awaiting the client's answer.
    in_flight: Vec<(Mid, TrackKey, MediaKind)>,
    queued: Vec<Change>,
    /// Subscriber-side mid → the track it carries (for keyframe requests).
    receiving: HashMap<Mid, TrackKey>,
    /// Incoming SSRC → publisher-side mid.
    ssrc_mid: HashMap<Ssrc, Mid>,
    published: Vec<(Mid, MediaKind)>,
    next_timeout: Instant,
    /// In `Sfu::dirty`: something waits to leave at the next release.
    dirty: bool,
    /// The release must also run str0m (a write to it, its timer, a request);
    /// copies sealed directly alone do not need it.
    str0m_due: bool,
    addr: Option<SocketAddr>,
    /// Where str0m last sent to (the nominated ICE pair's remote address).
    dest: Option<SocketAddr>,
    /// Where this peer's DTLS instance leaves its SRTP keys (direct send).
    key_slot: Option<Arc<KeySlot>>,
    /// The relay's own sealing of forwarded copies, once keys are known.
    direct: Option<SrtpSender>,
    /// Sealed copies waiting for this peer's next release.
    direct_out: Vec<Transmit>,
    /// Subscriber-side SSRC → mid of forwarded streams (NACKs, direct send).
    sending: HashMap<u32, Mid>,
}

impl Peer {
    fn send(&self, msg: ServerMsg) {
        // A closed channel means the connection is going away; its Leave follows.
        let _ = self.events.send(msg);
    }

    fn state(&self) -> PeerState {
        PeerState {
            participant: self.participant.clone(),
            audio: self.audio,
            video: self.video,
        }
    }
}

#[derive(Default)]
struct Room {
    peers: Vec<PeerKey>,
    /// Orders the room's MLS commits without any key (docs/design.md §4 "Change").
    delivery: DeliveryService<PeerKey>,
}

/// The relay's forwarding state for all rooms.
pub struct Sfu {
    config: SfuConfig,
    metrics: Arc<Metrics>,
    rooms: HashMap<RoomId, Room>,
    peers: HashMap<PeerKey, Peer, BuildHasherDefault<KeyHasher>>,
    by_addr: HashMap<SocketAddr, PeerKey>,
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
    addr_changes: Vec<(SocketAddr, bool)>,
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
        self.peers
            .values()
            .map(|p| p.next_timeout)
            .chain(held)
            .min()
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
        let Ok(receive) = Receive::new(Protocol::Udp, source, self.config.media_addr, data) else {
            return false;
        };
        let input = Input::Receive(now, receive);
        let key = match self.by_addr.get(&source) {
            Some(k) => *k,
            None => {
                let Some((k, _)) = self.peers.iter().find(|(_, p)| p.rtc.accepts(&input)) else {
                    return false;
                };
                let k = *k;
                self.by_addr.insert(source, k);
                self.addr_changes.push((source, true));
                if let Some(old) = self.peers.get_mut(&k).and_then(|p| p.addr.replace(source)) {
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
        self.drive(now, key);
        true
    }

    /// Addresses this core started (`true`) or stopped (`false`) serving since
    /// the last call, for the engine to tell its other shards.
    pub fn take_addr_changes(&mut self) -> Vec<(SocketAddr, bool)> {
        std::mem::take(&mut self.addr_changes)
    }

    /// Advances every peer whose timer is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.next_timeout <= now)
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            self.mark_dirty(key);
        }
        self.flush(now);
    }

    fn join(
        &mut self,
        now: Instant,
        participant: ParticipantId,
        room_id: RoomId,
        founder: &str,
        events: EventSender,
    ) {
        let refuse = |code: ErrorCode, message: String| {
            let _ = events.send(ServerMsg::Error { code, message });
        };
        let Some(key) = PeerKey::parse(&participant) else {
            return refuse(ErrorCode::Internal, "bad participant id".into());
        };
        // Before anything else, so a connection that knows only the room id
        // learns nothing (not even whether the room exists or is full) and
        // cannot found an empty room: the founder holds the MLS group at the
        // delivery service until it admits others.
        if !conclave_e2ee::founder::verify_founder_token(room_id.as_str(), founder) {
            Metrics::add(&self.metrics.signaling_errors, 1);
            return refuse(
                ErrorCode::BadFounderToken,
                "this meeting link is incomplete or was altered: the room it names does not match its secret. Open the full link (including the part after #) again, or ask for a new one".into(),
            );
        }
        match self.rooms.get(&room_id) {
            // Counted across all shards: the limit is per relay.
            None if self
                .metrics
                .rooms
                .load(std::sync::atomic::Ordering::Relaxed) as usize
                >= self.config.max_rooms =>
            {
                return refuse(
                    ErrorCode::TooManyRooms,
                    format!(
                        "this relay already holds its limit of {} rooms; try again later or ask the operator to raise max_rooms",
                        self.config.max_rooms
                    ),
                );
            }
            Some(r) if r.peers.len() >= self.config.max_participants => {
                return refuse(
                    ErrorCode::RoomFull,
                    format!(
                        "this room already has its limit of {} participants",
                        self.config.max_participants
                    ),
                );
            }
            _ => {}
        }
        let build = || {
            let mut b = Rtc::builder();
            if self.config.direct_send {
                // NACKs for directly sent copies come to us as raw RTCP.
                b = b
                    .set_crypto_provider(srtp::provider())
                    .enable_raw_packets(true);
            }
            b.set_ice_lite(true)
                .set_rtp_mode(true)
                .clear_codecs()
                .enable_opus(true, false)
                .enable_vp8(true)
                // No audio-level header: who speaks is not the relay's business
                // (docs/design.md §1 "read who is speaking").
                .clear_extension_map()
                .set_extension(2, Extension::AbsoluteSendTime)
                .set_extension(3, Extension::TransportSequenceNumber)
                .set_extension(4, Extension::RtpMid)
                .set_extension(13, Extension::VideoOrientation)
                .build(now)
        };
        let (mut rtc, key_slot) = if self.config.direct_send {
            let (rtc, slot) = srtp::with_key_slot(build);
            (rtc, Some(slot))
        } else {
            (build(), None)
        };
        match Candidate::host(self.config.media_addr, "udp") {
            Ok(c) => {
                rtc.add_local_candidate(c);
            }
            Err(e) => {
                warn!("cannot make an ICE candidate for the media address: {e}");
                return refuse(
                    ErrorCode::Internal,
                    "the relay's media address is unusable".into(),
                );
            }
        }
        let room = self.rooms.entry(room_id.clone()).or_insert_with(|| {
            Metrics::add(&self.metrics.rooms, 1);
            info!(room = %short(&room_id), "room created");
            Room::default()
        });
        let peers: Vec<PeerState> = room
            .peers
            .iter()
            .filter_map(|k| self.peers.get(k))
            .map(Peer::state)
            .collect();
        if room.peers.is_empty() {
            // The first connection of a room creates its MLS group: it alone
            // may send group messages until it admits others. It showed the
            // founder token, so it opened the link.
            room.delivery.add_member(key);
        }
        room.peers.push(key);
        Metrics::add(&self.metrics.participants, 1);
        let peer = Peer {
            participant: participant.clone(),
            room: room_id.clone(),
            rtc,
            events,
            audio: true,
            video: true,
            offered: false,
            pending_offer: None,
            in_flight: Vec::new(),
            queued: Vec::new(),
            receiving: HashMap::new(),
            ssrc_mid: HashMap::new(),
            published: Vec::new(),
            next_timeout: now,
            dirty: false,
            str0m_due: false,
            addr: None,
            dest: None,
            key_slot,
            direct: None,
            direct_out: Vec::new(),
            sending: HashMap::new(),
        };
        peer.send(ServerMsg::Joined {
            participant: participant.clone(),
            peers,
        });
        let state = peer.state();
        self.peers.insert(key, peer);
        self.room_broadcast(
            &room_id,
            key,
            ServerMsg::PeerJoined {
                participant: state.participant,
            },
        );
        info!(room = %short(&room_id), peer = %participant, "joined");
    }

    fn signal(&mut self, now: Instant, key: PeerKey, msg: ClientMsg) {
        match msg {
            ClientMsg::Join { .. } => self.error(
                key,
                ErrorCode::OutOfOrder,
                "already joined; send join only once per connection",
            ),
            ClientMsg::Offer { sdp } => self.accept_offer(now, key, &sdp),
            ClientMsg::Answer { sdp } => self.accept_answer(now, key, &sdp),
            ClientMsg::Media { audio, video } => {
                let Some(peer) = self.peers.get_mut(&key) else {
                    return;
                };
                peer.audio = audio;
                peer.video = video;
                let (room, state) = (peer.room.clone(), peer.state());
                self.room_broadcast(&room, key, ServerMsg::PeerMedia(state));
            }
            ClientMsg::Mls { data } => self.deliver_mls(key, &data),
            ClientMsg::Leave => self.remove_peer(key, "left"),
        }
    }

    /// Runs an MLS envelope through the room's delivery service and sends
    /// what it says to whom. The relay reads the envelope, never the MLS bytes.
    fn deliver_mls(&mut self, key: PeerKey, data: &str) {
        let Ok(bytes) = BASE64.decode(data) else {
            return self.error(
                key,
                ErrorCode::BadMessage,
                "mls data must be standard base64",
            );
        };
        let Some(room_id) = self.peers.get(&key).map(|p| p.room.clone()) else {
            return;
        };
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let out = match room.delivery.handle(&key, &bytes) {
            Ok(out) => out,
            Err(e) => {
                return self.error(
                    key,
                    ErrorCode::BadMessage,
                    &format!("MLS envelope refused: {e}"),
                )
            }
        };
        let from = key.participant();
        for o in out {
            let msg = ServerMsg::Mls {
                from: from.clone(),
                data: BASE64.encode(&o.bytes),
            };
            match o.to {
                Recipients::AllExcept(except) => self.room_broadcast(&room_id, except, msg),
                // A join request: only connections that hold the group.
                Recipients::Members(to) => {
                    for p in to.iter().filter_map(|k| self.peers.get(k)) {
                        p.send(msg.clone());
                    }
                }
                Recipients::One(to) => {
                    if let Some(p) = self.peers.get(&to) {
                        p.send(msg);
                    }
                }
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

    fn accept_offer(&mut self, now: Instant, key: PeerKey, sdp: &str) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if peer.offered {
            return self.error(
                key,
                ErrorCode::OutOfOrder,
                "this connection already sent its offer; answer the relay's offers instead",
            );
        }
        let offer = match SdpOffer::from_sdp_string(sdp) {
            Ok(o) => o,
            Err(e) => {
                return self.error(
                    key,
                    ErrorCode::BadSdp,
                    &format!("the offer is not valid SDP: {e}"),
                )
            }
        };
        let answer = match peer.rtc.sdp_api().accept_offer(offer) {
            Ok(a) => a,
            Err(e) => {
                return self.error(
                    key,
                    ErrorCode::BadSdp,
                    &format!("the offer cannot be used: {e}"),
                );
            }
        };
        peer.offered = true;
        peer.send(ServerMsg::Answer {
            sdp: answer.to_sdp_string(),
        });
        // The newcomer receives every track already published in the room.
        let room = peer.room.clone();
        let existing: Vec<Change> = self.rooms[&room]
            .peers
            .iter()
            .filter(|k| **k != key)
            .filter_map(|k| self.peers.get(k).map(|p| (*k, p)))
            .flat_map(|(k, p)| {
                p.published.iter().map(move |(mid, kind)| {
                    Change::Subscribe(
                        TrackKey {
                            publisher: k,
                            mid: *mid,
                        },
                        *kind,
                    )
                })
            })
            .collect();
        if let Some(peer) = self.peers.get_mut(&key) {
            peer.queued.extend(existing);
        }
        // MediaAdded events for its own tracks come out of the Rtc now.
        self.drive(now, key);
        self.renegotiate(key);
    }

    fn accept_answer(&mut self, now: Instant, key: PeerKey, sdp: &str) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let Some(pending) = peer.pending_offer.take() else {
            return self.error(
                key,
                ErrorCode::OutOfOrder,
                "no offer from the relay is waiting for an answer",
            );
        };
        let answer = match SdpAnswer::from_sdp_string(sdp) {
            Ok(a) => a,
            Err(e) => {
                peer.pending_offer = Some(pending);
                return self.error(
                    key,
                    ErrorCode::BadSdp,
                    &format!("the answer is not valid SDP: {e}"),
                );
            }
        };
        if let Err(e) = peer.rtc.sdp_api().accept_answer(pending, answer) {
            // The offer is spent; retry its subscriptions in a fresh offer.
            let retry: Vec<Change> = peer
                .in_flight
                .drain(..)
                .map(|(_, t, kind)| Change::Subscribe(t, kind))
                .collect();
            peer.queued.extend(retry);
            self.error(
                key,
                ErrorCode::BadSdp,
                &format!("the answer cannot be used: {e}"),
            );
            self.renegotiate(key);
            return;
        }
        let in_flight = std::mem::take(&mut peer.in_flight);
        let pt_for = |rtc: &Rtc, kind: MediaKind| {
            let codec = if kind == MediaKind::Audio {
                Codec::Opus
            } else {
                Codec::Vp8
            };
            rtc.codec_config()
                .params()
                .iter()
                .find(|p| p.spec().codec == codec)
                .map(|p| p.pt())
        };
        let mut keyframes = Vec::new();
        for (mid, track, kind) in in_flight {
            let Some(peer) = self.peers.get_mut(&key) else {
                return;
            };
            let (Some(route), Some(pt)) = (self.routes.get_mut(&track), pt_for(&peer.rtc, kind))
            else {
                // The publisher left while the offer was out.
                peer.queued.push(Change::Unsubscribe(mid));
                continue;
            };
            let mut api = peer.rtc.direct_api();
            let Some(tx) = api.stream_tx_by_mid(mid, None) else {
                peer.queued.push(Change::Unsubscribe(mid));
                continue;
            };
            // str0m keeps 3 s / 1024 packets by default: far more memory per track.
            tx.set_rtx_cache(RTX_CACHE_PACKETS, RTX_CACHE_AGE, Some(0.15));
            let ssrc = *tx.ssrc();
            let rtx_ssrc = tx.rtx().map(|s| *s);
            let rtx_pt = peer
                .rtc
                .codec_config()
                .params()
                .iter()
                .find(|p| p.pt() == pt)
                .and_then(|p| p.resend());
            peer.receiving.insert(mid, track);
            peer.sending.insert(ssrc, mid);
            route.subscriptions.push(Subscription {
                subscriber: key,
                mid,
                pt,
                seq_offset: None,
                ssrc,
                rtx: rtx_ssrc.zip(rtx_pt.map(|p| *p)),
                rtx_seq: 0,
                rtx_window: (now, 0),
                last_out: 0,
                via_str0m_at: None,
            });
            if kind == MediaKind::Video {
                keyframes.push(track);
            }
        }
        // A new subscriber can decode nothing until the next key frame.
        for track in keyframes {
            self.request_keyframe(now, track);
        }
        self.renegotiate(key);
    }

    /// Sends the next relay offer if one is needed and none is outstanding:
    /// only the relay offers after the client's first offer, so there is no glare.
    fn renegotiate(&mut self, key: PeerKey) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if !peer.offered || peer.pending_offer.is_some() || peer.queued.is_empty() {
            return;
        }
        let queued = std::mem::take(&mut peer.queued);
        let mut api = peer.rtc.sdp_api();
        let mut in_flight = Vec::new();
        for change in queued {
            match change {
                Change::Subscribe(track, kind) => {
                    if !self.routes.contains_key(&track) {
                        continue;
                    }
                    let stream = track.publisher.participant().0;
                    let track_id = format!("{stream}-{}", track.mid);
                    let mid = api.add_media(
                        kind,
                        Direction::SendOnly,
                        Some(stream),
                        Some(track_id),
                        None,
                    );
                    in_flight.push((mid, track, kind));
                }
                Change::Unsubscribe(mid) => api.stop_media(mid),
            }
        }
        if let Some((offer, pending)) = api.apply() {
            peer.pending_offer = Some(pending);
            peer.in_flight = in_flight;
            peer.send(ServerMsg::Offer {
                sdp: without_send_twcc(&offer.to_sdp_string()),
            });
        }
    }

    /// Polls one peer's `Rtc` until it has nothing more to say, then handles its events.
    fn drive(&mut self, now: Instant, key: PeerKey) {
        let mut out = std::mem::take(&mut self.out_buf);
        if let Some(peer) = self.peers.get_mut(&key) {
            poll_peer(key, peer, &mut out);
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
            if let Some(p) = self.peers.get(&key) {
                p.send(ServerMsg::Error {
                    code: ErrorCode::MediaLost,
                    message: "the media connection to the relay was lost; rejoin to continue"
                        .into(),
                });
            }
            self.remove_peer(key, "media lost");
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
                self.routes.insert(
                    track,
                    Route {
                        kind: m.kind,
                        subscriptions: Vec::new(),
                        last_keyframe_request: None,
                        recent: VecDeque::new(),
                    },
                );
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
                    self.request_keyframe(now, track);
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
            Event::RawPacket(raw) => {
                if let RawPacket::RtcpRx(Rtcp::Nack(nack)) = *raw {
                    self.retransmit(now, key, &nack);
                }
            }
            _ => {}
        }
    }

    /// Answers a subscriber's NACK from the route's recent packets, on the
    /// stream's RTX SSRC (RFC 4588). With direct send every NACK is answered
    /// here: the copies str0m sends then are not nackable, so str0m never
    /// sends on the RTX SSRC and the relay alone numbers it (its sequence
    /// numbers are SRTP nonces).
    fn retransmit(&mut self, now: Instant, key: PeerKey, nack: &Nack) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let (Some(dest), Some(direct)) = (peer.dest, peer.direct.as_mut()) else {
            return;
        };
        let Some(track) = peer
            .sending
            .get(&*nack.ssrc)
            .and_then(|mid| peer.receiving.get(mid))
        else {
            return;
        };
        let Some(route) = self.routes.get_mut(track) else {
            return;
        };
        let Some(sub) = route.subscriptions.iter_mut().find(|s| s.subscriber == key) else {
            return;
        };
        let (Some((rtx_ssrc, rtx_pt)), Some(offset)) = (sub.rtx, sub.seq_offset) else {
            return;
        };
        let mut sent = 0;
        for entry in nack.reports.iter() {
            let lost = std::iter::once(entry.pid).chain(
                (0..16u16)
                    .filter(|b| entry.blp & (1 << b) != 0)
                    .map(|b| entry.pid.wrapping_add(b + 1)),
            );
            for seq16 in lost {
                if now.saturating_duration_since(sub.rtx_window.0) >= Duration::from_secs(1) {
                    sub.rtx_window = (now, 0);
                }
                if sub.rtx_window.1 >= RTX_PER_SECOND {
                    break;
                }
                // The newest extended sequence number with these low 16 bits.
                let back = (sub.last_out as u16).wrapping_sub(seq16) as u64;
                let Some(out_seq) = sub.last_out.checked_sub(back) else {
                    continue;
                };
                let Some(p) = route.recent.iter().find(|r| r.seq == out_seq + offset) else {
                    continue;
                };
                let mut body = Vec::with_capacity(2 + p.payload.len());
                body.extend_from_slice(&seq16.to_be_bytes());
                body.extend_from_slice(&p.payload);
                let contents =
                    direct.seal(p.marker, rtx_pt, sub.rtx_seq, p.timestamp, rtx_ssrc, &body);
                sub.rtx_seq += 1;
                sub.rtx_window.1 += 1;
                peer.direct_out.push(Transmit::single(dest, contents));
                sent += 1;
            }
        }
        if sent > 0 {
            Metrics::add(&self.metrics.retransmits, sent);
            self.flush_due = true;
            if !peer.dirty {
                peer.dirty = true;
                self.dirty.push(key);
            }
        }
    }

    /// The per-packet path: one publisher's RTP packet to every subscriber of its track.
    fn forward(&mut self, now: Instant, from: PeerKey, pkt: RtpPacket) {
        let Some(publisher) = self.peers.get_mut(&from) else {
            return;
        };
        let ssrc = pkt.header.ssrc;
        let mid = match publisher.ssrc_mid.get(&ssrc) {
            Some(m) => *m,
            None => {
                let Some(mid) = publisher.rtc.direct_api().stream_rx(&ssrc).map(|s| s.mid()) else {
                    return;
                };
                publisher.ssrc_mid.insert(ssrc, mid);
                mid
            }
        };
        if let Some(tap) = &mut self.tap {
            let fields = RtpFields {
                marker: pkt.header.marker,
                payload_type: *pkt.header.payload_type,
                sequence_number: pkt.header.sequence_number,
                timestamp: pkt.header.timestamp,
                ssrc: *ssrc,
            };
            let source = publisher.addr.unwrap_or(self.config.media_addr);
            tap.rtp(source, self.config.media_addr, &fields, &pkt.payload);
        }
        let Some(route) = self.routes.get_mut(&TrackKey {
            publisher: from,
            mid,
        }) else {
            return;
        };
        let seq: u64 = *pkt.seq_no;
        let video = route.kind == MediaKind::Video;
        let ext = ExtensionValues {
            video_orientation: pkt.header.ext_vals.video_orientation,
            ..Default::default()
        };
        let mut forwarded = 0;
        if video && !pkt.header.marker {
            self.held_since.get_or_insert(now);
        } else {
            self.flush_due = true;
        }
        if video && self.config.direct_send {
            while route
                .recent
                .front()
                .is_some_and(|r| now.saturating_duration_since(r.at) > RTX_CACHE_AGE)
                || route.recent.len() >= RTX_CACHE_PACKETS
            {
                route.recent.pop_front();
            }
            route.recent.push_back(Recent {
                seq,
                timestamp: pkt.header.timestamp,
                marker: pkt.header.marker,
                payload: pkt.payload.clone(),
                at: now,
            });
        }
        // A copy that ends a frame (or is audio) may go through str0m now and
        // then, so its sender reports map RTP time to wallclock correctly.
        let may_sync = !video || pkt.header.marker;
        let mut direct_copies = 0;
        let adversary = self.adversary.clone();
        let publisher_id = adversary.as_ref().map(|_| from.participant());
        for sub in &mut route.subscriptions {
            let Some(peer) = self.peers.get_mut(&sub.subscriber) else {
                continue;
            };
            let mut payload = &pkt.payload;
            let replaced;
            if let (Some(adversary), Some(publisher)) = (&adversary, &publisher_id) {
                let verdict = adversary.copy(&Outgoing {
                    publisher,
                    subscriber: &peer.participant,
                    video,
                    marker: pkt.header.marker,
                    payload,
                });
                match verdict {
                    Verdict::Forward => {}
                    Verdict::Drop => continue,
                    Verdict::Replace(p) => {
                        replaced = p;
                        payload = &replaced;
                    }
                }
            }
            let offset = *sub.seq_offset.get_or_insert(seq.saturating_sub(1));
            let Some(out_seq) = seq.checked_sub(offset) else {
                continue; // older than this subscription
            };
            sub.last_out = sub.last_out.max(out_seq);
            if let (Some(direct), Some(dest)) = (peer.direct.as_mut(), peer.dest) {
                let sync_due = may_sync
                    && sub
                        .via_str0m_at
                        .is_none_or(|t| now.saturating_duration_since(t) >= SYNC_INTERVAL);
                // str0m writes the video-orientation extension; the direct path writes none.
                if !sync_due && ext.video_orientation.is_none() {
                    let len = direct.sealed_len(payload.len());
                    let more = video && !pkt.header.marker;
                    let buf = segment_buf(&mut peer.direct_out, dest, len, self.gso_segments, more);
                    direct.seal_into(
                        pkt.header.marker,
                        *sub.pt,
                        out_seq,
                        pkt.header.timestamp,
                        sub.ssrc,
                        payload,
                        buf,
                    );
                    forwarded += 1;
                    direct_copies += 1;
                    if !peer.dirty {
                        peer.dirty = true;
                        self.dirty.push(sub.subscriber);
                    }
                    continue;
                }
                sub.via_str0m_at = Some(now);
            }
            // With direct send the relay answers every NACK itself
            // (`retransmit`): str0m must never send on the RTX SSRC, whose
            // sequence numbers (SRTP nonces) the relay then owns alone.
            let nackable = video && !self.config.direct_send;
            let mut api = peer.rtc.direct_api();
            let Some(tx) = api.stream_tx_by_mid(sub.mid, None) else {
                continue;
            };
            tx.write_rtp(
                RtpWrite::new(
                    sub.pt,
                    out_seq.into(),
                    pkt.header.timestamp,
                    pkt.timestamp,
                    payload.clone(),
                )
                .marker(pkt.header.marker)
                .nackable(nackable)
                .ext_vals(ext.clone()),
            );
            forwarded += 1;
            peer.str0m_due = true;
            if !peer.dirty {
                peer.dirty = true;
                self.dirty.push(sub.subscriber);
            }
        }
        Metrics::add(&self.metrics.rtp_forwarded, forwarded);
        if direct_copies > 0 {
            Metrics::add(&self.metrics.rtp_direct, direct_copies);
        }
    }

    fn request_keyframe(&mut self, now: Instant, track: TrackKey) {
        let Some(route) = self.routes.get_mut(&track) else {
            return;
        };
        if route
            .last_keyframe_request
            .is_some_and(|t| now.saturating_duration_since(t) < KEYFRAME_REQUEST_INTERVAL)
        {
            return;
        }
        route.last_keyframe_request = Some(now);
        if let Some(p) = self.peers.get_mut(&track.publisher) {
            if let Some(rx) = p.rtc.direct_api().stream_rx_by_mid(track.mid, None) {
                rx.request_keyframe(KeyframeRequestKind::Pli);
            }
            self.mark_dirty(track.publisher);
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

    /// [`Sfu::flush`] unless all that waits is the start of a video frame
    /// whose last packet has not arrived yet and is younger than `FRAME_HOLD`.
    /// The engine calls this after each batch of received datagrams.
    pub fn flush_if_due(&mut self, now: Instant) {
        let holding = self
            .held_since
            .is_some_and(|t| now.saturating_duration_since(t) < FRAME_HOLD);
        if self.flush_due || !holding {
            self.flush(now);
        }
    }

    /// Lets every peer touched since the last flush send what it queued. Run
    /// right after writes: str0m's pacer otherwise holds a packet until the
    /// peer's next timer (~7.5 ms later).
    pub fn flush(&mut self, now: Instant) {
        self.held_since = None;
        self.flush_due = false;
        // Events seen while releasing (say a key-frame request to relay to a
        // publisher) can dirty more peers: release those now too.
        for _ in 0..3 {
            if self.dirty.is_empty() {
                break;
            }
            self.release_dirty(now);
        }
    }

    /// Releases every dirty peer once, on several cores if many wait.
    fn release_dirty(&mut self, now: Instant) {
        if let Some(fanout) = self.fanout.clone() {
            let parts = fanout.threads.min(self.dirty.len() / FANOUT_MIN_PEERS);
            if parts > 1 {
                return self.flush_parallel(now, parts, &*fanout.sender);
            }
        }
        let mut out = std::mem::take(&mut self.out_buf);
        while let Some(key) = self.dirty.pop() {
            if let Some(peer) = self.peers.get_mut(&key) {
                peer.dirty = false;
                release(now, key, peer, &mut out);
            }
        }
        self.transmits.append(&mut out.transmits);
        self.finish(now, out);
    }

    /// [`Sfu::release_dirty`] for many peers: they are split into `parts`
    /// groups that release their packets on several cores at once (each
    /// group's datagrams are sent from its own thread), so one big room is not
    /// bound to one core.
    fn flush_parallel(&mut self, now: Instant, parts: usize, sender: &dyn SendNow) {
        self.dirty.clear();
        Metrics::add(&self.metrics.parallel_flushes, 1);
        let mut peers: Vec<(PeerKey, &mut Peer)> = self
            .peers
            .iter_mut()
            .filter(|(_, p)| p.dirty)
            .map(|(k, p)| {
                p.dirty = false;
                (*k, p)
            })
            .collect();
        let per_part = peers.len().div_ceil(parts);
        let mut outs: Vec<PollOut> = (0..parts).map(|_| PollOut::default()).collect();
        let work = |group: &mut [(PeerKey, &mut Peer)], out: &mut PollOut| {
            for (key, peer) in group.iter_mut() {
                release(now, *key, peer, out);
            }
            sender.send_now(&mut out.transmits);
        };
        rayon::in_place_scope(|scope| {
            let mut groups = peers.chunks_mut(per_part);
            let mut outs_iter = outs.iter_mut();
            let first = groups.next().zip(outs_iter.next());
            for (group, out) in groups.zip(outs_iter) {
                scope.spawn(move |_| work(group, out));
            }
            if let Some((group, out)) = first {
                work(group, out);
            }
        });
        drop(peers);
        for mut out in outs {
            // What the sender could not send now leaves with the engine's next send.
            self.transmits.append(&mut out.transmits);
            self.finish(now, out);
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

    fn remove_peer(&mut self, key: PeerKey, why: &str) {
        let Some(mut peer) = self.peers.remove(&key) else {
            return;
        };
        peer.rtc.disconnect();
        if let Some(addr) = peer.addr {
            self.by_addr.remove(&addr);
            self.addr_changes.push((addr, false));
        }
        Metrics::add(&self.metrics.participants, u64::MAX); // wrapping −1
        info!(room = %short(&peer.room), peer = %peer.participant, "{why}");
        // Stop everything others received from this peer.
        for (mid, _) in &peer.published {
            let Some(route) = self.routes.remove(&TrackKey {
                publisher: key,
                mid: *mid,
            }) else {
                continue;
            };
            for sub in route.subscriptions {
                if let Some(s) = self.peers.get_mut(&sub.subscriber) {
                    s.receiving.remove(&sub.mid);
                    s.sending.remove(&sub.ssrc);
                    s.queued.push(Change::Unsubscribe(sub.mid));
                }
            }
        }
        // Drop this peer's subscriptions to others.
        for track in peer.receiving.values() {
            if let Some(route) = self.routes.get_mut(track) {
                route.subscriptions.retain(|s| s.subscriber != key);
            }
        }
        let room_id = peer.room.clone();
        let mut empty = false;
        if let Some(room) = self.rooms.get_mut(&room_id) {
            room.peers.retain(|k| *k != key);
            room.delivery.peer_left(&key);
            empty = room.peers.is_empty();
        }
        if empty {
            self.rooms.remove(&room_id);
            Metrics::add(&self.metrics.rooms, u64::MAX);
            info!(room = %short(&room_id), "room dropped");
            return;
        }
        self.room_broadcast(
            &room_id,
            key,
            ServerMsg::PeerLeft {
                participant: peer.participant.clone(),
            },
        );
        let others = self.rooms[&room_id].peers.clone();
        for other in others {
            if let Some(p) = self.peers.get_mut(&other) {
                p.queued
                    .retain(|c| !matches!(c, Change::Subscribe(t, _) if t.publisher == key));
            }
            self.renegotiate(other);
        }
    }
}

/// A room id shortened for logs: enough to tell rooms apart in one log, not
/// the full id.
/// Sends datagrams from whichever thread released them: the engine's socket.
pub trait SendNow: Send + Sync {
    /// Sends what can be sent without waiting and removes it from `transmits`;
    /// what is left goes out with the engine's next send.
    fn send_now(&self, transmits: &mut Vec<Transmit>);
}

#[derive(Clone)]
struct Fanout {
    threads: usize,
    sender: Arc<dyn SendNow>,
}

/// Fewest peers per group worth a core of its own in [`Sfu::flush`].
const FANOUT_MIN_PEERS: usize = 16;

/// What polling peers produced.
#[derive(Default)]
struct PollOut {
    transmits: Vec<Transmit>,
    events: Vec<(PeerKey, Event)>,
    dead: Vec<PeerKey>,
    packets: u64,
    bytes: u64,
}

/// The buffer the next sealed copy of `len` bytes to `dest` goes into: the end
/// of the queue's last segmented send when GSO can carry it there (same
/// address, every segment so far `len` bytes or more and full, room left),
/// else a new datagram.
fn segment_buf(
    queue: &mut Vec<Transmit>,
    dest: SocketAddr,
    len: usize,
    max_segments: usize,
    expect_more: bool,
) -> &mut Vec<u8> {
    let joins = queue.last().is_some_and(|t| {
        let seg = t.segment_size.unwrap_or(t.contents.len());
        t.destination == dest
            && seg > 0
            && len <= seg
            && t.contents.len() % seg == 0
            && t.contents.len() / seg < max_segments
            && t.contents.len() + len <= MAX_SEGMENTED_BYTES
    });
    if !joins {
        // Room for a video frame's usual packets (growing the buffer would
        // copy it), and the cipher's slack.
        let segments = if expect_more { max_segments.min(8) } else { 1 };
        let cap = len * segments + 16;
        queue.push(Transmit::single(dest, Vec::with_capacity(cap)));
    }
    let t = queue.last_mut().expect("pushed above");
    if joins {
        t.segment_size = Some(t.segment_size.unwrap_or(t.contents.len()));
    }
    &mut t.contents
}

/// Lets one peer's pacer release what was written to it, then polls it.
fn release(now: Instant, key: PeerKey, peer: &mut Peer, out: &mut PollOut) {
    // Copies sealed on the direct path leave first: what str0m sends in the
    // same release (a frame's last packet now and then) was written after them.
    for t in peer.direct_out.drain(..) {
        out.packets += t.datagrams().count() as u64;
        out.bytes += t.contents.len() as u64;
        out.transmits.push(t);
    }
    if !std::mem::take(&mut peer.str0m_due) {
        return;
    }
    if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
        debug!(peer = %peer.participant, "timeout refused: {e}");
    }
    poll_peer(key, peer, out);
}

/// Polls one peer's `Rtc` until it has nothing more to say.
fn poll_peer(key: PeerKey, peer: &mut Peer, out: &mut PollOut) {
    loop {
        match peer.rtc.poll_output() {
            Ok(Output::Transmit(t)) => {
                out.packets += 1;
                out.bytes += t.contents.len() as u64;
                peer.dest = Some(t.destination);
                out.transmits
                    .push(Transmit::single(t.destination, t.contents.into()));
            }
            Ok(Output::Event(e)) => out.events.push((key, e)),
            Ok(Output::Timeout(t)) => {
                peer.next_timeout = t;
                break;
            }
            Err(e) => {
                debug!(peer = %peer.participant, "media session failed: {e}");
                out.dead.push(key);
                return;
            }
        }
    }
    if !peer.rtc.is_alive() {
        out.dead.push(key);
    }
    // New SRTP keys (the first handshake, or a DTLS restart) replace the old.
    if let Some(keys) = peer.key_slot.as_ref().and_then(|s| s.take()) {
        peer.direct = SrtpSender::new(&keys);
        if peer.direct.is_none() {
            debug!(peer = %peer.participant, "SRTP profile not sealed directly: {keys:?}");
        }
    }
}

/// Removes transport-wide congestion control from the m-lines the relay sends
/// on. The relay runs no bandwidth estimation for its forwarded streams, so
/// per-packet TWCC sequence numbers, the subscriber's feedback and str0m's
/// send-side record of it (~90 KB per peer) would be work for nothing. The
/// m-lines a client publishes on keep TWCC: its browser's estimator needs the
/// relay's feedback.
fn without_send_twcc(sdp: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    // Sections start at "m=" lines; the session part comes first.
    let mut rest = sdp;
    while !rest.is_empty() {
        let end = rest[1..]
            .find("\r\nm=")
            .map(|i| i + 3)
            .unwrap_or(rest.len());
        let (section, tail) = rest.split_at(end);
        rest = tail;
        let sending = section.starts_with("m=") && section.contains("\r\na=sendonly\r\n");
        if !sending {
            out.push_str(section);
            continue;
        }
        for line in section.split_inclusive("\r\n") {
            let twcc = (line.starts_with("a=extmap:") && line.contains("transport-wide-cc"))
                || (line.starts_with("a=rtcp-fb:") && line.trim_end().ends_with(" transport-cc"));
            if !twcc {
                out.push_str(line);
            }
        }
    }
    out
}

fn short(room: &RoomId) -> &str {
    let s = room.as_str();
    &s[..s.len().min(6)]
}

#[cfg(test)]
mod tests {
    use super::without_send_twcc;

    #[test]
    fn twcc_is_dropped_only_where_the_relay_sends() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\na=group:BUNDLE 0 1\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n\
            a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
            a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=recvonly\r\n\
            a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 transport-cc\r\na=rtcp-fb:96 nack\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n\
            a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
            a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=sendonly\r\n\
            a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 transport-cc\r\na=rtcp-fb:96 nack\r\n";
        let out = without_send_twcc(sdp);
        let (published, sent) = out.split_at(out.find("a=mid:1").expect("second m-line"));
        assert!(published.contains("transport-wide-cc") && published.contains("96 transport-cc"));
        assert!(!sent.contains("transport-wide-cc") && !sent.contains("transport-cc"));
        assert!(sent.contains("sdes:mid") && sent.contains("a=rtcp-fb:96 nack\r\n"));
        let removed = sdp.len() - out.len();
        let expected = "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n".len()
            + "a=rtcp-fb:96 transport-cc\r\n".len();
        assert_eq!(removed, expected, "{out}");
    }
}
