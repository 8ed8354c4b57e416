//! Prometheus counters. They count things; they never carry a label that
//! names a participant, a room or an address (docs/conventions.md §7).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Relay-wide counters and gauges, shared by the signaling tasks and the media engine.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Rooms that exist now.
    pub rooms: AtomicU64,
    /// Participants joined now.
    pub participants: AtomicU64,
    /// Open signaling WebSockets.
    pub connections: AtomicU64,
    /// Signaling messages refused with an error.
    pub signaling_errors: AtomicU64,
    /// Media datagrams received on the UDP port.
    pub packets_in: AtomicU64,
    /// Media bytes received.
    pub bytes_in: AtomicU64,
    /// Media datagrams sent.
    pub packets_out: AtomicU64,
    /// Media bytes sent.
    pub bytes_out: AtomicU64,
    /// RTP packets forwarded to subscribers (one per copy).
    pub rtp_forwarded: AtomicU64,
    /// Datagrams that matched no peer.
    pub packets_unmatched: AtomicU64,
    /// Media datagrams the kernel would not take (a full socket send buffer
    /// that stayed full, or a send error): lost before they left.
    pub packets_send_failed: AtomicU64,
    /// Packet releases split over several cores (one big room, `Sfu::flush`).
    pub parallel_flushes: AtomicU64,
    /// Forwarded copies the relay sealed itself (direct send).
    pub rtp_direct: AtomicU64,
    /// Packets the relay retransmitted itself for NACKs (direct send).
    pub retransmits: AtomicU64,
    /// Published packets not forwarded because they were forwarded already.
    pub rtp_duplicates: AtomicU64,
    /// Packets the relay asked publishers to send again (NACK; direct send only).
    pub nacked: AtomicU64,
    /// Open ICE-TCP media connections (`crate::tcp_media`).
    pub tcp_links: AtomicU64,
    /// ICE-TCP frames dropped: a full queue either way, or no peer to send to.
    pub tcp_frames_dropped: AtomicU64,
    /// Transport-wide congestion-control feedback reports taken from subscribers.
    pub twcc_feedback: AtomicU64,
    /// Of those, the ones the relay opened itself (`crate::srtcp`), not through str0m.
    pub twcc_direct: AtomicU64,
    /// Probes started (a subscriber wanted more than its estimate).
    pub probes: AtomicU64,
    /// Copies sent to fill probes.
    pub probe_copies: AtomicU64,
    /// Probes that raised the estimate.
    pub probes_raised: AtomicU64,
    /// Probes that did not.
    pub probes_failed: AtomicU64,
    /// Times a subscription was newly held below its best layer (or paused) by its estimate.
    pub layers_limited: AtomicU64,
    /// TURN credentials handed out, one per join (`crate::turn`).
    pub turn_credentials: AtomicU64,
}

impl Metrics {
    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let rows: [(&str, &str, &str, &AtomicU64); 26] = [
            (
                "conclave_rooms",
                "gauge",
                "Rooms on this relay.",
                &self.rooms,
            ),
            (
                "conclave_participants",
                "gauge",
                "Participants joined.",
                &self.participants,
            ),
            (
                "conclave_signaling_connections",
                "gauge",
                "Open signaling WebSockets.",
                &self.connections,
            ),
            (
                "conclave_signaling_errors_total",
                "counter",
                "Signaling messages refused.",
                &self.signaling_errors,
            ),
            (
                "conclave_media_packets_in_total",
                "counter",
                "UDP media datagrams received.",
                &self.packets_in,
            ),
            (
                "conclave_media_bytes_in_total",
                "counter",
                "UDP media bytes received.",
                &self.bytes_in,
            ),
            (
                "conclave_media_packets_out_total",
                "counter",
                "UDP media datagrams sent.",
                &self.packets_out,
            ),
            (
                "conclave_media_bytes_out_total",
                "counter",
                "UDP media bytes sent.",
                &self.bytes_out,
            ),
            (
                "conclave_rtp_forwarded_total",
                "counter",
                "RTP packets forwarded to subscribers.",
                &self.rtp_forwarded,
            ),
            (
                "conclave_media_packets_unmatched_total",
                "counter",
                "UDP datagrams that matched no peer.",
                &self.packets_unmatched,
            ),
            (
                "conclave_media_packets_send_failed_total",
                "counter",
                "UDP media datagrams the kernel would not take (full send buffer or send error).",
                &self.packets_send_failed,
            ),
            (
                "conclave_parallel_flushes_total",
                "counter",
                "Packet releases for many peers split over several cores.",
                &self.parallel_flushes,
            ),
            (
                "conclave_rtp_sealed_directly_total",
                "counter",
                "Forwarded RTP copies sealed on the relay's direct send path.",
                &self.rtp_direct,
            ),
            (
                "conclave_rtx_sent_total",
                "counter",
                "Packets retransmitted for subscribers' NACKs on the direct send path.",
                &self.retransmits,
            ),
            (
                "conclave_rtp_duplicates_total",
                "counter",
                "Published RTP packets received again (a retransmission of a late packet) and not forwarded twice.",
                &self.rtp_duplicates,
            ),
            (
                "conclave_rtp_nacked_total",
                "counter",
                "RTP packets the relay asked publishers to send again (lost on their way in).",
                &self.nacked,
            ),
            (
                "conclave_ice_tcp_connections",
                "gauge",
                "Open ICE-TCP media connections (clients whose network blocks UDP).",
                &self.tcp_links,
            ),
            (
                "conclave_ice_tcp_frames_dropped_total",
                "counter",
                "ICE-TCP media frames dropped (a full queue, or no peer for them).",
                &self.tcp_frames_dropped,
            ),
            (
                "conclave_bwe_feedback_total",
                "counter",
                "Transport-wide congestion-control feedback reports from subscribers.",
                &self.twcc_feedback,
            ),
            (
                "conclave_bwe_feedback_direct_total",
                "counter",
                "Of those, the SRTCP packets the relay opened itself (only feedback in them).",
                &self.twcc_direct,
            ),
            (
                "conclave_bwe_probes_total",
                "counter",
                "Bandwidth probes started for subscribers who wanted more than their estimate.",
                &self.probes,
            ),
            (
                "conclave_bwe_probe_copies_total",
                "counter",
                "Retransmission-stream copies sent to fill bandwidth probes.",
                &self.probe_copies,
            ),
            (
                "conclave_bwe_probes_raised_total",
                "counter",
                "Bandwidth probes that raised a subscriber's estimate.",
                &self.probes_raised,
            ),
            (
                "conclave_bwe_probes_failed_total",
                "counter",
                "Bandwidth probes the path did not carry.",
                &self.probes_failed,
            ),
            (
                "conclave_bwe_layers_limited_total",
                "counter",
                "Times a subscriber's estimate newly held a video track below its best layer, or paused it.",
                &self.layers_limited,
            ),
            (
                "conclave_turn_credentials_total",
                "counter",
                "TURN credentials handed out (one per join, when TURN servers are configured).",
                &self.turn_credentials,
            ),
        ];
        let mut out = String::with_capacity(2560);
        for (name, kind, help, value) in rows {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                value.load(Relaxed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_prometheus_text() {
        let m = super::Metrics::default();
        super::Metrics::add(&m.rooms, 2);
        let text = m.render();
        assert!(text.contains("# TYPE conclave_rooms gauge\nconclave_rooms 2\n"));
        assert!(!text.contains('{'), "no labels");
    }
}
