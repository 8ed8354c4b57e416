//! `conclave`: the relay server and its tools.

use anyhow::Context;
use clap::{Parser, Subcommand};
use conclave_relay::config::{Config, ServeArgs};

#[derive(Parser)]
#[command(
    name = "conclave",
    version,
    about = "Conclave: an end-to-end encrypted video-call relay you run yourself"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the relay: web client, signaling and media on one address.
    ///
    /// With no flags it listens on https://127.0.0.1:8443/ with a fresh
    /// self-signed certificate and keeps nothing on disk. Log detail is set
    /// with RUST_LOG (default: info, which never shows addresses, names or
    /// secrets).
    Serve(ServeArgs),
    /// Print a fresh meeting link for a relay.
    ///
    /// The room secret is made here, on this machine, and only printed: it is
    /// never sent to the relay (the relay learns the room id when someone
    /// joins). Anyone with the link can ask to join the meeting.
    Link {
        /// The relay's address, e.g. https://relay.example:8443
        #[arg(long, value_name = "URL")]
        relay: String,
        /// Also put this display name in the link's fragment (`&name=…`).
        #[arg(long)]
        name: Option<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One readable chain of causes, no backtrace: errors say what to do.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,str0m=warn,dimpl=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Cmd::Serve(args) => {
            let config = Config::resolve(&args)?;
            let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            rt.block_on(conclave_relay::serve(config, shutdown_signal()))
        }
        Cmd::Link { relay, name } => {
            let secret = conclave_e2ee::RoomSecret::generate();
            let mut link = conclave_e2ee::RoomLink::new(&relay, secret)
                .with_context(|| format!("cannot make a link for relay {relay:?}"))?;
            if let Some(name) = name {
                link = link.with_name(&name)?;
            }
            println!("{}", link.to_url().as_str());
            Ok(())
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
