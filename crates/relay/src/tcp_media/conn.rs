//! One ICE-TCP connection: reads RFC 4571 frames and hands them to the media
//! shards ([`crate::engine::Shards::tcp_frame`]), writes the frames the shard
//! that claimed it queues on its [`TcpLink`]. The I/O shell around
//! [`conclave_proto::ice_tcp`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify, Semaphore};
use tracing::debug;

use crate::engine::Shards;
use crate::metrics::Metrics;
use conclave_proto::ice_tcp::{self as framing, FrameReader};

/// A connection whose first frames no peer accepts within this time is closed.
pub const CLAIM_TIMEOUT: Duration = Duration::from_secs(10);
/// Most ICE-TCP connections open at once; more are closed at accept.
pub const MAX_LINKS: usize = 4096;
/// Frames queued for one connection's writer; more are dropped (a reader
/// slower than its own media loses packets, as it would on UDP).
pub const OUT_QUEUE: usize = 1024;
/// Frames read from one connection and not yet handled by a shard; more are
/// dropped, so a client sending faster than the relay works holds no memory.
pub const IN_FLIGHT: usize = 256;
/// Bytes one write may gather from the queue.
const WRITE_BATCH: usize = 64 * 1024;
/// No shard has claimed the link (yet).
const UNCLAIMED: usize = usize::MAX;

/// A connection as the media shards see it: where frames for it go, and
/// which shard took it.
#[derive(Clone, Debug)]
pub struct TcpLink {
    out: mpsc::Sender<Vec<u8>>,
    state: Arc<LinkState>,
}

#[derive(Debug)]
struct LinkState {
    owner: AtomicUsize,
    in_flight: AtomicUsize,
    released: AtomicBool,
    release: Notify,
}

impl TcpLink {
    /// The shard that serves this connection's peer, once one has.
    pub fn owner(&self) -> Option<usize> {
        match self.state.owner.load(Ordering::Relaxed) {
            UNCLAIMED => None,
            shard => Some(shard),
        }
    }

    /// Shard `shard` took this connection's first frame: later frames go there only.
    pub fn claim(&self, shard: usize) {
        self.state.owner.store(shard, Ordering::Relaxed);
    }

    /// A shard handled one frame of this connection.
    pub fn handled(&self) {
        self.state.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// The peer is gone: the connection closes.
    pub fn release(&self) {
        self.state.released.store(true, Ordering::Relaxed);
        self.state.release.notify_one();
    }

    /// Queues `packets` (one datagram each) for the writer as frames;
    /// returns how many were dropped because the queue was full or closed.
    pub fn send<'a>(&self, packets: impl Iterator<Item = &'a [u8]>) -> u64 {
        let mut dropped = 0;
        for packet in packets {
            let mut frame = Vec::with_capacity(packet.len() + 2);
            framing::put_frame(&mut frame, packet);
            if self.out.try_send(frame).is_err() {
                dropped += 1;
            }
        }
        dropped
    }
}

/// Serves one ICE-TCP connection from `source` until either side ends it.
/// `permit` counts it against [`MAX_LINKS`].
pub async fn serve(
    mut tcp: TcpStream,
    source: SocketAddr,
    shards: Shards,
    metrics: Arc<Metrics>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let _permit = permit;
    let (out, mut queue) = mpsc::channel(OUT_QUEUE);
    let link = TcpLink {
        out,
        state: Arc::new(LinkState {
            owner: AtomicUsize::new(UNCLAIMED),
            in_flight: AtomicUsize::new(0),
            released: AtomicBool::new(false),
            release: Notify::new(),
        }),
    };
    Metrics::add(&metrics.tcp_links, 1);
    let why = run(&mut tcp, source, &shards, &link, &mut queue, &metrics).await;
    Metrics::add(&metrics.tcp_links, u64::MAX); // wrapping −1
                                                // The address stays out of the log (docs/conventions.md §7).
    debug!("ICE-TCP connection closed: {why}");
}

async fn run(
    tcp: &mut TcpStream,
    source: SocketAddr,
    shards: &Shards,
    link: &TcpLink,
    queue: &mut mpsc::Receiver<Vec<u8>>,
    metrics: &Metrics,
) -> &'static str {
    let (mut rd, mut wr) = tcp.split();
    let mut reader = FrameReader::default();
    let mut buf = vec![0u8; 16 * 1024];
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    let mut first = true;
    let claim_by = tokio::time::sleep(CLAIM_TIMEOUT);
    tokio::pin!(claim_by);
    loop {
        if link.state.released.load(Ordering::Relaxed) {
            return "the peer left";
        }
        tokio::select! {
            read = rd.read(&mut buf) => {
                let n = match read {
                    Ok(0) => return "the client closed it",
                    Ok(n) => n,
                    Err(_) => return "read failed",
                };
                reader.push(&buf[..n]);
                loop {
                    let frame = match reader.next_frame() {
                        Ok(Some(f)) => f,
                        Ok(None) => break,
                        Err(_) => return "a frame too long for WebRTC media",
                    };
                    if first && !framing::is_stun_binding_request(frame) {
                        return "its first frame was not a STUN binding request";
                    }
                    first = false;
                    Metrics::add(&metrics.packets_in, 1);
                    Metrics::add(&metrics.bytes_in, frame.len() as u64);
                    if link.state.in_flight.load(Ordering::Relaxed) >= IN_FLIGHT {
                        Metrics::add(&metrics.tcp_frames_dropped, 1);
                        continue;
                    }
                    // Counted before it leaves: a shard may handle it at once.
                    let owner = link.owner();
                    let targets = owner.map_or(shards.len(), |_| 1);
                    link.state.in_flight.fetch_add(targets, Ordering::Relaxed);
                    shards.tcp_frame(owner, source, frame, link);
                }
            }
            frame = queue.recv() => {
                // Never None: `link` holds a sender.
                let Some(frame) = frame else { return "the relay stopped" };
                batch.clear();
                batch.extend_from_slice(&frame);
                while batch.len() < WRITE_BATCH {
                    match queue.try_recv() {
                        Ok(f) => batch.extend_from_slice(&f),
                        Err(_) => break,
                    }
                }
                if wr.write_all(&batch).await.is_err() {
                    return "write failed";
                }
            }
            _ = link.state.release.notified() => return "the peer left",
            _ = &mut claim_by, if link.owner().is_none() => {
                return "no peer's ICE check came in time";
            }
        }
    }
}

/// Limits the ICE-TCP connections open at once ([`MAX_LINKS`]).
pub fn limiter() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(MAX_LINKS))
}
