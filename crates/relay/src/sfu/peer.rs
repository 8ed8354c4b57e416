//! One connection ([`Peer`]): its str0m `Rtc`, what it publishes and
//! receives, its negotiation queue, where it is and its own SRTP sealing of
//! forwarded copies; and how it is polled and released ([`poll_peer`],
//! [`release`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave_proto::{ParticipantId, PeerState, RoomId, ServerMsg};
use str0m::change::SdpPendingOffer;
use str0m::media::{MediaKind, Mid, Rid};
use str0m::rtp::Ssrc;
use str0m::{Event, Input, Output, Rtc};
use tracing::debug;

use super::congestion::Congestion;
use super::ids::{PeerKey, TrackKey};
use super::{EventSender, Transmit, Via};
use crate::srtcp::SrtcpReceiver;
use crate::srtp::{KeySlot, SrtpSender};

/// Renegotiation work queued for a peer.
#[derive(Debug, Clone, Copy)]
pub(super) enum Change {
    Subscribe(TrackKey, MediaKind),
    Unsubscribe(Mid),
}

pub(super) struct Peer {
    pub(super) participant: ParticipantId,
    pub(super) room: RoomId,
    pub(super) rtc: Rtc,
    pub(super) events: EventSender,
    pub(super) audio: bool,
    pub(super) video: bool,
    /// The client's one offer has been answered.
    pub(super) offered: bool,
    pub(super) pending_offer: Option<SdpPendingOffer>,
    /// Subscriptions in the offer awaiting the client's answer.
    pub(super) in_flight: Vec<(Mid, TrackKey, MediaKind)>,
    pub(super) queued: Vec<Change>,
    /// Subscriber-side mid → the track it carries (for keyframe requests).
    pub(super) receiving: HashMap<Mid, TrackKey>,
    /// Incoming SSRC → publisher-side mid and simulcast RID.
    pub(super) ssrc_mid: HashMap<Ssrc, (Mid, Option<Rid>)>,
    pub(super) published: Vec<(Mid, MediaKind)>,
    pub(super) next_timeout: Instant,
    /// In `Sfu::dirty`: something waits to leave at the next release.
    pub(super) dirty: bool,
    /// The release must also run str0m (a write to it, its timer, a request);
    /// copies sealed directly alone do not need it.
    pub(super) str0m_due: bool,
    pub(super) addr: Option<(SocketAddr, Via)>,
    /// Where str0m last sent to (the nominated ICE pair's remote address).
    pub(super) dest: Option<(SocketAddr, Via)>,
    /// Where the peer's last authenticated media or RTCP came from: the
    /// relay's sends (but STUN answers) go there. After a NAT
    /// rebinding (or a phone changing networks) the browser's media comes
    /// from a new address at once, while str0m's ICE-lite keeps sending to
    /// the old pair until it has had no check for 15 s.
    pub(super) media_from: Option<(SocketAddr, Via)>,
    /// Where this peer's DTLS instance leaves its SRTP keys (direct send).
    pub(super) key_slot: Option<Arc<KeySlot>>,
    /// The relay's own sealing of forwarded copies, once keys are known.
    pub(super) direct: Option<SrtpSender>,
    /// The relay's own opening of its SRTCP, for feedback (`crate::srtcp`).
    pub(super) srtcp_in: Option<SrtcpReceiver>,
    /// Sealed copies waiting for this peer's next release.
    pub(super) direct_out: Vec<Transmit>,
    /// Subscriber-side SSRC → mid of forwarded streams (NACKs, direct send).
    pub(super) sending: HashMap<u32, Mid>,
    /// Congestion control of what the relay sends it, once its SDP has
    /// the transport-wide sequence number (direct send only).
    pub(super) cc: Option<Congestion>,
    /// Its media connection died at this time: it has no media any more
    /// but stays in the room (its signaling, MLS messages included, still
    /// counts) until it leaves or [`MEDIA_LOST_GRACE`] has passed.
    pub(super) media_lost: Option<Instant>,
}

/// How long a member whose media connection died stays in its room for
/// its signaling. A page that leaves closes its media once the relay has
/// taken its leave (or after 1 s); a relay whose command inbox runs behind
/// its media sees the media go first, and removing the member then would
/// drop the MLS messages the page sent on its way out.
pub(super) const MEDIA_LOST_GRACE: Duration = Duration::from_secs(2);

impl Peer {
    /// Where the relay's own (direct) sends to this peer go: where its
    /// authenticated media last came from, else where str0m sends.
    #[inline]
    pub(super) fn send_to(&self) -> Option<(SocketAddr, Via)> {
        self.media_from.or(self.dest)
    }

    /// When [`super::Sfu::handle_timeout`] is due for it: str0m's next
    /// timeout, or for a peer whose media died the end of its grace (its
    /// `Rtc` is no longer polled, and no poll may move that).
    pub(super) fn due_at(&self) -> Instant {
        self.media_lost
            .map_or(self.next_timeout, |t| t + MEDIA_LOST_GRACE)
    }

    pub(super) fn send(&self, msg: ServerMsg) {
        // A closed channel means the connection is going away; its Leave follows.
        let _ = self.events.send(msg);
    }

    pub(super) fn state(&self) -> PeerState {
        PeerState {
            participant: self.participant.clone(),
            audio: self.audio,
            video: self.video,
        }
    }
}

/// What polling peers produced.
#[derive(Default)]
pub(super) struct PollOut {
    pub(super) transmits: Vec<Transmit>,
    pub(super) events: Vec<(PeerKey, Event)>,
    pub(super) dead: Vec<PeerKey>,
    pub(super) packets: u64,
    pub(super) bytes: u64,
}

/// Lets one peer's pacer release what was written to it, then polls it.
pub(super) fn release(now: Instant, key: PeerKey, peer: &mut Peer, out: &mut PollOut) {
    if peer.media_lost.is_some() {
        return; // nothing more goes to or comes from a dead connection
    }
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
pub(super) fn poll_peer(key: PeerKey, peer: &mut Peer, out: &mut PollOut) {
    loop {
        match peer.rtc.poll_output() {
            Ok(Output::Transmit(t)) => {
                out.packets += 1;
                out.bytes += t.contents.len() as u64;
                let mut dest = (t.destination, Via::of(t.proto));
                peer.dest = Some(dest);
                // str0m's own RTP, RTCP and DTLS (first byte 20 and up, RFC
                // 7983) follow the member's latest authenticated address too:
                // a key-frame request sent to the old one would be lost for
                // as long as str0m keeps the old pair. Its STUN answers go
                // where each request came from.
                if let Some(moved) = peer.media_from.filter(|_| t.contents.first() >= Some(&20)) {
                    dest = moved;
                }
                out.transmits
                    .push(Transmit::single(dest, t.contents.into()));
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
        peer.srtcp_in = SrtcpReceiver::new(&keys);
        if peer.direct.is_none() {
            debug!(peer = %peer.participant, "SRTP profile not sealed directly: {keys:?}");
        }
    }
}

impl Peer {
    /// The publisher-side m-line and simulcast layer an incoming SSRC
    /// belongs to (remembered after str0m first names them).
    #[inline]
    pub(super) fn source_of(&mut self, ssrc: Ssrc) -> Option<(Mid, Option<Rid>)> {
        if let Some(source) = self.ssrc_mid.get(&ssrc) {
            return Some(*source);
        }
        let source = self
            .rtc
            .direct_api()
            .stream_rx(&ssrc)
            .map(|s| (s.mid(), s.rid()))?;
        self.ssrc_mid.insert(ssrc, source);
        Some(source)
    }
}
