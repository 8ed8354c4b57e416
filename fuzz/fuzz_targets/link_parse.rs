//! Room links typed or pasted by people, or crafted by anyone: parse must never
//! panic, and whatever parses must format and parse back to the same room.
#![no_main]
use conclave_e2ee::RoomLink;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(link) = RoomLink::parse(text) {
        let url = link.to_url();
        let back = RoomLink::parse(&url).expect("a formatted link parses");
        assert_eq!(back.room_id(), link.room_id());
        assert_eq!(back.secret().as_bytes(), link.secret().as_bytes());
        assert_eq!(back.name(), link.name());
        assert_eq!(back.base(), link.base());
    }
});
