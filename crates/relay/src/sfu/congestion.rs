//! One subscriber's congestion control ([`Congestion`], per connection):
//! the transport-wide sequence numbers the relay puts on the copies it
//! seals for that subscriber, the estimate its feedback drives
//! ([`crate::bwe`]), and how many probe copies to add while a probe runs;
//! and, on each feedback, the choice of layers that fits the estimate
//! ([`Sfu::allocate`], with the pure choice in layers.rs).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use conclave_proto::rtcp;

use str0m::media::MediaKind;
use str0m::rtp::rtcp::Twcc;

use super::ids::PeerKey;
use super::layers::{allocate, candidates, desired, Options};
use super::{Sfu, Via};
use crate::bwe::{Estimator, ProbeOutcome, SendHistory};
use crate::metrics::Metrics;

/// Most probe copies added to one forwarded packet.
const PROBE_COPIES_MAX: usize = 8;
/// How far ahead of time a probe's fill runs (media comes in frames,
/// ~33 ms apart; without a lead the probe's first frame would add nothing).
const PROBE_LEAD: Duration = Duration::from_millis(30);

/// Congestion control for what the relay sends one subscriber.
#[derive(Debug)]
pub(super) struct Congestion {
    /// The transport-wide sequence number's header extension id (1..=14).
    ext_id: u8,
    history: SendHistory,
    pub(super) estimator: Estimator,
    /// Feedback's arrival times count from here (only their spacing matters).
    time_zero: Instant,
    /// Bytes sent since the running probe began.
    probe_sent: u64,
}

impl Congestion {
    /// Congestion control with the extension id the subscriber's SDP
    /// gave; `None` if it cannot be written as a one-byte extension.
    pub(super) fn new(now: Instant, ext_id: u8) -> Option<Congestion> {
        (1..=14).contains(&ext_id).then(|| Congestion {
            ext_id,
            history: SendHistory::new(now),
            estimator: Estimator::new(),
            time_zero: now,
            probe_sent: 0,
        })
    }

    /// Numbers a packet of `len` bytes (sealed) sent now; returns the
    /// extension id and the 16 bits to write.
    #[inline]
    pub(super) fn number(&mut self, now: Instant, len: usize) -> (u8, u16) {
        if self.estimator.probing(now).is_some() {
            self.probe_sent += len as u64;
        }
        let seq = self.history.record(now, len);
        (self.ext_id, seq as u16)
    }

    /// How many probe copies of `len` bytes to send now, so that what
    /// leaves since the probe began reaches its rate.
    pub(super) fn probe_copies(&mut self, now: Instant, len: usize) -> usize {
        let Some((start, target)) = self.estimator.probing(now) else {
            self.probe_sent = 0;
            return 0;
        };
        let elapsed = now.saturating_duration_since(start) + PROBE_LEAD;
        let owed = (target as f64 * elapsed.as_secs_f64() / 8.0) as u64;
        let missing = owed.saturating_sub(self.probe_sent);
        (missing / len.max(1) as u64).min(PROBE_COPIES_MAX as u64) as usize
    }

    /// Takes one feedback report.
    pub(super) fn on_feedback(&mut self, now: Instant, twcc: Twcc) -> Option<ProbeOutcome> {
        let reports = twcc
            .into_iter(self.time_zero, self.history.last().into())
            .map(|(seq, _, at)| (*seq, at));
        let results = self.history.results(reports);
        self.estimator.on_feedback(now, &results)
    }
}

impl Sfu {
    /// Takes a datagram from `from` if it is an SRTCP packet of a peer with
    /// congestion control that holds only transport-wide feedback, opened
    /// by the relay itself (`crate::srtcp`): str0m never sees it. Returns
    /// whether it took it; anything else goes to str0m as before.
    pub(super) fn feedback_shortcut(
        &mut self,
        now: Instant,
        from: (SocketAddr, Via),
        data: &[u8],
    ) -> bool {
        // RFC 5761 §4 / RFC 7983: RTP or RTCP, and an RTCP packet type.
        let rtcp =
            data.len() > 1 && (128..=191).contains(&data[0]) && (192..=223).contains(&data[1]);
        let Some(key) = rtcp.then(|| self.by_addr.get(&from).copied()).flatten() else {
            return false;
        };
        let Some(peer) = self.peers.get_mut(&key).filter(|p| p.cc.is_some()) else {
            return false;
        };
        let Some(plain) = peer.srtcp_in.as_mut().and_then(|rx| rx.open(data)) else {
            return false;
        };
        let Some(bodies) = rtcp::only_twcc(plain) else {
            return false;
        };
        let Ok(reports) = bodies
            .into_iter()
            .map(Twcc::try_from)
            .collect::<Result<Vec<Twcc>, _>>()
        else {
            return false;
        };
        // Authenticated: the peer's sends follow it (as in `drive_from`).
        if peer.media_from != Some(from) {
            tracing::debug!(peer = %peer.participant, "media now comes from another address; sending there");
            peer.media_from = Some(from);
        }
        Metrics::add(&self.metrics.twcc_direct, 1);
        for twcc in reports {
            self.on_twcc(now, key, twcc);
        }
        true
    }

    /// A subscriber's transport-wide feedback: update its estimate, then
    /// its layers.
    pub(super) fn on_twcc(&mut self, now: Instant, key: PeerKey, twcc: Twcc) {
        let Some(cc) = self.peers.get_mut(&key).and_then(|p| p.cc.as_mut()) else {
            return;
        };
        Metrics::add(&self.metrics.twcc_feedback, 1);
        match cc.on_feedback(now, twcc) {
            Some(ProbeOutcome::Raised(_)) => Metrics::add(&self.metrics.probes_raised, 1),
            Some(ProbeOutcome::Failed) => Metrics::add(&self.metrics.probes_failed, 1),
            None => {}
        }
        self.allocate(now, key);
    }

    /// Chooses, for each video track `key` receives, the best layer that
    /// fits its estimate less its audio (audio is never held back): every
    /// track first gets its smallest layer, then they step up in turn while
    /// the estimate allows; while the path loses heavily
    /// ([`crate::bwe::Estimator::lossy`]), a track whose smallest layer
    /// does not fit is paused (the subscriber keeps its last picture)
    /// rather than letting every stream freeze. Starts a probe when the subscriber would take
    /// more than the estimate.
    pub(super) fn allocate(&mut self, now: Instant, key: PeerKey) {
        let Some(peer) = self.peers.get(&key) else {
            return;
        };
        let Some((estimate, may_pause)) = peer
            .cc
            .as_ref()
            .map(|c| (c.estimator.estimate(), c.estimator.lossy(now)))
        else {
            return;
        };
        let mut audio = 0u64;
        let mut video = Vec::new();
        let mut options = Vec::new();
        for track in peer.receiving.values() {
            let Some(route) = self.routes.get(track) else {
                continue;
            };
            let Some((at, sub)) = route
                .subscriptions
                .iter()
                .enumerate()
                .find(|(_, s)| s.subscriber == key)
            else {
                continue;
            };
            if route.kind == MediaKind::Audio {
                audio += route.layers.iter().map(|l| l.view.bps).sum::<u64>();
                continue;
            }
            let layers = candidates(now, &route.layers, |l| &l.view, sub.max_width);
            options.push(Options {
                layers: layers
                    .into_iter()
                    .map(|i| (i, route.layers[i].view.bps))
                    .collect(),
                current: sub.layer.current(),
            });
            video.push((*track, at));
        }
        let desired = audio + desired(&options);
        let chosen = allocate(estimate.saturating_sub(audio), &options, may_pause);
        let mut limited = 0;
        for (((track, at), choice), option) in
            video.iter().zip(chosen.iter().copied()).zip(&options)
        {
            // Found above; nothing has changed the route since.
            let Some(sub) = self
                .routes
                .get_mut(track)
                .and_then(|r| r.subscriptions.get_mut(*at))
                .filter(|s| s.subscriber == key)
            else {
                continue;
            };
            let best = option.layers.last().map(|l| l.0);
            // The best candidate fits (or there is none yet): no limit, so
            // a layer that starts after this feedback is taken at once.
            let alloc = (choice != best).then_some(choice);
            if alloc.is_some() && sub.alloc != alloc {
                limited += 1;
            }
            sub.alloc = alloc;
        }
        if limited > 0 {
            Metrics::add(&self.metrics.layers_limited, limited);
        }
        if tracing::enabled!(tracing::Level::DEBUG) {
            let summary: Vec<_> = chosen
                .iter()
                .zip(&options)
                .map(|(c, o)| (*c, o.layers.iter().map(|l| l.1 / 1000).collect::<Vec<_>>()))
                .collect();
            tracing::debug!(
                peer = %key.participant(),
                estimate,
                desired,
                audio,
                limited,
                ?summary,
                "layers allocated"
            );
        }
        let Some(cc) = self.peers.get_mut(&key).and_then(|p| p.cc.as_mut()) else {
            return;
        };
        if cc.estimator.maybe_probe(now, desired).is_some() {
            Metrics::add(&self.metrics.probes, 1);
        }
    }
}
