//! Conclave's benchmark tools (issue 5): a load generator that drives one
//! publisher and N subscribers over real WebRTC (str0m) against Conclave's relay
//! or Janus VideoRoom, and a "ceiling" forwarder that shows what plain UDP
//! fan-out costs on the same machine. `bench/run.sh` runs them side by side;
//! docs/benchmarks.md explains the figures.
//!
//! The media loop ([`engine`]) is one thread over every peer, so a single core
//! carries ~150 subscribers; the relay and the load generator run pinned to
//! different cores.
//!
//! Besides that fan-out, two scenarios with simulcast ([`scenario`]): a
//! meeting (N participants each publishing and receiving everyone else) and a
//! webinar (one simulcast publisher, viewers asking for different widths).
//!
//! ```
//! use conclave_load::shape::{full_layer, vp8_frame, Filler, FrameAsm, Shape, Stamp};
//! let s = Shape::default();
//! assert!(s.key_bytes() > s.delta_bytes());
//! let stamp = Stamp { send_ns: 42, number: 3, source: 0, layer: 0 };
//! let f = vp8_frame(&s, &Filler::new(), &full_layer(&s), false, &stamp);
//! let mut pkt = vec![0x10]; // VP8 descriptor: start of frame
//! pkt.extend_from_slice(&f);
//! assert_eq!(FrameAsm::default().push(1, 0, true, &pkt), Some(stamp));
//! ```

pub mod conclave;
pub mod engine;
pub mod janus;
pub mod measure;
pub mod procstat;
pub mod publish;
pub mod receive;
pub mod report;
pub mod rxstamp;
pub mod scenario;
pub mod shape;
pub mod tally;

/// The AES-GCM nonce for a raw-UDP datagram in ceiling mode, from its RTP
/// header (SSRC, timestamp, sequence), like SRTP derives its IV from the packet.
/// Unique per (key, packet) for the length of a benchmark.
pub fn gcm_nonce(rtp_header: &[u8]) -> aws_lc_rs::aead::Nonce {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&rtp_header[8..12]);
    n[4..8].copy_from_slice(&rtp_header[4..8]);
    n[8..10].copy_from_slice(&rtp_header[2..4]);
    aws_lc_rs::aead::Nonce::assume_unique_for_key(n)
}

/// The ceiling's per-destination AES-128-GCM key: a benchmark stand-in for the
/// per-subscriber SRTP key, derived from the destination port so a sink can open it.
pub fn gcm_key(port: u16) -> aws_lc_rs::aead::LessSafeKey {
    let mut k = [0x5au8; 16];
    k[..2].copy_from_slice(&port.to_le_bytes());
    let key =
        aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_128_GCM, &k).expect("16-byte key");
    aws_lc_rs::aead::LessSafeKey::new(key)
}
