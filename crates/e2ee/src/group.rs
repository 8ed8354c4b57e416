//! The MLS group (RFC 9420) that holds a call's keys.
//!
//! - Ciphersuite 0x0003 `MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519`.
//! - Every handshake and application message is an MLS **PrivateMessage**
//!   (pure-ciphertext wire format), so the relay cannot read who adds or
//!   removes whom; incoming PublicMessages are refused, which also switches
//!   off external commits and external proposers (docs/design.md §4).
//! - Adds are **path-less** (`add_members_without_update`): commits that only
//!   add stay small.
//! - The room policy is fixed in the group context ([`crate::policy`]).
//! - Every commit that adds people carries the joiners' admission proofs in
//!   its authenticated data, and **every** member checks them before applying
//!   the commit; a member that receives an Add without a valid proof refuses
//!   the commit (docs/design.md §1, "slip in a ghost participant").
//! - The roster is the group's leaves ([`Member::roster`]), never a server
//!   list.
//!
//! Sans-I/O: methods return the bytes to send (a [`crate::delivery::Envelope`])
//! and [`Member::handle`] takes the bytes received. Commits are merged only
//! when the delivery service says the commit was ordered first
//! ([`Event::EpochChanged`] after `Accepted`).

use std::fmt;

use openmls::prelude::*;
use openmls_rust_crypto::OpenMlsRustCrypto;
use openmls_traits::storage::StorageProvider as _;
use openmls_traits::OpenMlsProvider;
use tls_codec::{Deserialize as _, Serialize as _};

use crate::admission::{AdmissionGuard, JoinProof, JoinRequest, PROOF_LEN};
use crate::delivery::{Envelope, Epoch, JoinTicket, WelcomeBundle};
use crate::error::{AdmissionError, GroupError};
use crate::identity::{Identity, PublicIdentity};
use crate::link::{AdmissionSecret, AdmitKey, RoomId, RoomSecret};
use crate::media::MediaEpoch;
use crate::policy::{group_binding, RoomPolicy, POLICY_EXTENSION_TYPE};
use crate::replay::SeenMessages;
use crate::safety::SafetyCode;

/// The MLS ciphersuite every Conclave group uses (0x0003).
pub const CIPHERSUITE: Ciphersuite =
    Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519;

/// How many past epochs' application secrets a member keeps, so MLS
/// application messages sent just before a commit still decrypt.
const MAX_PAST_EPOCHS: usize = 2;
const COMMIT_AAD_VERSION: u8 = 1;
/// Flag in a commit's AAD (after the join proofs): this removal revokes the
/// room's link, so members rotate the admission secret ([`Member::revoke`]).
const COMMIT_FLAG_REVOKE: u8 = 1;
/// MLS exporter label of the admission secret a revocation starts.
pub const ADMISSION_EXPORTER_LABEL: &str = "conclave admission secret";

/// A member's position in the MLS tree; stable while the member stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeafIndex(pub u32);

impl fmt::Display for LeafIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "leaf {}", self.0)
    }
}

/// One row of the roster: a leaf and the device key that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    /// The member's leaf.
    pub leaf: LeafIndex,
    /// The member's device key (its MLS signature key).
    pub identity: PublicIdentity,
}

/// A join request this member has checked itself: proof, freshness, nonce and
/// KeyPackage. Only [`Member::check_join_request`] makes one, so
/// [`Member::admit`] cannot be handed an unchecked joiner.
#[derive(Debug, Clone)]
pub struct VerifiedJoin {
    key_package: KeyPackage,
    proof: JoinProof,
    identity: PublicIdentity,
    name: Option<String>,
}

impl VerifiedJoin {
    /// The display name the joiner sealed into its request, if any (read
    /// with the room's admit key; the relay cannot).
    pub fn display_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The joiner's device key.
    pub fn identity(&self) -> PublicIdentity {
        self.identity
    }

    /// The joiner's ticket.
    pub fn ticket(&self) -> JoinTicket {
        JoinTicket(self.proof.nonce)
    }
}

/// What an incoming message meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Someone asks to join. Check it with [`Member::check_join_request`],
    /// then [`Member::admit`] (or ignore it).
    JoinRequested(JoinRequest),
    /// The group moved to a new epoch (our commit was accepted, or we applied
    /// another member's). Refresh media keys with [`Member::media_epoch`] and
    /// show the new roster and [`Member::safety_code`].
    EpochChanged {
        /// The new epoch.
        epoch: Epoch,
        /// Leaves added by the commit.
        added: Vec<LeafIndex>,
        /// Leaves removed by the commit.
        removed: Vec<LeafIndex>,
    },
    /// Our commit lost the race for its epoch; it was dropped. Apply the
    /// winner (it arrives as another message) and retry if still needed.
    CommitRejected {
        /// The group's epoch according to the delivery service.
        current: Epoch,
    },
    /// A member asked to leave; commit it with [`Member::commit_pending`].
    LeaveRequested {
        /// The leaving member.
        leaf: LeafIndex,
    },
    /// An application message (profile, chat) from a member.
    Application {
        /// The sender.
        sender: LeafIndex,
        /// The plaintext.
        data: Vec<u8>,
    },
    /// We were removed from the group (or our leave was committed). All keys
    /// of the group are gone; the call is over for this device.
    Removed,
    /// A message we already handled or sent ourselves, delivered again (a
    /// relay replaying or duplicating): nothing changed ([`crate::replay`]).
    Duplicate,
    /// Nothing for us (e.g. a Welcome for another joiner).
    Ignored,
}

fn mls<E: fmt::Display>(op: &'static str) -> impl FnOnce(E) -> GroupError {
    move |e| GroupError::Mls {
        op,
        reason: e.to_string(),
    }
}

fn capabilities() -> Capabilities {
    Capabilities::builder()
        .extensions(vec![ExtensionType::Unknown(POLICY_EXTENSION_TYPE)])
        .build()
}

fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .build()
}

fn credential_for(identity: &Identity) -> CredentialWithKey {
    let public = identity.public();
    CredentialWithKey {
        credential: BasicCredential::new(public.as_bytes().to_vec()).into(),
        signature_key: public.as_bytes().to_vec().into(),
    }
}

/// The device key a leaf node is signed with, if its credential names that
/// same key (a credential naming another key is an impersonation attempt).
fn leaf_identity(credential: &Credential, signature_key: &[u8]) -> Option<PublicIdentity> {
    let basic = BasicCredential::try_from(credential.clone()).ok()?;
    if basic.identity() != signature_key {
        return None;
    }
    PublicIdentity::from_bytes(signature_key).ok()
}

fn decode_mls(bytes: &[u8]) -> Result<MlsMessageIn, GroupError> {
    MlsMessageIn::tls_deserialize_exact(bytes).map_err(|e| GroupError::Malformed(e.to_string()))
}

fn encode_mls(msg: &MlsMessageOut) -> Result<Vec<u8>, GroupError> {
    msg.tls_serialize_detached()
        .map_err(|e| GroupError::Malformed(e.to_string()))
}

/// A device that holds a link and wants in: it makes a KeyPackage and a join
/// request, then turns the Welcome into a [`Member`].
pub struct Joiner {
    provider: OpenMlsRustCrypto,
    identity: Identity,
    room_id: RoomId,
    /// The key this joiner's proofs are made with: from S, or from the
    /// link's admission secret after a revocation.
    admit_key: AdmitKey,
    /// The key the group's creator bound the group to (always from S).
    binding_key: AdmitKey,
    admission: Option<AdmissionSecret>,
    /// The display name sealed into each join request, for a host to see.
    name: Option<String>,
}

impl fmt::Debug for Joiner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Joiner")
            .field("identity", &self.identity.public())
            .field("room_id", &self.room_id)
            .finish()
    }
}

impl Joiner {
    /// A joiner for the room of `secret` (from the link).
    pub fn new(identity: Identity, secret: &RoomSecret) -> Self {
        Self::with_admission(identity, secret, None)
    }

    /// A joiner whose link carries the room's current admission secret (a
    /// room that revoked its first link; [`AdmissionSecret`]): its proofs
    /// are made with that, not with S.
    pub fn with_admission(
        identity: Identity,
        secret: &RoomSecret,
        admission: Option<&AdmissionSecret>,
    ) -> Self {
        Joiner {
            provider: OpenMlsRustCrypto::default(),
            identity,
            room_id: secret.room_id(),
            admit_key: admission.map_or_else(|| secret.admit_key(), AdmissionSecret::admit_key),
            binding_key: secret.admit_key(),
            admission: admission.cloned(),
            name: None,
        }
    }

    /// Seals `name` into this joiner's join requests: members (a host
    /// deciding whether to admit) read it; the relay cannot.
    pub fn set_display_name(&mut self, name: &str) {
        self.name = Some(name.to_owned());
    }

    /// Makes a fresh KeyPackage (its private keys stay in this joiner) and a
    /// join request proving knowledge of the room secret at `now_ms`.
    pub fn join_request(&mut self, now_ms: u64) -> Result<JoinRequest, GroupError> {
        let bundle = KeyPackage::builder()
            .leaf_node_capabilities(capabilities())
            .build(
                CIPHERSUITE,
                &self.provider,
                &self.identity,
                credential_for(&self.identity),
            )
            .map_err(mls("KeyPackage creation"))?;
        let kp = bundle
            .key_package()
            .tls_serialize_detached()
            .map_err(|e| GroupError::Malformed(e.to_string()))?;
        let request = JoinRequest::create(&self.admit_key, &self.room_id, kp, now_ms);
        Ok(match &self.name {
            Some(name) => request.with_name(&self.admit_key, name),
            None => request,
        })
    }

    /// [`Joiner::join_request`] wrapped in the envelope the relay routes.
    pub fn join_envelope(&mut self, now_ms: u64) -> Result<Vec<u8>, GroupError> {
        let req = self.join_request(now_ms)?;
        Ok(Envelope::JoinRequest {
            ticket: req.ticket(),
            request: req.encode(),
        }
        .encode())
    }

    /// Joins from a Welcome (either a [`Envelope::Welcome`] or bare MLS
    /// bytes). Refuses Welcomes for groups that do not carry this room's
    /// group binding — e.g. one the relay made itself — and keeps the joiner
    /// usable so a real Welcome can still follow.
    pub fn accept_welcome(&mut self, bytes: &[u8]) -> Result<Member, GroupError> {
        let welcome_bytes = match Envelope::decode(bytes) {
            Ok(Envelope::Welcome { welcome, .. }) => welcome,
            _ => bytes.to_vec(),
        };
        let welcome = match decode_mls(&welcome_bytes)?.extract() {
            MlsMessageBodyIn::Welcome(w) => w,
            _ => return Err(GroupError::Malformed("not a Welcome".into())),
        };
        if welcome.ciphersuite() != CIPHERSUITE {
            return Err(GroupError::BadWelcome("wrong MLS ciphersuite"));
        }
        // openmls deletes the KeyPackage a Welcome names as soon as it finds
        // it, before anything in the Welcome is checked. The relay knows our
        // KeyPackage (it is in the join request), so a Welcome it made — or a
        // damaged copy of the real one — would use up our keys and strand us
        // (found by the welcome_accept fuzz target). Keep our bundles and put
        // them back if this Welcome is refused.
        let ours: Vec<(KeyPackageRef, KeyPackageBundle)> = welcome
            .secrets()
            .iter()
            .filter_map(|s| {
                let r = s.new_member();
                self.provider
                    .storage()
                    .key_package::<KeyPackageRef, KeyPackageBundle>(&r)
                    .ok()
                    .flatten()
                    .map(|b| (r, b))
            })
            .collect();
        let joined = self.join_from(welcome);
        if joined.is_err() {
            for (r, b) in &ours {
                self.provider
                    .storage()
                    .write_key_package(r, b)
                    .map_err(mls("KeyPackage restore"))?;
            }
        }
        joined
    }

    fn join_from(&mut self, welcome: Welcome) -> Result<Member, GroupError> {
        let staged = StagedWelcome::new_from_welcome(&self.provider, &join_config(), welcome, None)
            .map_err(mls("Welcome processing"))?;
        let ctx = staged.group_context();
        let ext = ctx
            .extensions()
            .unknown(POLICY_EXTENSION_TYPE)
            .ok_or(GroupError::BadWelcome(
                "the group has no Conclave room policy",
            ))?;
        let (policy, binding) = RoomPolicy::decode(&ext.0)?;
        let expected = group_binding(&self.binding_key, ctx.group_id().as_slice());
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&binding[..], &expected[..])) {
            return Err(GroupError::BadWelcome(
                "the group was not created by someone holding this room's link (no valid group binding); a relay may be forging it",
            ));
        }
        let group = staged
            .into_group(&self.provider)
            .map_err(mls("Welcome processing"))?;
        Ok(Member {
            provider: std::mem::take(&mut self.provider),
            identity: Identity::from_secret_bytes(&self.identity.to_secret_bytes()[..])
                .map_err(|_| GroupError::NotAMember)?,
            room_id: self.room_id,
            admit_key: self.admit_key.clone(),
            admission: self.admission.clone(),
            pending_revoke: false,
            policy,
            group,
            guard: AdmissionGuard::new(),
            active: true,
            seen: SeenMessages::default(),
        })
    }
}

/// A device's membership in one room's MLS group.
pub struct Member {
    provider: OpenMlsRustCrypto,
    identity: Identity,
    room_id: RoomId,
    /// The key join proofs must be made with now: from S until a member
    /// revokes the link, then from the newest admission secret.
    admit_key: AdmitKey,
    admission: Option<AdmissionSecret>,
    /// Our pending commit revokes the link (rotate when it is accepted).
    pending_revoke: bool,
    policy: RoomPolicy,
    group: MlsGroup,
    guard: AdmissionGuard,
    active: bool,
    /// The MLS messages we handled or sent, so a replay is known as one.
    seen: SeenMessages,
}

impl fmt::Debug for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Member")
            .field("identity", &self.identity.public())
            .field("room_id", &self.room_id)
            .field("epoch", &self.epoch())
            .field("leaf", &self.own_leaf())
            .finish()
    }
}

impl Member {
    /// Creates a new room's group, with `policy` fixed in its context. The
    /// creator is its only member, at epoch 0.
    pub fn create(
        identity: Identity,
        secret: &RoomSecret,
        policy: RoomPolicy,
    ) -> Result<Member, GroupError> {
        let provider = OpenMlsRustCrypto::default();
        let mut gid = [0u8; 16];
        crate::random::fill(&mut gid);
        let admit_key = secret.admit_key();
        let binding = group_binding(&admit_key, &gid);
        let extensions = Extensions::from_vec(vec![
            Extension::Unknown(
                POLICY_EXTENSION_TYPE,
                UnknownExtension(policy.encode(&binding)?),
            ),
            Extension::RequiredCapabilities(RequiredCapabilitiesExtension::new(
                &[ExtensionType::Unknown(POLICY_EXTENSION_TYPE)],
                &[],
                &[],
            )),
        ])
        .map_err(mls("group creation"))?;
        let group = MlsGroup::builder()
            .with_group_id(GroupId::from_slice(&gid))
            .ciphersuite(CIPHERSUITE)
            .with_wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
            .use_ratchet_tree_extension(true)
            .max_past_epochs(MAX_PAST_EPOCHS)
            .with_capabilities(capabilities())
            .with_group_context_extensions(extensions)
            .build(&provider, &identity, credential_for(&identity))
            .map_err(mls("group creation"))?;
        Ok(Member {
            provider,
            identity,
            room_id: secret.room_id(),
            admit_key,
            admission: None,
            pending_revoke: false,
            policy,
            group,
            guard: AdmissionGuard::new(),
            active: true,
            seen: SeenMessages::default(),
        })
    }

    /// The room's relay-visible id.
    pub fn room_id(&self) -> RoomId {
        self.room_id
    }

    /// The current MLS epoch.
    pub fn epoch(&self) -> Epoch {
        Epoch(self.group.epoch().as_u64())
    }

    /// Our own leaf.
    pub fn own_leaf(&self) -> LeafIndex {
        LeafIndex(self.group.own_leaf_index().u32())
    }

    /// Our device key.
    pub fn identity(&self) -> PublicIdentity {
        self.identity.public()
    }

    /// The room policy fixed at creation.
    pub fn policy(&self) -> &RoomPolicy {
        &self.policy
    }

    /// Whether we are still in the group.
    pub fn is_active(&self) -> bool {
        self.active && self.group.is_active()
    }

    /// Whether a commit of ours is waiting for the delivery service.
    pub fn has_pending_commit(&self) -> bool {
        self.group.pending_commit().is_some()
    }

    /// The roster: the group's leaves and their device keys, in leaf order.
    /// This, not anything the relay says, is who is in the call (docs/design.md §1,
    /// "slip in a ghost participant").
    pub fn roster(&self) -> Vec<RosterEntry> {
        self.group
            .members()
            .filter_map(|m| {
                Some(RosterEntry {
                    leaf: LeafIndex(m.index.u32()),
                    identity: PublicIdentity::from_bytes(&m.signature_key).ok()?,
                })
            })
            .collect()
    }

    fn identity_of(&self, leaf: LeafNodeIndex) -> Option<PublicIdentity> {
        let m = self.group.member_at(leaf)?;
        PublicIdentity::from_bytes(&m.signature_key).ok()
    }

    fn is_host_leaf(&self, leaf: LeafNodeIndex) -> bool {
        self.identity_of(leaf)
            .is_some_and(|id| self.policy.is_host(&id))
    }

    fn ensure_active(&self) -> Result<(), GroupError> {
        if self.is_active() {
            Ok(())
        } else {
            Err(GroupError::NotAMember)
        }
    }

    fn ensure_no_pending(&self) -> Result<(), GroupError> {
        if self.has_pending_commit() {
            Err(GroupError::CommitPending)
        } else {
            Ok(())
        }
    }

    /// Reads a join request without taking it on (members who may not
    /// admit, in host-approval rooms): whether its proof was made with the
    /// room's current admission key, and the display name it carries.
    pub fn read_join_request(
        &self,
        request: &JoinRequest,
    ) -> Result<Option<String>, AdmissionError> {
        if !request
            .proof
            .verify(&self.admit_key, &self.room_id, &request.key_package)
        {
            return Err(AdmissionError::BadProof);
        }
        Ok(request.display_name(&self.admit_key))
    }

    /// Checks a join request ourselves: the proof (made with this room's
    /// secret, for this room, over this KeyPackage), its freshness and nonce,
    /// the KeyPackage's signature and ciphersuite, and that its credential
    /// names its own signing key. Also enforces host approval.
    pub fn check_join_request(
        &mut self,
        request: &JoinRequest,
        now_ms: u64,
    ) -> Result<VerifiedJoin, AdmissionError> {
        if self.policy.host_approval && !self.policy.is_host(&self.identity.public()) {
            return Err(AdmissionError::NotAHost);
        }
        self.guard.check(
            &self.admit_key,
            &self.room_id,
            &request.proof,
            &request.key_package,
            now_ms,
        )?;
        let kp_in = KeyPackageIn::tls_deserialize_exact(&request.key_package[..])
            .map_err(|e| AdmissionError::BadKeyPackage(e.to_string()))?;
        let kp = kp_in
            .validate(self.provider.crypto(), ProtocolVersion::Mls10)
            .map_err(|e| AdmissionError::BadKeyPackage(e.to_string()))?;
        if kp.ciphersuite() != CIPHERSUITE {
            return Err(AdmissionError::BadKeyPackage("wrong ciphersuite".into()));
        }
        // The proof covers the exact bytes; members re-encode the KeyPackage
        // from the Add proposal, so the encoding must be canonical.
        let canonical = kp
            .tls_serialize_detached()
            .map_err(|e| AdmissionError::BadKeyPackage(e.to_string()))?;
        if canonical != request.key_package {
            return Err(AdmissionError::BadKeyPackage(
                "non-canonical encoding".into(),
            ));
        }
        let leaf = kp.leaf_node();
        let identity = leaf_identity(leaf.credential(), leaf.signature_key().as_slice())
            .ok_or_else(|| {
                AdmissionError::BadKeyPackage(
                    "credential does not name the KeyPackage's own signing key".into(),
                )
            })?;
        Ok(VerifiedJoin {
            key_package: kp,
            proof: request.proof,
            identity,
            name: request.display_name(&self.admit_key),
        })
    }

    fn commit_envelope(
        &mut self,
        epoch: Epoch,
        commit: &MlsMessageOut,
        welcome: Option<(&MlsMessageOut, Vec<JoinTicket>)>,
    ) -> Result<Vec<u8>, GroupError> {
        let welcome = match welcome {
            Some((w, tickets)) => Some(WelcomeBundle {
                tickets,
                welcome: encode_mls(w)?,
            }),
            None => None,
        };
        let commit = encode_mls(commit)?;
        self.seen.insert(&commit);
        Ok(Envelope::Commit {
            epoch,
            commit,
            welcome,
        }
        .encode())
    }

    /// Commits a path-less Add of the checked joiners. Returns the commit
    /// envelope (with the Welcome) to send to the delivery service; the
    /// commit is merged when `Accepted` comes back.
    pub fn admit(&mut self, joins: &[VerifiedJoin]) -> Result<Vec<u8>, GroupError> {
        self.ensure_active()?;
        self.ensure_no_pending()?;
        if joins.is_empty() || joins.len() > crate::delivery::MAX_TICKETS {
            return Err(GroupError::PolicyViolation(
                "admit takes 1 to 64 joiners per commit; admit larger crowds in batches",
            ));
        }
        if self.policy.host_approval && !self.policy.is_host(&self.identity.public()) {
            return Err(GroupError::Admission(AdmissionError::NotAHost));
        }
        let mut aad = vec![COMMIT_AAD_VERSION, joins.len() as u8];
        for j in joins {
            j.proof.encode_into(&mut aad);
        }
        let kps: Vec<KeyPackage> = joins.iter().map(|j| j.key_package.clone()).collect();
        let epoch = self.epoch();
        self.group.set_aad(aad);
        let result = self
            .group
            .add_members_without_update(&self.provider, &self.identity, &kps);
        self.group.set_aad(Vec::new());
        let (commit, welcome, _) = result.map_err(mls("add"))?;
        let tickets = joins.iter().map(|j| j.ticket()).collect();
        self.commit_envelope(epoch, &commit, Some((&welcome, tickets)))
    }

    /// Commits the removal of `leaves` (with a path, so the removed members'
    /// keys are gone from the new epoch).
    pub fn remove(&mut self, leaves: &[LeafIndex]) -> Result<Vec<u8>, GroupError> {
        self.ensure_active()?;
        self.ensure_no_pending()?;
        if self.policy.hosts_only_remove && !self.policy.is_host(&self.identity.public()) {
            return Err(GroupError::PolicyViolation(
                "this room lets only hosts remove others",
            ));
        }
        let idx: Vec<LeafNodeIndex> = leaves.iter().map(|l| LeafNodeIndex::new(l.0)).collect();
        let epoch = self.epoch();
        let (commit, _, _) = self
            .group
            .remove_members(&self.provider, &self.identity, &idx)
            .map_err(mls("remove"))?;
        self.commit_envelope(epoch, &commit, None)
    }

    /// Removes `leaves` from the call and revokes the room's link: once the
    /// commit is applied, every member derives a new admission secret from
    /// the new epoch ([`Member::admission_secret`]) and accepts join proofs
    /// made only with it, so the old link admits nobody — including the
    /// removed people, who cannot derive it. Share the new link
    /// ([`crate::RoomLink::with_admission`]) with those who may still join.
    pub fn revoke(&mut self, leaves: &[LeafIndex]) -> Result<Vec<u8>, GroupError> {
        self.ensure_active()?;
        self.ensure_no_pending()?;
        if leaves.is_empty() {
            return Err(GroupError::PolicyViolation(
                "revoking the link needs someone to remove",
            ));
        }
        if self.policy.hosts_only_remove && !self.policy.is_host(&self.identity.public()) {
            return Err(GroupError::PolicyViolation(
                "this room lets only hosts remove others",
            ));
        }
        let idx: Vec<LeafNodeIndex> = leaves.iter().map(|l| LeafNodeIndex::new(l.0)).collect();
        let epoch = self.epoch();
        self.group
            .set_aad(vec![COMMIT_AAD_VERSION, 0, COMMIT_FLAG_REVOKE]);
        let result = self
            .group
            .remove_members(&self.provider, &self.identity, &idx);
        self.group.set_aad(Vec::new());
        let (commit, _, _) = result.map_err(mls("remove"))?;
        self.pending_revoke = true;
        self.commit_envelope(epoch, &commit, None)
    }

    /// The admission secret join proofs must be made with, if a member
    /// revoked the room's first link ([`Member::revoke`]); `None` while the
    /// link's own secret still admits. Put it in new links (`a=`).
    pub fn admission_secret(&self) -> Option<&AdmissionSecret> {
        self.admission.as_ref()
    }

    /// After a revoking commit is merged: the new epoch's admission secret.
    fn rotate_admission(&mut self) -> Result<(), GroupError> {
        let bytes = zeroize::Zeroizing::new(
            self.group
                .export_secret(self.provider.crypto(), ADMISSION_EXPORTER_LABEL, b"", 32)
                .map_err(mls("export"))?,
        );
        let mut a = [0u8; 32];
        a.copy_from_slice(&bytes[..32]);
        let admission = AdmissionSecret::from_bytes(a);
        zeroize::Zeroize::zeroize(&mut a);
        self.admit_key = admission.admit_key();
        self.admission = Some(admission);
        Ok(())
    }

    /// Commits a self-update: fresh leaf keys, new epoch, new media keys.
    /// Do it periodically for post-compromise security (RFC 9420 §16.6).
    pub fn self_update(&mut self) -> Result<Vec<u8>, GroupError> {
        self.ensure_active()?;
        self.ensure_no_pending()?;
        let epoch = self.epoch();
        let bundle = self
            .group
            .self_update(
                &self.provider,
                &self.identity,
                LeafNodeParameters::default(),
            )
            .map_err(mls("self-update"))?;
        self.commit_envelope(epoch, bundle.commit(), None)
    }

    /// Commits the proposals in store (e.g. members' requests to leave).
    pub fn commit_pending(&mut self) -> Result<Vec<u8>, GroupError> {
        self.ensure_active()?;
        self.ensure_no_pending()?;
        let epoch = self.epoch();
        let (commit, _, _) = self
            .group
            .commit_to_pending_proposals(&self.provider, &self.identity)
            .map_err(mls("commit"))?;
        self.commit_envelope(epoch, &commit, None)
    }

    /// Asks to leave: a self-remove proposal that another member commits. The
    /// caller should stop sending media now; [`Event::Removed`] follows.
    pub fn leave(&mut self) -> Result<Vec<u8>, GroupError> {
        self.ensure_active()?;
        let epoch = self.epoch();
        let proposal = self
            .group
            .leave_group(&self.provider, &self.identity)
            .map_err(mls("leave"))?;
        let proposal = encode_mls(&proposal)?;
        self.seen.insert(&proposal);
        Ok(Envelope::Proposal { epoch, proposal }.encode())
    }

    /// Encrypts an application message (a profile with a display name, chat)
    /// for the group.
    pub fn send(&mut self, data: &[u8]) -> Result<Vec<u8>, GroupError> {
        self.ensure_active()?;
        let epoch = self.epoch();
        let msg = self
            .group
            .create_message(&self.provider, &self.identity, data)
            .map_err(mls("application message"))?;
        let message = encode_mls(&msg)?;
        self.seen.insert(&message);
        Ok(Envelope::Application { epoch, message }.encode())
    }

    /// Handles one envelope from the relay. Errors mean the message was
    /// refused and the group state is unchanged (except that an MLS message
    /// that decrypted may have advanced its sender's ratchet).
    pub fn handle(&mut self, bytes: &[u8]) -> Result<Event, GroupError> {
        match Envelope::decode(bytes)? {
            Envelope::JoinRequest { request, .. } => Ok(Event::JoinRequested(
                JoinRequest::decode(&request).map_err(GroupError::Admission)?,
            )),
            Envelope::Welcome { .. } => Ok(Event::Ignored),
            Envelope::Accepted { epoch } => {
                if epoch != self.epoch() || !self.has_pending_commit() {
                    return Ok(Event::Ignored);
                }
                let staged = self.group.pending_commit().map(|s| {
                    (
                        s.add_proposals().count(),
                        s.remove_proposals()
                            .map(|r| LeafIndex(r.remove_proposal().removed().u32()))
                            .collect::<Vec<_>>(),
                    )
                });
                let before: Vec<LeafIndex> = self.roster().iter().map(|r| r.leaf).collect();
                self.group
                    .merge_pending_commit(&self.provider)
                    .map_err(mls("merge"))?;
                if std::mem::take(&mut self.pending_revoke) {
                    self.rotate_admission()?;
                }
                let added = self
                    .roster()
                    .iter()
                    .map(|r| r.leaf)
                    .filter(|l| !before.contains(l))
                    .collect();
                Ok(Event::EpochChanged {
                    epoch: self.epoch(),
                    added,
                    removed: staged.map(|s| s.1).unwrap_or_default(),
                })
            }
            Envelope::Rejected { epoch, current } => {
                if self.has_pending_commit() {
                    // Only the answer to the commit we have out: a replayed
                    // or duplicated refusal must not drop a later one.
                    if epoch != self.epoch() {
                        return Ok(Event::Ignored);
                    }
                    self.group
                        .clear_pending_commit(self.provider.storage())
                        .map_err(mls("clear pending commit"))?;
                }
                self.pending_revoke = false;
                Ok(Event::CommitRejected { current })
            }
            Envelope::Commit { commit, .. } => self.handle_once(&commit, "commit"),
            Envelope::Proposal { proposal, .. } => self.handle_once(&proposal, "proposal"),
            Envelope::Application { message, .. } => self.handle_once(&message, "message"),
        }
    }

    /// [`Member::handle_mls`], once per message: bytes we handled or sent
    /// before are a replay ([`Event::Duplicate`]), whatever MLS would say.
    fn handle_once(&mut self, bytes: &[u8], what: &'static str) -> Result<Event, GroupError> {
        if self.seen.contains(bytes) {
            return Ok(Event::Duplicate);
        }
        let event = self.handle_mls(bytes, what)?;
        self.seen.insert(bytes);
        Ok(event)
    }

    /// The epoch an MLS message in this envelope (commit, proposal or
    /// application message) says it was made in, if it is a PrivateMessage
    /// that names our group. The relay can write any number there: use it
    /// only to decide whether to wait for a commit (a newer epoch), to drop
    /// the message quietly (an older one), or that a message of our own
    /// epoch failed to decrypt (a fork, or a forgery).
    pub fn message_epoch(&self, envelope: &[u8]) -> Option<Epoch> {
        let mls = match Envelope::decode(envelope).ok()? {
            Envelope::Commit { commit, .. } => commit,
            Envelope::Proposal { proposal, .. } => proposal,
            Envelope::Application { message, .. } => message,
            _ => return None,
        };
        let MlsMessageBodyIn::PrivateMessage(m) = decode_mls(&mls).ok()?.extract() else {
            return None;
        };
        let protocol = ProtocolMessage::from(m);
        (protocol.group_id() == self.group.group_id()).then(|| Epoch(protocol.epoch().as_u64()))
    }

    /// Whether this join request (its proof made with the room's current
    /// admission key) is from someone already in the group: a replay of the
    /// request that admitted them.
    pub fn is_admitted(&self, request: &JoinRequest) -> bool {
        if !request
            .proof
            .verify(&self.admit_key, &self.room_id, &request.key_package)
        {
            return false;
        }
        let Ok(kp) = KeyPackageIn::tls_deserialize_exact(&request.key_package[..]) else {
            return false;
        };
        let Ok(kp) = kp.validate(self.provider.crypto(), ProtocolVersion::Mls10) else {
            return false;
        };
        let leaf = kp.leaf_node();
        leaf_identity(leaf.credential(), leaf.signature_key().as_slice())
            .is_some_and(|id| self.roster().iter().any(|r| r.identity == id))
    }

    fn handle_mls(&mut self, bytes: &[u8], what: &'static str) -> Result<Event, GroupError> {
        self.ensure_active()?;
        let msg = decode_mls(bytes)?;
        let protocol = match msg.extract() {
            MlsMessageBodyIn::PrivateMessage(m) => ProtocolMessage::from(m),
            // Pure-ciphertext groups: a PublicMessage (e.g. an external
            // commit) can only come from outside.
            MlsMessageBodyIn::PublicMessage(_) => return Err(GroupError::NotFromMember(what)),
            _ => {
                return Err(GroupError::Malformed(format!(
                    "{what} is not an MLS PrivateMessage"
                )))
            }
        };
        if protocol.group_id() != self.group.group_id() {
            return Err(GroupError::NotFromMember(what));
        }
        let got = Epoch(protocol.epoch().as_u64());
        // Handshake messages only for our epoch; application messages also
        // from the past epochs MLS keeps, never from a future one.
        if (protocol.is_handshake_message() && got != self.epoch()) || got > self.epoch() {
            return Err(GroupError::WrongEpoch {
                got,
                current: self.epoch(),
            });
        }
        let processed = self
            .group
            .process_message(&self.provider, protocol)
            .map_err(|e| match e {
                // A generation of a sender's ratchet that was used before: a
                // replay of a message whose digest we no longer hold.
                ProcessMessageError::ValidationError(ValidationError::UnableToDecrypt(
                    openmls::framing::errors::MessageDecryptionError::SecretTreeError(
                        openmls::framing::errors::SecretTreeError::SecretReuseError,
                    ),
                )) => GroupError::Replayed,
                // A message that does not decrypt under this epoch's keys was
                // not made by a member of this epoch.
                ProcessMessageError::ValidationError(_) => GroupError::NotFromMember(what),
                e => GroupError::Mls {
                    op: "processing",
                    reason: e.to_string(),
                },
            })?;
        let sender = match processed.sender() {
            Sender::Member(l) => *l,
            _ => return Err(GroupError::NotFromMember(what)),
        };
        let aad = processed.aad().to_vec();
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(m) => Ok(Event::Application {
                sender: LeafIndex(sender.u32()),
                data: m.into_bytes(),
            }),
            ProcessedMessageContent::ProposalMessage(q) => {
                let leaving = match q.proposal() {
                    Proposal::Remove(r) if r.removed() == sender => r.removed(),
                    _ => {
                        return Err(GroupError::PolicyViolation(
                            "only self-remove (leave) proposals are accepted",
                        ))
                    }
                };
                self.group
                    .store_pending_proposal(self.provider.storage(), *q)
                    .map_err(mls("store proposal"))?;
                Ok(Event::LeaveRequested {
                    leaf: LeafIndex(leaving.u32()),
                })
            }
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                self.validate_commit(&staged, sender, &aad)?;
                let removed = staged
                    .remove_proposals()
                    .map(|r| LeafIndex(r.remove_proposal().removed().u32()))
                    .collect();
                let self_removed = staged.self_removed();
                let revokes = commit_revokes(&aad) && staged.remove_proposals().next().is_some();
                let before: Vec<LeafIndex> = self.roster().iter().map(|r| r.leaf).collect();
                self.group
                    .merge_staged_commit(&self.provider, *staged)
                    .map_err(mls("merge"))?;
                if self_removed {
                    self.active = false;
                    return Ok(Event::Removed);
                }
                if revokes {
                    self.rotate_admission()?;
                }
                let added = self
                    .roster()
                    .iter()
                    .map(|r| r.leaf)
                    .filter(|l| !before.contains(l))
                    .collect();
                Ok(Event::EpochChanged {
                    epoch: self.epoch(),
                    added,
                    removed,
                })
            }
            _ => Err(GroupError::NotFromMember(what)),
        }
    }

    /// The checks every member makes on someone else's commit before applying
    /// it (docs/design.md §4, "Rules that keep the relay honest").
    fn validate_commit(
        &self,
        staged: &StagedCommit,
        committer: LeafNodeIndex,
        aad: &[u8],
    ) -> Result<(), GroupError> {
        let mut adds = Vec::new();
        for q in staged.queued_proposals() {
            let proposer = match q.sender() {
                Sender::Member(l) => *l,
                _ => return Err(GroupError::NotFromMember("proposal")),
            };
            match q.proposal() {
                Proposal::Add(a) => adds.push(a.key_package().clone()),
                Proposal::Remove(r) => {
                    let self_remove = r.removed() == proposer;
                    if self.policy.hosts_only_remove && !self_remove && !self.is_host_leaf(proposer)
                    {
                        return Err(GroupError::PolicyViolation(
                            "a non-host removed someone in a room where only hosts may",
                        ));
                    }
                }
                Proposal::Update(_) => {}
                _ => {
                    return Err(GroupError::PolicyViolation(
                        "it changes the room policy or uses a proposal Conclave does not allow",
                    ))
                }
            }
        }
        if adds.is_empty() {
            return Ok(());
        }
        if self.policy.host_approval && !self.is_host_leaf(committer) {
            return Err(GroupError::PolicyViolation(
                "a non-host admitted someone in a room with host approval",
            ));
        }
        let proofs = parse_commit_aad(aad).ok_or_else(|| {
            GroupError::AddWithoutProof("the commit carries no join proofs".into())
        })?;
        let mut used = vec![false; proofs.len()];
        for kp in adds {
            let leaf = kp.leaf_node();
            if leaf_identity(leaf.credential(), leaf.signature_key().as_slice()).is_none() {
                return Err(GroupError::AddWithoutProof(
                    "the joiner's credential does not name its own key".into(),
                ));
            }
            let bytes = kp
                .tls_serialize_detached()
                .map_err(|e| GroupError::Malformed(e.to_string()))?;
            let found = proofs
                .iter()
                .enumerate()
                .find(|(i, p)| !used[*i] && p.verify(&self.admit_key, &self.room_id, &bytes));
            match found {
                Some((i, _)) => used[i] = true,
                None => {
                    return Err(GroupError::AddWithoutProof(
                        "no proof made with this room's secret matches the added KeyPackage".into(),
                    ))
                }
            }
        }
        Ok(())
    }

    /// The SFrame key material of the current epoch (RFC 9605 §5.2).
    pub fn media_epoch(&self) -> Result<MediaEpoch, GroupError> {
        self.ensure_active()?;
        let base = zeroize::Zeroizing::new(
            self.group
                .export_secret(
                    self.provider.crypto(),
                    crate::media::SFRAME_EXPORTER_LABEL,
                    b"",
                    crate::media::BASE_KEY_LEN,
                )
                .map_err(mls("export"))?,
        );
        let members: Vec<u32> = self.group.members().map(|m| m.index.u32()).collect();
        Ok(MediaEpoch::new(
            self.epoch().0,
            base,
            members,
            self.own_leaf().0,
            self.policy.audio_padding,
        ))
    }

    /// The safety code of the current epoch, for people to compare aloud.
    pub fn safety_code(&self) -> SafetyCode {
        SafetyCode::from_epoch_authenticator(self.group.epoch_authenticator().as_slice())
    }
}

/// A commit's AAD: `version | n | n join proofs | [flags]`. The flags byte
/// is optional (commits that only add people leave it out).
fn parse_commit_aad(aad: &[u8]) -> Option<Vec<JoinProof>> {
    let (&version, rest) = aad.split_first()?;
    if version != COMMIT_AAD_VERSION {
        return None;
    }
    let (&n, rest) = rest.split_first()?;
    let proofs = n as usize * PROOF_LEN;
    if rest.len() != proofs && rest.len() != proofs + 1 {
        return None;
    }
    rest[..proofs]
        .chunks_exact(PROOF_LEN)
        .map(JoinProof::decode)
        .collect()
}

/// Whether a commit's AAD says it revokes the room's link.
fn commit_revokes(aad: &[u8]) -> bool {
    match aad {
        [COMMIT_AAD_VERSION, n, rest @ ..] => {
            rest.len() == *n as usize * PROOF_LEN + 1
                && rest[rest.len() - 1] & COMMIT_FLAG_REVOKE != 0
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn two_members() -> (RoomSecret, Member, Member) {
        let secret = RoomSecret::generate();
        let mut alice =
            Member::create(Identity::generate(), &secret, RoomPolicy::default()).unwrap();
        let mut joiner = Joiner::new(Identity::generate(), &secret);
        let req = joiner.join_request(NOW).unwrap();
        let v = alice.check_join_request(&req, NOW).unwrap();
        let commit = alice.admit(&[v]).unwrap();
        let Ok(Envelope::Commit {
            welcome: Some(w),
            epoch,
            ..
        }) = Envelope::decode(&commit)
        else {
            panic!("commit with welcome")
        };
        alice
            .handle(&Envelope::Accepted { epoch }.encode())
            .unwrap();
        let bob = joiner.accept_welcome(&w.welcome).unwrap();
        (secret, alice, bob)
    }

    /// A member whose client skips the proof check (buggy, or driven by the
    /// relay) adds a ghost: every other member refuses the commit.
    #[test]
    fn add_without_proof_from_a_member_is_refused_by_the_others() {
        let (_, mut alice, mut bob) = two_members();
        let mut ghost = Joiner::new(Identity::generate(), &RoomSecret::generate());
        let ghost_req = ghost.join_request(NOW).unwrap();
        let kp = KeyPackageIn::tls_deserialize_exact(&ghost_req.key_package[..])
            .unwrap()
            .validate(bob.provider.crypto(), ProtocolVersion::Mls10)
            .unwrap();
        let epoch = bob.epoch();
        // No proof at all.
        let (commit, _, _) = bob
            .group
            .add_members_without_update(&bob.provider, &bob.identity, std::slice::from_ref(&kp))
            .unwrap();
        let env = Envelope::Commit {
            epoch,
            commit: encode_mls(&commit).unwrap(),
            welcome: None,
        }
        .encode();
        let code = alice.safety_code();
        assert!(matches!(
            alice.handle(&env),
            Err(GroupError::AddWithoutProof(_))
        ));
        assert_eq!(alice.epoch(), epoch);
        assert_eq!(alice.safety_code(), code);

        // A proof made without this room's secret (the ghost's own room).
        bob.group
            .clear_pending_commit(bob.provider.storage())
            .unwrap();
        let mut aad = vec![COMMIT_AAD_VERSION, 1];
        ghost_req.proof.encode_into(&mut aad);
        bob.group.set_aad(aad);
        let (commit, _, _) = bob
            .group
            .add_members_without_update(&bob.provider, &bob.identity, &[kp])
            .unwrap();
        let env = Envelope::Commit {
            epoch,
            commit: encode_mls(&commit).unwrap(),
            welcome: None,
        }
        .encode();
        assert!(matches!(
            alice.handle(&env),
            Err(GroupError::AddWithoutProof(_))
        ));
        assert_eq!(alice.epoch(), epoch);
    }

    #[test]
    fn policy_changes_are_refused() {
        let (_, mut alice, mut bob) = two_members();
        let epoch = bob.epoch();
        let weaker = RoomPolicy::default().encode(&[0; 32]).unwrap();
        let extensions = Extensions::from_vec(vec![
            Extension::Unknown(POLICY_EXTENSION_TYPE, UnknownExtension(weaker)),
            Extension::RequiredCapabilities(RequiredCapabilitiesExtension::new(
                &[ExtensionType::Unknown(POLICY_EXTENSION_TYPE)],
                &[],
                &[],
            )),
        ])
        .unwrap();
        let bundle = bob
            .group
            .commit_builder()
            .propose_group_context_extensions(extensions)
            .unwrap()
            .load_psks(bob.provider.storage())
            .unwrap()
            .build(
                bob.provider.rand(),
                bob.provider.crypto(),
                &bob.identity,
                |_| true,
            )
            .unwrap()
            .stage_commit(&bob.provider)
            .unwrap();
        let env = Envelope::Commit {
            epoch,
            commit: encode_mls(bundle.commit()).unwrap(),
            welcome: None,
        }
        .encode();
        assert!(matches!(
            alice.handle(&env),
            Err(GroupError::PolicyViolation(_))
        ));
        assert_eq!(alice.epoch(), epoch);
    }
}
