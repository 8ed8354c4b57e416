//! What the relay sent one subscriber, by transport-wide sequence number:
//! each packet's size and send time, kept until the subscriber's
//! transport-wide congestion-control feedback says whether and when it
//! arrived ([`SendHistory::results`]). A ring: old entries are overwritten.

use std::time::{Duration, Instant};

/// Packets remembered: at 2.5 Mbit/s (~260 packets/s) about 4 s, far more
/// than feedback (every 50–250 ms) ever lags.
const SLOTS: usize = 1024;

/// One packet sent, in 16 bytes (every copy the relay sends writes one, so
/// a subscriber's ring stays small enough to stay in cache).
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The low 32 bits of the extended sequence number ([`EMPTY`] before
    /// the first); feedback only asks for the last `SLOTS` numbers, each
    /// in its own slot.
    seq: u32,
    /// Bytes (a UDP datagram's worth at most).
    size: u16,
    /// Feedback has reported it received; later reports are ignored.
    acked: bool,
    /// Nanoseconds after the history began (584 years).
    sent: u64,
}

/// `Slot::seq` of a slot never written.
const EMPTY: u32 = u32::MAX;

/// One packet as the feedback reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PacketResult {
    pub(crate) seq: u64,
    /// Bytes on the wire (the SRTP packet).
    pub(crate) size: u32,
    pub(crate) sent: Instant,
    /// When it arrived (the receiver's clock), `None`: lost.
    pub(crate) arrived: Option<Instant>,
}

/// The send record of one subscriber's transport.
#[derive(Debug)]
pub(crate) struct SendHistory {
    slots: Box<[Slot]>,
    next: u64,
    /// Send times count from here.
    base: Instant,
}

impl SendHistory {
    pub(crate) fn new(now: Instant) -> SendHistory {
        let empty = Slot {
            seq: EMPTY,
            size: 0,
            acked: false,
            sent: 0,
        };
        SendHistory {
            slots: vec![empty; SLOTS].into_boxed_slice(),
            next: 0,
            base: now,
        }
    }

    /// Records a packet of `size` bytes sent at `now`; returns its
    /// transport-wide sequence number (the low 16 bits go on the wire).
    pub(crate) fn record(&mut self, now: Instant, size: usize) -> u64 {
        let seq = self.next;
        self.next += 1;
        self.slots[seq as usize % SLOTS] = Slot {
            seq: seq as u32,
            size: size.min(u16::MAX as usize) as u16,
            acked: false,
            sent: now.saturating_duration_since(self.base).as_nanos() as u64,
        };
        seq
    }

    /// The last sequence number handed out (feedback's 16-bit numbers are
    /// extended towards it).
    pub(crate) fn last(&self) -> u64 {
        self.next.saturating_sub(1)
    }

    /// The packets a feedback report covers, in sequence order: `reports`
    /// are (extended sequence number, arrival) pairs. Numbers never sent,
    /// forgotten, or already reported received are skipped.
    pub(crate) fn results(
        &mut self,
        reports: impl Iterator<Item = (u64, Option<Instant>)>,
    ) -> Vec<PacketResult> {
        let mut out: Vec<PacketResult> = Vec::new();
        for (seq, arrived) in reports {
            if seq >= self.next {
                continue;
            }
            let slot = &mut self.slots[seq as usize % SLOTS];
            if slot.seq != seq as u32 || slot.acked || seq + (SLOTS as u64) < self.next {
                continue;
            }
            slot.acked = arrived.is_some();
            out.push(PacketResult {
                seq,
                size: u32::from(slot.size),
                sent: self.base + Duration::from_nanos(slot.sent),
                arrived,
            });
        }
        out.sort_by_key(|r| r.seq);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feedback_finds_what_was_sent_once() {
        let t = Instant::now();
        let mut h = SendHistory::new(t);
        for i in 0..10u64 {
            assert_eq!(h.record(t + Duration::from_millis(i), 1000 + i as usize), i);
        }
        let at = t + Duration::from_millis(50);
        let r = h.results([(3, Some(at)), (2, None), (11, Some(at))].into_iter());
        assert_eq!(r.len(), 2, "11 was never sent");
        assert_eq!((r[0].seq, r[0].size, r[0].arrived), (2, 1002, None));
        assert_eq!((r[1].seq, r[1].sent), (3, t + Duration::from_millis(3)));
        // Reported again: a received packet once; a lost one may still arrive.
        let r = h.results([(3, Some(at)), (2, Some(at))].into_iter());
        assert_eq!(r.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn a_slot_is_small() {
        assert_eq!(std::mem::size_of::<Slot>(), 16);
    }

    #[test]
    fn old_packets_are_forgotten() {
        let t = Instant::now();
        let mut h = SendHistory::new(t);
        for _ in 0..SLOTS + 5 {
            h.record(t, 100);
        }
        assert!(h.results([(2, Some(t))].into_iter()).is_empty());
        assert_eq!(
            h.results([(SLOTS as u64 + 2, Some(t))].into_iter()).len(),
            1
        );
        assert_eq!(h.last(), SLOTS as u64 + 4);
    }
}
