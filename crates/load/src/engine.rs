//! The media thread: every str0m peer of the load generator (publishers,
//! subscribers, meeting participants that are both) in one single-threaded
//! event loop, one UDP socket each. This file is the peer I/O loop; what the
//! publishers send is in [`crate::publish`], what receivers count in
//! [`crate::receive`].
//!
//! The relay answers all its peers from one port, so peers on our side are
//! told apart by the local socket a datagram arrives on (not `Rtc::accepts`).
//! Signaling threads hand peers in and run SDP steps on them through [`Handle`];
//! all `Rtc` work happens on this thread.

use crate::publish::{Clock, Publishing, SimulcastTx};
use crate::receive::{self, Got, Kind, Seen};
use crate::rxstamp;
use crate::shape::{self, Filler, Layer, Shape};
use anyhow::{anyhow, Context, Result};
use mio::{Events, Interest, Poll, Token, Waker};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::change::{SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

const WAKER: Token = Token(usize::MAX);

/// What a peer does.
pub enum Role {
    /// The fan-out publisher (frame mode: str0m packetizes its one video stream).
    Publisher { audio: Mid, video: Mid },
    /// A receive-only subscriber (RTP mode).
    Subscriber,
    /// A publisher of simulcast video and audio in RTP mode; with `receives`
    /// also a subscriber to everyone else (a meeting participant).
    Simulcast {
        tx: Box<SimulcastTx>,
        receives: bool,
    },
    /// Raw-UDP mode (the ceiling forwarder): RTP-shaped datagrams without WebRTC.
    RawPublisher { dest: SocketAddr },
    /// Raw-UDP sink; with a key, payloads arrive AES-128-GCM sealed (see ceiling).
    RawSink {
        key: Option<aws_lc_rs::aead::LessSafeKey>,
    },
}

impl Role {
    fn is_sub(&self) -> bool {
        matches!(
            self,
            Role::Subscriber | Role::RawSink { .. } | Role::Simulcast { receives: true, .. }
        )
    }

    fn is_publisher(&self) -> bool {
        matches!(
            self,
            Role::Publisher { .. } | Role::RawPublisher { .. } | Role::Simulcast { .. }
        )
    }
}

type WithFn = Box<dyn FnOnce(&mut Rtc) + Send>;

enum Cmd {
    Add(Option<Box<Rtc>>, UdpSocket, Role, mpsc::Sender<usize>),
    With(usize, WithFn),
    Status(mpsc::Sender<Status>),
    Mark(mpsc::Sender<Mark>),
    Finish(mpsc::Sender<Finished>),
}

/// Progress, for the controller to know when everyone is up.
#[derive(Debug, Clone)]
pub struct Status {
    /// Every publisher added so far is connected (and there is one).
    pub publisher_connected: bool,
    pub frames_sent: u32,
    /// Per receiver, in the order they were added.
    pub subs: Vec<SubStatus>,
}

/// One receiver's progress.
#[derive(Debug, Clone, Copy)]
pub struct SubStatus {
    /// ICE+DTLS connected.
    pub connected: bool,
    /// Complete frames received.
    pub frames: usize,
    /// Publishers whose frames arrived.
    pub sources: usize,
}

/// Counters at one instant (start or end of the measurement window).
#[derive(Debug, Clone)]
pub struct Mark {
    pub at: Instant,
    pub next_frame: u32,
    pub next_audio: u32,
    /// Summed over subscribers.
    pub rtp_pkts: u64,
    pub udp_pkts: u64,
    pub udp_bytes: u64,
    pub key_requests: u64,
    /// Publishers connected at this instant (their peer indices).
    pub publishing: Vec<u16>,
}

/// What one receiver saw: every complete frame and audio packet.
pub struct SubSeen {
    /// Its own peer index (a meeting participant's frames carry it as source).
    pub me: u16,
    pub frames: Vec<Got>,
    pub audio: Vec<Got>,
}

/// The receivers' records, handed over when the media thread ends.
pub struct Finished {
    pub subs: Vec<SubSeen>,
}

/// The controller's side of the media thread.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Cmd>,
    waker: Arc<Waker>,
}

impl Handle {
    fn send(&self, c: Cmd) -> Result<()> {
        self.tx
            .send(c)
            .map_err(|_| anyhow!("media thread is gone"))?;
        self.waker.wake().context("wake media thread")
    }

    /// Hands a peer to the media thread; returns its index.
    pub fn add(&self, rtc: Rtc, sock: UdpSocket, role: Role) -> Result<usize> {
        let (tx, rx) = mpsc::channel();
        self.send(Cmd::Add(Some(Box::new(rtc)), sock, role, tx))?;
        rx.recv().context("media thread dropped add")
    }

    /// Hands a raw-UDP peer (ceiling mode) to the media thread.
    pub fn add_raw(&self, sock: UdpSocket, role: Role) -> Result<usize> {
        let (tx, rx) = mpsc::channel();
        self.send(Cmd::Add(None, sock, role, tx))?;
        rx.recv().context("media thread dropped add")
    }

    /// Runs `f` on peer `peer`'s `Rtc` on the media thread.
    pub fn with<R: Send + 'static>(
        &self,
        peer: usize,
        f: impl FnOnce(&mut Rtc) -> R + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = mpsc::channel();
        self.send(Cmd::With(
            peer,
            Box::new(move |rtc| {
                let _ = tx.send(f(rtc));
            }),
        ))?;
        rx.recv().context("media thread dropped a request")
    }

    /// Where everyone is.
    pub fn status(&self) -> Result<Status> {
        let (tx, rx) = mpsc::channel();
        self.send(Cmd::Status(tx))?;
        Ok(rx.recv()?)
    }

    /// Snapshot of the counters. The first mark also stops honouring key-frame
    /// requests, so the measured load has the same shape against every relay.
    pub fn mark(&self) -> Result<Mark> {
        let (tx, rx) = mpsc::channel();
        self.send(Cmd::Mark(tx))?;
        Ok(rx.recv()?)
    }

    /// Ends the media thread and hands over what every receiver saw.
    pub fn finish(&self) -> Result<Finished> {
        let (tx, rx) = mpsc::channel();
        self.send(Cmd::Finish(tx))?;
        Ok(rx.recv()?)
    }
}

/// A fresh UDP socket on `bind` and an `Rtc` whose host candidate is it.
pub fn new_peer(bind: IpAddr, rtp_mode: bool) -> Result<(Rtc, UdpSocket)> {
    let sock = UdpSocket::bind(SocketAddr::new(bind, 0)).context("bind peer socket")?;
    set_bufs(&sock, 1 << 20);
    let local = sock.local_addr()?;
    let mut rtc = Rtc::builder()
        .set_rtp_mode(rtp_mode)
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
        .set_stats_interval(None)
        .build(Instant::now());
    let cand = Candidate::host(local, "udp").map_err(|e| anyhow!("host candidate: {e}"))?;
    rtc.add_local_candidate(cand);
    Ok((rtc, sock))
}

/// A publisher peer (sendonly Opus + VP8) registered with `engine`: its index
/// and the offer to send, whichever SFU it talks to.
pub fn publisher_offer(
    engine: &Handle,
    bind: IpAddr,
) -> Result<(usize, SdpOffer, SdpPendingOffer)> {
    let (mut rtc, sock) = new_peer(bind, false)?;
    let mut api = rtc.sdp_api();
    let mut add = |kind, track: &str| {
        api.add_media(
            kind,
            Direction::SendOnly,
            Some("bench".into()),
            Some(track.into()),
            None,
        )
    };
    let audio = add(MediaKind::Audio, "a");
    let video = add(MediaKind::Video, "v");
    let (offer, pending) = api.apply().ok_or_else(|| anyhow!("no offer"))?;
    let idx = engine.add(rtc, sock, Role::Publisher { audio, video })?;
    Ok((idx, offer, pending))
}

/// A simulcast publisher (RTP mode, sendonly Opus + VP8 in `layers`, lowest
/// first) registered with `engine`, receiving too if `receives`: its index
/// and the offer to send.
pub fn simulcast_offer(
    engine: &Handle,
    bind: IpAddr,
    layers: Vec<Layer>,
    receives: bool,
) -> Result<(usize, SdpOffer, SdpPendingOffer)> {
    let (mut rtc, sock) = new_peer(bind, true)?;
    let mut sim = Simulcast::new();
    for l in &layers {
        sim.add_send_layer(SimulcastLayer::new(l.rid));
    }
    let mut api = rtc.sdp_api();
    let stream = Some("bench".to_string());
    let audio = api.add_media(
        MediaKind::Audio,
        Direction::SendOnly,
        stream.clone(),
        Some("a".into()),
        None,
    );
    let video = api.add_media(
        MediaKind::Video,
        Direction::SendOnly,
        stream,
        Some("v".into()),
        (layers.len() > 1).then_some(sim),
    );
    let (offer, pending) = api.apply().ok_or_else(|| anyhow!("no offer"))?;
    let tx = Box::new(SimulcastTx::new(audio, video, layers));
    let idx = engine.add(rtc, sock, Role::Simulcast { tx, receives })?;
    Ok((idx, offer, pending))
}

/// Larger socket buffers so key-frame bursts to 150 sockets are not dropped by us.
pub fn set_bufs(sock: &UdpSocket, bytes: i32) {
    use std::os::fd::AsRawFd;
    for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: setsockopt on a socket we own with a pointer to a live i32.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                &bytes as *const i32 as *const libc::c_void,
                std::mem::size_of::<i32>() as libc::socklen_t,
            );
        }
    }
}

pub(crate) struct Peer {
    /// None in raw-UDP mode.
    pub(crate) rtc: Option<Rtc>,
    pub(crate) raw_seq: u16,
    pub(crate) sock: mio::net::UdpSocket,
    local: SocketAddr,
    pub(crate) role: Role,
    timeout: Instant,
    pub(crate) connected: bool,
    pub(crate) dead: bool,
    /// What each payload type carries (None: not looked up yet).
    pt_kind: [Option<Kind>; 128],
    seen: Seen,
    /// When the datagram being handled reached the socket (monotonic ns).
    arrival_ns: u64,
    rtp_pkts: u64,
    udp_pkts: u64,
    udp_bytes: u64,
    key_requests: u64,
}

/// The media thread's state: every peer, and what the publishers send next.
pub struct Engine {
    poll: Poll,
    rx: mpsc::Receiver<Cmd>,
    pub(crate) peers: Vec<Peer>,
    pub(crate) shape: Shape,
    pub(crate) filler: Filler,
    /// The fan-out (or raw-UDP) publisher.
    pub(crate) publisher: Option<usize>,
    pub(crate) publishing: Option<Publishing>,
    /// The simulcast publishers, their shared clock, and when one is due next.
    pub(crate) simulcast: Vec<usize>,
    pub(crate) clock: Option<Clock>,
    pub(crate) simulcast_wake: Option<Instant>,
    /// The next frame and audio packet number (shared by all publishers).
    pub(crate) frame_no: u32,
    pub(crate) audio_seq: u32,
    pub(crate) force_key: bool,
    honor_key_requests: bool,
    buf: Vec<u8>,
    /// CLOCK_REALTIME − CLOCK_MONOTONIC (kernel stamps → send-time clock).
    realtime_offset: i128,
    /// The publisher's RTP waiting for its pacer (`Shape::pace_factor`).
    pub(crate) paced: std::collections::VecDeque<(SocketAddr, Vec<u8>)>,
    /// When the pacer may send the next packet.
    pub(crate) pace_next: Instant,
}

/// Starts the media thread.
pub fn spawn(shape: Shape) -> Result<(Handle, std::thread::JoinHandle<()>)> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (tx, rx) = mpsc::channel();
    let engine = Engine {
        poll,
        rx,
        peers: Vec::new(),
        shape,
        filler: Filler::new(),
        publisher: None,
        publishing: None,
        simulcast: Vec::new(),
        clock: None,
        simulcast_wake: None,
        frame_no: 0,
        audio_seq: 0,
        force_key: false,
        honor_key_requests: true,
        buf: vec![0u8; 2048],
        realtime_offset: rxstamp::realtime_offset_ns(),
        paced: std::collections::VecDeque::new(),
        pace_next: Instant::now(),
    };
    let jh = std::thread::Builder::new()
        .name("media".into())
        .spawn(move || engine.run())?;
    Ok((Handle { tx, waker }, jh))
}

impl Engine {
    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            while let Ok(c) = self.rx.try_recv() {
                if self.command(c) {
                    return;
                }
            }
            let now = Instant::now();
            self.publish(now);
            self.publish_simulcast(now);
            self.release_paced(now);
            for i in 0..self.peers.len() {
                if !self.peers[i].dead && self.peers[i].timeout <= now {
                    if let Some(rtc) = self.peers[i].rtc.as_mut() {
                        rtc.handle_input(Input::Timeout(now)).ok();
                        self.drain(i);
                    }
                }
            }
            let mut wake = now + Duration::from_millis(50);
            for p in self.peers.iter().filter(|p| !p.dead) {
                wake = wake.min(p.timeout);
            }
            if let Some(p) = &self.publishing {
                wake = wake.min(p.next_video).min(p.next_audio);
            }
            if let Some(w) = self.simulcast_wake {
                wake = wake.min(w);
            }
            if !self.paced.is_empty() {
                wake = wake.min(self.pace_next);
            }
            let wait = wake.saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(wait)) {
                if e.kind() != ErrorKind::Interrupted {
                    eprintln!("media: poll: {e}");
                }
                continue;
            }
            for ev in events.iter() {
                if ev.token() != WAKER {
                    self.read(ev.token().0);
                }
            }
        }
    }

    /// Returns true when the thread should end.
    fn command(&mut self, c: Cmd) -> bool {
        match c {
            Cmd::Add(rtc, sock, role, reply) => {
                let idx = self.peers.len();
                let local = sock.local_addr().expect("bound socket");
                sock.set_nonblocking(true).expect("nonblocking");
                let mut sock = mio::net::UdpSocket::from_std(sock);
                if let Err(e) = rxstamp::enable(&sock) {
                    eprintln!("peer {idx}: no kernel receive timestamps ({e}); latency includes our own queueing");
                }
                self.poll
                    .registry()
                    .register(&mut sock, Token(idx), Interest::READABLE)
                    .expect("register socket");
                let raw = rtc.is_none();
                match role {
                    Role::Publisher { .. } | Role::RawPublisher { .. } => {
                        self.publisher = Some(idx)
                    }
                    Role::Simulcast { .. } => self.simulcast.push(idx),
                    _ => {}
                }
                self.peers.push(Peer {
                    rtc: rtc.map(|r| *r),
                    raw_seq: 0,
                    sock,
                    local,
                    role,
                    timeout: if raw { far_future() } else { Instant::now() },
                    connected: raw,
                    dead: false,
                    pt_kind: [None; 128],
                    seen: Seen::with_capacity(1024, 2048),
                    rtp_pkts: 0,
                    udp_pkts: 0,
                    arrival_ns: 0,
                    udp_bytes: 0,
                    key_requests: 0,
                });
                let _ = reply.send(idx);
            }
            Cmd::With(i, f) => {
                if let Some(rtc) = self.peers.get_mut(i).and_then(|p| p.rtc.as_mut()) {
                    f(rtc);
                    self.drain(i);
                }
            }
            Cmd::Status(reply) => {
                let mut publishers = self.peers.iter().filter(|p| p.role.is_publisher());
                let publisher_connected =
                    publishers.clone().next().is_some() && publishers.all(|p| p.connected);
                let subs = self
                    .subs()
                    .map(|p| SubStatus {
                        connected: p.connected,
                        frames: p.seen.frames.len(),
                        sources: p.seen.sources(),
                    })
                    .collect();
                let _ = reply.send(Status {
                    publisher_connected,
                    frames_sent: self.frame_no,
                    subs,
                });
            }
            Cmd::Mark(reply) => {
                self.honor_key_requests = false;
                if let Some(c) = self.clock {
                    let now = Instant::now();
                    self.frame_no = c.next_number(now, c.video);
                    self.audio_seq = c.next_number(now, c.audio);
                }
                let mut m = Mark {
                    at: Instant::now(),
                    next_frame: self.frame_no,
                    next_audio: self.audio_seq,
                    rtp_pkts: 0,
                    udp_pkts: 0,
                    udp_bytes: 0,
                    key_requests: 0,
                    publishing: Vec::new(),
                };
                for (i, p) in self.peers.iter().enumerate() {
                    if p.role.is_publisher() {
                        m.key_requests += p.key_requests;
                        if p.connected && !p.dead {
                            m.publishing.push(i as u16);
                        }
                    }
                }
                for p in self.subs() {
                    m.rtp_pkts += p.rtp_pkts;
                    m.udp_pkts += p.udp_pkts;
                    m.udp_bytes += p.udp_bytes;
                }
                let _ = reply.send(m);
            }
            Cmd::Finish(reply) => {
                let subs = self
                    .peers
                    .iter_mut()
                    .enumerate()
                    .filter(|(_, p)| p.role.is_sub())
                    .map(|(i, p)| SubSeen {
                        me: i as u16,
                        frames: std::mem::take(&mut p.seen.frames),
                        audio: std::mem::take(&mut p.seen.audio),
                    })
                    .collect();
                let _ = reply.send(Finished { subs });
                return true;
            }
        }
        false
    }

    fn subs(&self) -> impl Iterator<Item = &Peer> {
        self.peers.iter().filter(|p| p.role.is_sub())
    }

    fn read(&mut self, i: usize) {
        loop {
            let peer = &mut self.peers[i];
            let (n, source, arrival) = match rxstamp::recv(&peer.sock, &mut self.buf) {
                Ok((n, source, stamp)) => {
                    let arrival = stamp
                        .map(|s| (s as i128 - self.realtime_offset) as u64)
                        .unwrap_or_else(shape::mono_ns);
                    (n, source, arrival)
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ICMP errors surface here (e.g. relay gone); keep going.
                    if e.kind() != ErrorKind::ConnectionRefused {
                        eprintln!("peer {i}: recv: {e}");
                    }
                    return;
                }
            };
            peer.udp_pkts += 1;
            peer.udp_bytes += n as u64;
            if peer.dead {
                continue;
            }
            peer.arrival_ns = arrival;
            let Some(rtc) = peer.rtc.as_mut() else {
                let key = match &peer.role {
                    Role::RawSink { key } => key.as_ref(),
                    _ => None,
                };
                if receive::on_raw(&mut peer.seen, key, arrival, &mut self.buf[..n]) {
                    peer.rtp_pkts += 1;
                }
                continue;
            };
            let Ok(contents) = self.buf[..n].try_into() else {
                continue;
            };
            let input = Input::Receive(
                Instant::now(),
                Receive {
                    proto: Protocol::Udp,
                    source,
                    destination: peer.local,
                    contents,
                },
            );
            if let Err(e) = rtc.handle_input(input) {
                eprintln!("peer {i}: input: {e}");
            }
            self.drain(i);
        }
    }

    /// Polls one peer until it only has a timeout left.
    pub(crate) fn drain(&mut self, i: usize) {
        // Browsers pace video; audio goes out as soon as it is made.
        let paced_pt = self
            .publishing
            .as_ref()
            .and_then(|p| p.vpt.as_ref())
            .map(|p| *p.pt())
            .filter(|_| self.shape.pace_factor.is_some() && self.publisher == Some(i));
        let peer = &mut self.peers[i];
        let Some(rtc) = peer.rtc.as_mut() else { return };
        loop {
            match rtc.poll_output() {
                Ok(Output::Transmit(t)) => {
                    if paced_pt.is_some_and(|pt| is_rtp(&t.contents) && t.contents[1] & 0x7f == pt)
                    {
                        crate::publish::pace(
                            &mut self.paced,
                            &mut self.pace_next,
                            t.destination,
                            t.contents.to_vec(),
                        );
                        continue;
                    }
                    if let Err(e) = peer.sock.send_to(&t.contents, t.destination) {
                        if e.kind() != ErrorKind::WouldBlock {
                            eprintln!("peer {i}: send: {e}");
                        }
                    }
                }
                Ok(Output::Timeout(t)) => {
                    peer.timeout = t;
                    return;
                }
                Ok(Output::Event(ev)) => match ev {
                    Event::Connected => peer.connected = true,
                    Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                        eprintln!("peer {i}: ICE disconnected");
                        peer.connected = false;
                    }
                    Event::RtpPacket(pkt) => {
                        peer.rtp_pkts += 1;
                        let pt = *pkt.header.payload_type as usize & 127;
                        let kind = *peer.pt_kind[pt].get_or_insert_with(|| {
                            rtc.codec_config()
                                .params()
                                .iter()
                                .find(|p| *p.pt() == *pkt.header.payload_type)
                                .map(|p| match p.spec().codec {
                                    Codec::Opus => Kind::Audio,
                                    Codec::Vp8 => Kind::Video,
                                    _ => Kind::Other,
                                })
                                .unwrap_or(Kind::Other)
                        });
                        let h = &pkt.header;
                        peer.seen.on_media(
                            peer.arrival_ns,
                            kind,
                            *h.ssrc,
                            h.sequence_number,
                            h.timestamp,
                            h.marker,
                            &pkt.payload,
                        );
                    }
                    Event::KeyframeRequest(req) => {
                        peer.key_requests += 1;
                        if self.honor_key_requests {
                            match &mut peer.role {
                                Role::Simulcast { tx, .. } => tx.request_key(req.rid),
                                _ => self.force_key = true,
                            }
                        }
                    }
                    _ => {}
                },
                Err(e) => {
                    eprintln!("peer {i}: {e}");
                    peer.dead = true;
                    peer.connected = false;
                    peer.timeout = far_future();
                    return;
                }
            }
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

/// RTP (not RTCP, STUN or DTLS): version 2 and a payload type outside
/// RTCP's 200-207 (RFC 5761 §4).
fn is_rtp(d: &[u8]) -> bool {
    d.len() >= 12 && d[0] & 0xc0 == 0x80 && !(192..=223).contains(&d[1])
}
