//! One benchmark point: bring up the publisher and N subscribers, warm up,
//! measure for a window, and reduce what the subscribers saw to a [`Point`].

use crate::conclave::Conclave;
use crate::engine::{self, Handle, Role};
use crate::janus::Janus;
use crate::procstat;
use crate::report::Point;
use crate::shape::Shape;
use anyhow::{anyhow, bail, Result};
use conclave_e2ee::founder::FounderToken;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The system under test.
pub enum Target {
    Conclave(Conclave),
    Janus(Arc<Janus>),
    /// The ceiling forwarder at this address; `gcm` when it seals each copy.
    Udp {
        addr: SocketAddr,
        gcm: bool,
    },
}

pub struct Plan {
    pub label: String,
    pub subs: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub bind: IpAddr,
    pub relay_pid: Option<u32>,
    pub join_parallel: usize,
}

pub fn run(target: Target, plan: &Plan, shape: Shape) -> Result<Point> {
    let load_before = procstat::loadavg();
    let (eng, media_thread) = engine::spawn(shape.clone())?;
    let t0 = Instant::now();
    publish(&target, &eng, plan.bind)?;
    wait(
        &eng,
        Duration::from_secs(15),
        "the publisher to connect and send",
        |s| s.publisher_connected && s.frames_sent > 0,
    )?;
    std::thread::sleep(Duration::from_millis(500));
    let rss_base = plan.relay_pid.and_then(procstat::rss_kib);

    let mut failed = 0usize;
    let mut next = 0usize;
    while next < plan.subs {
        let batch: Vec<usize> = (next..plan.subs.min(next + plan.join_parallel.max(1))).collect();
        next += batch.len();
        let errs: Vec<String> = std::thread::scope(|sc| {
            let hs: Vec<_> = batch
                .iter()
                .map(|&i| {
                    let (t, e) = (&target, &eng);
                    sc.spawn(move || subscribe(t, e, plan.bind, i))
                })
                .collect();
            hs.into_iter()
                .filter_map(|h| match h.join() {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(format!("{e:#}")),
                    Err(_) => Some("subscriber thread panicked".into()),
                })
                .collect()
        });
        for e in errs {
            eprintln!("subscriber failed: {e}");
            failed += 1;
        }
    }
    let need = plan.subs - failed;
    let up = wait(
        &eng,
        Duration::from_secs(20) + Duration::from_millis(100 * plan.subs as u64),
        "every subscriber to receive frames",
        |s| s.subs.iter().filter(|(_, f)| *f > 0).count() >= need,
    );
    if let Err(e) = &up {
        eprintln!("warning: {e:#}");
    }
    let setup_s = t0.elapsed().as_secs_f64();
    std::thread::sleep(plan.warmup);

    let m0 = eng.mark()?;
    let cpu0 = plan.relay_pid.and_then(procstat::cpu_seconds);
    let me0 = procstat::cpu_seconds(std::process::id());
    let busy0 = procstat::machine_busy_seconds();
    std::thread::sleep(plan.duration);
    let m1 = eng.mark()?;
    let cpu1 = plan.relay_pid.and_then(procstat::cpu_seconds);
    let me1 = procstat::cpu_seconds(std::process::id());
    let busy1 = procstat::machine_busy_seconds();
    let rss_end = plan.relay_pid.and_then(procstat::rss_kib);
    let load_after = procstat::loadavg();
    // Let frames sent at the end of the window arrive.
    std::thread::sleep(Duration::from_millis(500));
    let seen = eng.finish()?;
    let _ = media_thread.join();

    let dt = m1.at.duration_since(m0.at).as_secs_f64();
    let (f0, f1) = (m0.next_frame, m1.next_frame);
    let sent = (f1 - f0) as usize;
    let (a0, a1) = (m0.next_audio, m1.next_audio);
    let mut ratios = Vec::new();
    let mut lat: Vec<u32> = Vec::new();
    let mut alat: Vec<u32> = Vec::new();
    for s in &seen.subs {
        let mut got = vec![false; sent];
        for &(n, l) in &s.frames {
            if n >= f0 && n < f1 && !got[(n - f0) as usize] {
                got[(n - f0) as usize] = true;
                lat.push(l);
            }
        }
        ratios.push(got.iter().filter(|g| **g).count() as f64 / sent.max(1) as f64);
        alat.extend(
            s.audio
                .iter()
                .filter(|(n, _)| *n >= a0 && *n < a1)
                .map(|(_, l)| *l),
        );
    }
    // Failed subscribers count as receiving nothing.
    ratios.resize(plan.subs, 0.0);
    lat.sort_unstable();
    alat.sort_unstable();
    let pkts = (m1.rtp_pkts - m0.rtp_pkts) as f64;
    let relay_cpu = match (cpu0, cpu1) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let me = match (me0, me1) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    let other = match (busy0, busy1) {
        (Some(a), Some(b)) => Some(((b - a) - me - relay_cpu.unwrap_or(0.0)).max(0.0) / dt * 100.0),
        _ => None,
    };
    let tracks = 2 * plan.subs;
    let mut warnings = Vec::new();
    if load_after[0] > 1.5 {
        warnings.push(format!(
            "loadavg {:.2} > 1.5: figures are noisy",
            load_after[0]
        ));
    }
    if let Some(o) = other {
        if o > 15.0 {
            warnings.push(format!(
                "other processes used {o:.0}% of a core during the window"
            ));
        }
    }
    if me / dt > 0.9 {
        warnings.push(format!(
            "load generator at {:.0}% of a core: it may be the bottleneck",
            me / dt * 100.0
        ));
    }
    if failed > 0 {
        warnings.push(format!("{failed} subscribers failed to join"));
    }
    if m1.key_requests > m0.key_requests {
        warnings.push(format!(
            "{} key-frame requests during the window (not honoured)",
            m1.key_requests - m0.key_requests
        ));
    }
    let pct = |v: &Vec<u32>, q: f64| -> Option<f64> {
        if v.is_empty() {
            return None;
        }
        let i = ((v.len() - 1) as f64 * q).round() as usize;
        Some(v[i] as f64 / 1000.0)
    };
    Ok(Point {
        label: plan.label.clone(),
        subs: plan.subs,
        tracks,
        window_s: dt,
        setup_s,
        relay_cpu_pct: relay_cpu.map(|c| c / dt * 100.0),
        pkts_per_s: pkts / dt,
        mbit_per_s: (m1.udp_bytes - m0.udp_bytes) as f64 * 8.0 / dt / 1e6,
        us_per_pkt: relay_cpu.filter(|_| pkts > 0.0).map(|c| c * 1e6 / pkts),
        lat_p50_ms: pct(&lat, 0.5),
        lat_p99_ms: pct(&lat, 0.99),
        audio_lat_p50_ms: pct(&alat, 0.5),
        audio_lat_p99_ms: pct(&alat, 0.99),
        delivery_min: ratios
            .iter()
            .cloned()
            .fold(f64::INFINITY, f64::min)
            .min(1.0),
        delivery_mean: ratios.iter().sum::<f64>() / ratios.len().max(1) as f64,
        frames_sent: sent,
        rss_base_kib: rss_base,
        rss_kib: rss_end,
        rss_per_track_kib: match (rss_base, rss_end) {
            (Some(a), Some(b)) if tracks > 0 => Some((b as f64 - a as f64) / tracks as f64),
            _ => None,
        },
        loadgen_cpu_pct: me / dt * 100.0,
        other_cpu_pct: other,
        loadavg_before: load_before,
        loadavg: load_after,
        warnings,
    })
}

fn wait(
    eng: &Handle,
    limit: Duration,
    what: &str,
    ok: impl Fn(&engine::Status) -> bool,
) -> Result<()> {
    let t = Instant::now();
    loop {
        let s = eng.status()?;
        if ok(&s) {
            return Ok(());
        }
        if t.elapsed() > limit {
            let up = s.subs.iter().filter(|(_, f)| *f > 0).count();
            bail!("timed out after {:?} waiting for {what} (publisher connected: {}, frames sent: {}, subscribers receiving: {up}/{})", limit, s.publisher_connected, s.frames_sent, s.subs.len());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn publish(target: &Target, eng: &Handle, bind: IpAddr) -> Result<()> {
    match target {
        Target::Conclave(c) => c.publish(eng, bind),
        Target::Janus(j) => j.publish(eng, bind),
        Target::Udp { addr, .. } => {
            let sock = UdpSocket::bind(SocketAddr::new(bind, 0))?;
            engine::set_bufs(&sock, 4 << 20);
            eng.add_raw(sock, Role::RawPublisher { dest: *addr })
                .map(|_| ())
        }
    }
}

fn subscribe(target: &Target, eng: &Handle, bind: IpAddr, i: usize) -> Result<()> {
    match target {
        Target::Conclave(c) => c.subscribe(eng, bind, i),
        Target::Janus(j) => j.subscribe(eng, bind, i),
        Target::Udp { addr, gcm } => {
            let sock = UdpSocket::bind(SocketAddr::new(bind, 0))?;
            engine::set_bufs(&sock, 1 << 20);
            let port = sock.local_addr()?.port();
            // Register with the ceiling: it forwards to every address that said hello.
            for _ in 0..3 {
                sock.send_to(b"HELO", addr)?;
            }
            let key = gcm.then(|| crate::gcm_key(port));
            eng.add_raw(sock, Role::RawSink { key }).map(|_| ())
        }
    }
}

/// Parses the `--url` of a target.
pub fn target(kind: &str, url: &str, founder: FounderToken, janus_room: u64) -> Result<Target> {
    Ok(match kind {
        "conclave" => Target::Conclave(Conclave::new(url, founder)?),
        "janus" => Target::Janus(Janus::new(url, janus_room)?),
        "udp" | "udp-gcm" => {
            let a = url
                .strip_prefix("udp://")
                .unwrap_or(url)
                .trim_end_matches('/');
            Target::Udp {
                addr: a.parse().map_err(|e| anyhow!("udp address {a}: {e}"))?,
                gcm: kind == "udp-gcm",
            }
        }
        other => bail!("unknown target {other}; use conclave, janus, udp or udp-gcm"),
    })
}
