//! RFC 9605 Appendix C test vectors, checked byte for byte against the SFrame
//! implementation this crate uses (the `sframe` crate with the same backend).

use serde::Deserialize;
use sframe::frame::{EncryptedFrameView, MediaFrameView, SingleUseCounter};
use sframe::header::SframeHeader;
use sframe::key::{DecryptionKey, EncryptionKey};
use sframe::CipherSuite;

const VECTORS: &str = include_str!("vectors/rfc9605-test-vectors.json");

#[derive(Deserialize)]
struct Vectors {
    header: Vec<HeaderVector>,
    sframe: Vec<SframeVector>,
}

#[derive(Deserialize)]
struct HeaderVector {
    kid: u64,
    ctr: u64,
    encoded: String,
}

#[derive(Deserialize)]
struct SframeVector {
    cipher_suite: u16,
    kid: u64,
    ctr: u64,
    base_key: String,
    metadata: String,
    aad: String,
    pt: String,
    ct: String,
}

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0);
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn vectors() -> Vectors {
    serde_json::from_str(VECTORS).expect("vector file parses")
}

#[test]
fn rfc9605_header_vectors() {
    let v = vectors();
    assert_eq!(v.header.len(), 289);
    for h in &v.header {
        let want = hex(&h.encoded);
        let header = SframeHeader::new(h.kid, h.ctr);
        assert_eq!(header.len(), want.len(), "kid {} ctr {}", h.kid, h.ctr);
        let mut buf = vec![0u8; header.len()];
        header.serialize(&mut buf).expect("serialize");
        assert_eq!(buf, want, "kid {} ctr {}", h.kid, h.ctr);
        let back = SframeHeader::deserialize(&want).expect("deserialize");
        assert_eq!((back.key_id(), back.counter()), (h.kid, h.ctr));
    }
}

fn suite(id: u16) -> Option<CipherSuite> {
    match id {
        0x0004 => Some(CipherSuite::AesGcm128Sha256),
        0x0005 => Some(CipherSuite::AesGcm256Sha512),
        _ => None,
    }
}

#[test]
fn rfc9605_sframe_encryption_vectors() {
    let v = vectors();
    let mut checked = Vec::new();
    for s in &v.sframe {
        let Some(suite) = suite(s.cipher_suite) else {
            continue;
        };
        let base_key = hex(&s.base_key);
        let metadata = hex(&s.metadata);
        let pt = hex(&s.pt);
        let ct = hex(&s.ct);
        let aad = hex(&s.aad);

        // AAD = header ‖ metadata (RFC 9605 §4.4.3).
        let header = SframeHeader::new(s.kid, s.ctr);
        assert_eq!(&aad[..header.len()], &ct[..header.len()]);
        assert_eq!(&aad[header.len()..], &metadata[..]);

        let enc_key = EncryptionKey::derive_from(suite, s.kid, &base_key).expect("key");
        let mut counter = SingleUseCounter::new(s.ctr);
        let frame =
            MediaFrameView::try_with_meta_data(&mut counter, &pt, &metadata).expect("frame");
        let mut buf = Vec::new();
        let encrypted = frame.encrypt_into(&enc_key, &mut buf).expect("encrypt");
        assert_eq!(
            encrypted.sframe_cipher_text(),
            &ct[..],
            "suite {:#06x}",
            s.cipher_suite
        );

        let dec_key = DecryptionKey::derive_from(suite, s.kid, &base_key).expect("key");
        let view = EncryptedFrameView::try_with_meta_data(&ct, &metadata).expect("parse");
        let mut out = Vec::new();
        let decrypted = view.decrypt_into(&dec_key, &mut out).expect("decrypt");
        assert_eq!(decrypted.payload(), &pt[..]);

        // One flipped bit anywhere in the ciphertext or metadata: refused.
        let mut bad = ct.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let view = EncryptedFrameView::try_with_meta_data(&bad, &metadata).expect("parse");
        assert!(view.decrypt_into(&dec_key, &mut Vec::new()).is_err());
        let mut bad_meta = metadata.clone();
        bad_meta[0] ^= 1;
        let view = EncryptedFrameView::try_with_meta_data(&ct, &bad_meta).expect("parse");
        assert!(view.decrypt_into(&dec_key, &mut Vec::new()).is_err());
        checked.push(s.cipher_suite);
    }
    assert!(
        checked.contains(&0x0004),
        "suite 0x0004 (the one Conclave uses) was checked"
    );
    assert_eq!(checked, vec![0x0004, 0x0005]);
}

/// The suite and exporter parameters Conclave uses are the RFC's.
#[test]
fn conclave_uses_suite_0x0004_with_rfc_exporter_label() {
    assert_eq!(conclave_e2ee::media::SFRAME_SUITE as u16, 0x0004);
    assert_eq!(
        conclave_e2ee::media::SFRAME_EXPORTER_LABEL,
        "SFrame 1.0 Base Key"
    );
    assert_eq!(
        conclave_e2ee::media::BASE_KEY_LEN,
        conclave_e2ee::media::SFRAME_SUITE.key_len()
    );
}
