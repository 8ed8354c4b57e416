//! Device identities: an Ed25519 signature key per device.
//!
//! The MLS credential carries only the public key (RFC 9420 §5.3, a
//! `BasicCredential` whose identity is the 32-byte key), because KeyPackages
//! are visible to the relay: no name, e-mail or account ever goes into one
//! (docs/design.md §1, "hand out names, emails, accounts"). Display names travel
//! later as MLS application messages, end to end.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey};
use openmls_traits::signatures::{Signer, SignerError};
use openmls_traits::types::SignatureScheme;
use zeroize::Zeroizing;

use crate::error::IdentityError;

/// A device's long-term signing key. Keep it across calls with
/// [`Identity::to_secret_bytes`] / [`Identity::from_secret_bytes`] so other
/// members can recognise the device.
///
/// The secret zeroizes on drop and is never printed: `Debug` shows only the
/// public fingerprint (docs/design.md §1, "keep history": nothing leaks via logs).
pub struct Identity {
    key: SigningKey,
}

impl Identity {
    /// A fresh random identity from the operating system's RNG.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        crate::random::fill(&mut seed[..]);
        Self {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// Restores an identity saved with [`Identity::to_secret_bytes`].
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, IdentityError> {
        let seed: &[u8; 32] = bytes
            .try_into()
            .map_err(|_| IdentityError::BadLength(bytes.len()))?;
        Ok(Self {
            key: SigningKey::from_bytes(seed),
        })
    }

    /// The 32-byte secret seed, to store in the device's key store. Handle it
    /// like a password: it is wiped when the returned value drops.
    pub fn to_secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The public half, as it appears in MLS credentials and rosters.
    pub fn public(&self) -> PublicIdentity {
        PublicIdentity(self.key.verifying_key().to_bytes())
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.public())
    }
}

impl Signer for Identity {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(self.key.sign(payload).to_bytes().to_vec())
    }

    fn signature_scheme(&self) -> SignatureScheme {
        SignatureScheme::ED25519
    }
}

/// A device's public Ed25519 key: the only identity the group and the relay
/// ever see. `Display` shows a short fingerprint for people to compare.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicIdentity(pub [u8; 32]);

impl PublicIdentity {
    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 32 raw key bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdentityError> {
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| IdentityError::BadLength(bytes.len()))?;
        Ok(Self(key))
    }
}

impl fmt::Display for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicIdentity({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_round_trips_and_never_prints_its_secret() {
        let id = Identity::generate();
        let secret = id.to_secret_bytes();
        let back = Identity::from_secret_bytes(&secret[..]).unwrap();
        assert_eq!(back.public(), id.public());
        let debug = format!("{id:?}");
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!debug.contains(&hex[..16]), "{debug}");
        assert!(matches!(
            Identity::from_secret_bytes(&[0; 31]),
            Err(IdentityError::BadLength(31))
        ));
    }
}
