//! Simulcast in the relay core (issue 12 §2): a publisher sends three
//! layers; each subscriber gets exactly one, the widest active one, switched
//! only at a key frame of the new layer (seen in the clear VP8 bytes), with
//! sequence numbers that continue and timestamps that keep moving forward,
//! and the relay asks the publisher for the key frame a switch waits for.
//! Simulated network and time (net/).

mod net;

use conclave_proto::ClientMsg;
use conclave_relay::sfu::Command;
use net::*;

const ALL: [(&str, u16); 3] = [("q", 160), ("h", 320), ("f", 640)];

/// Which layer each packet a subscriber received came from (the RID the
/// harness wrote into every payload), with its sequence number.
fn received(net: &Net, who: usize) -> Vec<(String, u16, Vec<u8>)> {
    net.clients[who]
        .rtp
        .iter()
        .map(|(_, seq, p)| {
            let start = if p[1] & 1 == 0 { 11 } else { 2 };
            (
                String::from_utf8_lossy(&p[start..start + 1]).into_owned(),
                *seq,
                p.clone(),
            )
        })
        .collect()
}

#[test]
fn a_subscriber_gets_one_layer_and_switches_at_key_frames() {
    for direct in [true, false] {
        let mut net = Net::new_with(10, direct);
        let publisher = net.join_simulcast("roomA", &["q", "h", "f"]);
        let sub = net.join("roomA", false);
        net.run(2000);
        assert!(net.clients[sub].rtc.is_connected());

        // All three layers, starting with key frames: the subscriber gets the widest.
        for i in 0..20 {
            net.publish_frame(publisher, &ALL, i, i == 0);
        }
        let got = received(&net, sub);
        assert!(got.len() >= 18, "direct {direct}: {} packets", got.len());
        // At the very start the layers' first key frames arrive one after
        // the other, each wider than the last: the subscriber steps up
        // through them within that first frame, then stays on the top one.
        let top = got
            .iter()
            .position(|(rid, _, _)| rid == "f")
            .expect("the top layer");
        assert!(top <= 2, "{got:?}");
        assert!(
            got[top..].iter().all(|(rid, _, _)| rid == "f"),
            "only the top layer: {got:?}"
        );

        // The top layer stops (the publisher's encoder dropped it): after a
        // while the subscriber moves to "h", but only at its key frame, which
        // the relay asks the publisher for.
        let asked_before = net.clients[publisher].keyframe_requests;
        let before = got.len();
        for i in 20..60 {
            net.publish_frame(publisher, &ALL[..2], i, i == 50);
        }
        assert!(
            net.clients[publisher].keyframe_requests > asked_before,
            "direct {direct}: no key-frame request for the layer to switch to"
        );
        let got = received(&net, sub);
        let after: Vec<_> = got[before..].iter().collect();
        assert!(
            !after.is_empty(),
            "direct {direct}: nothing after the switch"
        );
        assert!(after.iter().all(|(rid, _, _)| rid == "h"), "{after:?}");
        assert_eq!(
            after[0].2[1] & 1,
            0,
            "the first packet after the switch is a key frame"
        );
        let seqs: Vec<u16> = got.iter().map(|(_, s, _)| *s).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
            "direct {direct}: sequence numbers continue across the switch: {seqs:?}"
        );

        // The top layer comes back: switch up at its key frame.
        let before = got.len();
        for i in 60..70 {
            net.publish_frame(publisher, &ALL, i, i == 65);
        }
        let got = received(&net, sub);
        let rids: Vec<&str> = got[before..].iter().map(|(r, _, _)| r.as_str()).collect();
        let up = rids
            .iter()
            .position(|r| *r == "f")
            .expect("back on the top layer");
        assert!(
            rids[..up].iter().all(|r| *r == "h") && rids[up..].iter().all(|r| *r == "f"),
            "{rids:?}"
        );
    }
}

#[test]
fn one_layer_tracks_are_forwarded_as_before() {
    let mut net = Net::new(10);
    let publisher = net.join("roomA", true);
    let sub = net.join("roomA", false);
    net.run(2000);
    let sent = net.publish_video(publisher, 30);
    net.run(200);
    assert_arrived_in_order(&net.clients[sub], &sent);
}

#[test]
fn a_lost_copy_is_resent_from_the_layer_the_subscriber_is_on() {
    let mut net = Net::new_with(10, true);
    let publisher = net.join_simulcast("roomA", &["q", "h", "f"]);
    let sub = net.join("roomA", false);
    net.run(2000);
    let addr = net.clients[sub].addr;
    // Count the RTP datagrams the subscriber gets: lose the 10th and 11th.
    net.lose = vec![(addr, 10), (addr, 11)];
    let mut sent_f = Vec::new();
    for i in 0..20 {
        let frame = net.publish_frame(publisher, &ALL, i, i == 0);
        sent_f.extend(
            frame
                .into_iter()
                .filter(|(rid, _)| rid == "f")
                .map(|(_, p)| p),
        );
    }
    net.run(500);
    let mut got: Vec<Vec<u8>> = received(&net, sub)
        .into_iter()
        .filter(|(rid, _, _)| rid == "f")
        .map(|(_, _, p)| p)
        .collect();
    got.sort();
    got.dedup();
    sent_f.sort();
    assert_eq!(
        got, sent_f,
        "every top-layer frame arrives, the lost ones resent"
    );
    assert!(counter(&net, "conclave_rtx_sent_total") >= 2);
}

#[test]
fn a_subscriber_that_shows_a_small_tile_gets_a_smaller_layer() {
    let mut net = Net::new(10);
    let publisher = net.join_simulcast("roomA", &["q", "h", "f"]);
    let small = net.join("roomA", false);
    let large = net.join("roomA", false);
    net.run(2000);
    for i in 0..5 {
        net.publish_frame(publisher, &ALL, i, i == 0);
    }
    let mid = net.clients[small].rtp[0].0;
    let id = net.clients[small].id.clone();
    net.sfu.handle_command(
        net.now,
        Command::Signal {
            participant: id,
            msg: ClientMsg::VideoWidth {
                mid: mid.to_string(),
                width: 400,
            },
        },
    );
    let before = net.clients[small].rtp.len();
    for i in 5..40 {
        net.publish_frame(publisher, &ALL, i, i == 20);
    }
    let rids = |who: usize, from: usize| -> Vec<String> {
        received(&net, who)[from..]
            .iter()
            .map(|(r, _, _)| r.clone())
            .collect()
    };
    let small_rids = rids(small, before);
    let down = small_rids
        .iter()
        .position(|r| r == "h")
        .expect("moved to h");
    assert!(
        small_rids[..down].iter().all(|r| r == "f") && small_rids[down..].iter().all(|r| r == "h"),
        "{small_rids:?}"
    );
    assert!(
        rids(large, 3).iter().all(|r| r == "f"),
        "the other subscriber keeps the top layer"
    );
}
