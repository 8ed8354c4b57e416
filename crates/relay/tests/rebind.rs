//! A client's address changes mid-call (a NAT that rebinds, a phone moving
//! networks): the relay's own sends follow the address its authenticated
//! media and RTCP now come from, at once, instead of going on to the old
//! one until str0m's ICE-lite drops the old pair (no check on it for 15 s).
//! Simulated network and time (net/); with browsers: suite-rebind.mjs.

mod net;

use net::*;
use std::net::SocketAddr;

#[test]
fn the_relay_follows_a_viewer_whose_address_changes() {
    let mut net = Net::new(10);
    let publisher = net.join("roomA", true);
    let viewer = net.join("roomA", false);
    net.run(2000);
    let sent = net.publish_video(publisher, 10);
    net.run(200);
    assert_eq!(
        net.clients[viewer].rtp.len(),
        sent.len(),
        "before the change"
    );

    let moved: SocketAddr = "10.9.9.9:40000".parse().unwrap();
    net.rebind(viewer, moved);
    // The viewer's next ICE check and RTCP come from the new address.
    net.run(3000);
    let before = net.clients[viewer].rtp.len();
    // Frames 10 to 29 (new sequence numbers and payloads).
    let sent = net.publish_video_packets(publisher, 10, 20, true);
    net.run(200);
    let got: Vec<&Vec<u8>> = net.clients[viewer].rtp[before..]
        .iter()
        .map(|(_, _, p)| p)
        .collect();
    assert_eq!(
        got.len(),
        sent.len(),
        "3 s after the viewer's address changed, what the publisher sends reaches it at the new one"
    );
}
