//! Shared by the integration tests of the `conclave` command: runs the built
//! binary (a real relay, `conclave verify`, `conclave open`) and talks to it
//! over real sockets on loopback.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{self, aws_lc_rs, WebPkiSupportedAlgorithms};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, SignatureScheme};

/// The `conclave` binary under test.
pub const CONCLAVE: &str = env!("CARGO_BIN_EXE_conclave");

/// A child process killed when the test ends, pass or fail.
pub struct Running {
    child: Child,
    /// Lines of its standard output after the ones the caller waited for.
    pub lines: mpsc::Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `conclave ARGS` and collects standard output lines until `until`
/// returns true for the lines so far (at most 60 s).
pub fn spawn_until(
    args: &[&str],
    stdin: Option<&str>,
    until: impl Fn(&[String]) -> bool,
) -> (Running, Vec<String>) {
    let mut child = Command::new(CONCLAVE)
        .args(args)
        .env("RUST_LOG", "error")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the conclave binary runs");
    if let Some(text) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(text.as_bytes()).unwrap();
    }
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let running = Running { child, lines: rx };
    let mut seen = Vec::new();
    while !until(&seen) {
        match running.lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => seen.push(line),
            Err(_) => panic!(
                "conclave {args:?} stopped or stalled before printing what the test waits for; \
                 it printed: {seen:#?}"
            ),
        }
    }
    (running, seen)
}

/// A relay started with `conclave serve` on a free loopback port.
pub struct Relay {
    _process: Running,
    /// `https://127.0.0.1:PORT/`, as it printed.
    pub url: String,
    /// Its certificate's SHA-256, `AB:CD:…`, as it printed.
    pub fingerprint: String,
    /// Its HTTPS address.
    pub addr: SocketAddr,
}

impl Relay {
    /// Runs `conclave serve --listen 127.0.0.1:0 --media-threads 1 EXTRA`.
    pub fn start(extra: &[&str]) -> Relay {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--media-threads", "1"];
        args.extend_from_slice(extra);
        let (process, lines) = spawn_until(&args, None, |lines| {
            lines.iter().any(|l| l.trim_start().starts_with("open:"))
                && lines
                    .iter()
                    .any(|l| l.trim_start().starts_with("certificate:"))
        });
        let field = |name: &str| {
            lines
                .iter()
                .find_map(|l| l.trim_start().strip_prefix(name))
                .map(|v| v.trim().to_owned())
                .unwrap()
        };
        let url = field("open:");
        let fingerprint = field("certificate:").rsplit(' ').next().unwrap().to_owned();
        let addr = url
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .parse()
            .unwrap();
        Relay {
            _process: process,
            url,
            fingerprint,
            addr,
        }
    }
}

/// Runs `conclave ARGS` to completion (on a blocking thread, so a server in
/// the test's runtime keeps answering it).
pub async fn conclave(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(CONCLAVE)
            .args(&args)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .output()
            .expect("the conclave binary runs")
    })
    .await
    .unwrap()
}

/// `AB:CD:…`, the way `conclave serve` prints a certificate's SHA-256.
pub fn fingerprint(der: &[u8]) -> String {
    ::aws_lc_rs::digest::digest(&::aws_lc_rs::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// One plain-HTTP request on a fresh connection: status, headers, body.
pub async fn http(method: &str, addr: SocketAddr, path: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, body)
}

/// A TLS client for tests against relays with throw-away certificates: any
/// certificate is accepted (the handshake signature is still checked).
pub fn tls_client_accepting_any_certificate() -> tokio_rustls::TlsConnector {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let verifier = Arc::new(AnyCertificate(provider.signature_verification_algorithms));
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
