//! The Conclave relay: a selective forwarding unit (SFU) for end-to-end
//! encrypted calls. It serves the web client and signaling over one HTTPS
//! port and forwards every participant's RTP packets to the others over one
//! UDP port (or, for networks that block UDP, over TCP on the HTTPS port:
//! [`tcp_media`]), without reading their payloads. It holds no keys, names or
//! secrets and writes nothing to disk (docs/design.md §1).
//!
//! Layout: [`config`] (flags, env, TOML) → [`serve`] binds the sockets and
//! starts [`engine`] (media threads, one per core, around the sans-I/O [`sfu`] core) and
//! [`http`] (page, metrics, signaling WebSockets opened only by pages
//! [`origin`] allows, their messages checked by [`signaling`]; each join
//! gets [`turn`] credentials when the operator runs a TURN server).
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let config = conclave_relay::config::Config::default();
//! conclave_relay::serve(config, std::future::pending()).await
//! # }
//! ```

pub mod adversary;
pub(crate) mod bwe;
pub mod config;
pub mod engine;
pub mod http;
pub mod insider;
pub mod metrics;
pub mod origin;
pub mod sfu;
pub mod signaling;
pub mod srtcp;
pub mod srtp;
pub mod tcp_media;
pub mod tls;
pub mod turn;

use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info};

use conclave_proto::ice_tcp::{classify, FirstByte};
use config::Config;
use engine::Engine;
use metrics::Metrics;
use sfu::SfuConfig;

/// How long a TLS handshake may take before the connection is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds the HTTPS and media sockets, prints where to connect, and serves
/// until `shutdown` completes; then tells every client and returns.
pub async fn serve(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    run(config, None, shutdown).await
}

/// [`serve`], as a relay that lies: `adversary` may drop, rewrite or reflect
/// every forwarded copy. Only the test-only `conclave-evil-relay` calls this
/// (crates/evil-relay); `conclave serve` never does.
pub async fn serve_lying(
    config: Config,
    adversary: Arc<dyn adversary::Adversary>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    run(config, Some(adversary), shutdown).await
}

async fn run(
    config: Config,
    adversary: Option<Arc<dyn adversary::Adversary>>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let lying = adversary.is_some();
    str0m::crypto::from_feature_flags().install_process_default();
    let threads = config.media_threads.max(1);
    let (listener, udp) = bind(&config, threads).await?;
    let https = listener.local_addr()?;
    let media = udp[0].local_addr()?;
    let public_ip = config.advertised_ip();
    let tls = tls::load_or_generate(
        config
            .tls_files
            .as_ref()
            .map(|(c, k)| (c.as_path(), k.as_path())),
        &[public_ip, https.ip()],
    )?;
    let metrics = Arc::new(Metrics::default());
    let (signaling_log, tap) = match &config.insider_view {
        Some(dir) => {
            let tap: Box<dyn insider::RtpTap> = Box::new(insider::PcapTap::create(dir)?);
            (
                Some(Arc::new(insider::SignalingLog::create(dir)?)),
                Some(tap),
            )
        }
        None => (None, None),
    };
    let engine = Engine::spawn(
        udp,
        SfuConfig {
            media_addr: SocketAddr::new(public_ip, media.port()),
            tcp_addr: config
                .ice_tcp
                .then(|| SocketAddr::new(public_ip, https.port())),
            max_rooms: config.max_rooms,
            max_participants: config.max_participants,
            direct_send: config.direct_send,
            congestion_control: config.congestion_control,
        },
        metrics.clone(),
        tap,
        adversary,
    )?;
    let shards = engine.shards.clone();
    let app = http::router(http::AppState {
        shards: engine.shards.clone(),
        metrics: metrics.clone(),
        max_message_bytes: config.max_message_bytes,
        insider: signaling_log,
        origins: Arc::new(origin::OriginPolicy::new(config.allow_origins.clone())),
        turn: config.turn.clone().map(Arc::new),
    });

    let base = format!("https://{}/", SocketAddr::new(public_ip, https.port()));
    let cert = if tls.self_signed { "self-signed, " } else { "" };
    println!("Conclave relay is running.");
    if lying {
        println!("  WARNING:     this is the test-only lying relay: it tampers with media");
    }
    println!("  open:        {base}");
    println!(
        "  media:       udp port {} (advertised as {public_ip}), {threads} thread(s){}",
        media.port(),
        if config.ice_tcp {
            format!("; tcp port {} for networks without UDP", https.port())
        } else {
            String::new()
        }
    );
    if let Some(turn) = &config.turn {
        // The URLs only: the secret is never printed.
        let urls: Vec<&str> = turn.urls().iter().map(|u| u.as_str()).collect();
        println!(
            "  turn:        {} (credentials for {} s per join)",
            urls.join(" "),
            turn.lifetime().as_secs()
        );
    }
    println!("  certificate: {cert}SHA-256 {}", tls.fingerprint);
    println!("  metrics:     {base}metrics");
    if let Some(dir) = &config.insider_view {
        println!(
            "  insider view: writing what the operator can see to {}",
            dir.display()
        );
    }
    println!("Press Ctrl-C to stop.");
    info!(https = https.port(), media = media.port(), "relay started");

    let acceptor = TlsAcceptor::from(tls.config);
    let ice_tcp = config.ice_tcp.then(tcp_media::conn::limiter);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, peer)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let service = TowerToHyperService::new(app.clone());
                let media = ice_tcp.clone().map(|l| (l, shards.clone(), metrics.clone()));
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    // TLS (page, signaling) or ICE-TCP media, by the first byte.
                    let mut first = [0u8; 1];
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tcp.peek(&mut first)).await {
                        Ok(Ok(1)) => {}
                        _ => return debug!("connection closed before its first byte"),
                    }
                    if let (FirstByte::IceTcp, Some((limit, shards, metrics))) = (classify(first[0]), media) {
                        let Ok(permit) = limit.try_acquire_owned() else {
                            return debug!("ICE-TCP connection refused: too many open");
                        };
                        return tcp_media::conn::serve(tcp, peer, shards, metrics, permit).await;
                    }
                    let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        _ => return debug!("TLS handshake failed or timed out"),
                    };
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .with_upgrades();
                    if let Err(e) = conn.await {
                        debug!("HTTP connection ended: {e}");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    info!("shutting down: telling clients");
    tokio::task::spawn_blocking(move || engine.shutdown()).await?;
    // Give the WebSocket tasks a moment to deliver the goodbye.
    tokio::time::sleep(Duration::from_millis(300)).await;
    info!("stopped");
    Ok(())
}

/// Binds TCP `listen` and `threads` UDP sockets sharing one port on the
/// same address (port `media_port` or the TCP port; `SO_REUSEPORT`, so the
/// kernel spreads senders over the media shards). With port 0, retries until
/// one free number serves both.
async fn bind(config: &Config, threads: usize) -> anyhow::Result<(TcpListener, Vec<UdpSocket>)> {
    let mut last_err = None;
    for _ in 0..50 {
        let listener = TcpListener::bind(config.listen).await.with_context(|| {
            format!(
                "cannot listen on {} (is another relay using it? pick another with --listen)",
                config.listen
            )
        })?;
        let port = config.media_port.unwrap_or(listener.local_addr()?.port());
        let addr = SocketAddr::new(config.listen.ip(), port);
        match (0..threads)
            .map(|_| bind_udp(addr))
            .collect::<std::io::Result<Vec<_>>>()
        {
            Ok(udp) => return Ok((listener, udp)),
            Err(e) if config.listen.port() == 0 && config.media_port.is_none() => {
                last_err = Some(e)
            }
            Err(e) => bail!(
                "cannot bind UDP media port {port} on {}: {e} (pick another with --media-port)",
                config.listen.ip()
            ),
        }
    }
    bail!("found no port free for both TCP and UDP: {:?}", last_err)
}

/// Receive buffer asked for each media socket. Publishers' packets queue
/// there while the media thread sends a release (a frame to every
/// subscriber); the kernel's default (208 KiB, ~100 full datagrams)
/// overflowed in a 25-participant meeting (docs/benchmarks.md, "Meetings
/// and webinars"). The kernel caps it at `net.core.rmem_max`.
const MEDIA_RECV_BUFFER: usize = 4 << 20;
/// The warning that the system capped it is given once, not per socket.
static RECV_BUFFER_WARNED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Only sockets of the same user can join a reuse-port group (Linux).
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    // Linux reports twice what it grants (the other half is its bookkeeping).
    let granted = socket
        .set_recv_buffer_size(MEDIA_RECV_BUFFER)
        .and_then(|()| socket.recv_buffer_size())
        .map(|b| if cfg!(target_os = "linux") { b / 2 } else { b });
    match granted {
        Ok(b) if b >= MEDIA_RECV_BUFFER => {}
        Ok(_) if RECV_BUFFER_WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) => {}
        Ok(b) => tracing::warn!(
            "the media socket's receive buffer is {} KiB, not the {} KiB asked for \
             (the system caps it): packets from many publishers at once may be dropped; \
             raise the cap with `sysctl -w net.core.rmem_max={MEDIA_RECV_BUFFER}`",
            b >> 10,
            MEDIA_RECV_BUFFER >> 10
        ),
        Err(e) => tracing::warn!("cannot size the media socket's receive buffer: {e}"),
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}
