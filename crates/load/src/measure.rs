//! One benchmark point: bring up the peers of the scenario (a publisher and
//! N subscribers, or N meeting participants), warm up, measure for a window,
//! and reduce what the receivers saw to a [`Point`].

use crate::conclave::Conclave;
use crate::engine::{self, Handle, Role};
use crate::janus::Janus;
use crate::procstat;
use crate::report::Point;
use crate::scenario::{width_for, Scenario};
use crate::shape::{simulcast_layers, Layer, Shape};
use crate::tally::{self, Window};
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

/// What one point runs.
pub struct Plan {
    pub label: String,
    pub scenario: Scenario,
    /// Subscribers (fanout, webinar) or participants (meeting).
    pub subs: usize,
    /// Simulcast layers per published video (meeting, webinar).
    pub layers: usize,
    /// Widths the receivers ask for, cycled over them (0: no limit).
    pub widths: Vec<u16>,
    pub warmup: Duration,
    pub duration: Duration,
    pub bind: IpAddr,
    pub relay_pid: Option<u32>,
    pub join_parallel: usize,
}

/// Runs one point of `plan` against `target`.
pub fn run(target: Target, plan: &Plan, shape: Shape) -> Result<Point> {
    let simulcast = plan.scenario != Scenario::Fanout;
    let conclave = match &target {
        Target::Conclave(c) => Some(c),
        _ => None,
    };
    if simulcast && conclave.is_none() {
        bail!(
            "the {} scenario runs against Conclave only (--target conclave): the ceiling \
             forwards one publisher, and Janus is not driven with simulcast (docs/benchmarks.md)",
            plan.scenario.name()
        );
    }
    if plan.scenario == Scenario::Meeting && plan.subs < 2 {
        bail!("a meeting needs at least 2 participants (--participants)");
    }
    let layers: Vec<Layer> = if simulcast {
        simulcast_layers(plan.layers, shape.video_bps)
    } else {
        Vec::new()
    };
    let load_before = procstat::loadavg();
    let (eng, media_thread) = engine::spawn(shape.clone())?;
    let t0 = Instant::now();
    let (rss_base, failed) = match (plan.scenario, conclave) {
        (Scenario::Meeting, Some(c)) => {
            let rss_base = plan.relay_pid.and_then(procstat::rss_kib);
            let failed = join_all(plan, "participant", |i| {
                let width = width_for(&plan.widths, i);
                c.participate(&eng, plan.bind, i, layers.clone(), width)
            });
            (rss_base, failed)
        }
        _ => {
            match conclave.filter(|_| simulcast) {
                Some(c) => c.publish_simulcast(&eng, plan.bind, layers.clone())?,
                None => publish(&target, &eng, plan.bind)?,
            }
            wait(
                &eng,
                Duration::from_secs(15),
                "the publisher to connect and send",
                |s| s.publisher_connected && s.frames_sent > 0,
            )?;
            std::thread::sleep(Duration::from_millis(500));
            let rss_base = plan.relay_pid.and_then(procstat::rss_kib);
            let failed = join_all(plan, "subscriber", |i| {
                subscribe(&target, &eng, plan.bind, i, width_for(&plan.widths, i))
            });
            (rss_base, failed)
        }
    };
    let need = plan.subs - failed;
    let sources = plan.scenario.sources_per_receiver(need);
    let up = wait(
        &eng,
        Duration::from_secs(20) + Duration::from_millis(100 * plan.subs as u64),
        "every receiver to get frames from every publisher",
        |s| s.subs.iter().filter(|r| r.sources >= sources).count() >= need,
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
    let drops0 = procstat::udp_drops();
    std::thread::sleep(plan.duration);
    let m1 = eng.mark()?;
    let cpu1 = plan.relay_pid.and_then(procstat::cpu_seconds);
    let me1 = procstat::cpu_seconds(std::process::id());
    let busy1 = procstat::machine_busy_seconds();
    let drops1 = procstat::udp_drops();
    let rss_end = plan.relay_pid.and_then(procstat::rss_kib);
    let load_after = procstat::loadavg();
    // Let frames sent at the end of the window arrive.
    std::thread::sleep(Duration::from_millis(500));
    let seen = eng.finish()?;
    let _ = media_thread.join();

    let dt = m1.at.duration_since(m0.at).as_secs_f64();
    let window = Window {
        first: m0.next_frame,
        end: m1.next_frame,
        sources: m0.publishing.clone(),
    };
    let (a0, a1) = (m0.next_audio, m1.next_audio);
    let mut ratios = Vec::new();
    let mut lat: Vec<u32> = Vec::new();
    let mut alat: Vec<u32> = Vec::new();
    let mut tallies = Vec::new();
    for s in &seen.subs {
        let t = tally::receiver(&s.frames, s.me, &window);
        ratios.push(t.delivery);
        lat.extend_from_slice(&t.lat_us);
        tallies.push(t);
        alat.extend(
            s.audio
                .iter()
                .filter(|g| g.number >= a0 && g.number < a1 && g.source != s.me)
                .map(|g| g.lat_us),
        );
    }
    let on_layer = if simulcast {
        tally::on_layers(&tallies, layers.len())
    } else {
        Vec::new()
    };
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
    let tracks = plan.scenario.tracks(plan.subs);
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
    let udp_drops = match (drops0, drops1) {
        (Some(a), Some(b)) => Some((b.0.saturating_sub(a.0), b.1.saturating_sub(a.1))),
        _ => None,
    };
    if let Some((ours, others)) = udp_drops.filter(|d| d.0 + d.1 > 0) {
        warnings.push(format!(
            "datagrams dropped at full UDP receive buffers in the window: {ours} at the load generator's sockets, {others} at others' (the relay's)"
        ));
    }
    if failed > 0 {
        warnings.push(format!("{failed} receivers failed to join"));
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
        scenario: plan.scenario.name().to_string(),
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
        frames_sent: window.frames(),
        layer_widths: layers.iter().map(|l| l.width).collect(),
        udp_drops_loadgen: udp_drops.map(|d| d.0),
        udp_drops_others: udp_drops.map(|d| d.1),
        on_layer,
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
            let up = s.subs.iter().filter(|r| r.frames > 0).count();
            bail!("timed out after {:?} waiting for {what} (publishers connected: {}, frames sent: {}, receivers getting frames: {up}/{}); is the relay overloaded or refusing joins? see its log", limit, s.publisher_connected, s.frames_sent, s.subs.len());
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

/// Joins `plan.subs` peers with `join`, `plan.join_parallel` at a time;
/// returns how many failed (each reported).
fn join_all(plan: &Plan, what: &str, join: impl Fn(usize) -> Result<()> + Sync) -> usize {
    let mut failed = 0usize;
    let mut next = 0usize;
    while next < plan.subs {
        let batch: Vec<usize> = (next..plan.subs.min(next + plan.join_parallel.max(1))).collect();
        next += batch.len();
        let errs: Vec<String> = std::thread::scope(|sc| {
            let hs: Vec<_> = batch
                .iter()
                .map(|&i| {
                    let join = &join;
                    sc.spawn(move || join(i))
                })
                .collect();
            hs.into_iter()
                .filter_map(|h| match h.join() {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(format!("{e:#}")),
                    Err(_) => Some(format!("{what} thread panicked")),
                })
                .collect()
        });
        for e in errs {
            eprintln!("{what} failed: {e}");
            failed += 1;
        }
    }
    failed
}

fn subscribe(
    target: &Target,
    eng: &Handle,
    bind: IpAddr,
    i: usize,
    width: Option<u16>,
) -> Result<()> {
    match target {
        Target::Conclave(c) => c.subscribe(eng, bind, i, width),
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
