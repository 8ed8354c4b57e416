//! Congestion control in the relay core (issue 12 §3): a publisher sends
//! three layers; viewer A has a clean link, viewer B's link from the relay
//! becomes a bottleneck (a rate-limited queue that drops what would wait
//! over 300 ms, like `tc tbf`, and loses 2 %). From B's transport-wide feedback alone the
//! relay must move B to a layer that fits while A keeps the top one, and
//! move B back up once the bottleneck is gone. Simulated network and time
//! (net/); the relay runs with congestion control on (net/ turns it on).
//!
//! The layers are scaled down (one packet a frame each: 200, 500 and 1150
//! bytes at 30 frames/s, about 60, 130 and 290 kbit/s with headers) and
//! so is the bottleneck (200 kbit/s): the estimator sees the same ratios
//! as a 400 kbit/s viewer of a 0.15/0.5/1.5 Mbit/s camera, in fewer
//! simulated packets.

mod net;

use std::time::Duration;

use net::*;

const ALL: [(&str, u16); 3] = [("q", 160), ("h", 320), ("f", 640)];

/// The layer (RID) of every packet `who` received from `from` on.
fn rids(net: &Net, who: usize, from: usize) -> Vec<u8> {
    net.clients[who].rtp[from..]
        .iter()
        .map(|(_, _, p)| {
            let start = if p[1] & 1 == 0 { 11 } else { 2 };
            p[start]
        })
        .collect()
}

/// Publishes `frames` frames (30 a second) from frame number `*i` on,
/// answering the relay's key-frame requests (and sending one every 2 s, as
/// an encoder does). Calls `check` after every frame; stops early when it
/// returns true, and returns the frames sent.
fn publish(
    net: &mut Net,
    publisher: usize,
    i: &mut u16,
    frames: u16,
    mut check: impl FnMut(&Net) -> bool,
) -> u16 {
    let mut asked = net.clients[publisher].keyframe_requests;
    for n in 0..frames {
        let requests = net.clients[publisher].keyframe_requests;
        let key = i.is_multiple_of(60) || requests > asked;
        asked = requests;
        net.publish_frame(publisher, &ALL, *i, key);
        *i = i.wrapping_add(1);
        if check(net) {
            return n + 1;
        }
    }
    frames
}

/// The last `n` packets `who` received are all of layer `rid`.
fn lately_all(net: &Net, who: usize, n: usize, rid: u8) -> bool {
    let len = net.clients[who].rtp.len();
    len >= n && rids(net, who, len - n).iter().all(|r| *r == rid)
}

#[test]
fn a_viewer_behind_a_bottleneck_gets_a_layer_that_fits_and_the_top_one_back() {
    let mut net = Net::new_with(10, true);
    net.frame_sizes = vec![200, 500, 1150];
    let publisher = net.join_simulcast("roomA", &["q", "h", "f"]);
    let a = net.join("roomA", false);
    let b = net.join("roomA", false);
    net.run(2000);
    let mut i = 0u16;

    // A clean start: both on the top layer.
    publish(&mut net, publisher, &mut i, 90, |_| false);
    assert!(lately_all(&net, a, 30, b'f'), "{:?}", rids(&net, a, 0));
    assert!(lately_all(&net, b, 30, b'f'), "{:?}", rids(&net, b, 0));
    assert!(
        counter(&net, "conclave_bwe_feedback_total") > 0,
        "no feedback"
    );
    // Feedback-only SRTCP packets are opened by the relay itself, not str0m.
    assert!(
        counter(&net, "conclave_bwe_feedback_direct_total") > 0,
        "the relay opened no feedback itself"
    );

    // B's link narrows to 200 kbit/s and loses 2 % (every 50th datagram):
    // within 20 s he is on a lower layer and stays there; A keeps the top
    // one throughout.
    let addr = net.clients[b].addr;
    let mut link = Bottleneck::new(addr, 200_000, Duration::from_millis(300));
    link.lose_every = 50;
    net.bottleneck = Some(link);
    let a_from = net.clients[a].rtp.len();
    let down = publish(&mut net, publisher, &mut i, 600, |net| {
        lately_all(net, b, 30, b'q') || lately_all(net, b, 30, b'h')
    });
    assert!(down < 600, "B still gets the top layer after 20 s");
    let down_s = f64::from(down) / 30.0;
    let b_from = net.clients[b].rtp.len();
    publish(&mut net, publisher, &mut i, 300, |_| false);
    let later = rids(&net, b, b_from);
    let top = later.iter().filter(|r| **r == b'f').count();
    assert!(
        top * 10 <= later.len(),
        "B went back to the top layer behind the bottleneck: {top} of {} packets",
        later.len()
    );
    let (dropped, lost) = net
        .bottleneck
        .as_ref()
        .map_or((0, 0), |b| (b.dropped, b.lost));
    assert!(
        rids(&net, a, a_from).iter().all(|r| *r == b'f'),
        "A left the top layer"
    );
    assert!(counter(&net, "conclave_bwe_layers_limited_total") > 0);

    // The bottleneck goes: within 30 s B is back on the top layer.
    net.bottleneck = None;
    let up = publish(&mut net, publisher, &mut i, 900, |net| {
        lately_all(net, b, 30, b'f')
    });
    assert!(up < 900, "B not back on the top layer after 30 s");
    println!(
        "down after {down_s:.1} s (the queue dropped {dropped} datagrams, the link lost {lost}), back up {:.1} s after it went",
        f64::from(up) / 30.0
    );
}
