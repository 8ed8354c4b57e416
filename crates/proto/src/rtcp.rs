//! Which RTCP packets a compound packet (RFC 3550 §6.1) holds, for the
//! relay's shortcut with transport-wide congestion-control feedback
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1): a subscriber
//! reports every 50–100 ms, and a compound packet that carries nothing but
//! those reports is handled by the relay itself; anything else goes the
//! full way (str0m). The bytes are the decrypted, authenticated SRTCP
//! payload of a peer, so a peer's own bytes: every length is checked.

/// RTCP packet type of transport-layer feedback (RFC 4585 §6.2).
pub const PT_RTPFB: u8 = 205;
/// Its feedback message type for transport-wide congestion control.
pub const FMT_TWCC: u8 = 15;

/// The transport-wide feedback packets of compound packet `buf`, each
/// without its 4-byte common header (what follows: the sender's SSRC, the
/// media SSRC, base sequence number...), padding removed — if `buf` holds
/// only such packets (at least one) and every packet is well formed
/// (version 2, a length within `buf`, padding within the packet). `None`
/// otherwise: then the packet is not one the shortcut may take.
pub fn only_twcc(buf: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        if rest.len() < 4 || rest[0] >> 6 != 2 {
            return None;
        }
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        if len > rest.len() {
            return None;
        }
        let packet = &rest[..len];
        if packet[1] != PT_RTPFB || packet[0] & 0x1f != FMT_TWCC {
            return None;
        }
        let end = if packet[0] & 0x20 != 0 {
            // The last byte counts the padding, itself included (RFC 3550 §6.4.1).
            let pad = usize::from(packet[len - 1]);
            if pad == 0 || pad > len - 4 {
                return None;
            }
            len - pad
        } else {
            len
        };
        out.push(&packet[4..end]);
        rest = &rest[len..];
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RTCP packet of type `pt`, format `fmt`, with `body` (a multiple
    /// of 4 bytes).
    fn packet(pt: u8, fmt: u8, body: &[u8]) -> Vec<u8> {
        let words = (body.len() / 4) as u16;
        let mut p = vec![0x80 | fmt, pt];
        p.extend_from_slice(&words.to_be_bytes());
        p.extend_from_slice(body);
        p
    }

    #[test]
    fn feedback_alone_is_taken_and_anything_else_is_not() {
        let body = [7u8; 20];
        let twcc = packet(PT_RTPFB, FMT_TWCC, &body);
        assert_eq!(only_twcc(&twcc), Some(vec![&body[..]]));
        let two = [twcc.clone(), twcc.clone()].concat();
        assert_eq!(only_twcc(&two).map(|v| v.len()), Some(2));
        // A receiver report, a NACK (format 1), a PLI (206/1) beside it: no.
        let rr = packet(201, 0, &[0; 4]);
        let nack = packet(PT_RTPFB, 1, &[0; 12]);
        let pli = packet(206, 1, &[0; 8]);
        for other in [&rr, &nack, &pli] {
            assert_eq!(only_twcc(&[twcc.clone(), other.clone()].concat()), None);
            assert_eq!(only_twcc(&[other.clone(), twcc.clone()].concat()), None);
        }
        assert_eq!(only_twcc(&[]), None);
    }

    #[test]
    fn lengths_and_padding_are_checked() {
        let twcc = packet(PT_RTPFB, FMT_TWCC, &[1; 20]);
        assert_eq!(only_twcc(&twcc[..twcc.len() - 1]), None, "cut short");
        let mut v1 = twcc.clone();
        v1[0] = (v1[0] & 0x3f) | 0x40;
        assert_eq!(only_twcc(&v1), None, "version 1");
        // Padding: 3 bytes, the last saying 3.
        let mut padded = packet(PT_RTPFB, FMT_TWCC, &[1, 1, 1, 1, 1, 0, 0, 3]);
        padded[0] |= 0x20;
        assert_eq!(only_twcc(&padded), Some(vec![&[1u8, 1, 1, 1, 1][..]]));
        let mut bad = padded.clone();
        *bad.last_mut().unwrap() = 13;
        assert_eq!(only_twcc(&bad), None, "padding past the packet");
        *bad.last_mut().unwrap() = 0;
        assert_eq!(only_twcc(&bad), None, "zero padding");
    }
}
