//! What a relay may read of a VP8 RTP payload (RFC 7741): the payload
//! descriptor, and, on a frame's first packet, the frame tag's key-frame
//! bit and a key frame's size. With end-to-end encryption these bytes stay
//! in clear on purpose (crates/e2ee `media.rs`: 1 byte of a delta frame,
//! 10 of a key frame); everything after them is SFrame ciphertext. The
//! relay needs them to switch simulcast layers at key frames and to order
//! layers by size. Pure functions of the bytes (fuzzed:
//! fuzz/fuzz_targets/vp8_payload.rs).

/// The RTP payload descriptor at the start of every VP8 RTP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    /// `S`: this packet starts a VP8 partition.
    pub start: bool,
    /// `PID`: the partition index (0: the first).
    pub partition: u8,
    /// The 7- or 15-bit picture id, if present.
    pub picture_id: Option<u16>,
    /// `TL0PICIDX`, if present.
    pub tl0_pic_idx: Option<u8>,
    /// The temporal layer (`TID`), if present.
    pub temporal_id: Option<u8>,
    /// Bytes the descriptor takes; the VP8 payload follows.
    pub len: usize,
}

/// What the first packet of a frame says about the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameStart {
    /// A key frame (the frame tag's `P` bit is 0): decodable on its own.
    pub keyframe: bool,
    /// A key frame's width and height (14 bits each), when its header is there.
    pub size: Option<(u16, u16)>,
}

/// Parses the payload descriptor; `None` if the payload is too short for
/// what its own bits announce.
pub fn descriptor(payload: &[u8]) -> Option<Descriptor> {
    let first = *payload.first()?;
    let mut d = Descriptor {
        start: first & 0x10 != 0,
        partition: first & 0x07,
        picture_id: None,
        tl0_pic_idx: None,
        temporal_id: None,
        len: 1,
    };
    if first & 0x80 == 0 {
        return Some(d);
    }
    let ext = *payload.get(1)?;
    d.len = 2;
    if ext & 0x80 != 0 {
        let b = *payload.get(d.len)?;
        if b & 0x80 != 0 {
            let lo = *payload.get(d.len + 1)?;
            d.picture_id = Some(u16::from_be_bytes([b & 0x7f, lo]));
            d.len += 2;
        } else {
            d.picture_id = Some(u16::from(b));
            d.len += 1;
        }
    }
    if ext & 0x40 != 0 {
        d.tl0_pic_idx = Some(*payload.get(d.len)?);
        d.len += 1;
    }
    if ext & 0x30 != 0 {
        let b = *payload.get(d.len)?;
        if ext & 0x20 != 0 {
            d.temporal_id = Some(b >> 6);
        }
        d.len += 1;
    }
    (d.len <= payload.len()).then_some(d)
}

/// If `payload` is the first packet of a VP8 frame (`S` set, partition 0,
/// at least one byte of frame tag), what it says about the frame.
pub fn frame_start(payload: &[u8]) -> Option<FrameStart> {
    let d = descriptor(payload)?;
    if !d.start || d.partition != 0 {
        return None;
    }
    let tag = &payload[d.len..];
    let keyframe = tag.first()? & 0x01 == 0;
    // A key frame's tag: 3 bytes, the start code 9d 01 2a, then width and height.
    let size = (keyframe && tag.len() >= 10 && tag[3..6] == [0x9d, 0x01, 0x2a]).then(|| {
        (
            u16::from_le_bytes([tag[6], tag[7]]) & 0x3fff,
            u16::from_le_bytes([tag[8], tag[9]]) & 0x3fff,
        )
    });
    Some(FrameStart { keyframe, size })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key frame's first packet as Chromium sends it: X, S; I with a
    /// 15-bit picture id, L, T; then a 640×480 key-frame tag.
    fn chromium_keyframe() -> Vec<u8> {
        let mut p = vec![0x90, 0xE0, 0x80 | 0x12, 0x34, 7, 0x40];
        p.extend_from_slice(&[0x50, 0x2d, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]);
        p.extend_from_slice(&[0xAA; 20]); // SFrame header and ciphertext
        p
    }

    #[test]
    fn a_key_frame_start_gives_its_size() {
        let p = chromium_keyframe();
        let d = descriptor(&p).unwrap();
        assert_eq!(d.picture_id, Some(0x1234));
        assert_eq!(d.tl0_pic_idx, Some(7));
        assert_eq!(d.temporal_id, Some(1));
        assert_eq!(d.len, 6);
        assert_eq!(
            frame_start(&p),
            Some(FrameStart {
                keyframe: true,
                size: Some((640, 480))
            })
        );
    }

    #[test]
    fn delta_frames_and_later_packets_are_told_apart() {
        let mut delta = chromium_keyframe();
        delta[6] |= 0x01; // P = 1
        assert_eq!(
            frame_start(&delta),
            Some(FrameStart {
                keyframe: false,
                size: None
            })
        );
        let mut middle = chromium_keyframe();
        middle[0] &= !0x10; // S = 0
        assert_eq!(frame_start(&middle), None);
        // The shortest descriptor (no X): one byte, then the tag.
        assert_eq!(frame_start(&[0x10, 0x00]).map(|f| f.keyframe), Some(true));
        assert_eq!(frame_start(&[0x10, 0x01]).map(|f| f.keyframe), Some(false));
    }

    #[test]
    fn short_payloads_are_none_not_a_panic() {
        let p = chromium_keyframe();
        for n in 0..7 {
            assert_eq!(frame_start(&p[..n]), None, "{n} bytes");
        }
        assert!(frame_start(&p[..7]).is_some_and(|f| f.keyframe && f.size.is_none()));
        assert_eq!(descriptor(&[0x80]), None);
        assert_eq!(
            descriptor(&[0x80, 0x80, 0x80]),
            None,
            "a 15-bit picture id cut short"
        );
    }
}
