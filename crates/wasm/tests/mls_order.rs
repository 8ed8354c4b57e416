//! What the page's `Call` makes of a relay that plays games with MLS
//! messages (issue 10 items 3 and 7): re-sent and duplicated messages are
//! `duplicate` (nothing changed, nothing to show), a message from a newer
//! epoch says `ahead` (the page keeps it until the commit arrives), an old one
//! `behind`, and a message of our own epoch that does not decrypt says
//! `current` (the group forked). crates/web/assets/mls-order.js acts on these.

use conclave_e2ee::delivery::{DeliveryService, Envelope, Outgoing, Recipients};
use conclave_wasm::{Call, RoomKey};
use serde_json::Value;

const NOW: f64 = 1_700_000_000_000.0;

fn event(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

/// Who gets one output of the delivery service, among `n` calls.
fn recipients(o: &Outgoing<usize>, n: usize) -> Vec<usize> {
    match &o.to {
        Recipients::AllExcept(x) => (0..n).filter(|i| i != x).collect(),
        Recipients::Members(m) => m.clone(),
        Recipients::One(x) => vec![*x],
    }
}

/// Sends `bytes` from `from` through the service and delivers every output
/// to its recipients; returns the outputs (for replays) and events.
fn route(
    ds: &mut DeliveryService<usize>,
    calls: &mut [Call],
    from: usize,
    bytes: &[u8],
) -> (Vec<Outgoing<usize>>, Vec<(usize, Value)>) {
    let outs = ds.handle(&from, bytes).unwrap();
    let mut evs = Vec::new();
    for o in &outs {
        for i in recipients(o, calls.len()) {
            evs.push((i, event(&calls[i].handle(&o.bytes, NOW))));
        }
    }
    (outs, evs)
}

/// A room of calls; the join requests and Welcome envelopes that made it
/// (to replay them).
struct Room {
    ds: DeliveryService<usize>,
    calls: Vec<Call>,
    requests: Vec<Vec<u8>>,
    welcomes: Vec<Vec<u8>>,
}

/// Call 0 created the group and admitted the others.
fn room(n: usize) -> Room {
    let key = RoomKey::generate();
    let mut ds = DeliveryService::new();
    let mut calls: Vec<Call> = (0..n).map(|_| Call::new(&key)).collect();
    calls[0].create(false).unwrap();
    ds.add_member(0);
    let (mut requests, mut welcomes) = (Vec::new(), Vec::new());
    for joiner in 1..n {
        let req = calls[joiner].join_request(NOW).unwrap();
        let (_, ev) = route(&mut ds, &mut calls, joiner, &req);
        let ticket = ev.iter().find(|(i, _)| *i == 0).unwrap().1["ticket"]
            .as_str()
            .unwrap()
            .to_owned();
        let commit = calls[0].admit(vec![ticket]).unwrap();
        let (outs, _) = route(&mut ds, &mut calls, 0, &commit);
        for o in outs {
            if matches!(Envelope::decode(&o.bytes), Ok(Envelope::Welcome { .. })) {
                welcomes.push(o.bytes);
            }
        }
        requests.push(req);
        assert!(calls[joiner].is_member());
    }
    Room {
        ds,
        calls,
        requests,
        welcomes,
    }
}

fn kind(v: &Value) -> &str {
    v["kind"].as_str().unwrap_or("")
}

#[test]
fn replayed_and_duplicated_messages_change_nothing_and_are_not_refusals() {
    let Room {
        mut ds,
        mut calls,
        requests,
        welcomes,
    } = room(3);
    let code = calls[0].safety_code();
    // An application message, a commit and the answers, as the relay sent them.
    let hello = calls[1].send(r#"{"profile":{"name":"Bob"}}"#).unwrap();
    let (hello_out, _) = route(&mut ds, &mut calls, 1, &hello);
    let upd = calls[0].self_update().unwrap();
    let (commit_out, ev) = route(&mut ds, &mut calls, 0, &upd);
    assert_eq!(ev.iter().filter(|(_, e)| kind(e) == "epoch").count(), 3);
    let after = calls[0].safety_code();
    assert_ne!(after, code);

    // Every frame again, to everyone: old commits, messages, Welcomes, join
    // requests, Accepted; our own messages reflected back to us.
    let mut replays: Vec<Vec<u8>> = Vec::new();
    replays.extend(hello_out.iter().map(|o| o.bytes.clone()));
    replays.extend(commit_out.iter().map(|o| o.bytes.clone()));
    replays.extend(welcomes);
    replays.push(hello.clone());
    replays.push(upd.clone());
    for r in &replays {
        for (i, c) in calls.iter_mut().enumerate() {
            let e = event(&c.handle(r, NOW));
            assert!(
                matches!(kind(&e), "duplicate" | "ignored"),
                "call {i} made {e} of a replay"
            );
        }
    }
    // A join request that admitted someone: its nonce was used, and later
    // its proof is stale; either way they are in, so it is a replay.
    for req in &requests {
        for at in [NOW, NOW + 70_000.0] {
            let e = event(&calls[0].handle(req, at));
            assert_eq!(kind(&e), "duplicate", "a replayed join request: {e}");
        }
    }
    for c in &calls {
        assert_eq!(c.safety_code(), after);
        assert!(c.is_member());
    }
}

#[test]
fn a_duplicated_refusal_does_not_drop_the_next_commit() {
    let Room {
        mut ds, mut calls, ..
    } = room(2);
    let a = calls[0].self_update().unwrap();
    let b = calls[1].self_update().unwrap();
    route(&mut ds, &mut calls, 0, &a);
    let (outs, ev) = route(&mut ds, &mut calls, 1, &b);
    assert_eq!(kind(&ev[0].1), "rejected", "{ev:?}");
    let rejected = outs[0].bytes.clone();
    // Bob retries; the relay repeats its old refusal.
    let b = calls[1].self_update().unwrap();
    assert_eq!(kind(&event(&calls[1].handle(&rejected, NOW))), "ignored");
    assert_eq!(kind(&event(&calls[1].handle(&rejected, NOW))), "ignored");
    assert!(calls[1].has_pending_commit(), "the retry was dropped");
    route(&mut ds, &mut calls, 1, &b);
    assert_eq!(calls[0].safety_code(), calls[1].safety_code());
}

#[test]
fn messages_are_placed_against_our_epoch_ahead_behind_or_forked() {
    let Room {
        mut ds, mut calls, ..
    } = room(3);
    let start = calls[2].epoch() as u64;
    // The relay withholds 0's commit from 2; 1 applies it and speaks.
    let upd = calls[0].self_update().unwrap();
    let outs = ds.handle(&0, &upd).unwrap();
    let mut held = None;
    for o in &outs {
        for i in recipients(o, 3) {
            if i == 2 {
                held = Some(o.bytes.clone());
            } else {
                calls[i].handle(&o.bytes, NOW);
            }
        }
    }
    let news = calls[1].send(r#"{"profile":{"name":"Bob"}}"#).unwrap();
    let e = event(&calls[2].handle(&news, NOW));
    assert_eq!(kind(&e), "refused");
    assert_eq!(e["relation"], "ahead", "{e}");
    assert_eq!(e["epoch"], start + 1);
    // The commit arrives: the kept message now reads.
    let e = event(&calls[2].handle(&held.unwrap(), NOW));
    assert_eq!(kind(&e), "epoch");
    let e = event(&calls[2].handle(&news, NOW));
    assert_eq!(kind(&e), "application", "{e}");

    // A fork: 0 and 1 both commit for the same epoch; a lying relay accepts
    // both and shows 0's to 2.
    let epoch = calls[0].epoch() as u64;
    let a = calls[0].self_update().unwrap();
    let b = calls[1].self_update().unwrap();
    let accepted = Envelope::Accepted {
        epoch: conclave_e2ee::delivery::Epoch(epoch),
    }
    .encode();
    for i in [0, 1] {
        assert_eq!(kind(&event(&calls[i].handle(&accepted, NOW))), "epoch");
    }
    assert_eq!(kind(&event(&calls[2].handle(&a, NOW))), "epoch");
    assert_ne!(calls[0].safety_code(), calls[1].safety_code());
    // 1's messages (and commits) of the same epoch number do not decrypt at 0 and 2.
    let m1 = calls[1].send(r#"{"profile":{"name":"Bob"}}"#).unwrap();
    for i in [0, 2] {
        let e = event(&calls[i].handle(&m1, NOW));
        assert_eq!(e["relation"], "current", "call {i}: {e}");
        assert_eq!(e["epoch"], epoch + 1);
    }
    let m0 = calls[0].send(r#"{"profile":{"name":"Al"}}"#).unwrap();
    assert_eq!(event(&calls[1].handle(&m0, NOW))["relation"], "current");
    // 1's losing commit, shown late to 2: an old epoch.
    let e = event(&calls[2].handle(&b, NOW));
    assert_eq!(e["relation"], "behind", "{e}");
    // A forged commit (random bytes) has no epoch to place.
    let forged = Envelope::Commit {
        epoch: conclave_e2ee::delivery::Epoch(epoch + 1),
        commit: vec![0xAB; 40],
        welcome: None,
    }
    .encode();
    let e = event(&calls[2].handle(&forged, NOW));
    assert_eq!(kind(&e), "refused");
    assert!(e.get("relation").is_none(), "{e}");
}
