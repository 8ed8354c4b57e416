//! Releasing what waits: every connection touched since the last flush
//! sends its sealed copies and runs its `Rtc` if that has work, on several
//! cores when many wait; a video frame's leading packets may wait for its
//! last ([`FRAME_HOLD`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ids::PeerKey;
use super::peer::{release, Peer, PollOut};
use super::{Sfu, Transmit, Via, MAX_SEGMENTED_BYTES};
use crate::metrics::Metrics;

/// How long [`Sfu::flush_if_due`] may hold the copies of a video frame's
/// leading packets waiting for its last (marker) packet, so each subscriber's
/// share of a frame leaves in few releases and batched sends: each release
/// of a peer costs str0m about as much as three packets. The frame is
/// complete (decodable) only with its last packet, which is never held, so
/// frame latency grows only by the extra copies made at that moment. 5 ms is
/// the step browsers' pacers have long used, so what leaves in one go stays
/// as small a burst as the publisher's own pacing made it (docs/benchmarks.md
/// has the measured trade: 1, 5 and 10 ms against paced input).
pub(super) const FRAME_HOLD: Duration = Duration::from_millis(5);

/// Sends datagrams from whichever thread released them: the engine's socket.
pub trait SendNow: Send + Sync {
    /// Sends what can be sent without waiting and removes it from `transmits`;
    /// what is left goes out with the engine's next send.
    fn send_now(&self, transmits: &mut Vec<Transmit>);
}

#[derive(Clone)]
pub(super) struct Fanout {
    pub(super) threads: usize,
    pub(super) sender: Arc<dyn SendNow>,
}

/// Fewest peers per group worth a core of its own in [`Sfu::flush`].
const FANOUT_MIN_PEERS: usize = 16;

impl Sfu {
    /// [`Sfu::flush`] unless all that waits is the start of a video frame
    /// whose last packet has not arrived yet and is younger than `FRAME_HOLD`.
    /// The engine calls this after each batch of received datagrams.
    pub fn flush_if_due(&mut self, now: Instant) {
        let holding = self
            .held_since
            .is_some_and(|t| now.saturating_duration_since(t) < FRAME_HOLD);
        if self.flush_due || !holding {
            self.flush(now);
        }
    }

    /// Lets every peer touched since the last flush send what it queued. Run
    /// right after writes: str0m's pacer otherwise holds a packet until the
    /// peer's next timer (~7.5 ms later).
    pub fn flush(&mut self, now: Instant) {
        self.held_since = None;
        self.flush_due = false;
        // Events seen while releasing (say a key-frame request to relay to a
        // publisher) can dirty more peers: release those now too.
        for _ in 0..3 {
            if self.dirty.is_empty() {
                break;
            }
            self.release_dirty(now);
        }
    }

    /// Releases every dirty peer once, on several cores if many wait.
    pub(super) fn release_dirty(&mut self, now: Instant) {
        if let Some(fanout) = self.fanout.clone() {
            let parts = fanout.threads.min(self.dirty.len() / FANOUT_MIN_PEERS);
            if parts > 1 {
                return self.flush_parallel(now, parts, &*fanout.sender);
            }
        }
        let mut out = std::mem::take(&mut self.out_buf);
        while let Some(key) = self.dirty.pop() {
            if let Some(peer) = self.peers.get_mut(&key) {
                peer.dirty = false;
                release(now, key, peer, &mut out);
            }
        }
        self.transmits.append(&mut out.transmits);
        self.finish(now, out);
    }

    /// [`Sfu::release_dirty`] for many peers: they are split into `parts`
    /// groups that release their packets on several cores at once (each
    /// group's datagrams are sent from its own thread), so one big room is not
    /// bound to one core.
    pub(super) fn flush_parallel(&mut self, now: Instant, parts: usize, sender: &dyn SendNow) {
        self.dirty.clear();
        Metrics::add(&self.metrics.parallel_flushes, 1);
        let mut peers: Vec<(PeerKey, &mut Peer)> = self
            .peers
            .iter_mut()
            .filter(|(_, p)| p.dirty)
            .map(|(k, p)| {
                p.dirty = false;
                (*k, p)
            })
            .collect();
        let per_part = peers.len().div_ceil(parts);
        let mut outs: Vec<PollOut> = (0..parts).map(|_| PollOut::default()).collect();
        let work = |group: &mut [(PeerKey, &mut Peer)], out: &mut PollOut| {
            for (key, peer) in group.iter_mut() {
                release(now, *key, peer, out);
            }
            sender.send_now(&mut out.transmits);
        };
        rayon::in_place_scope(|scope| {
            let mut groups = peers.chunks_mut(per_part);
            let mut outs_iter = outs.iter_mut();
            let first = groups.next().zip(outs_iter.next());
            for (group, out) in groups.zip(outs_iter) {
                scope.spawn(move |_| work(group, out));
            }
            if let Some((group, out)) = first {
                work(group, out);
            }
        });
        drop(peers);
        for mut out in outs {
            // What the sender could not send now leaves with the engine's next send.
            self.transmits.append(&mut out.transmits);
            self.finish(now, out);
        }
    }
}

/// The buffer the next sealed copy of `len` bytes to `dest` goes into: the end
/// of the queue's last segmented send when GSO can carry it there (same
/// address, every segment so far `len` bytes or more and full, room left),
/// else a new datagram.
pub(super) fn segment_buf(
    queue: &mut Vec<Transmit>,
    dest: (SocketAddr, Via),
    len: usize,
    max_segments: usize,
    expect_more: bool,
) -> &mut Vec<u8> {
    let joins = queue.last().is_some_and(|t| {
        let seg = t.segment_size.unwrap_or(t.contents.len());
        (t.destination, t.via) == dest
            && seg > 0
            && len <= seg
            && t.contents.len() % seg == 0
            && t.contents.len() / seg < max_segments
            && t.contents.len() + len <= MAX_SEGMENTED_BYTES
    });
    if !joins {
        // Room for a video frame's usual packets (growing the buffer would
        // copy it), and the cipher's slack.
        let segments = if expect_more { max_segments.min(8) } else { 1 };
        let cap = len * segments + 16;
        queue.push(Transmit::single(dest, Vec::with_capacity(cap)));
    }
    let t = queue.last_mut().expect("pushed above");
    if joins {
        t.segment_size = Some(t.segment_size.unwrap_or(t.contents.len()));
    }
    &mut t.contents
}
