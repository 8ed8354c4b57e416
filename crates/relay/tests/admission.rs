//! What a connection that knows only a room id can do to the room through
//! the relay's own rules: nothing. Signaling only, through the sans-I/O core
//! ([`Sfu::handle_command`]); no media, no sockets.
//!
//! - A join must show the room's founder token (conclave_e2ee::founder): a
//!   connection without it never enters, cannot found an empty room, and
//!   does not learn whether the room exists or is full.
//! - The delivery service cannot be steered by a connection inside the room
//!   that does not hold the group: join requests reach only members, join
//!   tickets are first-come, and only commits for the current epoch count.

use std::sync::Arc;
use std::time::Instant;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use conclave_e2ee::delivery::{Envelope, Epoch, JoinTicket, WelcomeBundle};
use conclave_e2ee::founder::FounderToken;
use conclave_proto::{ClientMsg, ErrorCode, ParticipantId, RoomId, ServerMsg};
use conclave_relay::metrics::Metrics;
use conclave_relay::sfu::{new_participant_id, Command, Sfu, SfuConfig};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

struct Conn {
    id: ParticipantId,
    rx: UnboundedReceiver<ServerMsg>,
    seen: Vec<ServerMsg>,
}

impl Conn {
    /// Everything the relay sent this connection so far.
    fn drain(&mut self) -> &[ServerMsg] {
        while let Ok(m) = self.rx.try_recv() {
            self.seen.push(m);
        }
        &self.seen
    }

    fn envelopes(&mut self) -> Vec<Envelope> {
        self.drain()
            .iter()
            .filter_map(|m| match m {
                ServerMsg::Mls { data, .. } => {
                    Some(Envelope::decode(&B64.decode(data).unwrap()).unwrap())
                }
                _ => None,
            })
            .collect()
    }

    fn errors(&mut self) -> Vec<(ErrorCode, String)> {
        self.drain()
            .iter()
            .filter_map(|m| match m {
                ServerMsg::Error { code, message } => Some((*code, message.clone())),
                _ => None,
            })
            .collect()
    }

    fn joined(&mut self) -> bool {
        self.drain()
            .iter()
            .any(|m| matches!(m, ServerMsg::Joined { .. }))
    }
}

struct Relay {
    sfu: Sfu,
    now: Instant,
}

impl Relay {
    fn new(max_participants: usize) -> Relay {
        str0m::crypto::from_feature_flags().install_process_default();
        let sfu = Sfu::new(
            SfuConfig {
                media_addr: "10.0.0.1:5000".parse().unwrap(),
                tcp_addr: None,
                max_rooms: 10,
                max_participants,
                direct_send: true,
                congestion_control: true,
            },
            Arc::new(Metrics::default()),
        );
        Relay {
            sfu,
            now: Instant::now(),
        }
    }

    /// A connection to `/r/<room>/ws` whose join shows `founder`.
    fn connect(&mut self, room: &str, founder: &str) -> Conn {
        let (tx, rx) = unbounded_channel();
        let id = new_participant_id();
        self.sfu.handle_command(
            self.now,
            Command::Join {
                participant: id.clone(),
                room: RoomId::parse(room).unwrap(),
                founder: founder.to_owned(),
                events: tx,
            },
        );
        Conn {
            id,
            rx,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, from: &Conn, env: &Envelope) {
        self.sfu.handle_command(
            self.now,
            Command::Signal {
                participant: from.id.clone(),
                msg: ClientMsg::Mls {
                    data: B64.encode(env.encode()),
                },
            },
        );
    }
}

fn token(n: u8) -> FounderToken {
    FounderToken::from_bytes([n; 32])
}

#[test]
fn a_join_without_the_rooms_founder_token_is_refused() {
    let mut relay = Relay::new(2);
    let room = token(1).room_id();
    // Someone who knows only the room id: no token, the room id itself,
    // another room's token, garbage. Each is refused before the room exists.
    for bad in [
        String::new(),
        room.clone(),
        token(2).to_base64url(),
        "%%%".to_string(),
    ] {
        let mut c = relay.connect(&room, &bad);
        let errors = c.errors();
        assert_eq!(errors.len(), 1, "{bad:?}: {errors:?}");
        let (code, message) = &errors[0];
        assert_eq!(*code, ErrorCode::BadFounderToken);
        assert!(code.is_fatal(), "the connection is closed");
        assert!(message.contains("full link"), "{message}");
        assert!(!c.joined());
        assert_eq!(relay.sfu.room_count(), 0, "no room was made for {bad:?}");
    }

    // The link holder founds the room and holds its group.
    let mut alice = relay.connect(&room, &token(1).to_base64url());
    assert!(alice.joined());
    assert_eq!(relay.sfu.room_count(), 1);
    relay.send(
        &alice,
        &Envelope::Commit {
            epoch: Epoch(0),
            commit: vec![1],
            welcome: None,
        },
    );
    assert!(matches!(
        alice.envelopes().last(),
        Some(Envelope::Accepted { epoch: Epoch(0) })
    ));

    // The room has space for one more (max_participants = 2): an outsider
    // is told its link is wrong, not that the room exists, and Alice sees
    // no one arrive.
    let mut outsider = relay.connect(&room, &token(3).to_base64url());
    assert_eq!(outsider.errors()[0].0, ErrorCode::BadFounderToken);
    assert!(!alice
        .drain()
        .iter()
        .any(|m| matches!(m, ServerMsg::PeerJoined { .. })));
    // Fill the room, then try again without the token: still the token
    // error, never "room full".
    let mut bob = relay.connect(&room, &token(1).to_base64url());
    assert!(bob.joined());
    let mut late = relay.connect(&room, "");
    assert_eq!(late.errors()[0].0, ErrorCode::BadFounderToken);
}

#[test]
fn the_delivery_service_cannot_be_steered_from_inside_the_room() {
    let mut relay = Relay::new(10);
    let founder = token(4);
    let room = founder.room_id();
    let t = founder.to_base64url();
    let mut alice = relay.connect(&room, &t); // founder: holds the group
    let mut bob = relay.connect(&room, &t); // waiting to be let in
    let mut carol = relay.connect(&room, &t);
    assert!(alice.joined() && bob.joined() && carol.joined());

    // Carol asks to join: only Alice, who holds the group, sees it. Bob,
    // also inside the room but not a member, sees neither her ticket nor
    // her KeyPackage.
    let ticket = JoinTicket([9; 16]);
    let request = Envelope::JoinRequest {
        ticket,
        request: b"carol's kp+proof".to_vec(),
    };
    relay.send(&carol, &request);
    assert_eq!(alice.envelopes(), vec![request.clone()]);
    assert!(
        bob.envelopes().is_empty(),
        "join requests reach only members"
    );

    // Bob re-sends Carol's ticket to have her Welcome routed to him:
    // refused to him, and the ticket stays Carol's.
    relay.send(
        &bob,
        &Envelope::JoinRequest {
            ticket,
            request: b"bob's kp+proof".to_vec(),
        },
    );
    let errors = bob.errors();
    assert!(
        errors
            .iter()
            .any(|(c, m)| *c == ErrorCode::BadMessage && m.contains("already pending")),
        "{errors:?}"
    );
    assert_eq!(alice.envelopes().len(), 1, "Bob's copy was not forwarded");

    // Alice admits Carol in epoch 0: the Welcome goes to Carol only.
    relay.send(
        &alice,
        &Envelope::Commit {
            epoch: Epoch(0),
            commit: b"add carol".to_vec(),
            welcome: Some(WelcomeBundle {
                tickets: vec![ticket],
                welcome: b"welcome".to_vec(),
            }),
        },
    );
    assert!(carol
        .envelopes()
        .iter()
        .any(|e| matches!(e, Envelope::Welcome { ticket: t, .. } if *t == ticket)));
    assert!(!bob
        .envelopes()
        .iter()
        .any(|e| matches!(e, Envelope::Welcome { .. })));

    // Carol, now a member, tries to jump the epoch (which would make every
    // honest commit look stale): refused, naming the current epoch.
    relay.send(
        &carol,
        &Envelope::Commit {
            epoch: Epoch(1_000),
            commit: b"jump".to_vec(),
            welcome: None,
        },
    );
    assert_eq!(
        carol.envelopes().last(),
        Some(&Envelope::Rejected {
            epoch: Epoch(1_000),
            current: Epoch(1)
        })
    );
    assert!(!alice
        .envelopes()
        .iter()
        .any(|e| matches!(e, Envelope::Commit { commit, .. } if commit == b"jump")));
    // The honest next commit is still ordered.
    relay.send(
        &alice,
        &Envelope::Commit {
            epoch: Epoch(1),
            commit: b"update".to_vec(),
            welcome: None,
        },
    );
    assert_eq!(
        alice.envelopes().last(),
        Some(&Envelope::Accepted { epoch: Epoch(1) })
    );
}
