//! The synthetic media the publisher sends and the subscribers check.
//!
//! Video: VP8-shaped frames at a fixed rate, a key frame every `key_interval`
//! (larger than delta frames), the rest random bytes ("encrypted-looking": the
//! relay must not care). Only the VP8 frame header that depacketizers and
//! SFUs read to spot key frames stays meaningful (3 bytes, 10 on key frames
//! with the layer's width and height, as SFrame leaves them in clear,
//! docs/design.md §4 step 3). Right after it sits a [`Stamp`]: the send time
//! (CLOCK_MONOTONIC ns, comparable across processes on one machine), the frame
//! number, which publisher sent it and on which simulcast layer, so a
//! subscriber measures one-way latency, delivery and the layer it receives.
//!
//! With simulcast ([`simulcast_layers`]) a publisher sends every frame once per
//! layer, each a [`Layer`] with its own width and bitrate, like a browser's
//! encoder at ¼, ½ and full resolution.
//!
//! Audio: Opus-shaped packets (one TOC byte, then the same stamp) at a fixed rate.

/// Bytes after the codec header that carry a [`Stamp`]: `send_ns: u64`,
/// `number: u32`, `source: u16`, `layer: u8`.
pub const STAMP_LEN: usize = 15;

/// What a frame or audio packet says about itself, behind its codec header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp {
    /// When the publisher made it (CLOCK_MONOTONIC ns).
    pub send_ns: u64,
    /// Frame number (video) or packet number (audio), the same on every layer.
    pub number: u32,
    /// Which publisher sent it (its peer index in the load generator).
    pub source: u16,
    /// Its simulcast layer, 0 the lowest (0 without simulcast).
    pub layer: u8,
}

impl Stamp {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.send_ns.to_le_bytes());
        out.extend_from_slice(&self.number.to_le_bytes());
        out.extend_from_slice(&self.source.to_le_bytes());
        out.push(self.layer);
    }

    fn read(b: &[u8]) -> Option<Stamp> {
        let b = b.get(..STAMP_LEN)?;
        Some(Stamp {
            send_ns: u64::from_le_bytes(b[..8].try_into().ok()?),
            number: u32::from_le_bytes(b[8..12].try_into().ok()?),
            source: u16::from_le_bytes(b[12..14].try_into().ok()?),
            layer: b[14],
        })
    }
}

/// One encoding of the video: a simulcast layer, or the only one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Layer {
    /// Its RTP stream id (`a=rid`), as the web client names its layers.
    pub rid: &'static str,
    /// Frame size written into its key frames (the relay orders layers by it).
    pub width: u16,
    pub height: u16,
    /// Its bitrate, bit/s.
    pub bps: u64,
}

/// The single full-size layer of a publisher without simulcast.
pub fn full_layer(shape: &Shape) -> Layer {
    Layer {
        rid: "f",
        width: 1280,
        height: 720,
        bps: shape.video_bps,
    }
}

/// The top `count` (1-3) of the web client's camera layers (crates/web
/// `simulcast.js`), lowest first: "q" at ¼ size and a tenth of the top
/// bitrate, "h" at ½ size and a third, "f" at full size and `top_bps`
/// (150 k / 500 k / 1.5 Mbit/s by default). Like Chromium, fewer layers keep
/// the widest ones.
pub fn simulcast_layers(count: usize, top_bps: u64) -> Vec<Layer> {
    let all = [
        Layer {
            rid: "q",
            width: 320,
            height: 180,
            bps: top_bps / 10,
        },
        Layer {
            rid: "h",
            width: 640,
            height: 360,
            bps: top_bps / 3,
        },
        Layer {
            rid: "f",
            width: 1280,
            height: 720,
            bps: top_bps,
        },
    ];
    let count = count.clamp(1, all.len());
    all[all.len() - count..].to_vec()
}

/// CLOCK_MONOTONIC in nanoseconds: the shared epoch of publisher and subscribers.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the pointer we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The load shape. Defaults follow issue 5: 1.5 Mbit/s of video at 30 fps,
/// a key frame every 2 s, Opus at 50 packets/s.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Shape {
    pub video_bps: u64,
    pub fps: u32,
    pub key_interval_frames: u32,
    /// How many times larger a key frame is than a delta frame.
    pub key_ratio: u32,
    pub audio_pps: u32,
    pub audio_bytes: usize,
    /// Send the publisher's RTP at this multiple of `video_bps` (a browser's
    /// pacer; Chrome uses 2.5) instead of each frame at once.
    pub pace_factor: Option<f64>,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            video_bps: 1_500_000,
            fps: 30,
            key_interval_frames: 60,
            key_ratio: 6,
            audio_pps: 50,
            audio_bytes: 100,
            pace_factor: None,
        }
    }
}

impl Shape {
    /// Delta-frame size such that one key-frame interval averages `video_bps`.
    pub fn delta_bytes(&self) -> usize {
        self.delta_bytes_at(self.video_bps)
    }

    /// Key-frame size at `video_bps`.
    pub fn key_bytes(&self) -> usize {
        self.delta_bytes() * self.key_ratio as usize
    }

    /// Delta-frame size such that one key-frame interval averages `bps`.
    pub fn delta_bytes_at(&self, bps: u64) -> usize {
        let per_interval = bps / 8 * self.key_interval_frames as u64 / self.fps as u64;
        (per_interval / (self.key_interval_frames as u64 - 1 + self.key_ratio as u64)) as usize
    }

    /// Size of a frame of `layer`.
    pub fn frame_bytes(&self, layer: &Layer, key: bool) -> usize {
        let delta = self.delta_bytes_at(layer.bps);
        if key {
            delta * self.key_ratio as usize
        } else {
            delta
        }
    }

    pub fn is_key(&self, frame_no: u32) -> bool {
        frame_no % self.key_interval_frames == 0
    }
}

/// Random filler, made once; frames take slices of it at varying offsets.
pub struct Filler(Vec<u8>);

impl Filler {
    pub fn new() -> Self {
        use rand::RngCore;
        let mut v = vec![0u8; 256 * 1024];
        rand::rng().fill_bytes(&mut v);
        Filler(v)
    }

    fn slice(&self, seed: u32, len: usize) -> &[u8] {
        let len = len.min(self.0.len());
        let max = self.0.len() - len;
        let off = (seed as usize).wrapping_mul(7919) % (max + 1);
        &self.0[off..off + len]
    }
}

impl Default for Filler {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds one VP8 frame of `layer` (no RTP payload descriptor: str0m's
/// packetizer or [`vp8_packets`] adds it).
pub fn vp8_frame(
    shape: &Shape,
    filler: &Filler,
    layer: &Layer,
    key: bool,
    stamp: &Stamp,
) -> Vec<u8> {
    let size = shape.frame_bytes(layer, key);
    let mut f = Vec::with_capacity(size.max(32));
    // RFC 6386 §9.1 frame tag: bit 0 = 0 on key frames, version 0, show_frame,
    // 19-bit first partition size (plausible, never read as such).
    let part = ((size / 10) as u32).min((1 << 19) - 1);
    let tag = u32::from(!key) | (1 << 4) | (part << 5);
    f.extend_from_slice(&tag.to_le_bytes()[..3]);
    if key {
        // start code, then the layer's size with no scaling
        f.extend_from_slice(&[0x9d, 0x01, 0x2a]);
        f.extend_from_slice(&(layer.width & 0x3fff).to_le_bytes());
        f.extend_from_slice(&(layer.height & 0x3fff).to_le_bytes());
    }
    stamp.write(&mut f);
    let rest = size.saturating_sub(f.len());
    f.extend_from_slice(filler.slice(stamp.number, rest));
    f
}

/// Most bytes of VP8 payload (descriptor included) per RTP packet from
/// [`vp8_packets`], close to what str0m's packetizer makes.
pub const VP8_MAX_PAYLOAD: usize = 1150;

/// Packetizes a frame for RTP mode (RFC 7741 §4.2), as browsers do: every
/// packet has a 4-byte descriptor (X, I with a 15-bit picture id; S on the
/// first), at most [`VP8_MAX_PAYLOAD`] bytes each. The marker goes on the last.
pub fn vp8_packets(frame: &[u8], picture_id: u16) -> Vec<Vec<u8>> {
    let room = VP8_MAX_PAYLOAD - 4;
    let pid = (picture_id & 0x7fff) | 0x8000;
    frame
        .chunks(room)
        .enumerate()
        .map(|(i, c)| {
            let mut p = Vec::with_capacity(4 + c.len());
            p.push(if i == 0 { 0x90 } else { 0x80 });
            p.push(0x80);
            p.extend_from_slice(&pid.to_be_bytes());
            p.extend_from_slice(c);
            p
        })
        .collect()
}

/// Builds one Opus packet: a TOC byte (CELT FB 20 ms, mono, one frame) and the stamp.
pub fn opus_packet(shape: &Shape, filler: &Filler, stamp: &Stamp) -> Vec<u8> {
    let mut p = Vec::with_capacity(shape.audio_bytes.max(1 + STAMP_LEN));
    p.push(0xf8);
    stamp.write(&mut p);
    let rest = shape.audio_bytes.saturating_sub(p.len());
    p.extend_from_slice(filler.slice(stamp.number.wrapping_add(1_000_003), rest));
    p
}

/// Reads the stamp from an Opus payload (as sent by [`opus_packet`]).
pub fn parse_opus(payload: &[u8]) -> Option<Stamp> {
    Stamp::read(payload.get(1..)?)
}

/// Parses an RTP VP8 payload (RFC 7741 §4.2 descriptor). Returns whether it
/// starts a frame and, if so, the stamp behind the frame header.
pub fn parse_vp8_rtp(payload: &[u8]) -> Option<(bool, Option<Stamp>)> {
    let b0 = *payload.first()?;
    let mut i = 1;
    if b0 & 0x80 != 0 {
        let x = *payload.get(i)?;
        i += 1;
        if x & 0x80 != 0 {
            let pic = *payload.get(i)?;
            i += if pic & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1;
        }
        if x & 0x30 != 0 {
            i += 1;
        }
    }
    let start = b0 & 0x10 != 0 && b0 & 0x0f == 0;
    if !start {
        return Some((false, None));
    }
    let frame = payload.get(i..)?;
    let key = frame.first()? & 1 == 0;
    let hdr = if key { 10 } else { 3 };
    Some((true, Stamp::read(frame.get(hdr..)?)))
}

/// Reassembles frames from RTP packets well enough to tell complete from not:
/// a frame is complete when its first packet, its marker packet and every
/// sequence number between were received. Tolerates a little reordering.
#[derive(Default)]
pub struct FrameAsm {
    slots: [Slot; 8],
    next: usize,
}

#[derive(Default, Clone, Copy)]
struct Slot {
    used: bool,
    done: bool,
    ts: u32,
    first_seq: Option<u16>,
    marker_seq: Option<u16>,
    count: u16,
    stamp: Option<Stamp>,
}

impl FrameAsm {
    /// Feeds one video packet; returns the frame's stamp when it completes a frame.
    pub fn push(&mut self, seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Option<Stamp> {
        let idx = match self.slots.iter().position(|s| s.used && s.ts == ts) {
            Some(i) => i,
            None => {
                let i = self.next;
                self.next = (self.next + 1) % self.slots.len();
                self.slots[i] = Slot {
                    used: true,
                    ts,
                    ..Slot::default()
                };
                i
            }
        };
        let s = &mut self.slots[idx];
        if s.done {
            return None;
        }
        s.count = s.count.wrapping_add(1);
        if let Some((start, st)) = parse_vp8_rtp(payload) {
            if start {
                s.first_seq = Some(seq);
                s.stamp = st;
            }
        }
        if marker {
            s.marker_seq = Some(seq);
        }
        if let (Some(a), Some(b), Some(st)) = (s.first_seq, s.marker_seq, s.stamp) {
            if b.wrapping_sub(a).wrapping_add(1) == s.count {
                s.done = true;
                return Some(st);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(number: u32, send_ns: u64) -> Stamp {
        Stamp {
            send_ns,
            number,
            source: 3,
            layer: 1,
        }
    }

    #[test]
    fn shape_averages_the_bitrate() {
        let s = Shape::default();
        let per_interval = s.key_bytes() + (s.key_interval_frames as usize - 1) * s.delta_bytes();
        let bps = per_interval as f64 * 8.0 * s.fps as f64 / s.key_interval_frames as f64;
        assert!((bps - 1_500_000.0).abs() < 1_000.0, "{bps}");
    }

    #[test]
    fn every_layer_averages_its_bitrate() {
        let s = Shape::default();
        let layers = simulcast_layers(3, s.video_bps);
        let rates: Vec<u64> = layers.iter().map(|l| l.bps).collect();
        assert_eq!(rates, [150_000, 500_000, 1_500_000]);
        for l in &layers {
            let per_interval = s.frame_bytes(l, true)
                + (s.key_interval_frames as usize - 1) * s.frame_bytes(l, false);
            let bps = per_interval as f64 * 8.0 * s.fps as f64 / s.key_interval_frames as f64;
            assert!(
                (bps - l.bps as f64).abs() < l.bps as f64 * 0.01,
                "{l:?}: {bps}"
            );
        }
        // The full layer is the fan-out scenario's only one, byte for byte.
        assert_eq!(layers[2], full_layer(&s));
        assert_eq!(s.frame_bytes(&full_layer(&s), true), s.key_bytes());
    }

    #[test]
    fn fewer_layers_keep_the_widest() {
        let rids: Vec<&str> = simulcast_layers(2, 1).iter().map(|l| l.rid).collect();
        assert_eq!(rids, ["h", "f"]);
        assert_eq!(simulcast_layers(1, 1)[0].width, 1280);
        assert_eq!(simulcast_layers(9, 1).len(), 3);
    }

    #[test]
    fn a_key_frame_tells_the_relay_its_layer_width() {
        let s = Shape::default();
        let f = Filler::new();
        for layer in simulcast_layers(3, s.video_bps) {
            let frame = vp8_frame(&s, &f, &layer, true, &stamp(0, 1));
            let first = &vp8_packets(&frame, 7)[0];
            let start = conclave_proto::vp8::frame_start(first).expect("a frame start");
            assert!(start.keyframe);
            assert_eq!(start.size, Some((layer.width, layer.height)));
            let delta = vp8_frame(&s, &f, &layer, false, &stamp(1, 1));
            let start = conclave_proto::vp8::frame_start(&vp8_packets(&delta, 8)[0]);
            assert_eq!(start.map(|s| s.keyframe), Some(false));
        }
    }

    #[test]
    fn packetized_frames_reassemble_with_their_stamp() {
        let s = Shape::default();
        let f = Filler::new();
        let layer = full_layer(&s);
        for key in [true, false] {
            let frame = vp8_frame(&s, &f, &layer, key, &stamp(9, 77));
            let packets = vp8_packets(&frame, 0x1234);
            assert!(packets.iter().all(|p| p.len() <= VP8_MAX_PAYLOAD));
            assert_eq!(
                packets.iter().map(|p| p.len() - 4).sum::<usize>(),
                frame.len()
            );
            let mut asm = FrameAsm::default();
            let n = packets.len();
            let got: Vec<Stamp> = packets
                .iter()
                .enumerate()
                .filter_map(|(i, p)| asm.push(500 + i as u16, 3000, i + 1 == n, p))
                .collect();
            assert_eq!(got, [stamp(9, 77)]);
        }
    }

    #[test]
    fn frames_reassemble_from_descriptor_packets() {
        let s = Shape::default();
        let f = Filler::new();
        for key in [true, false] {
            let frame = vp8_frame(&s, &f, &full_layer(&s), key, &stamp(7, 123_456));
            let mut asm = FrameAsm::default();
            let chunks: Vec<&[u8]> = frame.chunks(1100).collect();
            let mut got = None;
            for (i, c) in chunks.iter().enumerate() {
                // X=1, I=1, 7-bit picture id on every packet; S only on the first.
                let mut p = vec![if i == 0 { 0x90 } else { 0x80 }, 0x80, 0x05];
                p.extend_from_slice(c);
                let r = asm.push(100 + i as u16, 9000, i + 1 == chunks.len(), &p);
                if r.is_some() {
                    got = r;
                }
            }
            assert_eq!(got, Some(stamp(7, 123_456)));
        }
    }

    #[test]
    fn a_missing_packet_means_no_frame() {
        let s = Shape::default();
        let f = Filler::new();
        let frame = vp8_frame(&s, &f, &full_layer(&s), true, &stamp(1, 5));
        let mut asm = FrameAsm::default();
        let chunks: Vec<&[u8]> = frame.chunks(1100).collect();
        for (i, c) in chunks.iter().enumerate() {
            if i == 2 {
                continue;
            }
            let mut p = vec![if i == 0 { 0x10 } else { 0x00 }];
            p.extend_from_slice(c);
            assert!(asm.push(i as u16, 1, i + 1 == chunks.len(), &p).is_none());
        }
    }

    #[test]
    fn opus_stamp_round_trips() {
        let s = Shape::default();
        let p = opus_packet(&s, &Filler::new(), &stamp(42, 99));
        assert_eq!(p.len(), s.audio_bytes);
        assert_eq!(parse_opus(&p), Some(stamp(42, 99)));
    }
}
