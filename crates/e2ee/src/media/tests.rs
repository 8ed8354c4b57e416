//! Sender and receiver together: round trips, tampering, replays, epochs,
//! padding, stream contexts.

use sframe::header::SframeHeader;
use zeroize::Zeroizing;

use super::*;

fn epoch(e: u64, key: u8, members: &[u32], own: u32, pad: bool) -> MediaEpoch {
    MediaEpoch::new(
        e,
        Zeroizing::new(vec![key; BASE_KEY_LEN]),
        members.to_vec(),
        own,
        pad,
    )
}

fn vp8_key_frame() -> Vec<u8> {
    let mut f = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
    f.extend((0..500u32).map(|i| (i * 7) as u8));
    f
}

fn vp8_delta_frame() -> Vec<u8> {
    let mut f = vec![0x31];
    f.extend((0..300u32).map(|i| (i * 3) as u8));
    f
}

#[test]
fn frames_round_trip_with_clear_prefix() {
    let e = epoch(5, 1, &[0, 1, 2], 1, false);
    let mut tx = FrameSender::new(&e).unwrap();
    let mut rx = FrameReceiver::new();
    rx.add_epoch(&e, 0);
    for (codec, frame, n) in [
        (Codec::Vp8, vp8_key_frame(), 10),
        (Codec::Vp8, vp8_delta_frame(), 1),
        (Codec::Opus, vec![0x78; 80], 0),
        (Codec::Raw, b"hello".to_vec(), 0),
    ] {
        let enc = tx.encrypt(codec, &frame).unwrap();
        assert_eq!(&enc[..n], &frame[..n], "prefix stays in clear");
        assert!(!enc
            .windows(16)
            .any(|w| frame[n..].windows(16).any(|f| f == w)));
        let dec = rx.decrypt(codec, &enc, 1).unwrap();
        assert_eq!(dec.frame, frame);
        assert_eq!(dec.sender, 1);
        assert_eq!(dec.epoch, 5);
    }
}

#[test]
fn tampering_anywhere_is_rejected() {
    let e = epoch(1, 2, &[0, 1], 0, false);
    let mut tx = FrameSender::new(&e).unwrap();
    let frame = vp8_key_frame();
    let enc = tx.encrypt(Codec::Vp8, &frame).unwrap();
    let header_len = SframeHeader::deserialize(&enc[10..]).unwrap().len();
    // A fresh receiver per case, so the replay window is not what refuses.
    let check = |bytes: &[u8], codec: Codec| {
        let mut rx = FrameReceiver::new();
        rx.add_epoch(&e, 0);
        rx.decrypt(codec, bytes, 0)
    };
    assert!(check(&enc, Codec::Vp8).is_ok());
    // Clear prefix (a dimension byte).
    let mut t = enc.clone();
    t[7] ^= 1;
    assert_eq!(check(&t, Codec::Vp8), Err(FrameError::Authentication));
    // Prefix length: flip the key-frame bit, so the receiver reads 1 byte.
    let mut t = enc.clone();
    t[0] ^= 1;
    assert!(check(&t, Codec::Vp8).is_err());
    // Same bytes, read as a codec without a prefix.
    assert!(check(&enc, Codec::Raw).is_err());
    // SFrame header counter.
    let mut t = enc.clone();
    t[10 + header_len - 1] ^= 1;
    assert!(check(&t, Codec::Vp8).is_err());
    // Ciphertext.
    let mut t = enc.clone();
    t[10 + header_len + 3] ^= 0x40;
    assert_eq!(check(&t, Codec::Vp8), Err(FrameError::Authentication));
    // Tag.
    let mut t = enc.clone();
    let last = t.len() - 1;
    t[last] ^= 1;
    assert_eq!(check(&t, Codec::Vp8), Err(FrameError::Authentication));
    // Truncated.
    assert!(check(&enc[..enc.len() - 17], Codec::Vp8).is_err());
}

#[test]
fn replays_and_unknown_epochs_and_senders_have_distinct_errors() {
    let e = epoch(3, 3, &[0, 1, 2], 2, false);
    let mut tx = FrameSender::new(&e).unwrap();
    let mut rx = FrameReceiver::new();
    rx.add_epoch(&e, 0);
    let f0 = tx.encrypt(Codec::Raw, b"zero").unwrap();
    let f1 = tx.encrypt(Codec::Raw, b"one").unwrap();
    rx.decrypt(Codec::Raw, &f1, 0).unwrap();
    rx.decrypt(Codec::Raw, &f0, 0).unwrap(); // reordered: fine
    assert_eq!(rx.decrypt(Codec::Raw, &f1, 0), Err(FrameError::Replayed(1)));
    assert_eq!(rx.decrypt(Codec::Raw, &f0, 0), Err(FrameError::Replayed(0)));
    for _ in 0..=REPLAY_WINDOW {
        let f = tx.encrypt(Codec::Raw, b"x").unwrap();
        rx.decrypt(Codec::Raw, &f, 0).unwrap();
    }
    let late = {
        let mut tx2 = FrameSender::new(&e).unwrap();
        tx2.set_next_counter(2);
        tx2.encrypt(Codec::Raw, b"late").unwrap()
    };
    assert_eq!(rx.decrypt(Codec::Raw, &late, 0), Err(FrameError::TooOld(2)));

    let other_epoch = epoch(4, 3, &[0, 1, 2], 2, false);
    let f = FrameSender::new(&other_epoch)
        .unwrap()
        .encrypt(Codec::Raw, b"x")
        .unwrap();
    assert_eq!(
        rx.decrypt(Codec::Raw, &f, 0),
        Err(FrameError::UnknownEpoch(4))
    );

    // Leaf 3 is not a member of epoch 3 (members 0..=2, S = 2 bits).
    let ghost = epoch(3, 3, &[0, 1, 2, 3], 3, false);
    let f = FrameSender::new(&ghost)
        .unwrap()
        .encrypt(Codec::Raw, b"x")
        .unwrap();
    assert_eq!(
        rx.decrypt(Codec::Raw, &f, 0),
        Err(FrameError::UnknownSender(3))
    );
}

#[test]
fn previous_epoch_is_kept_ten_seconds_then_dropped() {
    let e1 = epoch(1, 1, &[0, 1], 0, false);
    let e2 = epoch(2, 2, &[0, 1], 0, false);
    let mut tx = FrameSender::new(&e1).unwrap();
    let old = tx.encrypt(Codec::Raw, b"old").unwrap();
    let old2 = tx.encrypt(Codec::Raw, b"old2").unwrap();
    let mut rx = FrameReceiver::new();
    rx.add_epoch(&e1, 0);
    rx.add_epoch(&e2, 1_000);
    assert_eq!(rx.epochs(), vec![1, 2]);
    rx.decrypt(Codec::Raw, &old, 1_000 + PREVIOUS_EPOCH_GRACE_MS - 1)
        .unwrap();
    assert_eq!(
        rx.decrypt(Codec::Raw, &old2, 1_000 + PREVIOUS_EPOCH_GRACE_MS),
        Err(FrameError::UnknownEpoch(1))
    );
    assert_eq!(rx.epochs(), vec![2]);
    tx.switch_epoch(&e2).unwrap();
    let new = tx.encrypt(Codec::Raw, b"new").unwrap();
    assert_eq!(rx.decrypt(Codec::Raw, &new, 20_000).unwrap().frame, b"new");
}

#[test]
fn padded_audio_sizes_do_not_follow_speech() {
    let e = epoch(1, 9, &[0, 1], 0, true);
    let mut tx = FrameSender::new(&e).unwrap();
    let mut rx = FrameReceiver::new();
    rx.add_epoch(&e, 0);
    // Opus frames as Chromium makes them: DTX-like silence (1-3 bytes),
    // VBR silence and speech (35, 53, 81), a CBR frame at 32 kbit/s (80),
    // and the largest that fits (95). All leave as one size.
    let mut sizes = std::collections::BTreeSet::new();
    for len in [0usize, 1, 3, 35, 53, 80, 81, AUDIO_PADDED_SIZE - 1] {
        let frame = vec![0xAA; len];
        let enc = tx.encrypt(Codec::Opus, &frame).unwrap();
        sizes.insert(enc.len() - SframeHeader::deserialize(&enc).unwrap().len());
        assert_eq!(rx.decrypt(Codec::Opus, &enc, 0).unwrap().frame, frame);
    }
    assert_eq!(
        sizes.into_iter().collect::<Vec<_>>(),
        vec![AUDIO_PADDED_SIZE + 16],
        "every frame up to {} bytes is one size (plus the 16-byte tag)",
        AUDIO_PADDED_SIZE - 1
    );
    // Larger frames round up to multiples of the one size.
    assert_eq!(pad(&[0; AUDIO_PADDED_SIZE]).len(), 2 * AUDIO_PADDED_SIZE);
    assert_eq!(pad(&[0; 2000]).len(), 21 * AUDIO_PADDED_SIZE);
    // Zeros at the end of a frame survive: the marker ends it.
    assert_eq!(unpad(&pad(&[0, 0, 0])).unwrap(), &[0, 0, 0]);
    assert_eq!(unpad(&pad(&[])).unwrap(), &[] as &[u8]);
    // Video is never padded, and padding is the room's choice.
    let enc = tx.encrypt(Codec::Vp8, &vp8_delta_frame()).unwrap();
    assert!(enc.len() < vp8_delta_frame().len() + 32);
    let plain = epoch(2, 9, &[0, 1], 0, false);
    let enc = FrameSender::new(&plain)
        .unwrap()
        .encrypt(Codec::Opus, &[0xAA; 10])
        .unwrap();
    assert!(enc.len() < 10 + 16 + 8);
}

#[test]
fn unpadding_refuses_frames_without_the_marker() {
    assert!(unpad(&[]).is_err());
    assert!(unpad(&[0; 96]).is_err());
    let mut no_marker = vec![0x11; 10];
    no_marker.resize(96, 0);
    assert!(unpad(&no_marker).is_err());
    // A sender that did not pad: a frame whose padding does not decode is
    // dropped, not played.
    let unpadded = epoch(3, 4, &[0, 1], 0, false);
    let mut padded = unpadded.clone();
    padded.audio_padding = true;
    let enc = FrameSender::new(&unpadded)
        .unwrap()
        .encrypt(Codec::Opus, &[0x11; 20])
        .unwrap();
    let mut rx = FrameReceiver::new();
    rx.add_epoch(&padded, 0);
    assert_eq!(
        rx.decrypt(Codec::Opus, &enc, 0),
        Err(FrameError::Malformed("padding without end marker"))
    );
}

#[test]
fn media_epoch_bytes_round_trip_and_refuse_damage() {
    let e = epoch(300, 7, &[0, 2, 5], 2, true);
    let bytes = e.to_bytes();
    let back = MediaEpoch::from_bytes(&bytes).unwrap();
    assert_eq!(back.to_bytes(), bytes);
    // Keys made from the copy work with keys made from the original.
    let mut tx = FrameSender::new(&e).unwrap();
    let mut rx = FrameReceiver::new();
    rx.add_epoch(&back, 0);
    let enc = tx.encrypt(Codec::Opus, b"hello").unwrap();
    assert_eq!(rx.decrypt(Codec::Opus, &enc, 0).unwrap().frame, b"hello");
    for cut in 0..bytes.len() {
        assert!(MediaEpoch::from_bytes(&bytes[..cut]).is_err(), "cut {cut}");
    }
    let mut long = bytes.to_vec();
    long.push(0);
    assert!(MediaEpoch::from_bytes(&long).is_err());
    let mut v2 = bytes.to_vec();
    v2[0] = 2;
    assert!(MediaEpoch::from_bytes(&v2).is_err());
    assert!(!format!("{back:?}").contains("7, 7"));
}

/// `enc` (a frame of `codec`) with its SFrame header's KID replaced by `kid`
/// and everything else, counter included, as it was: what a relay that
/// moves a frame into another stream would send.
fn relabel(codec: Codec, enc: &[u8], kid: u64) -> Vec<u8> {
    let n = codec.clear_prefix_len(enc).unwrap();
    let header = SframeHeader::deserialize(&enc[n..]).unwrap();
    let moved = SframeHeader::new(kid, header.counter());
    let mut head = vec![0; moved.len()];
    moved.serialize(&mut head).unwrap();
    let mut out = enc[..n].to_vec();
    out.extend_from_slice(&head);
    out.extend_from_slice(&enc[n + header.len()..]);
    out
}

#[test]
fn kid_carries_the_context_above_leaf_and_epoch() {
    // Leaves 0..=4: S = 3 bits.
    let e = epoch(0x1_07, 1, &[0, 1, 2, 3, 4], 3, false);
    assert_eq!(e.key_id(3, MediaContext::Camera), (3 << 8) | 0x07);
    assert_eq!(
        e.key_id(3, MediaContext::Screen),
        (1 << (8 + 3)) | (3 << 8) | 0x07
    );
    assert_eq!(
        e.sender_of((1 << 11) | (3 << 8) | 7),
        Ok((3, MediaContext::Screen))
    );
    assert_eq!(
        e.sender_of((2 << 11) | (3 << 8) | 7),
        Err(FrameError::UnknownContext(2))
    );
    for c in [MediaContext::Camera, MediaContext::Screen] {
        assert_eq!(MediaContext::from_id(c.id()), Some(c));
    }
}

#[test]
fn screen_frames_have_their_own_key_counter_and_replay_window() {
    let e = epoch(9, 4, &[0, 1, 2], 1, true);
    let mut camera = FrameSender::new(&e).unwrap();
    let mut screen = FrameSender::with_context(&e, MediaContext::Screen).unwrap();
    assert_eq!(screen.context(), MediaContext::Screen);
    let mut rx = FrameReceiver::new();
    rx.add_epoch(&e, 0);
    // Both streams start at counter 0; neither is a replay of the other.
    let cam = camera.encrypt(Codec::Vp8, &vp8_key_frame()).unwrap();
    let scr = screen.encrypt(Codec::Vp8, &vp8_key_frame()).unwrap();
    let header = |f: &[u8]| SframeHeader::deserialize(&f[10..]).unwrap();
    assert_eq!((header(&cam).counter(), header(&scr).counter()), (0, 0));
    // One plaintext, one counter, two streams: different keys and nonces.
    assert_ne!(
        cam[10 + header(&cam).len()..],
        scr[10 + header(&scr).len()..]
    );
    let got = rx.decrypt(Codec::Vp8, &scr, 0).unwrap();
    assert_eq!(
        (got.sender, got.context, got.frame),
        (1, MediaContext::Screen, vp8_key_frame())
    );
    let got = rx.decrypt(Codec::Vp8, &cam, 0).unwrap();
    assert_eq!((got.sender, got.context), (1, MediaContext::Camera));
    // Audio stays on the camera's stream (its key, its padding).
    let audio = camera.encrypt(Codec::Opus, &[0x11; 40]).unwrap();
    let got = rx.decrypt(Codec::Opus, &audio, 0).unwrap();
    assert_eq!((got.context, got.frame.len()), (MediaContext::Camera, 40));
    // Each stream's replays are refused in that stream.
    assert_eq!(
        rx.decrypt(Codec::Vp8, &scr, 0),
        Err(FrameError::Replayed(0))
    );
    // After an epoch switch the screen sender stays a screen sender.
    let e2 = epoch(10, 5, &[0, 1, 2], 1, true);
    screen.switch_epoch(&e2).unwrap();
    rx.add_epoch(&e2, 1);
    let next = screen.encrypt(Codec::Vp8, &vp8_delta_frame()).unwrap();
    assert_eq!(
        rx.decrypt(Codec::Vp8, &next, 2).unwrap().context,
        MediaContext::Screen
    );
}

#[test]
fn a_frame_moved_to_the_other_context_fails_authentication() {
    let e = epoch(3, 6, &[0, 1, 2, 3], 2, false);
    let mut camera = FrameSender::new(&e).unwrap();
    let mut screen = FrameSender::with_context(&e, MediaContext::Screen).unwrap();
    let fresh = || {
        let mut rx = FrameReceiver::new();
        rx.add_epoch(&e, 0);
        rx
    };
    for frame in [vp8_key_frame(), vp8_delta_frame()] {
        // A screen frame re-labelled as the same member's camera…
        let scr = screen.encrypt(Codec::Vp8, &frame).unwrap();
        let as_camera = relabel(Codec::Vp8, &scr, e.key_id(2, MediaContext::Camera));
        assert_eq!(
            fresh().decrypt(Codec::Vp8, &as_camera, 0),
            Err(FrameError::Authentication)
        );
        // …and a camera frame re-labelled as their screen: both refused,
        // while the untouched frames decrypt in their own streams.
        let cam = camera.encrypt(Codec::Vp8, &frame).unwrap();
        let as_screen = relabel(Codec::Vp8, &cam, e.key_id(2, MediaContext::Screen));
        assert_eq!(
            fresh().decrypt(Codec::Vp8, &as_screen, 0),
            Err(FrameError::Authentication)
        );
        assert_eq!(
            fresh().decrypt(Codec::Vp8, &scr, 0).unwrap().context,
            MediaContext::Screen
        );
        assert_eq!(
            fresh().decrypt(Codec::Vp8, &cam, 0).unwrap().context,
            MediaContext::Camera
        );
    }
    // A context no member sends is refused before any key is derived.
    let scr = screen.encrypt(Codec::Raw, b"x").unwrap();
    let unknown = relabel(Codec::Raw, &scr, (2 << (8 + 2)) | (2 << 8) | 3);
    assert_eq!(
        fresh().decrypt(Codec::Raw, &unknown, 0),
        Err(FrameError::UnknownContext(2))
    );
}
