//! # conclave-e2ee
//!
//! Conclave's end-to-end encryption core: everything that holds or uses a key
//! lives here, so that whoever runs the relay cannot watch a call, slip in a
//! ghost participant, or hand out the meeting password (docs/design.md §1). Every
//! client — the browser via wasm32, the native SDK, bots — uses this one
//! crate; the relay links only its key-less [`delivery`] and [`founder`]
//! modules (build with `default-features = false`).
//!
//! It is **sans-I/O**: no sockets, no threads, no clock. Bytes go in and out;
//! time is an argument in milliseconds since the Unix epoch.
//!
//! | module | what | docs/design.md §1 row |
//! |---|---|---|
//! | [`identity`] | Ed25519 device keys; credentials carry only the public key | hand out names |
//! | [`link`] | room secret S, `founder_token`, `room_id`, `admit_key`, links | hand out the meeting password |
//! | [`founder`] | the relay's check that a join was made from the link (key-less) | slip in a ghost (no founding a room from its id alone) |
//! | [`admission`] | join requests with HMAC proofs; stale/replay refusal | slip in a ghost |
//! | [`group`] | MLS (RFC 9420) group, ciphersuite 0x0003, PrivateMessages only | slip in a ghost, inject/downgrade |
//! | [`policy`] | room policy fixed in the group context | inject/downgrade |
//! | [`media`] | SFrame (RFC 9605) frames, suite 0x0004, keys from the MLS exporter, one key stream per member and context (camera, screen) | watch or listen, inject, read who is speaking |
//! | [`safety`] | 30-digit safety codes from the epoch authenticator | slip in a ghost |
//! | [`delivery`] | the relay's key-less commit ordering | end a meeting quietly (ordering stays visible) |
//!
//! What it will never do: keep anything on disk, print a secret in `Debug`,
//! render (return) a media frame that did not authenticate, or accept a
//! PublicMessage, an external commit or a policy change.
//!
//! Out of scope (docs/design.md §1): a malicious member, endpoint compromise,
//! global traffic analysis, and a relay that simply refuses service.
//!
//! # Example: create → admit → encrypt → decrypt
//!
//! ```
//! # #[cfg(feature = "group")] {
//! use conclave_e2ee::{
//!     delivery::DeliveryService, media::{Codec, FrameReceiver, FrameSender},
//!     Event, Identity, Joiner, Member, RoomLink, RoomPolicy, RoomSecret,
//! };
//! let now = 1_700_000_000_000u64; // ms; the caller's clock
//!
//! // Alice creates a room and shares the link (the relay only sees room_id,
//! // and the founder token each join shows, which must hash to it).
//! let secret = RoomSecret::generate();
//! let link = RoomLink::new("https://relay.example", secret.clone()).unwrap();
//! let mut alice = Member::create(Identity::generate(), &secret, RoomPolicy::default()).unwrap();
//! assert!(conclave_e2ee::founder::verify_founder_token(
//!     &link.room_id().to_string(),
//!     &link.founder_token().to_base64url(),
//! ));
//! let mut relay = DeliveryService::new();
//! relay.add_member("alice"); // the room's first connection holds the group
//!
//! // Bob opens the link and asks to join.
//! let link = RoomLink::parse(&link.to_url()).unwrap();
//! let mut bob = Joiner::new(Identity::generate(), link.secret());
//! let join = relay.handle(&"bob", &bob.join_envelope(now).unwrap()).unwrap();
//!
//! // Alice checks Bob's proof herself and commits a path-less Add.
//! let Event::JoinRequested(req) = alice.handle(&join[0].bytes).unwrap() else { panic!() };
//! let verified = alice.check_join_request(&req, now).unwrap();
//! let out = relay.handle(&"alice", &alice.admit(&[verified]).unwrap()).unwrap();
//! // out[0]: commit to everyone else, out[1]: Accepted to Alice, out[2]: Welcome to Bob.
//! alice.handle(&out[1].bytes).unwrap();
//! let bob = bob.accept_welcome(&out[2].bytes).unwrap();
//! assert_eq!(alice.safety_code(), bob.safety_code());
//!
//! // Media: Alice encrypts a VP8 delta frame, Bob decrypts it.
//! let mut tx = FrameSender::new(&alice.media_epoch().unwrap()).unwrap();
//! let mut rx = FrameReceiver::new();
//! rx.add_epoch(&bob.media_epoch().unwrap(), now);
//! let frame = [0x31, 1, 2, 3, 4, 5];
//! let wire = tx.encrypt(Codec::Vp8, &frame).unwrap();
//! assert_eq!(rx.decrypt(Codec::Vp8, &wire, now).unwrap().frame, frame);
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod delivery;
pub mod founder;

#[cfg(feature = "group")]
pub mod admission;
#[cfg(feature = "group")]
pub mod error;
#[cfg(feature = "group")]
pub mod group;
#[cfg(feature = "group")]
pub mod identity;
#[cfg(feature = "group")]
pub mod link;
#[cfg(feature = "group")]
pub mod media;
#[cfg(feature = "group")]
pub mod policy;
#[cfg(feature = "group")]
mod random;
#[cfg(feature = "group")]
pub mod replay;
#[cfg(feature = "group")]
pub mod safety;

#[cfg(feature = "group")]
pub use admission::{AdmissionGuard, JoinProof, JoinRequest};
#[cfg(feature = "group")]
pub use error::{AdmissionError, FrameError, GroupError, IdentityError, LinkError};
#[cfg(feature = "group")]
pub use group::{Event, Joiner, LeafIndex, Member, RosterEntry, VerifiedJoin, CIPHERSUITE};
#[cfg(feature = "group")]
pub use identity::{Identity, PublicIdentity};
#[cfg(feature = "group")]
pub use link::{AdmissionSecret, AdmitKey, RoomId, RoomLink, RoomSecret};
#[cfg(feature = "group")]
pub use media::{Codec, DecryptedFrame, FrameReceiver, FrameSender, MediaContext, MediaEpoch};
#[cfg(feature = "group")]
pub use policy::RoomPolicy;
#[cfg(feature = "group")]
pub use safety::SafetyCode;
