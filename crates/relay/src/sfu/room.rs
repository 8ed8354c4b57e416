//! Rooms and their members: who joins (founder token, limits), what they
//! say (signaling and MLS envelopes through the room's delivery service),
//! and what their leaving undoes.

use std::collections::HashMap;
use std::time::Instant;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use conclave_e2ee::delivery::{DeliveryService, Recipients};
use conclave_proto::{ClientMsg, ErrorCode, ParticipantId, PeerState, RoomId, ServerMsg};
use str0m::media::Mid;
use str0m::net::TcpType;
use str0m::rtp::Extension;
use str0m::{Candidate, Rtc};
use tracing::{info, warn};

use super::ids::{PeerKey, TrackKey};
use super::peer::{Change, Peer, MEDIA_LOST_GRACE};
use super::{short, EventSender, Sfu};
use crate::metrics::Metrics;
use crate::srtp;

#[derive(Default)]
pub(super) struct Room {
    pub(super) peers: Vec<PeerKey>,
    /// Orders the room's MLS commits without any key (docs/design.md §4 "Change").
    pub(super) delivery: DeliveryService<PeerKey>,
}

impl Sfu {
    pub(super) fn join(
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
                // Simulcast: which layer a publisher's packet belongs to.
                .set_extension(10, Extension::RtpStreamId)
                .set_extension(11, Extension::RepairedRtpStreamId)
                .build(now)
        };
        let (mut rtc, key_slot) = if self.config.direct_send {
            let (rtc, slot) = srtp::with_key_slot(build);
            (rtc, Some(slot))
        } else {
            (build(), None)
        };
        // A UDP host candidate, and a passive TCP one on the HTTPS port for
        // networks that let only TCP through (RFC 6544; browsers prefer UDP).
        let tcp = self.config.tcp_addr.map(|addr| {
            Candidate::builder()
                .tcp()
                .host(addr)
                .tcptype(TcpType::Passive)
                .build()
        });
        for candidate in std::iter::once(Candidate::host(self.config.media_addr, "udp")).chain(tcp)
        {
            match candidate {
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
            srtcp_in: None,
            media_lost: None,
            dirty: false,
            str0m_due: false,
            addr: None,
            dest: None,
            media_from: None,
            key_slot,
            direct: None,
            direct_out: Vec::new(),
            sending: HashMap::new(),
            cc: None,
        };
        peer.send(ServerMsg::Joined {
            participant: participant.clone(),
            peers,
            // TURN credentials are the signaling task's (http.rs, crate::turn).
            ice_servers: Vec::new(),
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

    pub(super) fn signal(&mut self, now: Instant, key: PeerKey, msg: ClientMsg) {
        let media_lost = self.peers.get(&key).is_some_and(|p| p.media_lost.is_some());
        if media_lost && !matches!(msg, ClientMsg::Mls { .. } | ClientMsg::Leave) {
            return; // its media is gone; only its MLS messages and leave still count
        }
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
            ClientMsg::VideoWidth { mid, width } => self.set_video_width(key, &mid, width),
            ClientMsg::Leave => self.remove_peer(key, "left"),
        }
    }

    /// A subscriber says how wide it shows the track on its m-line `mid`
    /// (0: no limit): simulcast picks the widest layer no wider. An unknown
    /// mid is ignored (the track may have just ended).
    pub(super) fn set_video_width(&mut self, key: PeerKey, mid: &str, width: u16) {
        let Some(track) = self
            .peers
            .get(&key)
            .and_then(|p| p.receiving.get(&Mid::from(mid)))
            .copied()
        else {
            return;
        };
        if let Some(sub) = self
            .routes
            .get_mut(&track)
            .and_then(|r| r.subscriptions.iter_mut().find(|s| s.subscriber == key))
        {
            sub.max_width = (width > 0).then_some(width);
        }
    }

    /// Runs an MLS envelope through the room's delivery service and sends
    /// what it says to whom. The relay reads the envelope, never the MLS bytes.
    pub(super) fn deliver_mls(&mut self, key: PeerKey, data: &str) {
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

    /// Ends a peer's media at once (its connection died) and keeps it in
    /// its room for its signaling until it leaves or
    /// [`MEDIA_LOST_GRACE`] has passed ([`Sfu::handle_timeout`]).
    pub(super) fn media_lost(&mut self, now: Instant, key: PeerKey) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if peer.media_lost.is_some() {
            return;
        }
        peer.media_lost = Some(now);
        info!(room = %short(&peer.room), peer = %peer.participant, "media lost; removed in {} s unless it leaves first", MEDIA_LOST_GRACE.as_secs());
        self.end_media(key);
    }

    /// Removes a peer: its media (if still there), then its place in the
    /// room; the others hear that it left.
    pub(super) fn remove_peer(&mut self, key: PeerKey, why: &str) {
        self.end_media(key);
        let Some(peer) = self.peers.remove(&key) else {
            return;
        };
        Metrics::add(&self.metrics.participants, u64::MAX); // wrapping −1
        info!(room = %short(&peer.room), peer = %peer.participant, "{why}");
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
    }

    /// Ends a peer's media: its connection, what others received from it
    /// (they renegotiate without it) and what it received.
    fn end_media(&mut self, key: PeerKey) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.rtc.disconnect();
        peer.direct_out.clear();
        if let Some(addr) = peer.addr.take() {
            self.by_addr.remove(&addr);
            self.addr_changes.push((addr, false));
        }
        let published = std::mem::take(&mut peer.published);
        let receiving = std::mem::take(&mut peer.receiving);
        let room_id = peer.room.clone();
        // Stop everything others received from this peer.
        for (mid, _) in &published {
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
        for track in receiving.values() {
            if let Some(route) = self.routes.get_mut(track) {
                route.subscriptions.retain(|s| s.subscriber != key);
            }
        }
        let others: Vec<PeerKey> = self
            .rooms
            .get(&room_id)
            .map(|r| r.peers.iter().copied().filter(|k| *k != key).collect())
            .unwrap_or_default();
        for other in others {
            if let Some(p) = self.peers.get_mut(&other) {
                p.queued
                    .retain(|c| !matches!(c, Change::Subscribe(t, _) if t.publisher == key));
            }
            self.renegotiate(other);
        }
    }
}
