//! Benchmarks for the issue notes (not part of CI; run in release):
//!
//! ```text
//! cargo run --release -p conclave-e2ee --example bench [-- --sizes 10,100,1000]
//! ```
//!
//! 1. SFrame frame encrypt/decrypt throughput at 1,200 B and 50 KB, against raw
//!    AES-128-GCM from ring in the same run (ratios, not absolute gates).
//! 2. Admit / remove / self-update at N members: commit create and process
//!    time and size, Welcome size and join time.

use std::time::{Duration, Instant};

use conclave_e2ee::delivery::Envelope;
use conclave_e2ee::{
    Codec, FrameReceiver, FrameSender, Identity, Joiner, LeafIndex, MediaEpoch, Member, RoomPolicy,
    RoomSecret,
};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
use zeroize::Zeroizing;

const NOW: u64 = 1_700_000_000_000;

fn time<T>(mut f: impl FnMut() -> T) -> (T, Duration) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed())
}

fn throughput(bytes: usize, iters: usize, d: Duration) -> f64 {
    (bytes * iters) as f64 / d.as_secs_f64() / 1e9
}

fn frames() {
    println!("== SFrame (suite 0x0004) vs raw AES-128-GCM (ring), GB/s");
    let epoch = MediaEpoch::new(1, Zeroizing::new(vec![1; 16]), vec![0, 1], 0, false);
    for size in [1_200usize, 50_000] {
        let iters = if size < 10_000 { 200_000 } else { 10_000 };
        let frame = vec![0x31u8; size];
        let mut tx = FrameSender::new(&epoch).expect("sender");
        let mut last = Vec::new();
        let (_, enc) = time(|| {
            for _ in 0..iters {
                last = tx.encrypt(Codec::Raw, &frame).expect("encrypt");
            }
        });
        let wires: Vec<Vec<u8>> = (0..iters.min(20_000))
            .map(|_| tx.encrypt(Codec::Raw, &frame).expect("encrypt"))
            .collect();
        let mut rx = FrameReceiver::new();
        rx.add_epoch(&epoch, 0);
        let (_, dec) = time(|| {
            for w in &wires {
                rx.decrypt(Codec::Raw, w, 0).expect("decrypt");
            }
        });
        let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &[1; 16]).expect("key"));
        let mut buf = frame.clone();
        let (_, raw) = time(|| {
            for i in 0..iters {
                buf.truncate(size);
                let mut n = [0u8; 12];
                n[4..].copy_from_slice(&(i as u64).to_be_bytes());
                key.seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(n),
                    Aad::from(&[0u8; 8]),
                    &mut buf,
                )
                .expect("seal");
            }
        });
        let (e, d, r) = (
            throughput(size, iters, enc),
            throughput(size, wires.len(), dec),
            throughput(size, iters, raw),
        );
        println!(
            "{size:>6} B: encrypt {e:.2} GB/s, decrypt {d:.2} GB/s, raw AES-GCM seal {r:.2} GB/s (encrypt/raw {:.2}, decrypt/raw {:.2}); overhead {} B/frame",
            e / r,
            d / r,
            last.len() - size
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn commit_bytes(env: &[u8]) -> (usize, Option<usize>) {
    match Envelope::decode(env).expect("envelope") {
        Envelope::Commit {
            commit, welcome, ..
        } => (commit.len(), welcome.map(|w| w.welcome.len())),
        _ => unreachable!(),
    }
}

fn accepted(m: &mut Member) {
    let epoch = m.epoch();
    m.handle(&Envelope::Accepted { epoch }.encode())
        .expect("accepted");
}

fn group(n: usize) {
    let secret = RoomSecret::generate();
    let mut alice =
        Member::create(Identity::generate(), &secret, RoomPolicy::default()).expect("group");
    // Fill the group: n - 2 bystanders whose clients we do not run, and Bob.
    let mut verified = Vec::new();
    for _ in 0..n.saturating_sub(2) {
        let mut j = Joiner::new(Identity::generate(), &secret);
        let req = j.join_request(NOW).expect("request");
        verified.push(alice.check_join_request(&req, NOW).expect("check"));
    }
    let mut bob_j = Joiner::new(Identity::generate(), &secret);
    let req = bob_j.join_request(NOW).expect("request");
    verified.push(alice.check_join_request(&req, NOW).expect("check"));
    // At most 64 joiners per commit; Bob is in the last batch.
    let mut welcome = Vec::new();
    for batch in verified.chunks(conclave_e2ee::delivery::MAX_TICKETS) {
        let env = alice.admit(batch).expect("admit");
        accepted(&mut alice);
        let Envelope::Commit {
            welcome: Some(w), ..
        } = Envelope::decode(&env).expect("env")
        else {
            unreachable!()
        };
        welcome = w.welcome;
    }
    let mut bob = bob_j.accept_welcome(&welcome).expect("welcome");
    assert_eq!(bob.roster().len(), n);

    // Admit one more (path-less Add).
    let mut carol_j = Joiner::new(Identity::generate(), &secret);
    let req = carol_j.join_request(NOW).expect("request");
    let v = alice.check_join_request(&req, NOW).expect("check");
    let (add, add_t) = time(|| alice.admit(std::slice::from_ref(&v)).expect("admit"));
    let (add_len, welcome_len) = commit_bytes(&add);
    let Envelope::Commit {
        commit: add_commit,
        welcome: Some(w),
        ..
    } = Envelope::decode(&add).expect("env")
    else {
        unreachable!()
    };
    accepted(&mut alice);
    let relay_commit = Envelope::Commit {
        epoch: bob.epoch(),
        commit: add_commit,
        welcome: None,
    }
    .encode();
    let (_, add_proc) = time(|| bob.handle(&relay_commit).expect("process add"));
    let (carol, join_t) = time(|| carol_j.accept_welcome(&w.welcome).expect("join"));
    drop(carol);

    // Self-update.
    let (upd, upd_t) = time(|| alice.self_update().expect("update"));
    accepted(&mut alice);
    let (upd_len, _) = commit_bytes(&upd);
    let (_, upd_proc) = time(|| bob.handle(&upd).expect("process update"));

    // Remove one bystander.
    let (rem, rem_t) = time(|| alice.remove(&[LeafIndex(1)]).expect("remove"));
    accepted(&mut alice);
    let (rem_len, _) = commit_bytes(&rem);
    let (_, rem_proc) = time(|| bob.handle(&rem).expect("process remove"));
    assert_eq!(alice.safety_code(), bob.safety_code());

    println!(
        "{n:>5} members | admit: create {:.1} ms, process {:.1} ms, commit {add_len} B, Welcome {} B, join {:.1} ms | self-update: create {:.1} ms, process {:.1} ms, {upd_len} B | remove: create {:.1} ms, process {:.1} ms, {rem_len} B",
        ms(add_t),
        ms(add_proc),
        welcome_len.unwrap_or(0),
        ms(join_t),
        ms(upd_t),
        ms(upd_proc),
        ms(rem_t),
        ms(rem_proc),
    );
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip_while(|a| a != "--sizes")
        .nth(1)
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 100, 1000]);
    frames();
    println!("== MLS group operations (ciphersuite 0x0003, PrivateMessage)");
    for n in sizes {
        group(n);
    }
}
