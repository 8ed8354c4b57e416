//! What a member remembers of the MLS messages it has handled, so a relay
//! that re-sends them (a replay, or every message twice) changes nothing and
//! raises no alarm (docs/design.md §1: the relay is the adversary, and its
//! games must not cost the call). The relay can always re-send what it
//! forwarded before; MLS itself refuses most of it (an old commit is for an
//! old epoch, an application message's generation was used), but its errors
//! look like forgeries. A digest of every PrivateMessage this member
//! processed or sent tells a replay apart from a message it never saw.

use std::collections::{HashSet, VecDeque};

use sha2::{Digest, Sha256};

/// How many message digests a member keeps (32 bytes each): far more than
/// the messages of the epochs MLS still decrypts (heartbeats every 10 s).
pub const REMEMBERED_MESSAGES: usize = 1024;

/// The digests of the last [`REMEMBERED_MESSAGES`] MLS messages, oldest
/// forgotten first.
#[derive(Debug, Default, Clone)]
pub struct SeenMessages {
    order: VecDeque<[u8; 32]>,
    set: HashSet<[u8; 32]>,
}

fn digest(mls: &[u8]) -> [u8; 32] {
    Sha256::digest(mls).into()
}

impl SeenMessages {
    /// Whether these exact MLS bytes were handled (or sent) before.
    pub fn contains(&self, mls: &[u8]) -> bool {
        self.set.contains(&digest(mls))
    }

    /// Remembers these MLS bytes.
    pub fn insert(&mut self, mls: &[u8]) {
        let d = digest(mls);
        if !self.set.insert(d) {
            return;
        }
        self.order.push_back(d);
        while self.order.len() > REMEMBERED_MESSAGES {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_a_bounded_number_of_messages() {
        let mut seen = SeenMessages::default();
        seen.insert(b"first");
        assert!(seen.contains(b"first"));
        assert!(!seen.contains(b"other"));
        seen.insert(b"first");
        for i in 0..REMEMBERED_MESSAGES {
            seen.insert(&i.to_be_bytes());
        }
        assert!(!seen.contains(b"first"), "the oldest is forgotten");
        assert!(seen.contains(&(REMEMBERED_MESSAGES - 1).to_be_bytes()));
        assert_eq!(seen.order.len(), REMEMBERED_MESSAGES);
        assert_eq!(seen.set.len(), REMEMBERED_MESSAGES);
    }
}
