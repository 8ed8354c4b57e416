//! `--insider-view DIR`: writes down exactly what the relay's operator can
//! see, so anyone can audit that it is only ciphertext and routing data
//! (docs/design.md §4 "Everything the relay learns … `--insider-view` shows exactly
//! that"). Off by default; when on, it is the only thing the relay writes
//! besides its config.
//!
//! - `signaling.jsonl`: every signaling WebSocket message, in and out, one
//!   JSON object per line: `{"t_ms", "dir": "in"|"out", "room", "participant", "text"}`
//!   with `text` the frame exactly as it crossed the wire.
//! - `media.pcap`: every RTP packet a publisher sent, as the relay holds it
//!   after removing SRTP (header + payload), wrapped in IPv4/UDP headers
//!   (LINKTYPE_RAW) so Wireshark decodes it with "Decode As… RTP". The RTP
//!   header is rebuilt from the parsed fields without header extensions
//!   (their negotiated kinds are in the SDP in `signaling.jsonl`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::Serialize;

/// LINKTYPE_RAW: packets begin with an IPv4 or IPv6 header.
const LINKTYPE_RAW: u32 = 101;

/// Receives every RTP packet a publisher sends, after SRTP is removed.
pub trait RtpTap: Send {
    /// One packet: parsed header fields and the untouched payload.
    fn rtp(&mut self, from: SocketAddr, to: SocketAddr, header: &RtpFields, payload: &[u8]);
}

/// The RTP header fields the relay parsed.
#[derive(Debug, Clone, Copy)]
pub struct RtpFields {
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence_number: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronization source.
    pub ssrc: u32,
}

impl RtpFields {
    /// The fields of a packet str0m parsed.
    pub fn of(pkt: &str0m::rtp::RtpPacket) -> RtpFields {
        RtpFields {
            marker: pkt.header.marker,
            payload_type: *pkt.header.payload_type,
            sequence_number: pkt.header.sequence_number,
            timestamp: pkt.header.timestamp,
            ssrc: *pkt.header.ssrc,
        }
    }
}

/// The signaling half: shared by all WebSocket tasks.
pub struct SignalingLog {
    out: Mutex<BufWriter<File>>,
}

#[derive(Serialize)]
struct Line<'a> {
    t_ms: u128,
    dir: &'a str,
    room: &'a str,
    participant: &'a str,
    text: &'a str,
}

impl SignalingLog {
    /// Creates `DIR/signaling.jsonl`.
    pub fn create(dir: &Path) -> anyhow::Result<SignalingLog> {
        Ok(SignalingLog {
            out: Mutex::new(create_in(dir, "signaling.jsonl")?),
        })
    }

    /// Records one message; `dir` is `"in"` (client → relay) or `"out"`.
    pub fn record(&self, dir: &str, room: &str, participant: &str, text: &str) {
        let line = Line {
            t_ms: now_since_epoch().as_millis(),
            dir,
            room,
            participant,
            text,
        };
        let Ok(json) = serde_json::to_string(&line) else {
            return;
        };
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{json}");
            let _ = out.flush();
        }
    }
}

/// The media half: a pcap file written by the media engine thread.
pub struct PcapTap {
    out: BufWriter<File>,
}

impl PcapTap {
    /// Creates `DIR/media.pcap` with its global header.
    pub fn create(dir: &Path) -> anyhow::Result<PcapTap> {
        let mut out = create_in(dir, "media.pcap")?;
        // pcap global header, microsecond timestamps, native-endian magic.
        out.write_all(&0xa1b2_c3d4u32.to_ne_bytes())?;
        out.write_all(&2u16.to_ne_bytes())?;
        out.write_all(&4u16.to_ne_bytes())?;
        out.write_all(&0i32.to_ne_bytes())?;
        out.write_all(&0u32.to_ne_bytes())?;
        out.write_all(&65_535u32.to_ne_bytes())?;
        out.write_all(&LINKTYPE_RAW.to_ne_bytes())?;
        out.flush()?;
        Ok(PcapTap { out })
    }
}

/// Creates (or truncates) `dir/name`, making `dir` if needed.
fn create_in(dir: &Path, name: &str) -> anyhow::Result<BufWriter<File>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create insider-view directory {}", dir.display()))?;
    let path = dir.join(name);
    let file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(BufWriter::new(file))
}

fn v4(ip: IpAddr) -> Ipv4Addr {
    match ip {
        IpAddr::V4(a) => a,
        IpAddr::V6(a) => a.to_ipv4_mapped().unwrap_or(Ipv4Addr::LOCALHOST),
    }
}

impl RtpTap for PcapTap {
    fn rtp(&mut self, from: SocketAddr, to: SocketAddr, h: &RtpFields, payload: &[u8]) {
        let rtp_len = 12 + payload.len();
        let udp_len = 8 + rtp_len;
        let ip_len = 20 + udp_len;
        let Ok(ip_len16) = u16::try_from(ip_len) else {
            return;
        };
        let mut pkt = Vec::with_capacity(ip_len);
        // IPv4 header (no options), checksum computed below.
        pkt.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0]);
        pkt[2..4].copy_from_slice(&ip_len16.to_be_bytes());
        pkt.extend_from_slice(&v4(from.ip()).octets());
        pkt.extend_from_slice(&v4(to.ip()).octets());
        let sum = checksum(&pkt[..20]);
        pkt[10..12].copy_from_slice(&sum.to_be_bytes());
        // UDP header, checksum 0 (none).
        pkt.extend_from_slice(&from.port().to_be_bytes());
        pkt.extend_from_slice(&to.port().to_be_bytes());
        pkt.extend_from_slice(&(udp_len as u16).to_be_bytes());
        pkt.extend_from_slice(&[0, 0]);
        // RTP header.
        pkt.push(0x80);
        pkt.push((u8::from(h.marker) << 7) | (h.payload_type & 0x7f));
        pkt.extend_from_slice(&h.sequence_number.to_be_bytes());
        pkt.extend_from_slice(&h.timestamp.to_be_bytes());
        pkt.extend_from_slice(&h.ssrc.to_be_bytes());
        pkt.extend_from_slice(payload);

        let t = now_since_epoch();
        let len = pkt.len() as u32;
        let _ = self.out.write_all(&(t.as_secs() as u32).to_ne_bytes());
        let _ = self.out.write_all(&t.subsec_micros().to_ne_bytes());
        let _ = self.out.write_all(&len.to_ne_bytes());
        let _ = self.out.write_all(&len.to_ne_bytes());
        let _ = self.out.write_all(&pkt);
    }
}

impl Drop for PcapTap {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn now_since_epoch() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcap_holds_ipv4_udp_rtp() {
        let dir = std::env::temp_dir().join(format!("conclave-insider-{}", std::process::id()));
        {
            let mut tap = PcapTap::create(&dir).unwrap();
            let h = RtpFields {
                marker: true,
                payload_type: 96,
                sequence_number: 7,
                timestamp: 9000,
                ssrc: 0xdead_beef,
            };
            tap.rtp(
                "10.0.0.2:5000".parse().unwrap(),
                "10.0.0.1:8443".parse().unwrap(),
                &h,
                b"cipher",
            );
        }
        let bytes = std::fs::read(dir.join("media.pcap")).unwrap();
        assert_eq!(bytes.len(), 24 + 16 + 20 + 8 + 12 + 6);
        let ip = &bytes[40..];
        assert_eq!(ip[0], 0x45);
        assert_eq!(checksum(&ip[..20]), 0, "valid IPv4 header checksum");
        assert_eq!(&ip[20..22], &5000u16.to_be_bytes());
        let rtp = &ip[28..];
        assert_eq!(rtp[0], 0x80);
        assert_eq!(rtp[1], 0x80 | 96);
        assert_eq!(&rtp[8..12], &0xdead_beefu32.to_be_bytes());
        assert_eq!(&rtp[12..], b"cipher");
        std::fs::remove_dir_all(&dir).ok();
    }
}
