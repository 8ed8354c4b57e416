//! The relay's own opening of a peer's SRTCP packets, for the one kind it
//! handles itself: transport-wide congestion-control feedback. Subscribers
//! send it every 50–100 ms; through str0m each report cost a full input and
//! poll of the peer's `Rtc` (docs/benchmarks.md, "Where congestion
//! control's cost goes"). [`SrtcpReceiver::open`] authenticates and
//! decrypts a packet under the peer's inbound SRTCP key (RFC 7714 §9, the
//! AEAD-GCM profiles; derived from the same DTLS keying material the relay
//! already seals its own sends with, `crate::srtp`) and refuses a replayed
//! index. The forwarding core takes the packet only if it holds nothing but
//! feedback (`conclave_proto::rtcp::only_twcc`); anything else — another
//! profile, a failed check, a packet with a receiver report or NACK in it —
//! goes to str0m unchanged, so a mistake here costs speed, not correctness.

use std::fmt;

use str0m::crypto::dtls::SrtpProfile;
use str0m::crypto::{AeadAes128Gcm, AeadAes128GcmCipher, AeadAes256Gcm, AeadAes256GcmCipher};
use zeroize::Zeroizing;

use crate::srtp::{derive, halves, inner, Keys};

/// RFC 3711 §4.3.1 labels.
const LABEL_RTCP_ENCRYPTION: u8 = 3;
const LABEL_RTCP_SALT: u8 = 5;
/// The RTCP header and sender SSRC in clear at the front of every packet.
const HEADER_LEN: usize = 8;
/// E flag and 31-bit SRTCP index at the end.
const INDEX_LEN: usize = 4;
/// The GCM tag before it (16 bytes in both profiles).
const TAG_LEN: usize = AeadAes128Gcm::TAG_LEN;
/// How far back a late packet's index is still taken (RFC 3711 §3.3.2's
/// minimum window).
const REPLAY_WINDOW: u32 = 64;

enum Open {
    Gcm128(Box<dyn AeadAes128GcmCipher>),
    Gcm256(Box<dyn AeadAes256GcmCipher>),
}

/// One peer's inbound SRTCP, opened by the relay itself.
pub struct SrtcpReceiver {
    open: Open,
    salt: [u8; 12],
    /// Highest index taken, and a bit per index below it (bit 0: itself).
    top: Option<u32>,
    seen: u64,
    /// The last opened packet.
    plain: Vec<u8>,
}

impl fmt::Debug for SrtcpReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = match self.open {
            Open::Gcm128(_) => "AEAD_AES_128_GCM",
            Open::Gcm256(_) => "AEAD_AES_256_GCM",
        };
        write!(f, "SrtcpReceiver({p})")
    }
}

/// The peer's SRTCP session key and salt (labels 3 and 5 under the
/// master the peer writes with).
fn session<const K: usize>(keys: &Keys) -> Option<(Zeroizing<[u8; K]>, [u8; 12])> {
    let srtp = inner().srtp_provider;
    let (master, master_salt) = halves::<K, 12>(&keys.material, !keys.active)?;
    let mut key = Zeroizing::new([0u8; K]);
    let mut salt = [0u8; 12];
    derive(
        srtp,
        &master[..],
        &master_salt,
        LABEL_RTCP_ENCRYPTION,
        &mut key[..],
    );
    derive(srtp, &master[..], &master_salt, LABEL_RTCP_SALT, &mut salt);
    Some((key, salt))
}

impl SrtcpReceiver {
    /// The receiver for a peer's exported keys; `None` for a profile it
    /// does not open (AES-CM): that peer's feedback goes through str0m.
    pub fn new(keys: &Keys) -> Option<Self> {
        let srtp = inner().srtp_provider;
        let (open, salt) = match keys.profile {
            SrtpProfile::AEAD_AES_128_GCM => {
                let (key, salt) = session::<16>(keys)?;
                let cipher = srtp.aead_aes_128_gcm().create_cipher(*key, false);
                (Open::Gcm128(cipher), salt)
            }
            SrtpProfile::AEAD_AES_256_GCM => {
                let (key, salt) = session::<32>(keys)?;
                let cipher = srtp.aead_aes_256_gcm().create_cipher(*key, false);
                (Open::Gcm256(cipher), salt)
            }
            _ => return None,
        };
        Some(SrtcpReceiver {
            open,
            salt,
            top: None,
            seen: 0,
            plain: Vec::new(),
        })
    }

    /// Opens SRTCP packet `packet`: the compound RTCP packet inside, if it
    /// is encrypted, authentic under the peer's key, and its index was not
    /// taken before. The index counts as taken only once it authenticated.
    pub fn open(&mut self, packet: &[u8]) -> Option<&[u8]> {
        if packet.len() < HEADER_LEN + TAG_LEN + INDEX_LEN {
            return None;
        }
        let at = packet.len() - INDEX_LEN;
        let e_index = u32::from_be_bytes(packet[at..].try_into().ok()?);
        if e_index & 0x8000_0000 == 0 {
            return None; // not encrypted: str0m's to judge
        }
        let index = e_index & 0x7fff_ffff;
        if !self.fresh(index) {
            return None;
        }
        let ssrc = u32::from_be_bytes(packet[4..8].try_into().ok()?);
        let mut aad = [0u8; HEADER_LEN + INDEX_LEN];
        aad[..HEADER_LEN].copy_from_slice(&packet[..HEADER_LEN]);
        aad[HEADER_LEN..].copy_from_slice(&e_index.to_be_bytes());
        let input = &packet[HEADER_LEN..at];
        self.plain.clear();
        self.plain.extend_from_slice(&packet[..HEADER_LEN]);
        self.plain.resize(HEADER_LEN + input.len() - TAG_LEN, 0);
        let out = &mut self.plain[HEADER_LEN..];
        let n = match &mut self.open {
            Open::Gcm128(c) => {
                let iv = AeadAes128Gcm::rtcp_iv(self.salt, ssrc, index);
                c.decrypt(&iv, &[&aad], input, out).ok()?
            }
            Open::Gcm256(c) => {
                let iv = AeadAes256Gcm::rtcp_iv(self.salt, ssrc, index);
                c.decrypt(&iv, &[&aad], input, out).ok()?
            }
        };
        self.plain.truncate(HEADER_LEN + n);
        self.mark(index);
        Some(&self.plain)
    }

    /// Whether `index` is new: above the highest taken, or within the
    /// window below it and not taken.
    fn fresh(&self, index: u32) -> bool {
        match self.top {
            None => true,
            Some(top) if index > top => true,
            Some(top) => {
                let back = top - index;
                back < REPLAY_WINDOW && self.seen & (1 << back) == 0
            }
        }
    }

    fn mark(&mut self, index: u32) {
        match self.top {
            Some(top) if index <= top => {
                if top - index < REPLAY_WINDOW {
                    self.seen |= 1 << (top - index);
                }
            }
            Some(top) => {
                let shift = index - top;
                self.seen = if shift >= REPLAY_WINDOW {
                    0
                } else {
                    self.seen << shift
                } | 1;
                self.top = Some(index);
            }
            None => {
                self.seen = 1;
                self.top = Some(index);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Opening against str0m's own SRTCP is proven in tests/congestion.rs
    //! (real str0m subscribers' feedback, `conclave_bwe_feedback_direct_total`);
    //! here: the replay window, tampering, and what is left to str0m.
    use super::*;

    /// A receiver for a relay that is the DTLS server, and a sealer for
    /// the peer (the DTLS client) on the same keying material.
    fn pair() -> (SrtcpReceiver, impl FnMut(&[u8], u32) -> Vec<u8>) {
        let material: Vec<u8> = (0..56u8).map(|b| b.wrapping_mul(7) ^ 0x5a).collect();
        let keys = |active| Keys {
            material: Zeroizing::new(material.clone()),
            profile: SrtpProfile::AEAD_AES_128_GCM,
            active,
        };
        let rx = SrtcpReceiver::new(&keys(false)).expect("GCM opens");
        // The peer seals under its own (the client's) halves: ours with !active.
        let (key, salt) = session::<16>(&keys(false)).expect("halves");
        let mut cipher = inner()
            .srtp_provider
            .aead_aes_128_gcm()
            .create_cipher(*key, true);
        let seal = move |rtcp: &[u8], index: u32| {
            let e_index = 0x8000_0000 | index;
            let ssrc = u32::from_be_bytes(rtcp[4..8].try_into().unwrap());
            let iv = AeadAes128Gcm::rtcp_iv(salt, ssrc, index);
            let mut aad = rtcp[..8].to_vec();
            aad.extend_from_slice(&e_index.to_be_bytes());
            let mut out = rtcp[..8].to_vec();
            out.resize(rtcp.len() + TAG_LEN, 0);
            cipher
                .encrypt(&iv, &aad, &rtcp[8..], &mut out[8..])
                .unwrap();
            out.extend_from_slice(&e_index.to_be_bytes());
            out
        };
        (rx, seal)
    }

    #[test]
    fn opens_once_per_index_and_refuses_tampering() {
        let (mut rx, mut seal) = pair();
        let rtcp = [
            0x8f, 205, 0, 4, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2, 9, 9, 9, 0,
        ];
        let p5 = seal(&rtcp, 5);
        assert_eq!(rx.open(&p5), Some(&rtcp[..]));
        assert_eq!(rx.open(&p5), None, "a replay");
        let p3 = seal(&rtcp, 3);
        assert_eq!(rx.open(&p3), Some(&rtcp[..]), "late but within the window");
        assert_eq!(rx.open(&p3), None);
        let p100 = seal(&rtcp, 100);
        assert!(rx.open(&p100).is_some());
        assert_eq!(rx.open(&seal(&rtcp, 30)), None, "older than the window");
        assert!(rx.open(&seal(&rtcp, 37)).is_some(), "the window's edge");
        let mut bad = seal(&rtcp, 101);
        bad[10] ^= 1;
        assert_eq!(rx.open(&bad), None, "tampered");
        assert!(
            rx.open(&seal(&rtcp, 101)).is_some(),
            "a forgery does not use up the index"
        );
        // Not encrypted (E = 0): left to str0m.
        let mut clear = seal(&rtcp, 102);
        let n = clear.len();
        clear[n - 4] &= 0x7f;
        assert_eq!(rx.open(&clear), None);
        assert_eq!(rx.open(&[0x80, 200, 0, 1]), None, "too short");
    }

    #[test]
    fn aes_cm_is_left_to_str0m() {
        let keys = Keys {
            material: Zeroizing::new(vec![1; 60]),
            profile: SrtpProfile::AES128_CM_SHA1_80,
            active: true,
        };
        assert!(SrtcpReceiver::new(&keys).is_none());
    }
}
