//! The same load against Janus VideoRoom (Debian's `janus` 1.1.2), through its
//! plain-HTTP API: create a session, attach `janus.plugin.videoroom` per peer,
//! the publisher joins and publishes its offer, each subscriber joins with
//! `streams:[{feed}]`, gets Janus's offer and replies `start` with its answer.
//! Asynchronous events arrive on one long-poll (`GET /janus/<session>`) and
//! are routed to the waiting handle by `sender`.

use crate::engine::{new_peer, publisher_offer, Handle, Role};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use str0m::change::{SdpAnswer, SdpOffer};

pub struct Janus {
    addr: String,
    base: String,
    room: u64,
    session: u64,
    feed: Mutex<Option<u64>>,
    handles: Arc<Mutex<HashMap<u64, mpsc::Sender<Value>>>>,
    tx: AtomicU64,
}

impl Janus {
    /// `url` like `http://127.0.1.1:8088/janus`.
    pub fn new(url: &str, room: u64) -> Result<Arc<Self>> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("Janus URL must start with http://: {url}"))?;
        let (addr, path) = rest.split_once('/').unwrap_or((rest, "janus"));
        let mut j = Janus {
            addr: addr.to_string(),
            base: format!("/{}", path.trim_end_matches('/')),
            room,
            session: 0,
            feed: Mutex::new(None),
            handles: Arc::default(),
            tx: AtomicU64::new(1),
        };
        let r = j.post(&j.base.clone(), json!({"janus": "create"}))?;
        j.session = r["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("create: {r}"))?;
        let j = Arc::new(j);
        let poller = j.clone();
        std::thread::Builder::new()
            .name("janus poll".into())
            .spawn(move || loop {
                if let Err(e) = poller.poll_events() {
                    eprintln!("janus: long-poll: {e:#}");
                    std::thread::sleep(Duration::from_millis(200));
                }
            })?;
        Ok(j)
    }

    fn poll_events(&self) -> Result<()> {
        let path = format!("{}/{}?maxev=20", self.base, self.session);
        let body = http(&self.addr, "GET", &path, None)?;
        let v: Value = serde_json::from_slice(&body)?;
        let evs = match v {
            Value::Array(a) => a,
            other => vec![other],
        };
        for ev in evs {
            if ev["janus"] == "keepalive" {
                continue;
            }
            if let Some(sender) = ev["sender"].as_u64() {
                if let Some(tx) = self.handles.lock().expect("lock").get(&sender) {
                    let _ = tx.send(ev);
                }
            }
        }
        Ok(())
    }

    fn post(&self, path: &str, mut body: Value) -> Result<Value> {
        body["transaction"] = json!(format!("t{}", self.tx.fetch_add(1, Ordering::Relaxed)));
        let raw = http(&self.addr, "POST", path, Some(&serde_json::to_vec(&body)?))?;
        let v: Value = serde_json::from_slice(&raw)
            .with_context(|| String::from_utf8_lossy(&raw).to_string())?;
        if v["janus"] == "error" {
            bail!("janus error: {}", v["error"]);
        }
        Ok(v)
    }

    fn attach(&self) -> Result<(u64, mpsc::Receiver<Value>)> {
        let r = self.post(
            &format!("{}/{}", self.base, self.session),
            json!({"janus": "attach", "plugin": "janus.plugin.videoroom"}),
        )?;
        let h = r["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("attach: {r}"))?;
        let (tx, rx) = mpsc::channel();
        self.handles.lock().expect("lock").insert(h, tx);
        Ok((h, rx))
    }

    fn message(&self, h: u64, body: Value, jsep: Option<Value>) -> Result<Value> {
        let mut m = json!({"janus": "message", "body": body});
        if let Some(j) = jsep {
            m["jsep"] = j;
        }
        self.post(&format!("{}/{}/{}", self.base, self.session, h), m)
    }

    /// Waits for this handle's next plugin event (skipping webrtcup, media, …).
    fn event(rx: &mpsc::Receiver<Value>) -> Result<Value> {
        loop {
            let ev = rx
                .recv_timeout(Duration::from_secs(20))
                .context("no event from Janus in 20 s")?;
            if ev["janus"] == "event" {
                let data = &ev["plugindata"]["data"];
                if data["error"].is_string() {
                    bail!("videoroom error: {}", data["error"]);
                }
                return Ok(ev);
            }
        }
    }

    pub fn publish(&self, engine: &Handle, bind: IpAddr) -> Result<()> {
        let (idx, offer, pending) = publisher_offer(engine, bind)?;
        let (h, rx) = self.attach()?;
        self.message(
            h,
            json!({"request": "join", "ptype": "publisher", "room": self.room, "display": "bench"}),
            None,
        )?;
        let ev = Self::event(&rx)?;
        let feed = ev["plugindata"]["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("join: {ev}"))?;
        *self.feed.lock().expect("lock") = Some(feed);
        let jsep = json!({"type": "offer", "sdp": offer.to_sdp_string(), "trickle": false});
        self.message(
            h,
            json!({"request": "publish", "audio": true, "video": true}),
            Some(jsep),
        )?;
        let ev = Self::event(&rx)?;
        let sdp = ev["jsep"]["sdp"]
            .as_str()
            .ok_or_else(|| anyhow!("publish: no answer in {ev}"))?;
        let answer = SdpAnswer::from_sdp_string(sdp).context("Janus answer")?;
        engine.with(idx, move |rtc| rtc.sdp_api().accept_answer(pending, answer))??;
        Ok(())
    }

    pub fn subscribe(&self, engine: &Handle, bind: IpAddr, _n: usize) -> Result<()> {
        let feed = self
            .feed
            .lock()
            .expect("lock")
            .ok_or_else(|| anyhow!("no publisher yet"))?;
        let (rtc, sock) = new_peer(bind, true)?;
        let idx = engine.add(rtc, sock, Role::Subscriber)?;
        let (h, rx) = self.attach()?;
        self.message(
            h,
            json!({"request": "join", "ptype": "subscriber", "room": self.room, "streams": [{"feed": feed}]}),
            None,
        )?;
        let ev = Self::event(&rx)?;
        let sdp = ev["jsep"]["sdp"]
            .as_str()
            .ok_or_else(|| anyhow!("subscribe: no offer in {ev}"))?;
        let offer = SdpOffer::from_sdp_string(sdp).context("Janus offer")?;
        let answer = engine.with(idx, move |rtc| rtc.sdp_api().accept_offer(offer))??;
        let jsep = json!({"type": "answer", "sdp": answer.to_sdp_string(), "trickle": false});
        self.message(h, json!({"request": "start"}), Some(jsep))?;
        Self::event(&rx)?;
        Ok(())
    }
}

/// One HTTP/1.1 request with `Connection: close`; returns the body.
fn http(addr: &str, method: &str, path: &str, body: Option<&[u8]>) -> Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("bad HTTP response from {addr}"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    if !head.starts_with("http/1.1 200") && !head.starts_with("http/1.0 200") {
        bail!(
            "{method} {path}: {}",
            head.lines().next().unwrap_or_default()
        );
    }
    let body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        return Ok(dechunk(&body));
    }
    Ok(body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
    out
}
