//! Media generation: what the publishing peers send and when, on the media
//! thread ([`Engine`]).
//!
//! - The fan-out publisher (frame mode): one VP8 stream packetized by
//!   str0m, optionally paced like a browser.
//! - Simulcast publishers (RTP mode): every frame once per [`Layer`], each
//!   layer on its own RTP stream with its RID, packetized here
//!   ([`shape::vp8_packets`]); meeting participants and the webinar host.
//!   All of them number frames from one [`Clock`], so frame `n` of every
//!   publisher and layer belongs to the same period and a receiver's delivery
//!   is counted in one range of frame numbers; but each publisher sends at
//!   its own phase within the period, as independent browsers do (all in one
//!   tick, 25 publishers' frames reached the relay as one burst of hundreds
//!   of datagrams).
//! - The raw-UDP publisher (ceiling mode): the same frames as plain
//!   RTP-shaped datagrams.

use crate::engine::{Engine, Role};
use crate::receive::{RAW_PT_AUDIO, RAW_PT_VIDEO};
use crate::shape::{self, Filler, Layer, Shape, Stamp};
use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use str0m::format::{Codec, PayloadParams};
use str0m::media::{MediaTime, Mid, Pt, Rid};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Input, Rtc};

/// The fan-out publisher's negotiated codecs and its next due times.
pub(crate) struct Publishing {
    pub(crate) vpt: Option<PayloadParams>,
    pub(crate) apt: Option<PayloadParams>,
    pub(crate) next_video: Instant,
    pub(crate) next_audio: Instant,
}

/// The simulcast publishers' shared clock: item `n` (a video frame, an
/// audio packet) of a publisher with phase `off` is due at
/// `epoch + n × period + off`, with `off` less than a period.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
    pub(crate) video: Duration,
    pub(crate) audio: Duration,
}

impl Clock {
    pub(crate) fn new(epoch: Instant, shape: &Shape) -> Clock {
        Clock {
            epoch,
            video: Duration::from_nanos(1_000_000_000 / shape.fps.max(1) as u64),
            audio: Duration::from_nanos(1_000_000_000 / shape.audio_pps.max(1) as u64),
        }
    }

    /// Publisher `k`'s phase within `period`: golden-ratio steps, so any
    /// number of publishers spreads evenly.
    pub(crate) fn phase(k: u16, period: Duration) -> Duration {
        period.mul_f64(((k as f64 + 1.0) * 0.618_033_988_749_895).fract())
    }

    /// The newest item due at `now` at phase `off` (None: not even the first).
    pub(crate) fn due(&self, now: Instant, period: Duration, off: Duration) -> Option<u32> {
        let t = now.checked_duration_since(self.epoch + off)?;
        Some((t.as_nanos() / period.as_nanos().max(1)) as u32)
    }

    /// When item `n` is due at phase `off`.
    pub(crate) fn at(&self, n: u32, period: Duration, off: Duration) -> Instant {
        self.epoch + period * n + off
    }

    /// The first item number no publisher has been due to send by `now`
    /// (every one after it is sent later, whatever its phase).
    pub(crate) fn next_number(&self, now: Instant, period: Duration) -> u32 {
        (now.saturating_duration_since(self.epoch).as_nanos() / period.as_nanos().max(1)) as u32 + 1
    }
}

/// The items from `next` (None: start with the one due) to `due`, both
/// included; after a stall of more than `max` items, only the newest.
fn to_send(next: Option<u32>, due: u32, max: u32) -> std::ops::RangeInclusive<u32> {
    let from = next.unwrap_or(due);
    if due.saturating_sub(from) > max {
        due..=due
    } else {
        from..=due
    }
}

/// A simulcast publisher's sending state (RTP mode: it numbers its own packets).
pub struct SimulcastTx {
    audio: Mid,
    video: Mid,
    layers: Vec<Layer>,
    rids: Vec<Rid>,
    /// Next sequence number per layer.
    seq: Vec<u64>,
    audio_seq: u64,
    /// Negotiated payload types (VP8, Opus), once known.
    pts: Option<(Pt, Pt)>,
    /// Bit i: the next frame of layer i is a key frame (a key-frame request).
    force_key: u8,
    picture_id: u16,
    /// The next frame and audio packet number it will send (None: not started).
    next_frame: Option<u32>,
    next_audio: Option<u32>,
}

impl SimulcastTx {
    /// Sends on m-lines `audio` and `video`, the latter in `layers` (lowest first).
    pub fn new(audio: Mid, video: Mid, layers: Vec<Layer>) -> SimulcastTx {
        let rids = layers.iter().map(|l| Rid::from(l.rid)).collect();
        SimulcastTx {
            audio,
            video,
            // Each layer its own sequence space, like a browser's encoders
            // (starting low: no rollover counter to signal).
            seq: (0..layers.len() as u64)
                .map(|i| 1000 + 10_000 * i)
                .collect(),
            layers,
            rids,
            audio_seq: 500,
            pts: None,
            force_key: 0,
            picture_id: 0,
            next_frame: None,
            next_audio: None,
        }
    }

    /// The layers it sends, lowest first.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// A key-frame request for layer `rid` (all layers if none is named).
    pub(crate) fn request_key(&mut self, rid: Option<Rid>) {
        match rid.and_then(|r| self.rids.iter().position(|x| *x == r)) {
            Some(i) => self.force_key |= 1 << i,
            None => self.force_key = u8::MAX,
        }
    }

    fn payload_types(&mut self, rtc: &Rtc) -> Option<(Pt, Pt)> {
        if self.pts.is_none() {
            let find = |codec| {
                rtc.codec_config()
                    .params()
                    .iter()
                    .find(|p| p.spec().codec == codec)
                    .map(|p| p.pt())
            };
            self.pts = Some((find(Codec::Vp8)?, find(Codec::Opus)?));
        }
        self.pts
    }

    /// Writes frame `n` on every layer.
    fn write_frame(&mut self, rtc: &mut Rtc, shape: &Shape, filler: &Filler, source: u16, n: u32) {
        let Some((vpt, _)) = self.payload_types(rtc) else {
            return;
        };
        let now = Instant::now();
        let ts = (n as u64 * 90_000 / shape.fps as u64) as u32;
        self.picture_id = self.picture_id.wrapping_add(1);
        // Independent browsers' key frames do not line up: each publisher's
        // come at its own phase of the interval (7 frames apart per publisher;
        // 7 and 60 share no factor, so up to 60 publishers all differ).
        let phase = (source as u32 * 7) % shape.key_interval_frames.max(1);
        for (i, layer) in self.layers.iter().enumerate() {
            let key = shape.is_key(n.wrapping_add(phase)) || self.force_key & (1 << i) != 0;
            self.force_key &= !(1 << i);
            let stamp = Stamp {
                send_ns: shape::mono_ns(),
                number: n,
                source,
                layer: i as u8,
            };
            let frame = shape::vp8_frame(shape, filler, layer, key, &stamp);
            let mut api = rtc.direct_api();
            let Some(tx) = api.stream_tx_by_mid(self.video, Some(self.rids[i])) else {
                continue;
            };
            let packets = shape::vp8_packets(&frame, self.picture_id);
            let last = packets.len() - 1;
            // Layers' RTP clocks have unrelated offsets, as a browser's do.
            let layer_ts = ts.wrapping_add(1_000_000 * i as u32);
            for (k, p) in packets.into_iter().enumerate() {
                tx.write_rtp(
                    RtpWrite::new(vpt, SeqNo::from(self.seq[i]), layer_ts, now, p)
                        .marker(k == last)
                        .nackable(true),
                );
                self.seq[i] += 1;
            }
        }
    }

    /// Writes audio packet `n`.
    fn write_audio(&mut self, rtc: &mut Rtc, shape: &Shape, filler: &Filler, source: u16, n: u32) {
        let Some((_, apt)) = self.payload_types(rtc) else {
            return;
        };
        let stamp = Stamp {
            send_ns: shape::mono_ns(),
            number: n,
            source,
            layer: 0,
        };
        let pkt = shape::opus_packet(shape, filler, &stamp);
        let ts = (n as u64 * 48_000 / shape.audio_pps as u64) as u32;
        let mut api = rtc.direct_api();
        if let Some(tx) = api.stream_tx_by_mid(self.audio, None) {
            tx.write_rtp(RtpWrite::new(
                apt,
                SeqNo::from(self.audio_seq),
                ts,
                Instant::now(),
                pkt,
            ));
            self.audio_seq += 1;
        }
    }
}

/// Moves a due time one period on; after a stall of more than a second it
/// restarts from now instead of catching up in a burst.
fn advance(next: &mut Instant, period: Duration, now: Instant) {
    *next += period;
    if now.saturating_duration_since(*next) > Duration::from_secs(1) {
        *next = now + period;
    }
}

impl Engine {
    /// Writes the fan-out publisher's video frames and audio packets that are due.
    pub(crate) fn publish(&mut self, now: Instant) {
        let Some(pi) = self.publisher else { return };
        if !self.peers[pi].connected {
            return;
        }
        if let Role::RawPublisher { dest } = self.peers[pi].role {
            return self.publish_raw(pi, dest, now);
        }
        let (audio_mid, video_mid) = match self.peers[pi].role {
            Role::Publisher { audio, video } => (audio, video),
            _ => return,
        };
        let Some(rtc) = self.peers[pi].rtc.as_mut() else {
            return;
        };
        if self.publishing.is_none() {
            let find = |rtc: &mut Rtc, mid: Mid, codec: Codec| {
                rtc.writer(mid).and_then(|w| {
                    w.payload_params()
                        .find(|p| p.spec().codec == codec)
                        .cloned()
                })
            };
            let (Some(apt), Some(vpt)) = (
                find(rtc, audio_mid, Codec::Opus),
                find(rtc, video_mid, Codec::Vp8),
            ) else {
                return;
            };
            self.publishing = Some(Publishing {
                vpt: Some(vpt),
                apt: Some(apt),
                next_video: now,
                next_audio: now,
            });
        }
        let period_v = Duration::from_nanos(1_000_000_000 / self.shape.fps as u64);
        let period_a = Duration::from_nanos(1_000_000_000 / self.shape.audio_pps as u64);
        let mut wrote = false;
        let Some(p) = self.publishing.as_mut() else {
            return;
        };
        let (Some(vpt), Some(apt)) = (
            p.vpt.as_ref().map(|x| x.pt()),
            p.apt.as_ref().map(|x| x.pt()),
        ) else {
            return;
        };
        let layer = shape::full_layer(&self.shape);
        while now >= p.next_video {
            let n = self.frame_no;
            let key = self.shape.is_key(n) || std::mem::take(&mut self.force_key);
            let stamp = Stamp {
                send_ns: shape::mono_ns(),
                number: n,
                source: pi as u16,
                layer: 0,
            };
            let frame = shape::vp8_frame(&self.shape, &self.filler, &layer, key, &stamp);
            let rtp_time = MediaTime::new(
                n as u64 * 90_000 / self.shape.fps as u64,
                str0m::media::Frequency::NINETY_KHZ,
            );
            if let Some(w) = rtc.writer(video_mid) {
                if let Err(e) = w.write(vpt, now, rtp_time, frame) {
                    eprintln!("publisher: video write: {e}");
                }
            }
            self.frame_no += 1;
            wrote = true;
            advance(&mut p.next_video, period_v, now);
        }
        while now >= p.next_audio {
            let n = self.audio_seq;
            let stamp = Stamp {
                send_ns: shape::mono_ns(),
                number: n,
                source: pi as u16,
                layer: 0,
            };
            let pkt = shape::opus_packet(&self.shape, &self.filler, &stamp);
            let rtp_time = MediaTime::new(
                n as u64 * 48_000 / self.shape.audio_pps as u64,
                str0m::media::Frequency::FORTY_EIGHT_KHZ,
            );
            if let Some(w) = rtc.writer(audio_mid) {
                if let Err(e) = w.write(apt, now, rtp_time, pkt) {
                    eprintln!("publisher: audio write: {e}");
                }
            }
            self.audio_seq += 1;
            wrote = true;
            advance(&mut p.next_audio, period_a, now);
        }
        if wrote {
            // str0m's pacer holds a write until the next timeout input; give it one now.
            rtc.handle_input(Input::Timeout(now)).ok();
            self.drain(pi);
        }
    }

    /// Writes the simulcast publishers' frames and audio that are due, each
    /// publisher at its own phase of the shared clock; sets when to come back.
    pub(crate) fn publish_simulcast(&mut self, now: Instant) {
        if !self
            .simulcast
            .iter()
            .any(|&i| self.peers[i].connected && !self.peers[i].dead)
        {
            return;
        }
        let clock = *self
            .clock
            .get_or_insert_with(|| Clock::new(now, &self.shape));
        let mut wake = now + Duration::from_millis(50);
        for k in 0..self.simulcast.len() {
            let pi = self.simulcast[k];
            let peer = &mut self.peers[pi];
            if !peer.connected || peer.dead {
                continue;
            }
            let (Role::Simulcast { tx, .. }, Some(rtc)) = (&mut peer.role, peer.rtc.as_mut())
            else {
                continue;
            };
            let source = pi as u16;
            let (off_v, off_a) = (
                Clock::phase(source, clock.video),
                Clock::phase(source, clock.audio),
            );
            let mut wrote = false;
            if let Some(due) = clock.due(now, clock.video, off_v) {
                for n in to_send(tx.next_frame, due, self.shape.fps) {
                    tx.write_frame(rtc, &self.shape, &self.filler, source, n);
                    wrote = true;
                }
                tx.next_frame = Some(due + 1);
            }
            if let Some(due) = clock.due(now, clock.audio, off_a) {
                for n in to_send(tx.next_audio, due, self.shape.audio_pps) {
                    tx.write_audio(rtc, &self.shape, &self.filler, source, n);
                    wrote = true;
                }
                tx.next_audio = Some(due + 1);
            }
            let next_v = clock.at(tx.next_frame.unwrap_or(0), clock.video, off_v);
            let next_a = clock.at(tx.next_audio.unwrap_or(0), clock.audio, off_a);
            wake = wake.min(next_v).min(next_a);
            if wrote {
                rtc.handle_input(Input::Timeout(now)).ok();
                self.drain(pi);
            }
        }
        self.frame_no = clock.next_number(now, clock.video);
        self.audio_seq = clock.next_number(now, clock.audio);
        self.simulcast_wake = Some(wake);
    }

    /// Sends the publisher's queued RTP at the pacing rate.
    pub(crate) fn release_paced(&mut self, now: Instant) {
        let (Some(factor), Some(pi)) = (self.shape.pace_factor, self.publisher) else {
            return;
        };
        let bytes_per_s = factor * self.shape.video_bps as f64 / 8.0;
        while self.pace_next <= now {
            let Some((to, d)) = self.paced.pop_front() else {
                break;
            };
            if let Err(e) = self.peers[pi].sock.send_to(&d, to) {
                if e.kind() != ErrorKind::WouldBlock {
                    eprintln!("publisher: send: {e}");
                }
            }
            self.pace_next += Duration::from_secs_f64(d.len() as f64 / bytes_per_s);
        }
    }

    /// Raw-UDP publisher: the same frames, packetized here (VP8 descriptor with S
    /// on the first packet, marker on the last) and sent straight to the ceiling.
    fn publish_raw(&mut self, pi: usize, dest: SocketAddr, now: Instant) {
        let p = self.publishing.get_or_insert(Publishing {
            vpt: None,
            apt: None,
            next_video: now,
            next_audio: now,
        });
        let period_v = Duration::from_nanos(1_000_000_000 / self.shape.fps as u64);
        let period_a = Duration::from_nanos(1_000_000_000 / self.shape.audio_pps as u64);
        let peer = &mut self.peers[pi];
        let layer = shape::full_layer(&self.shape);
        let mut dgram = Vec::with_capacity(1500);
        while now >= p.next_video {
            let n = self.frame_no;
            let key = self.shape.is_key(n);
            let stamp = Stamp {
                send_ns: shape::mono_ns(),
                number: n,
                source: pi as u16,
                layer: 0,
            };
            let frame = shape::vp8_frame(&self.shape, &self.filler, &layer, key, &stamp);
            let ts = n.wrapping_mul(90_000 / self.shape.fps);
            let chunks: Vec<&[u8]> = frame.chunks(RAW_CHUNK - 1).collect();
            for (k, c) in chunks.iter().enumerate() {
                dgram.clear();
                dgram.extend_from_slice(&rtp_header(
                    RAW_PT_VIDEO,
                    k + 1 == chunks.len(),
                    peer.raw_seq,
                    ts,
                    0x1111,
                ));
                dgram.push(if k == 0 { 0x10 } else { 0x00 });
                dgram.extend_from_slice(c);
                peer.raw_seq = peer.raw_seq.wrapping_add(1);
                if self.shape.pace_factor.is_some() {
                    pace(&mut self.paced, &mut self.pace_next, dest, dgram.clone());
                } else {
                    let _ = peer.sock.send_to(&dgram, dest);
                }
            }
            self.frame_no += 1;
            advance(&mut p.next_video, period_v, now);
        }
        while now >= p.next_audio {
            let n = self.audio_seq;
            let stamp = Stamp {
                send_ns: shape::mono_ns(),
                number: n,
                source: pi as u16,
                layer: 0,
            };
            let pkt = shape::opus_packet(&self.shape, &self.filler, &stamp);
            dgram.clear();
            // Audio has its own SSRC and sequence space; n as seq is enough here.
            dgram.extend_from_slice(&rtp_header(
                RAW_PT_AUDIO,
                false,
                n as u16,
                n.wrapping_mul(960),
                0x2222,
            ));
            dgram.extend_from_slice(&pkt);
            let _ = peer.sock.send_to(&dgram, dest);
            self.audio_seq += 1;
            advance(&mut p.next_audio, period_a, now);
        }
    }
}

/// Payload bytes per raw video datagram (after the 12-byte RTP header), close
/// to what str0m's packetizer makes.
const RAW_CHUNK: usize = 1150;

/// Queues a datagram for the publisher's pacer; a queue that was empty starts
/// now (no credit for idle time, or a frame would leave in one burst).
pub(crate) fn pace(
    queue: &mut VecDeque<(SocketAddr, Vec<u8>)>,
    next: &mut Instant,
    to: SocketAddr,
    d: Vec<u8>,
) {
    if queue.is_empty() {
        *next = (*next).max(Instant::now());
    }
    queue.push_back((to, d));
}

fn rtp_header(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[0] = 0x80;
    h[1] = pt | if marker { 0x80 } else { 0 };
    h[2..4].copy_from_slice(&seq.to_be_bytes());
    h[4..8].copy_from_slice(&ts.to_be_bytes());
    h[8..12].copy_from_slice(&ssrc.to_be_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishers_send_at_spread_phases_but_count_frames_alike() {
        let t0 = Instant::now();
        let c = Clock::new(t0, &Shape::default());
        let p = c.video;
        let phases: Vec<Duration> = (0..25).map(|k| Clock::phase(k, p)).collect();
        assert!(phases.iter().all(|o| *o < p));
        // No two of 25 publishers closer than 1/100 of a period.
        let mut sorted = phases.clone();
        sorted.sort();
        assert!(
            sorted.windows(2).all(|w| w[1] - w[0] > p / 100),
            "{sorted:?}"
        );
        // Frame 3 of any publisher is due within period 3.
        for off in phases {
            assert_eq!(c.due(c.at(3, p, off), p, off), Some(3));
            assert_eq!(
                c.due(c.at(3, p, off) - Duration::from_nanos(1), p, off),
                Some(2)
            );
        }
        assert_eq!(c.due(t0, p, p / 2), None);
        // At any instant inside period 3, frame 4 is the first nobody sent.
        assert_eq!(c.next_number(t0 + p * 3 + p / 2, p), 4);
    }

    #[test]
    fn a_stall_skips_ahead_instead_of_bursting() {
        assert_eq!(to_send(None, 7, 30), 7..=7);
        assert_eq!(to_send(Some(5), 7, 30), 5..=7);
        assert_eq!(to_send(Some(8), 7, 30).count(), 0);
        assert_eq!(to_send(Some(5), 100, 30), 100..=100);
    }
}
