//! Conclave's signaling wire types: what a client and the relay say to each other
//! over the room WebSocket (`wss://HOST/r/<room-id>/ws`).
//!
//! Every message is one JSON text frame, an object tagged by `"type"` in
//! `snake_case`. The protocol is versioned by [`PROTOCOL_VERSION`]; a client
//! opens with [`ClientMsg::Join`] carrying the version it speaks, and the relay
//! refuses versions it does not know with [`ErrorCode::UnsupportedVersion`].
//! The join also carries the room's founder token (derived from the link's
//! secret; `conclave_e2ee::founder`): the relay refuses a join whose token
//! does not hash to the room id in the URL with
//! [`ErrorCode::BadFounderToken`], so knowing a room id alone does not get
//! anyone into the room.
//!
//! The relay learns only what routing needs: an opaque room id, opaque
//! participant ids it assigns itself, SDP (codecs, ICE and DTLS parameters), and
//! mute flags. Anything a client wants to tell the other participants — names
//! above all — rides inside MLS application messages in [`ClientMsg::Mls`],
//! encrypted for the group (docs/design.md §1: "hand out names": there are none at
//! the relay). There is deliberately no plaintext side channel between clients.
//!
//! # Conversation
//!
//! ```text
//! client                               relay
//!   Join {protocol: 2, founder} ──▶
//!                               ◀──  Joined {participant, peers, ice_servers}
//!   Offer {sdp}  (sendonly mic+cam) ─▶
//!                               ◀──  Answer {sdp}
//!                               ◀──  Offer {sdp}     (when others' tracks come or go)
//!   Answer {sdp}                ──▶
//!   Media {audio, video}        ──▶  ─▶ PeerMedia to the others
//!   Mls {data}                  ──▶  ─▶ Mls {from, data}: ordered by the delivery service
//!                               ◀──  Mls {from: self, data}: Welcome / Accepted / Rejected
//!                               ◀──  PeerJoined / PeerLeft
//!   Leave                       ──▶
//! ```
//!
//! The client makes exactly one offer (its own tracks); after that only the
//! relay offers, so the two sides never offer at once (no glare).
//!
//! ```
//! use conclave_proto::{ClientMsg, PROTOCOL_VERSION};
//! let text = r#"{"type":"join","protocol":2,"founder":"U5V2eH0IL_8ixeZHowy7eMXOwAC8CgR9AlziDXL-v2o"}"#;
//! let msg = ClientMsg::parse(text).unwrap();
//! assert_eq!(
//!     msg,
//!     ClientMsg::Join {
//!         protocol: PROTOCOL_VERSION,
//!         founder: "U5V2eH0IL_8ixeZHowy7eMXOwAC8CgR9AlziDXL-v2o".into(),
//!     }
//! );
//! assert!(ClientMsg::parse(r#"{"type":"join"}"#).is_err());
//! ```

pub mod ice_tcp;
pub mod origin;
pub mod rtcp;
pub mod vp8;

use serde::{Deserialize, Serialize};
use std::fmt;

/// The signaling protocol version this crate speaks. 2: `join` carries the
/// founder token, and room ids are derived from it.
pub const PROTOCOL_VERSION: u32 = 2;

/// Longest room id accepted in a link or WebSocket path.
pub const MAX_ROOM_ID_LEN: usize = 64;

/// A room's opaque name on the relay. URL-safe (`A-Z a-z 0-9 - _`), 1 to
/// [`MAX_ROOM_ID_LEN`] characters. Later it is derived one-way from the room
/// secret, so knowing it grants nothing but routing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RoomId(String);

impl RoomId {
    /// Checks `s` and wraps it.
    pub fn parse(s: &str) -> Result<Self, RoomIdError> {
        if s.is_empty() {
            return Err(RoomIdError::Empty);
        }
        if s.len() > MAX_ROOM_ID_LEN {
            return Err(RoomIdError::TooLong(s.len()));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(RoomIdError::BadChar(c));
        }
        Ok(RoomId(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RoomId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RoomId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Why a room id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomIdError {
    /// No characters at all.
    #[error("room id is empty; use 1 to {MAX_ROOM_ID_LEN} characters from A-Z a-z 0-9 - _")]
    Empty,
    /// More than [`MAX_ROOM_ID_LEN`] bytes.
    #[error("room id is {0} characters long; the limit is {MAX_ROOM_ID_LEN}")]
    TooLong(usize),
    /// A character outside the URL-safe set.
    #[error("room id contains {0:?}; only A-Z a-z 0-9 - _ are allowed")]
    BadChar(char),
}

/// A participant's opaque id, assigned by the relay for one connection.
/// It says nothing about who the person is: 16 random hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ParticipantId(pub String);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A session description in SDP text form (RFC 8866), as produced by
/// `RTCPeerConnection.createOffer/createAnswer` or by the relay.
pub type Sdp = String;

/// Messages a client sends to the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    /// First message on a connection: enter the room named in the URL.
    Join {
        /// Must equal [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The room's founder token, base64url without padding (43
        /// characters): proof that this connection was made from the link.
        /// The relay checks that it hashes to the room id in the URL and
        /// keeps nothing of it. Missing in protocol 1 (an old page's join
        /// still parses, so the relay can answer with the version error).
        #[serde(default)]
        founder: String,
    },
    /// The client's one offer, publishing its microphone and camera.
    Offer {
        /// The offer SDP.
        sdp: Sdp,
    },
    /// The client's answer to the relay's latest [`ServerMsg::Offer`].
    Answer {
        /// The answer SDP.
        sdp: Sdp,
    },
    /// The client's microphone / camera switched on or off.
    Media {
        /// Microphone is sending.
        audio: bool,
        /// Camera is sending.
        video: bool,
    },
    /// An MLS message in its clear delivery envelope (`conclave_e2ee::delivery::Envelope`,
    /// standard base64). The relay reads only the envelope — kind, epoch and
    /// join ticket — to order commits and route Welcomes; the MLS bytes inside
    /// are encrypted for the group's members.
    Mls {
        /// Base64 of the encoded envelope.
        data: String,
    },
    /// The widest video the client shows of the track it receives on its
    /// m-line `mid`, in pixels (0: the widest there is). With simulcast the
    /// relay then sends it the widest layer no wider. This tells the relay
    /// how large a client shows each member: a page that enlarges whoever
    /// speaks must not send it per track (it would say who speaks); send
    /// one width for every track instead.
    VideoWidth {
        /// The client's m-line carrying the track.
        mid: String,
        /// Most pixels wide; 0 for no limit.
        width: u16,
    },
    /// The client leaves the room; the relay closes the connection.
    Leave,
}

impl ClientMsg {
    /// Parses one WebSocket text frame, with an error that says what is wrong.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        serde_json::from_str(text).map_err(|e| ParseError(e.to_string()))
    }
}

/// A client message that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed message: {0}")]
pub struct ParseError(pub String);

/// Messages the relay sends to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// Accepted into the room.
    Joined {
        /// This client's id for this connection.
        participant: ParticipantId,
        /// Everyone already in the room.
        peers: Vec<PeerState>,
        /// TURN servers this client may use to reach the relay's media port
        /// when its network allows no direct path (the relay's `--turn`
        /// settings), with credentials minted for this join only. Absent
        /// (and empty) when the relay has none, as from relays that predate
        /// it. A client must check every entry: the relay is the adversary
        /// and may name any server (docs/design.md, "TURN").
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ice_servers: Vec<IceServer>,
    },
    /// The relay's answer to the client's [`ClientMsg::Offer`].
    Answer {
        /// The answer SDP.
        sdp: Sdp,
    },
    /// A renegotiation offer from the relay (others' tracks added or ended).
    /// Each remote participant's tracks use that participant's id as the
    /// MediaStream id (`a=msid:<participant> …`).
    Offer {
        /// The offer SDP.
        sdp: Sdp,
    },
    /// Someone entered the room.
    PeerJoined {
        /// Who.
        participant: ParticipantId,
    },
    /// Someone left the room or dropped; their tracks are ended.
    PeerLeft {
        /// Who.
        participant: ParticipantId,
    },
    /// Someone's microphone / camera state changed.
    PeerMedia(PeerState),
    /// An MLS envelope from the delivery service: a join request, commit,
    /// proposal or application message from another participant, or the
    /// service's own Welcome / Accepted / Rejected reply to this client.
    Mls {
        /// The participant whose message this is (for replies of the delivery
        /// service: this client itself).
        from: ParticipantId,
        /// Base64 of the encoded envelope.
        data: String,
    },
    /// Something this client sent was refused; the connection stays open
    /// unless [`ErrorCode::is_fatal`] says otherwise.
    Error {
        /// Machine-readable kind.
        code: ErrorCode,
        /// What went wrong and what to do, for people.
        message: String,
    },
}

impl ServerMsg {
    /// Parses one text frame from the relay (what a native client reads),
    /// with an error that says what is wrong.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        serde_json::from_str(text).map_err(|e| ParseError(e.to_string()))
    }

    /// Serializes to the JSON text frame.
    pub fn to_text(&self) -> String {
        // Serializing these plain structs cannot fail: no maps with non-string keys, no floats.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// One TURN server entry for a client's `RTCPeerConnection`
/// (`RTCIceServer` in WebRTC, with long-term credentials, RFC 8489 §9.2).
/// The credentials are time-limited: `username` is `<unix expiry>:<random
/// id>` and `credential` is base64 of HMAC-SHA1 over it with a secret the
/// relay shares with the TURN server (coturn's `use-auth-secret`). The
/// username names nobody.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `turn:` / `turns:` URIs (RFC 7065), all served with these credentials.
    pub urls: Vec<String>,
    /// The TURN username.
    pub username: String,
    /// The TURN password.
    pub credential: String,
}

/// A participant and their media switches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerState {
    /// Who.
    pub participant: ParticipantId,
    /// Microphone is sending.
    pub audio: bool,
    /// Camera is sending.
    pub video: bool,
}

/// Kinds of refusal in [`ServerMsg::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not valid JSON or not a known message.
    BadMessage,
    /// A message over the relay's size limit.
    TooLarge,
    /// A message that is valid but not allowed now (e.g. an offer before join).
    OutOfOrder,
    /// The client speaks a protocol version the relay does not.
    UnsupportedVersion,
    /// The room id in the URL is not valid.
    InvalidRoomId,
    /// The room has as many participants as the relay allows.
    RoomFull,
    /// The relay has as many rooms as it allows.
    TooManyRooms,
    /// The SDP could not be used.
    BadSdp,
    /// The client sent messages too fast.
    RateLimited,
    /// The relay is shutting down.
    ShuttingDown,
    /// The media (UDP/ICE) connection to the relay was lost.
    MediaLost,
    /// The relay failed; not the client's fault.
    Internal,
    /// The join's founder token does not belong to the room in the URL: the
    /// link was incomplete or altered. Open the full link.
    BadFounderToken,
}

impl ErrorCode {
    /// Whether the relay closes the connection after this error.
    pub fn is_fatal(self) -> bool {
        matches!(
            self,
            ErrorCode::UnsupportedVersion
                | ErrorCode::InvalidRoomId
                | ErrorCode::RoomFull
                | ErrorCode::TooManyRooms
                | ErrorCode::ShuttingDown
                | ErrorCode::MediaLost
                | ErrorCode::Internal
                | ErrorCode::BadFounderToken
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids() {
        assert!(RoomId::parse("abc-DEF_123").is_ok());
        assert_eq!(RoomId::parse(""), Err(RoomIdError::Empty));
        assert_eq!(
            RoomId::parse(&"a".repeat(65)),
            Err(RoomIdError::TooLong(65))
        );
        assert!(RoomId::parse(&"a".repeat(64)).is_ok());
        assert_eq!(RoomId::parse("a/b"), Err(RoomIdError::BadChar('/')));
        assert_eq!(RoomId::parse("a%2e"), Err(RoomIdError::BadChar('%')));
        assert_eq!(RoomId::parse("é"), Err(RoomIdError::BadChar('é')));
    }

    #[test]
    fn client_messages_round_trip() {
        let msgs = [
            ClientMsg::Join {
                protocol: 2,
                founder: "U5V2eH0IL_8ixeZHowy7eMXOwAC8CgR9AlziDXL-v2o".into(),
            },
            ClientMsg::Join {
                protocol: 2,
                founder: String::new(),
            },
            ClientMsg::Offer {
                sdp: "v=0\r\n".into(),
            },
            ClientMsg::Answer {
                sdp: "v=0\r\n".into(),
            },
            ClientMsg::Media {
                audio: true,
                video: false,
            },
            ClientMsg::Mls {
                data: "AQE=".into(),
            },
            ClientMsg::VideoWidth {
                mid: "1".into(),
                width: 320,
            },
            ClientMsg::Leave,
        ];
        for m in msgs {
            let text = serde_json::to_string(&m).unwrap();
            assert_eq!(ClientMsg::parse(&text).unwrap(), m, "{text}");
        }
        assert_eq!(
            ClientMsg::parse(r#"{"type":"leave"}"#).unwrap(),
            ClientMsg::Leave
        );
    }

    #[test]
    fn malformed_client_messages_are_refused_with_reason() {
        for bad in [
            "",
            "null",
            "[]",
            "{}",
            r#"{"type":"nope"}"#,
            r#"{"type":"join"}"#,
            r#"{"type":"join","protocol":"1"}"#,
            r#"{"type":"join","protocol":-1}"#,
            r#"{"type":"join","protocol":2,"founder":"x","extra":true}"#,
            r#"{"type":"join","protocol":2,"founder":null}"#,
            r#"{"type":"join","protocol":2,"founder":7}"#,
            r#"{"type":"offer"}"#,
            r#"{"type":"media","audio":1,"video":true}"#,
            r#"{"type":"broadcast","data":"x"}"#,
            r#"{"type":"mls","data":null}"#,
            r#"{"type":"video_width","mid":"1","width":70000}"#,
            r#"{"type":"video_width","mid":"1","width":-1}"#,
            "{\"type\":\"offer\",\"sdp\":\"\\ud800\"}",
            r#"{"type":"join","protocol":1"#,
        ] {
            let err = ClientMsg::parse(bad).expect_err(bad);
            assert!(err.to_string().starts_with("malformed message"), "{err}");
        }
    }

    /// An old cached page sends protocol 1 without a founder token: its join
    /// still parses, so the relay can tell it to reload (the version error)
    /// rather than call its message malformed.
    #[test]
    fn an_old_join_parses_so_it_gets_the_version_error() {
        assert_eq!(
            ClientMsg::parse(r#"{"type":"join","protocol":1}"#).unwrap(),
            ClientMsg::Join {
                protocol: 1,
                founder: String::new()
            }
        );
    }

    #[test]
    fn a_bad_founder_token_is_fatal_and_named() {
        assert!(ErrorCode::BadFounderToken.is_fatal());
        let m = ServerMsg::Error {
            code: ErrorCode::BadFounderToken,
            message: "x".into(),
        };
        assert_eq!(
            m.to_text(),
            r#"{"type":"error","code":"bad_founder_token","message":"x"}"#
        );
    }

    /// A relay without TURN settings (or one older than them) sends no
    /// `ice_servers`; a client reads that as none. One with them sends the
    /// list, and it reads back the same.
    #[test]
    fn joined_carries_ice_servers_only_when_there_are_some() {
        let old = r#"{"type":"joined","participant":"01","peers":[]}"#;
        let plain = ServerMsg::Joined {
            participant: ParticipantId("01".into()),
            peers: vec![],
            ice_servers: vec![],
        };
        assert_eq!(ServerMsg::parse(old).unwrap(), plain);
        assert_eq!(plain.to_text(), old);

        let with = ServerMsg::Joined {
            participant: ParticipantId("01".into()),
            peers: vec![],
            ice_servers: vec![IceServer {
                urls: vec!["turns:turn.example.org:443?transport=tcp".into()],
                username: "1700000600:3f2a9c4e1b7d5a60".into(),
                credential: "c2VjcmV0IHNlY3JldCBzZWNyZXQ=".into(),
            }],
        };
        let text = with.to_text();
        assert_eq!(
            text,
            r#"{"type":"joined","participant":"01","peers":[],"ice_servers":[{"urls":["turns:turn.example.org:443?transport=tcp"],"username":"1700000600:3f2a9c4e1b7d5a60","credential":"c2VjcmV0IHNlY3JldCBzZWNyZXQ="}]}"#
        );
        assert_eq!(ServerMsg::parse(&text).unwrap(), with);
        for bad in [
            r#"{"type":"joined","participant":"01","peers":[],"ice_servers":{}}"#,
            r#"{"type":"joined","participant":"01","peers":[],"ice_servers":[{"urls":"turn:x"}]}"#,
            r#"{"type":"joined","participant":"01","peers":[],"ice_servers":[{"urls":[1],"username":"u","credential":"c"}]}"#,
        ] {
            let err = ServerMsg::parse(bad).expect_err(bad);
            assert!(err.to_string().starts_with("malformed message"), "{err}");
        }
    }

    #[test]
    fn server_messages_are_tagged() {
        let m = ServerMsg::Error {
            code: ErrorCode::RoomFull,
            message: "full".into(),
        };
        assert_eq!(
            m.to_text(),
            r#"{"type":"error","code":"room_full","message":"full"}"#
        );
        let m = ServerMsg::PeerMedia(PeerState {
            participant: ParticipantId("01".into()),
            audio: false,
            video: true,
        });
        assert_eq!(
            m.to_text(),
            r#"{"type":"peer_media","participant":"01","audio":false,"video":true}"#
        );
        let back: ServerMsg = serde_json::from_str(&m.to_text()).unwrap();
        assert_eq!(back, m);
    }
}
