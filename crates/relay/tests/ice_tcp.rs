//! ICE-TCP in the relay core: a client that reaches the relay only over
//! TCP (as from a network that blocks UDP) publishes and receives like one
//! on UDP, on both forwarding paths; an address is told apart by transport.
//! Simulated network and time (net/); the socket side is proven by the
//! browser suite tests/browser/suite-tcp.mjs.

mod net;

use conclave_proto::ServerMsg;
use conclave_relay::sfu::Via;
use net::*;

#[test]
fn the_answer_offers_a_passive_tcp_candidate_on_the_https_port() {
    let mut net = Net::new(10);
    let c = net.join("roomA", true);
    net.run(100);
    let answer = net.clients[c]
        .sent
        .iter()
        .find_map(|m| match m {
            ServerMsg::Answer { sdp } => Some(sdp.clone()),
            _ => None,
        })
        .expect("an answer");
    let candidates: Vec<&str> = answer
        .lines()
        .filter(|l| l.starts_with("a=candidate"))
        .collect();
    assert!(
        candidates
            .iter()
            .any(|l| l.contains(" udp ") && l.contains(" 10.0.0.1 5000 typ host")),
        "{candidates:?}"
    );
    assert!(
        candidates.iter().any(|l| l.to_lowercase().contains(" tcp ")
            && l.contains(" 10.0.0.1 443 typ host tcptype passive")),
        "{candidates:?}"
    );
}

#[test]
fn tcp_clients_publish_and_receive_on_both_forwarding_paths() {
    for direct in [true, false] {
        for (pub_via, sub_via) in [
            (Via::Udp, Via::Tcp),
            (Via::Tcp, Via::Udp),
            (Via::Tcp, Via::Tcp),
        ] {
            let mut net = Net::new_with(10, direct);
            let publisher = net.join_via("roomA", true, pub_via);
            let subscriber = net.join_via("roomA", false, sub_via);
            net.run(2000);
            let what = format!("direct {direct}, publisher {pub_via:?}, subscriber {sub_via:?}");
            assert!(net.clients[publisher].rtc.is_connected(), "{what}");
            assert!(net.clients[subscriber].rtc.is_connected(), "{what}");
            let sent = net.publish_video(publisher, 50);
            net.run(200);
            // The harness delivers a transmit only to the client with its
            // address and transport: a copy sent over UDP to a TCP client is lost.
            assert_arrived_in_order(&net.clients[subscriber], &sent);
        }
    }
}

#[test]
fn one_address_number_on_udp_and_on_tcp_is_two_peers() {
    let addr = "10.0.1.9:6000".parse().unwrap();
    let mut net = Net::new(10);
    let udp = net.join_at("roomA", true, Via::Udp, addr);
    let tcp = net.join_at("roomA", true, Via::Tcp, addr);
    net.run(2000);
    assert!(net.clients[udp].rtc.is_connected());
    assert!(net.clients[tcp].rtc.is_connected());
    let from_udp = net.publish_video(udp, 20);
    net.run(200);
    assert_arrived_in_order(&net.clients[tcp], &from_udp);
    assert!(
        net.clients[udp].rtp.is_empty(),
        "nothing of its own comes back"
    );
    let from_tcp = net.publish_video(tcp, 20);
    net.run(200);
    assert_arrived_in_order(&net.clients[udp], &from_tcp);
}
