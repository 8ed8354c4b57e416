//! A seam where tests play a dishonest relay (docs/design.md §1: the relay is
//! the adversary). The relay `conclave serve` runs installs nothing here and
//! forwards every copy untouched. The test-only `conclave-evil-relay`
//! (crates/evil-relay, never built into `conclave`) installs an
//! [`Adversary`] that drops, rewrites or reflects forwarded media, so the
//! browser suites can show that clients refuse or expose each such attack.
//!
//! It gives an operator nothing new: whoever runs the relay can change its
//! code. It sees only what the forwarding path already holds — RTP payloads
//! that are SFrame ciphertext, and opaque participant ids.

use std::sync::Arc;

use conclave_proto::ParticipantId;

/// One copy of a published packet on its way to one subscriber.
#[derive(Debug)]
pub struct Outgoing<'a> {
    /// Who published it (the relay's participant id).
    pub publisher: &'a ParticipantId,
    /// Who it is going to.
    pub subscriber: &'a ParticipantId,
    /// A video packet (else audio).
    pub video: bool,
    /// The RTP marker bit (a video frame's last packet).
    pub marker: bool,
    /// The payload as published (SFrame ciphertext with its clear prefix).
    pub payload: &'a Arc<[u8]>,
}

/// What happens to one copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Forward it as published (what an honest relay does).
    Forward,
    /// Do not send it.
    Drop,
    /// Send this payload instead, under the copy's RTP header.
    Replace(Arc<[u8]>),
}

/// A dishonest relay's choices on the forwarding path. Shared by every media
/// shard, so it keeps its own state behind `&self`.
pub trait Adversary: Send + Sync {
    /// Whether a track `publisher` just published is also sent back to
    /// `publisher` itself (an honest relay never does).
    fn reflect(&self, publisher: &ParticipantId) -> bool;
    /// What to do with one copy.
    fn copy(&self, copy: &Outgoing<'_>) -> Verdict;
}
