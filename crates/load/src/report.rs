//! Results: one [`Point`] per (scenario, system, N), printed as a human line
//! and a JSON line, collected as JSON lines by bench/run.sh and turned into
//! markdown tables (one per scenario, systems side by side per N, with
//! ratios) plus a CSV by `conclave-load report`.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One measured point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    /// conclave, janus, ceiling, ceiling-gcm …
    pub label: String,
    /// fanout, meeting or webinar (`crate::scenario`); results from before
    /// scenarios existed are fan-out.
    #[serde(default = "fanout")]
    pub scenario: String,
    /// Subscribers (fanout, webinar) or participants (meeting).
    pub subs: usize,
    /// Subscribed tracks (audio + video of each subscription).
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
    /// Width of each simulcast layer published, lowest first (empty: no simulcast).
    #[serde(default)]
    pub layer_widths: Vec<u16>,
    /// Video subscriptions on each of those layers over the window (the
    /// layer most of its frames came on).
    #[serde(default)]
    pub on_layer: Vec<usize>,
    /// Datagrams dropped at full UDP receive buffers in the window: at the
    /// load generator's sockets, and at everyone else's (the relay's) in its
    /// network namespace.
    #[serde(default)]
    pub udp_drops_loadgen: Option<u64>,
    #[serde(default)]
    pub udp_drops_others: Option<u64>,
    pub rss_base_kib: Option<u64>,
    pub rss_kib: Option<u64>,
    pub rss_per_track_kib: Option<f64>,
    pub loadgen_cpu_pct: f64,
    pub other_cpu_pct: Option<f64>,
    pub loadavg_before: [f64; 3],
    pub loadavg: [f64; 3],
    pub warnings: Vec<String>,
}

fn fanout() -> String {
    "fanout".into()
}

fn o(v: Option<f64>, prec: usize) -> String {
    v.map(|x| format!("{x:.prec$}"))
        .unwrap_or_else(|| "-".into())
}

impl Point {
    /// "on layers 320:3 640:3 1280:4" (empty without simulcast).
    pub fn layers_text(&self) -> String {
        self.layer_widths
            .iter()
            .zip(&self.on_layer)
            .map(|(w, n)| format!("{w}:{n}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The point in one line (and its warnings below it).
    pub fn human(&self) -> String {
        let scenario = if self.scenario == "fanout" {
            String::new()
        } else {
            format!("{} ", self.scenario)
        };
        let mut s = format!(
            "{}{} N={}: relay {}% CPU, {:.0} pkt/s, {:.1} Mbit/s, {} µs/pkt, latency p50 {} ms p99 {} ms, delivery min {:.3} mean {:.3}, RSS {} KiB ({} KiB/track), loadgen {:.0}%, other {}%, loadavg {:.2}",
            scenario,
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
        if !self.layer_widths.is_empty() {
            let _ = write!(s, ", subscriptions per layer width {}", self.layers_text());
        }
        for w in &self.warnings {
            let _ = write!(s, "\n  WARNING: {w}");
        }
        s
    }
}

/// The CSV's first line.
pub const CSV_HEADER: &str = "scenario,label,subs,tracks,window_s,relay_cpu_pct,pkts_per_s,mbit_per_s,us_per_pkt,lat_p50_ms,lat_p99_ms,audio_lat_p50_ms,audio_lat_p99_ms,delivery_min,delivery_mean,frames_sent,rss_base_kib,rss_kib,rss_per_track_kib,loadgen_cpu_pct,other_cpu_pct,loadavg1,on_layer,warnings";

/// One point as a CSV line.
pub fn csv_row(p: &Point) -> String {
    let u = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_default();
    let f = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_default();
    format!(
        "{},{},{},{},{:.2},{},{:.0},{:.2},{},{},{},{},{},{:.4},{:.4},{},{},{},{},{:.1},{},{:.2},{},\"{}\"",
        p.scenario,
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
        p.layers_text(),
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

/// The side-by-side markdown: for the fan-out, one row per N with
/// µs/packet of each system and the ratios; for every other scenario, one
/// row per (N, system) with its cost against Conclave's; then every point.
pub fn markdown(points: &[Point]) -> String {
    let mut s = String::new();
    let fanout: Vec<&Point> = points.iter().filter(|p| p.scenario == "fanout").collect();
    if !fanout.is_empty() {
        s.push_str(&fanout_table(&fanout));
    }
    let mut scenarios: Vec<&str> = Vec::new();
    for p in points {
        if p.scenario != "fanout" && !scenarios.contains(&p.scenario.as_str()) {
            scenarios.push(&p.scenario);
        }
    }
    for sc in scenarios {
        let pts: Vec<&Point> = points.iter().filter(|p| p.scenario == sc).collect();
        if !s.is_empty() {
            s.push('\n');
        }
        s.push_str(&scenario_table(sc, &pts));
    }
    let mut by_n: BTreeMap<(String, usize), BTreeMap<String, &Point>> = BTreeMap::new();
    for p in points {
        by_n.entry((p.scenario.clone(), p.subs))
            .or_default()
            .insert(p.label.clone(), p);
    }
    s.push_str("\n### Every point\n\n");
    s.push_str("| scenario | system | N | relay CPU % | pkt/s | Mbit/s | µs/pkt | p50 ms | p99 ms | delivery min / mean | RSS MiB | KiB/track | loadgen % | other % | loadavg |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|\n");
    for ((sc, n), m) in &by_n {
        for p in m.values() {
            let _ = writeln!(
                s,
                "| {sc} | {} | {n} | {} | {:.0} | {:.1} | {} | {} | {} | {:.3} / {:.3} | {} | {} | {:.0} | {} | {:.2} |",
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
                .map(move |w| format!("- {} {} N={}: {w}", p.scenario, p.label, p.subs))
        })
        .collect();
    if !warns.is_empty() {
        s.push_str("\n### Warnings\n\n");
        s.push_str(&warns.join("\n"));
        s.push('\n');
    }
    s
}

/// The fan-out's headline: one row per N, each system's µs/packet and the ratios.
fn fanout_table(points: &[&Point]) -> String {
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
            ratio(g, c),
        );
    }
    s
}

/// A simulcast scenario's table: per N, every system's cost, its ratio to
/// Conclave's (`conclave`) in the same sweep, delivery, memory, and how many
/// video subscriptions were on each layer.
fn scenario_table(scenario: &str, points: &[&Point]) -> String {
    let mut by_n: BTreeMap<usize, Vec<&Point>> = BTreeMap::new();
    for p in points {
        by_n.entry(p.subs).or_default().push(p);
    }
    let what = match scenario {
        "meeting" => "N participants, each publishing simulcast and receiving all others",
        "webinar" => "1 simulcast publisher, N viewers on mixed layers",
        _ => "",
    };
    let mut s = format!(
        "### Scenario {scenario}: {what} (µs relay CPU per forwarded packet; lower is better)\n\n"
    );
    s.push_str("| N | system | relay CPU % | pkt/s | µs/pkt | × conclave | delivery min / mean | RSS MiB | KiB/track | subscriptions per layer width |\n|---:|---|---:|---:|---:|---:|---|---:|---:|---|\n");
    for (n, pts) in &by_n {
        let base = pts
            .iter()
            .find(|p| p.label == "conclave")
            .and_then(|p| p.us_per_pkt);
        for p in pts {
            let ratio = match (base, p.us_per_pkt) {
                (Some(b), Some(u)) if b > 0.0 => format!("{:.2}×", u / b),
                _ => "-".into(),
            };
            let _ = writeln!(
                s,
                "| {n} | {} | {} | {:.0} | {} | {ratio} | {:.3} / {:.3} | {} | {} | {} |",
                p.label,
                o(p.relay_cpu_pct, 1),
                p.pkts_per_s,
                o(p.us_per_pkt, 2),
                p.delivery_min,
                p.delivery_mean,
                p.rss_kib
                    .map(|k| format!("{:.1}", k as f64 / 1024.0))
                    .unwrap_or_else(|| "-".into()),
                o(p.rss_per_track_kib, 1),
                p.layers_text(),
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(scenario: &str, label: &str, subs: usize, us: f64) -> Point {
        let json = format!(
            r#"{{"label":"{label}","subs":{subs},"tracks":0,"window_s":8,"setup_s":1,
            "relay_cpu_pct":10,"pkts_per_s":1000,"mbit_per_s":1,"us_per_pkt":{us},
            "lat_p50_ms":null,"lat_p99_ms":null,"audio_lat_p50_ms":null,"audio_lat_p99_ms":null,
            "delivery_min":1,"delivery_mean":1,"frames_sent":240,"rss_base_kib":null,
            "rss_kib":null,"rss_per_track_kib":null,"loadgen_cpu_pct":5,"other_cpu_pct":null,
            "loadavg_before":[0,0,0],"loadavg":[0,0,0],"warnings":[]}}"#
        );
        let mut p: Point = serde_json::from_str(&json).expect("an old-format point");
        p.scenario = scenario.into();
        p
    }

    #[test]
    fn old_results_read_as_fanout() {
        let p = point("fanout", "conclave", 10, 5.0);
        assert_eq!(p.scenario, "fanout");
        assert!(p.layer_widths.is_empty());
    }

    #[test]
    fn scenarios_are_compared_apart() {
        let mut m = point("meeting", "conclave-nocc", 10, 6.0);
        m.layer_widths = vec![320, 640, 1280];
        m.on_layer = vec![0, 90, 0];
        let pts = vec![
            point("fanout", "conclave", 10, 5.0),
            point("fanout", "janus", 10, 20.0),
            point("meeting", "conclave", 10, 4.0),
            m,
        ];
        let md = markdown(&pts);
        assert!(
            md.contains("| 10 | 1000 | 5.00 | 20.00 | - | - | 4.00× | - |"),
            "{md}"
        );
        assert!(md.contains("### Scenario meeting"), "{md}");
        assert!(
            md.contains("| 10 | conclave-nocc | 10.0 | 1000 | 6.00 | 1.50× |"),
            "{md}"
        );
        assert!(md.contains("320:0 640:90 1280:0"), "{md}");
        assert!(md.contains("| meeting | conclave | 10 |"), "{md}");
    }
}
