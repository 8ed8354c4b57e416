//! `conclave open LINK`: join a meeting with your own copy of the web
//! client, not the one the relay serves.
//!
//! The browser client's promises (the meeting secret stays in the link's
//! fragment, media keys stay in the page) hold only if the page and its wasm
//! are honest, and normally they come from the relay — the party Conclave
//! does not trust (docs/design.md §1). This command serves the page and assets
//! compiled into *this* binary on `http://127.0.0.1:<port>/` (loopback only;
//! a loopback origin is a secure context, so camera and microphone work) and
//! hands the browser a local URL that says which relay to talk to. The relay
//! then only carries signaling and media, as docs/operator-view.md lists;
//! the code that holds the secret never came from it. The relay accepts the
//! signaling WebSocket of such a page (`conclave_relay::origin`: loopback
//! origins are allowed).
//!
//! # The local URL's fragment
//!
//! This is the one place the grammar is defined; the page reads it.
//!
//! ```text
//! http://127.0.0.1:<port>/#relay=<RELAY>&r=<ROOM>&s=<SECRET>[&name=<NAME>]
//! ```
//!
//! - `relay` ([`KEY_RELAY`]): the relay's base URL exactly as in the link,
//!   `https://host[:port][/path]` without a trailing `/`, percent-encoded
//!   (every byte but `A–Z a–z 0–9 - . _ ~` as `%XX`). Signaling goes to
//!   `wss://host[:port][/path]/r/<ROOM>/ws` (`ws://` for an `http://` relay).
//! - `r` ([`KEY_ROOM`]): the room id, 22 base64url characters. The page must
//!   check it equals the id derived from `s`, as `RoomLink::parse` does.
//! - `s` ([`KEY_SECRET`]): the room secret, 43 base64url characters
//!   (unpadded), as after `#` in a meeting link.
//! - `name` ([`KEY_NAME`], optional): the link's display-name hint,
//!   percent-encoded UTF-8.
//!
//! Parameters are `key=value` separated by `&`, in any order; a page ignores
//! keys it does not know, so later versions can add some. Like the link's,
//! this fragment is never sent to any server: not to the relay, and not to
//! the loopback server, which serves only the same static files the relay
//! does (GET, with the relay's security headers; its Content-Security-Policy
//! adds only the relay's https and WebSocket origins to `connect-src`).

use std::future::Future;
use std::io::BufRead;
use std::net::{Ipv4Addr, SocketAddr};

use anyhow::{anyhow, Context};
use axum::http::StatusCode;
use axum::Router;
use conclave_e2ee::RoomLink;
use conclave_relay::http::{client_routes, remote_relay_csp, with_security_headers};
use conclave_relay::origin::Origin;
use tokio::net::TcpListener;
use zeroize::Zeroizing;

/// Fragment key: the relay's base URL, percent-encoded.
pub const KEY_RELAY: &str = "relay";
/// Fragment key: the room id.
pub const KEY_ROOM: &str = "r";
/// Fragment key: the room secret (base64url).
pub const KEY_SECRET: &str = "s";
/// Fragment key: the display-name hint, percent-encoded.
pub const KEY_NAME: &str = "name";

/// Flags of `conclave open`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The meeting link (`https://HOST/#<secret>`, or an older `https://HOST/r/<room-id>#<secret>`), or - to read it
    /// from standard input, which keeps the secret out of the list of
    /// running processes other users of this machine can see.
    #[arg(value_name = "LINK")]
    link: String,

    /// Local port to serve the page on [default: a free one]. A fixed port
    /// lets the browser remember its camera and microphone permission, which
    /// it keeps per origin, between runs.
    #[arg(long)]
    port: Option<u16>,

    /// Only print the local address; do not try to start a browser.
    #[arg(long)]
    no_browser: bool,
}

/// Serves this build's web client on loopback for the meeting in `LINK`
/// until `shutdown` completes.
pub async fn run(
    args: Args,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let text = if args.link == "-" {
        read_link_from_stdin()?
    } else {
        Zeroizing::new(args.link.clone())
    };
    // The error never repeats the link: it holds the secret.
    let link = RoomLink::parse(text.trim()).map_err(|e| {
        anyhow!(
            "that is not a meeting link: {e} (expected https://HOST/#<secret>, as \
             the meeting page or `conclave link` makes it)"
        )
    })?;
    let relay = relay_origin(link.base())?;
    let listener = bind(args.port.unwrap_or(0)).await?;
    let local = local_url(listener.local_addr()?, &link);

    println!(
        "Serving this build's Conclave page on http://{} (this machine only).",
        listener.local_addr()?
    );
    println!("Open this address in your browser; it holds the meeting secret, so share the meeting link, not this:");
    println!("  {}", local.as_str());
    println!(
        "The page and its code come from this program; {relay} only relays signaling and media."
    );
    if !relay.is_secure() {
        println!(
            "Warning: the link's relay uses plain http, so anyone on the way sees the \
             signaling (the media and the secret stay end-to-end encrypted)."
        );
    }
    println!("Press Ctrl-C to stop.");
    if !args.no_browser {
        start_browser(&local);
    }

    axum::serve(listener, app(&relay))
        .with_graceful_shutdown(shutdown)
        .await
        .context("the local page server stopped")
}

fn read_link_from_stdin() -> anyhow::Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the link from standard input")?;
    Ok(line)
}

/// The relay's origin (`scheme://host[:port]`) from a link's base URL, for
/// the page's Content-Security-Policy.
fn relay_origin(base: &str) -> anyhow::Result<Origin> {
    let (scheme, rest) = base.split_once("://").unwrap_or(("", base));
    let authority = rest.split('/').next().unwrap_or_default();
    Origin::parse(&format!("{scheme}://{authority}")).map_err(|e| {
        anyhow!("the link's relay address {base:?} is not usable here: {e}; ask for a link of the form https://host[:port]/#…")
    })
}

/// Listens on loopback only: the page is for this machine's browser.
async fn bind(port: u16) -> anyhow::Result<TcpListener> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .with_context(|| {
            format!("cannot listen on 127.0.0.1:{port} (pick another --port, or leave it out for any free port)")
        })
}

/// The local page's routes: the client's files and nothing else.
fn app(relay: &Origin) -> Router {
    let routes = client_routes().fallback(|| async {
        (
            StatusCode::NOT_FOUND,
            "not found: this local server only serves the Conclave page (open / with the address `conclave open` printed)\n",
        )
    });
    with_security_headers(routes, remote_relay_csp(relay))
}

/// `http://127.0.0.1:PORT/#relay=…&r=…&s=…[&name=…]` (module documentation).
fn local_url(addr: SocketAddr, link: &RoomLink) -> Zeroizing<String> {
    let mut url = Zeroizing::new(format!("http://{addr}/#{KEY_RELAY}="));
    percent_encode(link.base(), &mut url);
    url.push_str(&format!("&{KEY_ROOM}={}&{KEY_SECRET}=", link.room_id()));
    url.push_str(link.secret().to_base64url().as_str());
    if let Some(name) = link.name() {
        url.push_str(&format!("&{KEY_NAME}="));
        percent_encode(name, &mut url);
    }
    url
}

/// Every byte but the URL-unreserved ones as `%XX`.
fn percent_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Hands the URL to the desktop's browser if there is an opener; never fails.
fn start_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        // Reaped in the background so it leaves no zombie behind.
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("({opener} is not installed: open the address above yourself.)");
        }
        Err(e) => println!("(cannot start {opener}: {e}; open the address above yourself.)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_e2ee::RoomSecret;

    fn percent_decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_local_url_carries_relay_room_and_secret_in_the_fragment() {
        let secret = RoomSecret::generate();
        let link = RoomLink::new("https://relay.example:8443/conclave", secret.clone())
            .unwrap()
            .with_name("Ada & Bob")
            .unwrap();
        let parsed = RoomLink::parse(&link.to_url()).unwrap();
        let url = local_url("127.0.0.1:4000".parse().unwrap(), &parsed);
        let (before, fragment) = url.split_once('#').unwrap();
        assert_eq!(before, "http://127.0.0.1:4000/");
        let params: std::collections::HashMap<&str, &str> = fragment
            .split('&')
            .map(|kv| kv.split_once('=').unwrap())
            .collect();
        assert_eq!(
            percent_decode(params[KEY_RELAY]),
            "https://relay.example:8443/conclave"
        );
        assert_eq!(params[KEY_ROOM], secret.room_id().to_string());
        assert_eq!(params[KEY_SECRET], secret.to_base64url().as_str());
        assert_eq!(percent_decode(params[KEY_NAME]), "Ada & Bob");
        // Nothing in the fragment can end a parameter early.
        assert_eq!(params.len(), 4);
    }

    #[test]
    fn the_relay_origin_comes_from_the_link_base() {
        let o = relay_origin("https://Relay.Example:8443/conclave").unwrap();
        assert_eq!(o.to_string(), "https://relay.example:8443");
        assert_eq!(o.websocket(), "wss://relay.example:8443");
        assert!(!relay_origin("http://[::1]:8080").unwrap().is_secure());
        assert!(relay_origin("https://user@relay.example").is_err());
    }

    #[test]
    fn the_page_may_connect_to_the_relay_and_nowhere_else() {
        let csp = remote_relay_csp(&relay_origin("https://relay.example:8443").unwrap());
        let csp = csp.to_str().unwrap();
        assert!(
            csp.contains("connect-src 'self' https://relay.example:8443 wss://relay.example:8443;"),
            "{csp}"
        );
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval';"),
            "{csp}"
        );
    }

    #[tokio::test]
    async fn it_listens_on_loopback_only() {
        let listener = bind(0).await.unwrap();
        assert_eq!(
            listener.local_addr().unwrap().ip(),
            std::net::IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
    }
}
