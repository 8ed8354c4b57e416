//! The relay's reading of VP8 RTP payloads (`conclave_proto::vp8`) on any
//! bytes: no panic; a descriptor never claims more bytes than there are;
//! a frame start is a start of partition 0; only key frames carry a size,
//! and a size fits 14 bits.
#![no_main]
use conclave_proto::vp8::{descriptor, frame_start};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let d = descriptor(data);
    if let Some(d) = d {
        assert!(d.len >= 1 && d.len <= data.len());
        assert!(d.partition <= 7);
    }
    if let Some(f) = frame_start(data) {
        let d = d.expect("a frame start has a descriptor");
        assert!(d.start && d.partition == 0 && data.len() > d.len);
        if let Some((w, h)) = f.size {
            assert!(f.keyframe && w < 0x4000 && h < 0x4000);
        }
    }
});
