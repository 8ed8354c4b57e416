//! Per-connection checks on what a client sends, before anything reaches the
//! engine: size, syntax, order, rate and protocol version. Sans-I/O: the
//! WebSocket task in [`crate::http`] feeds it text and the time, and sends
//! back what it refuses. A refusal goes to that client only; the room never
//! sees bad input. (The join's founder token is checked against the room by
//! the engine, [`crate::sfu`], which knows the room: before a room is made
//! or a peer is seen.)

use std::time::{Duration, Instant};

use conclave_proto::{ClientMsg, ErrorCode, PROTOCOL_VERSION};

/// Messages allowed per second on one connection, sustained.
const RATE_PER_SEC: f64 = 20.0;
/// Messages allowed in a burst.
const BURST: f64 = 60.0;

/// A refused message: what to tell the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Kind.
    pub code: ErrorCode,
    /// For people: what went wrong and what to do.
    pub message: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// The checks for one connection.
#[derive(Debug)]
pub struct Gate {
    max_bytes: usize,
    joined: bool,
    tokens: f64,
    last: Instant,
}

impl Gate {
    /// A gate for a new connection.
    pub fn new(max_bytes: usize, now: Instant) -> Self {
        Gate {
            max_bytes,
            joined: false,
            tokens: BURST,
            last: now,
        }
    }

    /// Checks one text frame.
    pub fn check(&mut self, now: Instant, text: &str) -> Result<ClientMsg, Refusal> {
        let elapsed = now
            .saturating_duration_since(self.last)
            .min(Duration::from_secs(10));
        self.last = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * RATE_PER_SEC).min(BURST);
        if self.tokens < 1.0 {
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                format!("too many messages; at most {RATE_PER_SEC} per second are accepted, this one was dropped"),
            ));
        }
        self.tokens -= 1.0;
        if text.len() > self.max_bytes {
            return Err(Refusal::new(
                ErrorCode::TooLarge,
                format!(
                    "message of {} bytes is over this relay's limit of {} bytes",
                    text.len(),
                    self.max_bytes
                ),
            ));
        }
        let msg = ClientMsg::parse(text)
            .map_err(|e| Refusal::new(ErrorCode::BadMessage, e.to_string()))?;
        match (&msg, self.joined) {
            (ClientMsg::Join { protocol, .. }, false) => {
                if *protocol != PROTOCOL_VERSION {
                    return Err(Refusal::new(
                        ErrorCode::UnsupportedVersion,
                        format!(
                            "this relay speaks signaling protocol {PROTOCOL_VERSION}, not {protocol}; reload the page or update the client"
                        ),
                    ));
                }
                self.joined = true;
            }
            (ClientMsg::Join { .. }, true) => {
                return Err(Refusal::new(
                    ErrorCode::OutOfOrder,
                    "already joined; send join only once per connection",
                ));
            }
            (_, false) => {
                return Err(Refusal::new(ErrorCode::OutOfOrder, "send join first"));
            }
            (_, true) => {}
        }
        Ok(msg)
    }

    /// The refusal for a binary frame.
    pub fn binary() -> Refusal {
        Refusal::new(
            ErrorCode::BadMessage,
            "binary frames are not part of the protocol; send JSON text frames",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOIN: &str =
        r#"{"type":"join","protocol":2,"founder":"U5V2eH0IL_8ixeZHowy7eMXOwAC8CgR9AlziDXL-v2o"}"#;

    fn joined_gate(now: Instant) -> Gate {
        let mut g = Gate::new(1024, now);
        g.check(now, JOIN).unwrap();
        g
    }

    #[test]
    fn join_comes_first_and_once() {
        let now = Instant::now();
        let mut g = Gate::new(1024, now);
        let e = g.check(now, r#"{"type":"offer","sdp":"v=0"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::OutOfOrder);
        g.check(now, JOIN).unwrap();
        let e = g.check(now, JOIN).unwrap_err();
        assert_eq!(e.code, ErrorCode::OutOfOrder);
        assert!(g.check(now, r#"{"type":"offer","sdp":"v=0"}"#).is_ok());
    }

    #[test]
    fn wrong_version_is_refused_and_fatal() {
        let now = Instant::now();
        let mut g = Gate::new(1024, now);
        let e = g
            .check(now, r#"{"type":"join","protocol":99}"#)
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedVersion);
        assert!(e.code.is_fatal());
        assert!(e.message.contains("99"));
        // An old cached page (protocol 1, no founder token) is told to
        // reload, not that its message is malformed.
        let mut g = Gate::new(1024, now);
        let e = g.check(now, r#"{"type":"join","protocol":1}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedVersion);
        assert!(e.message.contains("reload"), "{}", e.message);
    }

    #[test]
    fn malformed_and_oversized_are_refused_not_fatal() {
        let now = Instant::now();
        let mut g = joined_gate(now);
        for bad in ["", "{", "[1,2]", r#"{"type":"offer"}"#, "\u{0}\u{1}"] {
            let e = g.check(now, bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadMessage, "{bad:?}");
            assert!(!e.code.is_fatal());
        }
        let big = format!(r#"{{"type":"mls","data":"{}"}}"#, "A".repeat(2000));
        let e = g.check(now, &big).unwrap_err();
        assert_eq!(e.code, ErrorCode::TooLarge);
        assert!(e.message.contains("1024"));
        // Still usable afterwards.
        assert!(g
            .check(now, r#"{"type":"media","audio":true,"video":false}"#)
            .is_ok());
    }

    #[test]
    fn floods_are_limited_then_recover() {
        let now = Instant::now();
        let mut g = joined_gate(now);
        let msg = r#"{"type":"mls","data":"AQE="}"#;
        let accepted = (0..200).filter(|_| g.check(now, msg).is_ok()).count();
        assert_eq!(accepted, BURST as usize - 1);
        let later = now + Duration::from_secs(1);
        assert!(g.check(later, msg).is_ok());
    }
}
