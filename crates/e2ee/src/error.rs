//! Error types, one enum per concern. Each message says what failed and what
//! to do about it.

/// A device identity could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Not 32 bytes.
    #[error("identity key must be 32 bytes, got {0}; restore it from what Identity::to_secret_bytes saved")]
    BadLength(usize),
}

/// A room link could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// No `#` fragment.
    #[error("the link has no secret after '#'; copy the whole link, including the part after '#'")]
    NoSecret,
    /// Not http(s).
    #[error("the link must start with https:// (or http:// for local testing)")]
    BadScheme,
    /// Empty host or characters not allowed in a host.
    #[error("the link's host is empty or contains characters a URL host may not")]
    BadHost,
    /// The room id is not 22 base64url characters.
    #[error("the room id in the link is not 22 base64url characters; the link was cut or edited")]
    BadRoomId,
    /// The secret is not 43 base64url characters.
    #[error(
        "the room secret after '#' is not 43 base64url characters; the link was cut or edited"
    )]
    BadSecret,
    /// Room id and secret do not belong together.
    #[error("the room id does not match the secret; the link was edited — ask for a fresh link")]
    RoomMismatch,
    /// The `name=` parameter is not valid percent-encoded UTF-8.
    #[error("the room name in the link is not valid percent-encoded UTF-8")]
    BadName,
    /// The `name=` parameter is too long.
    #[error("the room name is {0} bytes; the limit is 64")]
    NameTooLong(usize),
    /// The whole link is too long.
    #[error("the link is {0} bytes; the limit is 2048")]
    TooLong(usize),
    /// The relay's address in the link is too long to leave room for the rest.
    #[error("the relay address in the link is {0} bytes; the limit is 1735")]
    BaseTooLong(usize),
}

/// A join request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    /// Bytes that are not a join request.
    #[error("malformed join request: {0}")]
    Malformed(&'static str),
    /// A join request format this code does not speak.
    #[error("join request version {0} is not supported; the joiner must update")]
    UnsupportedVersion(u8),
    /// KeyPackage over the size limit.
    #[error("KeyPackage of {0} bytes exceeds the 16 KiB limit")]
    KeyPackageTooLarge(usize),
    /// The KeyPackage is not a valid MLS KeyPackage for this group.
    #[error("the KeyPackage is invalid ({0}); the joiner must make a new one")]
    BadKeyPackage(String),
    /// The MAC does not verify: made without the room secret, for another
    /// room, or for another KeyPackage.
    #[error("join proof does not verify: made without the room secret, for another room, or for a different KeyPackage — refuse this joiner")]
    BadProof,
    /// The proof's time is too old.
    #[error("join proof is {age_ms} ms old (limit 60 s); the joiner must send a fresh request")]
    Stale {
        /// How old.
        age_ms: u64,
    },
    /// The proof's time is too far ahead of our clock.
    #[error("join proof is dated {ahead_ms} ms in the future; check the clocks")]
    FromTheFuture {
        /// How far ahead.
        ahead_ms: u64,
    },
    /// The nonce was used before: a replay.
    #[error("join proof was already used (replay); refuse it")]
    Replayed,
    /// Too many join requests within the freshness window.
    #[error("too many join requests in the last minute; try again later")]
    TooManyPending,
    /// Room policy lets only hosts admit, and this member is not a host.
    #[error("this room lets only hosts admit people; ask a host")]
    NotAHost,
}

/// An MLS group operation failed or an incoming message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// openmls refused the operation; the text says why.
    #[error("MLS {op} failed: {reason}")]
    Mls {
        /// The operation.
        op: &'static str,
        /// openmls's error, as text.
        reason: String,
    },
    /// Bytes that are not the expected MLS message.
    #[error("malformed MLS message: {0}")]
    Malformed(String),
    /// An envelope could not be parsed.
    #[error(transparent)]
    Envelope(#[from] crate::delivery::DeliveryError),
    /// A message for another epoch.
    #[error(
        "message is for {got} but the group is in {current}; it is stale or from a fork — drop it"
    )]
    WrongEpoch {
        /// The message's epoch.
        got: crate::delivery::Epoch,
        /// Ours.
        current: crate::delivery::Epoch,
    },
    /// An MLS message whose key was used before: the relay re-sent a message
    /// we already read. Nothing changed; drop it quietly.
    #[error("the message was already received (a replay); drop it")]
    Replayed,
    /// A commit or proposal not sent by a current member (e.g. forged by the relay).
    #[error("refused: {0} was not sent by a current member of the group")]
    NotFromMember(&'static str),
    /// A commit adds someone without a valid join proof.
    #[error("refused commit: it adds a member without a valid join proof (a ghost) — {0}")]
    AddWithoutProof(String),
    /// A commit that breaks the room policy.
    #[error("refused commit: {0}")]
    PolicyViolation(&'static str),
    /// A Welcome that does not prove it comes from this room's group.
    #[error("refused Welcome: {0}")]
    BadWelcome(&'static str),
    /// An operation that needs the group while we are no longer in it.
    #[error("this device is no longer a member of the group; join again with the link")]
    NotAMember,
    /// A second commit while one is pending.
    #[error("a commit is already waiting for the delivery service's answer; wait for Accepted or Rejected")]
    CommitPending,
    /// The operation needs admission rights.
    #[error(transparent)]
    Admission(#[from] AdmissionError),
    /// A room policy extension that could not be parsed.
    #[error("room policy in the group state is malformed: {0}")]
    BadPolicy(&'static str),
}

/// A media frame could not be encrypted or decrypted. Receivers drop the frame
/// in every case: nothing unauthenticated is ever rendered (docs/design.md §1,
/// "inject media or downgrade encryption").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Too short for its codec's clear prefix or the SFrame header.
    #[error("frame is malformed: {0}")]
    Malformed(&'static str),
    /// The key id names an epoch we do not hold keys for.
    #[error("frame is from an unknown or expired epoch (epoch bits {0}); drop it")]
    UnknownEpoch(u64),
    /// The key id names a leaf that is not a member in that epoch.
    #[error("frame is from leaf {0}, which is not a member in that epoch; drop it")]
    UnknownSender(u64),
    /// The key id names a stream context no member sends (Conclave uses 0,
    /// camera and microphone, and 1, screen share).
    #[error("frame is from unknown stream context {0}, which no member sends; drop it")]
    UnknownContext(u64),
    /// The counter was seen before.
    #[error("frame counter {0} was already received (replay); drop it")]
    Replayed(u64),
    /// The counter is older than the replay window.
    #[error("frame counter {0} is older than the replay window; drop it")]
    TooOld(u64),
    /// AEAD authentication failed: tampered header, prefix, ciphertext or tag.
    #[error("frame failed authentication (tampered, or wrong key); drop it")]
    Authentication,
    /// The frame counter is exhausted; rekey with a self-update.
    #[error("frame counter exhausted for this epoch; commit a self-update to rekey")]
    CounterExhausted,
    /// Internal SFrame failure.
    #[error("SFrame failure: {0}")]
    Sframe(String),
}
