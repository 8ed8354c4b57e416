//! The relay's WebSocket origin policy on any handshake headers
//! (`conclave_proto::origin`): the first byte splits the rest into an
//! `Origin` header value and a `Host` header value. No panic; an origin that
//! parses serializes to text that parses back to the same origin (browsers
//! compare origins as serialized text); and a foreign https origin is never
//! allowed unless it is the request's own host or the listed one.
#![no_main]
use conclave_proto::origin::{Allowed, Origin, OriginPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let (origin, host) = rest.split_at((split as usize).min(rest.len()));
    let listed = Origin::parse("https://meet.example.org").expect("a valid origin");
    let policy = OriginPolicy::new(vec![listed.clone()]);
    let verdict = policy.check_raw(&[origin], Some(host));
    let Ok(text) = std::str::from_utf8(origin) else {
        assert!(verdict.is_err(), "a non-text Origin header was allowed");
        return;
    };
    if let Ok(parsed) = Origin::parse(text) {
        let again = Origin::parse(&parsed.to_string()).expect("a serialized origin parses");
        assert_eq!(again, parsed);
        if parsed.is_secure() && parsed != listed {
            // Allowed only as the relay's own origin (its Host header).
            if verdict.is_ok() {
                let own = std::str::from_utf8(host)
                    .ok()
                    .and_then(|h| Origin::from_authority(true, h).ok());
                assert_eq!(verdict, Ok(Allowed::SameOrigin));
                assert_eq!(own.as_ref(), Some(&parsed));
            }
        }
    } else {
        assert!(verdict.is_err(), "an Origin that does not parse was allowed: {text:?}");
    }
});
