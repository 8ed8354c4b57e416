//! Room secrets, room ids and links.
//!
//! A room is created from a 32-byte random secret S. Everything else is
//! derived one-way from it with HKDF-SHA256 (RFC 5869) and fixed labels:
//!
//! - `founder_token = HKDF(S, "conclave founder token")`, 32 bytes: shown to
//!   the relay in every `join`, so it can check that the connection was made
//!   from the link ([`crate::founder`]);
//! - `room_id = SHA-256("conclave room id v2" ‖ founder_token)`, first 16
//!   bytes, shown as 22 base64url characters: the room's name at the relay,
//!   one-way from the token and so from S;
//! - `admit_key = HKDF(S, "conclave admit")`, 32 bytes: proves to members
//!   that a joiner knows S ([`crate::admission`]).
//!
//! The link is `https://HOST/#<S-base64url>[&name=…]`. Browsers never send
//! the fragment to the server, so the relay sees the room id and the founder
//! token only when someone joins, never S (docs/design.md §1, "hand out the
//! meeting password"); and since the path is the same for every meeting, a
//! page load does not tell the relay which meeting it is for, so a modified
//! page cannot be served to one meeting's members only (issue 10, "the served
//! code").
//!
//! Older links put the room id in the path, `https://HOST/r/<room_id>#<S>`,
//! with the current id or, before signaling protocol 2, the first one,
//! `HKDF(S, "conclave room id")` ([`RoomSecret::room_id_v1`]). They still
//! parse (the id must match the secret) and name the room by its current id
//! ([`RoomLink::room_id`]). The fragment may also carry the secret as `s=<S>`
//! and the room id as `r=<room_id>` (checked against the secret), the form
//! `conclave open` writes.

use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::LinkError;
use crate::founder::{FounderToken, FOUNDER_TOKEN_LEN};

/// Bytes of a room id.
pub const ROOM_ID_LEN: usize = crate::founder::ROOM_ID_LEN;
/// Longest display-name hint accepted in a link, in bytes.
pub const MAX_LINK_NAME_LEN: usize = 64;
/// Longest link accepted, in bytes.
pub const MAX_LINK_LEN: usize = 2048;
/// Longest relay address (`https://host[:port][/path]`) in a link, in bytes:
/// with the room path, the secret and the longest name (percent-encoded,
/// up to 3 bytes per byte) a link stays within [`MAX_LINK_LEN`], so every
/// link written by [`RoomLink::to_url`] parses back.
pub const MAX_LINK_BASE_LEN: usize = MAX_LINK_LEN
    - ("/r/".len()
        + 22
        + "#".len()
        + 43
        + "&a=".len()
        + 43
        + "&name=".len()
        + 3 * MAX_LINK_NAME_LEN);

/// The first room-id derivation (links made before protocol 2).
const LABEL_ROOM_ID_V1: &[u8] = b"conclave room id";
const LABEL_FOUNDER: &[u8] = b"conclave founder token";
const LABEL_ADMIT: &[u8] = b"conclave admit";

fn derive<const N: usize>(secret: &[u8; 32], label: &[u8]) -> [u8; N] {
    let hk = Hkdf::<Sha256>::new(None, secret);
    let mut out = [0u8; N];
    // N ≤ 255 * 32 for every call site, so expand cannot fail.
    if hk.expand(label, &mut out).is_err() {
        unreachable!("HKDF output length is a small constant");
    }
    out
}

/// The room secret S: whoever holds it may ask to join. Zeroized on drop;
/// `Debug` never shows it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RoomSecret([u8; 32]);

impl RoomSecret {
    /// A fresh random secret for a new room.
    pub fn generate() -> Self {
        let mut s = [0u8; 32];
        crate::random::fill(&mut s);
        RoomSecret(s)
    }

    /// Wraps 32 secret bytes (e.g. from a saved room).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        RoomSecret(bytes)
    }

    /// The raw secret. Never log or send it to the relay.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The token a client shows the relay in each `join`: it proves the
    /// connection was made from the link without giving the relay S, the
    /// admit key or anything else derived from S.
    pub fn founder_token(&self) -> FounderToken {
        FounderToken::from_bytes(derive::<FOUNDER_TOKEN_LEN>(&self.0, LABEL_FOUNDER))
    }

    /// The relay-visible room id: a hash of the founder token, so one-way
    /// from the secret, and checkable by the relay against the token.
    pub fn room_id(&self) -> RoomId {
        RoomId(self.founder_token().room_id_bytes())
    }

    /// The room id links carried before signaling protocol 2. Accepted by
    /// [`RoomLink::parse`] so old links keep working; never used to connect
    /// (the relay cannot check it against a founder token).
    pub fn room_id_v1(&self) -> RoomId {
        RoomId(derive::<ROOM_ID_LEN>(&self.0, LABEL_ROOM_ID_V1))
    }

    /// Whether `room_id` names this secret's room: its current id, or the id
    /// an older link carried ([`RoomSecret::room_id_v1`]).
    pub fn names_room(&self, room_id: &RoomId) -> bool {
        *room_id == self.room_id() || *room_id == self.room_id_v1()
    }

    /// The key join proofs are made with.
    pub fn admit_key(&self) -> AdmitKey {
        AdmitKey(derive::<32>(&self.0, LABEL_ADMIT))
    }

    /// The secret as unpadded base64url (43 characters), for a link fragment.
    pub fn to_base64url(&self) -> Zeroizing<String> {
        Zeroizing::new(Base64UrlUnpadded::encode_string(&self.0))
    }

    /// Parses the base64url form from a link fragment (constant-time decode).
    pub fn from_base64url(s: &str) -> Result<Self, LinkError> {
        let mut buf = [0u8; 32];
        let decoded = Base64UrlUnpadded::decode(s, &mut buf).map_err(|_| LinkError::BadSecret)?;
        if decoded.len() != 32 {
            buf.zeroize();
            return Err(LinkError::BadSecret);
        }
        Ok(RoomSecret(buf))
    }
}

impl fmt::Debug for RoomSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoomSecret(<redacted>, room {})", self.room_id())
    }
}

/// The secret join proofs are made with after a member was removed from the
/// room (issue 10, "revocation"): the members derive it from the MLS epoch
/// that removal started ([`crate::Member::admission_secret`]), so a removed
/// member, who lacks that epoch, cannot know it, and the relay cannot hold it
/// back from some members. New links carry it as `a=` beside S; from then on
/// members accept only proofs made with it, so the old link admits nobody.
/// Zeroized on drop; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct AdmissionSecret(pub(crate) [u8; 32]);

impl AdmissionSecret {
    /// Wraps 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        AdmissionSecret(bytes)
    }

    /// The key join proofs are made with under this admission secret.
    pub fn admit_key(&self) -> AdmitKey {
        AdmitKey(derive::<32>(&self.0, LABEL_ADMIT))
    }

    /// Unpadded base64url (43 characters), for a link fragment (`a=`).
    pub fn to_base64url(&self) -> Zeroizing<String> {
        Zeroizing::new(Base64UrlUnpadded::encode_string(&self.0))
    }

    /// Parses the base64url form from a link fragment.
    pub fn from_base64url(s: &str) -> Result<Self, LinkError> {
        RoomSecret::from_base64url(s).map(|r| AdmissionSecret(*r.as_bytes()))
    }
}

impl fmt::Debug for AdmissionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdmissionSecret(<redacted>)")
    }
}

/// The key members check join proofs with (docs/design.md §1, "slip in a ghost
/// participant"). Zeroized on drop; `Debug` never shows it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AdmitKey(pub(crate) [u8; 32]);

impl fmt::Debug for AdmitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdmitKey(<redacted>)")
    }
}

/// A room's name at the relay: 16 bytes derived one-way from the room secret,
/// written as 22 base64url characters (valid as `conclave_proto::RoomId`).
/// Knowing it grants routing only.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoomId(pub [u8; ROOM_ID_LEN]);

impl RoomId {
    /// Parses the 22-character text form.
    pub fn parse(s: &str) -> Result<Self, LinkError> {
        let mut buf = [0u8; ROOM_ID_LEN];
        match Base64UrlUnpadded::decode(s, &mut buf) {
            Ok(d) if d.len() == ROOM_ID_LEN => Ok(RoomId(buf)),
            _ => Err(LinkError::BadRoomId),
        }
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; ROOM_ID_LEN] {
        &self.0
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Base64UrlUnpadded::encode_string(&self.0))
    }
}

impl fmt::Debug for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoomId({self})")
    }
}

/// An invitation link: `https://HOST/#<S>[&name=…]` (see the module docs
/// for the older forms it also reads).
///
/// It contains the room secret, so it has no `Display` (format it on purpose
/// with [`RoomLink::to_url`]) and its `Debug` hides the secret.
#[derive(Clone)]
pub struct RoomLink {
    base: String,
    secret: RoomSecret,
    admission: Option<AdmissionSecret>,
    name: Option<String>,
}

impl RoomLink {
    /// A link for `secret` on the relay at `base` (`https://host[:port][/path]`,
    /// no trailing slash needed).
    pub fn new(base: &str, secret: RoomSecret) -> Result<Self, LinkError> {
        let base = base.trim_end_matches('/');
        check_base(base)?;
        Ok(RoomLink {
            base: base.to_owned(),
            secret,
            admission: None,
            name: None,
        })
    }

    /// The admission secret of a room whose members removed someone
    /// ([`AdmissionSecret`]): joiners prove knowledge of it instead of S.
    pub fn with_admission(mut self, admission: AdmissionSecret) -> Self {
        self.admission = Some(admission);
        self
    }

    /// The link's admission secret, if the room rotated it.
    pub fn admission(&self) -> Option<&AdmissionSecret> {
        self.admission.as_ref()
    }

    /// Adds a display-name hint for the room (travels only in the fragment).
    pub fn with_name(mut self, name: &str) -> Result<Self, LinkError> {
        if name.len() > MAX_LINK_NAME_LEN {
            return Err(LinkError::NameTooLong(name.len()));
        }
        self.name = Some(name.to_owned());
        Ok(self)
    }

    /// The relay's base URL (`https://host[:port][/path]`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The room secret.
    pub fn secret(&self) -> &RoomSecret {
        &self.secret
    }

    /// The room id (derived from the secret): the current one, even if the
    /// parsed link carried the first one.
    pub fn room_id(&self) -> RoomId {
        self.secret.room_id()
    }

    /// The founder token to show the relay when joining
    /// ([`RoomSecret::founder_token`]).
    pub fn founder_token(&self) -> FounderToken {
        self.secret.founder_token()
    }

    /// The room's display-name hint, if the link has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The link as text. It contains the secret: share it only with people
    /// who may join.
    pub fn to_url(&self) -> Zeroizing<String> {
        let mut s = format!("{}/#{}", self.base, self.secret.to_base64url().as_str());
        if let Some(a) = &self.admission {
            s.push_str("&a=");
            s.push_str(a.to_base64url().as_str());
        }
        if let Some(name) = &self.name {
            s.push_str("&name=");
            percent_encode(name, &mut s);
        }
        Zeroizing::new(s)
    }

    /// Parses a link in any of the forms in the module docs, checking that a
    /// room id it carries (in the path or as `r=`) is one the secret derives
    /// (a link whose halves do not match was edited). Unknown `key=value`
    /// fragment parameters are ignored, so later versions can add some.
    pub fn parse(link: &str) -> Result<Self, LinkError> {
        if link.len() > MAX_LINK_LEN {
            return Err(LinkError::TooLong(link.len()));
        }
        let (url, fragment) = link.split_once('#').ok_or(LinkError::NoSecret)?;
        let trimmed = url.trim_end_matches('/');
        // `…/r/<room-id>`: an older link with the room id in the path (looked
        // for in the path only, never in the host).
        let after_scheme = trimmed.find("://").map_or(0, |i| i + 3);
        let room_path = trimmed[after_scheme..]
            .find('/')
            .and_then(|p| {
                trimmed[after_scheme + p..]
                    .rfind("/r/")
                    .map(|i| after_scheme + p + i)
            })
            .filter(|&i| !trimmed[i + 3..].contains('/'));
        let (base, mut room_id) = match room_path {
            Some(i) => (&trimmed[..i], Some(RoomId::parse(&trimmed[i + 3..])?)),
            None => (trimmed, None),
        };
        // As RoomLink::new does: a base never ends with `/` (found by fuzzing:
        // `https://h//r/<id>#…` formatted to a different base).
        let mut base = base;
        while base.len() > after_scheme && base.ends_with('/') {
            base = &base[..base.len() - 1];
        }
        check_base(base)?;
        let mut secret = None;
        let mut admission = None;
        let mut name = None;
        for (i, part) in fragment.split('&').enumerate() {
            if let Some(v) = part.strip_prefix("name=") {
                let decoded = percent_decode(v)?;
                if decoded.len() > MAX_LINK_NAME_LEN {
                    return Err(LinkError::NameTooLong(decoded.len()));
                }
                name = Some(decoded);
            } else if let Some(v) = part.strip_prefix("a=") {
                admission = Some(AdmissionSecret::from_base64url(v)?);
            } else if let Some(v) = part.strip_prefix("s=") {
                secret = Some(RoomSecret::from_base64url(v)?);
            } else if let Some(v) = part.strip_prefix("r=") {
                let id = RoomId::parse(v)?;
                if room_id.is_some_and(|r| r != id) {
                    return Err(LinkError::RoomMismatch);
                }
                room_id = Some(id);
            } else if i == 0 && !part.is_empty() && !part.contains('=') {
                secret = Some(RoomSecret::from_base64url(part)?);
            }
        }
        let secret = secret.ok_or(LinkError::NoSecret)?;
        if room_id.is_some_and(|id| !secret.names_room(&id)) {
            return Err(LinkError::RoomMismatch);
        }
        Ok(RoomLink {
            base: base.to_owned(),
            secret,
            admission,
            name,
        })
    }
}

impl fmt::Debug for RoomLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomLink")
            .field("base", &self.base)
            .field("room_id", &self.room_id())
            .field("secret", &"<redacted>")
            .field("name", &self.name)
            .finish()
    }
}

fn check_base(base: &str) -> Result<(), LinkError> {
    if base.len() > MAX_LINK_BASE_LEN {
        return Err(LinkError::BaseTooLong(base.len()));
    }
    let rest = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"))
        .ok_or(LinkError::BadScheme)?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty()
        || !rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~:/[]%@".contains(c))
    {
        return Err(LinkError::BadHost);
    }
    // A relay address whose path has an `r` segment would read as an older
    // link's room path (`…/r/<room-id>`) once formatted: refuse it, so every
    // link parses back to the same address (found by fuzzing).
    let path = &rest[host.len()..];
    if path.contains("/r/") || path.ends_with("/r") {
        return Err(LinkError::BadHost);
    }
    Ok(())
}

fn percent_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn percent_decode(s: &str) -> Result<String, LinkError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(LinkError::BadName)?;
                let hex = std::str::from_utf8(hex).map_err(|_| LinkError::BadName)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| LinkError::BadName)?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| LinkError::BadName)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed vectors, computed independently (Python: hmac/hashlib HKDF
    /// with an all-zero salt, then SHA-256): a change of label or order
    /// breaks every existing link, so it must show up here.
    #[test]
    fn derivations_are_fixed_and_one_way_labelled() {
        let vectors = [
            (
                [7u8; 32],
                "IGmHxkTbbTo_FX9WAN9NBQ",
                "U5V2eH0IL_8ixeZHowy7eMXOwAC8CgR9AlziDXL-v2o",
                "hS0C2R2zJoxkngYCbAKWXQ",
                "a484526269bae78f45fdef98cdb6a97ecf4a655adcba89bd048196c5e2f478bd",
            ),
            (
                std::array::from_fn(|i| i as u8),
                "avKi9QPRx7BHV4D6fBi4dg",
                "L2wrrgs3gF7nn2iTY0KPxcxsdIzfnvS8J421hmUV_rg",
                "cXeQ47KRCrbzZE-ASrPFxA",
                "4ffd009bee704bd2fbb46de805f56612151fba8bbb4873f526d518b989427d6c",
            ),
        ];
        for (secret, v1, token, v2, admit) in vectors {
            let s = RoomSecret::from_bytes(secret);
            assert_eq!(s.room_id_v1().to_string(), v1);
            assert_eq!(s.founder_token().to_base64url(), token);
            assert_eq!(s.room_id().to_string(), v2);
            let hex: String = s.admit_key().0.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, admit);
            // The relay's check, from the token alone.
            assert!(crate::founder::verify_founder_token(v2, token));
            assert!(!crate::founder::verify_founder_token(v1, token));
        }
        let s = RoomSecret::from_bytes([7; 32]);
        assert_ne!(s.room_id(), RoomSecret::from_bytes([8; 32]).room_id());
        assert_ne!(&s.admit_key().0[..], &s.founder_token().as_bytes()[..]);
        assert_eq!(
            RoomId::parse(&s.room_id().to_string()).unwrap(),
            s.room_id()
        );
    }

    #[test]
    fn old_links_parse_and_name_the_current_room() {
        let s = RoomSecret::from_bytes([7; 32]);
        let old = format!(
            "https://h/r/{}#{}&name=x",
            s.room_id_v1(),
            s.to_base64url().as_str()
        );
        let link = RoomLink::parse(&old).expect("a link from before protocol 2 parses");
        assert_eq!(link.room_id(), s.room_id());
        assert_eq!(link.room_id().to_string(), "hS0C2R2zJoxkngYCbAKWXQ");
        assert_eq!(link.founder_token(), s.founder_token());
        assert_eq!(
            link.to_url().as_str(),
            format!("https://h/#{}&name=x", s.to_base64url().as_str())
        );
        // The path may also carry the current id.
        let v2 = format!("https://h/r/{}#{}", s.room_id(), s.to_base64url().as_str());
        assert_eq!(RoomLink::parse(&v2).unwrap().room_id(), s.room_id());
        assert!(s.names_room(&s.room_id_v1()));
        assert!(s.names_room(&s.room_id()));
        let other = RoomSecret::from_bytes([8; 32]);
        assert!(!s.names_room(&other.room_id()));
        assert!(!s.names_room(&other.room_id_v1()));
        // An old link's room id with another secret is still an edited link.
        let edited = format!(
            "https://h/r/{}#{}",
            other.room_id_v1(),
            s.to_base64url().as_str()
        );
        assert_eq!(
            RoomLink::parse(&edited).unwrap_err(),
            LinkError::RoomMismatch
        );
    }

    /// Found by fuzzing: a relay address with an `/r/` in its path parsed,
    /// but its formatted link read back as an older link's room path.
    #[test]
    fn a_relay_address_with_an_r_segment_is_refused() {
        let sec = RoomSecret::from_bytes([7; 32]).to_base64url();
        let room = RoomSecret::from_bytes([7; 32]).room_id();
        let text = format!(
            "https://relhttps://r/HTbbTay.example:8443/r/{room}#{}",
            sec.as_str()
        );
        assert_eq!(RoomLink::parse(&text).unwrap_err(), LinkError::BadHost);
        assert_eq!(
            RoomLink::new("https://h/r", RoomSecret::from_bytes([7; 32])).unwrap_err(),
            LinkError::BadHost
        );
        assert!(RoomLink::parse(&format!("https://h/rooms/#{}", sec.as_str())).is_ok());
        // A host named `r` is not a room path.
        let odd = format!("https://r/8443/r/{room}#{}&name=", sec.as_str());
        let link = RoomLink::parse(&odd).unwrap();
        assert_eq!(link.base(), "https://r/8443");
        assert_eq!(
            RoomLink::parse(&link.to_url()).unwrap().base(),
            "https://r/8443"
        );
        // Slashes before the room path belong to neither part.
        let slashes = RoomLink::parse(&format!("https://h//r/{room}#{}", sec.as_str())).unwrap();
        assert_eq!(slashes.base(), "https://h");
        assert_eq!(
            RoomLink::parse(&slashes.to_url()).unwrap().base(),
            "https://h"
        );
    }

    #[test]
    fn the_fragment_may_name_secret_and_room_as_conclave_open_writes_them() {
        let s = RoomSecret::from_bytes([7; 32]);
        let sec = s.to_base64url();
        for text in [
            format!("https://h:8443/#{}", sec.as_str()),
            format!("https://h:8443#{}", sec.as_str()),
            format!("https://h:8443/#s={}", sec.as_str()),
            format!(
                "https://h:8443/#r={}&s={}&name=A",
                s.room_id(),
                sec.as_str()
            ),
            format!(
                "https://h:8443/#relay=x&s={}&r={}",
                sec.as_str(),
                s.room_id_v1()
            ),
        ] {
            let link = RoomLink::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(link.room_id(), s.room_id(), "{text}");
            assert_eq!(link.base(), "https://h:8443", "{text}");
        }
        let sub = RoomLink::parse(&format!("https://h/calls/#{}", sec.as_str())).unwrap();
        assert_eq!(sub.base(), "https://h/calls");
    }

    /// Found by fuzzing: a 2048-byte link whose name had raw control bytes
    /// parsed, but its formatted form (the name percent-encoded) was longer
    /// than the limit and did not parse back.
    #[test]
    fn the_longest_link_with_the_longest_encoded_name_parses_back() {
        assert_eq!(
            MAX_LINK_BASE_LEN, 1735,
            "the error message names this limit"
        );
        let s = RoomSecret::generate();
        let base = format!(
            "https://{}",
            "h".repeat(MAX_LINK_BASE_LEN - "https://".len())
        );
        let name = "\u{1}".repeat(MAX_LINK_NAME_LEN);
        let link = RoomLink::new(&base, s.clone())
            .unwrap()
            .with_admission(AdmissionSecret::from_bytes([9; 32]))
            .with_name(&name)
            .unwrap();
        let url = link.to_url();
        assert!(url.len() <= MAX_LINK_LEN);
        assert_eq!(
            RoomLink::parse(&url).unwrap().admission(),
            Some(&AdmissionSecret::from_bytes([9; 32]))
        );
        let back = RoomLink::parse(&url).expect("a formatted link parses");
        assert_eq!(back.name(), Some(name.as_str()));
        // The older form, with the room id in the path, is the longest.
        let old = format!(
            "{base}/r/{}#{}&a={}&name={}",
            s.room_id(),
            s.to_base64url().as_str(),
            AdmissionSecret::from_bytes([9; 32]).to_base64url().as_str(),
            "%01".repeat(MAX_LINK_NAME_LEN)
        );
        assert_eq!(old.len(), MAX_LINK_LEN);
        assert_eq!(RoomLink::parse(&old).unwrap().name(), Some(name.as_str()));
        let longer = format!("{base}h");
        assert_eq!(
            RoomLink::new(&longer, s.clone()).unwrap_err(),
            LinkError::BaseTooLong(MAX_LINK_BASE_LEN + 1)
        );
        let raw = format!("{longer}/r/{}#{}", s.room_id(), s.to_base64url().as_str());
        assert_eq!(
            RoomLink::parse(&raw).unwrap_err(),
            LinkError::BaseTooLong(MAX_LINK_BASE_LEN + 1)
        );
    }

    #[test]
    fn link_round_trips_with_name() {
        let s = RoomSecret::generate();
        let link = RoomLink::new("https://relay.example:8443/", s.clone())
            .unwrap()
            .with_name("Ünïcode & friends")
            .unwrap();
        let url = link.to_url();
        assert!(
            url.starts_with("https://relay.example:8443/#"),
            "{}",
            url.as_str()
        );
        // Nothing in the path names the meeting.
        assert!(!url.contains(&s.room_id().to_string()), "{}", url.as_str());
        let back = RoomLink::parse(&url).unwrap();
        assert_eq!(back.secret().as_bytes(), s.as_bytes());
        assert_eq!(back.name(), Some("Ünïcode & friends"));
        assert_eq!(back.base(), "https://relay.example:8443");
        let no_name = RoomLink::new("http://localhost:8080", s.clone()).unwrap();
        assert_eq!(RoomLink::parse(&no_name.to_url()).unwrap().name(), None);
    }

    #[test]
    fn secrets_are_never_debug_printed() {
        let s = RoomSecret::from_bytes([0xAB; 32]);
        let link = RoomLink::new("https://h", s.clone()).unwrap();
        let enc = s.to_base64url();
        for text in [
            format!("{s:?}"),
            format!("{link:?}"),
            format!("{:?}", s.admit_key()),
            format!("{:?}", s.founder_token()),
        ] {
            assert!(!text.contains(enc.as_str()), "{text}");
            assert!(!text.to_lowercase().contains("abab"), "{text}");
        }
    }

    #[test]
    fn malformed_links_are_refused_with_reason() {
        let s = RoomSecret::from_bytes([1; 32]);
        let good = RoomLink::new("https://h", s.clone()).unwrap().to_url();
        let room = s.room_id().to_string();
        let sec = s.to_base64url();
        let other = RoomSecret::from_bytes([2; 32]).to_base64url();
        let cases: Vec<(String, LinkError)> = vec![
            (format!("https://h/r/{room}"), LinkError::NoSecret),
            ("https://h/#".to_string(), LinkError::NoSecret),
            ("https://h/#name=x".to_string(), LinkError::NoSecret),
            (
                format!(
                    "https://h/#s={}&r={}",
                    sec.as_str(),
                    RoomSecret::from_bytes([2; 32]).room_id()
                ),
                LinkError::RoomMismatch,
            ),
            (
                format!(
                    "https://h/r/{room}#s={}&r={}",
                    sec.as_str(),
                    RoomSecret::from_bytes([1; 32]).room_id_v1()
                ),
                LinkError::RoomMismatch,
            ),
            (
                format!("ftp://h/r/{room}#{}", sec.as_str()),
                LinkError::BadScheme,
            ),
            (
                format!("https:///r/{room}#{}", sec.as_str()),
                LinkError::BadHost,
            ),
            (
                format!("https://h h/r/{room}#{}", sec.as_str()),
                LinkError::BadHost,
            ),
            (
                format!("https://h/r/abc#{}", sec.as_str()),
                LinkError::BadRoomId,
            ),
            (format!("https://h/r/{room}#short"), LinkError::BadSecret),
            (format!("https://h/r/{room}#"), LinkError::NoSecret),
            (
                format!("https://h/r/{room}#{}", other.as_str()),
                LinkError::RoomMismatch,
            ),
            (format!("{}&name=%ZZ", good.as_str()), LinkError::BadName),
            (format!("{}&name=%FF", good.as_str()), LinkError::BadName),
            (format!("{}&name=%4", good.as_str()), LinkError::BadName),
            (
                format!("{}&name={}", good.as_str(), "a".repeat(65)),
                LinkError::NameTooLong(65),
            ),
            ("x".repeat(3000), LinkError::TooLong(3000)),
        ];
        for (link, want) in cases {
            let err = RoomLink::parse(&link).expect_err(&link);
            assert_eq!(err, want, "{link}");
            assert!(!err.to_string().is_empty());
        }
        // Unknown parameters are ignored.
        assert!(RoomLink::parse(&format!("{}&relay=b.example", good.as_str())).is_ok());
    }
}
