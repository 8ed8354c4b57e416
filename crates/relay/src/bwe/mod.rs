//! Bandwidth estimation for what the relay sends one subscriber, from that
//! subscriber's transport-wide congestion-control feedback
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01). Pure and
//! deterministic: packets sent and feedback in (with their times), an
//! estimate out; the forwarding core (`crate::sfu`) numbers its sends,
//! feeds the feedback, and chooses layers with the estimate.
//!
//! Why not str0m's estimator: str0m estimates only for packets its own
//! pacer sends, and the relay seals almost every copy itself (the direct
//! path, `crate::srtp`); its estimator cannot be fed from outside. This one
//! follows the same model (Google Congestion Control, as libwebrtc, str0m
//! and Signal's calling server do), kept small:
//! - `history`: what was sent, by transport-wide sequence number;
//! - `delay`: is a queue building on the path (trendline over groups);
//! - `queue`: does it stand (every recent packet waited), or was it a stall;
//! - this file: the rate — cut to 85 % of what arrived when the queue
//!   grows or more than 10 % of the last second's packets are lost, grown
//!   slowly (8 %/s, never far above what arrives) while the path is
//!   stable, and raised in steps by
//!   **probes**: for [`PROBE_DURATION`] the relay sends at a higher rate
//!   (retransmission copies fill the gap) and, if those packets arrive as
//!   fast as they left with no queue building, the estimate takes the
//!   probe's rate.

mod delay;
mod history;
mod queue;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub(crate) use delay::Signal;
pub(crate) use history::{PacketResult, SendHistory};

use delay::DelayDetector;
use queue::StandingQueue;

/// The estimate a new subscriber starts with: enough for a 720p camera
/// layer, so a good link sees full quality at once; a weaker one is found
/// out within the first second of feedback.
pub(crate) const START_BPS: u64 = 2_500_000;
/// Never estimate below this: audio and the smallest layer's worth.
pub(crate) const MIN_BPS: u64 = 60_000;
/// Nor above this.
pub(crate) const MAX_BPS: u64 = 50_000_000;

/// How long one probe raises the sending rate.
pub(crate) const PROBE_DURATION: Duration = Duration::from_millis(300);
/// A probe aims at most this many times the estimate.
const PROBE_STEP: f64 = 1.6;
/// Wait after a successful probe before the next.
const PROBE_AGAIN: Duration = Duration::from_millis(800);
/// Wait after a failed probe, doubled on each failure up to [`PROBE_BACKOFF_MAX`].
const PROBE_BACKOFF: Duration = Duration::from_secs(2);
const PROBE_BACKOFF_MAX: Duration = Duration::from_secs(8);
/// No probe this soon after a cut.
const QUIET_AFTER_DECREASE: Duration = Duration::from_secs(2);
/// Cuts are at most this frequent (about a round trip and a feedback interval).
const DECREASE_INTERVAL: Duration = Duration::from_millis(300);
/// Loss above this is congestion whatever the delay says.
const HEAVY_LOSS: f64 = 0.10;
/// Loss is the share of packets lost among those reported over this window.
const LOSS_WINDOW: Duration = Duration::from_secs(1);
/// Fewest packets the window must hold before its loss counts: a
/// subscriber that receives only audio has ~10 packets in a feedback
/// report, where one loss (a packet sent before its stream was set up at
/// the browser, a send the kernel refused) reads as 10 %.
const LOSS_MIN_PACKETS: u32 = 40;
/// How long after heavy loss video may still be paused ([`Estimator::lossy`]).
const LOSSY_FOR: Duration = Duration::from_secs(5);
/// The window over which "what arrived" is measured.
const ACKED_WINDOW: Duration = Duration::from_millis(500);

/// A probe under way or waiting for its feedback.
#[derive(Debug, Clone)]
struct Probe {
    target: u64,
    start: Instant,
    end: Instant,
    /// Packets sent in [start, end]: bytes that arrived, first and last
    /// arrival, lost count, received count, and whether feedback reached
    /// past the window's end.
    bytes: u64,
    first_arrival: Option<Instant>,
    last_arrival: Option<Instant>,
    lost: u32,
    received: u32,
    covered: bool,
    overuse: bool,
}

/// What a finished probe showed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ProbeOutcome {
    /// The path carried the probe's rate: the estimate rose to this.
    Raised(u64),
    /// It did not: the next probe waits longer.
    Failed,
}

/// The estimator for one subscriber's path.
#[derive(Debug)]
pub(crate) struct Estimator {
    estimate: u64,
    delay: DelayDetector,
    queue: StandingQueue,
    /// (arrival, bytes) of recently arrived packets.
    acked: VecDeque<(Instant, u32)>,
    acked_bytes: u64,
    /// (feedback time, lost, received) of the reports in [`LOSS_WINDOW`].
    reports: VecDeque<(Instant, u32, u32)>,
    /// Share of the packets in `reports` that were lost (0 while they
    /// are fewer than [`LOSS_MIN_PACKETS`]).
    loss: f64,
    last_decrease: Option<Instant>,
    /// When the loss last passed [`HEAVY_LOSS`].
    heavy_loss_at: Option<Instant>,
    last_update: Option<Instant>,
    probe: Option<Probe>,
    next_probe: Option<Instant>,
    backoff: Duration,
}

impl Estimator {
    pub(crate) fn new() -> Estimator {
        Estimator {
            estimate: START_BPS,
            delay: DelayDetector::default(),
            queue: StandingQueue::default(),
            acked: VecDeque::new(),
            acked_bytes: 0,
            reports: VecDeque::new(),
            loss: 0.0,
            last_decrease: None,
            heavy_loss_at: None,
            last_update: None,
            probe: None,
            next_probe: None,
            backoff: PROBE_BACKOFF,
        }
    }

    /// The estimate, bits per second.
    pub(crate) fn estimate(&self) -> u64 {
        self.estimate
    }

    /// What arrived over the last [`ACKED_WINDOW`], bits per second
    /// (`None` until there is enough to tell).
    pub(crate) fn acked_bps(&self) -> Option<u64> {
        let (first, last) = (self.acked.front()?.0, self.acked.back()?.0);
        let span = last.saturating_duration_since(first);
        if span < ACKED_WINDOW / 2 {
            return None;
        }
        let bytes = self.acked_bytes - u64::from(self.acked.front()?.1);
        Some(bytes * 8 * 1_000_000 / span.as_micros().max(1) as u64)
    }

    /// The path lost heavily of late. Pausing a video track (what a viewer
    /// notices most) needs this as well as a low estimate: a stall at
    /// either end (CPU) delays packets as a bottleneck does, and can pull
    /// the estimate down, but loses none.
    pub(crate) fn lossy(&self, now: Instant) -> bool {
        self.heavy_loss_at
            .is_some_and(|t| now.saturating_duration_since(t) < LOSSY_FOR)
    }

    /// The share of packets lost over the last [`LOSS_WINDOW`].
    #[cfg(test)]
    pub(crate) fn loss(&self) -> f64 {
        self.loss
    }

    /// The rate to send at now while a probe runs (`None`: no probe).
    pub(crate) fn probing(&self, now: Instant) -> Option<(Instant, u64)> {
        self.probe
            .as_ref()
            .filter(|p| now < p.end)
            .map(|p| (p.start, p.target))
    }

    /// Starts a probe if the subscriber wants more than the estimate
    /// (`desired`, bits per second, with the margin a step up needs) and
    /// the path has been calm; returns its target rate.
    pub(crate) fn maybe_probe(&mut self, now: Instant, desired: u64) -> Option<u64> {
        if self.probe.is_some()
            || desired <= self.estimate
            || self.next_probe.is_some_and(|t| now < t)
            || self.queue_grows()
            || self
                .last_decrease
                .is_some_and(|t| now.saturating_duration_since(t) < QUIET_AFTER_DECREASE)
        {
            return None;
        }
        let target = desired.min((self.estimate as f64 * PROBE_STEP) as u64);
        self.probe = Some(Probe {
            target,
            start: now,
            end: now + PROBE_DURATION,
            bytes: 0,
            first_arrival: None,
            last_arrival: None,
            lost: 0,
            received: 0,
            covered: false,
            overuse: false,
        });
        Some(target)
    }

    /// Takes one feedback report's packets (in sequence order) at `now`;
    /// returns what a probe it concluded showed.
    pub(crate) fn on_feedback(
        &mut self,
        now: Instant,
        results: &[PacketResult],
    ) -> Option<ProbeOutcome> {
        if results.is_empty() {
            return None;
        }
        let (mut lost, mut received) = (0u32, 0u32);
        for r in results {
            let in_probe = self.probe.as_mut().filter(|p| r.sent >= p.start);
            match r.arrived {
                Some(at) => {
                    received += 1;
                    self.delay.on_packet(r.sent, at);
                    self.queue.on_packet(r.sent, at);
                    self.acked.push_back((at, r.size));
                    self.acked_bytes += u64::from(r.size);
                    if let Some(p) = in_probe {
                        if r.sent <= p.end {
                            p.received += 1;
                            p.bytes += u64::from(r.size);
                            p.first_arrival = Some(p.first_arrival.map_or(at, |f| f.min(at)));
                            p.last_arrival = Some(p.last_arrival.map_or(at, |l| l.max(at)));
                        } else {
                            p.covered = true;
                        }
                    }
                }
                None => {
                    lost += 1;
                    if let Some(p) = in_probe {
                        if r.sent <= p.end {
                            p.lost += 1;
                        } else {
                            p.covered = true;
                        }
                    }
                }
            }
            if self.probe.is_some() && self.queue_grows() {
                if let Some(p) = self.probe.as_mut() {
                    p.overuse = true;
                }
            }
        }
        // Keep the acked window.
        if let Some(newest) = self.acked.back().map(|a| a.0) {
            while self
                .acked
                .front()
                .is_some_and(|a| newest.saturating_duration_since(a.0) > ACKED_WINDOW)
            {
                if let Some((_, size)) = self.acked.pop_front() {
                    self.acked_bytes -= u64::from(size);
                }
            }
        }
        self.loss = self.windowed_loss(now, lost, received);
        if self.loss > HEAVY_LOSS {
            self.heavy_loss_at = Some(now);
        }
        self.update_rate(now);
        self.conclude_probe(now)
    }

    /// A queue builds on the path: the delay trend rises *and* every recent
    /// packet waited (queue.rs: a CPU stall at either end raises the
    /// trend too, but lets the packets after it through at once).
    fn queue_grows(&self) -> bool {
        self.delay.signal() == Signal::Overuse && self.queue.is_standing()
    }

    /// Adds one report's counts and returns the share lost over the last
    /// [`LOSS_WINDOW`] (0 with fewer than [`LOSS_MIN_PACKETS`] packets).
    fn windowed_loss(&mut self, now: Instant, lost: u32, received: u32) -> f64 {
        self.reports.push_back((now, lost, received));
        while self
            .reports
            .front()
            .is_some_and(|r| now.saturating_duration_since(r.0) > LOSS_WINDOW)
        {
            self.reports.pop_front();
        }
        let (lost, received) = self
            .reports
            .iter()
            .fold((0u32, 0u32), |(l, r), x| (l + x.1, r + x.2));
        let total = lost + received;
        if total < LOSS_MIN_PACKETS {
            return 0.0;
        }
        f64::from(lost) / f64::from(total)
    }

    fn update_rate(&mut self, now: Instant) {
        let dt = self
            .last_update
            .replace(now)
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
            .min(Duration::from_secs(1));
        let acked = self.acked_bps();
        let may_cut = self
            .last_decrease
            .is_none_or(|t| now.saturating_duration_since(t) >= DECREASE_INTERVAL);
        let congested = self.queue_grows() || self.loss > HEAVY_LOSS;
        if congested && may_cut {
            // 85 % of what arrives, as libwebrtc's AIMD does: repeated cuts
            // while a queue drains land on the same rate instead of
            // compounding (85 % of 85 % of ...: a viewer on a 400 kbit/s
            // link fell to 140 kbit/s, less than its audio and smallest
            // layer). The estimate never rises by a cut.
            let mut cut = acked.map_or(self.estimate, |a| (a as f64 * 0.85) as u64);
            if self.loss > HEAVY_LOSS {
                cut = cut.min((self.estimate as f64 * (1.0 - 0.5 * self.loss)) as u64);
                // Each loss measured cuts once: the next loss cut needs a
                // window of packets sent after this one.
                self.reports.clear();
            }
            let cut = cut.min(self.estimate);
            tracing::debug!(
                from = self.estimate,
                to = cut,
                ?acked,
                loss = self.loss,
                queue = ?self.queue.standing(),
                "estimate cut"
            );
            self.estimate = cut;
            self.last_decrease = Some(now);
        } else if !congested && self.delay.signal() != Signal::Underuse {
            // Grow 8 %/s, but not far past what actually arrives.
            let grown = self.estimate as f64 * (1.0 + 0.08 * dt.as_secs_f64());
            let ceiling = acked.map_or(u64::MAX, |a| a + a / 2 + 100_000);
            if (self.estimate) < ceiling {
                self.estimate = (grown as u64).min(ceiling);
            }
        }
        self.estimate = self.estimate.clamp(MIN_BPS, MAX_BPS);
    }

    fn conclude_probe(&mut self, now: Instant) -> Option<ProbeOutcome> {
        let p = self.probe.as_ref()?;
        let timed_out = now.saturating_duration_since(p.end) > Duration::from_secs(2);
        if !p.covered && !timed_out {
            return None;
        }
        let p = self.probe.take()?;
        // The packets sent during the probe arrived over `span`: on a path
        // with room as fast as they left, on a narrower one spread out.
        let span = match (p.first_arrival, p.last_arrival) {
            (Some(first), Some(last)) => last.saturating_duration_since(first),
            _ => Duration::ZERO,
        }
        .max(PROBE_DURATION);
        let rate = (p.bytes as f64 * 8.0 / span.as_secs_f64()) as u64;
        let lossy = f64::from(p.lost) > 0.1 * f64::from(p.lost + p.received);
        let ok = !p.overuse && !lossy && !timed_out && rate * 10 >= p.target * 8;
        if ok {
            self.estimate = self
                .estimate
                .max(rate.min(p.target))
                .clamp(MIN_BPS, MAX_BPS);
            self.backoff = PROBE_BACKOFF;
            self.next_probe = Some(now + PROBE_AGAIN);
            Some(ProbeOutcome::Raised(self.estimate))
        } else {
            self.next_probe = Some(now + self.backoff);
            self.backoff = (self.backoff * 2).min(PROBE_BACKOFF_MAX);
            Some(ProbeOutcome::Failed)
        }
    }
}

#[cfg(test)]
mod tests;
