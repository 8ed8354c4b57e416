//! The replay window of one received stream (one KID: a leaf's context in
//! an epoch): which of the last [`REPLAY_WINDOW`] frame counters were seen.
//! Lives as long as that stream's key in the receiver.

use super::REPLAY_WINDOW;
use crate::error::FrameError;

pub(super) struct ReplayWindow {
    highest: Option<u64>,
    /// Bit `ctr % REPLAY_WINDOW`: counter `ctr` (within the window) was seen.
    seen: [u64; (REPLAY_WINDOW / 64) as usize],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow {
            highest: None,
            seen: [0; (REPLAY_WINDOW / 64) as usize],
        }
    }
}

impl ReplayWindow {
    pub(super) fn check(&self, ctr: u64) -> Result<(), FrameError> {
        let Some(h) = self.highest else { return Ok(()) };
        if ctr > h {
            return Ok(());
        }
        if h - ctr >= REPLAY_WINDOW {
            return Err(FrameError::TooOld(ctr));
        }
        if self.bit(ctr) {
            return Err(FrameError::Replayed(ctr));
        }
        Ok(())
    }

    fn bit(&self, ctr: u64) -> bool {
        let i = ctr % REPLAY_WINDOW;
        self.seen[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, ctr: u64, on: bool) {
        let i = ctr % REPLAY_WINDOW;
        let word = &mut self.seen[(i / 64) as usize];
        if on {
            *word |= 1 << (i % 64);
        } else {
            *word &= !(1 << (i % 64));
        }
    }

    /// Records `ctr` (after [`ReplayWindow::check`] let it through).
    pub(super) fn record(&mut self, ctr: u64) {
        match self.highest {
            Some(h) if ctr <= h => {}
            Some(h) if ctr - h < REPLAY_WINDOW => {
                // Counters skipped on the way to `ctr` were not seen.
                for skipped in h + 1..ctr {
                    self.set(skipped, false);
                }
                self.highest = Some(ctr);
            }
            _ => {
                self.seen = [0; (REPLAY_WINDOW / 64) as usize];
                self.highest = Some(ctr);
            }
        }
        self.set(ctr, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_window_shifts() {
        let mut w = ReplayWindow::default();
        w.record(5);
        assert_eq!(w.check(5), Err(FrameError::Replayed(5)));
        assert!(w.check(4).is_ok());
        w.record(500);
        assert_eq!(
            w.check(5),
            Err(FrameError::Replayed(5)),
            "still in the window"
        );
        assert!(w.check(499).is_ok());
        w.record(499);
        assert_eq!(w.check(499), Err(FrameError::Replayed(499)));
        w.record(5000);
        assert_eq!(w.check(500), Err(FrameError::TooOld(500)));
        assert!(w.check(5000 - REPLAY_WINDOW + 1).is_ok());
        // A counter that wraps onto an old slot is not mistaken for it.
        assert!(w.check(5000 + REPLAY_WINDOW - 1).is_ok());
        w.record(5000 + REPLAY_WINDOW - 1);
        assert!(w.check(5000 + 2 * REPLAY_WINDOW - 1).is_ok());
    }

    #[test]
    fn replay_window_matches_a_plain_set_of_recent_counters() {
        // Against a model: seen = every recorded counter; too old = below highest - window.
        let mut w = ReplayWindow::default();
        let mut seen = std::collections::BTreeSet::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut base = 0u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            base += x % 5;
            let ctr = (base + x % 2000).saturating_sub(1000);
            let highest = seen.iter().next_back().copied();
            let want = match highest {
                Some(h) if ctr <= h && h - ctr >= REPLAY_WINDOW => Err(FrameError::TooOld(ctr)),
                _ if seen.contains(&ctr) => Err(FrameError::Replayed(ctr)),
                _ => Ok(()),
            };
            assert_eq!(w.check(ctr), want, "counter {ctr}, highest {highest:?}");
            if want.is_ok() {
                w.record(ctr);
                seen.insert(ctr);
            }
        }
    }
}
