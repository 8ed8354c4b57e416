//! `conclave verify https://RELAY[:PORT]`: does a relay serve the same web
//! client as this build?
//!
//! The browser client keeps the meeting secret in the link's fragment and
//! every media key in the page, but the page, its scripts and its wasm come
//! from the relay — the party Conclave does not trust (docs/design.md §1). A
//! dishonest operator could serve a page that reads the fragment and sends
//! it home. This command fetches the page (at `/` and at a room path) and
//! every file the relay serves under `/assets/` (`conclave_web::ASSET_NAMES`)
//! and compares each, byte for byte, with the copy compiled into this binary.
//!
//! What it proves: what the relay answered *this* request, now. A relay can
//! answer other people, other times or other user agents differently; to not
//! depend on it at all, use `conclave open LINK` (your own copy of the page).
//!
//! Certificates: the relay's name must have a certificate from an authority
//! in Mozilla's list (built in, `webpki-roots`), or, for a relay with a
//! self-signed certificate, `--fingerprint` pins its SHA-256 exactly as
//! `conclave serve` prints it. `--insecure` checks nothing and is for tests.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use aws_lc_rs::digest::{digest, SHA256};
use conclave_relay::origin::Origin;
use conclave_web::Asset;
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, LOCATION, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::crypto::{self, aws_lc_rs as provider, WebPkiSupportedAlgorithms};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_rustls::TlsConnector;

/// How long to wait for the relay to accept a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one file may take, handshake included (the wasm is megabytes).
const FETCH_TIMEOUT: Duration = Duration::from_secs(120);
/// Bytes a relay may send beyond this build's size of a file before the
/// rest is not read: the file differs anyway, and a relay must not be able
/// to fill this machine's memory.
const EXTRA_BYTES: usize = 1 << 20;
/// Hex digits of a SHA-256 shown per file: enough to tell files apart.
const SHA_PREFIX: usize = 16;

/// Flags of `conclave verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The relay's address, e.g. `https://relay.example:8443` (a meeting link
    /// works too: its room path is checked as well, and its #secret is
    /// dropped here, never sent).
    #[arg(value_name = "URL")]
    url: String,

    /// Trust exactly this certificate: its SHA-256 as `conclave serve`
    /// prints it ("certificate: self-signed, SHA-256 AB:CD:…"), colons
    /// optional. For relays with a self-signed certificate; get it from the
    /// operator over a channel you trust.
    #[arg(long, value_name = "SHA256HEX", conflicts_with = "insecure")]
    fingerprint: Option<String>,

    /// FOR TESTS ONLY: do not check the relay's certificate at all. Anyone
    /// between you and the relay could answer instead, so a match proves
    /// nothing about the relay.
    #[arg(long)]
    insecure: bool,
}

/// Fetches and compares every file; returns whether all of them match.
pub async fn run(args: Args) -> anyhow::Result<bool> {
    let target = Target::parse(&args.url)?;
    let policy = match (&args.fingerprint, args.insecure) {
        (Some(fp), _) => CertPolicy::Pinned(parse_fingerprint(fp)?),
        (None, true) => CertPolicy::Insecure,
        (None, false) => CertPolicy::Roots,
    };
    let insecure = matches!(policy, CertPolicy::Insecure);
    if insecure {
        eprintln!(
            "WARNING: --insecure: the relay's certificate is NOT checked. Anyone between you \
             and {} could answer, so this run proves nothing about the relay (for tests only).",
            target.origin
        );
    }
    let client = Client::new(target, policy)?;
    let room = match &client.target.room {
        Some(room) => room.clone(),
        // A room nobody uses: a relay that serves a different page only on
        // room paths is caught too (the page at `/r/…` is the same file).
        None => conclave_e2ee::RoomSecret::generate().room_id().to_string(),
    };
    let mut files: Vec<(String, Asset)> = vec![
        ("/".to_owned(), conclave_web::INDEX),
        (format!("/r/{room}"), conclave_web::INDEX),
    ];
    for &name in conclave_web::ASSET_NAMES {
        let asset = conclave_web::asset(name).ok_or_else(|| {
            anyhow!("this build lists {name} among its assets but has no such file (a bug in conclave-web)")
        })?;
        files.push((format!("/assets/{name}"), asset));
    }

    let mut differ = Vec::new();
    for (i, (path, want)) in files.iter().enumerate() {
        let got = client.get(path).await?;
        if i == 0 {
            // Only once the relay answered: a failed connection is one error.
            println!(
                "Comparing what {} serves with the web client built into conclave {} ({} files):",
                client.target.origin,
                env!("CARGO_PKG_VERSION"),
                files.len()
            );
        }
        let outcome = compare(want, &got);
        println!("{}", outcome.line(path));
        if !matches!(outcome, Outcome::Match { .. }) {
            differ.push(path.as_str());
        }
    }

    if differ.is_empty() {
        println!(
            "VERDICT: MATCH. All {} files {} served are byte for byte the ones conclave {} \
             would serve.",
            files.len(),
            client.target.origin,
            env!("CARGO_PKG_VERSION")
        );
        if insecure {
            println!(
                "  But --insecure was on: the answers may not have come from the relay at all."
            );
        }
        println!(
            "  This shows what the relay served to this request, now; it could serve someone \
             else, or later, something else. `conclave open LINK` runs your own copy instead."
        );
        Ok(true)
    } else {
        println!(
            "VERDICT: DIFFERENT. {} of {} files are not what conclave {} would serve: {}.",
            differ.len(),
            files.len(),
            env!("CARGO_PKG_VERSION"),
            differ.join(", ")
        );
        println!(
            "  If the operator runs another version of Conclave, build that version and verify \
             again. Otherwise do not join meetings through this relay's page: it may read the \
             meeting secret. `conclave open LINK` joins with your own copy of the page."
        );
        Ok(false)
    }
}

/// Where to connect and what to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    /// `https://host[:port]`.
    origin: Origin,
    /// Path prefix of a relay behind a reverse proxy ("" or "/conclave").
    prefix: String,
    /// The room of a meeting link, if one was given.
    room: Option<String>,
}

impl Target {
    /// Parses `https://host[:port][/prefix][/r/<room>][#…]`. The fragment
    /// (a meeting link's secret) is dropped before anything else.
    fn parse(url: &str) -> anyhow::Result<Target> {
        let url = url.split('#').next().unwrap_or_default().trim();
        let Some(rest) = url.strip_prefix("https://") else {
            bail!(
                "give the relay's https:// address, e.g. https://relay.example:8443 \
                 (a relay serves its page and code only over https)"
            );
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let origin = Origin::from_authority(true, authority)
            .with_context(|| format!("{authority:?} is not a host[:port] to connect to"))?;
        let path = format!("/{}", path.trim_end_matches('/'));
        if path.contains('?')
            || !path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/-._~%".contains(c))
        {
            bail!(
                "the path in {url:?} is not one a relay serves; give just \
                 https://host[:port] (or a meeting link)"
            );
        }
        let (prefix, room) = match path.rsplit_once("/r/") {
            Some((prefix, room)) => {
                conclave_e2ee::RoomId::parse(room).map_err(|e| {
                    anyhow!("{room:?} in the link is not a room id ({e}); give https://host[:port]")
                })?;
                (prefix.to_owned(), Some(room.to_owned()))
            }
            None => (path.trim_end_matches('/').to_owned(), None),
        };
        Ok(Target {
            origin,
            prefix,
            room,
        })
    }

    /// The host as a TLS server name and TCP address (no brackets).
    fn host(&self) -> &str {
        self.origin
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
    }
}

/// Which certificate the relay must present.
#[derive(Debug, Clone, Copy)]
enum CertPolicy {
    /// One chaining to Mozilla's roots, valid for the host name.
    Roots,
    /// Exactly the certificate with this SHA-256.
    Pinned([u8; 32]),
    /// Any (tests only).
    Insecure,
}

/// Parses `AB:CD:…` (as `conclave serve` prints it) or plain hex.
fn parse_fingerprint(text: &str) -> anyhow::Result<[u8; 32]> {
    let hex: String = text
        .trim()
        .trim_start_matches("SHA-256")
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    let mut out = [0u8; 32];
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!(
            "--fingerprint must be the 64 hex digits of a SHA-256, as `conclave serve` prints it \
             (AB:CD:…, colons optional); got {} characters",
            text.len()
        );
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .context("--fingerprint holds a non-hex digit")?;
    }
    Ok(out)
}

/// `AB:CD:…`, the way `conclave serve` prints a certificate's SHA-256.
fn format_fingerprint(fp: &[u8; 32]) -> String {
    fp.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

fn sha_prefix(bytes: &[u8]) -> String {
    sha256(bytes)[..SHA_PREFIX / 2]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks the relay's certificate under a [`CertPolicy`] and remembers the
/// one it saw, so a refusal can say which certificate it was.
#[derive(Debug)]
struct Verifier {
    policy: CertPolicy,
    roots: Arc<WebPkiServerVerifier>,
    algorithms: WebPkiSupportedAlgorithms,
    seen: Mutex<Option<[u8; 32]>>,
}

impl Verifier {
    fn seen(&self) -> Option<[u8; 32]> {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fp = sha256(end_entity.as_ref());
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(fp);
        match self.policy {
            CertPolicy::Roots => self.roots.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            // A pinned certificate is trusted as is: names and dates are
            // what a self-signed certificate cannot vouch for anyway.
            CertPolicy::Pinned(want) if want == fp => Ok(ServerCertVerified::assertion()),
            CertPolicy::Pinned(_) => Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
            CertPolicy::Insecure => Ok(ServerCertVerified::assertion()),
        }
    }

    // Under every policy the server must prove it holds the certificate's
    // key; otherwise a pinned certificate, which is public, would prove
    // nothing.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// One HTTPS connection per file: simple, and each is checked the same way.
struct Client {
    target: Target,
    connector: TlsConnector,
    verifier: Arc<Verifier>,
}

/// A relay's answer to one GET.
#[derive(Debug)]
struct Fetched {
    status: StatusCode,
    content_type: Option<String>,
    location: Option<String>,
    body: Body,
}

#[derive(Debug)]
enum Body {
    Complete(Vec<u8>),
    /// The relay sent more than this many bytes (the rest was not read).
    TooLarge(usize),
}

impl Client {
    fn new(target: Target, policy: CertPolicy) -> anyhow::Result<Client> {
        let provider = Arc::new(provider::default_provider());
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let roots = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .context("cannot load the built-in root certificates")?;
        let verifier = Arc::new(Verifier {
            policy,
            roots,
            algorithms: provider.signature_verification_algorithms,
            seen: Mutex::new(None),
        });
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("cannot set up TLS")?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Client {
            target,
            connector: TlsConnector::from(Arc::new(config)),
            verifier,
        })
    }

    /// GETs `path` (below the relay's prefix) on a fresh connection.
    async fn get(&self, path: &str) -> anyhow::Result<Fetched> {
        let origin = &self.target.origin;
        tokio::time::timeout(FETCH_TIMEOUT, self.get_inner(path))
            .await
            .map_err(|_| {
                anyhow!(
                    "{origin} did not send {path} within {} s; try again, or check the network \
                     between you and the relay",
                    FETCH_TIMEOUT.as_secs()
                )
            })?
    }

    async fn get_inner(&self, path: &str) -> anyhow::Result<Fetched> {
        let origin = &self.target.origin;
        let stream = self.connect().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .with_context(|| format!("cannot start HTTP with {origin}"))?;
        let driver = tokio::spawn(conn);
        let request = Request::get(format!("{}{path}", self.target.prefix))
            .header(HOST, origin.authority())
            .header(
                USER_AGENT,
                concat!("conclave-verify/", env!("CARGO_PKG_VERSION")),
            )
            .header(ACCEPT, "*/*")
            .body(Empty::<Bytes>::new())
            .with_context(|| format!("cannot make a request for {path}"))?;
        let result = async {
            let response = sender.send_request(request).await.with_context(|| {
                format!("{origin} closed the connection instead of answering GET {path}")
            })?;
            let header = |name| {
                response
                    .headers()
                    .get(name)
                    .map(|v: &hyper::header::HeaderValue| printable(v.as_bytes()))
            };
            let status = response.status();
            let content_type = header(CONTENT_TYPE);
            let location = header(LOCATION);
            let want = path_asset_len(path);
            let limit = want.saturating_add(EXTRA_BYTES);
            let body = match Limited::new(response.into_body(), limit).collect().await {
                Ok(collected) => Body::Complete(collected.to_bytes().to_vec()),
                Err(e) if e.is::<LengthLimitError>() => Body::TooLarge(limit),
                Err(e) => {
                    return Err(anyhow!(
                        "{origin} broke off while sending {path}: {e}; try again"
                    ))
                }
            };
            Ok(Fetched {
                status,
                content_type,
                location,
                body,
            })
        }
        .await;
        driver.abort();
        result
    }

    async fn connect(&self) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let origin = &self.target.origin;
        let host = self.target.host();
        let port = origin.port();
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
            .await
            .map_err(|_| {
                anyhow!(
                    "cannot reach {origin}: no answer within {} s (is the address right, and \
                     does every firewall on the way let TCP port {port} through?)",
                    CONNECT_TIMEOUT.as_secs()
                )
            })?
            .map_err(|e| {
                anyhow!(
                    "cannot reach {origin}: {e} (is the relay running, and is the address right?)"
                )
            })?;
        let name = ServerName::try_from(host.to_owned())
            .with_context(|| format!("{host:?} is not a host name TLS can check"))?;
        self.connector
            .connect(name, tcp)
            .await
            .map_err(|e| self.tls_error(e))
    }

    /// Says why the handshake failed, and what to do about it.
    fn tls_error(&self, e: std::io::Error) -> anyhow::Error {
        let origin = &self.target.origin;
        let seen = self.verifier.seen();
        if let (CertPolicy::Pinned(want), Some(got)) = (self.verifier.policy, seen) {
            if want != got {
                return anyhow!(
                    "{origin} presented a certificate with SHA-256 {}, not the one you gave \
                     ({}). Either someone between you and the relay answered instead, or the \
                     relay has a new certificate (a relay without --cert makes a new \
                     self-signed one at every start). Ask the operator for the fingerprint \
                     `conclave serve` printed, over a channel you trust, and run again.",
                    format_fingerprint(&got),
                    format_fingerprint(&want)
                );
            }
        }
        let rustls_error = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        match (rustls_error, seen) {
            (
                Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)),
                Some(got),
            ) => {
                let got = format_fingerprint(&got);
                anyhow!(
                    "{origin}'s certificate is not signed by an authority this tool trusts \
                     (Mozilla's list); the relay may use a self-signed certificate. Its SHA-256 \
                     is {got}. If that is what the operator's `conclave serve` printed (compare \
                     over a channel you trust), run again with --fingerprint {got}"
                )
            }
            (
                Some(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )),
                _,
            ) => anyhow!(
                "{origin}'s certificate is not made out to {}: check the address (use the name \
                 on the relay's certificate), or pin the certificate with --fingerprint",
                origin.host()
            ),
            (
                Some(rustls::Error::InvalidCertificate(
                    CertificateError::Expired | CertificateError::ExpiredContext { .. },
                )),
                _,
            ) => anyhow!(
                "{origin}'s certificate has expired: tell the operator (or pin it with \
                 --fingerprint if they confirm it over a channel you trust)"
            ),
            _ => anyhow!(
                "the TLS handshake with {origin} failed: {e} (is this the https address of a \
                 Conclave relay?)"
            ),
        }
    }
}

/// This build's size of the file at `path` (the page for `/` and `/r/…`),
/// to bound how much of a relay's answer is read.
fn path_asset_len(path: &str) -> usize {
    path.strip_prefix("/assets/")
        .and_then(conclave_web::asset)
        .unwrap_or(conclave_web::INDEX)
        .body
        .len()
}

/// A header value from the relay, safe to print: at most 200 characters,
/// control and non-ASCII bytes escaped.
fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(200)
        .flat_map(|b| b.escape_ascii())
        .map(char::from)
        .collect()
}

/// How one file compares.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Same bytes and type: size and SHA-256 prefix.
    Match { size: usize, sha: String },
    /// Different bytes or type, said how.
    Mismatch(String),
    /// Not served (the relay's status, said how).
    Missing(String),
}

impl Outcome {
    /// The progress line for `path`.
    fn line(&self, path: &str) -> String {
        let (word, detail) = match self {
            Outcome::Match { size, sha } => ("match", format!("{size} bytes, sha256 {sha}")),
            Outcome::Mismatch(d) => ("MISMATCH", d.clone()),
            Outcome::Missing(d) => ("missing", d.clone()),
        };
        format!("  {word:<9} {path:<30} {detail}")
    }
}

fn compare(want: &Asset, got: &Fetched) -> Outcome {
    if got.status != StatusCode::OK {
        let mut why = format!("the relay answered HTTP {}", got.status);
        if got.status.is_redirection() {
            why.push_str(&format!(
                ", a redirect to {} (a browser follows it and carries the link's #secret along)",
                got.location.as_deref().unwrap_or("nowhere")
            ));
        }
        return Outcome::Missing(why);
    }
    let ours = format!(
        "this build: {} bytes, sha256 {}",
        want.body.len(),
        sha_prefix(want.body)
    );
    match &got.body {
        Body::TooLarge(limit) => {
            Outcome::Mismatch(format!("relay: more than {limit} bytes; {ours}"))
        }
        Body::Complete(body) if body.as_slice() != want.body => Outcome::Mismatch(format!(
            "relay: {} bytes, sha256 {}; {ours}",
            body.len(),
            sha_prefix(body)
        )),
        Body::Complete(body) => {
            let same_type = got
                .content_type
                .as_deref()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(want.content_type));
            if same_type {
                Outcome::Match {
                    size: body.len(),
                    sha: sha_prefix(body),
                }
            } else {
                Outcome::Mismatch(format!(
                    "same bytes, but served as {:?}, not {:?} (that changes how a browser uses them)",
                    got.content_type.as_deref().unwrap_or("(no type)"),
                    want.content_type
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(status: u16, content_type: &str, body: &[u8]) -> Fetched {
        Fetched {
            status: StatusCode::from_u16(status).unwrap(),
            content_type: Some(content_type.to_owned()),
            location: None,
            body: Body::Complete(body.to_vec()),
        }
    }

    #[test]
    fn identical_files_match_and_any_difference_is_named() {
        let want = conclave_web::INDEX;
        let ok = compare(&want, &fetched(200, want.content_type, want.body));
        assert!(matches!(ok, Outcome::Match { size, .. } if size == want.body.len()));

        let mut tampered = want.body.to_vec();
        tampered.extend_from_slice(b"<script src=//evil.example/x.js></script>");
        let Outcome::Mismatch(why) = compare(&want, &fetched(200, want.content_type, &tampered))
        else {
            panic!("a changed page must not match");
        };
        assert!(
            why.contains(&format!("relay: {} bytes", tampered.len())),
            "{why}"
        );
        assert!(
            why.contains(&format!("this build: {} bytes", want.body.len())),
            "{why}"
        );
        assert!(why.contains(&sha_prefix(&tampered)) && why.contains(&sha_prefix(want.body)));

        let Outcome::Mismatch(why) = compare(&want, &fetched(200, "text/plain", want.body)) else {
            panic!("the same bytes under another type must not match");
        };
        assert!(why.contains("text/plain"), "{why}");

        let big = Fetched {
            body: Body::TooLarge(99),
            ..fetched(200, want.content_type, b"")
        };
        assert!(matches!(compare(&want, &big), Outcome::Mismatch(w) if w.contains("more than 99")));
    }

    #[test]
    fn missing_files_and_redirects_say_the_status() {
        let want = conclave_web::INDEX;
        assert_eq!(
            compare(&want, &fetched(404, "text/plain", b"no")),
            Outcome::Missing("the relay answered HTTP 404 Not Found".into())
        );
        let redirect = Fetched {
            location: Some("https://evil.example/".into()),
            ..fetched(302, "text/plain", b"")
        };
        let Outcome::Missing(why) = compare(&want, &redirect) else {
            panic!("a redirect is not the page");
        };
        assert!(
            why.contains("https://evil.example/") && why.contains("#secret"),
            "{why}"
        );
    }

    #[test]
    fn fingerprints_read_as_conclave_serve_prints_them() {
        let fp: [u8; 32] = std::array::from_fn(|i| i as u8 * 7);
        let printed = format_fingerprint(&fp);
        assert_eq!(printed.len(), 32 * 3 - 1);
        assert_eq!(parse_fingerprint(&printed).unwrap(), fp);
        assert_eq!(parse_fingerprint(&printed.to_lowercase()).unwrap(), fp);
        assert_eq!(parse_fingerprint(&printed.replace(':', "")).unwrap(), fp);
        assert_eq!(
            parse_fingerprint(&format!("SHA-256 {printed}")).unwrap(),
            fp
        );
        assert!(parse_fingerprint("AB:CD").is_err());
        assert!(parse_fingerprint(&"G".repeat(64)).is_err());
    }

    #[test]
    fn addresses_and_links_become_targets_without_the_secret() {
        let t = Target::parse("https://Relay.Example:8443/").unwrap();
        assert_eq!(t.origin.to_string(), "https://relay.example:8443");
        assert_eq!((t.prefix.as_str(), t.room.as_deref()), ("", None));

        let room = "AAAAAAAAAAAAAAAAAAAAAA";
        let t = Target::parse(&format!(
            "https://[::1]:8443/conclave/r/{room}#SECRET&name=x"
        ))
        .unwrap();
        assert_eq!(t.host(), "::1");
        assert_eq!(t.prefix, "/conclave");
        assert_eq!(t.room.as_deref(), Some(room));
        assert!(!format!("{t:?}").contains("SECRET"));

        for bad in [
            "http://relay.example",
            "relay.example",
            "https://user@relay.example",
            "https://relay.example/r/short",
            "https://relay.example/a b",
            "https://relay.example/?x=1",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_values_from_the_relay_print_safely() {
        assert_eq!(printable(b"a\x1b[2Jb\xff"), "a\\x1b[2Jb\\xff");
        assert_eq!(printable(&[b'x'; 500]).len(), 200);
    }
}
