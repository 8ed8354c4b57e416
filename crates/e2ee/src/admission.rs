//! Join requests and their admission proofs.
//!
//! A joiner sends its MLS KeyPackage with
//! `proof = HMAC-SHA256(admit_key, "conclave join v1" ‖ room_id ‖ SHA-256(KeyPackage) ‖ nonce ‖ time)`.
//! `admit_key` comes from the room secret, which the relay never sees, so the
//! relay cannot make a proof for a KeyPackage of its own (docs/design.md §1, "slip
//! in a ghost participant"; §4 "Rules that keep the relay honest"). Members
//! refuse proofs for another room, proofs whose time is more than
//! [`MAX_CLOCK_SKEW_MS`] away from their clock, and nonces they have already
//! seen ([`AdmissionGuard`]), so a captured request cannot be replayed.
//!
//! The nonce doubles as the [`JoinTicket`] the relay routes the Welcome by.
//!
//! A request may also carry the joiner's display name, sealed for the members
//! ([`JoinRequest::display_name`]): ChaCha20-Poly1305 under
//! `HKDF(admit_key, "conclave join name")`, nonce = the first 12 bytes of the
//! proof's nonce (fresh per request), AAD = the proof's MAC, over the name
//! padded to [`MAX_JOIN_NAME_LEN`] + 1 bytes so its length does not show. A
//! host deciding about a joiner sees the name it gave (issue 10, revocation:
//! "a host-approval prompt shows the joiner's display name"); the relay,
//! without the admit key, sees only a fixed-size ciphertext.

use std::collections::HashMap;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::delivery::JoinTicket;
use crate::error::AdmissionError;
use crate::link::{AdmitKey, RoomId};

/// How far a proof's time may be from the checking member's clock.
pub const MAX_CLOCK_SKEW_MS: u64 = 60_000;
/// Largest KeyPackage accepted in a join request.
pub const MAX_KEY_PACKAGE_LEN: usize = 16 * 1024;
/// Most join nonces a member remembers at once; more pending joins than this
/// within [`MAX_CLOCK_SKEW_MS`] are refused (they would be a flood).
pub const MAX_REMEMBERED_NONCES: usize = 4096;

/// Longest display name a join request carries, in bytes (UTF-8).
pub const MAX_JOIN_NAME_LEN: usize = 64;
/// Bytes of a sealed name: the padded name and the 16-byte tag.
pub const SEALED_NAME_LEN: usize = MAX_JOIN_NAME_LEN + 1 + 16;

const PROOF_LABEL: &[u8] = b"conclave join v1";
const NAME_KEY_LABEL: &[u8] = b"conclave join name";
const REQUEST_VERSION: u8 = 1;
/// A request with a sealed display name after the KeyPackage.
const REQUEST_VERSION_NAMED: u8 = 2;

/// The parts of a join proof that travel next to the KeyPackage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinProof {
    /// Fresh random bytes chosen by the joiner.
    pub nonce: [u8; 16],
    /// The joiner's clock when it made the request, in ms since the Unix epoch.
    pub time_ms: u64,
    /// The HMAC.
    pub mac: [u8; 32],
}

pub(crate) const PROOF_LEN: usize = 16 + 8 + 32;

impl JoinProof {
    fn mac_input(room_id: &RoomId, key_package: &[u8], nonce: &[u8; 16], time_ms: u64) -> Vec<u8> {
        let mut m = Vec::with_capacity(PROOF_LABEL.len() + 16 + 32 + 16 + 8);
        m.extend_from_slice(PROOF_LABEL);
        m.extend_from_slice(room_id.as_bytes());
        m.extend_from_slice(&Sha256::digest(key_package));
        m.extend_from_slice(nonce);
        m.extend_from_slice(&time_ms.to_be_bytes());
        m
    }

    fn mac(key: &AdmitKey) -> Hmac<Sha256> {
        match <Hmac<Sha256> as KeyInit>::new_from_slice(&key.0) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        }
    }

    /// Makes a proof for `key_package` at `time_ms`.
    pub fn make(
        key: &AdmitKey,
        room_id: &RoomId,
        key_package: &[u8],
        nonce: [u8; 16],
        time_ms: u64,
    ) -> Self {
        let mut mac = Self::mac(key);
        mac.update(&Self::mac_input(room_id, key_package, &nonce, time_ms));
        let mut out = [0u8; 32];
        out.copy_from_slice(&mac.finalize().into_bytes());
        JoinProof {
            nonce,
            time_ms,
            mac: out,
        }
    }

    /// Checks the MAC in constant time. Does not look at time or nonce reuse;
    /// [`AdmissionGuard::check`] does all three.
    pub fn verify(&self, key: &AdmitKey, room_id: &RoomId, key_package: &[u8]) -> bool {
        let mut mac = Self::mac(key);
        mac.update(&Self::mac_input(
            room_id,
            key_package,
            &self.nonce,
            self.time_ms,
        ));
        mac.verify_slice(&self.mac).is_ok()
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.time_ms.to_be_bytes());
        out.extend_from_slice(&self.mac);
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != PROOF_LEN {
            return None;
        }
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&b[..16]);
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[16..24]);
        let mut mac = [0u8; 32];
        mac.copy_from_slice(&b[24..]);
        Some(JoinProof {
            nonce,
            time_ms: u64::from_be_bytes(t),
            mac,
        })
    }
}

/// A joiner's request: its KeyPackage (TLS-encoded, RFC 9420 §10) and the
/// proof that it knows the room secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// The TLS encoding of the joiner's KeyPackage.
    pub key_package: Vec<u8>,
    /// The admission proof over it.
    pub proof: JoinProof,
    /// The joiner's display name, sealed for the members (see the module
    /// docs); read it with [`JoinRequest::display_name`].
    pub sealed_name: Option<Vec<u8>>,
}

fn name_cipher(key: &AdmitKey) -> ChaCha20Poly1305 {
    let hk = Hkdf::<Sha256>::new(None, &key.0);
    let mut k = Zeroizing::new([0u8; 32]);
    if hk.expand(NAME_KEY_LABEL, &mut k[..]).is_err() {
        unreachable!("32 bytes is a valid HKDF-SHA256 output length");
    }
    <ChaCha20Poly1305 as chacha20poly1305::KeyInit>::new(Key::from_slice(&k[..]))
}

impl JoinRequest {
    /// Makes a request with a fresh random nonce.
    pub fn create(key: &AdmitKey, room_id: &RoomId, key_package: Vec<u8>, now_ms: u64) -> Self {
        let mut nonce = [0u8; 16];
        crate::random::fill(&mut nonce);
        let proof = JoinProof::make(key, room_id, &key_package, nonce, now_ms);
        JoinRequest {
            key_package,
            proof,
            sealed_name: None,
        }
    }

    /// Adds the joiner's display name, sealed for the members (at most
    /// [`MAX_JOIN_NAME_LEN`] bytes; longer names are cut at a character
    /// boundary). `key` is the admit key the proof was made with.
    pub fn with_name(mut self, key: &AdmitKey, name: &str) -> Self {
        let mut end = name.len().min(MAX_JOIN_NAME_LEN);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let mut padded = Zeroizing::new(Vec::with_capacity(MAX_JOIN_NAME_LEN + 1));
        padded.extend_from_slice(&name.as_bytes()[..end]);
        padded.push(0x80);
        padded.resize(MAX_JOIN_NAME_LEN + 1, 0);
        let sealed = name_cipher(key).encrypt(
            Nonce::from_slice(&self.proof.nonce[..12]),
            Payload {
                msg: &padded,
                aad: &self.proof.mac,
            },
        );
        self.sealed_name = sealed.ok();
        self
    }

    /// The joiner's display name, if it sent one and it opens under `key`
    /// (the admit key members check the proof with). `None` for a request
    /// without a name or whose sealed name does not open.
    pub fn display_name(&self, key: &AdmitKey) -> Option<String> {
        let sealed = self.sealed_name.as_ref()?;
        let padded = Zeroizing::new(
            name_cipher(key)
                .decrypt(
                    Nonce::from_slice(&self.proof.nonce[..12]),
                    Payload {
                        msg: sealed,
                        aad: &self.proof.mac,
                    },
                )
                .ok()?,
        );
        let end = padded.iter().rposition(|b| *b != 0)?;
        if padded[end] != 0x80 {
            return None;
        }
        String::from_utf8(padded[..end].to_vec()).ok()
    }

    /// The ticket the relay routes this joiner's Welcome by.
    pub fn ticket(&self) -> JoinTicket {
        JoinTicket(self.proof.nonce)
    }

    /// `version u8 | nonce 16 | time u64 | mac 32 | len u32 | KeyPackage`,
    /// then, in version 2, the sealed name ([`SEALED_NAME_LEN`] bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(1 + PROOF_LEN + 4 + self.key_package.len() + SEALED_NAME_LEN);
        let named = self
            .sealed_name
            .as_ref()
            .filter(|n| n.len() == SEALED_NAME_LEN);
        out.push(if named.is_some() {
            REQUEST_VERSION_NAMED
        } else {
            REQUEST_VERSION
        });
        self.proof.encode_into(&mut out);
        let len = u32::try_from(self.key_package.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.key_package);
        if let Some(n) = named {
            out.extend_from_slice(n);
        }
        out
    }

    /// Parses untrusted bytes. Checks shape only; verify with
    /// [`AdmissionGuard::check`].
    pub fn decode(bytes: &[u8]) -> Result<Self, AdmissionError> {
        let (&version, rest) = bytes
            .split_first()
            .ok_or(AdmissionError::Malformed("empty join request"))?;
        if version != REQUEST_VERSION && version != REQUEST_VERSION_NAMED {
            return Err(AdmissionError::UnsupportedVersion(version));
        }
        if rest.len() < PROOF_LEN + 4 {
            return Err(AdmissionError::Malformed("join request truncated"));
        }
        let (proof, rest) = rest.split_at(PROOF_LEN);
        let proof = JoinProof::decode(proof).ok_or(AdmissionError::Malformed("bad proof"))?;
        let (len, kp) = rest.split_at(4);
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if len > MAX_KEY_PACKAGE_LEN {
            return Err(AdmissionError::KeyPackageTooLarge(len));
        }
        let name_len = if version == REQUEST_VERSION_NAMED {
            SEALED_NAME_LEN
        } else {
            0
        };
        if kp.len() != len + name_len {
            return Err(AdmissionError::Malformed(
                "KeyPackage length does not match the bytes sent",
            ));
        }
        let (kp, name) = kp.split_at(len);
        Ok(JoinRequest {
            key_package: kp.to_vec(),
            proof,
            sealed_name: (name_len > 0).then(|| name.to_vec()),
        })
    }
}

/// Remembers join nonces so each proof is accepted once, and refuses stale
/// proofs. Sans-I/O: the caller passes `now_ms`.
#[derive(Debug, Default)]
pub struct AdmissionGuard {
    seen: HashMap<[u8; 16], u64>,
}

impl AdmissionGuard {
    /// An empty guard.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks a request's proof, freshness and nonce, and records the nonce.
    /// Order matters: the MAC is checked first so that nothing a non-member
    /// sends can fill the nonce memory.
    pub fn check(
        &mut self,
        key: &AdmitKey,
        room_id: &RoomId,
        proof: &JoinProof,
        key_package: &[u8],
        now_ms: u64,
    ) -> Result<(), AdmissionError> {
        if !proof.verify(key, room_id, key_package) {
            return Err(AdmissionError::BadProof);
        }
        if proof.time_ms.saturating_add(MAX_CLOCK_SKEW_MS) < now_ms {
            return Err(AdmissionError::Stale {
                age_ms: now_ms - proof.time_ms,
            });
        }
        if proof.time_ms > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
            return Err(AdmissionError::FromTheFuture {
                ahead_ms: proof.time_ms - now_ms,
            });
        }
        // Nonces older than the skew window can be forgotten: their proofs are
        // refused as stale anyway.
        self.seen
            .retain(|_, t| t.saturating_add(2 * MAX_CLOCK_SKEW_MS) >= now_ms);
        if self.seen.contains_key(&proof.nonce) {
            return Err(AdmissionError::Replayed);
        }
        if self.seen.len() >= MAX_REMEMBERED_NONCES {
            return Err(AdmissionError::TooManyPending);
        }
        self.seen.insert(proof.nonce, proof.time_ms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::RoomSecret;

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn a_display_name_opens_for_members_only_and_hides_its_length() {
        let (key, room) = setup();
        let other = RoomSecret::from_bytes([4; 32]).admit_key();
        let short = JoinRequest::create(&key, &room, vec![1, 2, 3], NOW).with_name(&key, "Al");
        let long = JoinRequest::create(&key, &room, vec![1, 2, 3], NOW)
            .with_name(&key, "Bartholomew Featherstonehaugh-Cholmondeley");
        assert_eq!(
            short.encode().len(),
            long.encode().len(),
            "name length shows"
        );
        for req in [&short, &long] {
            let back = JoinRequest::decode(&req.encode()).unwrap();
            assert_eq!(&back, req);
        }
        assert_eq!(short.display_name(&key).as_deref(), Some("Al"));
        assert_eq!(
            long.display_name(&key).as_deref(),
            Some("Bartholomew Featherstonehaugh-Cholmondeley")
        );
        // Without the admit key (the relay) nothing opens.
        assert_eq!(short.display_name(&other), None);
        // The name is bound to its request: moved onto another, it does not open.
        let mut moved = JoinRequest::create(&key, &room, vec![1, 2, 3], NOW);
        moved.sealed_name = short.sealed_name.clone();
        assert_eq!(moved.display_name(&key), None);
        // Over-long names are cut at a character boundary.
        let cut = JoinRequest::create(&key, &room, vec![1], NOW).with_name(&key, &"é".repeat(40));
        assert_eq!(cut.display_name(&key).unwrap().chars().count(), 32);
        // A request without a name still round-trips as version 1.
        let plain = JoinRequest::create(&key, &room, vec![1], NOW);
        assert_eq!(plain.encode()[0], 1);
        assert_eq!(plain.display_name(&key), None);
    }

    fn setup() -> (AdmitKey, RoomId) {
        let s = RoomSecret::from_bytes([3; 32]);
        (s.admit_key(), s.room_id())
    }

    #[test]
    fn valid_request_is_accepted_once() {
        let (key, room) = setup();
        let req = JoinRequest::create(&key, &room, vec![1, 2, 3], NOW);
        let req = JoinRequest::decode(&req.encode()).unwrap();
        let mut guard = AdmissionGuard::new();
        guard
            .check(&key, &room, &req.proof, &req.key_package, NOW + 5)
            .unwrap();
        assert_eq!(
            guard.check(&key, &room, &req.proof, &req.key_package, NOW + 6),
            Err(AdmissionError::Replayed)
        );
    }

    #[test]
    fn proof_without_secret_or_for_other_room_or_other_key_package_is_refused() {
        let (key, room) = setup();
        let other = RoomSecret::from_bytes([4; 32]);
        let mut guard = AdmissionGuard::new();
        // The relay guesses a key: no.
        let forged = JoinRequest::create(&other.admit_key(), &room, vec![1], NOW);
        assert_eq!(
            guard.check(&key, &room, &forged.proof, &forged.key_package, NOW),
            Err(AdmissionError::BadProof)
        );
        // A proof for another room: no.
        let elsewhere = JoinRequest::create(&key, &other.room_id(), vec![1], NOW);
        assert_eq!(
            guard.check(&key, &room, &elsewhere.proof, &elsewhere.key_package, NOW),
            Err(AdmissionError::BadProof)
        );
        // The relay swaps in its own KeyPackage under a real proof: no.
        let real = JoinRequest::create(&key, &room, vec![1], NOW);
        assert_eq!(
            guard.check(&key, &room, &real.proof, &[2], NOW),
            Err(AdmissionError::BadProof)
        );
    }

    #[test]
    fn stale_and_future_proofs_are_refused() {
        let (key, room) = setup();
        let mut guard = AdmissionGuard::new();
        let old = JoinRequest::create(&key, &room, vec![1], NOW - MAX_CLOCK_SKEW_MS - 1);
        assert!(matches!(
            guard.check(&key, &room, &old.proof, &old.key_package, NOW),
            Err(AdmissionError::Stale { .. })
        ));
        let future = JoinRequest::create(&key, &room, vec![1], NOW + MAX_CLOCK_SKEW_MS + 1);
        assert!(matches!(
            guard.check(&key, &room, &future.proof, &future.key_package, NOW),
            Err(AdmissionError::FromTheFuture { .. })
        ));
    }

    #[test]
    fn malformed_requests_are_refused_with_reason() {
        let (key, room) = setup();
        let good = JoinRequest::create(&key, &room, vec![9; 10], NOW).encode();
        for cut in 0..good.len() {
            assert!(JoinRequest::decode(&good[..cut]).is_err());
        }
        let mut long = good.clone();
        long.push(0);
        assert!(JoinRequest::decode(&long).is_err());
        let mut v3 = good.clone();
        v3[0] = 3;
        assert_eq!(
            JoinRequest::decode(&v3),
            Err(AdmissionError::UnsupportedVersion(3))
        );
        // Version 2 without its sealed name is cut short.
        let mut v2 = good.clone();
        v2[0] = 2;
        assert!(JoinRequest::decode(&v2).is_err());
        let mut big = good[..1 + PROOF_LEN].to_vec();
        big.extend_from_slice(&(MAX_KEY_PACKAGE_LEN as u32 + 1).to_be_bytes());
        assert!(matches!(
            JoinRequest::decode(&big),
            Err(AdmissionError::KeyPackageTooLarge(_))
        ));
    }
}
