//! One published track and everything subscribed to it ([`Route`]): the
//! layers the publisher sends (one, or several with simulcast: [`Layer`],
//! each with the recent packets kept to answer NACKs, [`Recent`], and when
//! a key frame was last asked for), and its subscribers' copies
//! ([`Subscription`], each on one layer: layers.rs).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::media::{MediaKind, Mid, Pt, Rid};
use str0m::rtp::{RtpPacket, Ssrc};

use super::ids::PeerKey;
use super::layers::{LayerSwitch, LayerView};

/// Keyframe requests to one publisher's track are sent at most this often.
pub(super) const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

/// Resend history kept per forwarded video track: half a second answers any
/// NACK that can still help a real-time stream, and each slot costs memory.
pub(super) const RTX_CACHE_PACKETS: usize = 128;
pub(super) const RTX_CACHE_AGE: Duration = Duration::from_millis(500);

/// Most retransmissions per second for one forwarded stream (a 1.5 Mbit/s
/// video stream is ~150 packets/s; more than that is a NACK flood).
pub(super) const RTX_PER_SECOND: u32 = 200;

/// How often a direct-path stream sends a copy through str0m, whose sender
/// reports (every 1 s for video) take their RTP-to-wallclock mapping from it.
pub(super) const SYNC_INTERVAL: Duration = Duration::from_millis(900);

/// One subscriber's copy of a published track.
#[derive(Debug)]
pub(super) struct Subscription {
    pub(super) subscriber: PeerKey,
    /// The subscriber-side m-line carrying this track.
    pub(super) mid: Mid,
    /// The subscriber's payload type for the track's codec.
    pub(super) pt: Pt,
    /// Which layer it receives, and its sequence numbers and timestamps
    /// (rebased so its stream starts low: a fresh SRTP receiver assumes
    /// rollover counter 0, RFC 3711 §3.3.1).
    pub(super) layer: LayerSwitch,
    /// The widest layer it wants (`None`: the best there is).
    pub(super) max_width: Option<u16>,
    /// The subscriber-side stream's SSRC (direct send).
    pub(super) ssrc: u32,
    /// Its retransmission stream: SSRC, payload type and the next RTX
    /// sequence number (direct send; RFC 4588).
    pub(super) rtx: Option<(u32, u8)>,
    pub(super) rtx_seq: u64,
    /// Retransmissions in the current second, and when it began: a NACK
    /// flood costs the relay at most `RTX_PER_SECOND` seals per stream.
    pub(super) rtx_window: (Instant, u32),
    /// When a copy last went through str0m, which keeps its sender reports'
    /// RTP-to-wallclock mapping from such copies (direct send).
    pub(super) via_str0m_at: Option<Instant>,
    /// What the subscriber's estimate allows (congestion.rs): `None` no
    /// limit (without congestion control, or the best candidate fits: the
    /// width alone decides), `Some(Some(layer))` nothing better than that
    /// layer, `Some(None)` paused.
    pub(super) alloc: Option<Option<usize>>,
}

/// Everything subscribed to one published track.
#[derive(Debug)]
pub(super) struct Route {
    pub(super) kind: MediaKind,
    pub(super) subscriptions: Vec<Subscription>,
    /// What the publisher sends: one layer, or one per simulcast RID.
    pub(super) layers: Vec<Layer>,
}

/// One layer of a published track (all of it, without simulcast).
#[derive(Debug)]
pub(super) struct Layer {
    /// Its RID (`None` without simulcast).
    pub(super) rid: Option<Rid>,
    /// The publisher's SSRC for it, once a packet came (key-frame requests).
    pub(super) ssrc: Option<Ssrc>,
    /// Its width, rank and liveness, for choosing layers (layers.rs).
    pub(super) view: LayerView,
    pub(super) last_keyframe_request: Option<Instant>,
    /// Recent video packets by publisher sequence number, for retransmission
    /// to any subscriber (direct send); payloads are shared, not copied.
    pub(super) recent: VecDeque<Recent>,
    /// The publisher's sequence numbers already forwarded.
    pub(super) seen: SeenSeqs,
    /// Bytes since `view.bps` was last updated, and since when.
    meter: (u64, Option<Instant>),
}

/// How often a layer's rate is updated.
const RATE_PERIOD: Duration = Duration::from_millis(500);

/// A packet kept for retransmission on the direct path.
#[derive(Debug)]
pub(super) struct Recent {
    pub(super) seq: u64,
    pub(super) timestamp: u32,
    pub(super) marker: bool,
    pub(super) payload: Arc<[u8]>,
    pub(super) at: Instant,
}

impl Subscription {
    /// Whether this copy (one that `may_sync`: audio, or a frame's last
    /// packet) should go through str0m, which keeps its sender reports'
    /// RTP-to-wallclock mapping from such copies ([`SYNC_INTERVAL`]).
    #[inline]
    pub(super) fn sync_due(&self, now: Instant, may_sync: bool) -> bool {
        may_sync
            && self
                .via_str0m_at
                .is_none_or(|t| now.saturating_duration_since(t) >= SYNC_INTERVAL)
    }
}

impl Route {
    /// A route for a track with these simulcast RIDs (none: one layer).
    pub(super) fn new(kind: MediaKind, rids: &[Rid]) -> Route {
        let mut route = Route {
            kind,
            subscriptions: Vec::new(),
            layers: Vec::new(),
        };
        if rids.is_empty() {
            route.layer_index(None);
        }
        for rid in rids {
            route.layer_index(Some(*rid));
        }
        route
    }

    /// The index of the layer with this RID, added if new (ranked after
    /// the others until its width is known).
    #[inline]
    pub(super) fn layer_index(&mut self, rid: Option<Rid>) -> usize {
        if let Some(i) = self.layers.iter().position(|l| l.rid == rid) {
            return i;
        }
        self.layers.push(Layer {
            rid,
            ssrc: None,
            view: LayerView {
                width: 0,
                order: self.layers.len(),
                last_at: None,
                bps: 0,
            },
            last_keyframe_request: None,
            recent: VecDeque::new(),
            seen: SeenSeqs::default(),
            meter: (0, None),
        });
        self.layers.len() - 1
    }
}

impl Layer {
    /// Counts a packet of `len` payload bytes towards the layer's rate
    /// (`view.bps`, smoothed over about two seconds).
    #[inline]
    pub(super) fn measure(&mut self, now: Instant, len: usize) {
        // Payload plus RTP, SRTP and UDP/IP overhead, roughly.
        self.meter.0 += len as u64 + 50;
        let since = *self.meter.1.get_or_insert(now);
        let elapsed = now.saturating_duration_since(since);
        if elapsed >= RATE_PERIOD {
            let bps = self.meter.0 * 8 * 1_000_000 / elapsed.as_micros().max(1) as u64;
            self.view.bps = if self.view.bps == 0 {
                bps
            } else {
                (self.view.bps * 3 + bps) / 4
            };
            self.meter = (0, Some(now));
        }
    }

    /// Keeps a video packet to answer subscribers' NACKs on the direct path
    /// (at most [`RTX_CACHE_PACKETS`], none older than [`RTX_CACHE_AGE`]);
    /// the payload is shared, not copied.
    pub(super) fn remember(&mut self, now: Instant, pkt: &RtpPacket) {
        while self
            .recent
            .front()
            .is_some_and(|r| now.saturating_duration_since(r.at) > RTX_CACHE_AGE)
            || self.recent.len() >= RTX_CACHE_PACKETS
        {
            self.recent.pop_front();
        }
        self.recent.push_back(Recent {
            seq: *pkt.seq_no,
            timestamp: pkt.header.timestamp,
            marker: pkt.header.marker,
            payload: pkt.payload.clone(),
            at: now,
        });
    }
}

/// Which of a publisher's last [`SeenSeqs::WINDOW`] sequence numbers were
/// forwarded. A retransmission of a packet that was not lost (the publisher
/// answers a NACK for a packet that was only late) reaches the relay as a
/// repaired packet, which str0m does not check against the main stream: it
/// would go to every subscriber a second time, and a receiver that already
/// played that frame assembles it again (a duplicate its E2EE layer refuses
/// as a replay). Each one goes out once.
#[derive(Debug, Default)]
pub(super) struct SeenSeqs {
    highest: Option<u64>,
    /// Bit `i`: `highest - i` was seen.
    bits: u128,
}

impl SeenSeqs {
    /// How far back duplicates are recognised (older packets pass: they
    /// cannot be told apart, and are as rare as they are late).
    pub(super) const WINDOW: u64 = 128;

    /// Records `seq`; false if it was seen before.
    #[inline]
    pub(super) fn first(&mut self, seq: u64) -> bool {
        let Some(highest) = self.highest else {
            self.highest = Some(seq);
            self.bits = 1;
            return true;
        };
        if seq > highest {
            let shift = seq - highest;
            self.bits = if shift >= Self::WINDOW {
                0
            } else {
                self.bits << shift
            };
            self.bits |= 1;
            self.highest = Some(seq);
            return true;
        }
        let back = highest - seq;
        if back >= Self::WINDOW {
            return true;
        }
        let bit = 1u128 << back;
        let first = self.bits & bit == 0;
        self.bits |= bit;
        first
    }
}

#[cfg(test)]
mod tests {
    use super::SeenSeqs;

    #[test]
    fn each_sequence_number_passes_once() {
        let mut s = SeenSeqs::default();
        assert!(s.first(10));
        assert!(!s.first(10));
        assert!(s.first(12)); // 11 late
        assert!(s.first(11));
        assert!(!s.first(11));
        assert!(!s.first(12));
        assert!(s.first(300)); // a jump clears the window
        assert!(!s.first(300));
        assert!(s.first(299));
        assert!(s.first(300 - SeenSeqs::WINDOW)); // too old to tell: passes
        assert!(s.first(300 - SeenSeqs::WINDOW));
        for seq in 301..1000 {
            assert!(s.first(seq));
            assert!(!s.first(seq - 1));
        }
    }
}
