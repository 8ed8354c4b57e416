//! The simulated network the relay core's tests run on: real str0m clients
//! (ICE, DTLS, SRTP) talk to [`Sfu`] over UDP or ICE-TCP with simulated
//! time. No sockets, no sleeping: each test runs in milliseconds of CPU.
//! Used by routing.rs and ice_tcp.rs (`mod net;`); each uses part of it.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conclave_e2ee::founder::FounderToken;
use conclave_proto::{ClientMsg, ParticipantId, RoomId, ServerMsg};
use conclave_relay::metrics::Metrics;
use conclave_relay::sfu::{new_participant_id, Command, SendNow, Sfu, SfuConfig, Transmit, Via};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

pub const RELAY: &str = "10.0.0.1:5000";
/// The relay's ICE-TCP address (its HTTPS port).
pub const RELAY_TCP: &str = "10.0.0.1:443";

/// The founder token a test client shows for the room called `name`, and
/// that room's id: the relay refuses a join whose token does not hash to the
/// room id (conclave_e2ee::founder).
pub fn room_and_token(name: &str) -> (RoomId, String) {
    let mut bytes = [0u8; 32];
    for (b, c) in bytes.iter_mut().zip(name.bytes()) {
        *b = c;
    }
    let token = FounderToken::from_bytes(bytes);
    (
        RoomId::parse(&token.room_id()).unwrap(),
        token.to_base64url(),
    )
}

pub struct Client {
    pub id: ParticipantId,
    /// Where the relay sees it (its source address; `rebind` changes it).
    pub addr: SocketAddr,
    /// Its own address (its ICE candidate); behind a NAT that rebinds, no
    /// longer the one the relay sees.
    pub local: SocketAddr,
    /// How it reaches the relay: UDP, or ICE-TCP as if UDP were blocked.
    pub via: Via,
    pub rtc: Rtc,
    pub signals: UnboundedReceiver<ServerMsg>,
    pub pending: Option<SdpPendingOffer>,
    pub sent: Vec<ServerMsg>,
    pub rtp: Vec<(Mid, u16, Vec<u8>)>,
    /// The transport-wide sequence numbers (TWCC) of received packets that carry one.
    pub twcc: Vec<u16>,
    pub keyframe_requests: usize,
    pub media: Vec<(Mid, MediaKind)>,
    /// (RTP timestamp of a received packet, RTP time of the last sender
    /// report before it).
    pub sender_reports: Vec<(u32, u64)>,
}

pub struct Net {
    pub sfu: Sfu,
    pub now: Instant,
    pub clients: Vec<Client>,
    pub metrics: Arc<Metrics>,
    /// Datagrams sent by the threads of a parallel flush.
    pub sent_by_fanout: Option<Arc<Collect>>,
    /// RTP datagrams from the relay to drop: (destination, n-th RTP datagram to it).
    pub lose: Vec<(SocketAddr, usize)>,
    pub rtp_to: Vec<(SocketAddr, usize)>,
    /// RTP datagrams to the relay to drop: (source, n-th RTP datagram from it).
    pub lose_from: Vec<(SocketAddr, usize)>,
    pub rtp_from: Vec<(SocketAddr, usize)>,
    /// RIDs the next joining publisher sends its video in (simulcast).
    pub next_simulcast: Option<Vec<&'static str>>,
    /// Segmented (GSO) sends seen.
    pub segmented_sends: usize,
    /// A rate-limited link from the relay to one client (congestion tests).
    pub bottleneck: Option<Bottleneck>,
    /// Payload bytes of each simulcast layer's packets in `publish_frame`
    /// (by layer index; none: a few bytes).
    pub frame_sizes: Vec<usize>,
    /// Clients whose network went dead: nothing they send reaches the relay.
    pub cut_off: Vec<usize>,
}

/// The relay's datagrams to `to` leave through a queue drained at `bps`; one
/// that would wait longer than `max_delay` is dropped (a token-bucket
/// filter's latency, as `tc tbf` does).
pub struct Bottleneck {
    pub to: SocketAddr,
    pub bps: u64,
    pub max_delay: Duration,
    /// When the link is free again.
    free_at: Option<Instant>,
    /// (arrival time, datagram) in order.
    queue: VecDeque<(Instant, Vec<u8>)>,
    /// Datagrams dropped because the queue was too long.
    pub dropped: usize,
    /// Also lose every n-th datagram (random loss on the link; 0: none).
    pub lose_every: usize,
    pub lost: usize,
    seen: usize,
}

impl Bottleneck {
    pub fn new(to: SocketAddr, bps: u64, max_delay: Duration) -> Bottleneck {
        Bottleneck {
            to,
            bps,
            max_delay,
            free_at: None,
            queue: VecDeque::new(),
            dropped: 0,
            lose_every: 0,
            lost: 0,
            seen: 0,
        }
    }

    /// Queues a datagram sent `now`; false if the queue is too long.
    fn push(&mut self, now: Instant, datagram: &[u8]) -> bool {
        self.seen += 1;
        if self.lose_every > 0 && self.seen.is_multiple_of(self.lose_every) {
            self.lost += 1;
            return false;
        }
        let start = self.free_at.map_or(now, |f| f.max(now));
        if start.saturating_duration_since(now) > self.max_delay {
            self.dropped += 1;
            return false;
        }
        let wire = (datagram.len() + 28) as u64 * 8;
        let at = start + Duration::from_micros(wire * 1_000_000 / self.bps);
        self.free_at = Some(at);
        self.queue.push_back((at, datagram.to_vec()));
        true
    }
}

/// Stands in for the engine's socket in a parallel flush: keeps every datagram.
#[derive(Default)]
pub struct Collect(pub Mutex<Vec<Transmit>>, pub AtomicUsize);

impl SendNow for Collect {
    fn send_now(&self, transmits: &mut Vec<Transmit>) {
        self.1.fetch_add(transmits.len(), Ordering::Relaxed);
        self.0.lock().unwrap().append(transmits);
    }
}

impl Net {
    /// A relay core with the default forwarding path (CONCLAVE_DIRECT_SEND
    /// chooses it for a whole run of the suite).
    pub fn new(max_participants: usize) -> Net {
        let direct = std::env::var("CONCLAVE_DIRECT_SEND").map_or(true, |v| v != "false");
        Net::new_with(max_participants, direct)
    }

    pub fn new_with(max_participants: usize, direct_send: bool) -> Net {
        str0m::crypto::from_feature_flags().install_process_default();
        let metrics = Arc::new(Metrics::default());
        let sfu = Sfu::new(
            SfuConfig {
                media_addr: RELAY.parse().unwrap(),
                tcp_addr: Some(RELAY_TCP.parse().unwrap()),
                max_rooms: 10,
                max_participants,
                direct_send,
                congestion_control: true,
            },
            metrics.clone(),
        );
        Net {
            sfu,
            now: Instant::now(),
            clients: Vec::new(),
            metrics,
            sent_by_fanout: None,
            lose: Vec::new(),
            rtp_to: Vec::new(),
            lose_from: Vec::new(),
            rtp_from: Vec::new(),
            next_simulcast: None,
            segmented_sends: 0,
            bottleneck: None,
            frame_sizes: Vec::new(),
            cut_off: Vec::new(),
        }
    }

    /// A relay core that releases packets for many peers on `threads` threads.
    pub fn with_fanout(max_participants: usize, threads: usize) -> Net {
        let mut net = Net::new(max_participants);
        let collect = Arc::new(Collect::default());
        net.sfu.set_fanout(threads, collect.clone());
        net.sent_by_fanout = Some(collect);
        net
    }

    /// Adds a client to the room called `room` (showing its founder token);
    /// it publishes audio+video if `publish`, else offers a data channel only.
    pub fn join(&mut self, room: &str, publish: bool) -> usize {
        self.join_via(room, publish, Via::Udp)
    }

    /// [`Net::join`] over `via`: a TCP client has only an active TCP
    /// candidate, so it reaches the relay only through its ICE-TCP one.
    pub fn join_via(&mut self, room: &str, publish: bool, via: Via) -> usize {
        let addr = format!("10.0.1.{}:6000", self.clients.len() + 1);
        self.join_at(room, publish, via, addr.parse().unwrap())
    }

    /// [`Net::join_via`] from `addr`.
    pub fn join_at(&mut self, room: &str, publish: bool, via: Via, addr: SocketAddr) -> usize {
        let n = self.clients.len();
        let mut rtc = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .build(self.now);
        let candidate = match via {
            Via::Udp => Candidate::host(addr, "udp").unwrap(),
            Via::Tcp => Candidate::builder()
                .tcp()
                .host(addr)
                .tcptype(TcpType::Active)
                .build()
                .unwrap(),
        };
        rtc.add_local_candidate(candidate);
        let (tx, rx) = unbounded_channel();
        let id = new_participant_id();
        let (room, founder) = room_and_token(room);
        self.sfu.handle_command(
            self.now,
            Command::Join {
                participant: id.clone(),
                room,
                founder,
                events: tx,
            },
        );
        let simulcast = self.next_simulcast.take().map(|rids| {
            let mut s = Simulcast::new();
            for rid in rids {
                s.add_send_layer(SimulcastLayer::new(rid));
            }
            s
        });
        let mut api = rtc.sdp_api();
        let mut media = Vec::new();
        if publish {
            media.push((
                api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None),
                MediaKind::Audio,
            ));
            media.push((
                api.add_media(MediaKind::Video, Direction::SendOnly, None, None, simulcast),
                MediaKind::Video,
            ));
        } else {
            api.add_channel("sub".into());
        }
        let (offer, pending) = api.apply().unwrap();
        self.sfu.handle_command(
            self.now,
            Command::Signal {
                participant: id.clone(),
                msg: ClientMsg::Offer {
                    sdp: offer.to_sdp_string(),
                },
            },
        );
        self.clients.push(Client {
            id,
            addr,
            local: addr,
            via,
            rtc,
            signals: rx,
            pending: Some(pending),
            sent: Vec::new(),
            rtp: Vec::new(),
            twcc: Vec::new(),
            keyframe_requests: 0,
            media,
            sender_reports: Vec::new(),
        });
        n
    }

    /// Runs signaling and the network until quiet, then advances time by `ms` in 5 ms steps.
    pub fn run(&mut self, ms: u64) {
        let end = self.now + Duration::from_millis(ms);
        loop {
            self.pump();
            if self.now >= end {
                break;
            }
            self.now += Duration::from_millis(5);
            for c in &mut self.clients {
                c.rtc.handle_input(Input::Timeout(self.now)).unwrap();
            }
            self.sfu.handle_timeout(self.now);
        }
    }

    /// Polls client `i` until it only has a timeout left: its datagrams go to
    /// the relay, its RTP packets and key-frame requests are recorded.
    pub fn drain_client(&mut self, i: usize) -> bool {
        let mut moved = false;
        loop {
            let c = &mut self.clients[i];
            match c.rtc.poll_output().unwrap() {
                Output::Transmit(t) => {
                    moved = true;
                    let from = c.addr;
                    if self.cut_off.contains(&i)
                        || lost(&mut self.rtp_from, &self.lose_from, from, &t.contents)
                    {
                        continue;
                    }
                    let c = &self.clients[i];
                    match t.proto {
                        Protocol::Udp => self.sfu.handle_datagram(self.now, c.addr, &t.contents),
                        _ => self.sfu.handle_tcp_frame(self.now, c.addr, &t.contents),
                    };
                    self.sfu.flush_if_due(self.now);
                }
                Output::Event(Event::RtpPacket(p)) => {
                    let mid = c
                        .rtc
                        .direct_api()
                        .stream_rx(&p.header.ssrc)
                        .map(|s| s.mid())
                        .unwrap();
                    c.twcc.extend(p.header.ext_vals.transport_cc);
                    if let Some(sr) = &p.last_sender_info {
                        c.sender_reports
                            .push((p.header.timestamp, sr.rtp_time.numer()));
                    }
                    c.rtp
                        .push((mid, p.header.sequence_number, p.payload.to_vec()));
                }
                Output::Event(Event::KeyframeRequest(_)) => c.keyframe_requests += 1,
                Output::Event(_) => {}
                Output::Timeout(_) => return moved,
            }
        }
    }

    pub fn pump(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.clients.len() {
                // Signaling from the relay.
                while let Ok(msg) = self.clients[i].signals.try_recv() {
                    moved = true;
                    let c = &mut self.clients[i];
                    match &msg {
                        ServerMsg::Answer { sdp } => {
                            let pending = c.pending.take().expect("answer without offer");
                            c.rtc
                                .sdp_api()
                                .accept_answer(pending, SdpAnswer::from_sdp_string(sdp).unwrap())
                                .unwrap();
                        }
                        ServerMsg::Offer { sdp } => {
                            let answer = c
                                .rtc
                                .sdp_api()
                                .accept_offer(SdpOffer::from_sdp_string(sdp).unwrap())
                                .unwrap();
                            let id = c.id.clone();
                            self.sfu.handle_command(
                                self.now,
                                Command::Signal {
                                    participant: id,
                                    msg: ClientMsg::Answer {
                                        sdp: answer.to_sdp_string(),
                                    },
                                },
                            );
                        }
                        _ => {}
                    }
                    self.clients[i].sent.push(msg);
                }
                // Datagrams and events from the client.
                moved |= self.drain_client(i);
            }
            // Datagrams from the relay.
            let mut out = std::mem::take(&mut self.sfu.transmits);
            if let Some(c) = &self.sent_by_fanout {
                out.append(&mut c.0.lock().unwrap());
            }
            // The bottleneck's datagrams whose time has come.
            let due: Vec<(SocketAddr, Vec<u8>)> = match self.bottleneck.as_mut() {
                Some(b) => {
                    let mut due = Vec::new();
                    while b.queue.front().is_some_and(|(at, _)| *at <= self.now) {
                        if let Some((_, d)) = b.queue.pop_front() {
                            due.push((b.to, d));
                        }
                    }
                    due
                }
                None => Vec::new(),
            };
            for (to, datagram) in due {
                moved = true;
                if let Some(i) = self.clients.iter().position(|c| c.addr == to) {
                    self.deliver(i, to, &datagram);
                }
            }
            for t in out {
                moved = true;
                let Some(i) = self
                    .clients
                    .iter()
                    .position(|c| c.addr == t.destination && c.via == t.via)
                else {
                    continue;
                };
                self.segmented_sends += t.segment_size.is_some() as usize;
                // A segmented send arrives as its datagrams, like GSO does.
                for datagram in t.datagrams() {
                    if self.lost(t.destination, datagram) {
                        continue;
                    }
                    if let Some(b) = self.bottleneck.as_mut().filter(|b| b.to == t.destination) {
                        b.push(self.now, datagram);
                        continue;
                    }
                    self.deliver(i, t.destination, datagram);
                }
            }
            if !moved {
                break;
            }
        }
    }

    /// Hands client `i` a datagram from the relay now.
    fn deliver(&mut self, i: usize, to: SocketAddr, datagram: &[u8]) {
        let c = &mut self.clients[i];
        let (proto, from) = match c.via {
            Via::Udp => (Protocol::Udp, RELAY),
            Via::Tcp => (Protocol::Tcp, RELAY_TCP),
        };
        // Sent to the address the relay sees; a NAT hands it to the client's own.
        let _ = to;
        let input = Input::Receive(
            self.now,
            Receive::new(proto, from.parse().unwrap(), c.local, datagram).unwrap(),
        );
        c.rtc.handle_input(input).unwrap();
        // str0m's RTP mode keeps one received packet until polled.
        self.drain_client(i);
    }

    /// The publisher sends `count` one-packet video frames with distinct payloads; returns the payloads.
    pub fn publish_video(&mut self, who: usize, count: u16) -> Vec<Vec<u8>> {
        self.publish_video_packets(who, 0, count, true)
    }

    /// The publisher sends video packets `first..first + count`, each with the
    /// given marker bit (set on a frame's last packet).
    pub fn publish_video_packets(
        &mut self,
        who: usize,
        first: u16,
        count: u16,
        marker: bool,
    ) -> Vec<Vec<u8>> {
        let (mid, pt) = self.video_of(who);
        let mut payloads = Vec::new();
        for i in first..first + count {
            let payload: Vec<u8> = (0..200u16).map(|b| (b as u8) ^ (i as u8) ^ 0x5a).collect();
            let c = &mut self.clients[who];
            let mut api = c.rtc.direct_api();
            let tx = api.stream_tx_by_mid(mid, None).expect("video stream");
            tx.write_rtp(
                RtpWrite::new(
                    pt,
                    SeqNo::from(1000 + i as u64),
                    900_000 + 90 * i as u32,
                    self.now,
                    payload.clone(),
                )
                .marker(marker)
                .nackable(true),
            );
            payloads.push(payload);
            c.rtc.handle_input(Input::Timeout(self.now)).unwrap();
            self.pump();
        }
        payloads
    }

    /// Publisher `who`'s video m-line and its VP8 payload type.
    pub fn video_of(&self, who: usize) -> (Mid, Pt) {
        let c = &self.clients[who];
        let mid = c
            .media
            .iter()
            .find(|(_, k)| *k == MediaKind::Video)
            .expect("a video publisher")
            .0;
        let pt = c
            .rtc
            .codec_config()
            .params()
            .iter()
            .find(|p| p.spec().codec == Codec::Vp8)
            .expect("VP8 negotiated")
            .pt();
        (mid, pt)
    }

    /// A publisher of video in simulcast layers `rids` (lowest first).
    pub fn join_simulcast(&mut self, room: &str, rids: &[&'static str]) -> usize {
        self.next_simulcast = Some(rids.to_vec());
        self.join(room, true)
    }

    /// The publisher sends frame `i` (one packet) on each of `layers`
    /// (RID, width), a key frame if `key`, then 33 ms pass. Each layer has
    /// its own sequence numbers and timestamp offset, like a browser's.
    /// Returns the payloads, by layer.
    pub fn publish_frame(
        &mut self,
        who: usize,
        layers: &[(&str, u16)],
        i: u16,
        key: bool,
    ) -> Vec<(String, Vec<u8>)> {
        let (mid, pt) = self.video_of(who);
        let mut sent = Vec::new();
        for (n, (rid, width)) in layers.iter().enumerate() {
            // VP8 descriptor (S, partition 0), then the frame tag: a key
            // frame's with its size (what E2EE leaves in clear), or a delta's.
            let mut payload = vec![0x10];
            if key {
                let [w0, w1] = width.to_le_bytes();
                let [h0, h1] = (width * 3 / 4).to_le_bytes();
                payload.extend_from_slice(&[0x50, 0x2d, 0x01, 0x9d, 0x01, 0x2a, w0, w1, h0, h1]);
            } else {
                payload.push(0x51);
            }
            payload.extend_from_slice(rid.as_bytes());
            payload.extend_from_slice(&i.to_be_bytes());
            if let Some(size) = self.frame_sizes.get(n) {
                payload.resize((*size).max(payload.len()), 0);
            }
            let c = &mut self.clients[who];
            let mut api = c.rtc.direct_api();
            let tx = api
                .stream_tx_by_mid(mid, Some(Rid::from(*rid)))
                .expect("a simulcast layer");
            let layer_base = 1_000_000 * (n as u32 + 1);
            tx.write_rtp(
                RtpWrite::new(
                    pt,
                    SeqNo::from(10_000 * (n as u64 + 1) + i as u64),
                    layer_base + 3000 * i as u32,
                    self.now,
                    payload.clone(),
                )
                .marker(true)
                .nackable(true),
            );
            c.rtc.handle_input(Input::Timeout(self.now)).unwrap();
            self.pump();
            sent.push((rid.to_string(), payload));
        }
        self.run(33);
        sent
    }

    /// Whether the network loses this datagram to `destination` (see `lose`).
    pub fn lost(&mut self, destination: SocketAddr, b: &[u8]) -> bool {
        lost(&mut self.rtp_to, &self.lose, destination, b)
    }

    /// Client `who`'s NAT gives it a new public address: from now on the
    /// relay sees its datagrams come from `to`, and only what is sent to
    /// `to` reaches it.
    pub fn rebind(&mut self, who: usize, to: SocketAddr) {
        self.clients[who].addr = to;
    }

    pub fn leave(&mut self, who: usize) {
        let id = self.clients[who].id.clone();
        self.sfu
            .handle_command(self.now, Command::Leave { participant: id });
    }
}

/// Every payload arrived once, in the order sent, byte for byte.
pub fn assert_arrived_in_order(c: &Client, sent: &[Vec<u8>]) {
    let got: Vec<&Vec<u8>> = c.rtp.iter().map(|(_, _, p)| p).collect();
    assert_eq!(got.len(), sent.len(), "every packet arrives once");
    assert!(
        got.iter().zip(sent).all(|(g, s)| *g == s),
        "payloads are forwarded in order, byte for byte"
    );
}

/// A counter's value as `/metrics` shows it.
pub fn counter(net: &Net, name: &str) -> u64 {
    net.metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether the network loses datagram `b` of the flow at `addr`: counts the
/// flow's RTP datagrams in `seen`, loses those `lose` names.
fn lost(
    seen: &mut Vec<(SocketAddr, usize)>,
    lose: &[(SocketAddr, usize)],
    addr: SocketAddr,
    b: &[u8],
) -> bool {
    // RTP: version 2 and a payload type outside RTCP's 192..=223.
    let rtp = b.len() > 12 && b[0] >> 6 == 2 && !(192..=223).contains(&b[1]);
    if !rtp {
        return false;
    }
    let n = match seen.iter_mut().find(|(a, _)| *a == addr) {
        Some((_, n)) => {
            *n += 1;
            *n
        }
        None => {
            seen.push((addr, 1));
            1
        }
    };
    lose.contains(&(addr, n))
}
