//! The relay's ICE-TCP framing (`conclave_proto::ice_tcp`) on any byte
//! stream, read in pieces of any size (the first byte picks it). No panic;
//! the frames are exactly those a plain reading of the whole stream finds
//! (2-byte length, then that many bytes; empty frames skipped); a frame
//! over MAX_FRAME is an error where that reading meets it; the reader never
//! holds more than one partial frame plus one piece.
#![no_main]
use conclave_proto::ice_tcp::{is_stun_binding_request, FrameReader, MAX_FRAME};
use libfuzzer_sys::fuzz_target;

/// The frames of `stream` read in one go, and whether it ends in an error.
fn reference(stream: &[u8]) -> (Vec<&[u8]>, bool) {
    let mut frames = Vec::new();
    let mut at = 0;
    while stream.len() - at >= 2 {
        let len = usize::from(u16::from_be_bytes([stream[at], stream[at + 1]]));
        if len > MAX_FRAME {
            return (frames, true);
        }
        if stream.len() - at - 2 < len {
            break;
        }
        if len > 0 {
            frames.push(&stream[at + 2..at + 2 + len]);
        }
        at += 2 + len;
    }
    (frames, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&piece, stream)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece).max(1);
    let (want, want_error) = reference(stream);
    let mut reader = FrameReader::default();
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut error = false;
    'read: for chunk in stream.chunks(piece) {
        reader.push(chunk);
        loop {
            match reader.next_frame() {
                Ok(Some(frame)) => {
                    assert!(!frame.is_empty() && frame.len() <= MAX_FRAME);
                    let _ = is_stun_binding_request(frame);
                    got.push(frame.to_vec());
                }
                Ok(None) => break,
                Err(_) => {
                    error = true;
                    break 'read;
                }
            }
        }
        assert!(reader.pending() < MAX_FRAME + 2 + piece, "held {} bytes", reader.pending());
    }
    assert_eq!(error, want_error);
    assert_eq!(got.len(), want.len());
    assert!(got.iter().zip(&want).all(|(g, w)| g.as_slice() == *w));
});
