//! Routing tests of the sans-I/O forwarding core: real str0m clients (ICE,
//! DTLS, SRTP) talk to [`Sfu`] over a simulated network with simulated time
//! (the harness is in net/).

mod net;

use net::*;

use std::sync::atomic::Ordering;

use conclave_proto::{ClientMsg, ServerMsg};
use conclave_relay::sfu::Command;
use str0m::media::{KeyframeRequestKind, Mid};

#[test]
fn forwards_packets_unchanged_to_subscribers_of_the_same_room_only() {
    // Both forwarding paths: the relay's own sealing and str0m's.
    for direct in [true, false] {
        forwards_packets_unchanged(direct);
    }
}

fn forwards_packets_unchanged(direct: bool) {
    let mut net = Net::new_with(10, direct);
    let publisher = net.join("roomA", true);
    let sub_a = net.join("roomA", false);
    let sub_b = net.join("roomB", false);
    net.run(2000);
    assert!(
        net.clients[publisher].rtc.is_connected(),
        "publisher connects"
    );
    assert!(net.clients[sub_a].rtc.is_connected(), "subscriber connects");

    let sent = net.publish_video(publisher, 50);
    net.run(200);

    assert_arrived_in_order(&net.clients[sub_a], &sent);
    let seqs: Vec<u16> = net.clients[sub_a].rtp.iter().map(|(_, s, _)| *s).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "sequence stays contiguous: {seqs:?}"
    );
    assert!(
        net.clients[sub_b].rtp.is_empty(),
        "another room receives nothing"
    );
    // Congestion control: the copies the relay seals carry one
    // transport-wide sequence of its own, which the subscriber answers with
    // feedback; str0m's copies (one now and then, for its sender reports)
    // carry none, so no number is ever used twice on one transport.
    let twcc = &net.clients[sub_a].twcc;
    let feedback = net.metrics.twcc_feedback.load(Ordering::Relaxed);
    if direct {
        assert!(twcc.len() >= 45, "{} of 50 numbered", twcc.len());
        assert!(
            twcc.windows(2).all(|w| w[1] > w[0]),
            "one increasing sequence: {twcc:?}"
        );
        assert!(
            feedback > 0,
            "the subscriber's feedback reaches the estimator"
        );
    } else {
        assert!(twcc.is_empty(), "str0m numbers nothing: {twcc:?}");
        assert_eq!(feedback, 0);
    }
    let answer = net.clients[publisher].sent.iter().find_map(|m| match m {
        ServerMsg::Answer { sdp } => Some(sdp.clone()),
        _ => None,
    });
    assert!(
        answer.is_some_and(|sdp| sdp.contains("transport-wide-cc")),
        "the publisher keeps TWCC: its browser's estimator needs the relay's feedback"
    );
    assert!(
        !net.clients[sub_b]
            .sent
            .iter()
            .any(|m| matches!(m, ServerMsg::Offer { .. } | ServerMsg::PeerJoined { .. })),
        "another room hears of nobody"
    );
    assert_eq!(net.sfu.room_count(), 2);
    assert!(net
        .metrics
        .render()
        .contains("conclave_rtp_forwarded_total 50"));
}

#[test]
fn late_joiner_receives_existing_tracks_and_leaving_ends_them() {
    let mut net = Net::new(10);
    let publisher = net.join("room", true);
    net.run(1000);
    let late = net.join("room", false);
    net.run(2000);
    let offers = |c: &Client| {
        c.sent
            .iter()
            .filter_map(|m| match m {
                ServerMsg::Offer { sdp } => Some(sdp.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let first = offers(&net.clients[late]);
    assert_eq!(first.len(), 1, "one offer carries both existing tracks");
    let pid = net.clients[publisher].id.0.clone();
    assert_eq!(
        first[0].matches(&format!("a=msid:{pid} ")).count(),
        2,
        "stream id is the publisher's id"
    );

    net.publish_video(publisher, 5);
    net.run(100);
    assert_eq!(net.clients[late].rtp.len(), 5);

    net.leave(publisher);
    net.run(500);
    let c = &net.clients[late];
    assert!(c
        .sent
        .iter()
        .any(|m| matches!(m, ServerMsg::PeerLeft { participant } if participant.0 == pid)));
    let last = offers(c).pop().unwrap();
    assert_eq!(offers(c).len(), 2, "a second offer ends the tracks");
    assert!(
        last.contains("m=audio 0 ") && last.contains("m=video 0 "),
        "m-lines stopped:\n{last}"
    );
}

#[test]
fn keyframe_requests_reach_the_publisher_throttled() {
    let mut net = Net::new(10);
    let publisher = net.join("room", true);
    net.run(1000);
    net.publish_video(publisher, 5);
    let sub = net.join("room", false);
    net.run(2000);
    let before = net.clients[publisher].keyframe_requests;
    assert!(before >= 1, "a new subscriber triggers a key frame request");
    // The subscriber asks three times within 100 ms, then again a second later.
    let video = find_video_mid(&net.clients[sub]);
    for _ in 0..3 {
        let c = &mut net.clients[sub];
        c.rtc
            .direct_api()
            .stream_rx_by_mid(video, None)
            .unwrap()
            .request_keyframe(KeyframeRequestKind::Pli);
        net.run(30);
    }
    let burst = net.clients[publisher].keyframe_requests - before;
    assert_eq!(burst, 1, "three quick requests become one");
    net.run(1000);
    let c = &mut net.clients[sub];
    c.rtc
        .direct_api()
        .stream_rx_by_mid(video, None)
        .unwrap()
        .request_keyframe(KeyframeRequestKind::Pli);
    net.run(100);
    assert_eq!(net.clients[publisher].keyframe_requests - before, 2);
}

fn find_video_mid(c: &Client) -> Mid {
    c.sent
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Offer { sdp } => Some(sdp),
            _ => None,
        })
        .flat_map(|sdp| {
            sdp.split("m=")
                .skip(1)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|m| m.starts_with("video"))
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("a=mid:").map(|s| Mid::from(s.trim())))
        })
        .expect("a video m-line")
}

#[test]
fn limits_are_enforced_with_clear_errors() {
    let mut net = Net::new(2);
    net.join("room", false);
    net.join("room", false);
    let third = net.join("room", false);
    net.run(10);
    let err = net.clients[third].sent.iter().find_map(|m| match m {
        ServerMsg::Error { code, message } => Some((*code, message.clone())),
        _ => None,
    });
    let (code, message) = err.expect("the third participant is refused");
    assert_eq!(code, conclave_proto::ErrorCode::RoomFull);
    assert!(message.contains("limit of 2"), "{message}");
}

#[test]
fn mls_envelopes_are_ordered_and_routed_by_the_delivery_service() {
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine as _;
    use conclave_e2ee::delivery::{Envelope, Epoch, JoinTicket, WelcomeBundle};

    let mut net = Net::new(10);
    let alice = net.join("room", false);
    let bob = net.join("room", false);
    let joiner = net.join("room", false);
    let other_room = net.join("elsewhere", false);
    net.run(10);
    let send = |net: &mut Net, who: usize, env: Envelope| {
        let id = net.clients[who].id.clone();
        net.sfu.handle_command(
            net.now,
            Command::Signal {
                participant: id,
                msg: ClientMsg::Mls {
                    data: B64.encode(env.encode()),
                },
            },
        );
        net.run(0);
    };
    let mls = |c: &Client| -> Vec<Envelope> {
        c.sent
            .iter()
            .filter_map(|m| match m {
                ServerMsg::Mls { data, .. } => {
                    Some(Envelope::decode(&B64.decode(data).unwrap()).unwrap())
                }
                _ => None,
            })
            .collect()
    };
    let ticket = JoinTicket([7; 16]);
    send(
        &mut net,
        joiner,
        Envelope::JoinRequest {
            ticket,
            request: b"kp+proof".to_vec(),
        },
    );
    assert!(matches!(
        mls(&net.clients[alice]).as_slice(),
        [Envelope::JoinRequest { .. }]
    ));
    assert!(
        mls(&net.clients[bob]).is_empty(),
        "Bob does not hold the group: join requests do not reach him"
    );

    // Alice (the room's first connection, so the group's founder) commits
    // the joiner's Add in epoch 5; the joiner then also commits in epoch 5, late.
    let welcome = WelcomeBundle {
        tickets: vec![ticket],
        welcome: b"welcome".to_vec(),
    };
    send(
        &mut net,
        alice,
        Envelope::Commit {
            epoch: Epoch(5),
            commit: b"A".to_vec(),
            welcome: Some(welcome),
        },
    );
    send(
        &mut net,
        joiner,
        Envelope::Commit {
            epoch: Epoch(5),
            commit: b"J".to_vec(),
            welcome: None,
        },
    );
    // Bob never got a Welcome: he cannot win an epoch with a commit of his own.
    send(
        &mut net,
        bob,
        Envelope::Commit {
            epoch: Epoch(6),
            commit: b"B".to_vec(),
            welcome: None,
        },
    );

    let a = mls(&net.clients[alice]);
    assert!(matches!(a.last(), Some(Envelope::Accepted { .. })), "{a:?}");
    let b = mls(&net.clients[bob]);
    assert!(b
        .iter()
        .any(|e| matches!(e, Envelope::Commit { commit, .. } if commit == b"A")));
    assert!(
        matches!(net.clients[bob].sent.last(), Some(ServerMsg::Error { message, .. }) if message.contains("only members")),
        "a non-member's commit is refused"
    );
    let j = mls(&net.clients[joiner]);
    assert!(
        j.iter().any(|e| matches!(e, Envelope::Welcome { .. })),
        "the Welcome reaches the joiner: {j:?}"
    );
    assert!(
        matches!(j.last(), Some(Envelope::Rejected { .. })),
        "the joiner's late commit is stale: {j:?}"
    );
    assert!(!a
        .iter()
        .any(|e| matches!(e, Envelope::Commit { commit, .. } if commit == b"J" || commit == b"B")));
    assert!(
        mls(&net.clients[other_room]).is_empty(),
        "other rooms see nothing"
    );

    // Garbage is refused to its sender only.
    let id = net.clients[bob].id.clone();
    net.sfu.handle_command(
        net.now,
        Command::Signal {
            participant: id,
            msg: ClientMsg::Mls { data: "%%%".into() },
        },
    );
    net.run(0);
    assert!(matches!(
        net.clients[bob].sent.last(),
        Some(ServerMsg::Error { .. })
    ));
    assert!(!matches!(
        net.clients[alice].sent.last(),
        Some(ServerMsg::Error { .. })
    ));
}

#[test]
fn a_video_frame_leaves_together_when_its_last_packet_arrives() {
    let mut net = Net::new(10);
    let publisher = net.join("roomA", true);
    let sub = net.join("roomA", false);
    net.run(2000);
    assert!(net.clients[sub].rtc.is_connected(), "subscriber connects");

    let mut sent = net.publish_video_packets(publisher, 0, 3, false);
    assert!(
        net.clients[sub].rtp.is_empty(),
        "the first packets of a frame wait for its last"
    );
    sent.extend(net.publish_video_packets(publisher, 3, 1, true));
    let got: Vec<&Vec<u8>> = net.clients[sub].rtp.iter().map(|(_, _, p)| p).collect();
    assert_eq!(
        got,
        sent.iter().collect::<Vec<_>>(),
        "the whole frame, in order"
    );

    // A frame whose last packet never comes is not held for long.
    sent.extend(net.publish_video_packets(publisher, 4, 2, false));
    assert_eq!(net.clients[sub].rtp.len(), 4);
    net.run(10);
    let got: Vec<&Vec<u8>> = net.clients[sub].rtp.iter().map(|(_, _, p)| p).collect();
    assert_eq!(
        got,
        sent.iter().collect::<Vec<_>>(),
        "held packets leave when the hold (5 ms) ends"
    );
}

#[test]
fn a_big_room_is_released_on_several_threads_and_every_packet_arrives_once() {
    const SUBSCRIBERS: usize = 40;
    let mut net = Net::with_fanout(100, 2);
    let publisher = net.join("roomA", true);
    let subs: Vec<usize> = (0..SUBSCRIBERS).map(|_| net.join("roomA", false)).collect();
    net.run(3000);
    assert!(subs.iter().all(|s| net.clients[*s].rtc.is_connected()));

    let sent = net.publish_video(publisher, 20);
    net.run(100);
    let from_threads = net
        .sent_by_fanout
        .as_ref()
        .map_or(0, |c| c.1.load(Ordering::Relaxed));
    assert!(
        from_threads >= 20 * SUBSCRIBERS,
        "the packets left from the fan-out threads ({from_threads})"
    );
    for s in &subs {
        let got: Vec<&Vec<u8>> = net.clients[*s].rtp.iter().map(|(_, _, p)| p).collect();
        assert_eq!(got, sent.iter().collect::<Vec<_>>(), "subscriber {s}");
    }
    assert!(net.metrics.render().contains(&format!(
        "conclave_rtp_forwarded_total {}",
        20 * SUBSCRIBERS
    )));
    assert!(!net
        .metrics
        .render()
        .contains("conclave_parallel_flushes_total 0\n"));
}

/// Publishes `frames` video frames of `per_frame` packets 33 ms apart (the
/// marker on each frame's last packet); returns the payloads in order.
fn publish_frames(net: &mut Net, who: usize, frames: u16, per_frame: u16) -> Vec<Vec<u8>> {
    let mut sent = Vec::new();
    for f in 0..frames {
        let first = f * per_frame;
        sent.extend(net.publish_video_packets(who, first, per_frame - 1, false));
        sent.extend(net.publish_video_packets(who, first + per_frame - 1, 1, true));
        net.run(33);
    }
    sent
}

#[test]
fn direct_send_seals_copies_that_subscribers_decrypt_with_correct_sender_reports() {
    let mut net = Net::new_with(10, true);
    let publisher = net.join("roomA", true);
    let subs = [net.join("roomA", false), net.join("roomA", false)];
    net.run(2000);
    let sent = publish_frames(&mut net, publisher, 60, 3);
    net.run(300);
    for sub in subs {
        let c = &net.clients[sub];
        assert_arrived_in_order(c, &sent);
        let seqs: Vec<u16> = c.rtp.iter().map(|(_, s, _)| *s).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
            "sequence stays contiguous: {seqs:?}"
        );
        // Directly sealed copies carry no MID header extension: browsers
        // demultiplex them by the SSRCs the relay's offers signal.
        assert!(
            c.sent.iter().any(|m| matches!(m, ServerMsg::Offer { sdp }
                if sdp.contains("a=ssrc:") && sdp.contains("a=ssrc-group:FID"))),
            "the relay's offers signal each forwarded stream's SSRC and its RTX SSRC"
        );
        // str0m's sender reports map RTP time to wallclock from the copies it
        // sent; with most copies sealed directly the mapping must stay right
        // (within a second of the stream's own timestamps, not 0).
        // (str0m's very first report, sent before any packet, says 0 either way.)
        let (ts, sr) = *c.sender_reports.last().expect("sender reports arrive");
        let diff = (ts as i64 - sr as i64).abs();
        assert!(
            diff < 90_000,
            "the last sender report's RTP time {sr} is off packet time {ts}"
        );
    }
    let direct = counter(&net, "conclave_rtp_sealed_directly_total");
    let forwarded = counter(&net, "conclave_rtp_forwarded_total");
    assert_eq!(forwarded, 2 * sent.len() as u64);
    assert!(
        direct * 10 >= forwarded * 9,
        "most copies are sealed directly: {direct} of {forwarded}"
    );
    assert_eq!(
        counter(&net, "conclave_rtx_sent_total"),
        0,
        "nothing was lost, so nothing is retransmitted: copies arrive in order"
    );
}

#[test]
fn direct_send_batches_a_frame_per_subscriber_into_segmented_sends() {
    let mut net = Net::new_with(10, true);
    net.sfu.set_gso_segments(16);
    let publisher = net.join("roomA", true);
    let subs = [net.join("roomA", false), net.join("roomA", false)];
    net.run(2000);
    let sent = publish_frames(&mut net, publisher, 20, 4);
    net.run(300);
    for sub in subs {
        assert_arrived_in_order(&net.clients[sub], &sent);
    }
    // Each 4-packet frame is held for its last packet, then leaves to each
    // subscriber as one send (less the copies str0m sends for its reports).
    assert!(
        net.segmented_sends >= 2 * 20 - 4,
        "frames left as segmented sends: {}",
        net.segmented_sends
    );
}

#[test]
fn direct_send_retransmits_lost_copies_on_rtx() {
    let mut net = Net::new_with(10, true);
    let publisher = net.join("roomA", true);
    let sub = net.join("roomA", false);
    net.run(2000);
    let addr = net.clients[sub].addr;
    // Lose three copies in the middle of the run (each a directly sealed one).
    net.lose = vec![(addr, 40), (addr, 41), (addr, 75)];
    let sent = publish_frames(&mut net, publisher, 40, 3);
    net.run(1000);
    let mut got: Vec<Vec<u8>> = net.clients[sub]
        .rtp
        .iter()
        .map(|(_, _, p)| p.clone())
        .collect();
    assert!(got.len() >= sent.len(), "the lost copies are repaired");
    got.sort();
    got.dedup();
    let mut want = sent.clone();
    want.sort();
    assert_eq!(
        got, want,
        "every payload arrives, the lost ones by retransmission"
    );
    assert!(
        counter(&net, "conclave_rtx_sent_total") >= 3,
        "the relay retransmitted from its own cache"
    );
}

#[test]
fn a_member_whose_media_died_stays_for_its_signaling_then_goes() {
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine as _;
    use conclave_e2ee::delivery::{Envelope, Epoch};
    use conclave_proto::ErrorCode;

    let mut net = Net::new(10);
    let leaving = net.join("room", true); // the first connection: holds the group
    let staying = net.join("room", false);
    net.run(1000);
    net.publish_video(leaving, 3);
    net.run(100);
    assert_eq!(net.clients[staying].rtp.len(), 3);
    let pid = net.clients[leaving].id.0.clone();
    let left = |c: &Client| {
        c.sent
            .iter()
            .any(|m| matches!(m, ServerMsg::PeerLeft { participant } if participant.0 == pid))
    };

    // Its network dies: after ICE gives up, the relay ends its media.
    net.cut_off.push(leaving);
    let mut waited = 0;
    while !net.clients[leaving].sent.iter().any(|m| {
        matches!(
            m,
            ServerMsg::Error {
                code: ErrorCode::MediaLost,
                ..
            }
        )
    }) {
        net.run(250);
        waited += 250;
        assert!(waited < 60_000, "the relay never noticed the media died");
    }
    let offers = net.clients[staying]
        .sent
        .iter()
        .filter(|m| matches!(m, ServerMsg::Offer { .. }))
        .count();
    assert!(
        offers >= 2,
        "the others renegotiate its tracks away at once"
    );
    assert!(!left(&net.clients[staying]), "but it is still in the room");

    // What it says on its way out still reaches the others.
    let id = net.clients[leaving].id.clone();
    net.sfu.handle_command(
        net.now,
        Command::Signal {
            participant: id,
            msg: ClientMsg::Mls {
                data: B64.encode(
                    Envelope::Proposal {
                        epoch: Epoch(1),
                        proposal: b"I leave".to_vec(),
                    }
                    .encode(),
                ),
            },
        },
    );
    net.run(0);
    assert!(
        matches!(
            net.clients[staying].sent.last(),
            Some(ServerMsg::Mls { .. })
        ),
        "its last MLS message is delivered: {:?}",
        net.clients[staying].sent.last()
    );

    // Its leave never comes: it is gone after the grace.
    net.run(2500);
    assert!(left(&net.clients[staying]));
}
