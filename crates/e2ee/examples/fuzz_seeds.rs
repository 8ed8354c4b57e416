//! Writes the seed corpora for the fuzz targets in `fuzz/` (committed in
//! `fuzz/seeds/<target>/`). Run: `cargo run -p conclave-e2ee --example fuzz_seeds -- fuzz/seeds`.

use std::fs;
use std::path::Path;

use conclave_e2ee::delivery::{DeliveryService, Envelope, Epoch, JoinTicket, WelcomeBundle};
use conclave_e2ee::{
    Codec, FrameSender, Identity, Joiner, MediaEpoch, Member, RoomLink, RoomPolicy, RoomSecret,
};
use zeroize::Zeroizing;

const NOW: u64 = 1_700_000_000_000;

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    fs::create_dir_all(&d).expect("create seed dir");
    fs::write(d.join(name), bytes).expect("write seed");
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/seeds".into());
    let dir = Path::new(&dir);

    // link_parse
    let secret = RoomSecret::from_bytes([7; 32]);
    let link = RoomLink::new("https://relay.example:8443", secret.clone()).expect("link");
    write(dir, "link_parse", "plain", link.to_url().as_bytes());
    let named = link.clone().with_name("Team call ✓").expect("name");
    write(dir, "link_parse", "named", named.to_url().as_bytes());
    write(
        dir,
        "link_parse",
        "mismatch",
        b"https://h/r/AAAAAAAAAAAAAAAAAAAAAA#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    );
    // A link made before protocol 2: the first room-id derivation in the path.
    let old = format!(
        "https://relay.example:8443/r/{}#{}",
        secret.room_id_v1(),
        secret.to_base64url().as_str()
    );
    write(dir, "link_parse", "protocol1_room_id", old.as_bytes());

    // join_request (valid for the fuzz target's room secret [7; 32])
    let mut joiner = Joiner::new(Identity::generate(), &secret);
    let req = joiner.join_request(NOW).expect("join request");
    write(dir, "join_request", "valid", &req.encode());
    let mut named = Joiner::new(Identity::generate(), &secret);
    named.set_display_name("Gecko Guestly");
    let req_named = named.join_request(NOW).expect("join request");
    write(dir, "join_request", "valid_named", &req_named.encode());
    let mut raw_kp = vec![1u8];
    raw_kp.extend_from_slice(&req.key_package);
    write(dir, "join_request", "raw_key_package", &raw_kp);

    // sframe_decrypt (key [0x5e; 16], epoch 1, members 0..=3)
    let epoch = MediaEpoch::new(
        1,
        Zeroizing::new(vec![0x5e; 16]),
        vec![0, 1, 2, 3],
        2,
        false,
    );
    let mut tx = FrameSender::new(&epoch).expect("sender");
    let mut key_frame = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
    key_frame.extend_from_slice(&[0xAB; 64]);
    for (sel, codec, frame, name) in [
        (0u8, Codec::Vp8, key_frame.as_slice(), "vp8_key"),
        (0, Codec::Vp8, &[0x31, 1, 2, 3, 4, 5, 6, 7][..], "vp8_delta"),
        (1, Codec::Opus, &[0x78; 40][..], "opus"),
        (2, Codec::Raw, &b"raw frame"[..], "raw"),
    ] {
        let mut seed = vec![sel];
        seed.extend(tx.encrypt(codec, frame).expect("encrypt"));
        write(dir, "sframe_decrypt", name, &seed);
    }
    let padded = MediaEpoch::new(1, Zeroizing::new(vec![0x5e; 16]), vec![0, 1, 2, 3], 1, true);
    // Padded Opus (one fixed size, AUDIO_PADDED_SIZE): a short frame, a
    // constant-bitrate 32 kbit/s frame (80 bytes), and one over the size
    // (rounds up to twice it).
    let mut padded_tx = FrameSender::new(&padded).expect("sender");
    for (len, name) in [
        (20, "opus_padded"),
        (80, "opus_padded_cbr"),
        (120, "opus_padded_long"),
    ] {
        let mut seed = vec![0x80 | 1];
        seed.extend(
            padded_tx
                .encrypt(Codec::Opus, &vec![0x11; len])
                .expect("encrypt"),
        );
        write(dir, "sframe_decrypt", name, &seed);
    }

    // A real group, for MLS-bearing envelopes.
    let mut alice =
        Member::create(Identity::generate(), &secret, RoomPolicy::default()).expect("group");
    let mut ds = DeliveryService::new();
    ds.add_member(0u8);
    let mut bob_j = Joiner::new(Identity::generate(), &secret);
    let join_env = bob_j.join_envelope(NOW).expect("join");
    ds.handle(&1u8, &join_env).expect("ds");
    let conclave_e2ee::Event::JoinRequested(r) = alice.handle(&join_env).expect("handle") else {
        panic!("join request")
    };
    let v = alice.check_join_request(&r, NOW).expect("check");
    let commit = alice.admit(&[v]).expect("admit");
    let out = ds.handle(&0u8, &commit).expect("ds");
    alice.handle(&out[1].bytes).expect("accepted");
    let mut bob = bob_j.accept_welcome(&out[2].bytes).expect("welcome");
    let app = bob.send(b"{\"name\":\"Bob\"}").expect("send");
    let update = bob.self_update().expect("update");
    let leave = alice.leave().expect("leave");

    let envelopes: Vec<(&str, Vec<u8>)> = vec![
        ("join", join_env.clone()),
        ("commit_with_welcome", commit.clone()),
        ("welcome", out[2].bytes.clone()),
        ("application", app.clone()),
        ("update", update.clone()),
        ("proposal", leave.clone()),
        ("accepted", Envelope::Accepted { epoch: Epoch(0) }.encode()),
        (
            "rejected",
            Envelope::Rejected {
                epoch: Epoch(0),
                current: Epoch(1),
            }
            .encode(),
        ),
        (
            "commit_tickets",
            Envelope::Commit {
                epoch: Epoch(3),
                commit: vec![1, 2, 3],
                welcome: Some(WelcomeBundle {
                    tickets: vec![JoinTicket([1; 16]), JoinTicket([2; 16])],
                    welcome: vec![4, 5],
                }),
            }
            .encode(),
        ),
    ];
    for (name, bytes) in &envelopes {
        write(dir, "mls_incoming", name, bytes);
        let mut seed = vec![1u8];
        seed.extend_from_slice(bytes);
        write(dir, "delivery_envelope", name, &seed);
    }

    // welcome_accept: the first byte picks the mode (see the target). The
    // real Welcomes are for a joiner of this run, so the target's own joiner
    // cannot open them (they exercise parsing and the key lookup); mode 1
    // edits the Welcome the target makes for its joiner at start-up.
    let mut seed = vec![0u8];
    seed.extend_from_slice(&out[2].bytes);
    write(dir, "welcome_accept", "real_welcome_envelope", &seed);
    let Ok(Envelope::Welcome { welcome: bare, .. }) = Envelope::decode(&out[2].bytes) else {
        panic!("a Welcome envelope")
    };
    let mut seed = vec![0u8];
    seed.extend_from_slice(&bare);
    write(dir, "welcome_accept", "real_welcome_bare", &seed);
    let mut seed = vec![0u8];
    seed.extend_from_slice(&commit);
    write(dir, "welcome_accept", "not_a_welcome", &seed);
    write(dir, "welcome_accept", "target_welcome", &[1]);
    for (name, at) in [
        ("target_welcome_ticket_flip", 2u16),
        ("target_welcome_header_flip", 40),
        ("target_welcome_body_flip", 400),
    ] {
        let [hi, lo] = at.to_be_bytes();
        write(dir, "welcome_accept", name, &[1, hi, lo, 0x01]);
    }
    write(
        dir,
        "welcome_accept",
        "target_welcome_cut",
        &[2, 0x01, 0x00],
    );

    // proto_client_msg
    let join = format!(
        r#"{{"type":"join","protocol":2,"founder":"{}"}}"#,
        secret.founder_token().to_base64url()
    );
    write(dir, "proto_client_msg", "join", join.as_bytes());
    let token = secret.founder_token().to_base64url();
    write(dir, "proto_client_msg", "founder_token", token.as_bytes());
    for (name, text) in [
        ("join_protocol1", r#"{"type":"join","protocol":1}"#),
        ("offer", r#"{"type":"offer","sdp":"v=0\r\n"}"#),
        ("answer", r#"{"type":"answer","sdp":"v=0\r\n"}"#),
        ("media", r#"{"type":"media","audio":true,"video":false}"#),
        ("mls", r#"{"type":"mls","data":"AQEAAAAAAAAAAAAAAAAAAAA="}"#),
        (
            "video_width",
            r#"{"type":"video_width","mid":"2","width":320}"#,
        ),
        ("leave", r#"{"type":"leave"}"#),
        // A relay's joined with a TURN server (ServerMsg, as native clients read it).
        (
            "joined_turn",
            r#"{"type":"joined","participant":"3f2a9c4e1b7d5a60","peers":[{"participant":"01","audio":true,"video":false}],"ice_servers":[{"urls":["turns:turn.example.org:443?transport=tcp","turn:192.0.2.7:3478"],"username":"1700000600:00112233445566ff","credential":"Qufq9JbmmR9pMVWRstsrnWODLJA="}]}"#,
        ),
    ] {
        write(dir, "proto_client_msg", name, text.as_bytes());
    }
    println!("seeds written to {}", dir.display());
}
