//! The relay's signaling WebSocket and the page's origin (issue 10): a page
//! from a foreign web site gets 403; the relay's own page, a loopback page
//! from `conclave open`, an origin the operator allowed and a native client
//! (no Origin) get the upgrade (101). Only the handshake is tested, not
//! joining a room.

mod common;

use common::{tls_client_accepting_any_certificate, Relay};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::Error;

/// Opens `/r/<room>/ws` with `origin` and returns the handshake's status
/// and, for a refusal, the body.
async fn handshake(relay: &Relay, origin: Option<&str>) -> (StatusCode, String) {
    let room = conclave_e2ee::RoomSecret::generate().room_id();
    let tcp = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
    let name = tokio_rustls::rustls::pki_types::ServerName::IpAddress(relay.addr.ip().into());
    let tls = tls_client_accepting_any_certificate()
        .connect(name, tcp)
        .await
        .unwrap();
    let mut request = format!("wss://{}/r/{room}/ws", relay.addr)
        .into_client_request()
        .unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    match tokio_tungstenite::client_async(request, tls).await {
        Ok((mut ws, response)) => {
            let _ = ws.close(None).await;
            (response.status(), String::new())
        }
        Err(Error::Http(response)) => (
            response.status(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        ),
        Err(e) => panic!("the handshake failed without an HTTP answer: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_pages_get_403_and_own_loopback_listed_and_native_clients_101() {
    let relay = Relay::start(&["--allow-origin", "https://meet.example.org"]);
    let own = format!("https://{}", relay.addr);
    for origin in [
        None,
        Some(own.as_str()),
        Some("http://127.0.0.1:40123"),
        Some("http://localhost:5173"),
        Some("http://[::1]:40123"),
        Some("https://meet.example.org"),
    ] {
        let (status, body) = handshake(&relay, origin).await;
        assert_eq!(
            status,
            StatusCode::SWITCHING_PROTOCOLS,
            "{origin:?}: {body}"
        );
    }
    for origin in [
        "https://evil.example",
        "null",
        "https://meet.example.org.evil.example",
        "http://127.0.0.1.evil.example",
    ] {
        let (status, body) = handshake(&relay, Some(origin)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin}");
        assert!(
            body.starts_with("refused:") && body.contains(origin),
            "{origin}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_allow_origin_only_the_built_in_origins_pass() {
    let relay = Relay::start(&[]);
    let (status, _) = handshake(&relay, Some("https://meet.example.org")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = handshake(&relay, Some("http://127.0.0.1:40123")).await;
    assert_eq!(status, StatusCode::SWITCHING_PROTOCOLS);
}
