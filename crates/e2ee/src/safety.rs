//! Safety codes: what people compare aloud to know they are in one group.
//!
//! The code is derived from the MLS epoch authenticator (RFC 9420 §8.7), which
//! every member of an epoch computes identically and nobody else can: equal
//! codes mean the same group state, hence the same roster. A relay that forks
//! the group (delivers different commits to different members) or slips in a
//! ghost produces different codes (docs/design.md §1, "slip in a ghost
//! participant"; §4 step 5). The code changes every epoch.
//!
//! Format: 30 decimal digits in six groups of five — about 100 bits, as in
//! Signal's safety numbers. Each group is 5 bytes of
//! `SHA-256("conclave safety code v1" ‖ epoch_authenticator)` read as a
//! big-endian integer modulo 100 000 (bias below 10⁻⁷).

use std::fmt;

use sha2::{Digest, Sha256};

/// Digits in a safety code.
pub const SAFETY_CODE_DIGITS: usize = 30;

/// A code for people to read aloud and compare.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SafetyCode([u32; 6]);

impl SafetyCode {
    /// Derives the code from an epoch authenticator.
    pub fn from_epoch_authenticator(authenticator: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"conclave safety code v1");
        h.update(authenticator);
        let digest = h.finalize();
        let mut groups = [0u32; 6];
        for (g, chunk) in groups.iter_mut().zip(digest.chunks(5)) {
            let v = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            *g = (v % 100_000) as u32;
        }
        SafetyCode(groups)
    }

    /// The six five-digit groups.
    pub fn groups(&self) -> [u32; 6] {
        self.0
    }
}

impl fmt::Display for SafetyCode {
    /// `12345 67890 12345 67890 12345 67890`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, g) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{g:05}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SafetyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafetyCode({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_thirty_digits_in_groups_of_five() {
        let c = SafetyCode::from_epoch_authenticator(&[1; 32]);
        let s = c.to_string();
        assert_eq!(s.len(), 35);
        assert_eq!(s.split(' ').count(), 6);
        assert!(s
            .split(' ')
            .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit())));
        assert_eq!(
            s.chars().filter(char::is_ascii_digit).count(),
            SAFETY_CODE_DIGITS
        );
        assert_eq!(c, SafetyCode::from_epoch_authenticator(&[1; 32]));
        assert_ne!(c, SafetyCode::from_epoch_authenticator(&[2; 32]));
    }
}
