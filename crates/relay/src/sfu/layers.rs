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
    /// What it carries, bits per second (smoothed; 0: not measured yet).
    pub(super) bps: u64,
}

/// A step up to a layer above the one a subscription receives must fit
/// the estimate with this much to spare; staying needs none (hysteresis:
/// a subscription does not flap between two layers at the estimate's edge).
pub(super) const UPGRADE_MARGIN: f64 = 1.25;

fn active(now: Instant, l: &LayerView) -> bool {
    l.last_at
        .is_some_and(|t| now.saturating_duration_since(t) < LAYER_IDLE)
}

/// The layers a subscriber may receive, worst to best: the active ones no
/// wider than `max_width`, or the narrowest active one if all are wider
/// (as [`pick`] chooses).
pub(super) fn candidates<T>(
    now: Instant,
    layers: &[T],
    view: impl Fn(&T) -> &LayerView,
    max_width: Option<u16>,
) -> Vec<usize> {
    let rank = |i: &usize| (view(&layers[*i]).width, view(&layers[*i]).order);
    let mut out: Vec<usize> = (0..layers.len())
        .filter(|i| active(now, view(&layers[*i])))
        .collect();
    out.sort_by_key(rank);
    let fitting = out
        .iter()
        .filter(|i| max_width.is_none_or(|m| view(&layers[**i]).width <= m))
        .count();
    out.truncate(fitting.max(1));
    out
}

/// One video subscription as the allocator sees it: its candidate layers
/// worst to best (layer index, bits per second) and the layer it receives.
#[derive(Debug, Clone)]
pub(super) struct Options {
    pub(super) layers: Vec<(usize, u64)>,
    pub(super) current: Option<usize>,
}

impl Options {
    /// What taking its `n`-th candidate costs: its rate, with
    /// [`UPGRADE_MARGIN`] if that is above the layer it receives.
    pub(super) fn cost(&self, n: usize) -> u64 {
        let bps = self.layers[n].1;
        let held = self.layers.iter().position(|l| Some(l.0) == self.current);
        if held.is_some_and(|h| n <= h) {
            bps
        } else {
            (bps as f64 * UPGRADE_MARGIN) as u64
        }
    }
}

/// Shares `budget` (bits per second) among video subscriptions: each gets
/// its worst candidate first, in order, while the budget lasts (`None`:
/// paused, not even that fits — but the first one with candidates always
/// gets its worst, so some video keeps flowing and its feedback can raise
/// the estimate again); then they step up one layer at a time in turn
/// while the next step's extra cost fits. Returns each one's layer.
/// Without `may_pause` every subscription gets at least its worst layer.
pub(super) fn allocate(budget: u64, subs: &[Options], may_pause: bool) -> Vec<Option<usize>> {
    let mut left = budget;
    let mut level: Vec<Option<usize>> = vec![None; subs.len()];
    for (s, o) in subs.iter().enumerate() {
        if o.layers.is_empty() {
            continue;
        }
        let cost = o.cost(0);
        if cost <= left || !may_pause || level.iter().all(Option::is_none) {
            left = left.saturating_sub(cost);
            level[s] = Some(0);
        }
    }
    loop {
        let mut stepped = false;
        for (s, o) in subs.iter().enumerate() {
            let Some(n) = level[s].filter(|n| n + 1 < o.layers.len()) else {
                continue;
            };
            let extra = o.cost(n + 1).saturating_sub(o.cost(n));
            if extra <= left {
                left -= extra;
                level[s] = Some(n + 1);
                stepped = true;
            }
        }
        if !stepped {
            break;
        }
    }
    level
        .iter()
        .zip(subs)
        .map(|(n, o)| n.map(|n| o.layers[n].0))
        .collect()
}

/// What a subscriber would take with an unlimited estimate: each
/// subscription's best candidate, with the margin if it must step up.
pub(super) fn desired(subs: &[Options]) -> u64 {
    subs.iter()
        .filter(|o| !o.layers.is_empty())
        .map(|o| o.cost(o.layers.len() - 1))
        .sum()
}

/// Layer `a` ranks below layer `b` (narrower, or as wide and sent lower).
pub(super) fn narrower<T>(
    layers: &[T],
    view: impl Fn(&T) -> &LayerView,
    a: usize,
    b: usize,
) -> bool {
    let rank = |i: usize| layers.get(i).map(|l| (view(l).width, view(l).order));
    matches!((rank(a), rank(b)), (Some(x), Some(y)) if x < y)
}

/// [`pick`], but no better than layer `cap` (the estimate's limit): the
/// best candidate ranked at or below it, or the worst candidate if the
/// cap's rank has no active layer left.
pub(super) fn pick_capped<T>(
    now: Instant,
    layers: &[T],
    view: impl Fn(&T) -> &LayerView,
    max_width: Option<u16>,
    cap: usize,
) -> Option<usize> {
    let rank = |i: usize| (view(&layers[i]).width, view(&layers[i]).order);
    let limit = rank(cap.min(layers.len().checked_sub(1)?));
    let mut best = None;
    for (i, l) in layers.iter().map(&view).enumerate() {
        let fits = max_width.is_none_or(|m| l.width <= m) && rank(i) <= limit;
        if fits && active(now, l) && best.is_none_or(|b| rank(i) > rank(b)) {
            best = Some(i);
        }
    }
    // Nothing that low is active: the narrowest active layer, as `pick`.
    best.or_else(|| candidates(now, layers, view, max_width).first().copied())
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
    let active = |l: &LayerView| active(now, l);
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
    /// Paused ([`LayerSwitch::pause`]): the next layer starts at a key frame.
    paused: bool,
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

    /// Stops the stream (the subscriber's estimate fits no layer); it
    /// resumes at a key frame of whatever layer is chosen then, its
    /// numbers continuing without a gap.
    pub(super) fn pause(&mut self) {
        if self.current.take().is_some() {
            self.paused = true;
        }
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
            let first = self.current.is_none() && !self.paused;
            let switch = target == Some(layer) && (keyframe || first);
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
            self.paused = false;
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
            bps: 0,
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

    fn opts(rates: &[u64], current: Option<usize>) -> Options {
        Options {
            layers: rates.iter().copied().enumerate().collect(),
            current,
        }
    }

    #[test]
    fn a_capped_pick_stays_at_or_below_the_cap() {
        let now = Instant::now();
        let on = Some(now);
        let stale = Some(now - LAYER_IDLE);
        let layers = [view(160, 0, on), view(320, 1, on), view(640, 2, on)];
        assert_eq!(pick_capped(now, &layers, |l| l, None, 1), Some(1));
        assert_eq!(pick_capped(now, &layers, |l| l, None, 2), Some(2));
        assert_eq!(
            pick_capped(now, &layers, |l| l, Some(200), 2),
            Some(0),
            "the width still counts"
        );
        let middle_off = [view(160, 0, on), view(320, 1, stale), view(640, 2, on)];
        assert_eq!(
            pick_capped(now, &middle_off, |l| l, None, 1),
            Some(0),
            "below the cap"
        );
        let low_off = [view(160, 0, stale), view(320, 1, on), view(640, 2, on)];
        assert_eq!(
            pick_capped(now, &low_off, |l| l, None, 0),
            Some(1),
            "nothing that low: the narrowest"
        );
    }

    #[test]
    fn candidates_are_the_active_layers_that_fit_worst_first() {
        let now = Instant::now();
        let on = Some(now);
        let stale = Some(now - LAYER_IDLE);
        let layers = [view(640, 2, on), view(160, 0, on), view(320, 1, stale)];
        assert_eq!(candidates(now, &layers, |l| l, None), vec![1, 0]);
        assert_eq!(candidates(now, &layers, |l| l, Some(200)), vec![1]);
        assert_eq!(
            candidates(now, &layers, |l| l, Some(100)),
            vec![1],
            "none fits: the narrowest"
        );
        assert!(candidates(now, &[view(0, 0, None)], |l| l, None).is_empty());
    }

    #[test]
    fn allocation_gives_everyone_a_floor_then_steps_up_in_turn() {
        let rates = [150_000, 500_000, 1_500_000];
        let three = |cur| opts(&rates, cur);
        // Plenty: everyone on top.
        assert_eq!(
            allocate(10_000_000, &[three(Some(2)), three(Some(2))], true),
            vec![Some(2), Some(2)]
        );
        // 1.2 Mbit/s for two held on their middle layer: both stay there.
        assert_eq!(
            allocate(1_200_000, &[three(Some(1)), three(Some(1))], true),
            vec![Some(1), Some(1)]
        );
        // Stepping up needs the margin: 2 × 500 k fits 1.0 M held, not fresh.
        assert_eq!(
            allocate(1_000_000, &[three(Some(1)), three(Some(1))], true),
            vec![Some(1), Some(1)]
        );
        assert_eq!(
            allocate(1_000_000, &[three(Some(0)), three(Some(0))], true),
            vec![Some(1), Some(0)]
        );
        // Not even the floor for the second: it is paused, the first is not starved.
        assert_eq!(
            allocate(200_000, &[three(Some(0)), three(Some(0))], true),
            vec![Some(0), None]
        );
        // Below every floor, the first still gets its worst layer: some
        // video keeps flowing (and with it the feedback that can recover).
        assert_eq!(
            allocate(100_000, &[three(Some(0)), three(Some(0))], true),
            vec![Some(0), None]
        );
        assert_eq!(
            allocate(100_000, &[opts(&[], None), three(None)], true),
            vec![None, Some(0)]
        );
        // No candidate layers: nothing to give.
        assert_eq!(allocate(1_000_000, &[opts(&[], None)], true), vec![None]);
        // Without loss (may_pause false) nobody pauses: all get a floor.
        assert_eq!(
            allocate(100_000, &[three(Some(0)), three(Some(0))], false),
            vec![Some(0), Some(0)]
        );
        // Unmeasured layers cost nothing: the best is taken.
        assert_eq!(allocate(0, &[opts(&[0, 0], None)], true), vec![Some(1)]);
    }

    #[test]
    fn desired_counts_the_margin_only_for_a_step_up() {
        let rates = [100_000, 1_000_000];
        assert_eq!(desired(&[opts(&rates, Some(1))]), 1_000_000);
        assert_eq!(desired(&[opts(&rates, Some(0))]), 1_250_000);
        assert_eq!(
            desired(&[opts(&rates, Some(0)), opts(&[], None)]),
            1_250_000
        );
    }

    #[test]
    fn a_paused_stream_resumes_at_a_key_frame_without_a_gap() {
        let t = Instant::now();
        let mut s = LayerSwitch::default();
        assert_eq!(
            s.on_packet(t, 0, 10, 100, false, Some(0)).map(|o| o.seq),
            Some(1)
        );
        s.pause();
        assert_eq!(s.current(), None);
        assert_eq!(
            s.on_packet(t, 0, 11, 100, false, Some(0)),
            None,
            "resumes only at a key frame"
        );
        assert_eq!(
            s.on_packet(t, 0, 20, 400, true, Some(0)).map(|o| o.seq),
            Some(2)
        );
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
