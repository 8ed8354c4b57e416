//! RFC 4571 framing of ICE-TCP media (each packet behind a 16-bit
//! big-endian length), and telling such a connection from TLS by its first
//! byte: how the relay's HTTPS port also carries media for clients whose
//! network blocks UDP. Pure functions of the bytes (fuzzed:
//! fuzz/fuzz_targets/ice_tcp_frames.rs); the relay's connection shell is
//! `conclave_relay::tcp_media`.

/// Largest frame accepted from a client. WebRTC keeps every packet (STUN,
/// DTLS, SRTP) under the path MTU; anything larger is not a browser's and
/// ends the connection.
pub const MAX_FRAME: usize = 2048;

/// What a connection on the HTTPS port is, judged by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstByte {
    /// `0x16`: a TLS handshake record (a browser loading the page or opening signaling).
    Tls,
    /// Anything else: ICE-TCP, whose first frame must be a STUN binding
    /// request ([`is_stun_binding_request`]) or the connection is closed.
    IceTcp,
}

/// Classifies a connection by its first byte. A TLS record always starts
/// with `0x16` (handshake); an RFC 4571 frame starts with the high byte of
/// its length, which is `0x00`–`0x07` for every frame [`MAX_FRAME`] allows.
pub fn classify(first: u8) -> FirstByte {
    if first == 0x16 {
        FirstByte::Tls
    } else {
        FirstByte::IceTcp
    }
}

/// True if `frame` is a STUN binding request (RFC 8489: type 0x0001, the
/// magic cookie, a length that matches): what an ICE-TCP client sends first.
pub fn is_stun_binding_request(frame: &[u8]) -> bool {
    frame.len() >= 20
        && frame[0..2] == [0x00, 0x01]
        && frame[4..8] == [0x21, 0x12, 0xA4, 0x42]
        && usize::from(u16::from_be_bytes([frame[2], frame[3]])) == frame.len() - 20
}

/// Why a byte stream is not RFC 4571 media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// A frame longer than [`MAX_FRAME`].
    TooLong(usize),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLong(n) => write!(
                f,
                "an ICE-TCP frame of {n} bytes (at most {MAX_FRAME}): not WebRTC media"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// Cuts a TCP byte stream into frames: push what was read, then take
/// frames until it says `None`. Holds at most one partial frame.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    start: usize,
}

impl FrameReader {
    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed, or an
    /// error (the connection should close; nothing after it is trusted).
    /// Empty frames are skipped.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        loop {
            let rest = &self.buf[self.start..];
            if rest.len() < 2 {
                self.compact();
                return Ok(None);
            }
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            if len > MAX_FRAME {
                return Err(FrameError::TooLong(len));
            }
            if rest.len() < 2 + len {
                self.compact();
                return Ok(None);
            }
            let begin = self.start + 2;
            self.start = begin + len;
            if len > 0 {
                return Ok(Some(&self.buf[begin..begin + len]));
            }
        }
    }

    /// Bytes held that do not yet make a whole frame.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Moves a partial frame to the front, so the buffer never grows past
    /// one read plus one frame.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

/// Appends `packet` to `out` as one frame. `packet` must be at most
/// 65535 bytes (every packet the relay sends is under 1500).
pub fn put_frame(out: &mut Vec<u8>, packet: &[u8]) {
    debug_assert!(packet.len() <= usize::from(u16::MAX));
    out.extend_from_slice(&(packet.len() as u16).to_be_bytes());
    out.extend_from_slice(packet);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames_of(reader: &mut FrameReader) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(f) = reader.next_frame().unwrap() {
            out.push(f.to_vec());
        }
        out
    }

    #[test]
    fn frames_survive_any_split_of_the_stream() {
        let packets: Vec<Vec<u8>> = vec![vec![1; 20], vec![], vec![2; 1200], vec![3; 1]];
        let mut stream = Vec::new();
        for p in &packets {
            put_frame(&mut stream, p);
        }
        let want: Vec<Vec<u8>> = packets.into_iter().filter(|p| !p.is_empty()).collect();
        for chunk in 1..stream.len() {
            let mut reader = FrameReader::default();
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                reader.push(piece);
                got.extend(frames_of(&mut reader));
            }
            assert_eq!(got, want, "split every {chunk} bytes");
            assert_eq!(reader.pending(), 0);
        }
    }

    #[test]
    fn an_oversized_frame_is_an_error_not_an_allocation() {
        let mut reader = FrameReader::default();
        reader.push(&[0xFF, 0xFF, 0, 0]);
        assert_eq!(reader.next_frame(), Err(FrameError::TooLong(65535)));
        let msg = FrameError::TooLong(65535).to_string();
        assert!(msg.contains("at most 2048"), "{msg}");
    }

    #[test]
    fn the_buffer_holds_at_most_one_partial_frame() {
        let mut reader = FrameReader::default();
        let mut stream = Vec::new();
        for _ in 0..100 {
            put_frame(&mut stream, &[7; 1000]);
        }
        stream.extend_from_slice(&[0x03, 0xE8, 7]); // a frame's start
        reader.push(&stream);
        assert_eq!(frames_of(&mut reader).len(), 100);
        assert_eq!(reader.pending(), 3);
        assert!(reader.buf.len() <= 3, "kept {} bytes", reader.buf.len());
    }

    #[test]
    fn tls_and_ice_tcp_are_told_apart_by_the_first_byte() {
        assert_eq!(classify(0x16), FirstByte::Tls);
        for first in 0x00..=0x07 {
            assert_eq!(classify(first), FirstByte::IceTcp);
        }
    }

    #[test]
    fn stun_binding_requests_are_recognised() {
        let mut req = vec![0x00, 0x01, 0x00, 0x04, 0x21, 0x12, 0xA4, 0x42];
        req.extend_from_slice(&[9; 12]); // transaction id
        req.extend_from_slice(&[0x80, 0x22, 0x00, 0x00]); // an empty attribute
        assert!(is_stun_binding_request(&req));
        let mut response = req.clone();
        response[0..2].copy_from_slice(&[0x01, 0x01]);
        assert!(!is_stun_binding_request(&response));
        assert!(!is_stun_binding_request(&req[..19]));
        let mut wrong_len = req.clone();
        wrong_len[3] = 8;
        assert!(!is_stun_binding_request(&wrong_len));
        assert!(!is_stun_binding_request(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        ));
    }
}
