//! Loss on the publisher's hop (issue 12 §4): the relay asks the publisher
//! for what it lost (NACK, by str0m) and forwards the retransmission once,
//! in its place; `conclave_rtp_nacked_total` counts what it asked for. The
//! subscriber's hop (the relay's own retransmissions) is in routing.rs.
//! Simulated network and time (net/); under real loss: suite-loss.mjs.

mod net;

use net::*;

#[test]
fn packets_a_publisher_lost_on_its_way_in_are_asked_for_and_forwarded() {
    for direct in [true, false] {
        let mut net = Net::new_with(10, direct);
        let publisher = net.join("roomA", true);
        let sub = net.join("roomA", false);
        net.run(2000);
        let from = net.clients[publisher].addr;
        net.lose_from = vec![(from, 30), (from, 31), (from, 60)];
        let sent = net.publish_video(publisher, 80);
        net.run(1000);
        let mut got: Vec<Vec<u8>> = net.clients[sub]
            .rtp
            .iter()
            .map(|(_, _, p)| p.clone())
            .collect();
        assert_eq!(
            got.len(),
            sent.len(),
            "direct {direct}: each packet arrives once"
        );
        got.sort();
        let mut want = sent.clone();
        want.sort();
        assert_eq!(
            got, want,
            "direct {direct}: the lost ones arrive by retransmission"
        );
        if direct {
            // Counted from the NACKs str0m sends, seen as raw RTCP (direct send only).
            assert!(
                counter(&net, "conclave_rtp_nacked_total") >= 3,
                "the relay asked again for the three lost packets"
            );
        }
    }
}
