//! The media engine: a thread that owns the UDP socket and the [`Sfu`] core,
//! feeding it datagrams, signaling commands and timer ticks, and sending what
//! it produces. Short and boring by design; the logic lives in [`crate::sfu`].
//!
//! I/O is batched: one wake-up reads up to [`quinn_udp::BATCH_SIZE`]
//! datagrams per `recvmmsg` (several rounds if more are waiting), the core
//! handles them all, then flushes every touched peer once, so the packets a
//! subscriber gets from one video frame leave together. Consecutive packets to
//! the same address go out in one `sendmsg` with UDP GSO (`UDP_SEGMENT`),
//! which costs far less per packet than one `sendto` each.

use std::io::{ErrorKind, IoSliceMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use quinn_udp::{RecvMeta, UdpSocketState, BATCH_SIZE};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tracing::{debug, error, warn};

use crate::insider::RtpTap;
use crate::metrics::Metrics;
use crate::sfu::{Command, Sfu, SfuConfig, Transmit};

/// `recvmmsg` rounds per wake-up before commands and timers get a turn.
const MAX_RECV_ROUNDS: usize = 4;
/// Largest datagram the engine reads (WebRTC keeps packets under ~1200 bytes).
const MAX_DATAGRAM: usize = 2048;
/// A GSO send carries at most this many bytes (the IPv4/UDP length limit, with margin).
const MAX_GSO_BYTES: usize = 60_000;

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

/// The socket with its batching state and buffers.
struct Io {
    socket: UdpSocket,
    state: UdpSocketState,
    bufs: Vec<Vec<u8>>,
    metas: Vec<RecvMeta>,
    gso: Vec<u8>,
}

async fn run(socket: std::net::UdpSocket, mut sfu: Sfu, mut commands: UnboundedReceiver<Command>) {
    let mut io = match Io::new(socket) {
        Ok(io) => io,
        Err(e) => return error!("cannot use the media socket: {e}"),
    };
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
                io.send_all(&mut sfu.transmits).await;
                if stop {
                    break;
                }
            }
            r = io.socket.readable() => {
                if let Err(e) = r {
                    warn!("media socket failed: {e}");
                    break;
                }
                io.receive(&mut sfu);
                sfu.flush(Instant::now());
            }
            _ = tokio::time::sleep_until(deadline.into()) => sfu.handle_timeout(Instant::now()),
        }
        io.send_all(&mut sfu.transmits).await;
    }
}

impl Io {
    fn new(socket: std::net::UdpSocket) -> std::io::Result<Io> {
        let state = UdpSocketState::new((&socket).into())?;
        let socket = UdpSocket::from_std(socket)?;
        let per_buf = MAX_DATAGRAM * state.gro_segments().max(1);
        Ok(Io {
            bufs: vec![vec![0u8; per_buf]; BATCH_SIZE],
            metas: vec![RecvMeta::default(); BATCH_SIZE],
            gso: Vec::with_capacity(MAX_GSO_BYTES),
            socket,
            state,
        })
    }

    /// Reads what is waiting (a few batches at most) into the core.
    fn receive(&mut self, sfu: &mut Sfu) {
        for _ in 0..MAX_RECV_ROUNDS {
            let Io {
                socket,
                state,
                bufs,
                metas,
                ..
            } = self;
            let got = socket.try_io(Interest::READABLE, || {
                let mut slices: Vec<IoSliceMut<'_>> =
                    bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
                state.recv((&*socket).into(), &mut slices, metas)
            });
            let n = match got {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    // ICMP errors from peers that went away surface here; ICE timeouts remove them.
                    debug!("media receive failed: {e}");
                    continue;
                }
            };
            let now = Instant::now();
            for (meta, buf) in self.metas[..n].iter().zip(&self.bufs) {
                let source = SocketAddr::new(meta.addr.ip().to_canonical(), meta.addr.port());
                let stride = meta.stride.max(1);
                for datagram in buf[..meta.len].chunks(stride) {
                    sfu.handle_datagram(now, source, datagram);
                }
            }
            if n < BATCH_SIZE {
                return;
            }
        }
    }

    /// Sends everything the core produced, coalescing runs of equal-sized
    /// datagrams to one address into GSO sends.
    async fn send_all(&mut self, transmits: &mut Vec<Transmit>) {
        let max_segments = self.state.max_gso_segments().max(1);
        let mut i = 0;
        while i < transmits.len() {
            let first = &transmits[i];
            let size = first.contents.len();
            let limit = max_segments.min(MAX_GSO_BYTES / size.max(1)).max(1);
            // Every segment but the last must be exactly `size` bytes.
            let mut j = i + 1;
            while j < transmits.len()
                && j - i < limit
                && transmits[j].destination == first.destination
                && transmits[j - 1].contents.len() == size
                && transmits[j].contents.len() <= size
            {
                j += 1;
            }
            let destination = first.destination;
            let (contents, segment_size) = if j - i == 1 {
                (first.contents.as_slice(), None)
            } else {
                self.gso.clear();
                for t in &transmits[i..j] {
                    self.gso.extend_from_slice(&t.contents);
                }
                (self.gso.as_slice(), Some(size))
            };
            let transmit = quinn_udp::Transmit {
                destination,
                ecn: None,
                contents,
                segment_size,
                src_ip: None,
            };
            send(&self.socket, &self.state, &transmit).await;
            i = j;
        }
        transmits.clear();
    }
}

async fn send(socket: &UdpSocket, state: &UdpSocketState, transmit: &quinn_udp::Transmit<'_>) {
    for _ in 0..3 {
        match socket.try_io(Interest::WRITABLE, || {
            state.try_send(socket.into(), transmit)
        }) {
            Ok(()) => return,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if socket.writable().await.is_err() {
                    return;
                }
            }
            // Errors name no address: logs never carry IPs (CONVENTIONS.md §7).
            Err(e) => return debug!("media send failed: {e}"),
        }
    }
}
