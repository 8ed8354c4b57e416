//! `conclave open LINK` (issue 10, "bring your own client"): the local
//! server serves this build's page and assets byte for byte, on loopback
//! only, GET only, with the relay's security headers and a
//! Content-Security-Policy that lets the page reach the link's relay.

mod common;

use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use common::{http, spawn_until, Running};
use conclave_e2ee::{RoomLink, RoomSecret};
use hyper::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY};
use hyper::StatusCode;

/// Starts `conclave open` for a fresh meeting on `relay`; returns the
/// process, the local URL it printed and the link's secret.
fn open(relay: &str, via_stdin: bool) -> (Running, String, RoomSecret) {
    let secret = RoomSecret::generate();
    let link = RoomLink::new(relay, secret.clone()).unwrap().to_url();
    let (args, stdin) = if via_stdin {
        (
            vec!["open", "-", "--no-browser"],
            Some(format!("{}\n", link.as_str())),
        )
    } else {
        (vec!["open", link.as_str(), "--no-browser"], None)
    };
    let (process, lines) = spawn_until(&args, stdin.as_deref(), |lines| {
        lines.iter().any(|l| l.trim_start().starts_with("http://"))
    });
    let url = lines
        .iter()
        .find(|l| l.trim_start().starts_with("http://"))
        .unwrap()
        .trim()
        .to_owned();
    (process, url, secret)
}

fn local_addr(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_embedded_client_is_served_byte_for_byte_on_loopback() {
    let (_process, url, secret) = open("https://relay.example:8443", false);
    let addr = local_addr(&url);
    assert!(addr.ip().is_loopback(), "{url}");
    let fragment = url.split_once('#').unwrap().1;
    assert!(
        fragment.starts_with("relay=https%3A%2F%2Frelay.example%3A8443&"),
        "{fragment}"
    );
    assert!(fragment.contains(&format!("&r={}", secret.room_id())));
    assert!(fragment.contains(&format!("&s={}", secret.to_base64url().as_str())));

    let mut files = vec![
        ("/".to_owned(), conclave_web::INDEX),
        (format!("/r/{}", secret.room_id()), conclave_web::INDEX),
    ];
    for name in conclave_web::ASSET_NAMES {
        files.push((
            format!("/assets/{name}"),
            conclave_web::asset(name).unwrap(),
        ));
    }
    for (path, want) in files {
        let (status, headers, body) = http("GET", addr, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(body == want.body, "{path} is not this build's copy");
        assert_eq!(headers[CONTENT_TYPE], want.content_type, "{path}");
        assert_eq!(headers[REFERRER_POLICY], "no-referrer", "{path}");
        let csp = headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("connect-src 'self' https://relay.example:8443 wss://relay.example:8443;")
                && csp.contains("script-src 'self' 'wasm-unsafe-eval';"),
            "{path}: {csp}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_gets_of_the_clients_files_are_answered() {
    let (_process, url, _) = open("https://relay.example", false);
    let addr = local_addr(&url);
    for method in ["POST", "PUT", "DELETE"] {
        let (status, _, _) = http(method, addr, "/").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} /");
        let (status, _, _) = http(method, addr, "/assets/app.js").await;
        assert_eq!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} /assets/app.js"
        );
    }
    // Nothing of the relay but the page: no signaling, no metrics.
    for path in [
        "/healthz",
        "/metrics",
        "/r/AAAAAAAAAAAAAAAAAAAAAA/ws",
        "/assets/../Cargo.toml",
    ] {
        let (status, headers, _) = http("GET", addr, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(headers[REFERRER_POLICY], "no-referrer", "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn it_cannot_be_reached_from_other_machines() {
    let (_process, url, _) = open("https://relay.example", false);
    let port = local_addr(&url).port();
    // This machine's address on its default route, if it has one: a socket
    // "connected" to a documentation address learns it without sending.
    let outward = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified());
    let Some(ip) = outward else {
        eprintln!("no non-loopback address on this machine: only the printed address is checked");
        return;
    };
    let reached = TcpStream::connect_timeout(&SocketAddr::new(ip, port), Duration::from_secs(2));
    assert!(reached.is_err(), "the page server answered on {ip}:{port}");
    assert!(matches!(local_addr(&url).ip(), IpAddr::V4(v4) if v4.is_loopback()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_link_can_come_from_standard_input() {
    let (_process, url, secret) = open("https://relay.example", true);
    assert!(
        url.contains(&format!("&s={}", secret.to_base64url().as_str())),
        "{url}"
    );
    let (status, _, body) = http("GET", local_addr(&url), "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == conclave_web::INDEX.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_link_is_refused_without_echoing_it() {
    let secret = RoomSecret::generate();
    let other = RoomSecret::generate();
    // The room id of one secret with another secret: an edited link.
    let link = format!(
        "https://relay.example/r/{}#{}",
        other.room_id(),
        secret.to_base64url().as_str()
    );
    let out = common::conclave(&["open", &link, "--no-browser"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a meeting link"), "{stderr}");
    assert!(!stderr.contains(secret.to_base64url().as_str()), "{stderr}");
}
