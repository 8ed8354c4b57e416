//! Media frames arrive from the relay: any bytes. Decryption must never panic
//! and must never return a frame that was not made with the epoch's key (the
//! fuzzer cannot forge AES-GCM, so every Ok must come from a seed).
#![no_main]
use conclave_e2ee::{Codec, FrameReceiver, MediaEpoch};
use libfuzzer_sys::fuzz_target;
use zeroize::Zeroizing;

/// The key the committed seeds were encrypted with (fuzz/seeds/README.md).
const SEED_KEY: [u8; 16] = [0x5e; 16];

fuzz_target!(|data: &[u8]| {
    let Some((sel, frame)) = data.split_first() else {
        return;
    };
    let codec = match sel % 3 {
        0 => Codec::Vp8,
        1 => Codec::Opus,
        _ => Codec::Raw,
    };
    let pad = sel & 0x80 != 0;
    let mut rx = FrameReceiver::new();
    let epoch = MediaEpoch::new(
        1,
        Zeroizing::new(SEED_KEY.to_vec()),
        vec![0, 1, 2, 3],
        0,
        pad,
    );
    rx.add_epoch(&epoch, 0);
    if let Ok(got) = rx.decrypt(codec, frame, 0) {
        // Authentic: a replay of the same bytes is refused.
        assert!(got.sender < 4);
        assert!(rx.decrypt(codec, frame, 0).is_err());
    }
});
