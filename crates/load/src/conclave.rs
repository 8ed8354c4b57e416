//! Signaling against Conclave's relay: one WebSocket per peer at
//! `wss://HOST/r/<room>/ws` (crates/proto). The relay's certificate is
//! self-signed, so this test tool skips certificate checks: it only ever
//! talks to a relay on loopback or inside the benchmark's network namespace.

use crate::engine::{new_peer, publisher_offer, simulcast_offer, Handle, Role};
use crate::scenario::sent_video_mids;
use crate::shape::Layer;
use anyhow::{anyhow, bail, Context, Result};
use conclave_e2ee::founder::FounderToken;
use conclave_proto::{ClientMsg, ServerMsg, PROTOCOL_VERSION};
use std::net::{IpAddr, TcpStream};
use std::sync::Arc;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, MediaKind};
use tungstenite::{Message, WebSocket};

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

pub struct Conclave {
    /// `host:port` of the relay.
    pub addr: String,
    /// The room id: the one `founder` opens.
    pub room: String,
    /// The founder token every join shows (base64url); the relay refuses a
    /// join whose token does not hash to the room id.
    pub founder: String,
}

impl Conclave {
    /// Parses `https://HOST:PORT/` (the relay's `open:` line); the peers join
    /// the room `founder` opens.
    pub fn new(url: &str, founder: FounderToken) -> Result<Self> {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| anyhow!("relay URL must start with https://: {url}"))?;
        let addr = rest.split('/').next().unwrap_or_default().to_string();
        Ok(Conclave {
            addr,
            room: founder.room_id(),
            founder: founder.to_base64url(),
        })
    }

    fn connect(&self) -> Result<WebSocket<Tls>> {
        let tcp =
            TcpStream::connect(&self.addr).with_context(|| format!("connect {}", self.addr))?;
        tcp.set_nodelay(true).ok();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth();
        let host = self
            .addr
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(&self.addr);
        let name = rustls::pki_types::ServerName::try_from(host.to_string())?;
        let conn = rustls::ClientConnection::new(Arc::new(config), name)?;
        let tls = rustls::StreamOwned::new(conn, tcp);
        let url = format!("wss://{}/r/{}/ws", self.addr, self.room);
        let (ws, _) =
            tungstenite::client(url.as_str(), tls).map_err(|e| anyhow!("websocket {url}: {e}"))?;
        Ok(ws)
    }

    /// Joins as the publisher (sendonly Opus + VP8). Returns once the relay answered;
    /// a thread keeps the signaling open.
    pub fn publish(&self, engine: &Handle, bind: IpAddr) -> Result<()> {
        let (idx, offer, pending) = publisher_offer(engine, bind)?;
        self.session(engine.clone(), idx, offer, pending, "publisher", None)
    }

    /// Joins as a publisher of audio and video in simulcast `layers` (the
    /// webinar's host), receiving nothing.
    pub fn publish_simulcast(
        &self,
        engine: &Handle,
        bind: IpAddr,
        layers: Vec<Layer>,
    ) -> Result<()> {
        let (idx, offer, pending) = simulcast_offer(engine, bind, layers, false)?;
        self.session(engine.clone(), idx, offer, pending, "publisher", None)
    }

    /// Joins as meeting participant `n`: publishes audio and video in
    /// simulcast `layers` and receives everyone else's tracks as the relay
    /// offers them, asking for `width` on each video track (as the web
    /// client does: one width for all).
    pub fn participate(
        &self,
        engine: &Handle,
        bind: IpAddr,
        n: usize,
        layers: Vec<Layer>,
        width: Option<u16>,
    ) -> Result<()> {
        let (idx, offer, pending) = simulcast_offer(engine, bind, layers, true)?;
        let who = format!("participant {n}");
        self.session(engine.clone(), idx, offer, pending, &who, width)
    }

    /// Joins as a receive-only subscriber, like a viewer without camera or
    /// microphone: its offer holds one recvonly audio m-line (no data channel,
    /// whose SCTP would cost the relay work no browser client asks for).
    /// With `width`, it asks the relay for video no wider (`VideoWidth`).
    pub fn subscribe(
        &self,
        engine: &Handle,
        bind: IpAddr,
        n: usize,
        width: Option<u16>,
    ) -> Result<()> {
        let (mut rtc, sock) = new_peer(bind, true)?;
        let mut api = rtc.sdp_api();
        api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        let (offer, pending) = api.apply().ok_or_else(|| anyhow!("no offer"))?;
        let idx = engine.add(rtc, sock, Role::Subscriber)?;
        self.session(
            engine.clone(),
            idx,
            offer,
            pending,
            &format!("subscriber {n}"),
            width,
        )
    }

    fn session(
        &self,
        engine: Handle,
        idx: usize,
        offer: SdpOffer,
        pending: str0m::change::SdpPendingOffer,
        who: &str,
        width: Option<u16>,
    ) -> Result<()> {
        let mut ws = self.connect()?;
        send(
            &mut ws,
            &ClientMsg::Join {
                protocol: PROTOCOL_VERSION,
                founder: self.founder.clone(),
            },
        )?;
        match recv(&mut ws)? {
            ServerMsg::Joined { .. } => {}
            other => bail!("{who}: expected joined, got {other:?}"),
        }
        send(
            &mut ws,
            &ClientMsg::Offer {
                sdp: offer.to_sdp_string(),
            },
        )?;
        loop {
            match recv(&mut ws)? {
                ServerMsg::Answer { sdp } => {
                    let answer = SdpAnswer::from_sdp_string(&sdp).context("relay answer")?;
                    engine.with(idx, move |rtc| rtc.sdp_api().accept_answer(pending, answer))??;
                    break;
                }
                ServerMsg::Error { code, message } => {
                    bail!("{who}: relay refused: {code:?}: {message}")
                }
                _ => {}
            }
        }
        let who = who.to_string();
        std::thread::Builder::new()
            .name(format!("ws {who}"))
            .spawn(move || {
                if let Err(e) = follow(&mut ws, &engine, idx, width) {
                    eprintln!("{who}: signaling ended: {e:#}");
                }
            })?;
        Ok(())
    }
}

/// Answers the relay's renegotiation offers until the socket closes; with
/// `width`, tells the relay that width for every video track it sends.
fn follow(ws: &mut WebSocket<Tls>, engine: &Handle, idx: usize, width: Option<u16>) -> Result<()> {
    let mut told: Vec<String> = Vec::new();
    loop {
        match recv(ws)? {
            ServerMsg::Offer { sdp } => {
                let offer = SdpOffer::from_sdp_string(&sdp).context("relay offer")?;
                let answer = engine.with(idx, move |rtc| rtc.sdp_api().accept_offer(offer))??;
                send(
                    ws,
                    &ClientMsg::Answer {
                        sdp: answer.to_sdp_string(),
                    },
                )?;
                let Some(width) = width else { continue };
                for mid in sent_video_mids(&sdp) {
                    if told.contains(&mid) {
                        continue;
                    }
                    send(
                        ws,
                        &ClientMsg::VideoWidth {
                            mid: mid.clone(),
                            width,
                        },
                    )?;
                    told.push(mid);
                }
            }
            ServerMsg::Error { code, message } => eprintln!("relay error: {code:?}: {message}"),
            _ => {}
        }
    }
}

fn send(ws: &mut WebSocket<Tls>, m: &ClientMsg) -> Result<()> {
    let text = serde_json::to_string(m)?;
    ws.send(Message::text(text)).context("websocket send")
}

fn recv(ws: &mut WebSocket<Tls>) -> Result<ServerMsg> {
    loop {
        match ws.read().context("websocket read")? {
            Message::Text(t) => {
                return serde_json::from_str(t.as_str())
                    .with_context(|| format!("bad server message: {}", t.as_str()))
            }
            Message::Close(c) => bail!("relay closed the signaling socket: {c:?}"),
            _ => {}
        }
    }
}

/// Accepts any certificate: the relay under test is ours, on loopback or in the
/// benchmark namespace, with a self-signed certificate. Never use outside tests.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
