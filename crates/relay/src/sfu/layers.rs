//! Simulcast, per subscription: which of a published video track's layers
//! one subscriber receives ([`pick`]), and how that layer's packets are
//! renumbered so the subscriber sees one continuous stream across switches
//! ([`LayerSwitch`]). Pure: packets' numbers, key-frame flags and time in,
//! decisions out; the forwarding path (forward.rs) applies them.
//!
//! A switch happens only at a key frame of the new layer (the relay cannot
//! re-encode: the payload is end-to-end encrypted; the key-frame bit and
//! size are in the clear prefix, `conclave_proto::vp8`). On a switch the
//! new layer's sequence numbers continue the subscriber's (no gap a NACK
//! would chase) and its timestamps continue from the last one sent plus the
//! wall-clock time since (the layers' RTP clocks have unrelated offsets).

use std::time::{Duration, Instant};

/// RTP clock rate of video (VP8), ticks per second.
const VIDEO_CLOCK: u64 = 90_000;

/// A layer with no packet for this long is not sent any more (the
/// publisher's encoder dropped it: bandwidth or CPU); subscribers move off it.
pub(super) const LAYER_IDLE: Duration = Duration::from_millis(600);

/// What [`pick`] needs to know of one layer.
#[derive(Debug, Clone, Copy)]
pub(super) struct LayerView {
    /// Width of its last key frame (0: none seen yet).
    pub(super) width: u16,
    /// Its rank in the publisher's simulcast list when widths are unknown.
    pub(super) order: usize,
    /// When its last packet arrived.
    pub(super) last_at: Option<Instant>,
}

/// The layer a subscriber should receive: the widest active layer no
/// wider than `max_width` (any width if `None`), or the narrowest active
/// one if all are wider; `None` if no layer is active.
pub(super) fn pick<T>(
    now: Instant,
    layers: &[T],
    view: impl Fn(&T) -> &LayerView,
    max_width: Option<u16>,
) -> Option<usize> {
    let active = |l: &LayerView| {
        l.last_at
            .is_some_and(|t| now.saturating_duration_since(t) < LAYER_IDLE)
    };
    // Quality order: width, then the publisher's own order.
    let rank = |i: usize| (view(&layers[i]).width, view(&layers[i]).order);
    let mut fitting = None;
    let mut narrowest = None;
    for (i, l) in layers
        .iter()
        .map(&view)
        .enumerate()
        .filter(|(_, l)| active(l))
    {
        if max_width.is_none_or(|m| l.width <= m) && fitting.is_none_or(|f| rank(i) > rank(f)) {
            fitting = Some(i);
        }
        if narrowest.is_none_or(|n| rank(i) < rank(n)) {
            narrowest = Some(i);
        }
    }
    fitting.or(narrowest)
}

/// One subscription's view of the layers: which one it receives and how its
/// packets are renumbered.
#[derive(Debug, Default)]
pub(super) struct LayerSwitch {
    /// The layer forwarded now (`None` before the first packet).
    current: Option<usize>,
    /// Subscriber sequence number = the layer's + `seq_delta`.
    seq_delta: i64,
    /// Subscriber timestamp = the layer's + `ts_delta` (wrapping).
    ts_delta: u32,
    /// The first subscriber sequence number of the current layer: anything
    /// below it was another layer's (or before the subscription).
    since: u64,
    /// The last packet sent: sequence number, timestamp, when.
    last: Option<(u64, u32, Instant)>,
}

/// A packet's numbers as the subscriber sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Out {
    pub(super) seq: u64,
    pub(super) timestamp: u32,
}

impl LayerSwitch {
    /// The layer forwarded now.
    pub(super) fn current(&self) -> Option<usize> {
        self.current
    }

    /// The highest sequence number sent (0: none).
    pub(super) fn last_seq(&self) -> u64 {
        self.last.map_or(0, |(s, _, _)| s)
    }

    /// Decides for a packet of `layer` (extended sequence number `seq`,
    /// timestamp `ts`; `keyframe`: it starts a key frame) when the
    /// subscriber should get `target`: its numbers if it goes out, `None`
    /// if not. The first packet (the subscription's) starts the stream at
    /// sequence number 1 with the publisher's timestamps; a later switch
    /// waits for a key frame of the target layer.
    pub(super) fn on_packet(
        &mut self,
        now: Instant,
        layer: usize,
        seq: u64,
        ts: u32,
        keyframe: bool,
        target: Option<usize>,
    ) -> Option<Out> {
        if self.current != Some(layer) {
            let switch = target == Some(layer) && (keyframe || self.current.is_none());
            if !switch {
                return None;
            }
            match self.last {
                None => {
                    // Start low: a fresh SRTP receiver assumes rollover counter 0 (RFC 3711 §3.3.1).
                    self.seq_delta = 1 - seq as i64;
                    self.ts_delta = 0;
                }
                Some((last_seq, last_ts, at)) => {
                    self.seq_delta = (last_seq + 1) as i64 - seq as i64;
                    let gap = now.saturating_duration_since(at);
                    let ticks = (gap.as_micros() as u64 * VIDEO_CLOCK / 1_000_000).max(1);
                    self.ts_delta = last_ts.wrapping_add(ticks as u32).wrapping_sub(ts);
                }
            }
            self.current = Some(layer);
            self.since = (seq as i64 + self.seq_delta) as u64;
        }
        let out = seq as i64 + self.seq_delta;
        if out < self.since as i64 {
            return None; // late: from before this layer's start
        }
        let out = Out {
            seq: out as u64,
            timestamp: ts.wrapping_add(self.ts_delta),
        };
        if self.last.is_none_or(|(s, _, _)| out.seq > s) {
            self.last = Some((out.seq, out.timestamp, now));
        }
        Some(out)
    }

    /// The current layer's sequence number and timestamp offset for a
    /// subscriber's `seq` (a NACK), if it was that layer's.
    pub(super) fn layer_seq(&self, seq: u64) -> Option<(usize, u64, u32)> {
        let layer = self.current?;
        if seq < self.since {
            return None;
        }
        let input = seq as i64 - self.seq_delta;
        (input >= 0).then_some((layer, input as u64, self.ts_delta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(width: u16, order: usize, last_at: Option<Instant>) -> LayerView {
        LayerView {
            width,
            order,
            last_at,
        }
    }

    #[test]
    fn pick_takes_the_widest_active_layer_that_fits() {
        let now = Instant::now();
        let on = Some(now);
        let layers = [view(160, 0, on), view(320, 1, on), view(640, 2, on)];
        assert_eq!(pick(now, &layers, |l| l, None), Some(2));
        assert_eq!(pick(now, &layers, |l| l, Some(400)), Some(1));
        assert_eq!(
            pick(now, &layers, |l| l, Some(100)),
            Some(0),
            "none fits: the narrowest"
        );
        let stale = Some(now - LAYER_IDLE);
        let top_off = [view(160, 0, on), view(320, 1, on), view(640, 2, stale)];
        assert_eq!(
            pick(now, &top_off, |l| l, None),
            Some(1),
            "an idle layer is not picked"
        );
        assert_eq!(pick(now, &[view(0, 0, None)], |l| l, None), None);
        // Widths unknown yet: the publisher's order decides.
        let unknown = [view(0, 1, on), view(0, 0, on)];
        assert_eq!(pick(now, &unknown, |l| l, None), Some(0));
    }

    #[test]
    fn one_layer_passes_through_rebased_to_start_at_one() {
        let t = Instant::now();
        let mut s = LayerSwitch::default();
        let out = s.on_packet(t, 0, 5000, 777, false, Some(0));
        assert_eq!(
            out,
            Some(Out {
                seq: 1,
                timestamp: 777
            })
        );
        assert_eq!(s.on_packet(t, 0, 5001, 777, false, Some(0)).unwrap().seq, 2);
        assert_eq!(
            s.on_packet(t, 0, 4999, 700, false, Some(0)),
            None,
            "older than the subscription"
        );
        assert_eq!(
            s.on_packet(t, 0, 5003, 900, false, Some(0)).unwrap().seq,
            4,
            "a gap stays a gap"
        );
        assert_eq!(s.layer_seq(3), Some((0, 5002, 0)));
        assert_eq!(s.layer_seq(0), None);
    }

    #[test]
    fn a_switch_waits_for_a_key_frame_and_continues_the_numbers() {
        let t0 = Instant::now();
        let mut s = LayerSwitch::default();
        for i in 0..10u64 {
            s.on_packet(t0, 0, 100 + i, 1000 + 3000 * i as u32, false, Some(0));
        }
        assert_eq!(s.last_seq(), 10);
        let t1 = t0 + Duration::from_millis(40);
        // The target moves to layer 1: its delta frames are not taken, layer 0 goes on.
        assert_eq!(s.on_packet(t1, 1, 9000, 555_000, false, Some(1)), None);
        assert_eq!(
            s.on_packet(t1, 0, 110, 31_000, false, Some(1))
                .map(|o| o.seq),
            Some(11)
        );
        // Layer 1's key frame: switch; numbers continue.
        let out = s.on_packet(t1, 1, 9001, 555_000, true, Some(1)).unwrap();
        assert_eq!(out.seq, 12);
        assert_eq!(
            out.timestamp,
            31_000u32.wrapping_add(1),
            "same instant: one tick on"
        );
        assert_eq!(s.current(), Some(1));
        assert_eq!(
            s.on_packet(t1, 0, 111, 31_000, false, Some(1)),
            None,
            "the old layer stops"
        );
        let next = s
            .on_packet(
                t1 + Duration::from_millis(33),
                1,
                9002,
                558_000,
                false,
                Some(1),
            )
            .unwrap();
        assert_eq!((next.seq, next.timestamp), (13, 31_001 + 3000));
        // A NACK for a number the old layer had is not this layer's.
        assert_eq!(s.layer_seq(11), None);
        assert_eq!(s.layer_seq(13).map(|(l, seq, _)| (l, seq)), Some((1, 9002)));
    }

    #[test]
    fn the_timestamp_gap_follows_the_wall_clock() {
        let t0 = Instant::now();
        let mut s = LayerSwitch::default();
        s.on_packet(t0, 0, 1, u32::MAX - 10, false, Some(0));
        let out = s
            .on_packet(
                t0 + Duration::from_millis(100),
                2,
                50,
                12_345,
                true,
                Some(2),
            )
            .unwrap();
        assert_eq!(
            out.timestamp,
            (u32::MAX - 10).wrapping_add(9000),
            "100 ms is 9000 ticks, across the wrap"
        );
    }
}
