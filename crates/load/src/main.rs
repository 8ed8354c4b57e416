//! `conclave-load`: the benchmark load generator (see docs/benchmarks.md).
//!
//! ```text
//! conclave-load run --target conclave --url https://127.0.0.1:PORT/ --relay-pid PID --subs 10
//! conclave-load run --target janus --url http://127.0.1.1:8088/janus --relay-pid PID --subs 10
//! conclave-load run --target udp-gcm --url udp://127.0.1.1:PORT --relay-pid PID --subs 10
//! conclave-load run --scenario meeting --participants 10 --target conclave --url https://127.0.0.1:PORT/
//! conclave-load run --scenario webinar --subs 50 --layers 3 --target conclave --url https://127.0.0.1:PORT/
//! conclave-load report --jsonl results.jsonl --md results.md --csv results.csv
//! ```

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use conclave_e2ee::founder::FounderToken;
use conclave_load::measure::{self, Plan};
use conclave_load::report;
use conclave_load::scenario::{self, Scenario};
use conclave_load::shape::Shape;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    version,
    about = "Load generator for benchmarking Conclave's relay against Janus and a ceiling forwarder"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs one point of a scenario (default: 1 publisher, N subscribers),
    /// one measurement window.
    Run(Box<RunArgs>),
    /// Turns collected JSON lines into a markdown table (with ratios) and a CSV.
    Report {
        #[arg(long)]
        jsonl: PathBuf,
        #[arg(long)]
        md: Option<PathBuf>,
        #[arg(long)]
        csv: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// conclave | janus | udp (ceiling) | udp-gcm (ceiling sealing each copy)
    #[arg(long)]
    target: String,
    /// https://HOST:PORT/ (conclave), http://HOST:PORT/janus (janus), udp://HOST:PORT (ceiling)
    #[arg(long)]
    url: String,
    /// Process to measure (CPU, RSS): the relay, Janus or the ceiling.
    #[arg(long)]
    relay_pid: Option<u32>,
    /// fanout: 1 publisher, N subscribers; meeting: N participants, each
    /// publishing simulcast and receiving all others; webinar: 1 simulcast
    /// publisher, N viewers on mixed layers (see docs/benchmarks.md).
    #[arg(long, value_enum, default_value_t = Scenario::Fanout)]
    scenario: Scenario,
    /// Subscribers (fanout, webinar); participants of a meeting unless
    /// --participants says.
    #[arg(long, default_value_t = 10)]
    subs: usize,
    /// Participants of a meeting (default: --subs).
    #[arg(long)]
    participants: Option<usize>,
    /// Simulcast layers of each published video, 1-3 (meeting, webinar):
    /// 3 = 320, 640 and 1280 wide at 150 k, 500 k and --video-bps.
    #[arg(long, default_value_t = 3)]
    layers: usize,
    /// Widths the receivers ask the relay for (`video_width`), comma-separated,
    /// cycled over receivers; 0 = no limit. Default: 640 (meeting: a grid
    /// tile), 320,640,0 (webinar), none (fanout).
    #[arg(long)]
    widths: Option<String>,
    /// Measurement window, seconds.
    #[arg(long, default_value_t = 12.0)]
    duration: f64,
    /// Seconds between everyone receiving and the window.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Local address for every peer socket (127.0.1.1 inside the bench namespace).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Conclave founder token (43 base64url characters) of the room to load:
    /// every join shows it, and the room is the one it opens (default: a
    /// random token, so a fresh room).
    #[arg(long)]
    founder_token: Option<String>,
    /// Janus VideoRoom room number (as configured by bench/run.sh).
    #[arg(long, default_value_t = 1234)]
    janus_room: u64,
    /// Name of this system in the results (default: the target).
    #[arg(long)]
    label: Option<String>,
    /// Append the result as one JSON line to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Exit non-zero if any subscriber received fewer than this fraction of frames.
    #[arg(long)]
    min_delivery: Option<f64>,
    /// Subscribers joining at once.
    #[arg(long, default_value_t = 10)]
    join_parallel: usize,
    /// Video bitrate of the publisher, bit/s.
    #[arg(long, default_value_t = 1_500_000)]
    video_bps: u64,
    /// Pace the publisher like a browser: send its RTP at FACTOR × the video
    /// bitrate (Chrome's pacer uses 2.5) instead of each frame at once.
    #[arg(long, value_name = "FACTOR")]
    pace: Option<f64>,
}

fn main() -> Result<()> {
    str0m::crypto::from_feature_flags().install_process_default();
    match Cli::parse().cmd {
        Cmd::Run(a) => run(*a),
        Cmd::Report { jsonl, md, csv } => {
            let points = report::read_points(&jsonl)?;
            if let Some(md) = md {
                std::fs::write(&md, report::markdown(&points))
                    .with_context(|| format!("write {}", md.display()))?;
            }
            if let Some(csv) = csv {
                let mut text = String::from(report::CSV_HEADER);
                text.push('\n');
                for p in &points {
                    text.push_str(&report::csv_row(p));
                    text.push('\n');
                }
                std::fs::write(&csv, text).with_context(|| format!("write {}", csv.display()))?;
            }
            print!("{}", report::markdown(&points));
            Ok(())
        }
    }
}

fn run(a: RunArgs) -> Result<()> {
    let founder = match &a.founder_token {
        Some(t) => FounderToken::parse(t).context("--founder-token")?,
        None => FounderToken::from_bytes(rand::random()),
    };
    let target = measure::target(&a.target, &a.url, founder, a.janus_room)?;
    if !(1..=3).contains(&a.layers) {
        bail!("--layers must be 1, 2 or 3 (the web client's q, h and f)");
    }
    if a.scenario != Scenario::Fanout && a.pace.is_some() {
        bail!("--pace paces the fan-out publisher only; leave it out with --scenario meeting or webinar");
    }
    let widths = match &a.widths {
        Some(w) => scenario::parse_widths(w)?,
        None => a.scenario.default_widths(),
    };
    let subs = match a.scenario {
        Scenario::Meeting => a.participants.unwrap_or(a.subs),
        _ => a.subs,
    };
    let plan = Plan {
        label: a.label.clone().unwrap_or_else(|| a.target.clone()),
        scenario: a.scenario,
        subs,
        layers: a.layers,
        widths,
        warmup: Duration::from_secs_f64(a.warmup),
        duration: Duration::from_secs_f64(a.duration),
        bind: a.bind,
        relay_pid: a.relay_pid,
        join_parallel: a.join_parallel,
    };
    if a.pace.is_some_and(|f| !(f.is_finite() && f >= 1.0)) {
        bail!("--pace must be a factor of at least 1 (Chrome paces at 2.5)");
    }
    let shape = Shape {
        video_bps: a.video_bps,
        pace_factor: a.pace,
        ..Shape::default()
    };
    let p = measure::run(target, &plan, shape)?;
    println!("{}", p.human());
    let json = serde_json::to_string(&p)?;
    println!("RESULT {json}");
    if let Some(path) = &a.json_out {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(f, "{json}")?;
    }
    if let Some(min) = a.min_delivery {
        if p.delivery_min < min {
            bail!(
                "a receiver got {:.1}% of the frames it should have, below {:.1}%",
                p.delivery_min * 100.0,
                min * 100.0
            );
        }
    }
    // Signaling threads are still blocked on their sockets; leave without joining them.
    std::process::exit(0);
}
