//! Keys the core finds its state by: a connection ([`PeerKey`], the number
//! behind its participant id) and a published track ([`TrackKey`]).

use std::hash::Hasher;

use conclave_proto::ParticipantId;
use str0m::media::Mid;

/// A track one participant publishes: the key of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct TrackKey {
    pub(super) publisher: PeerKey,
    pub(super) mid: Mid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct PeerKey(pub(super) u64);

impl PeerKey {
    pub(super) fn participant(self) -> ParticipantId {
        ParticipantId(format!("{:016x}", self.0))
    }

    pub(super) fn parse(p: &ParticipantId) -> Option<PeerKey> {
        if p.0.len() != 16 {
            return None;
        }
        u64::from_str_radix(&p.0, 16).ok().map(PeerKey)
    }
}

/// Hashes a [`PeerKey`] with one multiply: keys are random numbers the relay
/// drew (never chosen by a client), so SipHash's protection against crafted
/// keys buys nothing on the per-packet lookups.
#[derive(Default)]
pub(super) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached if PeerKey's Hash changes; stays correct, just slower.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        // One multiply spreads the bits (ids have their lowest bit set).
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Makes a fresh participant id for a new connection.
pub fn new_participant_id() -> ParticipantId {
    PeerKey(rand::random::<u64>() | 1).participant()
}
