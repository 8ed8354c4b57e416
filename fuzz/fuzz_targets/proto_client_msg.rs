//! The signaling parsers on any text: the relay's `ClientMsg::parse` (every
//! WebSocket frame), `RoomId::parse` (the URL path) and the founder-token
//! check every join goes through (`verify_founder_token`), and a native
//! client's `ServerMsg::parse` (the relay's messages, `joined` with its TURN
//! servers among them). No panic; whatever parses serializes and parses
//! back to the same value; a founder token that parses has one spelling,
//! and opens exactly the room it names.
#![no_main]
use conclave_e2ee::founder::{verify_founder_token, FounderToken};
use conclave_proto::{ClientMsg, RoomId, ServerMsg};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(room) = RoomId::parse(text) {
        assert_eq!(RoomId::parse(room.as_str()), Ok(room));
    }
    if let Ok(msg) = ClientMsg::parse(text) {
        let back = serde_json_roundtrip(&msg);
        assert_eq!(back, msg);
        if let ClientMsg::Join { founder, .. } = &msg {
            check_founder(founder);
        }
    }
    if let Ok(msg) = ServerMsg::parse(text) {
        let again = ServerMsg::parse(&msg.to_text()).expect("a serialized server message parses");
        assert_eq!(again, msg);
    }
    check_founder(text);
});

/// What the relay does with a join's founder token, on any text.
fn check_founder(text: &str) {
    if let Ok(token) = FounderToken::parse(text) {
        assert_eq!(token.to_base64url(), text, "one spelling per token");
        assert!(verify_founder_token(&token.room_id(), text));
        let room = RoomId::parse(&token.room_id()).expect("a token's room id is a valid room id");
        assert!(verify_founder_token(room.as_str(), text));
    } else {
        // The room id is not the point here: nothing malformed opens any room.
        assert!(!verify_founder_token("hS0C2R2zJoxkngYCbAKWXQ", text));
    }
}

fn serde_json_roundtrip(msg: &ClientMsg) -> ClientMsg {
    let text = format!("{}", Json(msg));
    ClientMsg::parse(&text).expect("a serialized message parses")
}

struct Json<'a>(&'a ClientMsg);

impl std::fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_json::to_string(self.0).map_err(|_| std::fmt::Error)?)
    }
}
