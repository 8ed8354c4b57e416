//! The relay's check that a subscriber's compound RTCP packet carries only
//! transport-wide feedback (`conclave_proto::rtcp::only_twcc`), on any
//! bytes: no panic; when it takes a packet, the bodies it returns are the
//! packets' bytes after their 4-byte headers, in order, each within the
//! input, and their headers say transport-wide feedback; and the packets'
//! declared lengths cover the input exactly.
#![no_main]
use conclave_proto::rtcp::{only_twcc, FMT_TWCC, PT_RTPFB};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(bodies) = only_twcc(data) else {
        return;
    };
    assert!(!bodies.is_empty());
    let mut at = 0;
    let base = data.as_ptr() as usize;
    for body in bodies {
        let header = &data[at..at + 4];
        assert_eq!(header[0] >> 6, 2);
        assert_eq!(header[1], PT_RTPFB);
        assert_eq!(header[0] & 0x1f, FMT_TWCC);
        let len = (usize::from(u16::from_be_bytes([header[2], header[3]])) + 1) * 4;
        assert_eq!(body.as_ptr() as usize, base + at + 4, "the body follows its header");
        assert!(4 + body.len() <= len, "the body stays inside its packet");
        at += len;
    }
    assert_eq!(at, data.len(), "the packets cover the input");
});
