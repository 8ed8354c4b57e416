//! `conclave-evil-relay`: for tests only. The real relay (`conclave serve`,
//! the same code and flags) with an adversary on its forwarding path that the
//! test steers over a control socket: it drops one member's media, forges,
//! replays or plaintext-injects frames, and sends members their own tracks
//! back (src/attacks.rs). The browser suite tests/browser/suite-media.mjs uses
//! it to show that pages refuse or expose each attack. It is a separate
//! program: `conclave` never contains it.
//!
//! Control: `--control 127.0.0.1:0` (the default) listens on loopback and
//! prints `evil control: 127.0.0.1:PORT`; each line sent there is one JSON
//! command (`{"rule":{"attack":"drop","from":ID,"to":ID,"kind":"video"}}`,
//! `"clear"`, `{"reflect":true}`, `"counts"`) and gets one line back (`ok`,
//! a JSON object of counts, or `error: …`).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::{Parser, Subcommand};
use conclave_proto::ParticipantId;
use conclave_relay::adversary::{Adversary, Outgoing, Verdict};
use conclave_relay::config::{Config, ServeArgs};

mod attacks;

use attacks::{Attacks, Command};

#[derive(Parser)]
#[command(
    name = "conclave-evil-relay",
    about = "Test only: a Conclave relay that tampers with media on command"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the relay (flags as `conclave serve`), lying as the control socket says.
    Serve {
        #[command(flatten)]
        args: ServeArgs,
        /// Where the control socket listens (loopback only).
        #[arg(long, default_value = "127.0.0.1:0")]
        control: SocketAddr,
    },
}

/// The attacks, shared by every media shard and the control socket.
struct Shared(Mutex<Attacks>);

impl Adversary for Shared {
    fn reflect(&self, _publisher: &ParticipantId) -> bool {
        self.0.lock().is_ok_and(|a| a.reflect())
    }

    fn copy(&self, copy: &Outgoing<'_>) -> Verdict {
        match self.0.lock() {
            Ok(mut a) => a.verdict(copy),
            Err(_) => Verdict::Forward,
        }
    }
}

fn main() -> anyhow::Result<()> {
    let Cmd::Serve { args, control } = Cli::parse().command;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,str0m=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    anyhow::ensure!(
        control.ip().is_loopback(),
        "--control must be a loopback address (it takes commands from anyone who reaches it)"
    );
    let config = Config::resolve(&args)?;
    let shared = Arc::new(Shared(Mutex::new(Attacks::default())));
    let listener = TcpListener::bind(control)
        .with_context(|| format!("cannot listen for control commands on {control}"))?;
    println!("  evil control: {}", listener.local_addr()?);
    let attacks = shared.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let attacks = attacks.clone();
            std::thread::spawn(move || serve_control(stream, &attacks));
        }
    });
    tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")?
        .block_on(conclave_relay::serve_lying(config, shared, shutdown()))
}

/// Answers one control connection, line by line.
fn serve_control(stream: TcpStream, shared: &Shared) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Command>(&line) {
            Ok(cmd) => match shared.0.lock() {
                Ok(mut a) => a.command(cmd),
                Err(_) => "error: the attack state is poisoned".into(),
            },
            Err(e) => format!("error: not a command ({e})"),
        };
        if writeln!(out, "{reply}").is_err() {
            return;
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
