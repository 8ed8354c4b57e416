//! Which web pages may open the relay's signaling WebSocket (`/r/<room>/ws`):
//! the `Origin` header's parser and the policy, without I/O (fuzzed:
//! fuzz/fuzz_targets/origin.rs). The relay applies it to each handshake
//! (crates/relay `origin::check_headers`).
//!
//! Browsers put an `Origin` header on every WebSocket handshake and do not
//! let a page choose it, so it is how a server tells the pages it trusts from
//! any other web site the user happens to visit (RFC 6455 §10.2). Without
//! this check such a site could open signaling sockets to the relay from the
//! user's browser: take the first seat in rooms whose ids it learned, or
//! spend the relay's room and participant limits from other people's
//! addresses. The policy:
//!
//! - **no `Origin` header**: allowed. Native clients send none; every browser
//!   sends one, so a web page cannot use this case.
//! - **the relay's own origin** (`https://` + the request's `Host`): the page
//!   the relay served itself. A page on another name that points at the relay
//!   (DNS rebinding) cannot get here: TLS refuses the relay's certificate for
//!   that name.
//! - **loopback pages over plain http** (`http://127.0.0.1[:port]`,
//!   `http://localhost[:port]`, `http://[::1][:port]`): the page
//!   `conclave open` serves from the user's own copy of the client, so the
//!   page and wasm do not come from the relay (docs/operator-view.md). No web
//!   site can have such an origin; only a program on the user's own machine
//!   can serve one, and that program could reach the relay directly anyway.
//! - **origins the operator lists** with `--allow-origin` (e.g. an app that
//!   embeds calls on this relay).
//!
//! Everything else is refused with 403, including `null` (sandboxed frames,
//! `file:` pages) and anything that is not a plain `scheme://host[:port]`.

use std::fmt;

/// A web origin as browsers serialize it (RFC 6454 §6.2): an `http` or
/// `https` scheme, a lower-case host, and a port only when it is not the
/// scheme's default. Two equal origins are equal values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    secure: bool,
    host: String,
    port: Option<u16>,
}

/// Why a text is not an [`Origin`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// The scheme is neither `http` nor `https`.
    #[error("the scheme must be http:// or https://")]
    Scheme,
    /// A path, query, fragment or `user@` part follows the host.
    #[error("an origin is only scheme://host[:port], with no path, query, fragment or user@")]
    Extra,
    /// The host is empty or has characters no host name or IP address has.
    #[error("the host is not a DNS name or IP address")]
    Host,
    /// The port is not a number from 1 to 65535.
    #[error("the port is not a number from 1 to 65535")]
    Port,
}

impl Origin {
    /// Parses a serialized origin, e.g. `https://meet.example.org` or
    /// `http://127.0.0.1:40123`. Scheme and host are compared without case;
    /// an explicit default port (`:443` for https) is the same origin as none.
    pub fn parse(text: &str) -> Result<Origin, OriginError> {
        let (scheme, rest) = text.split_once("://").ok_or(OriginError::Scheme)?;
        let secure = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else {
            return Err(OriginError::Scheme);
        };
        Origin::from_authority(secure, rest)
    }

    /// The origin of a page served from `authority` (`host[:port]`, as in a
    /// `Host` header) over https (`secure`) or http.
    pub fn from_authority(secure: bool, authority: &str) -> Result<Origin, OriginError> {
        if authority.contains(['/', '?', '#', '@']) {
            return Err(OriginError::Extra);
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or(OriginError::Host)?;
            let addr: std::net::Ipv6Addr = addr.parse().map_err(|_| OriginError::Host)?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or(OriginError::Port)?),
            };
            // The compressed form (RFC 5952), as browsers write it.
            (format!("[{addr}]"), port)
        } else {
            let (host, port) = match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            };
            let name_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_';
            if host.is_empty() || !host.chars().all(name_char) {
                return Err(OriginError::Host);
            }
            (host.to_ascii_lowercase(), port)
        };
        let port = match port {
            None => None,
            Some(p) if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(OriginError::Port)
            }
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(OriginError::Port),
                Ok(n) => Some(n),
            },
        };
        let default_port = if secure { 443 } else { 80 };
        Ok(Origin {
            secure,
            host,
            port: port.filter(|&p| p != default_port),
        })
    }

    /// Whether the scheme is `https`.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The host: a lower-case DNS name, IPv4 address, or IPv6 address in
    /// brackets (`[::1]`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, the scheme's default (443 or 80) when none was written.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.secure { 443 } else { 80 })
    }

    /// `host[:port]`, the port only when it is not the scheme's default.
    pub fn authority(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }

    /// The WebSocket origin of the same server: `wss://host[:port]` for an
    /// https origin, `ws://…` for http (a Content-Security-Policy source).
    pub fn websocket(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        format!("{scheme}://{}", self.authority())
    }

    /// Whether this is a page on the user's own machine over plain http.
    fn is_loopback_http(&self) -> bool {
        !self.secure && matches!(self.host.as_str(), "127.0.0.1" | "localhost" | "[::1]")
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.authority())
    }
}

/// Why a WebSocket handshake was accepted (for tests and debug logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// No `Origin` header: not a browser.
    NoOrigin,
    /// The page came from this relay.
    SameOrigin,
    /// A page on the user's own machine (`conclave open`).
    Loopback,
    /// An origin the operator listed with `--allow-origin`.
    Listed,
}

/// A refused handshake; its text is the reply the page's developer reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refused: this relay does not accept signaling from pages served by {origin}. \
     Open the meeting link on the relay itself, or run `conclave open LINK` to use \
     your own copy of the client; an operator who wants to allow that site adds \
     --allow-origin to `conclave serve`."
)]
pub struct Refused {
    /// The `Origin` header as received (lossy if it was not UTF-8).
    pub origin: String,
}

/// The relay's WebSocket origin policy (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    listed: Vec<Origin>,
}

impl OriginPolicy {
    /// The policy with these extra allowed origins (`--allow-origin`).
    pub fn new(listed: Vec<Origin>) -> OriginPolicy {
        OriginPolicy { listed }
    }

    /// [`OriginPolicy::check`] on a handshake's raw header values: every
    /// `Origin` header (more than one, or one that is not text, is refused)
    /// and the `Host` header.
    pub fn check_raw(&self, origins: &[&[u8]], host: Option<&[u8]>) -> Result<Allowed, Refused> {
        let origin = match origins {
            [] => None,
            [v] => Some(std::str::from_utf8(v).map_err(|_| Refused {
                origin: String::from_utf8_lossy(v).into_owned(),
            })?),
            _ => {
                return Err(Refused {
                    origin: "(several Origin headers)".to_owned(),
                })
            }
        };
        let host = host.and_then(|h| std::str::from_utf8(h).ok());
        self.check(origin, host)
    }

    /// Decides on one handshake from its `Origin` header (`None` when there
    /// is none) and its `Host` header.
    pub fn check(&self, origin: Option<&str>, host: Option<&str>) -> Result<Allowed, Refused> {
        let Some(text) = origin else {
            return Ok(Allowed::NoOrigin);
        };
        let refused = || Refused {
            origin: text.to_owned(),
        };
        let origin = Origin::parse(text).map_err(|_| refused())?;
        let own = host.and_then(|h| Origin::from_authority(true, h).ok());
        if own.as_ref() == Some(&origin) {
            Ok(Allowed::SameOrigin)
        } else if origin.is_loopback_http() {
            Ok(Allowed::Loopback)
        } else if self.listed.contains(&origin) {
            Ok(Allowed::Listed)
        } else {
            Err(refused())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> OriginPolicy {
        OriginPolicy::new(vec![Origin::parse("https://meet.example.org").unwrap()])
    }

    #[test]
    fn origins_compare_as_browsers_serialize_them() {
        let o = Origin::parse("HTTPS://Relay.Example:443").unwrap();
        assert_eq!(o, Origin::parse("https://relay.example").unwrap());
        assert_eq!(o.to_string(), "https://relay.example");
        assert_eq!(o.websocket(), "wss://relay.example");
        assert_eq!((o.host(), o.port()), ("relay.example", 443));
        let p = Origin::parse("http://[::1]:8080").unwrap();
        assert_eq!(p.to_string(), "http://[::1]:8080");
        assert_eq!(p.websocket(), "ws://[::1]:8080");
        assert_ne!(
            Origin::parse("http://relay.example").unwrap(),
            Origin::parse("https://relay.example").unwrap()
        );
    }

    #[test]
    fn malformed_origins_are_errors() {
        for (text, err) in [
            ("null", OriginError::Scheme),
            ("chrome-extension://abc", OriginError::Scheme),
            ("https://relay.example/", OriginError::Extra),
            ("https://user@relay.example", OriginError::Extra),
            ("https://", OriginError::Host),
            ("https://re lay", OriginError::Host),
            ("https://relay.example;x", OriginError::Host),
            ("https://[zz]:1", OriginError::Host),
            ("https://relay.example:", OriginError::Port),
            ("https://relay.example:0", OriginError::Port),
            ("https://relay.example:70000", OriginError::Port),
            ("https://relay.example:+1", OriginError::Port),
            ("https://[::1]x", OriginError::Port),
        ] {
            assert_eq!(Origin::parse(text), Err(err), "{text}");
        }
    }

    /// Origins arrive from anyone: no input may panic, and whatever parses
    /// must mean the same once written back (checked exhaustively over
    /// short texts from an alphabet of the characters that matter).
    #[test]
    fn any_text_parses_without_panic_and_round_trips() {
        const ALPHABET: &[u8] = b"a1:[].@/%0fF-";
        let mut buf = Vec::new();
        for prefix in ["https://", "http://", "HTTP://", ""] {
            for len in 0..=4u32 {
                for mut n in 0..ALPHABET.len().pow(len) {
                    buf.clear();
                    buf.extend_from_slice(prefix.as_bytes());
                    for _ in 0..len {
                        buf.push(ALPHABET[n % ALPHABET.len()]);
                        n /= ALPHABET.len();
                    }
                    let text = std::str::from_utf8(&buf).unwrap();
                    if let Ok(o) = Origin::parse(text) {
                        assert_eq!(Origin::parse(&o.to_string()), Ok(o.clone()), "{text}");
                        assert!(!o.host().is_empty() && o.port() != 0, "{text}");
                    }
                    let _ = policy().check(Some(text), Some(&text[prefix.len()..]));
                }
            }
        }
    }

    #[test]
    fn native_clients_send_no_origin_and_are_allowed() {
        assert_eq!(
            policy().check(None, Some("relay.example")),
            Ok(Allowed::NoOrigin)
        );
    }

    #[test]
    fn the_relays_own_pages_are_allowed() {
        let p = policy();
        assert_eq!(
            p.check(
                Some("https://relay.example:8443"),
                Some("relay.example:8443")
            ),
            Ok(Allowed::SameOrigin)
        );
        assert_eq!(
            p.check(Some("https://relay.example"), Some("Relay.Example:443")),
            Ok(Allowed::SameOrigin)
        );
        assert_eq!(
            p.check(
                Some("https://[2001:db8::1]:8443"),
                Some("[2001:DB8:0::1]:8443")
            ),
            Ok(Allowed::SameOrigin)
        );
        // Same host, other port or scheme: another origin.
        assert!(p
            .check(
                Some("https://relay.example:9443"),
                Some("relay.example:8443")
            )
            .is_err());
        assert!(p
            .check(
                Some("http://relay.example:8443"),
                Some("relay.example:8443")
            )
            .is_err());
    }

    #[test]
    fn loopback_pages_from_conclave_open_are_allowed() {
        let p = policy();
        for origin in [
            "http://127.0.0.1:40123",
            "http://localhost:5000",
            "http://[::1]:40123",
            "http://localhost",
        ] {
            assert_eq!(
                p.check(Some(origin), Some("relay.example:8443")),
                Ok(Allowed::Loopback),
                "{origin}"
            );
        }
        // Not loopback, or not the plain-http page `conclave open` serves.
        for origin in [
            "https://127.0.0.1:40123",
            "http://127.0.0.2:40123",
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
        ] {
            assert!(
                p.check(Some(origin), Some("relay.example:8443")).is_err(),
                "{origin}"
            );
        }
    }

    #[test]
    fn listed_origins_are_allowed_and_others_refused() {
        let p = policy();
        assert_eq!(
            p.check(Some("https://meet.example.org"), Some("relay.example")),
            Ok(Allowed::Listed)
        );
        let refused = p
            .check(Some("https://evil.example"), Some("relay.example"))
            .unwrap_err();
        assert_eq!(refused.origin, "https://evil.example");
        assert!(refused.to_string().contains("--allow-origin"));
        for origin in [
            "null",
            "",
            "https://evil.example/",
            "https://meet.example.org.evil",
        ] {
            assert!(
                p.check(Some(origin), Some("relay.example")).is_err(),
                "{origin:?}"
            );
        }
        // No Host header: only the other rules apply.
        assert!(p.check(Some("https://relay.example"), None).is_err());
    }
}
