//! Delay-based congestion detection, after Google Congestion Control
//! (draft-ietf-rmcat-gcc-02 §5 and libwebrtc's trendline estimator): when a
//! queue builds on the path, packets arrive further apart than they were
//! sent. Packets sent within [`BURST`] form a group; each pair of groups
//! gives a delay variation (arrival spacing minus send spacing); their
//! running sum, smoothed, is fitted with a line over the last
//! [`WINDOW`] groups, and the slope, against an adaptive threshold, says
//! whether the path is over-used, under-used or normal.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Packets sent this close together are one group (a frame's burst).
const BURST: Duration = Duration::from_millis(5);
/// Groups in the line fit.
const WINDOW: usize = 20;
/// Smoothing of the accumulated delay.
const SMOOTHING: f64 = 0.9;
/// Gain applied to the slope before comparing it with the threshold.
const GAIN: f64 = 4.0;
/// The slope must stay over the threshold this long to be over-use.
const OVERUSE_TIME_MS: f64 = 10.0;

/// What the path's queue is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Stable: sending may grow.
    Normal,
    /// The queue grows: send less.
    Overuse,
    /// The queue drains: hold, let it empty.
    Underuse,
}

#[derive(Debug, Clone, Copy)]
struct Group {
    first_sent: Instant,
    last_sent: Instant,
    last_arrival: Instant,
}

/// The detector for one subscriber's path.
#[derive(Debug)]
pub(crate) struct DelayDetector {
    group: Option<Group>,
    prev: Option<Group>,
    first_arrival: Option<Instant>,
    accumulated_ms: f64,
    smoothed_ms: f64,
    /// (arrival ms since the first group, smoothed delay ms).
    samples: VecDeque<(f64, f64)>,
    deltas: u32,
    threshold: f64,
    last_threshold_update: Option<Instant>,
    overusing_ms: f64,
    overuse_count: u32,
    prev_trend: f64,
    signal: Signal,
}

impl Default for DelayDetector {
    fn default() -> Self {
        DelayDetector {
            group: None,
            prev: None,
            first_arrival: None,
            accumulated_ms: 0.0,
            smoothed_ms: 0.0,
            samples: VecDeque::with_capacity(WINDOW),
            deltas: 0,
            threshold: 12.5,
            last_threshold_update: None,
            overusing_ms: 0.0,
            overuse_count: 0,
            prev_trend: 0.0,
            signal: Signal::Normal,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `a - b` in milliseconds, negative if `a` is earlier.
fn diff_ms(a: Instant, b: Instant) -> f64 {
    if a >= b {
        ms(a - b)
    } else {
        -ms(b - a)
    }
}

impl DelayDetector {
    /// The current verdict.
    pub(crate) fn signal(&self) -> Signal {
        self.signal
    }

    /// Feeds one received packet, in send order: when it was sent (the
    /// relay's clock) and arrived (the receiver's clock).
    pub(crate) fn on_packet(&mut self, sent: Instant, arrived: Instant) {
        let Some(group) = self.group.as_mut() else {
            self.group = Some(Group {
                first_sent: sent,
                last_sent: sent,
                last_arrival: arrived,
            });
            return;
        };
        if sent.saturating_duration_since(group.first_sent) <= BURST {
            group.last_sent = group.last_sent.max(sent);
            group.last_arrival = group.last_arrival.max(arrived);
            return;
        }
        let done = *group;
        self.group = Some(Group {
            first_sent: sent,
            last_sent: sent,
            last_arrival: arrived,
        });
        if let Some(prev) = self.prev.replace(done) {
            let send_delta = diff_ms(done.last_sent, prev.last_sent);
            let arrival_delta = diff_ms(done.last_arrival, prev.last_arrival);
            if arrival_delta < 0.0 {
                return; // reordered across groups: no information
            }
            self.update(done.last_arrival, arrival_delta - send_delta, send_delta);
        }
    }

    fn update(&mut self, arrival: Instant, delay_ms: f64, send_delta_ms: f64) {
        let first = *self.first_arrival.get_or_insert(arrival);
        self.deltas = self.deltas.saturating_add(1).min(1000);
        self.accumulated_ms += delay_ms;
        self.smoothed_ms = SMOOTHING * self.smoothed_ms + (1.0 - SMOOTHING) * self.accumulated_ms;
        if self.samples.len() == WINDOW {
            self.samples.pop_front();
        }
        self.samples
            .push_back((diff_ms(arrival, first), self.smoothed_ms));
        let trend = if self.samples.len() == WINDOW {
            slope(&self.samples).unwrap_or(self.prev_trend)
        } else {
            self.prev_trend
        };
        self.detect(trend, send_delta_ms, arrival);
        self.prev_trend = trend;
    }

    fn detect(&mut self, trend: f64, send_delta_ms: f64, now: Instant) {
        let modified = f64::from(self.deltas.min(60)) * trend * GAIN;
        if modified > self.threshold {
            self.overusing_ms += send_delta_ms.max(0.0);
            self.overuse_count += 1;
            if self.overusing_ms > OVERUSE_TIME_MS
                && self.overuse_count > 1
                && trend >= self.prev_trend
            {
                self.overusing_ms = 0.0;
                self.overuse_count = 0;
                self.signal = Signal::Overuse;
            }
        } else if modified < -self.threshold {
            self.overusing_ms = 0.0;
            self.overuse_count = 0;
            self.signal = Signal::Underuse;
        } else {
            self.overusing_ms = 0.0;
            self.overuse_count = 0;
            self.signal = Signal::Normal;
        }
        self.adapt_threshold(modified, now);
    }

    /// The threshold follows the slope's magnitude: slowly up, faster
    /// down, so that a competing flow's steady queue does not starve us
    /// (GCC §5.4), within 6..600.
    fn adapt_threshold(&mut self, modified: f64, now: Instant) {
        let last = self.last_threshold_update.replace(now).unwrap_or(now);
        if modified.abs() > self.threshold + 15.0 {
            return; // a spike: do not let it drag the threshold
        }
        let k = if modified.abs() < self.threshold {
            0.039
        } else {
            0.0087
        };
        let dt = ms(now.saturating_duration_since(last)).min(100.0);
        self.threshold += k * (modified.abs() - self.threshold) * dt;
        self.threshold = self.threshold.clamp(6.0, 600.0);
    }
}

/// Least-squares slope of `points`, `None` if they all share one x.
fn slope(points: &VecDeque<(f64, f64)>) -> Option<f64> {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    (den != 0.0).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `groups` frames, one every 33 ms, each 5 packets; arrival
    /// spacing stretched by `stretch` (1.0: no queue).
    fn run(d: &mut DelayDetector, t0: Instant, groups: u32, stretch: f64) -> Vec<Signal> {
        let mut out = Vec::new();
        for g in 0..groups {
            let sent = t0 + Duration::from_millis(33 * u64::from(g));
            let arrived = t0 + Duration::from_secs_f64(0.02 + 0.033 * f64::from(g) * stretch);
            for p in 0..5u64 {
                d.on_packet(sent + Duration::from_micros(p * 100), arrived);
            }
            out.push(d.signal());
        }
        out
    }

    #[test]
    fn a_steady_path_is_normal() {
        let mut d = DelayDetector::default();
        let s = run(&mut d, Instant::now(), 200, 1.0);
        assert!(s.iter().all(|s| *s == Signal::Normal), "{s:?}");
    }

    #[test]
    fn a_growing_queue_is_overuse() {
        let mut d = DelayDetector::default();
        let t0 = Instant::now();
        // Arrivals 20 % slower than sends: the queue grows by ~7 ms a frame.
        let s = run(&mut d, t0, 60, 1.2);
        let first = s.iter().position(|s| *s == Signal::Overuse);
        assert!(
            first.is_some_and(|i| i < 30),
            "overuse within a second: {s:?}"
        );
    }

    #[test]
    fn a_draining_queue_is_underuse() {
        let mut d = DelayDetector::default();
        let s = run(&mut d, Instant::now(), 60, 0.8);
        assert!(s.contains(&Signal::Underuse), "{s:?}");
    }

    #[test]
    fn slope_of_a_line() {
        let pts: VecDeque<(f64, f64)> = (0..10)
            .map(|i| (f64::from(i), 2.0 * f64::from(i) + 1.0))
            .collect();
        assert!((slope(&pts).unwrap() - 2.0).abs() < 1e-9);
        let flat: VecDeque<(f64, f64)> = (0..3).map(|_| (1.0, 1.0)).collect();
        assert_eq!(slope(&flat), None);
    }
}
