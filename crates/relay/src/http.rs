//! The HTTPS side of the relay's one TCP port: the web client, `/healthz`,
//! `/metrics`, and the signaling WebSocket at `/r/<room-id>/ws`.
//!
//! Nothing here reads a URL fragment (browsers never send it), logs an
//! address, or keeps anything after a connection ends.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use conclave_proto::{ClientMsg, ErrorCode, RoomId, ServerMsg};
use tokio::sync::mpsc::unbounded_channel;
use tracing::debug;

use crate::engine::Shards;
use crate::insider::SignalingLog;
use crate::metrics::Metrics;
use crate::origin::{Origin, OriginPolicy};
use crate::sfu::{new_participant_id, Command};
use crate::signaling::{Gate, Refusal};
use crate::turn::Turn;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The media engine's shards.
    pub shards: Shards,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Signaling message size limit.
    pub max_message_bytes: usize,
    /// `--insider-view` signaling log, if on.
    pub insider: Option<Arc<SignalingLog>>,
    /// Which web pages may open signaling WebSockets (`--allow-origin`).
    pub origins: Arc<OriginPolicy>,
    /// TURN servers for clients, with the key that mints their credentials.
    pub turn: Option<Arc<Turn>>,
}

/// The relay's HTTP routes.
pub fn router(state: AppState) -> Router {
    let routes = client_routes()
        .route("/r/{room}/ws", get(websocket))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "not found: open / to start a meeting\n",
            )
        });
    with_security_headers(routes, HeaderValue::from_static(RELAY_CSP)).with_state(state)
}

/// The browser client's own routes: the page at `/` and `/r/<room-id>`, and
/// its files at `/assets/<name>` (`conclave_web`). The relay and
/// `conclave open` (which serves the user's own copy on loopback) serve
/// exactly these, GET only.
pub fn client_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/r/{room}", get(index))
        .route("/assets/{name}", get(asset))
}

/// The relay's page policy: scripts, styles, workers and connections only
/// from the relay itself.
const RELAY_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     worker-src 'self' blob:; connect-src 'self'; media-src 'self' blob: mediastream:; \
     img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'";

/// The Content-Security-Policy for the client page when the relay it talks
/// to is somewhere else (`conclave open`): the relay's, with that relay's
/// https and WebSocket origins added to `connect-src`. Everything else,
/// scripts and wasm above all, still comes only from the page's own origin.
pub fn remote_relay_csp(relay: &Origin) -> HeaderValue {
    let csp = RELAY_CSP.replace(
        "connect-src 'self';",
        &format!("connect-src 'self' {relay} {};", relay.websocket()),
    );
    // An `Origin` holds only host and port characters, never `;`, spaces or
    // control bytes, so it cannot add a directive or break the header.
    HeaderValue::from_str(&csp).expect("an Origin is a valid header value")
}

/// Adds the headers every response of `router` carries: no referrer (a
/// link's fragment and path stay in the tab), no MIME sniffing, no framing,
/// no caching, and `csp` ([`remote_relay_csp`], or the relay's own).
pub fn with_security_headers<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    csp: HeaderValue,
) -> Router<S> {
    router.layer(axum::middleware::map_response(move |mut res: Response| {
        let h = res.headers_mut();
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        std::future::ready(res)
    }))
}

fn serve(asset: conclave_web::Asset) -> Response {
    ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
}

async fn index() -> Response {
    serve(conclave_web::INDEX)
}

async fn asset(Path(name): Path<String>) -> Response {
    match conclave_web::asset(&name) {
        Some(a) => serve(a),
        None => (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn websocket(
    ws: WebSocketUpgrade,
    Path(room): Path<String>,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Response {
    // Before anything else: a page from a web site the relay does not know
    // gets no socket at all (crate::origin).
    match crate::origin::check_headers(&state.origins, &headers) {
        Ok(why) => debug!(?why, "signaling origin allowed"),
        Err(refused) => {
            Metrics::add(&state.metrics.signaling_errors, 1);
            debug!("refused a signaling WebSocket from a foreign origin");
            return (StatusCode::FORBIDDEN, format!("{refused}\n")).into_response();
        }
    }
    // The transport limit sits above the protocol limit so that an oversized
    // message gets a clear error reply instead of a dropped connection.
    let hard_limit = state.max_message_bytes.saturating_mul(4);
    ws.max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        // tungstenite reserves 128 KiB per connection by default; signaling
        // messages are small and rare.
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| session(socket, room, state))
}

/// One client's signaling connection, from join to leave.
async fn session(mut socket: WebSocket, room: String, state: AppState) {
    let participant = new_participant_id();
    let tap = Tap {
        log: state.insider.clone(),
        room: room.clone(),
        participant: participant.0.clone(),
    };
    let room = match RoomId::parse(&room) {
        Ok(r) => r,
        Err(e) => {
            Metrics::add(&state.metrics.signaling_errors, 1);
            let msg = error(ErrorCode::InvalidRoomId, format!("invalid room link: {e}"));
            tap.out(&msg);
            let _ = send(&mut socket, &msg).await;
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
    };
    Metrics::add(&state.metrics.connections, 1);
    let shard = state.shards.shard_for_room(&room);
    let (events_tx, mut events) = unbounded_channel();
    let mut gate = Gate::new(state.max_message_bytes, Instant::now());
    let mut joined = false;
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let text = match incoming {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        if refuse(&mut socket, &state, &tap, Gate::binary()).await { break }
                        continue;
                    }
                    Some(Ok(_)) => continue, // ping/pong
                };
                tap.record("in", text.as_str());
                match gate.check(Instant::now(), text.as_str()) {
                    Ok(ClientMsg::Join { founder, .. }) => {
                        joined = true;
                        state.shards.send(shard, Command::Join {
                            participant: participant.clone(),
                            room: room.clone(),
                            founder,
                            events: events_tx.clone(),
                        });
                    }
                    Ok(ClientMsg::Leave) => break,
                    Ok(msg) => {
                        state.shards.send(shard, Command::Signal { participant: participant.clone(), msg });
                    }
                    Err(refusal) => {
                        if refuse(&mut socket, &state, &tap, refusal).await { break }
                    }
                }
            }
            event = events.recv() => {
                let Some(mut msg) = event else { break };
                if let (ServerMsg::Joined { ice_servers, .. }, Some(turn)) = (&mut msg, &state.turn) {
                    // Minted per join, so each member's credential is its own
                    // and expires on its own (crate::turn).
                    ice_servers.push(turn.credentials(SystemTime::now(), rand::random()));
                    Metrics::add(&state.metrics.turn_credentials, 1);
                }
                let fatal = matches!(&msg, ServerMsg::Error { code, .. } if code.is_fatal());
                tap.out(&msg);
                if send(&mut socket, &msg).await.is_err() || fatal {
                    break;
                }
            }
        }
    }
    if joined {
        state.shards.send(shard, Command::Leave { participant });
    }
    // Let a last queued error reach the client before the close.
    while let Ok(msg) = events.try_recv() {
        tap.out(&msg);
        let _ = send(&mut socket, &msg).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(Message::Close(None))).await;
    Metrics::add(&state.metrics.connections, u64::MAX);
}

fn error(code: ErrorCode, message: String) -> ServerMsg {
    ServerMsg::Error { code, message }
}

/// Sends a refusal to this client only; returns whether to close.
async fn refuse(socket: &mut WebSocket, state: &AppState, tap: &Tap, r: Refusal) -> bool {
    Metrics::add(&state.metrics.signaling_errors, 1);
    debug!(code = ?r.code, "refused a signaling message");
    let fatal = r.code.is_fatal();
    let msg = error(r.code, r.message);
    tap.out(&msg);
    send(socket, &msg).await.is_err() || fatal
}

/// One connection's view for `--insider-view` (a no-op when it is off).
struct Tap {
    log: Option<Arc<SignalingLog>>,
    room: String,
    participant: String,
}

impl Tap {
    fn record(&self, dir: &str, text: &str) {
        if let Some(log) = &self.log {
            log.record(dir, &self.room, &self.participant, text);
        }
    }

    fn out(&self, msg: &ServerMsg) {
        if self.log.is_some() {
            self.record("out", &msg.to_text());
        }
    }
}

async fn send(socket: &mut WebSocket, msg: &ServerMsg) -> Result<(), axum::Error> {
    socket.send(Message::Text(msg.to_text().into())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_relay_is_added_to_connect_src_and_nothing_else() {
        let relay = Origin::parse("https://relay.example:8443").unwrap();
        let csp = remote_relay_csp(&relay);
        let csp = csp.to_str().unwrap();
        assert!(
            csp.contains("connect-src 'self' https://relay.example:8443 wss://relay.example:8443;"),
            "{csp}"
        );
        assert_eq!(
            csp.replace(" https://relay.example:8443 wss://relay.example:8443", ""),
            RELAY_CSP
        );
    }
}
