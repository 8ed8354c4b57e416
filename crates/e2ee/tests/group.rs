//! Group-level tests: members, the delivery service and media keys together,
//! with simulated time and no network. Each test asserts what a user would
//! see (agreeing codes, frames that decode or not, ghosts refused).

use conclave_e2ee::delivery::{DeliveryService, Envelope, Epoch, Recipients};
use conclave_e2ee::{
    AdmissionError, Codec, Event, FrameError, FrameReceiver, FrameSender, GroupError, Identity,
    JoinRequest, Joiner, LeafIndex, Member, RoomPolicy, RoomSecret,
};

const NOW: u64 = 1_700_000_000_000;

/// Events members saw, and bytes addressed to connections that are not members.
type Routed = (Vec<(u32, Event)>, Vec<(u32, Vec<u8>)>);

/// A room: the delivery service, the members by connection id, and the secret.
struct Room {
    secret: RoomSecret,
    ds: DeliveryService<u32>,
    members: Vec<(u32, Member)>,
}

impl Room {
    fn new(policy: RoomPolicy, creator: Identity) -> Room {
        let secret = RoomSecret::generate();
        let alice = Member::create(creator, &secret, policy).unwrap();
        // As the relay does for a room's first connection: it holds the group.
        let mut ds = DeliveryService::new();
        ds.add_member(0);
        Room {
            secret,
            ds,
            members: vec![(0, alice)],
        }
    }

    fn member(&mut self, id: u32) -> &mut Member {
        &mut self.members.iter_mut().find(|(i, _)| *i == id).unwrap().1
    }

    /// Routes `bytes` from connection `from` through the delivery service to
    /// the members; returns their events and any bytes for non-members.
    fn route(&mut self, from: u32, bytes: &[u8]) -> Routed {
        let mut events = Vec::new();
        let mut others = Vec::new();
        for out in self.ds.handle(&from, bytes).unwrap() {
            match out.to {
                Recipients::AllExcept(p) => {
                    for (id, m) in self.members.iter_mut().filter(|(id, _)| *id != p) {
                        events.push((*id, m.handle(&out.bytes).unwrap()));
                    }
                }
                Recipients::Members(to) => {
                    for (id, m) in self.members.iter_mut().filter(|(id, _)| to.contains(id)) {
                        events.push((*id, m.handle(&out.bytes).unwrap()));
                    }
                }
                Recipients::One(p) => match self.members.iter_mut().find(|(id, _)| *id == p) {
                    Some((id, m)) => events.push((*id, m.handle(&out.bytes).unwrap())),
                    None => others.push((p, out.bytes)),
                },
            }
        }
        (events, others)
    }

    /// `joiner_id` joins through member `by`, who checks the proof itself.
    fn join(&mut self, by: u32, joiner_id: u32) -> Vec<(u32, Event)> {
        let mut joiner = Joiner::new(Identity::generate(), &self.secret);
        let env = joiner.join_envelope(NOW).unwrap();
        let routed = self.ds.handle(&joiner_id, &env).unwrap().pop().unwrap();
        // The request reaches the members, the admitting one among them, and
        // no one else.
        let Recipients::Members(to) = &routed.to else {
            panic!("a join request goes to the members, not {:?}", routed.to)
        };
        assert!(to.contains(&by), "member {by} sees the request");
        assert!(to
            .iter()
            .all(|c| self.members.iter().any(|(id, _)| id == c)));
        let request = routed.bytes;
        let Event::JoinRequested(req) = self.member(by).handle(&request).unwrap() else {
            panic!("expected a join request")
        };
        let verified = self.member(by).check_join_request(&req, NOW + 10).unwrap();
        let commit = self.member(by).admit(&[verified]).unwrap();
        let (events, others) = self.route(by, &commit);
        let (to, welcome) = others.into_iter().next().expect("a Welcome for the joiner");
        assert_eq!(to, joiner_id);
        let member = joiner.accept_welcome(&welcome).unwrap();
        self.members.push((joiner_id, member));
        events
    }

    /// Every member is in the same epoch, shows the same roster and safety
    /// code, and can decrypt every other member's frames (same exported keys).
    fn assert_agree(&self) {
        let (_, first) = &self.members[0];
        for (id, m) in &self.members {
            assert_eq!(m.epoch(), first.epoch(), "member {id}");
            assert_eq!(m.safety_code(), first.safety_code(), "member {id}");
            assert_eq!(m.roster(), first.roster(), "member {id}");
        }
        assert_eq!(first.roster().len(), self.members.len());
        for (id, sender) in &self.members {
            let mut tx = FrameSender::new(&sender.media_epoch().unwrap()).unwrap();
            let frame = format!("frame from {id}");
            let wire = tx.encrypt(Codec::Raw, frame.as_bytes()).unwrap();
            for (other, receiver) in self.members.iter().filter(|(o, _)| o != id) {
                let mut rx = FrameReceiver::new();
                rx.add_epoch(&receiver.media_epoch().unwrap(), NOW);
                let got = rx.decrypt(Codec::Raw, &wire, NOW).unwrap();
                assert_eq!(got.frame, frame.as_bytes(), "{id} -> {other}");
                assert_eq!(got.sender, sender.own_leaf().0);
            }
        }
    }
}

#[test]
fn three_members_agree_after_create_admit_admit_update_remove() {
    let mut room = Room::new(RoomPolicy::default(), Identity::generate());
    room.assert_agree();
    let mut codes = vec![room.member(0).safety_code()];

    room.join(0, 1);
    room.assert_agree();
    codes.push(room.member(0).safety_code());

    let events = room.join(1, 2);
    room.assert_agree();
    codes.push(room.member(0).safety_code());
    assert!(events.iter().any(|(id, e)| *id == 0
        && matches!(e, Event::EpochChanged { added, .. } if added == &[LeafIndex(2)])));

    let update = room.member(1).self_update().unwrap();
    room.route(1, &update);
    room.assert_agree();
    codes.push(room.member(0).safety_code());
    assert_eq!(room.member(0).epoch(), Epoch(3));

    let carol_leaf = room.member(2).own_leaf();
    let remove = room.member(0).remove(&[carol_leaf]).unwrap();
    let (events, _) = room.route(0, &remove);
    assert!(events.contains(&(2, Event::Removed)));
    let (_, carol) = room.members.pop().unwrap();
    assert!(!carol.is_active());
    room.assert_agree();
    codes.push(room.member(0).safety_code());

    // The code changes every epoch.
    for (i, a) in codes.iter().enumerate() {
        for b in &codes[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn removed_member_cannot_decrypt_later_frames_and_joiner_cannot_decrypt_earlier_ones() {
    let mut room = Room::new(RoomPolicy::default(), Identity::generate());
    room.join(0, 1);
    // Alice sends a frame before Carol joins.
    let mut tx = FrameSender::new(&room.member(0).media_epoch().unwrap()).unwrap();
    let before = tx.encrypt(Codec::Vp8, &[0x31, 9, 9, 9]).unwrap();
    room.join(0, 2);
    let mut carol_rx = FrameReceiver::new();
    carol_rx.add_epoch(&room.member(2).media_epoch().unwrap(), NOW);
    assert!(matches!(
        carol_rx.decrypt(Codec::Vp8, &before, NOW),
        Err(FrameError::UnknownEpoch(_))
    ));

    // Carol is removed; Alice switches keys and sends again.
    let carol_leaf = room.member(2).own_leaf();
    let remove = room.member(0).remove(&[carol_leaf]).unwrap();
    room.route(0, &remove);
    let (_, carol) = room.members.pop().unwrap();
    assert!(matches!(carol.media_epoch(), Err(GroupError::NotAMember)));
    tx.switch_epoch(&room.member(0).media_epoch().unwrap())
        .unwrap();
    let after = tx.encrypt(Codec::Vp8, &[0x31, 7, 7, 7]).unwrap();
    assert!(carol_rx.decrypt(Codec::Vp8, &after, NOW).is_err());
    // Bob, still a member, decrypts it.
    let mut bob_rx = FrameReceiver::new();
    bob_rx.add_epoch(&room.member(1).media_epoch().unwrap(), NOW);
    assert_eq!(
        bob_rx.decrypt(Codec::Vp8, &after, NOW).unwrap().frame,
        [0x31, 7, 7, 7]
    );
}

#[test]
fn join_proofs_without_secret_for_other_room_or_replayed_are_refused() {
    let mut room = Room::new(RoomPolicy::default(), Identity::generate());
    let secret = room.secret.clone();

    // The relay knows the room id but not S: it guesses an admit key.
    let mut relay_joiner = Joiner::new(Identity::generate(), &RoomSecret::generate());
    let kp = relay_joiner.join_request(NOW).unwrap().key_package;
    let forged = JoinRequest::create(
        &RoomSecret::generate().admit_key(),
        &secret.room_id(),
        kp,
        NOW,
    );
    assert_eq!(
        room.member(0).check_join_request(&forged, NOW).unwrap_err(),
        AdmissionError::BadProof
    );

    // A valid request for another room.
    let other = RoomSecret::generate();
    let mut elsewhere = Joiner::new(Identity::generate(), &other);
    let req = elsewhere.join_request(NOW).unwrap();
    assert_eq!(
        room.member(0).check_join_request(&req, NOW).unwrap_err(),
        AdmissionError::BadProof
    );

    // A valid request, replayed.
    let mut bob = Joiner::new(Identity::generate(), &secret);
    let req = bob.join_request(NOW).unwrap();
    room.member(0).check_join_request(&req, NOW).unwrap();
    assert_eq!(
        room.member(0)
            .check_join_request(&req, NOW + 1)
            .unwrap_err(),
        AdmissionError::Replayed
    );

    // A valid request, too old.
    let stale = bob.join_request(NOW - 120_000).unwrap();
    assert!(matches!(
        room.member(0).check_join_request(&stale, NOW),
        Err(AdmissionError::Stale { .. })
    ));
}

#[test]
fn commit_from_a_non_member_relay_cannot_be_applied() {
    let mut room = Room::new(RoomPolicy::default(), Identity::generate());
    room.join(0, 1);
    // The relay runs its own group and commits an Add of a ghost it controls.
    let relay_secret = RoomSecret::generate();
    let mut relay_group =
        Member::create(Identity::generate(), &relay_secret, RoomPolicy::default()).unwrap();
    let mut ghost = Joiner::new(Identity::generate(), &relay_secret);
    let req = ghost.join_request(NOW).unwrap();
    let v = relay_group.check_join_request(&req, NOW).unwrap();
    let commit = relay_group.admit(&[v]).unwrap();
    let Envelope::Commit { commit: mls, .. } = Envelope::decode(&commit).unwrap() else {
        panic!()
    };
    // Dressed as a commit for the real group's epoch.
    let forged = Envelope::Commit {
        epoch: room.member(0).epoch(),
        commit: mls,
        welcome: None,
    }
    .encode();
    let before = room.member(0).safety_code();
    assert!(matches!(
        room.member(0).handle(&forged),
        Err(GroupError::NotFromMember(_))
    ));
    assert_eq!(room.member(0).safety_code(), before);
    room.assert_agree();

    // Garbage and a PublicMessage-shaped blob are refused too.
    let junk = Envelope::Commit {
        epoch: room.member(0).epoch(),
        commit: vec![0, 1, 0, 1, 0, 0],
        welcome: None,
    }
    .encode();
    assert!(room.member(0).handle(&junk).is_err());
}

#[test]
fn welcome_from_a_group_the_relay_made_is_refused() {
    let room = Room::new(RoomPolicy::default(), Identity::generate());
    let mut bob = Joiner::new(Identity::generate(), &room.secret);
    let bob_request = bob.join_request(NOW).unwrap();

    // The relay saw Bob's KeyPackage, makes its own group (without S) and
    // welcomes Bob into it. It cannot make a proof for Bob's KeyPackage under
    // its own secret without S either, so it uses a KeyPackage-for-KeyPackage
    // proof under its fake secret — Bob's client still refuses the group.
    let fake_secret = RoomSecret::generate();
    let mut fake =
        Member::create(Identity::generate(), &fake_secret, RoomPolicy::default()).unwrap();
    let req = JoinRequest::create(
        &fake_secret.admit_key(),
        &fake_secret.room_id(),
        bob_request.key_package.clone(),
        NOW,
    );
    let v = fake.check_join_request(&req, NOW).unwrap();
    let commit = fake.admit(&[v]).unwrap();
    let Envelope::Commit {
        welcome: Some(w), ..
    } = Envelope::decode(&commit).unwrap()
    else {
        panic!()
    };
    let welcome = Envelope::Welcome {
        ticket: bob_request.ticket(),
        welcome: w.welcome,
    }
    .encode();
    assert!(matches!(
        bob.accept_welcome(&welcome),
        Err(GroupError::BadWelcome(_))
    ));
}

/// Found by fuzzing (fuzz/fuzz_targets/welcome_accept.rs): the relay sees a
/// joiner's KeyPackage (in its join request) and the real Welcome. If a fake
/// Welcome naming that KeyPackage — a group the relay made, or a damaged copy
/// of the real one — used up the joiner's KeyPackage keys, the real Welcome
/// would then fail and the joiner be stuck outside while its leaf sits in
/// the group. `Joiner::accept_welcome` promises a refused Welcome leaves the
/// joiner usable.
#[test]
fn a_refused_welcome_leaves_the_joiner_able_to_take_the_real_one() {
    let mut room = Room::new(RoomPolicy::default(), Identity::generate());
    let mut bob = Joiner::new(Identity::generate(), &room.secret);
    let bob_request = bob.join_request(NOW).unwrap();

    // 1. A group the relay made, welcoming Bob's own KeyPackage.
    let fake_secret = RoomSecret::generate();
    let mut fake =
        Member::create(Identity::generate(), &fake_secret, RoomPolicy::default()).unwrap();
    let req = JoinRequest::create(
        &fake_secret.admit_key(),
        &fake_secret.room_id(),
        bob_request.key_package.clone(),
        NOW,
    );
    let v = fake.check_join_request(&req, NOW).unwrap();
    let Envelope::Commit {
        welcome: Some(fake_welcome),
        ..
    } = Envelope::decode(&fake.admit(&[v]).unwrap()).unwrap()
    else {
        panic!()
    };
    assert!(matches!(
        bob.accept_welcome(&fake_welcome.welcome),
        Err(GroupError::BadWelcome(_))
    ));

    // 2. The real admission; the relay first sends Bob a damaged copy of
    // the real Welcome (last byte: inside the encrypted GroupInfo).
    let env = Envelope::JoinRequest {
        ticket: bob_request.ticket(),
        request: bob_request.encode(),
    }
    .encode();
    let (events, _) = room.route(1, &env);
    let Some((_, Event::JoinRequested(req))) = events.into_iter().next() else {
        panic!("Alice sees Bob's request")
    };
    let v = room.member(0).check_join_request(&req, NOW).unwrap();
    let commit = room.member(0).admit(&[v]).unwrap();
    let (_, others) = room.route(0, &commit);
    let (_, real) = others.into_iter().next().expect("the Welcome for Bob");
    let mut damaged = real.clone();
    *damaged.last_mut().unwrap() ^= 1;
    assert!(bob.accept_welcome(&damaged).is_err());

    // 3. The real Welcome still works: Bob is in Alice's group.
    let bob = bob
        .accept_welcome(&real)
        .expect("the real Welcome, after refused fakes");
    assert_eq!(bob.safety_code(), room.member(0).safety_code());
}

#[test]
fn forked_group_yields_different_safety_codes() {
    let mut room = Room::new(RoomPolicy::default(), Identity::generate());
    room.join(0, 1);
    room.join(0, 2);
    room.assert_agree();
    let epoch = room.member(0).epoch();
    // Alice and Bob both commit in the same epoch; an evil relay accepts both,
    // showing Alice's commit to Carol and Bob's to nobody.
    let a = room.member(0).self_update().unwrap();
    let b = room.member(1).self_update().unwrap();
    let accepted = Envelope::Accepted { epoch }.encode();
    room.member(0).handle(&accepted).unwrap();
    room.member(1).handle(&accepted).unwrap();
    let Envelope::Commit { commit, .. } = Envelope::decode(&a).unwrap() else {
        panic!()
    };
    let to_carol = Envelope::Commit {
        epoch,
        commit,
        welcome: None,
    }
    .encode();
    room.member(2).handle(&to_carol).unwrap();
    let _ = b;
    let (alice, bob, carol) = (
        room.member(0).safety_code(),
        room.member(1).safety_code(),
        room.member(2).safety_code(),
    );
    assert_eq!(alice, carol);
    assert_ne!(alice, bob, "the fork is visible in the codes");
}

#[test]
fn concurrent_commits_are_ordered_by_the_delivery_service() {
    let mut room = Room::new(RoomPolicy::default(), Identity::generate());
    room.join(0, 1);
    room.join(0, 2);
    let a = room.member(0).self_update().unwrap();
    let b = room.member(1).self_update().unwrap();
    room.route(0, &a); // first: wins; Bob processes it despite his pending commit
    let (events, _) = room.route(1, &b);
    assert!(matches!(events[..], [(1, Event::CommitRejected { .. })]));
    assert!(!room.member(1).has_pending_commit());
    room.assert_agree();
    // Bob retries in the new epoch.
    let b = room.member(1).self_update().unwrap();
    room.route(1, &b);
    room.assert_agree();
}

#[test]
fn leave_is_committed_by_another_member() {
    let mut room = Room::new(RoomPolicy::default(), Identity::generate());
    room.join(0, 1);
    room.join(0, 2);
    let leave = room.member(2).leave().unwrap();
    let (events, _) = room.route(2, &leave);
    assert!(events.contains(&(0, Event::LeaveRequested { leaf: LeafIndex(2) })));
    let commit = room.member(0).commit_pending().unwrap();
    let (events, _) = room.route(0, &commit);
    assert!(events.contains(&(2, Event::Removed)));
    room.members.retain(|(id, _)| *id != 2);
    room.assert_agree();
}

#[test]
fn names_travel_only_inside_mls_application_messages() {
    let mut room = Room::new(RoomPolicy::default(), Identity::generate());
    room.join(0, 1);
    let msg = room
        .member(0)
        .send(b"{\"name\":\"Alice Example\"}")
        .unwrap();
    assert!(!msg.windows(5).any(|w| w == b"Alice"), "name not in clear");
    let (events, _) = room.route(0, &msg);
    assert_eq!(
        events,
        vec![(
            1,
            Event::Application {
                sender: LeafIndex(0),
                data: b"{\"name\":\"Alice Example\"}".to_vec()
            }
        )]
    );
}

#[test]
fn host_approval_lets_only_hosts_admit() {
    let host = Identity::generate();
    let policy = RoomPolicy {
        hosts: vec![host.public()],
        host_approval: true,
        hosts_only_remove: true,
        audio_padding: true,
    };
    let mut room = Room::new(policy.clone(), host);
    room.join(0, 1); // the host admits Bob
    assert_eq!(room.member(1).policy(), &policy);
    let mut carol = Joiner::new(Identity::generate(), &room.secret);
    let req = carol.join_request(NOW).unwrap();
    assert_eq!(
        room.member(1).check_join_request(&req, NOW).unwrap_err(),
        AdmissionError::NotAHost
    );
    assert!(matches!(
        room.member(1).remove(&[LeafIndex(0)]),
        Err(GroupError::PolicyViolation(_))
    ));
    room.assert_agree();
}

/// Sizes of what crosses the relay, printed for the issue notes
/// (`cargo test -p conclave-e2ee --test group sizes -- --nocapture`).
#[test]
fn message_sizes() {
    let mut room = Room::new(RoomPolicy::default(), Identity::generate());
    room.join(0, 1);
    let mut joiner = Joiner::new(Identity::generate(), &room.secret);
    let req = joiner.join_request(NOW).unwrap();
    let kp_len = req.key_package.len();
    let req_len = req.encode().len();
    let env = Envelope::JoinRequest {
        ticket: req.ticket(),
        request: req.encode(),
    };
    room.ds.handle(&2, &env.encode()).unwrap();
    let v = room.member(0).check_join_request(&req, NOW).unwrap();
    let commit = room.member(0).admit(&[v]).unwrap();
    let Envelope::Commit {
        commit: add_commit,
        welcome: Some(w),
        ..
    } = Envelope::decode(&commit).unwrap()
    else {
        panic!()
    };
    let (_, others) = room.route(0, &commit);
    room.members
        .push((2, joiner.accept_welcome(&others[0].1).unwrap()));
    let update = room.member(1).self_update().unwrap();
    let Envelope::Commit {
        commit: update_commit,
        ..
    } = Envelope::decode(&update).unwrap()
    else {
        panic!()
    };
    room.route(1, &update);
    let remove = room.member(0).remove(&[LeafIndex(2)]).unwrap();
    let Envelope::Commit {
        commit: remove_commit,
        ..
    } = Envelope::decode(&remove).unwrap()
    else {
        panic!()
    };
    let app = room.member(0).send(&[0u8; 100]).unwrap();
    let Envelope::Application { message, .. } = Envelope::decode(&app).unwrap() else {
        panic!()
    };
    println!("KeyPackage: {kp_len} B; join request: {req_len} B");
    println!(
        "path-less Add commit (PrivateMessage, 2→3 members): {} B",
        add_commit.len()
    );
    println!(
        "Welcome (with ratchet tree, 3 members): {} B",
        w.welcome.len()
    );
    println!(
        "self-update commit (PrivateMessage, 3 members): {} B",
        update_commit.len()
    );
    println!(
        "remove commit (PrivateMessage, 3→2 members): {} B",
        remove_commit.len()
    );
    println!(
        "application PrivateMessage, 100 B payload: {} B",
        message.len()
    );
    assert!(
        add_commit.len() < update_commit.len(),
        "path-less Add is smaller"
    );
}

/// Revocation (issue 10): a member removes Carol and revokes the link. Every
/// remaining member derives the same new admission secret from the new
/// epoch; the old link (which Carol kept) admits nobody any more, the new one
/// does; a plain removal or a leave does not change the link.
#[test]
fn revoking_removes_and_the_old_link_admits_nobody_but_the_new_one_does() {
    let mut room = Room::new(RoomPolicy::default(), Identity::generate());
    room.join(0, 1);
    room.join(0, 2);
    room.join(0, 3);
    // A plain removal (someone who dropped) keeps the link.
    let dave = room.member(3).own_leaf();
    let remove = room.member(0).remove(&[dave]).unwrap();
    room.route(0, &remove);
    room.members.retain(|(id, _)| *id != 3);
    room.ds.peer_left(&3);
    assert!(room
        .members
        .iter()
        .all(|(_, m)| m.admission_secret().is_none()));

    let carol_leaf = room.member(2).own_leaf();
    let revoke = room.member(1).revoke(&[carol_leaf]).unwrap();
    let (events, _) = room.route(1, &revoke);
    assert!(
        events
            .iter()
            .any(|(id, e)| *id == 2 && *e == Event::Removed),
        "Carol is told she was removed"
    );
    room.members.retain(|(id, _)| *id != 2);
    room.ds.peer_left(&2);
    room.assert_agree();
    let new = room
        .member(0)
        .admission_secret()
        .cloned()
        .expect("alice rotated");
    assert_eq!(
        room.member(1).admission_secret(),
        Some(&new),
        "the remover rotated to the same secret"
    );

    // Carol comes back with the old link: her proof is refused by every member.
    let mut carol = Joiner::new(Identity::generate(), &room.secret);
    let Ok(Envelope::JoinRequest { request, .. }) =
        Envelope::decode(&carol.join_envelope(NOW + 100).unwrap())
    else {
        panic!("join request")
    };
    let req = JoinRequest::decode(&request).unwrap();
    for id in [0, 1] {
        let err = room
            .member(id)
            .check_join_request(&req, NOW + 110)
            .unwrap_err();
        assert!(
            matches!(err, AdmissionError::BadProof),
            "member {id}: {err:?}"
        );
    }
    // Someone with the new link is admitted.
    let mut ok_joiner = Joiner::with_admission(Identity::generate(), &room.secret, Some(&new));
    let env = ok_joiner.join_envelope(NOW + 200).unwrap();
    let request = room.ds.handle(&4, &env).unwrap().pop().unwrap().bytes;
    let Event::JoinRequested(good) = room.member(0).handle(&request).unwrap() else {
        panic!("expected a join request")
    };
    let verified = room.member(0).check_join_request(&good, NOW + 210).unwrap();
    let commit = room.member(0).admit(&[verified]).unwrap();
    let (events, others) = room.route(0, &commit);
    assert!(
        events
            .iter()
            .all(|(_, e)| matches!(e, Event::EpochChanged { .. })),
        "{events:?}"
    );
    let (_, welcome) = others
        .into_iter()
        .next()
        .expect("a Welcome for the new-link joiner");
    let member = ok_joiner.accept_welcome(&welcome).unwrap();
    assert_eq!(
        member.admission_secret(),
        Some(&new),
        "the new member holds the new link's secret"
    );
    room.members.push((4, member));
    room.assert_agree();
}
