//! The room policy, fixed in the MLS group context at creation.
//!
//! It rides in a private-use group-context extension (type
//! [`POLICY_EXTENSION_TYPE`], RFC 9420 §13.3 private range), which every
//! member's capabilities must list and which no commit may change: members
//! refuse any GroupContextExtensions proposal (docs/design.md §1, "inject media or
//! downgrade encryption": "E2EE required" cannot be switched off later).
//!
//! It also carries the **group binding**, `HMAC(admit_key, "conclave group
//! binding v1" ‖ group_id)`. A joiner checks it in the Welcome: a group the
//! relay made itself cannot carry it, because the relay lacks the room secret
//! (docs/design.md §4, "a Welcome not produced by a member is refused"). The group
//! context is only ever sent encrypted (PrivateMessages, Welcome), so the
//! relay never sees the binding to copy it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::GroupError;
use crate::identity::PublicIdentity;
use crate::link::AdmitKey;

/// The MLS extension type the policy lives in (private-use range).
pub const POLICY_EXTENSION_TYPE: u16 = 0xF0C1;
/// Most hosts a room policy may name.
pub const MAX_HOSTS: usize = 32;

const POLICY_VERSION: u8 = 1;
const FLAG_E2EE_REQUIRED: u8 = 1;
const FLAG_HOST_APPROVAL: u8 = 2;
const FLAG_HOSTS_ONLY_REMOVE: u8 = 4;
const FLAG_AUDIO_PADDING: u8 = 8;

/// What a room allows, decided by its creator and fixed for the group's life.
/// The default: no hosts, anyone with the link may be admitted by any member,
/// anyone may remove, and audio is padded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPolicy {
    /// Devices with host rights.
    pub hosts: Vec<PublicIdentity>,
    /// Only hosts may admit joiners (otherwise any member who checks the
    /// joiner's proof may).
    pub host_approval: bool,
    /// Only hosts may remove others (anyone may always leave).
    pub hosts_only_remove: bool,
    /// Pad every audio frame to one fixed size
    /// ([`crate::media::AUDIO_PADDED_SIZE`]) so relay-visible sizes do not
    /// follow speech (docs/design.md §1, "read who is speaking"). On by
    /// default, and in every room the browser creates (crates/wasm
    /// `Call.create`). A room without it lets the relay read who speaks.
    pub audio_padding: bool,
}

impl Default for RoomPolicy {
    fn default() -> Self {
        RoomPolicy {
            hosts: Vec::new(),
            host_approval: false,
            hosts_only_remove: false,
            audio_padding: true,
        }
    }
}

impl RoomPolicy {
    /// Whether E2EE is required. Always true: there is no plaintext mode; the
    /// bit exists in the encoding so that a group state without it is refused.
    pub fn e2ee_required(&self) -> bool {
        true
    }

    /// Whether `who` is a host.
    pub fn is_host(&self, who: &PublicIdentity) -> bool {
        self.hosts.contains(who)
    }

    pub(crate) fn encode(&self, binding: &[u8; 32]) -> Result<Vec<u8>, GroupError> {
        if self.hosts.len() > MAX_HOSTS {
            return Err(GroupError::BadPolicy("more than 32 hosts"));
        }
        let mut flags = FLAG_E2EE_REQUIRED;
        if self.host_approval {
            flags |= FLAG_HOST_APPROVAL;
        }
        if self.hosts_only_remove {
            flags |= FLAG_HOSTS_ONLY_REMOVE;
        }
        if self.audio_padding {
            flags |= FLAG_AUDIO_PADDING;
        }
        let mut out = vec![POLICY_VERSION, flags];
        out.extend_from_slice(binding);
        out.push(self.hosts.len() as u8);
        for h in &self.hosts {
            out.extend_from_slice(h.as_bytes());
        }
        Ok(out)
    }

    pub(crate) fn decode(b: &[u8]) -> Result<(Self, [u8; 32]), GroupError> {
        if b.len() < 2 + 32 + 1 {
            return Err(GroupError::BadPolicy("too short"));
        }
        if b[0] != POLICY_VERSION {
            return Err(GroupError::BadPolicy("unknown version"));
        }
        let flags = b[1];
        if flags & FLAG_E2EE_REQUIRED == 0 {
            return Err(GroupError::BadPolicy("E2EE-required bit is off"));
        }
        if flags & !0x0F != 0 {
            return Err(GroupError::BadPolicy("unknown flags"));
        }
        let mut binding = [0u8; 32];
        binding.copy_from_slice(&b[2..34]);
        let n = b[34] as usize;
        let hosts_bytes = &b[35..];
        if n > MAX_HOSTS || hosts_bytes.len() != n * 32 {
            return Err(GroupError::BadPolicy("host list length"));
        }
        let hosts = hosts_bytes
            .chunks_exact(32)
            .map(|c| {
                let mut k = [0u8; 32];
                k.copy_from_slice(c);
                PublicIdentity(k)
            })
            .collect();
        Ok((
            RoomPolicy {
                hosts,
                host_approval: flags & FLAG_HOST_APPROVAL != 0,
                hosts_only_remove: flags & FLAG_HOSTS_ONLY_REMOVE != 0,
                audio_padding: flags & FLAG_AUDIO_PADDING != 0,
            },
            binding,
        ))
    }
}

/// `HMAC(admit_key, "conclave group binding v1" ‖ group_id)`.
pub(crate) fn group_binding(key: &AdmitKey, group_id: &[u8]) -> [u8; 32] {
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(&key.0) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(b"conclave group binding v1");
    mac.update(group_id);
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_round_trips_and_refuses_plaintext() {
        let p = RoomPolicy {
            hosts: vec![PublicIdentity([1; 32]), PublicIdentity([2; 32])],
            host_approval: true,
            hosts_only_remove: false,
            audio_padding: true,
        };
        let enc = p.encode(&[9; 32]).unwrap();
        assert_eq!(RoomPolicy::decode(&enc).unwrap(), (p, [9; 32]));
        let mut plain = enc.clone();
        plain[1] &= !FLAG_E2EE_REQUIRED;
        assert!(RoomPolicy::decode(&plain).is_err());
        for cut in 0..enc.len() {
            assert!(RoomPolicy::decode(&enc[..cut]).is_err());
        }
    }

    #[test]
    fn rooms_pad_audio_by_default() {
        let p = RoomPolicy::default();
        assert!(p.audio_padding);
        let enc = p.encode(&[0; 32]).unwrap();
        assert_ne!(enc[1] & FLAG_AUDIO_PADDING, 0);
        assert!(RoomPolicy::decode(&enc).unwrap().0.audio_padding);
    }
}
