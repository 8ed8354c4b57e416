//! The Welcome path: a joiner waiting to be let in takes whatever the relay
//! routes to it as its Welcome (`Joiner::accept_welcome`), so every byte of
//! it is the relay's choice. Any bytes: no panic; a Welcome that is accepted
//! puts the joiner in the very group that admitted it (same epoch, roster
//! and safety code as the member who committed the Add, docs/design.md §1 "slip
//! in a ghost participant"); and refused Welcomes leave the joiner usable,
//! so the real one still works after any number of fakes.
//!
//! Input: the first byte picks what the joiner is fed.
//! - `% 3 == 0`: the rest, as is (an envelope or bare MLS bytes);
//! - `% 3 == 1`: the real Welcome for this joiner (made at start-up, since
//!   MLS keys are random per run), with the rest applied as edits: each
//!   3 bytes are a big-endian offset (modulo the length) and a byte to XOR
//!   there. No edits: the real Welcome, which must be accepted;
//! - `% 3 == 2`: the real Welcome cut at the offset in the next 2 bytes
//!   (modulo the length), followed by the rest.
#![no_main]
use std::cell::RefCell;

use conclave_e2ee::delivery::DeliveryService;
use conclave_e2ee::{Event, Identity, Joiner, Member, RoomPolicy, RoomSecret};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_700_000_000_000;

/// A member who admitted a joiner, the joiner, and the Welcome the delivery
/// service routed to it.
struct Admitted {
    alice: Member,
    joiner: Joiner,
    welcome: Vec<u8>,
}

fn admitted() -> Admitted {
    let secret = RoomSecret::from_bytes([11; 32]);
    let mut alice =
        Member::create(Identity::generate(), &secret, RoomPolicy::default()).expect("group");
    let mut ds = DeliveryService::new();
    ds.add_member(0u8);
    let mut joiner = Joiner::new(Identity::generate(), &secret);
    let join = joiner.join_envelope(NOW).expect("join request");
    ds.handle(&1, &join).expect("join request routed");
    let Event::JoinRequested(request) = alice.handle(&join).expect("join request read") else {
        panic!("expected a join request")
    };
    let verified = alice
        .check_join_request(&request, NOW)
        .expect("valid join request");
    let commit = alice.admit(&[verified]).expect("admit");
    let out = ds.handle(&0, &commit).expect("commit ordered");
    // out: the commit to the others, Accepted to Alice, the Welcome to 1.
    alice.handle(&out[1].bytes).expect("accepted");
    Admitted {
        alice,
        joiner,
        welcome: out[2].bytes.clone(),
    }
}

thread_local! {
    static STATE: RefCell<Admitted> = RefCell::new(admitted());
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    STATE.with(|state| {
        let mut state = state.borrow_mut();
        let real = state.welcome.clone();
        let bytes = match mode % 3 {
            0 => rest.to_vec(),
            1 => {
                let mut w = real.clone();
                for edit in rest.chunks_exact(3) {
                    let at = usize::from(u16::from_be_bytes([edit[0], edit[1]])) % w.len();
                    w[at] ^= edit[2];
                }
                w
            }
            _ => {
                let (cut, tail) = match rest {
                    [a, b, tail @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), tail),
                    _ => (0, rest),
                };
                let mut w = real[..cut % real.len()].to_vec();
                w.extend_from_slice(tail);
                w
            }
        };
        match state.joiner.accept_welcome(&bytes) {
            Ok(member) => {
                let alice = &state.alice;
                assert_eq!(member.epoch(), alice.epoch(), "joined another epoch");
                assert_eq!(
                    member.safety_code(),
                    alice.safety_code(),
                    "joined another group"
                );
                assert_eq!(member.roster(), alice.roster(), "sees another roster");
                // The joiner is spent (its KeyPackage keys now belong to the
                // member): start over with a new admission.
                *state = admitted();
            }
            Err(e) => {
                assert!(
                    bytes != real,
                    "the real Welcome was refused after earlier fakes: {e}"
                );
            }
        }
    });
});
