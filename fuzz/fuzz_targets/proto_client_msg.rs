//! The relay's signaling parsers on any text: `ClientMsg::parse` (every
//! WebSocket frame) and `RoomId::parse` (the URL path). No panic; whatever
//! parses serializes and parses back to the same value.
#![no_main]
use conclave_proto::{ClientMsg, RoomId};
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
    }
});

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
