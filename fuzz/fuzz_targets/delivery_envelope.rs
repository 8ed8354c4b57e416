//! The relay's only parser of client bytes: the delivery-service envelope.
//! Decode must never panic and must round-trip exactly; the ordering state
//! machine must never panic on any sequence of inputs.
#![no_main]
use std::cell::RefCell;

use conclave_e2ee::delivery::{DeliveryService, Envelope};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static DS: RefCell<DeliveryService<u8>> = RefCell::new(DeliveryService::new());
}

fuzz_target!(|data: &[u8]| {
    let Some((from, bytes)) = data.split_first() else {
        return;
    };
    if let Ok(env) = Envelope::decode(bytes) {
        assert_eq!(env.encode(), bytes);
    }
    DS.with(|ds| {
        let mut ds = ds.borrow_mut();
        if let Ok(out) = ds.handle(&(from % 4), bytes) {
            for o in out {
                Envelope::decode(&o.bytes).expect("the service emits valid envelopes");
            }
        }
        if from & 0x80 != 0 {
            ds.peer_left(&(from % 4));
        }
    });
});
