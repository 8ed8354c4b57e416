//! The media engine: a thread that owns the UDP socket and the [`Sfu`] core,
//! feeding it datagrams, signaling commands and timer ticks, and sending what
//! it produces. Short and boring by design; the logic lives in [`crate::sfu`].

use std::io::ErrorKind;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tracing::{error, warn};

use crate::insider::RtpTap;
use crate::metrics::Metrics;
use crate::sfu::{Command, Sfu, SfuConfig};

/// Datagrams read per wake-up before the engine looks at commands and timers again.
const MAX_READS_PER_WAKE: usize = 64;

/// A running engine.
pub struct Engine {
    /// Send signaling commands here.
    pub commands: UnboundedSender<Command>,
    thread: JoinHandle<()>,
}

impl Engine {
    /// Starts the engine thread on `socket`.
    pub fn spawn(
        socket: std::net::UdpSocket,
        config: SfuConfig,
        metrics: Arc<Metrics>,
        tap: Option<Box<dyn RtpTap>>,
    ) -> anyhow::Result<Engine> {
        socket.set_nonblocking(true)?;
        let (commands, rx) = unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("conclave-media".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => return error!("cannot start the media engine's runtime: {e}"),
                };
                let mut sfu = Sfu::new(config, metrics);
                if let Some(tap) = tap {
                    sfu.set_tap(tap);
                }
                rt.block_on(run(socket, sfu, rx));
            })?;
        Ok(Engine { commands, thread })
    }

    /// Asks the engine to say goodbye to every client and waits for it to stop.
    pub fn shutdown(self) {
        let _ = self.commands.send(Command::Shutdown);
        let _ = self.thread.join();
    }
}

async fn run(socket: std::net::UdpSocket, mut sfu: Sfu, mut commands: UnboundedReceiver<Command>) {
    let socket = match UdpSocket::from_std(socket) {
        Ok(s) => s,
        Err(e) => return error!("cannot use the media socket: {e}"),
    };
    let mut buf = vec![0u8; 2048];
    loop {
        let now = Instant::now();
        let deadline = sfu
            .next_timeout()
            .unwrap_or(now + Duration::from_secs(1))
            .max(now);
        tokio::select! {
            biased;
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { break };
                let stop = matches!(cmd, Command::Shutdown);
                sfu.handle_command(Instant::now(), cmd);
                send_all(&socket, &mut sfu).await;
                if stop {
                    break;
                }
            }
            r = socket.recv_from(&mut buf) => {
                match r {
                    Ok((n, source)) => sfu.handle_datagram(Instant::now(), source, &buf[..n]),
                    Err(e) => warn!("media socket receive failed: {e}"),
                }
                for _ in 1..MAX_READS_PER_WAKE {
                    match socket.try_recv_from(&mut buf) {
                        Ok((n, source)) => sfu.handle_datagram(Instant::now(), source, &buf[..n]),
                        Err(_) => break,
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => sfu.handle_timeout(Instant::now()),
        }
        send_all(&socket, &mut sfu).await;
    }
}

async fn send_all(socket: &UdpSocket, sfu: &mut Sfu) {
    for t in sfu.transmits.drain(..) {
        match socket.try_send_to(&t.contents, t.destination) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if let Err(e) = socket.send_to(&t.contents, t.destination).await {
                    warn!("media socket send failed: {e}");
                }
            }
            // ICMP errors from a peer that went away surface here; its ICE timeout removes it.
            Err(e) => tracing::debug!("media send failed: {e}"),
        }
    }
}
