//! Results: one [`Point`] per (system, N), printed as a human line and a JSON
//! line, collected as JSON lines by bench/run.sh and turned into a markdown
//! table with ratios plus a CSV by `conclave-load report`.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    /// conclave, janus, ceiling, ceiling-gcm …
    pub label: String,
    pub subs: usize,
    /// Subscribed tracks (2 per subscriber: audio + video).
    pub tracks: usize,
    pub window_s: f64,
    pub setup_s: f64,
    /// Relay CPU over the window, % of one core, all threads.
    pub relay_cpu_pct: Option<f64>,
    /// RTP packets delivered to all subscribers per second.
    pub pkts_per_s: f64,
    /// UDP payload delivered to all subscribers.
    pub mbit_per_s: f64,
    /// Relay CPU µs per delivered packet.
    pub us_per_pkt: Option<f64>,
    /// One-way latency of complete video frames (send → last packet), ms.
    pub lat_p50_ms: Option<f64>,
    pub lat_p99_ms: Option<f64>,
    pub audio_lat_p50_ms: Option<f64>,
    pub audio_lat_p99_ms: Option<f64>,
    /// Complete frames received / frames sent in the window, worst subscriber.
    pub delivery_min: f64,
    pub delivery_mean: f64,
    pub frames_sent: usize,
    pub rss_base_kib: Option<u64>,
    pub rss_kib: Option<u64>,
    pub rss_per_track_kib: Option<f64>,
    pub loadgen_cpu_pct: f64,
    pub other_cpu_pct: Option<f64>,
    pub loadavg_before: [f64; 3],
    pub loadavg: [f64; 3],
    pub warnings: Vec<String>,
}

fn o(v: Option<f64>, prec: usize) -> String {
    v.map(|x| format!("{x:.prec$}"))
        .unwrap_or_else(|| "-".into())
}

impl Point {
    pub fn human(&self) -> String {
        let mut s = format!(
            "{} N={}: relay {}% CPU, {:.0} pkt/s, {:.1} Mbit/s, {} µs/pkt, latency p50 {} ms p99 {} ms, delivery min {:.3} mean {:.3}, RSS {} KiB ({} KiB/track), loadgen {:.0}%, other {}%, loadavg {:.2}",
            self.label,
            self.subs,
            o(self.relay_cpu_pct, 1),
            self.pkts_per_s,
            self.mbit_per_s,
            o(self.us_per_pkt, 2),
            o(self.lat_p50_ms, 2),
            o(self.lat_p99_ms, 2),
            self.delivery_min,
            self.delivery_mean,
            self.rss_kib.map(|x| x.to_string()).unwrap_or_else(|| "-".into()),
            o(self.rss_per_track_kib, 1),
            self.loadgen_cpu_pct,
            o(self.other_cpu_pct, 0),
            self.loadavg[0],
        );
        for w in &self.warnings {
            let _ = write!(s, "\n  WARNING: {w}");
        }
        s
    }
}

pub const CSV_HEADER: &str = "label,subs,tracks,window_s,relay_cpu_pct,pkts_per_s,mbit_per_s,us_per_pkt,lat_p50_ms,lat_p99_ms,audio_lat_p50_ms,audio_lat_p99_ms,delivery_min,delivery_mean,frames_sent,rss_base_kib,rss_kib,rss_per_track_kib,loadgen_cpu_pct,other_cpu_pct,loadavg1,warnings";

pub fn csv_row(p: &Point) -> String {
    let u = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_default();
    let f = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_default();
    format!(
        "{},{},{},{:.2},{},{:.0},{:.2},{},{},{},{},{},{:.4},{:.4},{},{},{},{},{:.1},{},{:.2},\"{}\"",
        p.label,
        p.subs,
        p.tracks,
        p.window_s,
        f(p.relay_cpu_pct),
        p.pkts_per_s,
        p.mbit_per_s,
        f(p.us_per_pkt),
        f(p.lat_p50_ms),
        f(p.lat_p99_ms),
        f(p.audio_lat_p50_ms),
        f(p.audio_lat_p99_ms),
        p.delivery_min,
        p.delivery_mean,
        p.frames_sent,
        u(p.rss_base_kib),
        u(p.rss_kib),
        f(p.rss_per_track_kib),
        p.loadgen_cpu_pct,
        f(p.other_cpu_pct),
        p.loadavg[0],
        p.warnings.join("; ").replace('"', "'"),
    )
}

/// Reads JSON lines of points (other lines are ignored).
pub fn read_points(path: &std::path::Path) -> Result<Vec<Point>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// The side-by-side markdown: one row per N, µs/packet of each system and the ratios.
pub fn markdown(points: &[Point]) -> String {
    let mut by_n: BTreeMap<usize, BTreeMap<String, &Point>> = BTreeMap::new();
    for p in points {
        by_n.entry(p.subs).or_default().insert(p.label.clone(), p);
    }
    let us = |m: &BTreeMap<String, &Point>, l: &str| m.get(l).and_then(|p| p.us_per_pkt);
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => format!("{:.2}×", b / a),
        _ => "-".into(),
    };
    let mut s = String::new();
    s.push_str("### Relay CPU per forwarded packet (µs; lower is better)\n\n");
    s.push_str("| N | pkt/s | Conclave | Janus | ceiling | ceiling+GCM | Janus / Conclave | Conclave / ceiling+GCM |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (n, m) in &by_n {
        let pps = m.values().map(|p| p.pkts_per_s).fold(0.0, f64::max);
        let c = us(m, "conclave");
        let j = us(m, "janus");
        let g = us(m, "ceiling-gcm");
        let _ = writeln!(
            s,
            "| {n} | {pps:.0} | {} | {} | {} | {} | {} | {} |",
            o(c, 2),
            o(j, 2),
            o(us(m, "ceiling"), 2),
            o(g, 2),
            ratio(c, j),
            match (g, c) {
                (Some(g), Some(c)) if g > 0.0 => format!("{:.2}×", c / g),
                _ => "-".into(),
            }
        );
    }
    s.push_str("\n### Every point\n\n");
    s.push_str("| system | N | relay CPU % | pkt/s | Mbit/s | µs/pkt | p50 ms | p99 ms | delivery min / mean | RSS MiB | KiB/track | loadgen % | other % | loadavg |\n|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|\n");
    for (n, m) in &by_n {
        for p in m.values() {
            let _ = writeln!(
                s,
                "| {} | {n} | {} | {:.0} | {:.1} | {} | {} | {} | {:.3} / {:.3} | {} | {} | {:.0} | {} | {:.2} |",
                p.label,
                o(p.relay_cpu_pct, 1),
                p.pkts_per_s,
                p.mbit_per_s,
                o(p.us_per_pkt, 2),
                o(p.lat_p50_ms, 2),
                o(p.lat_p99_ms, 2),
                p.delivery_min,
                p.delivery_mean,
                p.rss_kib.map(|k| format!("{:.1}", k as f64 / 1024.0)).unwrap_or_else(|| "-".into()),
                o(p.rss_per_track_kib, 1),
                p.loadgen_cpu_pct,
                o(p.other_cpu_pct, 0),
                p.loadavg[0],
            );
        }
    }
    let warns: Vec<String> = points
        .iter()
        .flat_map(|p| {
            p.warnings
                .iter()
                .map(move |w| format!("- {} N={}: {w}", p.label, p.subs))
        })
        .collect();
    if !warns.is_empty() {
        s.push_str("\n### Warnings\n\n");
        s.push_str(&warns.join("\n"));
        s.push('\n');
    }
    s
}
