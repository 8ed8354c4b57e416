//! The media thread: every str0m peer of the load generator (one publisher,
//! N subscribers) in one single-threaded event loop, one UDP socket each.
//!
//! The relay answers all its peers from one port, so peers on our side are
//! told apart by the local socket a datagram arrives on (not `Rtc::accepts`).
//! Signaling threads hand peers in and run SDP steps on them through [`Handle`];
//! all `Rtc` work happens on this thread.

use crate::rxstamp;
use crate::shape::{self, Filler, FrameAsm, Shape};
use anyhow::{anyhow, Context, Result};
use mio::{Events, Interest, Poll, Token, Waker};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::change::{SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

const WAKER: Token = Token(usize::MAX);

/// What a peer does.
pub enum Role {
    Publisher {
        audio: Mid,
        video: Mid,
    },
    Subscriber,
    /// Raw-UDP mode (the ceiling forwarder): RTP-shaped datagrams without WebRTC.
    RawPublisher {
        dest: SocketAddr,
    },
    /// Raw-UDP sink; with a key, payloads arrive AES-128-GCM sealed (see ceiling).
    RawSink {
        key: Option<aws_lc_rs::aead::LessSafeKey>,
    },
}

impl Role {
    fn is_sub(&self) -> bool {
        matches!(self, Role::Subscriber | Role::RawSink { .. })
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
    pub publisher_connected: bool,
    pub frames_sent: u32,
    /// Per subscriber: ICE+DTLS connected, complete frames received.
    pub subs: Vec<(bool, usize)>,
}

/// Counters at one instant (start or end of the measurement window).
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    pub at: Instant,
    pub next_frame: u32,
    pub next_audio: u32,
    /// Summed over subscribers.
    pub rtp_pkts: u64,
    pub udp_pkts: u64,
    pub udp_bytes: u64,
    pub key_requests: u64,
}

/// What each subscriber saw, as `(number, latency µs)` per complete frame / audio packet.
pub struct SubSeen {
    pub frames: Vec<(u32, u32)>,
    pub audio: Vec<(u32, u32)>,
}

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

struct Peer {
    /// None in raw-UDP mode.
    rtc: Option<Rtc>,
    raw_seq: u16,
    sock: mio::net::UdpSocket,
    local: SocketAddr,
    role: Role,
    timeout: Instant,
    connected: bool,
    dead: bool,
    /// payload type → 0 unknown, 1 audio, 2 video, 3 other
    pt_kind: [u8; 128],
    seen: Seen,
    /// When the datagram being handled reached the socket (monotonic ns).
    arrival_ns: u64,
    rtp_pkts: u64,
    udp_pkts: u64,
    udp_bytes: u64,
    key_requests: u64,
}

struct Publishing {
    vpt: Option<str0m::format::PayloadParams>,
    apt: Option<str0m::format::PayloadParams>,
    next_video: Instant,
    next_audio: Instant,
}

pub struct Engine {
    poll: Poll,
    rx: mpsc::Receiver<Cmd>,
    peers: Vec<Peer>,
    shape: Shape,
    filler: Filler,
    publisher: Option<usize>,
    publishing: Option<Publishing>,
    frame_no: u32,
    audio_seq: u32,
    force_key: bool,
    honor_key_requests: bool,
    buf: Vec<u8>,
    /// CLOCK_REALTIME − CLOCK_MONOTONIC (kernel stamps → send-time clock).
    realtime_offset: i128,
    /// The publisher's RTP waiting for its pacer (`Shape::pace_factor`).
    paced: std::collections::VecDeque<(SocketAddr, Vec<u8>)>,
    /// When the pacer may send the next packet.
    pace_next: Instant,
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
                if let Role::Publisher { .. } | Role::RawPublisher { .. } = role {
                    self.publisher = Some(idx);
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
                    pt_kind: [0; 128],
                    seen: Seen {
                        asm: FrameAsm::default(),
                        frames: Vec::with_capacity(1024),
                        audio: Vec::with_capacity(2048),
                    },
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
                let publisher_connected = self
                    .publisher
                    .map(|i| self.peers[i].connected)
                    .unwrap_or(false);
                let subs = self
                    .subs()
                    .map(|p| (p.connected, p.seen.frames.len()))
                    .collect();
                let _ = reply.send(Status {
                    publisher_connected,
                    frames_sent: self.frame_no,
                    subs,
                });
            }
            Cmd::Mark(reply) => {
                self.honor_key_requests = false;
                let mut m = Mark {
                    at: Instant::now(),
                    next_frame: self.frame_no,
                    next_audio: self.audio_seq,
                    rtp_pkts: 0,
                    udp_pkts: 0,
                    udp_bytes: 0,
                    key_requests: self
                        .publisher
                        .map(|i| self.peers[i].key_requests)
                        .unwrap_or(0),
                };
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
                    .filter(|p| p.role.is_sub())
                    .map(|p| SubSeen {
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

    /// Writes the video frames and audio packets that are due.
    fn publish(&mut self, now: Instant) {
        let Some(pi) = self.publisher else { return };
        if !self.peers[pi].connected {
            return;
        }
        if let Role::RawPublisher { dest } = self.peers[pi].role {
            return self.publish_raw(pi, dest, now);
        }
        let (audio_mid, video_mid) = match self.peers[pi].role {
            Role::Publisher { audio, video } => (audio, video),
            _ => return,
        };
        let Some(rtc) = self.peers[pi].rtc.as_mut() else {
            return;
        };
        if self.publishing.is_none() {
            let find = |rtc: &mut Rtc, mid: Mid, codec: Codec| {
                rtc.writer(mid).and_then(|w| {
                    w.payload_params()
                        .find(|p| p.spec().codec == codec)
                        .cloned()
                })
            };
            let (Some(apt), Some(vpt)) = (
                find(rtc, audio_mid, Codec::Opus),
                find(rtc, video_mid, Codec::Vp8),
            ) else {
                return;
            };
            self.publishing = Some(Publishing {
                vpt: Some(vpt),
                apt: Some(apt),
                next_video: now,
                next_audio: now,
            });
        }
        let period_v = Duration::from_nanos(1_000_000_000 / self.shape.fps as u64);
        let period_a = Duration::from_nanos(1_000_000_000 / self.shape.audio_pps as u64);
        let mut wrote = false;
        let p = self.publishing.as_mut().expect("set above");
        let (Some(vpt), Some(apt)) = (
            p.vpt.as_ref().map(|x| x.pt()),
            p.apt.as_ref().map(|x| x.pt()),
        ) else {
            return;
        };
        while now >= p.next_video {
            let n = self.frame_no;
            let key = self.shape.is_key(n) || std::mem::take(&mut self.force_key);
            let frame = shape::vp8_frame(&self.shape, &self.filler, n, key, shape::mono_ns());
            let rtp_time = MediaTime::new(
                n as u64 * 90_000 / self.shape.fps as u64,
                str0m::media::Frequency::NINETY_KHZ,
            );
            if let Some(w) = rtc.writer(video_mid) {
                if let Err(e) = w.write(vpt, now, rtp_time, frame) {
                    eprintln!("publisher: video write: {e}");
                }
            }
            self.frame_no += 1;
            wrote = true;
            p.next_video += period_v;
            if now.saturating_duration_since(p.next_video) > Duration::from_secs(1) {
                p.next_video = now + period_v;
            }
        }
        while now >= p.next_audio {
            let n = self.audio_seq;
            let pkt = shape::opus_packet(&self.shape, &self.filler, n, shape::mono_ns());
            let rtp_time = MediaTime::new(
                n as u64 * 48_000 / self.shape.audio_pps as u64,
                str0m::media::Frequency::FORTY_EIGHT_KHZ,
            );
            if let Some(w) = rtc.writer(audio_mid) {
                if let Err(e) = w.write(apt, now, rtp_time, pkt) {
                    eprintln!("publisher: audio write: {e}");
                }
            }
            self.audio_seq += 1;
            wrote = true;
            p.next_audio += period_a;
            if now.saturating_duration_since(p.next_audio) > Duration::from_secs(1) {
                p.next_audio = now + period_a;
            }
        }
        if wrote {
            // str0m's pacer holds a write until the next timeout input; give it one now.
            rtc.handle_input(Input::Timeout(now)).ok();
            self.drain(pi);
        }
    }

    /// Sends the publisher's queued RTP at the pacing rate.
    fn release_paced(&mut self, now: Instant) {
        let (Some(factor), Some(pi)) = (self.shape.pace_factor, self.publisher) else {
            return;
        };
        let bytes_per_s = factor * self.shape.video_bps as f64 / 8.0;
        while self.pace_next <= now {
            let Some((to, d)) = self.paced.pop_front() else {
                break;
            };
            if let Err(e) = self.peers[pi].sock.send_to(&d, to) {
                if e.kind() != ErrorKind::WouldBlock {
                    eprintln!("publisher: send: {e}");
                }
            }
            self.pace_next += Duration::from_secs_f64(d.len() as f64 / bytes_per_s);
        }
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
                on_raw(peer, &mut self.buf[..n]);
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
    fn drain(&mut self, i: usize) {
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
                        pace(
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
                        if peer.pt_kind[pt] == 0 {
                            let kind = rtc
                                .codec_config()
                                .params()
                                .iter()
                                .find(|p| *p.pt() == *pkt.header.payload_type)
                                .map(|p| match p.spec().codec {
                                    Codec::Opus => 1,
                                    Codec::Vp8 => 2,
                                    _ => 3,
                                })
                                .unwrap_or(3);
                            peer.pt_kind[pt] = kind;
                        }
                        let h = &pkt.header;
                        let kind = peer.pt_kind[pt];
                        on_media(
                            &mut peer.seen,
                            peer.arrival_ns,
                            kind,
                            h.sequence_number,
                            h.timestamp,
                            h.marker,
                            &pkt.payload,
                        );
                    }
                    Event::KeyframeRequest(_) => {
                        peer.key_requests += 1;
                        if self.honor_key_requests {
                            self.force_key = true;
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

/// Counts one media packet at a subscriber: `kind` 1 audio, 2 video.
/// What a subscriber has received.
struct Seen {
    asm: FrameAsm,
    frames: Vec<(u32, u32)>,
    audio: Vec<(u32, u32)>,
}

/// Queues a datagram for the publisher's pacer; a queue that was empty starts
/// now (no credit for idle time, or a frame would leave in one burst).
fn pace(
    queue: &mut std::collections::VecDeque<(SocketAddr, Vec<u8>)>,
    next: &mut Instant,
    to: SocketAddr,
    d: Vec<u8>,
) {
    if queue.is_empty() {
        *next = (*next).max(Instant::now());
    }
    queue.push_back((to, d));
}

/// RTP (not RTCP, STUN or DTLS): version 2 and a payload type outside
/// RTCP's 200-207 (RFC 5761 §4).
fn is_rtp(d: &[u8]) -> bool {
    d.len() >= 12 && d[0] & 0xc0 == 0x80 && !(192..=223).contains(&d[1])
}

/// One received RTP packet; `arrival` is when it reached our socket (monotonic ns).
fn on_media(
    peer: &mut Seen,
    arrival: u64,
    kind: u8,
    seq: u16,
    ts: u32,
    marker: bool,
    payload: &[u8],
) {
    match kind {
        2 => {
            if let Some((sent, n)) = peer.asm.push(seq, ts, marker, payload) {
                let lat = arrival.saturating_sub(sent) / 1000;
                peer.frames.push((n, lat.min(u32::MAX as u64) as u32));
            }
        }
        1 => {
            if let Some((sent, n)) = shape::parse_opus(payload) {
                let lat = arrival.saturating_sub(sent) / 1000;
                peer.audio.push((n, lat.min(u32::MAX as u64) as u32));
            }
        }
        _ => {}
    }
}

pub const RAW_PT_VIDEO: u8 = 96;
pub const RAW_PT_AUDIO: u8 = 111;
/// Payload bytes per raw video datagram (after the 12-byte RTP header), close
/// to what str0m's packetizer makes.
const RAW_CHUNK: usize = 1150;

/// A raw-UDP datagram at a sink: plain RTP header, payload maybe sealed.
fn on_raw(peer: &mut Peer, d: &mut [u8]) {
    if d.len() < 12 {
        return;
    }
    let pt = d[1] & 0x7f;
    let marker = d[1] & 0x80 != 0;
    let seq = u16::from_be_bytes([d[2], d[3]]);
    let ts = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
    let (hdr, body) = d.split_at_mut(12);
    let payload: &[u8] = match &peer.role {
        Role::RawSink { key: Some(key) } => {
            let nonce = crate::gcm_nonce(hdr);
            let aad = aws_lc_rs::aead::Aad::from(&*hdr);
            match key.open_in_place(nonce, aad, body) {
                Ok(p) => p,
                Err(_) => return,
            }
        }
        _ => body,
    };
    peer.rtp_pkts += 1;
    let kind = match pt {
        RAW_PT_VIDEO => 2,
        RAW_PT_AUDIO => 1,
        _ => 0,
    };
    on_media(
        &mut peer.seen,
        peer.arrival_ns,
        kind,
        seq,
        ts,
        marker,
        payload,
    );
}

fn rtp_header(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[0] = 0x80;
    h[1] = pt | if marker { 0x80 } else { 0 };
    h[2..4].copy_from_slice(&seq.to_be_bytes());
    h[4..8].copy_from_slice(&ts.to_be_bytes());
    h[8..12].copy_from_slice(&ssrc.to_be_bytes());
    h
}

impl Engine {
    /// Raw-UDP publisher: the same frames, packetized here (VP8 descriptor with S
    /// on the first packet, marker on the last) and sent straight to the ceiling.
    fn publish_raw(&mut self, pi: usize, dest: SocketAddr, now: Instant) {
        let p = self.publishing.get_or_insert(Publishing {
            vpt: None,
            apt: None,
            next_video: now,
            next_audio: now,
        });
        let period_v = Duration::from_nanos(1_000_000_000 / self.shape.fps as u64);
        let period_a = Duration::from_nanos(1_000_000_000 / self.shape.audio_pps as u64);
        let peer = &mut self.peers[pi];
        let mut dgram = Vec::with_capacity(1500);
        while now >= p.next_video {
            let n = self.frame_no;
            let key = self.shape.is_key(n);
            let frame = shape::vp8_frame(&self.shape, &self.filler, n, key, shape::mono_ns());
            let ts = n.wrapping_mul(90_000 / self.shape.fps);
            let chunks: Vec<&[u8]> = frame.chunks(RAW_CHUNK - 1).collect();
            for (k, c) in chunks.iter().enumerate() {
                dgram.clear();
                dgram.extend_from_slice(&rtp_header(
                    RAW_PT_VIDEO,
                    k + 1 == chunks.len(),
                    peer.raw_seq,
                    ts,
                    0x1111,
                ));
                dgram.push(if k == 0 { 0x10 } else { 0x00 });
                dgram.extend_from_slice(c);
                peer.raw_seq = peer.raw_seq.wrapping_add(1);
                if self.shape.pace_factor.is_some() {
                    pace(&mut self.paced, &mut self.pace_next, dest, dgram.clone());
                } else {
                    let _ = peer.sock.send_to(&dgram, dest);
                }
            }
            self.frame_no += 1;
            p.next_video += period_v;
            if now.saturating_duration_since(p.next_video) > Duration::from_secs(1) {
                p.next_video = now + period_v;
            }
        }
        while now >= p.next_audio {
            let n = self.audio_seq;
            let pkt = shape::opus_packet(&self.shape, &self.filler, n, shape::mono_ns());
            dgram.clear();
            // Audio has its own SSRC and sequence space; n as seq is enough here.
            dgram.extend_from_slice(&rtp_header(
                RAW_PT_AUDIO,
                false,
                n as u16,
                n.wrapping_mul(960),
                0x2222,
            ));
            dgram.extend_from_slice(&pkt);
            let _ = peer.sock.send_to(&dgram, dest);
            self.audio_seq += 1;
            p.next_audio += period_a;
            if now.saturating_duration_since(p.next_audio) > Duration::from_secs(1) {
                p.next_audio = now + period_a;
            }
        }
    }
}
