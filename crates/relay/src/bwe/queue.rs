//! Is a queue *standing* on the path: did every packet of the last
//! [`STANDING_WINDOW`] wait at least [`STANDING_TARGET`] longer than the
//! fastest packet of the last [`BASE_WINDOW`]? (The test CoDel uses to tell
//! a bad queue from a burst.)
//!
//! The delay trend (`delay.rs`) also rises when a receiver or the relay is
//! short of CPU: packets are read late for a few milliseconds, then all at
//! once. Cutting the estimate on such a trend alone sent every subscriber
//! of a loaded machine to its floor within a minute (on loopback, with four
//! browsers on two cores). A bottleneck's queue delays *every* packet while
//! it lasts; a stall lets the packets after it through at once. So the
//! estimator cuts on delay only while the queue stands.
//!
//! One-way delays are arrival (the receiver's clock) minus send time (ours),
//! so they hold an unknown constant offset; only differences from the
//! minimum matter. Both minima are sliding-window minima kept in monotonic
//! queues (amortized O(1) a packet).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long every packet must have waited for a queue to count as standing.
pub(crate) const STANDING_WINDOW: Duration = Duration::from_millis(100);
/// How much longer than the path's fastest they must have waited.
pub(crate) const STANDING_TARGET: Duration = Duration::from_millis(10);
/// Over how long the path's fastest delay is taken (long enough to see an
/// empty queue, short enough to follow a route change).
pub(crate) const BASE_WINDOW: Duration = Duration::from_secs(10);

/// Sliding-window minimum of (time, value) over `window`.
#[derive(Debug)]
struct WindowMin {
    window: Duration,
    items: VecDeque<(Instant, i64)>,
}

impl WindowMin {
    fn new(window: Duration) -> WindowMin {
        WindowMin {
            window,
            items: VecDeque::new(),
        }
    }

    fn push(&mut self, at: Instant, value: i64) {
        while self.items.back().is_some_and(|b| b.1 >= value) {
            self.items.pop_back();
        }
        self.items.push_back((at, value));
        while self
            .items
            .front()
            .is_some_and(|f| at.saturating_duration_since(f.0) > self.window)
        {
            self.items.pop_front();
        }
    }

    fn min(&self) -> Option<i64> {
        self.items.front().map(|f| f.1)
    }
}

/// The standing-queue test for one subscriber's path.
#[derive(Debug)]
pub(crate) struct StandingQueue {
    recent: WindowMin,
    base: WindowMin,
    /// The first arrival seen: no verdict before a whole recent window.
    since: Option<Instant>,
}

impl Default for StandingQueue {
    fn default() -> Self {
        StandingQueue {
            recent: WindowMin::new(STANDING_WINDOW),
            base: WindowMin::new(BASE_WINDOW),
            since: None,
        }
    }
}

/// Signed microseconds from `b` to `a`.
fn micros(a: Instant, b: Instant) -> i64 {
    if a >= b {
        (a - b).as_micros() as i64
    } else {
        -((b - a).as_micros() as i64)
    }
}

impl StandingQueue {
    /// A packet sent at `sent` arrived at `arrived` (receiver's clock).
    pub(crate) fn on_packet(&mut self, sent: Instant, arrived: Instant) {
        let delay = micros(arrived, sent);
        self.since.get_or_insert(arrived);
        self.recent.push(arrived, delay);
        self.base.push(arrived, delay);
    }

    /// How much longer than the path's fastest every recent packet waited
    /// (`None` before a whole window has been seen).
    pub(crate) fn standing(&self) -> Option<Duration> {
        let since = self.since?;
        let last = self.recent.items.back()?.0;
        if last.saturating_duration_since(since) < STANDING_WINDOW {
            return None;
        }
        let excess = self.recent.min()? - self.base.min()?;
        Some(Duration::from_micros(excess.max(0) as u64))
    }

    /// A queue stands on the path.
    pub(crate) fn is_standing(&self) -> bool {
        self.standing().is_some_and(|d| d >= STANDING_TARGET)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_stall_is_not_a_standing_queue_but_a_bottleneck_is() {
        let t0 = Instant::now();
        let mut q = StandingQueue::default();
        // 1 s of a clean path: a packet every 5 ms, 20 ms one way.
        for i in 0..200 {
            let sent = t0 + ms(5 * i);
            q.on_packet(sent, sent + ms(20));
        }
        assert_eq!(q.standing(), Some(Duration::ZERO));
        // The receiver stalls 60 ms: the packets of that time arrive at once,
        // late, then the path is clean again.
        let stall = t0 + ms(1000);
        for i in 0..12 {
            q.on_packet(stall + ms(5 * i), stall + ms(80));
        }
        assert!(!q.is_standing(), "right after a stall: {:?}", q.standing());
        for i in 12..40 {
            let sent = stall + ms(5 * i);
            q.on_packet(sent, sent + ms(20));
            assert!(!q.is_standing(), "after a stall: {:?}", q.standing());
        }
        // A bottleneck: each packet waits 2 ms more than the one before.
        let jam = t0 + ms(1200);
        let mut standing_at = None;
        for i in 0..60u64 {
            let sent = jam + ms(5 * i);
            q.on_packet(sent, sent + ms(20 + 2 * i));
            if q.is_standing() && standing_at.is_none() {
                standing_at = Some(i);
            }
        }
        let i = standing_at.expect("a growing queue stands");
        assert!((15..=30).contains(&i), "standing after {i} packets");
    }

    #[test]
    fn no_verdict_before_a_whole_window() {
        let t0 = Instant::now();
        let mut q = StandingQueue::default();
        q.on_packet(t0, t0 + ms(50));
        assert_eq!(q.standing(), None);
        assert!(!q.is_standing());
    }
}
