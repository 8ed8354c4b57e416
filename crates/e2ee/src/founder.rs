//! Founder tokens: how the relay checks that a connection was made from a
//! room's link, without learning the link's secret.
//!
//! Every client that opens a link derives, from the room secret S
//! (module `link`, feature `group`):
//!
//! - `founder_token = HKDF-SHA256(S, "conclave founder token")`, 32 bytes;
//! - `room_id = SHA-256("conclave room id v2" ‖ founder_token)[..16]`.
//!
//! It connects to `/r/<room_id>` and presents `founder_token` in its `join`
//! message. The relay hashes the token and refuses the join unless the hash
//! is the room id in the URL ([`verify_founder_token`]). So someone who knows
//! only a room id (from a log, a shoulder, a relay's room list) cannot
//! connect to the room, and in particular cannot become the founder of an
//! empty room — the first connection, which holds the MLS group at the
//! delivery service ([`crate::delivery`]) until it admits others.
//!
//! What the relay learns from the token: nothing it could use against the
//! call. The token is one HKDF output of S; S, the `admit_key` that join
//! proofs need, and the media keys are other, independent outputs (or come
//! from the MLS group), so a relay that sees the token can connect to the
//! room — which it can already do — but cannot make a join proof, read a
//! Welcome or derive the link (docs/design.md §1, "hand out the meeting
//! password"; docs/operator-view.md).
//!
//! This module holds no key and needs no HKDF: it is part of the key-less
//! build the relay links (`default-features = false`); deriving a token from
//! S is `RoomSecret::founder_token` (module `link`, feature `group`).
//!
//! ```
//! use conclave_e2ee::founder::{verify_founder_token, FounderToken};
//! let token = FounderToken::from_bytes([7; 32]);
//! let room = token.room_id();
//! assert!(verify_founder_token(&room, &token.to_base64url()));
//! assert!(!verify_founder_token(&room, &FounderToken::from_bytes([8; 32]).to_base64url()));
//! assert!(!verify_founder_token(&room, "not a token"));
//! ```

use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// Bytes of a founder token.
pub const FOUNDER_TOKEN_LEN: usize = 32;
/// Characters of a founder token in its base64url form (no padding).
pub const FOUNDER_TOKEN_TEXT_LEN: usize = 43;
/// Bytes of a room id (the first bytes of the token's hash).
pub const ROOM_ID_LEN: usize = 16;

/// Domain separation for the room id: a room id is never the hash of
/// anything but a founder token.
const ROOM_ID_DOMAIN: &[u8] = b"conclave room id v2";

/// Why a founder token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FounderTokenError {
    /// Not 43 base64url characters encoding 32 bytes.
    #[error("the founder token is not {FOUNDER_TOKEN_TEXT_LEN} base64url characters ({FOUNDER_TOKEN_LEN} bytes); the client must send the token its link derives")]
    Malformed,
}

/// What a client shows the relay to prove it opened the room's link. Not
/// the link's secret (see the module docs), but it opens the room to whoever
/// holds it, so `Debug` hides it and it is wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct FounderToken([u8; FOUNDER_TOKEN_LEN]);

impl FounderToken {
    /// Wraps 32 bytes (a client derives them with `RoomSecret::founder_token`;
    /// a test tool may pick them at random and use the room they name).
    pub fn from_bytes(bytes: [u8; FOUNDER_TOKEN_LEN]) -> Self {
        FounderToken(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; FOUNDER_TOKEN_LEN] {
        &self.0
    }

    /// Parses the base64url form a `join` message carries.
    pub fn parse(text: &str) -> Result<Self, FounderTokenError> {
        if text.len() != FOUNDER_TOKEN_TEXT_LEN {
            return Err(FounderTokenError::Malformed);
        }
        let mut buf = [0u8; FOUNDER_TOKEN_LEN];
        match Base64UrlUnpadded::decode(text, &mut buf) {
            Ok(d) if d.len() == FOUNDER_TOKEN_LEN => Ok(FounderToken(buf)),
            _ => {
                buf.zeroize();
                Err(FounderTokenError::Malformed)
            }
        }
    }

    /// The base64url form (43 characters, no padding) for a `join` message.
    pub fn to_base64url(&self) -> String {
        Base64UrlUnpadded::encode_string(&self.0)
    }

    /// The room id this token opens, as bytes.
    pub fn room_id_bytes(&self) -> [u8; ROOM_ID_LEN] {
        let digest = Sha256::new()
            .chain_update(ROOM_ID_DOMAIN)
            .chain_update(self.0)
            .finalize();
        let mut id = [0u8; ROOM_ID_LEN];
        id.copy_from_slice(&digest[..ROOM_ID_LEN]);
        id
    }

    /// The room id this token opens, as the 22 base64url characters of the
    /// URL path.
    pub fn room_id(&self) -> String {
        Base64UrlUnpadded::encode_string(&self.room_id_bytes())
    }

    /// Whether this token opens the room named `room_id` (the URL path's
    /// text, compared exactly: a room id has one spelling).
    pub fn opens(&self, room_id: &str) -> bool {
        self.room_id() == room_id
    }
}

impl Drop for FounderToken {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for FounderToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FounderToken(<redacted>, room {})", self.room_id())
    }
}

/// The relay's check on every `join`: whether `token` (base64url, as sent)
/// hashes to `room_id` (the URL path). Anything malformed is `false`. The
/// relay keeps neither argument.
pub fn verify_founder_token(room_id: &str, token: &str) -> bool {
    FounderToken::parse(token).is_ok_and(|t| t.opens(room_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently (Python hashlib) from the founder token that
    /// room secret `[7; 32]` derives (see link.rs's vectors).
    #[test]
    fn room_id_is_the_domain_separated_hash_of_the_token() {
        let token = FounderToken::parse("U5V2eH0IL_8ixeZHowy7eMXOwAC8CgR9AlziDXL-v2o").unwrap();
        assert_eq!(token.room_id(), "hS0C2R2zJoxkngYCbAKWXQ");
        assert_eq!(
            token.to_base64url(),
            "U5V2eH0IL_8ixeZHowy7eMXOwAC8CgR9AlziDXL-v2o"
        );
        assert!(verify_founder_token(
            "hS0C2R2zJoxkngYCbAKWXQ",
            "U5V2eH0IL_8ixeZHowy7eMXOwAC8CgR9AlziDXL-v2o"
        ));
    }

    #[test]
    fn only_the_token_of_the_room_opens_it() {
        let token = FounderToken::from_bytes([1; 32]);
        let room = token.room_id();
        assert_eq!(room.len(), 22);
        assert!(verify_founder_token(&room, &token.to_base64url()));
        // Another token, another room, the room id itself, nothing.
        let other = FounderToken::from_bytes([2; 32]);
        assert!(!verify_founder_token(&room, &other.to_base64url()));
        assert!(!verify_founder_token(
            &other.room_id(),
            &token.to_base64url()
        ));
        assert!(!verify_founder_token(&room, &room));
        assert!(!verify_founder_token(&room, ""));
        // The room id is compared exactly, not after decoding.
        assert!(!verify_founder_token(
            &room.to_lowercase(),
            &token.to_base64url()
        ));
        assert!(!verify_founder_token(
            &format!("{room}A"),
            &token.to_base64url()
        ));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = FounderToken::from_bytes([3; 32]).to_base64url();
        for bad in [
            String::new(),
            good[..42].to_string(),
            format!("{good}A"),
            format!("{good}="),
            good.replace(|_| true, "+"),
            format!("{}!", &good[..42]),
            // 43 characters whose last one carries bits past the 32 bytes
            // (non-canonical): refused, so each token has one spelling.
            format!("{}{}", &good[..42], 'B'),
        ] {
            assert_eq!(
                FounderToken::parse(&bad),
                Err(FounderTokenError::Malformed),
                "{bad:?}"
            );
        }
        assert!(FounderTokenError::Malformed.to_string().contains("43"));
    }

    #[test]
    fn tokens_are_never_debug_printed() {
        let token = FounderToken::from_bytes([0xAB; 32]);
        let text = format!("{token:?}");
        assert!(!text.contains(&token.to_base64url()), "{text}");
        assert!(!text.to_lowercase().contains("abab"), "{text}");
        assert!(text.contains(&token.room_id()), "{text}");
    }
}
