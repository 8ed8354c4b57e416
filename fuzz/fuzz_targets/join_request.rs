//! Join requests arrive from anyone through the relay. Decoding (and opening
//! a sealed display name) must never panic and must round-trip; a proof is accepted at most once, and with a
//! valid proof over fuzzed KeyPackage bytes (first byte odd) it exercises the
//! MLS KeyPackage parser and validation behind it.
#![no_main]
use std::cell::RefCell;

use conclave_e2ee::{Identity, JoinRequest, Member, RoomPolicy, RoomSecret};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_700_000_000_000;

thread_local! {
    static ROOM: (RoomSecret, RefCell<Member>) = {
        let secret = RoomSecret::from_bytes([7; 32]);
        let member = Member::create(Identity::generate(), &secret, RoomPolicy::default())
            .expect("group");
        (secret, RefCell::new(member))
    };
}

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = JoinRequest::decode(data) {
        assert_eq!(req.encode(), data);
    }
    if let Ok(req) = JoinRequest::decode(data) {
        // A sealed display name opens only with the room's admit key.
        ROOM.with(|(secret, _)| {
            let _ = req.display_name(&secret.admit_key());
        });
    }
    ROOM.with(|(secret, member)| {
        let mut member = member.borrow_mut();
        if let Ok(req) = JoinRequest::decode(data) {
            // A request can be accepted (the seeds hold a real one), but only
            // once: the same proof again is a replay.
            if member.check_join_request(&req, NOW).is_ok() {
                assert!(member.check_join_request(&req, NOW).is_err());
            }
        }
        if let Some((first, kp)) = data.split_first() {
            if first & 1 == 1 {
                let req =
                    JoinRequest::create(&secret.admit_key(), &secret.room_id(), kp.to_vec(), NOW);
                let _ = member.check_join_request(&req, NOW);
            }
        }
    });
});
