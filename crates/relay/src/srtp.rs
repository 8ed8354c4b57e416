//! The relay's own SRTP sender for forwarded media ("direct send").
//!
//! str0m runs every peer's ICE, DTLS and RTCP; for each forwarded copy it
//! would also build a packet record, queue it, pace it, cache it for
//! retransmission and poll it out (docs/benchmarks.md, "Direct send"). On the
//! direct path the relay writes the 12-byte header itself and seals the copy
//! with the peer's outbound SRTP session keys (RFC 3711 key derivation,
//! RFC 7714 AEAD or AES-CM + HMAC-SHA1 protection), using str0m's own cipher
//! provider for the AES work; `Sfu::retransmit` answers NACKs for them.
//!
//! The keys are hop-by-hop SRTP keys between the relay and one browser, the
//! same ones str0m already holds for that peer; the media stays sealed end to
//! end with SFrame inside them.
//!
//! Getting the keys: str0m exports the DTLS-SRTP keying material only to its
//! own SRTP context. [`provider`] wraps the DTLS provider so that each peer's
//! DTLS instance also hands its exported material to that peer's [`KeySlot`].

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, DtlsVersion, ProtocolVersion,
    SrtpProfile,
};
use zeroize::Zeroizing;

use str0m::crypto::{
    AeadAes128Gcm, AeadAes128GcmCipher, AeadAes256Gcm, AeadAes256GcmCipher, Aes128CmSha1_80,
    Aes128CmSha1_80Cipher, CryptoError, CryptoProvider, Sha1HmacProvider, SrtpProvider,
};

/// RFC 3711 §4.3.1 labels.
const LABEL_RTP_ENCRYPTION: u8 = 0;
const LABEL_RTP_AUTH: u8 = 1;
const LABEL_RTP_SALT: u8 = 2;

/// Bytes an RTP header written by [`SrtpSender::seal`] takes without
/// extension (and never a CSRC).
pub const HEADER_LEN: usize = 12;

/// Bytes the transport-wide sequence number adds: an RFC 8285 one-byte
/// extension block (0xBEDE, length 1) holding one 2-byte element.
pub const TWCC_EXT_LEN: usize = 8;

/// The header of one RTP packet the relay seals.
#[derive(Debug, Clone, Copy)]
pub struct RtpOut {
    /// The marker bit.
    pub marker: bool,
    /// Payload type.
    pub pt: u8,
    /// The 48-bit extended sequence number (SRTP packet index); its low 16
    /// bits are the header's sequence number.
    pub index: u64,
    /// RTP timestamp.
    pub timestamp: u32,
    /// SSRC.
    pub ssrc: u32,
    /// The transport-wide sequence number and its extension id (1..=14),
    /// or `None` for no extension.
    pub twcc: Option<(u8, u16)>,
}

impl RtpOut {
    /// Bytes of its header.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + if self.twcc.is_some() { TWCC_EXT_LEN } else { 0 }
    }
}

/// What a DTLS handshake exported for SRTP, and which side of it we were.
pub struct Keys {
    pub(crate) material: Zeroizing<Vec<u8>>,
    pub(crate) profile: SrtpProfile,
    /// DTLS client: our outbound keys are the "client write" (left) halves.
    pub(crate) active: bool,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keys({:?}, active: {})", self.profile, self.active)
    }
}

/// Where one peer's DTLS instance leaves its SRTP keying material.
#[derive(Debug, Default)]
pub struct KeySlot {
    keys: Mutex<Option<Keys>>,
    /// Set with `keys`: polled on every release without taking the lock.
    fresh: AtomicBool,
}

impl KeySlot {
    /// Takes the keys once the handshake has exported them.
    pub fn take(&self) -> Option<Keys> {
        // A plain load first: after the handshake this runs on every
        // release and finds nothing; a swap would write the line each time.
        if !self.fresh.load(Ordering::Relaxed) || !self.fresh.swap(false, Ordering::Acquire) {
            return None;
        }
        self.keys.lock().ok()?.take()
    }

    fn put(&self, keys: Keys) {
        if let Ok(mut k) = self.keys.lock() {
            *k = Some(keys);
            self.fresh.store(true, Ordering::Release);
        }
    }
}

thread_local! {
    /// The slot the next DTLS instance created on this thread reports to
    /// (set around `RtcConfig::build`, which creates it synchronously).
    static NEXT_SLOT: RefCell<Option<Arc<KeySlot>>> = const { RefCell::new(None) };
}

/// Runs `build` (which must create exactly one `Rtc` with [`provider`]) so
/// that the `Rtc`'s DTLS instance reports its keys to the returned slot.
pub fn with_key_slot<T>(build: impl FnOnce() -> T) -> (T, Arc<KeySlot>) {
    /// Clears the hand-off however `build` ends, so no later instance on
    /// this thread reports to this slot.
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            NEXT_SLOT.with(|s| s.borrow_mut().take());
        }
    }
    let slot = Arc::new(KeySlot::default());
    NEXT_SLOT.with(|s| *s.borrow_mut() = Some(slot.clone()));
    let _clear = Clear;
    (build(), slot)
}

pub(crate) fn inner() -> &'static CryptoProvider {
    static INNER: OnceLock<CryptoProvider> = OnceLock::new();
    INNER.get_or_init(str0m::crypto::from_feature_flags)
}

/// str0m's default crypto provider with DTLS instances that also report
/// their SRTP keys (see [`with_key_slot`]).
pub fn provider() -> Arc<CryptoProvider> {
    static TAPPED: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    static TAP: KeyTap = KeyTap;
    TAPPED
        .get_or_init(|| {
            let i = inner();
            Arc::new(CryptoProvider {
                srtp_provider: i.srtp_provider,
                sha1_hmac_provider: i.sha1_hmac_provider,
                sha1_provider: i.sha1_provider,
                sha256_provider: i.sha256_provider,
                dtls_provider: &TAP,
            })
        })
        .clone()
}

#[derive(Debug)]
struct KeyTap;

impl DtlsProvider for KeyTap {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        inner().dtls_provider.generate_certificate()
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        dtls_version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        let inner = inner()
            .dtls_provider
            .new_dtls(cert, now, dtls_version, mtu)?;
        let slot = NEXT_SLOT.with(|s| s.borrow_mut().take());
        Ok(Box::new(TappedDtls { inner, slot }))
    }
}

#[derive(Debug)]
struct TappedDtls {
    inner: Box<dyn DtlsInstance>,
    slot: Option<Arc<KeySlot>>,
}

impl DtlsInstance for TappedDtls {
    fn set_active(&mut self, active: bool) {
        self.inner.set_active(active)
    }
    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.inner.handle_packet(packet)
    }
    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        let out = self.inner.poll_output(buf);
        if let (DtlsOutput::KeyingMaterial(mat, profile), Some(slot)) = (&out, &self.slot) {
            slot.put(Keys {
                material: Zeroizing::new(mat.to_vec()),
                profile: *profile,
                active: self.inner.is_active(),
            });
        }
        out
    }
    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.inner.handle_timeout(now)
    }
    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.inner.send_application_data(data)
    }
    fn is_active(&self) -> bool {
        self.inner.is_active()
    }
    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.inner.protocol_version()
    }
    fn is_closing(&self) -> bool {
        self.inner.is_closing()
    }
    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.inner.close()
    }
}

/// RFC 3711 §4.3.1 key derivation (AES-CM PRF, key derivation rate 0) of
/// `out.len()` bytes for `label` from a master key and salt (≤ 14 bytes).
pub(crate) fn derive(
    srtp: &dyn SrtpProvider,
    master: &[u8],
    salt: &[u8],
    label: u8,
    out: &mut [u8],
) {
    let mut x = [0u8; 16];
    x[..salt.len()].copy_from_slice(salt);
    // key_id = label || r (r = 0) occupies bytes 7..14 of the 112-bit x.
    x[7] ^= label;
    let mut block = [0u8; 32];
    for (i, chunk) in out.chunks_mut(16).enumerate() {
        x[14..16].copy_from_slice(&(i as u16).to_be_bytes());
        if master.len() == 32 {
            srtp.srtp_aes_256_ecb_round(master, &x, &mut block);
        } else {
            srtp.srtp_aes_128_ecb_round(master, &x, &mut block);
        }
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
}

enum Seal {
    Gcm128 {
        salt: [u8; 12],
        cipher: Box<dyn AeadAes128GcmCipher>,
    },
    Gcm256 {
        salt: [u8; 12],
        cipher: Box<dyn AeadAes256GcmCipher>,
    },
    Cm128 {
        salt: [u8; 14],
        auth: [u8; 20],
        cipher: Box<dyn Aes128CmSha1_80Cipher>,
        hmac: &'static dyn Sha1HmacProvider,
    },
}

/// One peer's outbound SRTP session for the packets the relay writes itself.
pub struct SrtpSender {
    seal: Seal,
}

impl fmt::Debug for SrtpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = match self.seal {
            Seal::Gcm128 { .. } => "AEAD_AES_128_GCM",
            Seal::Gcm256 { .. } => "AEAD_AES_256_GCM",
            Seal::Cm128 { .. } => "AES128_CM_SHA1_80",
        };
        write!(f, "SrtpSender({p})")
    }
}

/// The master key and salt out of RFC 5764 §4.2 keying material (client
/// key, server key, client salt, server salt) that the DTLS client writes
/// with if `active`, else the server's: with our own role, what we send
/// under; with the other, what the peer sends under.
pub(crate) fn halves<const K: usize, const S: usize>(
    mat: &[u8],
    active: bool,
) -> Option<(Zeroizing<[u8; K]>, [u8; S])> {
    if mat.len() != 2 * K + 2 * S {
        return None;
    }
    let (k, s) = if active { (0, 2 * K) } else { (K, 2 * K + S) };
    let mut key = Zeroizing::new([0u8; K]);
    let mut salt = [0u8; S];
    key.copy_from_slice(&mat[k..k + K]);
    salt.copy_from_slice(&mat[s..s + S]);
    Some((key, salt))
}

/// One direction's master key and salt (RFC 3711 §4.3.1) with `K`-byte keys
/// and `S`-byte salts.
struct Master<const K: usize, const S: usize> {
    srtp: &'static dyn SrtpProvider,
    key: Zeroizing<[u8; K]>,
    salt: [u8; S],
}

impl<const K: usize, const S: usize> Master<K, S> {
    /// The outbound master of a peer's exported keys.
    fn outbound(srtp: &'static dyn SrtpProvider, keys: &Keys) -> Option<Self> {
        let (key, salt) = halves::<K, S>(&keys.material, keys.active)?;
        Some(Master { srtp, key, salt })
    }

    fn derive(&self, label: u8, out: &mut [u8]) {
        derive(self.srtp, &self.key[..], &self.salt, label, out);
    }

    /// The RTP session key and salt.
    fn session(&self) -> (Zeroizing<[u8; K]>, [u8; S]) {
        let mut key = Zeroizing::new([0u8; K]);
        let mut salt = [0u8; S];
        self.derive(LABEL_RTP_ENCRYPTION, &mut key[..]);
        self.derive(LABEL_RTP_SALT, &mut salt);
        (key, salt)
    }
}

impl SrtpSender {
    /// The sender for a peer's exported keys, or `None` for a profile (or
    /// material) it does not know; that peer then stays on str0m's path.
    pub fn new(keys: &Keys) -> Option<Self> {
        let crypto = inner();
        let srtp = crypto.srtp_provider;
        let seal = match keys.profile {
            SrtpProfile::AEAD_AES_128_GCM => {
                let (key, salt) = Master::<16, 12>::outbound(srtp, keys)?.session();
                Seal::Gcm128 {
                    salt,
                    cipher: srtp.aead_aes_128_gcm().create_cipher(*key, true),
                }
            }
            SrtpProfile::AEAD_AES_256_GCM => {
                let (key, salt) = Master::<32, 12>::outbound(srtp, keys)?.session();
                Seal::Gcm256 {
                    salt,
                    cipher: srtp.aead_aes_256_gcm().create_cipher(*key, true),
                }
            }
            SrtpProfile::AES128_CM_SHA1_80 => {
                let master = Master::<16, 14>::outbound(srtp, keys)?;
                let (key, salt) = master.session();
                let mut auth = [0u8; 20];
                master.derive(LABEL_RTP_AUTH, &mut auth);
                Seal::Cm128 {
                    salt,
                    auth,
                    cipher: srtp.aes_128_cm_sha1_80().create_cipher(*key, true),
                    hmac: crypto.sha1_hmac_provider,
                }
            }
            _ => return None,
        };
        Some(SrtpSender { seal })
    }

    /// Bytes of the SRTP packet [`SrtpSender::seal_into`] makes of a
    /// `payload_len`-byte payload under `header`.
    pub fn sealed_len(&self, header: &RtpOut, payload_len: usize) -> usize {
        header.header_len()
            + payload_len
            + match self.seal {
                Seal::Gcm128 { .. } => AeadAes128Gcm::TAG_LEN,
                Seal::Gcm256 { .. } => AeadAes256Gcm::TAG_LEN,
                Seal::Cm128 { .. } => Aes128CmSha1_80::HMAC_TAG_LEN,
            }
    }

    /// One SRTP packet as a new buffer (see [`SrtpSender::seal_into`]).
    pub fn seal(&mut self, header: &RtpOut, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.sealed_len(header, payload.len()) + 16);
        self.seal_into(header, payload, &mut out);
        out
    }

    /// Appends an SRTP packet to `buf`: an RTP header (version 2, no CSRC;
    /// the transport-wide sequence number in a one-byte-header extension if
    /// `h.twcc` says so) and `payload`, protected under packet index
    /// `h.index`. Never seal two different packets under one (ssrc, index):
    /// the AEAD nonce is built from them.
    pub fn seal_into(&mut self, h: &RtpOut, payload: &[u8], buf: &mut Vec<u8>) {
        // AES-CM via aws-lc-rs wants a block of slack after the input.
        let tag = match self.seal {
            Seal::Gcm128 { .. } => AeadAes128Gcm::TAG_LEN,
            Seal::Gcm256 { .. } => AeadAes256Gcm::TAG_LEN,
            Seal::Cm128 { .. } => 16,
        };
        let start = buf.len();
        let header_len = h.header_len();
        let body = header_len + payload.len();
        buf.resize(start + body + tag, 0);
        let out = &mut buf[start..];
        let (index, ssrc) = (h.index, h.ssrc);
        let seq = index as u16;
        out[0] = if h.twcc.is_some() { 0x90 } else { 0x80 };
        out[1] = (h.pt & 0x7f) | if h.marker { 0x80 } else { 0 };
        out[2..4].copy_from_slice(&seq.to_be_bytes());
        out[4..8].copy_from_slice(&h.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&ssrc.to_be_bytes());
        if let Some((id, twcc)) = h.twcc {
            // RFC 8285 §4.2: 0xBEDE, one 32-bit word; element: id, length-1 = 1.
            out[12..16].copy_from_slice(&[0xBE, 0xDE, 0, 1]);
            out[16] = (id & 0x0f) << 4 | 1;
            out[17..19].copy_from_slice(&twcc.to_be_bytes());
            out[19] = 0;
        }
        let roc = (index >> 16) as u32;
        let (header, rest) = out.split_at_mut(header_len);
        // The ciphers fail only on wrong buffer sizes, which are fixed above.
        match &mut self.seal {
            Seal::Gcm128 { salt, cipher } => {
                let iv = AeadAes128Gcm::rtp_iv(*salt, ssrc, roc, seq);
                let _ = cipher.encrypt(&iv, header, payload, rest);
            }
            Seal::Gcm256 { salt, cipher } => {
                let iv = AeadAes256Gcm::rtp_iv(*salt, ssrc, roc, seq);
                let _ = cipher.encrypt(&iv, header, payload, rest);
            }
            Seal::Cm128 {
                salt,
                auth,
                cipher,
                hmac,
            } => {
                let iv = Aes128CmSha1_80::rtp_iv(*salt, ssrc, index);
                let _ = cipher.encrypt(&iv, payload, rest);
                let mac = |k: &[u8], p: &[&[u8]]| hmac.sha1_hmac(k, p);
                Aes128CmSha1_80::rtp_hmac(mac, auth, out, index, body);
                buf.truncate(start + body + Aes128CmSha1_80::HMAC_TAG_LEN);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// RFC 3711 Appendix B.3: key derivation test vectors.
    #[test]
    fn key_derivation_matches_rfc3711_b3() {
        let srtp = inner().srtp_provider;
        let master = unhex("E1F97A0D3E018BE0D64FA32C06DE4139");
        let salt = unhex("0EC675AD498AFEEBB6960B3AABE6");
        let mut key = Zeroizing::new([0u8; 16]);
        derive(srtp, &master, &salt, LABEL_RTP_ENCRYPTION, &mut key[..]);
        assert_eq!(key.to_vec(), unhex("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut s = [0u8; 14];
        derive(srtp, &master, &salt, LABEL_RTP_SALT, &mut s);
        assert_eq!(s.to_vec(), unhex("30CBBC08863D8C85D49DB34A9AE1"));
        let mut auth = [0u8; 94];
        derive(srtp, &master, &salt, LABEL_RTP_AUTH, &mut auth);
        assert_eq!(
            auth.to_vec(),
            unhex(
                "CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
                 E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
                 6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2"
            )
        );
    }

    /// The relay's sender and str0m's reference SRTP on the same keying
    /// material (`len` bytes, a pattern from `mul` and `xor`).
    fn sender_pair(
        profile: SrtpProfile,
        len: u8,
        mul: u8,
        xor: u8,
    ) -> (SrtpSender, str0m::_internal_test_exports::TestSrtp) {
        use str0m::crypto::dtls::KeyingMaterial;
        let material: Vec<u8> = (0..len).map(|b| b.wrapping_mul(mul) ^ xor).collect();
        let keys = Keys {
            material: Zeroizing::new(material.clone()),
            profile,
            active: true,
        };
        let ours = SrtpSender::new(&keys).expect("known profile");
        let theirs = str0m::_internal_test_exports::TestSrtp::new(
            inner(),
            profile,
            &KeyingMaterial::new(&material),
        );
        (ours, theirs)
    }

    /// The relay's seal against str0m's own SRTP for every profile: same
    /// ciphertext for the same keying material, packet index (ROC > 0
    /// included) and payload. (The headers differ — str0m always writes an
    /// extension block — so the tags do; the routing tests check that str0m
    /// accepts the relay's packets whole.)
    #[test]
    fn every_profile_encrypts_like_str0m() {
        use str0m::media::Pt;
        use str0m::rtp::{ExtensionMap, RtpHeader, Ssrc};

        for (profile, len) in [
            (SrtpProfile::AES128_CM_SHA1_80, 60),
            (SrtpProfile::AEAD_AES_128_GCM, 56),
            (SrtpProfile::AEAD_AES_256_GCM, 88),
        ] {
            let (mut ours, mut theirs) = sender_pair(profile, len, 37, 0x5c);
            let payload: Vec<u8> = (0..300u16).map(|i| (i * 7) as u8).collect();
            for index in [5u64, 0x1_0005, 0x2_ffff] {
                let header = RtpHeader {
                    payload_type: Pt::from(96),
                    sequence_number: index as u16,
                    timestamp: 12345,
                    ssrc: Ssrc::from(0xdead_beef),
                    ..Default::default()
                };
                let reference = theirs.protect(header, index, &payload, &ExtensionMap::empty());
                let out = RtpOut {
                    marker: false,
                    pt: 96,
                    index,
                    timestamp: 12345,
                    ssrc: 0xdead_beef,
                    twcc: None,
                };
                let sealed = ours.seal(&out, &payload);
                assert_eq!(sealed.len(), ours.sealed_len(&out, payload.len()));
                let h = reference.len() - sealed.len() + HEADER_LEN;
                assert_eq!(
                    sealed[HEADER_LEN..HEADER_LEN + payload.len()],
                    reference[h..h + payload.len()],
                    "{profile:?} index {index:#x}"
                );
                assert_eq!(&sealed[..4], &[0x80, 96, (index >> 8) as u8, index as u8]);
            }
        }
    }

    /// With the transport-wide sequence number the relay's packet is
    /// byte for byte what str0m makes of the same header: the extension
    /// block is written as str0m (and so browsers) read it.
    #[test]
    fn the_twcc_extension_matches_str0m() {
        use str0m::media::Pt;
        use str0m::rtp::{Extension, ExtensionMap, RtpHeader, Ssrc};

        let mut exts = ExtensionMap::empty();
        exts.set(5, Extension::TransportSequenceNumber);
        for profile in [
            SrtpProfile::AES128_CM_SHA1_80,
            SrtpProfile::AEAD_AES_128_GCM,
        ] {
            let len = if profile == SrtpProfile::AES128_CM_SHA1_80 {
                60
            } else {
                56
            };
            let (mut ours, mut theirs) = sender_pair(profile, len, 11, 0x3a);
            let payload: Vec<u8> = (0..200u16).map(|i| (i * 3) as u8).collect();
            for (index, twcc) in [(7u64, 0u16), (0x1_0001, 0xfffe)] {
                let mut header = RtpHeader {
                    payload_type: Pt::from(96),
                    sequence_number: index as u16,
                    timestamp: 999,
                    ssrc: Ssrc::from(0x0102_0304),
                    marker: true,
                    ..Default::default()
                };
                header.ext_vals.transport_cc = Some(twcc);
                let reference = theirs.protect(header, index, &payload, &exts);
                let out = RtpOut {
                    marker: true,
                    pt: 96,
                    index,
                    timestamp: 999,
                    ssrc: 0x0102_0304,
                    twcc: Some((5, twcc)),
                };
                let sealed = ours.seal(&out, &payload);
                assert_eq!(sealed.len(), ours.sealed_len(&out, payload.len()));
                assert_eq!(sealed, reference, "{profile:?} index {index:#x}");
            }
        }
    }

    #[test]
    fn keying_material_halves_follow_rfc5764() {
        let mat: Vec<u8> = (0u8..56).collect();
        let (k, s) = halves::<16, 12>(&mat, true).expect("client");
        assert_eq!(k[0], 0);
        assert_eq!(s[0], 32);
        let (k, s) = halves::<16, 12>(&mat, false).expect("server");
        assert_eq!(k[0], 16);
        assert_eq!(s[0], 44);
        assert!(halves::<16, 12>(&mat[..55], true).is_none());
    }
}
