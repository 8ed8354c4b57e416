//! Everything a member receives from the relay goes through Member::handle:
//! envelopes, MLS PrivateMessages, Welcomes, service replies. Any bytes: no
//! panic, and nothing from outside the group may change its epoch.
#![no_main]
use std::cell::RefCell;

use conclave_e2ee::{Identity, Member, RoomPolicy, RoomSecret};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static MEMBER: RefCell<Member> = RefCell::new(
        Member::create(Identity::generate(), &RoomSecret::from_bytes([9; 32]), RoomPolicy::default())
            .expect("group"),
    );
}

fuzz_target!(|data: &[u8]| {
    MEMBER.with(|m| {
        let mut m = m.borrow_mut();
        let before = m.epoch();
        let _ = m.handle(data);
        // A lone member has no one else who could commit: only our own
        // pending commit (none here) could move the epoch.
        assert_eq!(m.epoch(), before);
    });
});
