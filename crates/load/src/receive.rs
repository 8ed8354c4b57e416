//! Receive accounting: what each receiving peer (subscriber, meeting
//! participant, raw sink) got. Video is reassembled per incoming stream
//! (SSRC) with [`FrameAsm`]; each complete frame and each audio packet is
//! recorded with its [`Stamp`] (publisher, number, layer) and its one-way
//! latency, for [`crate::tally`] to reduce after the run.

use crate::shape::{self, FrameAsm, Stamp};

/// What kind of media a payload type carries, as told by the codec config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Audio,
    Video,
    Other,
}

/// One complete frame or audio packet as a receiver saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Got {
    /// The publisher that sent it (its peer index).
    pub source: u16,
    /// Frame or audio packet number.
    pub number: u32,
    /// The simulcast layer it was sent on (0: the lowest).
    pub layer: u8,
    /// One-way latency, µs.
    pub lat_us: u32,
}

impl Got {
    fn new(stamp: Stamp, arrival_ns: u64) -> Got {
        let lat = arrival_ns.saturating_sub(stamp.send_ns) / 1000;
        Got {
            source: stamp.source,
            number: stamp.number,
            layer: stamp.layer,
            lat_us: lat.min(u32::MAX as u64) as u32,
        }
    }
}

/// What one receiving peer has received.
#[derive(Default)]
pub struct Seen {
    /// Frame reassembly per incoming video SSRC (one per subscribed track).
    streams: Vec<(u32, FrameAsm)>,
    /// Publishers from which at least one complete frame arrived.
    sources: Vec<u16>,
    /// Every complete video frame, in arrival order.
    pub frames: Vec<Got>,
    /// Every audio packet with a readable stamp.
    pub audio: Vec<Got>,
}

impl Seen {
    /// Ready for a run of a few seconds without reallocating.
    pub fn with_capacity(frames: usize, audio: usize) -> Seen {
        Seen {
            frames: Vec::with_capacity(frames),
            audio: Vec::with_capacity(audio),
            ..Seen::default()
        }
    }

    /// How many publishers' video has arrived (complete frames).
    pub fn sources(&self) -> usize {
        self.sources.len()
    }

    /// One received RTP packet of `kind` on stream `ssrc`; `arrival` is when
    /// it reached our socket (monotonic ns).
    #[allow(clippy::too_many_arguments)]
    pub fn on_media(
        &mut self,
        arrival: u64,
        kind: Kind,
        ssrc: u32,
        seq: u16,
        ts: u32,
        marker: bool,
        payload: &[u8],
    ) {
        match kind {
            Kind::Video => {
                let i = match self.streams.iter().position(|(s, _)| *s == ssrc) {
                    Some(i) => i,
                    None => {
                        self.streams.push((ssrc, FrameAsm::default()));
                        self.streams.len() - 1
                    }
                };
                if let Some(stamp) = self.streams[i].1.push(seq, ts, marker, payload) {
                    if !self.sources.contains(&stamp.source) {
                        self.sources.push(stamp.source);
                    }
                    self.frames.push(Got::new(stamp, arrival));
                }
            }
            Kind::Audio => {
                if let Some(stamp) = shape::parse_opus(payload) {
                    self.audio.push(Got::new(stamp, arrival));
                }
            }
            Kind::Other => {}
        }
    }
}

/// Payload type of the raw-UDP (ceiling) video datagrams.
pub const RAW_PT_VIDEO: u8 = 96;
/// Payload type of the raw-UDP (ceiling) audio datagrams.
pub const RAW_PT_AUDIO: u8 = 111;

/// A raw-UDP datagram at a sink (ceiling mode): plain RTP header, payload
/// sealed with `key` when the ceiling seals each copy. Returns whether it
/// was a media packet (counted as delivered).
pub fn on_raw(
    seen: &mut Seen,
    key: Option<&aws_lc_rs::aead::LessSafeKey>,
    arrival: u64,
    d: &mut [u8],
) -> bool {
    if d.len() < 12 {
        return false;
    }
    let pt = d[1] & 0x7f;
    let marker = d[1] & 0x80 != 0;
    let seq = u16::from_be_bytes([d[2], d[3]]);
    let ts = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
    let ssrc = u32::from_be_bytes([d[8], d[9], d[10], d[11]]);
    let (hdr, body) = d.split_at_mut(12);
    let payload: &[u8] = match key {
        Some(key) => {
            let nonce = crate::gcm_nonce(hdr);
            let aad = aws_lc_rs::aead::Aad::from(&*hdr);
            match key.open_in_place(nonce, aad, body) {
                Ok(p) => p,
                Err(_) => return false,
            }
        }
        None => body,
    };
    let kind = match pt {
        RAW_PT_VIDEO => Kind::Video,
        RAW_PT_AUDIO => Kind::Audio,
        _ => Kind::Other,
    };
    seen.on_media(arrival, kind, ssrc, seq, ts, marker, payload);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::{simulcast_layers, vp8_frame, vp8_packets, Filler, Shape};

    fn send(seen: &mut Seen, ssrc: u32, seq0: u16, source: u16, layer: u8, n: u32) {
        let s = Shape::default();
        let layers = simulcast_layers(3, s.video_bps);
        let stamp = Stamp {
            send_ns: 1_000,
            number: n,
            source,
            layer,
        };
        let frame = vp8_frame(&s, &Filler::new(), &layers[layer as usize], n == 0, &stamp);
        let pkts = vp8_packets(&frame, n as u16);
        let last = pkts.len() - 1;
        for (i, p) in pkts.iter().enumerate() {
            seen.on_media(5_000, Kind::Video, ssrc, seq0 + i as u16, n, i == last, p);
        }
    }

    #[test]
    fn streams_are_reassembled_apart() {
        let mut seen = Seen::default();
        // Two publishers' key frames interleaved would break one reassembler;
        // sent one after the other on their own SSRCs, both complete.
        send(&mut seen, 11, 100, 1, 2, 0);
        send(&mut seen, 22, 900, 2, 0, 0);
        send(&mut seen, 11, 200, 1, 2, 1);
        assert_eq!(seen.sources(), 2);
        let got: Vec<(u16, u32, u8, u32)> = seen
            .frames
            .iter()
            .map(|g| (g.source, g.number, g.layer, g.lat_us))
            .collect();
        assert_eq!(got, [(1, 0, 2, 4), (2, 0, 0, 4), (1, 1, 2, 4)]);
    }
}
