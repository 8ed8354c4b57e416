//! The media engine: one thread per core ("shard"), each owning a UDP socket
//! bound to the same port (`SO_REUSEPORT`) and an [`Sfu`] core for the rooms
//! hashed to it, feeding the core datagrams, signaling commands and timer
//! ticks and sending what it produces. Short and boring by design; the logic
//! lives in [`crate::sfu`].
//!
//! Rooms are spread over shards by a keyed hash of the room id, so a room's
//! routing never takes a lock. The kernel spreads incoming datagrams over the
//! shards' sockets by source address; a datagram that lands on a shard that
//! does not serve its sender is handed to the one that does (learned from the
//! first STUN check, then remembered), over a channel — a cheap step taken
//! only on the ingress side, which carries 1/N of the traffic.
//!
//! I/O is batched: one wake-up reads up to [`quinn_udp::BATCH_SIZE`]
//! datagrams per `recvmmsg` (several rounds if more are waiting), the core
//! handles them all, then flushes every touched peer once. Copies of a video
//! frame's leading packets wait (at most 5 ms, `Sfu::flush_if_due`) for the
//! frame's last packet, so the packets a subscriber gets from one frame leave
//! together: one release from str0m and one batched send. Consecutive packets to
//! the same address go out in one `sendmsg` with UDP GSO (`UDP_SEGMENT`),
//! which costs far less per packet than one `sendto` each.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::io::{ErrorKind, IoSliceMut};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use quinn_udp::{RecvMeta, UdpSocketState, BATCH_SIZE};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tracing::{debug, error, warn};

use crate::adversary::Adversary;
use crate::insider::{RtpFields, RtpTap};
use crate::metrics::Metrics;
use crate::sfu::{Command, SendNow, Sfu, SfuConfig, Transmit, Via};
use crate::tcp_media::conn::TcpLink;
use conclave_proto::RoomId;

/// `recvmmsg` rounds per wake-up before commands and timers get a turn.
const MAX_RECV_ROUNDS: usize = 4;
/// Largest datagram the engine reads (WebRTC keeps packets under ~1200 bytes).
const MAX_DATAGRAM: usize = 2048;
/// A GSO send carries at most this many bytes (the IPv4/UDP length limit, with margin).
const MAX_GSO_BYTES: usize = crate::sfu::MAX_SEGMENTED_BYTES;
/// Segments per send for copies sealed on the direct path: a video frame's
/// packets to one peer (the kernel takes up to 64).
const MAX_DIRECT_SEGMENTS: usize = 16;

/// What one shard receives from the signaling side and from other shards.
#[derive(Debug)]
enum ShardMsg {
    Command(Command),
    /// A datagram that arrived on another shard's socket.
    Datagram {
        source: SocketAddr,
        data: Vec<u8>,
    },
    /// A frame from an ICE-TCP connection ([`crate::tcp_media`]).
    TcpFrame {
        source: SocketAddr,
        data: Vec<u8>,
        link: TcpLink,
    },
    /// Shard `shard` serves (`Some`) or stopped serving (`None`) this UDP address.
    Owner {
        addr: SocketAddr,
        shard: Option<usize>,
    },
}

/// Where signaling sends commands: the shard that serves a room.
#[derive(Clone)]
pub struct Shards {
    inboxes: Arc<[UnboundedSender<ShardMsg>]>,
    hasher: RandomState,
}

impl Shards {
    /// The shard that serves `room` (stable for the life of the process).
    pub fn shard_for_room(&self, room: &RoomId) -> usize {
        (self.hasher.hash_one(room) % self.inboxes.len() as u64) as usize
    }

    /// Hands `cmd` to `shard`.
    pub fn send(&self, shard: usize, cmd: Command) {
        if let Some(inbox) = self.inboxes.get(shard) {
            let _ = inbox.send(ShardMsg::Command(cmd));
        }
    }

    /// Hands a frame from the ICE-TCP connection `link` (remote end
    /// `source`) to the shard that serves it (`owner`), or while none does
    /// yet to every shard: the one whose peer's ICE credentials match
    /// claims the link.
    pub fn tcp_frame(&self, owner: Option<usize>, source: SocketAddr, data: &[u8], link: &TcpLink) {
        let msg = || ShardMsg::TcpFrame {
            source,
            data: data.to_vec(),
            link: link.clone(),
        };
        match owner {
            Some(shard) => {
                if let Some(inbox) = self.inboxes.get(shard) {
                    let _ = inbox.send(msg());
                }
            }
            None => {
                for inbox in self.inboxes.iter() {
                    let _ = inbox.send(msg());
                }
            }
        }
    }

    /// How many shards there are.
    pub fn len(&self) -> usize {
        self.inboxes.len()
    }

    /// Never true: an engine has at least one shard.
    pub fn is_empty(&self) -> bool {
        self.inboxes.is_empty()
    }
}

/// A running engine.
pub struct Engine {
    /// Where to send signaling commands.
    pub shards: Shards,
    threads: Vec<JoinHandle<()>>,
}

impl Engine {
    /// Starts one shard thread per socket. The sockets must share one port
    /// (bound with `SO_REUSEPORT`); `tap` sees every shard's RTP; an
    /// `adversary` (test builds only) may tamper with forwarded copies.
    pub fn spawn(
        sockets: Vec<std::net::UdpSocket>,
        config: SfuConfig,
        metrics: Arc<Metrics>,
        tap: Option<Box<dyn RtpTap>>,
        adversary: Option<Arc<dyn Adversary>>,
    ) -> anyhow::Result<Engine> {
        let tap = tap.map(|t| Arc::new(Mutex::new(t)));
        let (senders, receivers): (Vec<_>, Vec<_>) =
            sockets.iter().map(|_| unbounded_channel()).unzip();
        let inboxes: Arc<[UnboundedSender<ShardMsg>]> = senders.into();
        let mut threads = Vec::new();
        // A big room's packet release may use as many cores as there are shards.
        let fanout = sockets.len();
        if fanout > 1 {
            // Fails only if a pool exists already (several engines in one test process).
            let _ = rayon::ThreadPoolBuilder::new()
                .num_threads(fanout)
                .thread_name(|i| format!("conclave-fanout-{i}"))
                .build_global();
        }
        for (index, (socket, inbox)) in sockets.into_iter().zip(receivers).enumerate() {
            socket.set_nonblocking(true)?;
            let mut sfu = Sfu::new(config.clone(), metrics.clone());
            if fanout > 1 {
                let socket = socket.try_clone()?;
                let state = UdpSocketState::new((&socket).into())?;
                let metrics = metrics.clone();
                sfu.set_fanout(
                    fanout,
                    Arc::new(SocketSender {
                        socket,
                        state,
                        metrics,
                    }),
                );
            }
            if let Some(tap) = &tap {
                sfu.set_tap(Box::new(SharedTap(tap.clone())));
            }
            if let Some(adversary) = &adversary {
                sfu.set_adversary(adversary.clone());
            }
            let shard = Shard {
                index,
                others: inboxes.clone(),
                owners: HashMap::new(),
                tcp: HashMap::new(),
                metrics: metrics.clone(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("conclave-media-{index}"))
                .spawn(move || {
                    let rt = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => return error!("cannot start the media engine's runtime: {e}"),
                    };
                    rt.block_on(run(socket, sfu, inbox, shard));
                })?;
            threads.push(thread);
        }
        Ok(Engine {
            shards: Shards {
                inboxes,
                hasher: RandomState::new(),
            },
            threads,
        })
    }

    /// Asks every shard to say goodbye to its clients and waits for them to stop.
    pub fn shutdown(self) {
        for shard in 0..self.shards.len() {
            self.shards.send(shard, Command::Shutdown);
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// `--insider-view` from several shards into one pcap file.
struct SharedTap(Arc<Mutex<Box<dyn RtpTap>>>);

impl RtpTap for SharedTap {
    fn rtp(&mut self, from: SocketAddr, to: SocketAddr, header: &RtpFields, payload: &[u8]) {
        if let Ok(mut tap) = self.0.lock() {
            tap.rtp(from, to, header, payload);
        }
    }
}

/// A shard's view of the others.
struct Shard {
    index: usize,
    others: Arc<[UnboundedSender<ShardMsg>]>,
    /// UDP addresses served by other shards.
    owners: HashMap<SocketAddr, usize>,
    /// ICE-TCP connections of this shard's peers, by remote address.
    tcp: HashMap<SocketAddr, TcpLink>,
    metrics: Arc<Metrics>,
}

impl Shard {
    /// A datagram from the socket: ours, a known other shard's, or ask everyone.
    fn dispatch(&self, sfu: &mut Sfu, now: Instant, source: SocketAddr, data: &[u8]) {
        Metrics::add(&self.metrics.packets_in, 1);
        Metrics::add(&self.metrics.bytes_in, data.len() as u64);
        if let Some(&owner) = self.owners.get(&source) {
            return self.forward(owner, source, data);
        }
        if sfu.handle_datagram(now, source, data) {
            return;
        }
        if self.others.len() == 1 {
            return Metrics::add(&self.metrics.packets_unmatched, 1);
        }
        // Unknown sender (a first STUN check): whichever shard serves it takes it.
        for other in (0..self.others.len()).filter(|i| *i != self.index) {
            self.forward(other, source, data);
        }
    }

    fn forward(&self, shard: usize, source: SocketAddr, data: &[u8]) {
        let _ = self.others[shard].send(ShardMsg::Datagram {
            source,
            data: data.to_vec(),
        });
    }

    /// A frame from an ICE-TCP connection: this shard's peer's, or none's.
    fn tcp_frame(&mut self, sfu: &mut Sfu, source: SocketAddr, data: &[u8], link: TcpLink) {
        link.handled();
        if sfu.handle_tcp_frame(Instant::now(), source, data) && !self.tcp.contains_key(&source) {
            link.claim(self.index);
            self.tcp.insert(source, link);
        }
    }

    /// Tells the other shards which UDP addresses this one started or
    /// stopped serving; closes the ICE-TCP connections of peers that left.
    fn announce(&mut self, sfu: &mut Sfu) {
        for ((addr, via), serving) in sfu.take_addr_changes() {
            if via == Via::Tcp {
                if !serving {
                    if let Some(link) = self.tcp.remove(&addr) {
                        link.release();
                    }
                }
                continue;
            }
            for (i, other) in self.others.iter().enumerate() {
                if i != self.index {
                    let shard = serving.then_some(self.index);
                    let _ = other.send(ShardMsg::Owner { addr, shard });
                }
            }
        }
    }

    /// Queues a transmit for an ICE-TCP peer on its connection.
    fn send_tcp(&self, t: &Transmit) {
        let dropped = match self.tcp.get(&t.destination) {
            Some(link) => link.send(t.datagrams()),
            None => t.datagrams().count() as u64,
        };
        Metrics::add(&self.metrics.tcp_frames_dropped, dropped);
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

async fn run(
    socket: std::net::UdpSocket,
    mut sfu: Sfu,
    mut inbox: UnboundedReceiver<ShardMsg>,
    mut shard: Shard,
) {
    let mut io = match Io::new(socket) {
        Ok(io) => io,
        Err(e) => return error!("cannot use the media socket: {e}"),
    };
    sfu.set_gso_segments(io.state.max_gso_segments().min(MAX_DIRECT_SEGMENTS));
    loop {
        let now = Instant::now();
        let deadline = sfu
            .next_timeout()
            .unwrap_or(now + Duration::from_secs(1))
            .max(now);
        tokio::select! {
            biased;
            msg = inbox.recv() => {
                let now = Instant::now();
                match msg {
                    None => break,
                    Some(ShardMsg::Command(cmd)) => {
                        let stop = matches!(cmd, Command::Shutdown);
                        sfu.handle_command(now, cmd);
                        if stop {
                            io.send_all(&mut sfu.transmits, &shard).await;
                            break;
                        }
                    }
                    Some(ShardMsg::Datagram { source, data }) => {
                        // Already offered to every shard: no second hand-off.
                        sfu.handle_datagram(now, source, &data);
                        sfu.flush_if_due(now);
                    }
                    Some(ShardMsg::TcpFrame { source, data, link }) => {
                        shard.tcp_frame(&mut sfu, source, &data, link);
                        sfu.flush_if_due(now);
                    }
                    Some(ShardMsg::Owner { addr, shard: Some(owner) }) => {
                        shard.owners.insert(addr, owner);
                    }
                    Some(ShardMsg::Owner { addr, shard: None }) => {
                        shard.owners.remove(&addr);
                    }
                }
            }
            r = io.socket.readable() => {
                if let Err(e) = r {
                    warn!("media socket failed: {e}");
                    break;
                }
                io.receive(|source, data| shard.dispatch(&mut sfu, Instant::now(), source, data));
                sfu.flush_if_due(Instant::now());
            }
            _ = tokio::time::sleep_until(deadline.into()) => sfu.handle_timeout(Instant::now()),
        }
        shard.announce(&mut sfu);
        io.send_all(&mut sfu.transmits, &shard).await;
    }
}

impl Io {
    fn new(socket: std::net::UdpSocket) -> std::io::Result<Io> {
        let state = UdpSocketState::new((&socket).into())?;
        let socket = UdpSocket::from_std(socket)?;
        // GRO can coalesce up to `gro_segments` datagrams into one buffer.
        let per_buf = (MAX_DATAGRAM * state.gro_segments().max(1)).min(u16::MAX as usize);
        Ok(Io {
            bufs: vec![vec![0u8; per_buf]; BATCH_SIZE],
            metas: vec![RecvMeta::default(); BATCH_SIZE],
            gso: Vec::with_capacity(MAX_GSO_BYTES),
            socket,
            state,
        })
    }

    /// Reads what is waiting (a few batches at most) and hands each datagram to `handle`.
    fn receive(&mut self, mut handle: impl FnMut(SocketAddr, &[u8])) {
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
            for (meta, buf) in self.metas[..n].iter().zip(&self.bufs) {
                let source = SocketAddr::new(meta.addr.ip().to_canonical(), meta.addr.port());
                let stride = meta.stride.max(1);
                for datagram in buf[..meta.len].chunks(stride) {
                    handle(source, datagram);
                }
            }
            if n < BATCH_SIZE {
                return;
            }
        }
    }

    /// Sends everything the core produced, coalescing runs of equal-sized
    /// datagrams to one address into GSO sends; ICE-TCP peers' go to their
    /// connections.
    async fn send_all(&mut self, transmits: &mut Vec<Transmit>, shard: &Shard) {
        let max_segments = self.state.max_gso_segments();
        let mut i = 0;
        while i < transmits.len() {
            if transmits[i].via == Via::Tcp {
                shard.send_tcp(&transmits[i]);
                i += 1;
                continue;
            }
            let (n, transmit) = gso_batch(&transmits[i..], max_segments, &mut self.gso);
            if !send(&self.socket, &self.state, &transmit).await {
                Metrics::add(&shard.metrics.packets_send_failed, n as u64);
            }
            i += n;
        }
        transmits.clear();
    }
}

/// The longest run at the head of `transmits` (UDP ones) that can leave in one send:
/// equal-sized UDP datagrams to one address (the last may be shorter), copied
/// into `gso` when there are several. Returns the run's length and the send.
fn gso_batch<'a>(
    transmits: &'a [Transmit],
    max_segments: usize,
    gso: &'a mut Vec<u8>,
) -> (usize, quinn_udp::Transmit<'a>) {
    let first = &transmits[0];
    if let Some(segment) = first.segment_size {
        // Already laid out for one segmented send by the relay core.
        let transmit = quinn_udp::Transmit {
            destination: first.destination,
            ecn: None,
            contents: &first.contents,
            segment_size: (first.contents.len() > segment).then_some(segment),
            src_ip: None,
        };
        return (1, transmit);
    }
    let size = first.contents.len();
    let limit = max_segments.max(1).min(MAX_GSO_BYTES / size.max(1)).max(1);
    // Every segment but the last must be exactly `size` bytes.
    let mut n = 1;
    while n < transmits.len()
        && n < limit
        && transmits[n].destination == first.destination
        && transmits[n].via == Via::Udp
        && transmits[n].segment_size.is_none()
        && transmits[n - 1].contents.len() == size
        && transmits[n].contents.len() <= size
    {
        n += 1;
    }
    let (contents, segment_size) = if n == 1 {
        (first.contents.as_slice(), None)
    } else {
        gso.clear();
        for t in &transmits[..n] {
            gso.extend_from_slice(&t.contents);
        }
        (gso.as_slice(), Some(size))
    };
    let transmit = quinn_udp::Transmit {
        destination: first.destination,
        ecn: None,
        contents,
        segment_size,
        src_ip: None,
    };
    (n, transmit)
}

/// A shard's socket used from the threads of a parallel flush
/// (`Sfu::flush_parallel`): sends what the kernel takes now, leaves the rest
/// (a full send buffer) to the shard's own, waiting send.
struct SocketSender {
    socket: std::net::UdpSocket,
    state: UdpSocketState,
    metrics: Arc<Metrics>,
}

thread_local! {
    static GSO_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(MAX_GSO_BYTES));
}

impl SendNow for SocketSender {
    fn send_now(&self, transmits: &mut Vec<Transmit>) {
        let max_segments = self.state.max_gso_segments();
        let sent = GSO_BUF.with(|gso| {
            let mut gso = gso.borrow_mut();
            let mut i = 0;
            while i < transmits.len() {
                if transmits[i].via == Via::Tcp {
                    break; // the shard's own send queues it on the connection
                }
                let (n, transmit) = gso_batch(&transmits[i..], max_segments, &mut gso);
                match self.state.try_send((&self.socket).into(), &transmit) {
                    Ok(()) => i += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => {
                        // Errors name no address: logs never carry IPs (docs/conventions.md §7).
                        debug!("media send failed: {e}");
                        Metrics::add(&self.metrics.packets_send_failed, n as u64);
                        i += n;
                    }
                }
            }
            i
        });
        transmits.drain(..sent);
    }
}

/// Sends one (GSO) datagram run; `false` if it was lost: the kernel kept
/// refusing it (a send buffer that stayed full through three waits) or
/// failed it.
async fn send(
    socket: &UdpSocket,
    state: &UdpSocketState,
    transmit: &quinn_udp::Transmit<'_>,
) -> bool {
    for _ in 0..3 {
        match socket.try_io(Interest::WRITABLE, || {
            state.try_send(socket.into(), transmit)
        }) {
            Ok(()) => return true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if socket.writable().await.is_err() {
                    return false;
                }
            }
            Err(e) => {
                // Errors name no address: logs never carry IPs (docs/conventions.md §7).
                debug!("media send failed: {e}");
                return false;
            }
        }
    }
    false
}
