//! The synthetic media the publisher sends and the subscribers check.
//!
//! Video: VP8-shaped frames at a fixed rate, a key frame every `key_interval`
//! (larger than delta frames), the rest random bytes ("encrypted-looking": the
//! relay must not care). Only the VP8 frame header that depacketizers and
//! SFUs read to spot key frames stays meaningful (3 bytes, 10 on key frames,
//! as SFrame leaves them in clear, docs/design.md §4 step 3). Right after it sit a send
//! timestamp (CLOCK_MONOTONIC ns, comparable across processes on one machine)
//! and the frame number, so a subscriber measures one-way latency and delivery.
//!
//! Audio: Opus-shaped packets (one TOC byte, then the same stamp) at a fixed rate.

/// Bytes after the codec header that carry `send_ns: u64` and `number: u32`.
pub const STAMP_LEN: usize = 12;

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
        let per_interval = self.video_bps / 8 * self.key_interval_frames as u64 / self.fps as u64;
        (per_interval / (self.key_interval_frames as u64 - 1 + self.key_ratio as u64)) as usize
    }

    pub fn key_bytes(&self) -> usize {
        self.delta_bytes() * self.key_ratio as usize
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

/// Builds one VP8 frame (no RTP payload descriptor: str0m's packetizer adds it).
pub fn vp8_frame(
    shape: &Shape,
    filler: &Filler,
    frame_no: u32,
    key: bool,
    send_ns: u64,
) -> Vec<u8> {
    let size = if key {
        shape.key_bytes()
    } else {
        shape.delta_bytes()
    };
    let mut f = Vec::with_capacity(size.max(32));
    // RFC 6386 §9.1 frame tag: bit 0 = 0 on key frames, version 0, show_frame,
    // 19-bit first partition size (plausible, never read as such).
    let part = ((size / 10) as u32).min((1 << 19) - 1);
    let tag = u32::from(!key) | (1 << 4) | (part << 5);
    f.extend_from_slice(&tag.to_le_bytes()[..3]);
    if key {
        // start code, then 1280x720 with no scaling
        f.extend_from_slice(&[0x9d, 0x01, 0x2a]);
        f.extend_from_slice(&1280u16.to_le_bytes());
        f.extend_from_slice(&720u16.to_le_bytes());
    }
    f.extend_from_slice(&send_ns.to_le_bytes());
    f.extend_from_slice(&frame_no.to_le_bytes());
    let rest = size.saturating_sub(f.len());
    f.extend_from_slice(filler.slice(frame_no, rest));
    f
}

/// Builds one Opus packet: a TOC byte (CELT FB 20 ms, mono, one frame) and the stamp.
pub fn opus_packet(shape: &Shape, filler: &Filler, seq: u32, send_ns: u64) -> Vec<u8> {
    let mut p = Vec::with_capacity(shape.audio_bytes.max(1 + STAMP_LEN));
    p.push(0xf8);
    p.extend_from_slice(&send_ns.to_le_bytes());
    p.extend_from_slice(&seq.to_le_bytes());
    let rest = shape.audio_bytes.saturating_sub(p.len());
    p.extend_from_slice(filler.slice(seq.wrapping_add(1_000_003), rest));
    p
}

/// Reads the stamp from an Opus payload (as sent by [`opus_packet`]).
pub fn parse_opus(payload: &[u8]) -> Option<(u64, u32)> {
    stamp(payload.get(1..)?)
}

fn stamp(b: &[u8]) -> Option<(u64, u32)> {
    if b.len() < STAMP_LEN {
        return None;
    }
    let ns = u64::from_le_bytes(b[..8].try_into().ok()?);
    let n = u32::from_le_bytes(b[8..12].try_into().ok()?);
    Some((ns, n))
}

/// Parses an RTP VP8 payload (RFC 7741 §4.2 descriptor). Returns whether it
/// starts a frame and, if so, the stamp behind the frame header.
pub fn parse_vp8_rtp(payload: &[u8]) -> Option<(bool, Option<(u64, u32)>)> {
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
    Some((true, stamp(frame.get(hdr..)?)))
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
    stamp: Option<(u64, u32)>,
}

impl FrameAsm {
    /// Feeds one video packet; returns `(send_ns, frame_no)` when it completes a frame.
    pub fn push(&mut self, seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Option<(u64, u32)> {
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

    #[test]
    fn shape_averages_the_bitrate() {
        let s = Shape::default();
        let per_interval = s.key_bytes() + (s.key_interval_frames as usize - 1) * s.delta_bytes();
        let bps = per_interval as f64 * 8.0 * s.fps as f64 / s.key_interval_frames as f64;
        assert!((bps - 1_500_000.0).abs() < 1_000.0, "{bps}");
    }

    #[test]
    fn frames_reassemble_from_descriptor_packets() {
        let s = Shape::default();
        let f = Filler::new();
        for key in [true, false] {
            let frame = vp8_frame(&s, &f, 7, key, 123_456);
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
            assert_eq!(got, Some((123_456, 7)));
        }
    }

    #[test]
    fn a_missing_packet_means_no_frame() {
        let s = Shape::default();
        let f = Filler::new();
        let frame = vp8_frame(&s, &f, 1, true, 5);
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
        let p = opus_packet(&s, &Filler::new(), 42, 99);
        assert_eq!(p.len(), s.audio_bytes);
        assert_eq!(parse_opus(&p), Some((99, 42)));
    }
}
