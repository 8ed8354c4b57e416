//! TURN credentials for browsers whose network gives them no path to the
//! relay's media port but through a TURN server (docs/design.md, "TURN").
//!
//! The relay does not relay TURN itself: an operator runs a TURN server
//! (coturn, Debian's package; `deploy/turnserver.conf`) with
//! `use-auth-secret` and a `static-auth-secret` it shares with the relay.
//! For every join the relay mints a time-limited credential in coturn's
//! "TURN REST API" scheme: the username is `<unix expiry>:<random id>` and
//! the password is base64 of HMAC-SHA1(secret, username). coturn recomputes
//! the password from the username and refuses an expired one, so it needs
//! no database and the relay needs no connection to it. The random id only
//! makes usernames distinct: it names no member and is kept nowhere.
//!
//! Sans-I/O: [`Turn::credentials`] takes the time and the random id as
//! arguments. Only [`Turn::from_settings`] reads a file (the secret, once,
//! at start). The secret is never logged, printed or exposed in `/metrics`;
//! it lives only inside an HMAC key.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use base64::Engine as _;
use conclave_proto::IceServer;
use zeroize::Zeroizing;

/// How long a minted credential may start new TURN allocations, by default.
///
/// Short, because it is the window in which a credential copied out of a
/// page (any member can read it) lets someone else use the operator's TURN
/// server. coturn checks the expiry only when an allocation is made; an
/// allocation keeps refreshing past it, so a call outlives its credential.
/// The page allocates within seconds of `joined`, and a page that rejoins
/// gets a fresh credential. Ten minutes leave room for a slow start and for
/// clocks that differ between the relay's host and the TURN server's.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);
/// Shortest lifetime accepted: under a minute, clock skew breaks it.
pub const MIN_LIFETIME: Duration = Duration::from_secs(60);
/// Longest lifetime accepted (a day).
pub const MAX_LIFETIME: Duration = Duration::from_secs(86_400);
/// Most TURN URLs handed out (the web page accepts at most this many per server).
pub const MAX_URLS: usize = 8;
/// Longest TURN URL accepted (the web page's limit too).
pub const MAX_URL_LEN: usize = 256;
/// Largest secret file read: a shared secret is a line, not a document.
const MAX_SECRET_LEN: usize = 4096;

/// What is wrong with the TURN settings.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    /// A `--turn` value is not a TURN URI.
    #[error(
        "TURN URL {url:?} is not a turn: or turns: URI (RFC 7065): {why}; \
         write e.g. turns:turn.example.org:443?transport=tcp"
    )]
    BadUrl {
        /// The value given.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// More URLs than a page accepts.
    #[error("{0} TURN URLs given; at most {MAX_URLS} are handed out (browsers try each)")]
    TooManyUrls(usize),
    /// URLs but no secret file.
    #[error(
        "TURN URLs given without --turn-secret-file: give the file holding the TURN \
         server's shared secret (coturn's static-auth-secret)"
    )]
    NoSecret,
    /// A secret file but no URLs.
    #[error(
        "--turn-secret-file given without any --turn URL: say where browsers reach the \
         TURN server, e.g. --turn turns:turn.example.org:443?transport=tcp"
    )]
    NoUrls,
    /// The secret file cannot be read.
    #[error(
        "cannot read the TURN secret file {path}: {cause}; give a file the relay's user \
         can read, holding coturn's static-auth-secret on one line"
    )]
    SecretUnreadable {
        /// The file.
        path: PathBuf,
        /// Why (in the message, not a chained source: said once).
        cause: std::io::Error,
    },
    /// The secret file holds nothing but white space.
    #[error(
        "the TURN secret file {path} is empty: put coturn's static-auth-secret in it \
         (e.g. the output of `openssl rand -hex 32`)"
    )]
    SecretEmpty {
        /// The file.
        path: PathBuf,
    },
    /// The secret file is far larger than a secret.
    #[error(
        "the TURN secret file {path} is over {MAX_SECRET_LEN} bytes: it should hold only \
         coturn's static-auth-secret, on one line"
    )]
    SecretTooLong {
        /// The file.
        path: PathBuf,
    },
    /// The credential lifetime is out of range.
    #[error(
        "TURN credential lifetime {0} s is out of range: give {min} to {max} seconds \
         (default {default})",
        min = MIN_LIFETIME.as_secs(),
        max = MAX_LIFETIME.as_secs(),
        default = DEFAULT_LIFETIME.as_secs()
    )]
    Lifetime(u64),
}

/// A checked TURN URI (RFC 7065 §3.1):
/// `turn[s]:host[:port][?transport=udp|tcp]`, with `host` a DNS name, an
/// IPv4 address or a bracketed IPv6 address. Nothing else: no user info,
/// path or other query, which browsers would refuse or misread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnUrl(String);

impl TurnUrl {
    /// Checks `text` and wraps it.
    pub fn parse(text: &str) -> Result<TurnUrl, TurnError> {
        let bad = |why| TurnError::BadUrl {
            url: text.to_owned(),
            why,
        };
        if text.len() > MAX_URL_LEN {
            return Err(bad("longer than 256 characters"));
        }
        let (secure, rest) = if let Some(r) = text.strip_prefix("turns:") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("turn:") {
            (false, r)
        } else {
            return Err(bad("it must start with turn: or turns:"));
        };
        let (authority, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        match query {
            None | Some("transport=tcp") => {}
            Some("transport=udp") if !secure => {}
            Some("transport=udp") => {
                return Err(bad(
                    "turns: with transport=udp (TURN over DTLS) is not supported by browsers",
                ))
            }
            Some(_) => {
                return Err(bad(
                    "the only query allowed is ?transport=udp or ?transport=tcp",
                ))
            }
        }
        let (host, port) = if let Some(r) = authority.strip_prefix('[') {
            let (v6, after) = r
                .split_once(']')
                .ok_or_else(|| bad("an unclosed [ in the host"))?;
            if v6.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("the bracketed host is not an IPv6 address"));
            }
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| bad("junk after the ]"))?),
            };
            (None, port)
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (Some(h), Some(p)),
                None => (Some(authority), None),
            }
        };
        if let Some(host) = host {
            if host.is_empty() {
                return Err(bad("no host"));
            }
            if host.len() > 253
                || host.starts_with(['.', '-'])
                || !host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            {
                return Err(bad("the host is not a DNS name or an IPv4 address"));
            }
        }
        if let Some(port) = port {
            let ok = !port.is_empty()
                && port.len() <= 5
                && port.bytes().all(|b| b.is_ascii_digit())
                && port.parse::<u16>().is_ok_and(|p| p != 0);
            if !ok {
                return Err(bad("the port is not a number from 1 to 65535"));
            }
        }
        Ok(TurnUrl(text.to_owned()))
    }

    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The relay's TURN settings: where browsers reach the TURN server, and the
/// key that mints their credentials.
#[derive(Clone)]
pub struct Turn {
    urls: Vec<TurnUrl>,
    key: hmac::Key,
    lifetime: Duration,
}

impl std::fmt::Debug for Turn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key: Debug output ends up in logs.
        f.debug_struct("Turn")
            .field("urls", &self.urls)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl Turn {
    /// Settings from `urls` and the shared `secret` (the bytes coturn has as
    /// `static-auth-secret`).
    pub fn new(urls: Vec<TurnUrl>, secret: &[u8], lifetime: Duration) -> Result<Turn, TurnError> {
        if urls.is_empty() {
            return Err(TurnError::NoUrls);
        }
        if urls.len() > MAX_URLS {
            return Err(TurnError::TooManyUrls(urls.len()));
        }
        if !(MIN_LIFETIME..=MAX_LIFETIME).contains(&lifetime) {
            return Err(TurnError::Lifetime(lifetime.as_secs()));
        }
        Ok(Turn {
            urls,
            key: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret),
            lifetime,
        })
    }

    /// The relay's TURN settings from its configuration: none when neither
    /// URLs nor a secret file are given; an error when only one is, or
    /// either is bad. Reads the secret file.
    pub fn from_settings(
        urls: &[String],
        secret_file: Option<&Path>,
        lifetime_secs: Option<u64>,
    ) -> Result<Option<Turn>, TurnError> {
        let urls: Vec<&str> = urls
            .iter()
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
            .collect();
        let path = match (urls.is_empty(), secret_file) {
            (true, None) => return Ok(None),
            (false, None) => return Err(TurnError::NoSecret),
            (true, Some(_)) => return Err(TurnError::NoUrls),
            (false, Some(path)) => path,
        };
        let urls = urls
            .into_iter()
            .map(TurnUrl::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let secret = read_secret(path)?;
        let lifetime = lifetime_secs.map_or(DEFAULT_LIFETIME, Duration::from_secs);
        Turn::new(urls, &secret, lifetime).map(Some)
    }

    /// Credentials for one join, valid until `now` + the lifetime. `id` is
    /// random (it only keeps usernames apart) and identifies no one.
    pub fn credentials(&self, now: SystemTime, id: u64) -> IceServer {
        let expiry = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(self.lifetime)
            .as_secs();
        let username = format!("{expiry}:{id:016x}");
        let tag = hmac::sign(&self.key, username.as_bytes());
        IceServer {
            urls: self.urls.iter().map(|u| u.0.clone()).collect(),
            username,
            credential: base64::engine::general_purpose::STANDARD.encode(tag.as_ref()),
        }
    }

    /// The URLs handed out.
    pub fn urls(&self) -> &[TurnUrl] {
        &self.urls
    }

    /// How long each credential may start allocations.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }
}

/// The secret: the file's content without surrounding white space (a
/// trailing newline above all), as coturn reads `static-auth-secret=…`.
fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, TurnError> {
    let unreadable = |cause| TurnError::SecretUnreadable {
        path: path.to_owned(),
        cause,
    };
    let len = std::fs::metadata(path).map_err(unreadable)?.len();
    if len > MAX_SECRET_LEN as u64 {
        return Err(TurnError::SecretTooLong {
            path: path.to_owned(),
        });
    }
    let all = Zeroizing::new(std::fs::read(path).map_err(unreadable)?);
    let trimmed = all.trim_ascii();
    if trimmed.is_empty() {
        return Err(TurnError::SecretEmpty {
            path: path.to_owned(),
        });
    }
    if trimmed.len() > MAX_SECRET_LEN {
        return Err(TurnError::SecretTooLong {
            path: path.to_owned(),
        });
    }
    Ok(Zeroizing::new(trimmed.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Vec<TurnUrl> {
        list.iter().map(|u| TurnUrl::parse(u).unwrap()).collect()
    }

    /// The expected value is from outside this code:
    /// `printf %s 1700000600:00112233445566ff | openssl dgst -sha1 -hmac
    /// north-wind-secret -binary | base64` (Python's hmac module agrees).
    #[test]
    fn credentials_follow_coturns_rest_scheme() {
        let turn = Turn::new(
            urls(&["turn:127.0.0.1:3478?transport=tcp"]),
            b"north-wind-secret",
            Duration::from_secs(600),
        )
        .unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let got = turn.credentials(now, 0x0011_2233_4455_66ff);
        assert_eq!(got.username, "1700000600:00112233445566ff");
        assert_eq!(got.credential, "Qufq9JbmmR9pMVWRstsrnWODLJA=");
        assert_eq!(got.urls, ["turn:127.0.0.1:3478?transport=tcp"]);
        // Another id, another username and credential; the same expiry.
        let other = turn.credentials(now, 1);
        assert_eq!(other.username, "1700000600:0000000000000001");
        assert_ne!(other.credential, got.credential);
    }

    #[test]
    fn turn_urls_are_checked() {
        for good in [
            "turn:turn.example.org",
            "turns:turn.example.org:443?transport=tcp",
            "turn:192.0.2.7:3478?transport=udp",
            "turn:[2001:db8::1]:3478",
            "turns:[::1]",
            "turn:a-b.c:65535",
        ] {
            assert_eq!(TurnUrl::parse(good).unwrap().as_str(), good);
        }
        for (bad, why) in [
            ("stun:turn.example.org", "must start with turn: or turns:"),
            (
                "https://turn.example.org",
                "must start with turn: or turns:",
            ),
            ("TURN:turn.example.org", "must start with turn: or turns:"),
            ("turn:", "no host"),
            ("turn::3478", "no host"),
            ("turn://turn.example.org", "not a DNS name"),
            ("turn:user@turn.example.org", "not a DNS name"),
            ("turn:turn.example.org/x", "not a DNS name"),
            ("turn:turn.example.org:0", "1 to 65535"),
            ("turn:turn.example.org:65536", "1 to 65535"),
            ("turn:turn.example.org:x", "1 to 65535"),
            ("turn:turn.example.org:", "1 to 65535"),
            ("turn:turn.example.org?transport=sctp", "only query"),
            ("turn:turn.example.org?transport=tcp&x=1", "only query"),
            ("turns:turn.example.org?transport=udp", "DTLS"),
            ("turn:[2001:db8::1", "unclosed"),
            ("turn:[nope]:3478", "IPv6"),
            ("turn:[::1]x", "junk"),
            ("turn:-x.org", "not a DNS name"),
            ("turn:t\u{e9}.org", "not a DNS name"),
        ] {
            let err = TurnUrl::parse(bad).expect_err(bad).to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(
                err.contains("RFC 7065") && err.contains("e.g. turns:"),
                "{err}"
            );
        }
        let long = format!("turn:{}.org", "a".repeat(260));
        assert!(TurnUrl::parse(&long).is_err());
    }

    #[test]
    fn settings_need_urls_and_a_readable_nonempty_secret() {
        let dir = std::env::temp_dir().join(format!("conclave-turn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret");
        let url = ["turn:127.0.0.1:3478?transport=tcp".to_owned()];

        assert!(Turn::from_settings(&[], None, None).unwrap().is_none());
        assert!(matches!(
            Turn::from_settings(&url, None, None),
            Err(TurnError::NoSecret)
        ));
        assert!(matches!(
            Turn::from_settings(&[], Some(&file), None),
            Err(TurnError::NoUrls)
        ));

        let err = Turn::from_settings(&url, Some(&file), None).unwrap_err();
        assert!(matches!(err, TurnError::SecretUnreadable { .. }), "{err}");
        assert!(err.to_string().contains("cannot read the TURN secret file"));

        std::fs::write(&file, " \n").unwrap();
        let err = Turn::from_settings(&url, Some(&file), None).unwrap_err();
        assert!(err.to_string().contains("is empty"), "{err}");

        std::fs::write(&file, vec![b'x'; MAX_SECRET_LEN + 1]).unwrap();
        let err = Turn::from_settings(&url, Some(&file), None).unwrap_err();
        assert!(err.to_string().contains("over 4096 bytes"), "{err}");

        // A trailing newline is not part of the secret: the same vector.
        std::fs::write(&file, "north-wind-secret\n").unwrap();
        let turn = Turn::from_settings(&url, Some(&file), None)
            .unwrap()
            .unwrap();
        assert_eq!(turn.lifetime(), DEFAULT_LIFETIME);
        let got = turn.credentials(
            UNIX_EPOCH + Duration::from_secs(1_699_999_400),
            0x0011_2233_4455_66ff,
        );
        assert_eq!(got.username, "1700000000:00112233445566ff");
        let fixed = Turn::new(
            urls(&url.each_ref().map(|s| s.as_str())),
            b"north-wind-secret",
            DEFAULT_LIFETIME,
        )
        .unwrap()
        .credentials(
            UNIX_EPOCH + Duration::from_secs(1_699_999_400),
            0x0011_2233_4455_66ff,
        );
        assert_eq!(got, fixed);
        // The secret shows in no Debug output.
        assert!(!format!("{turn:?}").contains("north"), "{turn:?}");

        for secs in [59, 86_401] {
            let err = Turn::from_settings(&url, Some(&file), Some(secs)).unwrap_err();
            assert!(err.to_string().contains("out of range"), "{err}");
        }
        let many = vec!["turn:a.example".to_owned(); MAX_URLS + 1];
        let err = Turn::from_settings(&many, Some(&file), None).unwrap_err();
        assert!(matches!(err, TurnError::TooManyUrls(9)), "{err}");
        let err = Turn::from_settings(&["stun:x".into()], Some(&file), None).unwrap_err();
        assert!(err.to_string().contains("stun:x"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
