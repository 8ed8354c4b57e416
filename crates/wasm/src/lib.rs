//! # conclave-wasm
//!
//! The browser's view of [`conclave_e2ee`]: the same Rust code that native
//! clients use, compiled to `wasm32-unknown-unknown` and wrapped with
//! `wasm-bindgen` (docs/design.md §2, "browser E2EE … calling the same Rust E2EE
//! crate compiled to wasm32"). The web client (crates/web/assets) loads the
//! bundle `scripts/build-wasm.sh` makes twice:
//!
//! - on the **page**, which holds the MLS group: [`RoomKey`] (the link, its
//!   secret, and the founder token each `join` shows the relay) and [`Call`] (joiner → member state machine, admission, commits,
//!   application messages, roster, safety code, media-key export);
//! - in the **media worker**, which runs `RTCRtpScriptTransform` on every
//!   sender and receiver: [`FrameEncryptor`] and [`FrameDecryptor`] (SFrame).
//!   The page hands each epoch's keys over as bytes
//!   ([`Call::media_epoch`] → [`FrameEncryptor::set_epoch`] /
//!   [`FrameDecryptor::add_epoch`]); they never leave the tab.
//!
//! Errors from misuse become JS exceptions carrying the Rust error text.
//! Messages the relay delivers that members must refuse (a forged commit, a
//! join request without the right proof, a Welcome from a group the relay made)
//! are not exceptions: [`Call::handle`] reports them as `refused` events, so
//! the page can show everyone the attempt. Times are milliseconds since the
//! Unix epoch, as JS numbers.
//!
//! The API is small on purpose; everything it does is tested natively in
//! this crate (the wrappers are plain Rust) and end to end by
//! tests/browser/run.mjs.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::BTreeMap;

use conclave_e2ee::delivery::{Envelope, Epoch};
use conclave_e2ee::media::{Codec, FrameReceiver, FrameSender, MediaContext, MediaEpoch};
use conclave_e2ee::{
    AdmissionError, AdmissionSecret, Event, GroupError, Identity, JoinRequest, Joiner, LeafIndex,
    Member, RoomId, RoomLink, RoomPolicy, RoomSecret, VerifiedJoin,
};
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// How long a checked join request waits for someone to admit it before it is
/// forgotten.
const PENDING_JOIN_TTL_MS: u64 = 120_000;

/// Application messages (profiles with display names, chat) are padded to a
/// multiple of this many bytes before MLS encrypts them, so the relay cannot
/// tell names apart by the length of their envelopes (docs/design.md §1,
/// "hand out names"). 256 holds a profile with a name of up to about 200
/// bytes in one step.
pub const APPLICATION_PAD: usize = 256;

/// `text ‖ 0x80 ‖ 0x00…` to the smallest multiple of [`APPLICATION_PAD`]
/// that holds it (ISO/IEC 7816-4 padding: the last non-zero byte is the
/// marker, so any text, even one ending in zeros, comes back exactly).
fn pad_application(text: &[u8]) -> Vec<u8> {
    let size = (text.len() + 1).div_ceil(APPLICATION_PAD) * APPLICATION_PAD;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(text);
    out.push(0x80);
    out.resize(size, 0);
    out
}

/// Takes [`pad_application`]'s padding off; `None` when there is none.
fn unpad_application(padded: &[u8]) -> Option<&[u8]> {
    let end = padded.iter().rposition(|b| *b != 0)?;
    (padded[end] == 0x80 && padded.len() % APPLICATION_PAD == 0).then(|| &padded[..end])
}

/// An error with the Rust error text. Crossing into JS it becomes a thrown
/// `Error` whose message is that text (converted only at the boundary, so the
/// wrappers also run in native tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl Out {
    fn refused(what: &str, reason: impl std::fmt::Display) -> Out {
        Out::Refused {
            what: what.into(),
            reason: reason.to_string(),
            epoch: None,
            relation: None,
        }
    }
}

impl From<Error> for JsValue {
    fn from(e: Error) -> JsValue {
        JsError::new(&e.0).into()
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn js_err(e: impl std::fmt::Display) -> Error {
    Error(e.to_string())
}

fn now(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        ms as u64
    } else {
        0
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ------------------------------------------------------------------ links

/// A room's secret and what derives from it. Made fresh for "New meeting" or
/// parsed from the link's fragment; never sent to the relay.
#[wasm_bindgen]
pub struct RoomKey {
    secret: RoomSecret,
    /// The room's admission secret, from a link made after a member revoked
    /// the first one (`a=`): join proofs are made with it.
    admission: Option<AdmissionSecret>,
}

#[wasm_bindgen]
impl RoomKey {
    /// A fresh secret for a new meeting (from the browser's CSPRNG).
    pub fn generate() -> RoomKey {
        RoomKey {
            secret: RoomSecret::generate(),
            admission: None,
        }
    }

    /// The secret from a link fragment (43 base64url characters).
    #[wasm_bindgen(js_name = fromSecret)]
    pub fn from_secret(secret: &str) -> Result<RoomKey, Error> {
        Ok(RoomKey {
            secret: RoomSecret::from_base64url(secret).map_err(js_err)?,
            admission: None,
        })
    }

    /// Parses a whole link, refusing one whose room id does not derive from
    /// its secret (an edited link).
    #[wasm_bindgen(js_name = parseLink)]
    pub fn parse_link(link: &str) -> Result<RoomKey, Error> {
        let link = RoomLink::parse(link).map_err(js_err)?;
        Ok(RoomKey {
            secret: link.secret().clone(),
            admission: link.admission().cloned(),
        })
    }

    /// The relay-visible room id (22 base64url characters): the one to
    /// connect to (`/r/<room-id>/ws`), even when the link carried an older one.
    #[wasm_bindgen(js_name = roomId)]
    pub fn room_id(&self) -> String {
        self.secret.room_id().to_string()
    }

    /// Whether `room_id` (a link's path) names this secret's room: its current
    /// id ([`RoomKey::room_id`]) or the id links carried before signaling
    /// protocol 2. For an old link, connect to [`RoomKey::room_id`]: the
    /// relay checks the founder token against that one only.
    #[wasm_bindgen(js_name = matchesRoom)]
    pub fn matches_room(&self, room_id: &str) -> bool {
        RoomId::parse(room_id).is_ok_and(|id| self.secret.names_room(&id))
    }

    /// The founder token (43 base64url characters) every `join` message
    /// carries: the relay checks that it hashes to the room id, so only
    /// someone who opened the link can enter the room. It is not the secret:
    /// the relay cannot derive the secret, the admit key or any media key
    /// from it.
    #[wasm_bindgen(js_name = founderToken)]
    pub fn founder_token(&self) -> String {
        self.secret.founder_token().to_base64url()
    }

    /// Takes the link's admission secret (`a=` in the fragment, 43 base64url
    /// characters): the room revoked its first link, and join proofs must be
    /// made with this one.
    #[wasm_bindgen(js_name = setAdmission)]
    pub fn set_admission(&mut self, admission: &str) -> Result<(), Error> {
        self.admission = Some(AdmissionSecret::from_base64url(admission).map_err(js_err)?);
        Ok(())
    }

    /// The admission secret the link carries, if any (for the link to share).
    pub fn admission(&self) -> Option<String> {
        self.admission
            .as_ref()
            .map(|a| a.to_base64url().as_str().to_owned())
    }

    /// The secret as it appears in the link fragment.
    pub fn secret(&self) -> String {
        self.secret.to_base64url().as_str().to_owned()
    }

    /// The meeting link `BASE/#<secret>`; `base` is the relay's
    /// origin, e.g. `https://relay.example:8443`.
    pub fn link(&self, base: &str) -> Result<String, Error> {
        let mut link = RoomLink::new(base, self.secret.clone()).map_err(js_err)?;
        if let Some(a) = &self.admission {
            link = link.with_admission(a.clone());
        }
        Ok(link.to_url().as_str().to_owned())
    }
}

// ------------------------------------------------------------------ the call

enum State {
    Joining(Box<Joiner>),
    Member(Box<Member>),
    Gone,
}

struct PendingJoin {
    join: VerifiedJoin,
    seen_ms: u64,
}

/// What [`Call::handle`] reports, as JSON (`kind` says which).
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Out {
    /// Someone asks to join. `ok`: its proof, freshness and KeyPackage passed
    /// our own check (`ticket` then names it for [`Call::admit`]); otherwise
    /// `reason` says why it was refused.
    JoinRequest {
        ticket: String,
        ok: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The joiner's device key (hex), when the request checked out.
        #[serde(skip_serializing_if = "Option::is_none")]
        identity: Option<String>,
        /// The display name the joiner sealed into its request (readable
        /// only with the room's admit key, so never by the relay).
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The room requires host approval and we are not a host: the proof
        /// was checked, but only a host may admit.
        host_decides: bool,
    },
    /// We joined from a Welcome.
    Welcomed { epoch: u64, leaf: u32 },
    /// New epoch: refresh media keys, roster and safety code.
    Epoch {
        epoch: u64,
        added: Vec<u32>,
        removed: Vec<u32>,
        /// Tickets of checked join requests now in the group.
        admitted: Vec<String>,
    },
    /// Our commit lost its epoch; retry what we meant to do.
    Rejected { current: u64 },
    /// A member asked to leave.
    LeaveRequested { leaf: u32 },
    /// An application message from a member (UTF-8, lossy).
    Application { sender: u32, text: String },
    /// We are out of the group.
    Removed,
    /// A message we had to refuse: `what` (commit, welcome, message,
    /// proposal, envelope) and why. Nothing changed. For an MLS message of
    /// our group that did not decrypt or was for another epoch: `epoch`, the
    /// epoch it claims, and `relation` to ours: `behind` (old: drop it
    /// quietly), `ahead` (keep it until the commit that starts its epoch
    /// arrives: the relay withholds or reordered it) or `current` (a message
    /// of our own epoch that does not decrypt: the group may have forked).
    Refused {
        what: String,
        reason: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        epoch: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        relation: Option<&'static str>,
    },
    /// A message we already handled, delivered again (a replay or a
    /// duplicate): nothing changed, nothing to show.
    Duplicate,
    /// Not for us.
    Ignored,
}

/// One device in one call: first a joiner (or the creator), then a member of
/// the room's MLS group. Feed it every `mls` envelope from the relay with
/// [`Call::handle`]; send what its methods return.
#[wasm_bindgen]
pub struct Call {
    secret: RoomSecret,
    state: State,
    pending: BTreeMap<String, PendingJoin>,
    /// The delivery service's epoch, learned from `Rejected`, when it is ahead
    /// of ours without a commit we could apply (someone made it order a commit
    /// no member made). See [`Call::commit_out`].
    ds_epoch: Option<u64>,
    /// Our last commit was sent under this envelope epoch for this MLS epoch.
    sent_as: Option<(u64, u64)>,
}

#[wasm_bindgen]
impl Call {
    /// A fresh device identity for the room of `room`.
    #[wasm_bindgen(constructor)]
    pub fn new(room: &RoomKey) -> Call {
        Call {
            secret: room.secret.clone(),
            state: State::Joining(Box::new(Joiner::with_admission(
                Identity::generate(),
                &room.secret,
                room.admission.as_ref(),
            ))),
            pending: BTreeMap::new(),
            ds_epoch: None,
            sent_as: None,
        }
    }

    /// Creates the room's group, alone, at epoch 0. With `host_approval`, this
    /// device is the room's only host and only it may admit joiners.
    pub fn create(&mut self, host_approval: bool) -> Result<(), Error> {
        let identity = match std::mem::replace(&mut self.state, State::Gone) {
            State::Joining(j) => {
                // The joiner's identity is fresh and unused.
                drop(j);
                Identity::generate()
            }
            other => {
                self.state = other;
                return Err(Error("this device is already in the call".into()));
            }
        };
        // Audio padding is on in every room (docs/design.md §1, "read who is
        // speaking"): the relay cannot switch it off later, the policy is
        // fixed in the group context.
        let mut policy = RoomPolicy {
            audio_padding: true,
            ..RoomPolicy::default()
        };
        if host_approval {
            policy.hosts = vec![identity.public()];
            policy.host_approval = true;
        }
        let member = Member::create(identity, &self.secret, policy).map_err(js_err)?;
        self.state = State::Member(Box::new(member));
        Ok(())
    }

    /// A join request envelope (fresh KeyPackage, proof of the link secret
    /// made at `now_ms`). Call again to retry; each has a new ticket.
    #[wasm_bindgen(js_name = joinRequest)]
    pub fn join_request(&mut self, now_ms: f64) -> Result<Vec<u8>, Error> {
        match &mut self.state {
            State::Joining(j) => j.join_envelope(now(now_ms)).map_err(js_err),
            _ => Err(Error(
                "only a device waiting to join sends join requests".into(),
            )),
        }
    }

    /// Whether this device is a member of the group.
    #[wasm_bindgen(js_name = isMember)]
    pub fn is_member(&self) -> bool {
        matches!(&self.state, State::Member(m) if m.is_active())
    }

    fn member(&mut self) -> Result<&mut Member, Error> {
        match &mut self.state {
            State::Member(m) if m.is_active() => Ok(m),
            _ => Err(Error("not a member of the call".into())),
        }
    }

    fn member_ref(&self) -> Option<&Member> {
        match &self.state {
            State::Member(m) if m.is_active() => Some(m),
            _ => None,
        }
    }

    /// Handles one envelope from the relay (the bytes of an `mls` message's
    /// `data`) and returns what it meant as JSON: an object whose `kind` is
    /// `join_request`, `welcomed`, `epoch`, `rejected`, `leave_requested`,
    /// `application`, `removed`, `refused`, `duplicate` or `ignored`.
    pub fn handle(&mut self, bytes: &[u8], now_ms: f64) -> String {
        let out = self.handle_inner(bytes, now(now_ms));
        serde_json::to_string(&out).unwrap_or_else(|_| String::from(r#"{"kind":"ignored"}"#))
    }

    fn handle_inner(&mut self, bytes: &[u8], now_ms: u64) -> Out {
        self.pending
            .retain(|_, p| now_ms.saturating_sub(p.seen_ms) < PENDING_JOIN_TTL_MS);
        let env = match Envelope::decode(bytes) {
            Ok(e) => e,
            Err(e) => return Out::refused("envelope", e),
        };
        match &mut self.state {
            State::Gone => Out::Ignored,
            State::Joining(joiner) => match env {
                Envelope::Welcome { .. } => match joiner.accept_welcome(bytes) {
                    Ok(member) => {
                        let out = Out::Welcomed {
                            epoch: member.epoch().0,
                            leaf: member.own_leaf().0,
                        };
                        self.state = State::Member(Box::new(member));
                        out
                    }
                    Err(e) => Out::refused("welcome", e),
                },
                _ => Out::Ignored,
            },
            State::Member(member) => {
                let bytes = match (&env, self.sent_as) {
                    // Our commit went out under the delivery service's epoch;
                    // its acknowledgement names that one.
                    (Envelope::Accepted { epoch }, Some((sent, real))) if epoch.0 == sent => {
                        Envelope::Accepted { epoch: Epoch(real) }.encode()
                    }
                    (Envelope::Rejected { epoch, current }, Some((sent, real)))
                        if epoch.0 == sent =>
                    {
                        Envelope::Rejected {
                            epoch: Epoch(real),
                            current: *current,
                        }
                        .encode()
                    }
                    // An answer about another commit than the one we have out
                    // under the service's count: a replay.
                    (Envelope::Accepted { .. } | Envelope::Rejected { .. }, Some(_)) => {
                        return Out::Ignored
                    }
                    _ => bytes.to_vec(),
                };
                if let Envelope::JoinRequest { ticket, request } = &env {
                    return Self::check_join(
                        member,
                        &mut self.pending,
                        hex(&ticket.0),
                        request,
                        now_ms,
                    );
                }
                let what = match &env {
                    Envelope::Commit { .. } => "commit",
                    Envelope::Proposal { .. } => "proposal",
                    Envelope::Application { .. } => "message",
                    _ => "envelope",
                };
                match member.handle(&bytes) {
                    Ok(Event::EpochChanged {
                        epoch,
                        added,
                        removed,
                    }) => {
                        // Keep following the service's count if it is ahead.
                        let label = match (&env, self.sent_as.take()) {
                            (Envelope::Commit { epoch, .. }, _) => Some(epoch.0),
                            (Envelope::Accepted { .. }, Some((sent, _))) => Some(sent),
                            _ => None,
                        };
                        self.ds_epoch = label
                            .map(|l| l.saturating_add(1))
                            .filter(|next| *next > epoch.0);
                        let in_group: Vec<_> =
                            member.roster().into_iter().map(|r| r.identity).collect();
                        let admitted: Vec<String> = self
                            .pending
                            .iter()
                            .filter(|(_, p)| in_group.contains(&p.join.identity()))
                            .map(|(t, _)| t.clone())
                            .collect();
                        for t in &admitted {
                            self.pending.remove(t);
                        }
                        Out::Epoch {
                            epoch: epoch.0,
                            added: added.iter().map(|l| l.0).collect(),
                            removed: removed.iter().map(|l| l.0).collect(),
                            admitted,
                        }
                    }
                    Ok(Event::CommitRejected { current }) => {
                        self.sent_as = None;
                        // The winning commit was delivered before this reply.
                        // If we are still behind, the service ordered a commit
                        // no member made (we refused it): follow its count in
                        // the envelope so our commits are ordered again.
                        self.ds_epoch = (current.0 > member.epoch().0).then_some(current.0);
                        Out::Rejected { current: current.0 }
                    }
                    Ok(Event::LeaveRequested { leaf }) => Out::LeaveRequested { leaf: leaf.0 },
                    Ok(Event::Application { sender, data }) => match unpad_application(&data) {
                        Some(text) => Out::Application {
                            sender: sender.0,
                            text: String::from_utf8_lossy(text).into_owned(),
                        },
                        None => Out::refused(
                            what,
                            format!(
                                "an application message from leaf {} is not padded; \
                                 its sender runs an outdated client and should reload the page",
                                sender.0
                            ),
                        ),
                    },
                    Ok(Event::Removed) => {
                        self.state = State::Gone;
                        Out::Removed
                    }
                    Ok(Event::JoinRequested(_)) | Ok(Event::Ignored) => Out::Ignored,
                    Ok(Event::Duplicate) | Err(GroupError::Replayed) => Out::Duplicate,
                    Err(e) => {
                        // Where the message stands against our epoch, for
                        // messages MLS could not read: too old, too new (a
                        // commit is missing), or ours but undecryptable.
                        let got = match &e {
                            GroupError::NotFromMember(_) | GroupError::WrongEpoch { .. } => {
                                member.message_epoch(&bytes)
                            }
                            _ => None,
                        };
                        let ours = member.epoch();
                        match (Out::refused(what, e), got) {
                            (Out::Refused { what, reason, .. }, Some(got)) => Out::Refused {
                                what,
                                reason,
                                epoch: Some(got.0),
                                relation: Some(match got.cmp(&ours) {
                                    std::cmp::Ordering::Less => "behind",
                                    std::cmp::Ordering::Equal => "current",
                                    std::cmp::Ordering::Greater => "ahead",
                                }),
                            },
                            (out, _) => out,
                        }
                    }
                }
            }
        }
    }

    fn check_join(
        member: &mut Member,
        pending: &mut BTreeMap<String, PendingJoin>,
        ticket: String,
        request: &[u8],
        now_ms: u64,
    ) -> Out {
        let refused = |reason: String| Out::JoinRequest {
            ticket: ticket.clone(),
            ok: false,
            reason: Some(reason),
            identity: None,
            name: None,
            host_decides: false,
        };
        let req = match JoinRequest::decode(request) {
            Ok(r) => r,
            Err(e) => return refused(e.to_string()),
        };
        let policy = member.policy().clone();
        if policy.host_approval && !policy.is_host(&member.identity()) {
            // Only a host may admit, but every member still checks the proof
            // so refused attempts are visible to all.
            let Ok(name) = member.read_join_request(&req) else {
                return refused("the join proof was not made with this meeting's link".into());
            };
            return Out::JoinRequest {
                ticket,
                ok: true,
                reason: None,
                identity: None,
                name,
                host_decides: true,
            };
        }
        match member.check_join_request(&req, now_ms) {
            Ok(join) => {
                let identity = hex(join.identity().as_bytes());
                let name = join.display_name().map(str::to_owned);
                pending.insert(
                    ticket.clone(),
                    PendingJoin {
                        join,
                        seen_ms: now_ms,
                    },
                );
                Out::JoinRequest {
                    ticket,
                    ok: true,
                    reason: None,
                    identity: Some(identity),
                    name,
                    host_decides: false,
                }
            }
            // The request that let someone in, replayed: they are here.
            Err(AdmissionError::Replayed | AdmissionError::Stale { .. })
                if member.is_admitted(&req) =>
            {
                Out::Duplicate
            }
            Err(e) => refused(e.to_string()),
        }
    }

    /// Tickets of checked join requests nobody has admitted yet, oldest first.
    #[wasm_bindgen(js_name = pendingJoins)]
    pub fn pending_joins(&self) -> Vec<String> {
        let mut v: Vec<_> = self.pending.iter().collect();
        v.sort_by_key(|(_, p)| p.seen_ms);
        v.into_iter().map(|(t, _)| t.clone()).collect()
    }

    /// Drops a pending join request (e.g. a host pressed Deny).
    #[wasm_bindgen(js_name = dropJoin)]
    pub fn drop_join(&mut self, ticket: &str) {
        self.pending.remove(ticket);
    }

    /// Commits a path-less Add of the checked join requests named by
    /// `tickets`; returns the envelope to send.
    pub fn admit(&mut self, tickets: Vec<String>) -> Result<Vec<u8>, Error> {
        let joins: Vec<VerifiedJoin> = tickets
            .iter()
            .filter_map(|t| self.pending.get(t).map(|p| p.join.clone()))
            .collect();
        if joins.is_empty() {
            return Err(Error("no checked join request with those tickets".into()));
        }
        let env = self.member()?.admit(&joins).map_err(js_err)?;
        Ok(self.commit_out(env))
    }

    /// Commits the removal of `leaves`; returns the envelope to send.
    pub fn remove(&mut self, leaves: Vec<u32>) -> Result<Vec<u8>, Error> {
        let leaves: Vec<LeafIndex> = leaves.into_iter().map(LeafIndex).collect();
        let env = self.member()?.remove(&leaves).map_err(js_err)?;
        Ok(self.commit_out(env))
    }

    /// Seals `name` into the join requests this device sends, so a host
    /// deciding whether to let it in sees who asks (the relay cannot read it).
    #[wasm_bindgen(js_name = setName)]
    pub fn set_name(&mut self, name: &str) {
        if let State::Joining(j) = &mut self.state {
            j.set_display_name(name);
        }
    }

    /// Asks to leave: a self-remove proposal (MLS; only this member can make
    /// it), which another member commits. Returns the envelope to send; stop
    /// sending media now.
    pub fn leave(&mut self) -> Result<Vec<u8>, Error> {
        self.member()?.leave().map_err(js_err)
    }

    /// Removes `leaves` and revokes the room's link (issue 10, revocation):
    /// once applied, every member holds a new admission secret
    /// ([`Call::admission_secret`]) and the old link admits nobody. Returns
    /// the envelope to send.
    pub fn revoke(&mut self, leaves: Vec<u32>) -> Result<Vec<u8>, Error> {
        let leaves: Vec<LeafIndex> = leaves.into_iter().map(LeafIndex).collect();
        let env = self.member()?.revoke(&leaves).map_err(js_err)?;
        Ok(self.commit_out(env))
    }

    /// The room's admission secret since a member revoked its first link
    /// (base64url, for `a=` in the link to share), or undefined while the
    /// first link still admits.
    #[wasm_bindgen(js_name = admissionSecret)]
    pub fn admission_secret(&self) -> Option<String> {
        self.member_ref()?
            .admission_secret()
            .map(|a| a.to_base64url().as_str().to_owned())
    }

    /// Commits a self-update (fresh leaf keys, new epoch); returns the
    /// envelope to send.
    #[wasm_bindgen(js_name = selfUpdate)]
    pub fn self_update(&mut self) -> Result<Vec<u8>, Error> {
        let env = self.member()?.self_update().map_err(js_err)?;
        Ok(self.commit_out(env))
    }

    /// Commits stored proposals (members' requests to leave).
    #[wasm_bindgen(js_name = commitPending)]
    pub fn commit_pending(&mut self) -> Result<Vec<u8>, Error> {
        let env = self.member()?.commit_pending().map_err(js_err)?;
        Ok(self.commit_out(env))
    }

    /// Whether a commit of ours awaits the delivery service's verdict.
    #[wasm_bindgen(js_name = hasPendingCommit)]
    pub fn has_pending_commit(&self) -> bool {
        self.member_ref().is_some_and(|m| m.has_pending_commit())
    }

    /// Encrypts an application message (e.g. our profile) for the group,
    /// padded to a multiple of [`APPLICATION_PAD`] bytes so its length does
    /// not tell the relay how long a name is.
    pub fn send(&mut self, text: &str) -> Result<Vec<u8>, Error> {
        let padded = pad_application(text.as_bytes());
        self.member()?.send(&padded).map_err(js_err)
    }

    /// If the delivery service counts epochs ahead of ours because it ordered
    /// a commit that was not a member's (a forged one, refused by every
    /// member), label our commit with its count so it is ordered; we map its
    /// `Accepted` back in [`Call::handle`]. Members never trust the envelope's
    /// epoch: they check the MLS epoch inside.
    fn commit_out(&mut self, env: Vec<u8>) -> Vec<u8> {
        let Some(ds) = self.ds_epoch else {
            return env;
        };
        match Envelope::decode(&env) {
            Ok(Envelope::Commit {
                epoch,
                commit,
                welcome,
            }) if ds > epoch.0 => {
                self.sent_as = Some((ds, epoch.0));
                Envelope::Commit {
                    epoch: Epoch(ds),
                    commit,
                    welcome,
                }
                .encode()
            }
            _ => env,
        }
    }

    /// The current epoch (0 before joining).
    pub fn epoch(&self) -> f64 {
        self.member_ref().map_or(0.0, |m| m.epoch().0 as f64)
    }

    /// Our leaf, or -1 before joining.
    #[wasm_bindgen(js_name = ownLeaf)]
    pub fn own_leaf(&self) -> i32 {
        self.member_ref()
            .map_or(-1, |m| i32::try_from(m.own_leaf().0).unwrap_or(i32::MAX))
    }

    /// The group's leaves as JSON `[{"leaf":0,"identity":"<hex>","host":false}]`,
    /// in leaf order: who is in the call, whatever the relay says.
    pub fn roster(&self) -> String {
        #[derive(Serialize)]
        struct Row {
            leaf: u32,
            identity: String,
            host: bool,
        }
        let rows: Vec<Row> = self.member_ref().map_or_else(Vec::new, |m| {
            m.roster()
                .into_iter()
                .map(|r| Row {
                    leaf: r.leaf.0,
                    identity: hex(r.identity.as_bytes()),
                    host: m.policy().is_host(&r.identity),
                })
                .collect()
        });
        serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into())
    }

    /// The room policy as JSON `{"hostApproval":…, "amHost":…,
    /// "hostsOnlyRemove":…, "e2eeRequired":…, "audioPadding":…}`.
    pub fn policy(&self) -> String {
        match self.member_ref() {
            Some(m) => serde_json::json!({
                "hostApproval": m.policy().host_approval,
                "amHost": m.policy().is_host(&m.identity()),
                "hostsOnlyRemove": m.policy().hosts_only_remove,
                "e2eeRequired": m.policy().e2ee_required(),
                "audioPadding": m.policy().audio_padding,
            })
            .to_string(),
            None => "null".into(),
        }
    }

    /// The current safety code (`12345 67890 …`), or "" before joining.
    #[wasm_bindgen(js_name = safetyCode)]
    pub fn safety_code(&self) -> String {
        self.member_ref()
            .map_or_else(String::new, |m| m.safety_code().to_string())
    }

    /// This epoch's SFrame keys, serialized for the media worker
    /// ([`FrameEncryptor::set_epoch`], [`FrameDecryptor::add_epoch`]). Secret:
    /// hand it only to this tab's worker.
    #[wasm_bindgen(js_name = mediaEpoch)]
    pub fn media_epoch(&mut self) -> Result<Vec<u8>, Error> {
        let e = self.member()?.media_epoch().map_err(js_err)?;
        Ok(e.to_bytes().to_vec())
    }
}

// ------------------------------------------------------------------ media

fn codec(name: &str) -> Result<Codec, Error> {
    match name.to_ascii_lowercase().as_str() {
        "vp8" | "video/vp8" => Ok(Codec::Vp8),
        "opus" | "audio/opus" => Ok(Codec::Opus),
        "raw" => Ok(Codec::Raw),
        other => Err(Error(format!(
            "codec {other:?} is not supported end to end (VP8 and Opus are)"
        ))),
    }
}

/// Encrypts this device's outgoing frames of one stream: camera and
/// microphone (context 0, both kinds share one counter, so use one encryptor
/// for them) or a screen share ([`FrameEncryptor::with_context`], context 1:
/// its own key and counter).
#[wasm_bindgen]
pub struct FrameEncryptor {
    sender: Option<FrameSender>,
    context: MediaContext,
    /// The epoch bytes `sender` was made from: the same ones again must not
    /// restart its frame counter (a repeated nonce under one key).
    epoch_bytes: Vec<u8>,
}

impl Default for FrameEncryptor {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl FrameEncryptor {
    /// An encryptor without keys: it refuses to encrypt until
    /// [`FrameEncryptor::set_epoch`].
    #[wasm_bindgen(constructor)]
    pub fn new() -> FrameEncryptor {
        FrameEncryptor {
            sender: None,
            context: MediaContext::Camera,
            epoch_bytes: Vec::new(),
        }
    }

    /// An encryptor without keys for the stream `context` (0: camera and
    /// microphone, 1: screen share); throws for any other.
    #[wasm_bindgen(js_name = withContext)]
    pub fn with_context(context: u32) -> Result<FrameEncryptor, Error> {
        let context = MediaContext::from_id(u64::from(context)).ok_or_else(|| {
            Error(format!(
                "stream context {context} is not one Conclave sends (0: camera and microphone, 1: screen)"
            ))
        })?;
        Ok(FrameEncryptor {
            context,
            ..FrameEncryptor::new()
        })
    }

    /// The stream context this encryptor's frames carry in their KID.
    pub fn context(&self) -> u32 {
        self.context.id() as u32
    }

    /// Switches to the epoch in `epoch_bytes` (from [`Call::media_epoch`]).
    /// The same epoch again changes nothing: its frame counter goes on (a
    /// fresh sender would count from 0 under the same key, repeating SFrame
    /// nonces, and receivers would drop those frames as replays).
    #[wasm_bindgen(js_name = setEpoch)]
    pub fn set_epoch(&mut self, epoch_bytes: &[u8]) -> Result<(), Error> {
        if self.sender.is_some() && self.epoch_bytes == epoch_bytes {
            return Ok(());
        }
        let e = MediaEpoch::from_bytes(epoch_bytes).map_err(js_err)?;
        self.sender = Some(FrameSender::with_context(&e, self.context).map_err(js_err)?);
        self.epoch_bytes = epoch_bytes.to_vec();
        Ok(())
    }

    /// The epoch frames are encrypted under, or -1 without keys.
    pub fn epoch(&self) -> f64 {
        self.sender.as_ref().map_or(-1.0, |s| s.epoch() as f64)
    }

    /// Encrypts one encoded frame of `codec` (`vp8`, `opus`, or a MIME type
    /// like `video/VP8`). Throws without keys: there is no plaintext mode.
    pub fn encrypt(&mut self, codec_name: &str, frame: &[u8]) -> Result<Vec<u8>, Error> {
        let c = codec(codec_name)?;
        let sender = self
            .sender
            .as_mut()
            .ok_or_else(|| Error("no media keys yet; the frame is not sent".into()))?;
        sender.encrypt(c, frame).map_err(js_err)
    }

    /// How many leading bytes of `frame` stay in clear for `codec`.
    #[wasm_bindgen(js_name = clearPrefix)]
    pub fn clear_prefix(codec_name: &str, frame: &[u8]) -> Result<usize, Error> {
        codec(codec_name)?.clear_prefix_len(frame).map_err(js_err)
    }
}

/// Authenticates and decrypts received frames across epoch changes.
#[wasm_bindgen]
pub struct FrameDecryptor {
    receiver: FrameReceiver,
    last_sender: u32,
    last_context: MediaContext,
    last_epoch: u64,
}

impl Default for FrameDecryptor {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl FrameDecryptor {
    /// A decryptor without keys: every frame fails until
    /// [`FrameDecryptor::add_epoch`].
    #[wasm_bindgen(constructor)]
    pub fn new() -> FrameDecryptor {
        FrameDecryptor {
            receiver: FrameReceiver::new(),
            last_sender: 0,
            last_context: MediaContext::Camera,
            last_epoch: 0,
        }
    }

    /// Installs an epoch's keys (from [`Call::media_epoch`]); the previous
    /// epoch stays usable for 10 s.
    #[wasm_bindgen(js_name = addEpoch)]
    pub fn add_epoch(&mut self, epoch_bytes: &[u8], now_ms: f64) -> Result<(), Error> {
        let e = MediaEpoch::from_bytes(epoch_bytes).map_err(js_err)?;
        self.receiver.add_epoch(&e, now(now_ms));
        Ok(())
    }

    /// Drops all keys (e.g. after leaving).
    pub fn clear(&mut self) {
        self.receiver = FrameReceiver::new();
    }

    /// Epochs keys are held for, oldest first.
    pub fn epochs(&mut self, now_ms: f64) -> Vec<f64> {
        self.receiver.expire(now(now_ms));
        self.receiver
            .epochs()
            .into_iter()
            .map(|e| e as f64)
            .collect()
    }

    /// Decrypts one frame; throws (drop the frame) if it does not
    /// authenticate under a held epoch's key, is a replay, or names a sender
    /// that is not a member.
    pub fn decrypt(
        &mut self,
        codec_name: &str,
        data: &[u8],
        now_ms: f64,
    ) -> Result<Vec<u8>, Error> {
        let c = codec(codec_name)?;
        let d = self
            .receiver
            .decrypt(c, data, now(now_ms))
            .map_err(js_err)?;
        self.last_sender = d.sender;
        self.last_context = d.context;
        self.last_epoch = d.epoch;
        Ok(d.frame)
    }

    /// The leaf that sent the last decrypted frame.
    #[wasm_bindgen(js_name = lastSender)]
    pub fn last_sender(&self) -> u32 {
        self.last_sender
    }

    /// The stream of the last decrypted frame, from the key that opened it:
    /// 0 camera and microphone, 1 screen share.
    #[wasm_bindgen(js_name = lastContext)]
    pub fn last_context(&self) -> u32 {
        self.last_context.id() as u32
    }

    /// The epoch of the last decrypted frame.
    #[wasm_bindgen(js_name = lastEpoch)]
    pub fn last_epoch(&self) -> f64 {
        self.last_epoch as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_e2ee::delivery::DeliveryService;

    const NOW: f64 = 1_700_000_000_000.0;

    fn event(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap()
    }

    /// Runs `bytes` from `from` through a delivery service and hands every
    /// output to the right call; returns the events per call index.
    fn route(
        ds: &mut DeliveryService<usize>,
        calls: &mut [Call],
        from: usize,
        bytes: &[u8],
    ) -> Vec<(usize, serde_json::Value)> {
        let mut out = Vec::new();
        for o in ds.handle(&from, bytes).unwrap() {
            let to: Vec<usize> = match o.to {
                conclave_e2ee::delivery::Recipients::AllExcept(x) => {
                    (0..calls.len()).filter(|i| *i != x).collect()
                }
                conclave_e2ee::delivery::Recipients::Members(m) => m,
                conclave_e2ee::delivery::Recipients::One(x) => vec![x],
            };
            for i in to {
                out.push((i, event(&calls[i].handle(&o.bytes, NOW))));
            }
        }
        out
    }

    /// A room of `n` calls: call 0 created the group and admitted the others,
    /// in order, through the delivery service.
    fn call_of(n: usize) -> (RoomKey, DeliveryService<usize>, Vec<Call>) {
        let key = RoomKey::generate();
        let mut ds = DeliveryService::new();
        let mut calls: Vec<Call> = (0..n).map(|_| Call::new(&key)).collect();
        calls[0].create(false).unwrap();
        ds.add_member(0); // as the relay does for the room's first connection
        for joiner in 1..n {
            let req = calls[joiner].join_request(NOW).unwrap();
            let ev = route(&mut ds, &mut calls, joiner, &req);
            let ticket = ev.iter().find(|(i, _)| *i == 0).unwrap().1["ticket"]
                .as_str()
                .unwrap()
                .to_owned();
            let commit = calls[0].admit(vec![ticket]).unwrap();
            route(&mut ds, &mut calls, 0, &commit);
            assert!(calls[joiner].is_member());
        }
        (key, ds, calls)
    }

    #[test]
    fn application_padding_round_trips_any_text() {
        for text in [
            &b""[..],
            b"a",
            b"ends in zeros\0\0",
            &[0x80; 255],
            &[0x41; 256],
            &[0x41; 1000],
        ] {
            let p = pad_application(text);
            assert_eq!(p.len() % APPLICATION_PAD, 0);
            assert!(p.len() > text.len());
            assert_eq!(unpad_application(&p), Some(text));
        }
        assert_eq!(pad_application(&[1; 255]).len(), 256);
        assert_eq!(pad_application(&[1; 256]).len(), 512);
        assert_eq!(unpad_application(b"unpadded"), None);
        assert_eq!(unpad_application(&[0; 256]), None);
        assert_eq!(unpad_application(&[]), None);
    }

    #[test]
    fn profiles_with_names_of_different_length_look_alike() {
        let (_key, mut ds, mut calls) = call_of(2);

        let short = r#"{"profile":{"name":"Al"}}"#;
        let long = r#"{"profile":{"name":"Maximiliane Alexandra von Hohenzollern-Sigmaringen"}}"#;
        let a = calls[0].send(short).unwrap();
        let b = calls[0].send(long).unwrap();
        let c = calls[1].send(short).unwrap();
        assert_eq!(a.len(), b.len(), "envelope sizes must not follow names");
        assert_eq!(a.len(), c.len());
        for (from, msg, text) in [(0, &a, short), (0, &b, long), (1, &c, short)] {
            let ev = route(&mut ds, &mut calls, from, msg);
            let got = &ev.iter().find(|(i, _)| *i != from).unwrap().1;
            assert_eq!(got["kind"], "application", "{got}");
            assert_eq!(got["text"], text, "the padding comes off exactly");
        }
        // A member's message without our padding (an outdated client): shown
        // as refused, not as text with garbage.
        let raw = match &mut calls[1].state {
            State::Member(m) => m.send(b"no padding").unwrap(),
            _ => unreachable!("joined above"),
        };
        let ev = route(&mut ds, &mut calls, 1, &raw);
        assert_eq!(ev[0].1["kind"], "refused", "{:?}", ev);
    }

    #[test]
    fn link_round_trip_and_mismatch() {
        let k = RoomKey::generate();
        let link = k.link("https://relay.example").unwrap();
        let back = RoomKey::parse_link(&link).unwrap();
        assert_eq!(back.room_id(), k.room_id());
        assert!(k.matches_room(&k.room_id()));
        let other = RoomKey::generate();
        let forged = format!("https://relay.example/r/{}#{}", other.room_id(), k.secret());
        assert!(RoomKey::parse_link(&forged).is_err());
        assert!(!k.matches_room(&other.room_id()));
        assert!(!k.matches_room("not a room id"));
    }

    #[test]
    fn founder_token_opens_the_room_and_old_links_still_match() {
        // Room secret [7; 32]: the vectors in conclave-e2ee's link.rs.
        let k = RoomKey::from_secret("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc").unwrap();
        assert_eq!(
            k.founder_token(),
            "U5V2eH0IL_8ixeZHowy7eMXOwAC8CgR9AlziDXL-v2o"
        );
        assert_eq!(k.room_id(), "hS0C2R2zJoxkngYCbAKWXQ");
        assert!(conclave_e2ee::founder::verify_founder_token(
            &k.room_id(),
            &k.founder_token()
        ));
        // A link made before protocol 2 carries the first room id: it still
        // matches, and the page connects to the current one.
        assert!(k.matches_room("IGmHxkTbbTo_FX9WAN9NBQ"));
        assert!(k.matches_room("hS0C2R2zJoxkngYCbAKWXQ"));
        let old = RoomKey::parse_link(
            "https://relay.example/r/IGmHxkTbbTo_FX9WAN9NBQ#BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc",
        )
        .unwrap();
        assert_eq!(old.room_id(), "hS0C2R2zJoxkngYCbAKWXQ");
        // Links are written without a room id in the path.
        assert_eq!(
            old.link("https://relay.example").unwrap(),
            "https://relay.example/#BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc"
        );
    }

    /// A joiner's name reaches the members (host-approval prompt) sealed:
    /// the envelope the relay routes does not contain it.
    #[test]
    fn a_joiners_name_reaches_the_members_but_not_the_relay() {
        let key = RoomKey::generate();
        let mut ds = DeliveryService::new();
        let mut calls = vec![Call::new(&key), Call::new(&key)];
        calls[0].create(true).unwrap();
        ds.add_member(0);
        calls[1].set_name("Gecko Guestly");
        let req = calls[1].join_request(NOW).unwrap();
        assert!(
            !String::from_utf8_lossy(&req).contains("Gecko"),
            "the name is in clear"
        );
        let ev = route(&mut ds, &mut calls, 1, &req);
        let jr = &ev.iter().find(|(i, _)| *i == 0).unwrap().1;
        assert_eq!(jr["ok"], true, "{jr}");
        assert_eq!(jr["name"], "Gecko Guestly");
        assert_eq!(jr["identity"].as_str().unwrap().len(), 64);
    }

    /// Leaving through the page's API: the leaver's self-remove proposal
    /// reaches the others as `leave_requested`; one commits it; the leaver is
    /// out and the link still admits (a leave revokes nothing).
    #[test]
    fn a_leave_proposal_is_committed_by_another_member() {
        let (_key, mut ds, mut calls) = call_of(2);
        let bye = calls[1].leave().unwrap();
        let ev = route(&mut ds, &mut calls, 1, &bye);
        assert!(
            ev.iter()
                .any(|(i, e)| *i == 0 && e["kind"] == "leave_requested" && e["leaf"] == 1),
            "{ev:?}"
        );
        let commit = calls[0].commit_pending().unwrap();
        let ev = route(&mut ds, &mut calls, 0, &commit);
        assert!(
            ev.iter().any(|(i, e)| *i == 1 && e["kind"] == "removed"),
            "{ev:?}"
        );
        assert_eq!(calls[0].roster().matches("leaf").count(), 1);
        assert_eq!(calls[0].admission_secret(), None);
        assert_eq!(event(&calls[0].policy())["hostsOnlyRemove"], false);
    }

    /// Revocation through the page's API: 0 removes 2 and revokes the link;
    /// 0 and 1 then hold the same admission secret, a joiner with the old
    /// link is refused, one whose link carries `a=` is admitted.
    #[test]
    fn revoking_gives_every_member_the_new_link_and_refuses_the_old_one() {
        let (key, mut ds, mut calls) = call_of(3);
        assert_eq!(calls[0].admission_secret(), None);
        let leaf = calls[2].own_leaf() as u32;
        let commit = calls[0].revoke(vec![leaf]).unwrap();
        let ev = route(&mut ds, &mut calls, 0, &commit);
        assert!(
            ev.iter().any(|(i, e)| *i == 2 && e["kind"] == "removed"),
            "{ev:?}"
        );
        ds.peer_left(&2);
        let a = calls[0]
            .admission_secret()
            .expect("the remover holds the new secret");
        assert_eq!(calls[1].admission_secret().as_deref(), Some(a.as_str()));
        // Old link: refused by both members.
        calls.push(Call::new(&key));
        let req = calls[3].join_request(NOW).unwrap();
        let ev = route(&mut ds, &mut calls, 3, &req);
        for i in [0, 1] {
            let e = &ev.iter().find(|(j, _)| *j == i).unwrap().1;
            assert_eq!(e["ok"], false, "member {i} took the old link: {e}");
        }
        // The new link (as the page shows it) parses and admits.
        let shown = {
            let mut k = RoomKey::from_secret(&key.secret()).unwrap();
            k.set_admission(&a).unwrap();
            k.link("https://relay.example").unwrap()
        };
        assert!(shown.contains(&format!("&a={a}")), "{shown}");
        let parsed = RoomKey::parse_link(&shown).unwrap();
        assert_eq!(parsed.admission().as_deref(), Some(a.as_str()));
        calls.push(Call::new(&parsed));
        let req = calls[4].join_request(NOW).unwrap();
        let ev = route(&mut ds, &mut calls, 4, &req);
        let jr = &ev.iter().find(|(i, _)| *i == 0).unwrap().1;
        assert_eq!(jr["ok"], true, "{jr}");
        let commit = calls[0]
            .admit(vec![jr["ticket"].as_str().unwrap().to_owned()])
            .unwrap();
        route(&mut ds, &mut calls, 0, &commit);
        assert!(calls[4].is_member());
        assert_eq!(calls[4].safety_code(), calls[0].safety_code());
        assert_eq!(calls[4].admission_secret().as_deref(), Some(a.as_str()));
    }

    #[test]
    fn create_join_admit_profile_media_and_forged_commit_catch_up() {
        let key = RoomKey::generate();
        let mut ds = DeliveryService::new();
        let mut calls = vec![Call::new(&key), Call::new(&key), Call::new(&key)];
        calls[0].create(false).unwrap();
        ds.add_member(0); // as the relay does for the room's first connection

        // 1 joins: 0 checks and admits.
        let req = calls[1].join_request(NOW).unwrap();
        let ev = route(&mut ds, &mut calls, 1, &req);
        let (_, jr) = ev.iter().find(|(i, _)| *i == 0).unwrap();
        assert_eq!(jr["kind"], "join_request");
        assert_eq!(jr["ok"], true);
        let ticket = jr["ticket"].as_str().unwrap().to_owned();
        assert_eq!(calls[0].pending_joins(), vec![ticket.clone()]);
        let commit = calls[0].admit(vec![ticket]).unwrap();
        let ev = route(&mut ds, &mut calls, 0, &commit);
        assert!(ev.iter().any(|(i, e)| *i == 0
            && e["kind"] == "epoch"
            && e["admitted"].as_array().unwrap().len() == 1));
        assert!(ev.iter().any(|(i, e)| *i == 1 && e["kind"] == "welcomed"));
        assert!(calls[1].is_member());
        assert_eq!(calls[0].safety_code(), calls[1].safety_code());

        // A join request with a bad proof (another room's secret): refused.
        let mut stranger = Call::new(&RoomKey::generate());
        let bad = stranger.join_request(NOW).unwrap();
        let ev = route(&mut ds, &mut calls, 2, &bad);
        for i in [0, 1] {
            let e = &ev.iter().find(|(j, _)| *j == i).unwrap().1;
            assert_eq!(e["ok"], false, "{e}");
        }

        // Profiles travel as application messages.
        let msg = calls[1].send(r#"{"profile":{"name":"Bob"}}"#).unwrap();
        let ev = route(&mut ds, &mut calls, 1, &msg);
        let e = &ev.iter().find(|(i, _)| *i == 0).unwrap().1;
        assert_eq!(e["kind"], "application");
        assert_eq!(e["sender"], 1);
        assert!(e["text"].as_str().unwrap().contains("Bob"));

        // The room pads audio, whoever asks.
        for c in &calls[..2] {
            assert_eq!(event(&c.policy())["audioPadding"], true);
        }

        // Media keys via bytes: 0 encrypts, 1 decrypts; the stranger cannot.
        let mut tx = FrameEncryptor::new();
        assert!(tx.encrypt("vp8", &[0x31, 1, 2]).is_err());
        tx.set_epoch(&calls[0].media_epoch().unwrap()).unwrap();
        let mut rx = FrameDecryptor::new();
        rx.add_epoch(&calls[1].media_epoch().unwrap(), NOW).unwrap();
        let frame = [0x31u8, 9, 9, 9, 9, 9, 9];
        let wire = tx.encrypt("video/VP8", &frame).unwrap();
        assert_eq!(rx.decrypt("video/VP8", &wire, NOW).unwrap(), frame);
        assert_eq!(rx.last_sender(), 0);
        let mut none = FrameDecryptor::new();
        assert!(none.decrypt("vp8", &wire, NOW).is_err());
        // The same epoch's keys handed over again: the counter goes on, so
        // the next frame is new to the receiver (not a repeated nonce).
        tx.set_epoch(&calls[0].media_epoch().unwrap()).unwrap();
        let again = tx.encrypt("video/VP8", &frame).unwrap();
        assert_ne!(again, wire);
        assert_eq!(rx.decrypt("video/VP8", &again, NOW).unwrap(), frame);
        assert_eq!(rx.last_context(), 0);
        // A screen share: its own encryptor (context 1); the receiver says so.
        assert!(FrameEncryptor::with_context(2).is_err());
        let mut screen = FrameEncryptor::with_context(1).unwrap();
        assert_eq!(screen.context(), 1);
        screen.set_epoch(&calls[0].media_epoch().unwrap()).unwrap();
        let shared = screen.encrypt("video/VP8", &frame).unwrap();
        assert_eq!(rx.decrypt("video/VP8", &shared, NOW).unwrap(), frame);
        assert_eq!((rx.last_sender(), rx.last_context()), (0, 1));

        // A connection that is not a member sends a garbage commit for the
        // current epoch: an honest relay refuses it. A misbehaving relay
        // orders it anyway: members refuse it, and their next commit is still
        // ordered (catch-up) and agreed.
        let epoch = calls[0].epoch() as u64;
        let forged = Envelope::Commit {
            epoch: Epoch(epoch),
            commit: vec![0xAB; 40],
            welcome: None,
        }
        .encode();
        assert_eq!(
            ds.handle(&2, &forged),
            Err(conclave_e2ee::delivery::DeliveryError::NotAMember)
        );
        ds.add_member(2); // the misbehaving relay
        let ev = route(&mut ds, &mut calls, 2, &forged);
        for i in [0, 1] {
            let e = &ev.iter().find(|(j, _)| *j == i).unwrap().1;
            assert_eq!(e["kind"], "refused", "{e}");
        }
        let upd = calls[1].self_update().unwrap();
        let ev = route(&mut ds, &mut calls, 1, &upd);
        assert!(ev.iter().any(|(i, e)| *i == 1 && e["kind"] == "rejected"));
        let upd = calls[1].self_update().unwrap();
        let ev = route(&mut ds, &mut calls, 1, &upd);
        assert!(
            ev.iter().any(|(i, e)| *i == 1 && e["kind"] == "epoch"),
            "{ev:?}"
        );
        assert!(
            ev.iter().any(|(i, e)| *i == 0 && e["kind"] == "epoch"),
            "{ev:?}"
        );
        assert_eq!(calls[0].epoch(), (epoch + 1) as f64);
        assert_eq!(calls[0].safety_code(), calls[1].safety_code());

        // Remove: 0 removes 1; 1 sees Removed.
        let rm = calls[0].remove(vec![1]).unwrap();
        let ev = route(&mut ds, &mut calls, 0, &rm);
        assert!(
            ev.iter().any(|(i, e)| *i == 1 && e["kind"] == "removed"),
            "{ev:?}"
        );
        assert_eq!(event(&calls[0].roster()).as_array().unwrap().len(), 1);
    }
}
