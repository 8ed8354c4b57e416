//! `conclave`: the relay server and its tools.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use conclave_relay::config::{Config, ServeArgs};

mod open;
mod verify;

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
    Serve(Box<ServeArgs>),
    /// Print a fresh meeting link for a relay.
    ///
    /// The room secret is made here, on this machine, and only printed: it is
    /// never sent to the relay (the relay learns the room id when someone
    /// joins). Anyone with the link can ask to join the meeting.
    Link {
        /// The relay's address, e.g. `https://relay.example:8443`
        #[arg(long, value_name = "URL")]
        relay: String,
        /// Also put this display name in the link's fragment (`&name=…`).
        #[arg(long)]
        name: Option<String>,
    },
    /// Check that a relay serves the same web page and code as this build.
    ///
    /// The browser client (and so the meeting secret in the link) is only as
    /// honest as the page and wasm the relay serves. This fetches each of
    /// them and compares it byte for byte with the copy built into this
    /// program. Exit status: 0 if every file matches, 1 if any differs or is
    /// missing, 2 if the check could not be made.
    Verify(verify::Args),
    /// Join a meeting with this build's own copy of the web client.
    ///
    /// Serves the page and wasm built into this program on
    /// http://127.0.0.1:PORT/ (this machine only) and prints (and opens, if
    /// xdg-open is there) an address for the meeting in LINK. The relay then
    /// carries only signaling and media; the code that holds the secret did
    /// not come from it. Runs until Ctrl-C.
    Open(open::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verifying = matches!(cli.command, Cmd::Verify(_));
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // One readable chain of causes, no backtrace: errors say what to do.
            eprintln!("error: {e:#}");
            // `verify` tells "differs" (1) from "could not check" (2).
            ExitCode::from(if verifying { 2 } else { 1 })
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
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
            runtime()?.block_on(conclave_relay::serve(config, shutdown_signal()))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Link { relay, name } => {
            let secret = conclave_e2ee::RoomSecret::generate();
            let mut link = conclave_e2ee::RoomLink::new(&relay, secret)
                .with_context(|| format!("cannot make a link for relay {relay:?}"))?;
            if let Some(name) = name {
                link = link.with_name(&name)?;
            }
            println!("{}", link.to_url().as_str());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Verify(args) => {
            let all_match = runtime()?.block_on(verify::run(args))?;
            Ok(if all_match {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::Open(args) => {
            runtime()?.block_on(open::run(args, shutdown_signal()))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
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
