//! The relay's WebSocket origin policy, applied to a handshake's headers.
//! The parser and the rules live in [`conclave_proto::origin`] (no I/O, so
//! the fuzzer reaches them); see its documentation for the policy.

use axum::http::{header, HeaderMap};
pub use conclave_proto::origin::{Allowed, Origin, OriginError, OriginPolicy, Refused};

/// [`OriginPolicy::check`] on a request's headers. More than one `Origin`
/// header, or one that is not text, is refused.
pub fn check_headers(policy: &OriginPolicy, headers: &HeaderMap) -> Result<Allowed, Refused> {
    let origins: Vec<&[u8]> = headers
        .get_all(header::ORIGIN)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let host = headers.get(header::HOST).map(|h| h.as_bytes());
    policy.check_raw(&origins, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> OriginPolicy {
        OriginPolicy::new(vec![Origin::parse("https://meet.example.org").unwrap()])
    }

    #[test]
    fn headers_with_several_or_binary_origins_are_refused() {
        use axum::http::HeaderValue;
        let p = policy();
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("relay.example"));
        assert_eq!(check_headers(&p, &h), Ok(Allowed::NoOrigin));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://relay.example"),
        );
        assert_eq!(check_headers(&p, &h), Ok(Allowed::SameOrigin));
        h.append(
            header::ORIGIN,
            HeaderValue::from_static("https://relay.example"),
        );
        assert!(check_headers(&p, &h).is_err());
        h.remove(header::ORIGIN);
        h.insert(
            header::ORIGIN,
            HeaderValue::from_bytes(b"https://r\xffelay").unwrap(),
        );
        assert!(check_headers(&p, &h).is_err());
    }
}
