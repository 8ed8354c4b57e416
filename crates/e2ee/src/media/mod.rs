//! Media frames: SFrame (RFC 9605) with keys from the MLS group.
//!
//! - Suite 0x0004 `AES_128_GCM_SHA256_128`, through the `sframe` crate (ring
//!   natively, RustCrypto on wasm32).
//! - Keys per RFC 9605 §5.2: `base_key = MLS-Exporter("SFrame 1.0 Base Key",
//!   "", AEAD.Nk)` per epoch, and each sender's KID is
//!   `(context << (S+E)) | (leaf << E) | (epoch mod 2^E)` with `E = 8`, `S` the
//!   bits needed for the group's leaves, and the [`MediaContext`] of the
//!   stream (0: camera and microphone, 1: screen share). The frame key and
//!   nonce salt come from `base_key` and the whole KID (RFC 9605 §4.4.2), so
//!   each (leaf, context) has its own key, frame counter and replay window: a
//!   relay that moves a screen frame into the camera stream, or the other way,
//!   makes it fail authentication. Only members of the epoch can derive its
//!   keys: a removed member cannot decrypt frames sent after the remove, and a
//!   joiner cannot decrypt frames sent before it joined (docs/design.md §1,
//!   "watch or listen to a call").
//! - A codec-aware **clear prefix** stays readable for the relay and the
//!   browser's packetizer (VP8: 10 bytes on key frames, 1 on delta frames;
//!   Opus and raw: none). It is authenticated as SFrame AAD together with its
//!   length and the codec, so flipping a prefix bit, or making the receiver
//!   read a different prefix length, fails authentication.
//! - Receivers drop anything that does not authenticate, replays (a 1024-counter
//!   window per sender and context), and frames from unknown epochs, senders
//!   or contexts, each with its own [`FrameError`] (docs/design.md §1, "inject
//!   media or downgrade encryption"). There is no plaintext pass-through.
//! - Epoch switches lose no frames: receivers keep the previous epoch's keys
//!   for at most [`PREVIOUS_EPOCH_GRACE_MS`]; senders switch when told.
//! - Audio padding to one fixed size ([`AUDIO_PADDED_SIZE`]; rooms the
//!   browser creates always pad) hides frame sizes that follow speech
//!   (docs/design.md §1, "read who is speaking"): every Opus frame the relay
//!   forwards is as long as every other, in speech and in silence.
//!
//! The state lives as long as its owner: [`MediaEpoch`] (epoch.rs) is one
//! epoch's key material and KID layout; a [`FrameSender`] (sender.rs) one
//! stream's key and counter until the next epoch; a [`FrameReceiver`]
//! (receiver.rs) every member's keys across epoch changes, with a replay
//! window (window.rs) per KID.
//!
//! Wire format of an encrypted frame: `clear prefix ‖ SFrame header ‖
//! ciphertext ‖ tag`. The plaintext under AES-GCM is the frame after the
//! prefix, padded if the room pads audio.

use sframe::CipherSuite;

use crate::error::FrameError;

mod epoch;
mod receiver;
mod sender;
#[cfg(test)]
mod tests;
mod window;

pub use epoch::MediaEpoch;
pub use receiver::FrameReceiver;
pub use sender::FrameSender;

/// The SFrame suite Conclave uses: 0x0004 AES_128_GCM_SHA256_128.
pub const SFRAME_SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;
/// The MLS exporter label of RFC 9605 §5.2.
pub const SFRAME_EXPORTER_LABEL: &str = "SFrame 1.0 Base Key";
/// `AEAD.Nk` of suite 0x0004: the base key length.
pub const BASE_KEY_LEN: usize = 16;
/// `E`: low-order epoch bits in each KID.
pub const EPOCH_BITS: u32 = 8;
/// How long receivers keep the previous epoch's keys after a new epoch.
pub const PREVIOUS_EPOCH_GRACE_MS: u64 = 10_000;
/// Frame counters per sender and context the replay window covers. A
/// sender's audio and camera video share one counter (about 80 frames a
/// second), so this is about 12 s: a video frame that arrives late under
/// load (a repair, a stalled decoder) is still told from a replay. With 128
/// it was 1.6 s, and honest late frames were refused as too old, which
/// looked like replays.
pub const REPLAY_WINDOW: u64 = 1024;
/// The one size, in bytes, of a padded audio plaintext (the Opus frame, the
/// `0x80` end marker and zeros). A frame that does not fit becomes a multiple
/// of it.
///
/// Chosen from measurement (docs/operator-view.md, "packet sizes and
/// timing"): the page runs Chromium's Opus in constant bitrate at 32 kbit/s
/// (`cbr=1`, the audio sender capped with `maxBitrate`, crates/web/assets/
/// sdp.js), which makes every 20 ms frame exactly 80 bytes; 80 + 1 marker
/// byte fits with room to spare. Chromium's default VBR at the same bitrate
/// (a browser that ignores `cbr=1`) makes frames of 3–130 bytes: the 1.8 %
/// over 95 bytes would become 192, a leak we document rather than pay for
/// 132-byte frames always.
pub const AUDIO_PADDED_SIZE: usize = 96;
/// VP8 clear prefix on key frames (3-byte frame tag + 7-byte start code and
/// dimensions, RFC 6386 §9.1).
pub const VP8_KEY_FRAME_PREFIX: usize = 10;
/// VP8 clear prefix on delta frames (the first frame-tag byte).
pub const VP8_DELTA_FRAME_PREFIX: usize = 1;
/// Most members a serialized [`MediaEpoch`] may list.
pub const MAX_MEDIA_EPOCH_MEMBERS: usize = 1 << 16;

/// The codec of a frame: decides how much of it stays in clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// VP8 video: 10 clear bytes on key frames, 1 on delta frames (the
    /// inverse key-frame bit is bit 0 of the first byte).
    Vp8,
    /// Opus audio: no clear bytes (the TOC byte would reveal speech/DTX
    /// changes); padded to [`AUDIO_PADDED_SIZE`] if the room policy says so
    /// (it does in every room the browser creates).
    Opus,
    /// Anything else: no clear bytes.
    Raw,
}

impl Codec {
    fn id(self) -> u8 {
        match self {
            Codec::Vp8 => 1,
            Codec::Opus => 2,
            Codec::Raw => 3,
        }
    }

    /// How many leading bytes of `frame` stay in clear.
    pub fn clear_prefix_len(self, frame: &[u8]) -> Result<usize, FrameError> {
        match self {
            Codec::Vp8 => {
                let first = frame
                    .first()
                    .ok_or(FrameError::Malformed("empty VP8 frame"))?;
                let n = if first & 1 == 0 {
                    VP8_KEY_FRAME_PREFIX
                } else {
                    VP8_DELTA_FRAME_PREFIX
                };
                if frame.len() < n {
                    return Err(FrameError::Malformed("VP8 frame shorter than its header"));
                }
                Ok(n)
            }
            Codec::Opus | Codec::Raw => Ok(0),
        }
    }

    fn pads(self) -> bool {
        self == Codec::Opus
    }
}

/// Which of a member's streams a frame belongs to: the context field of its
/// SFrame KID (RFC 9605 §5.2, where the sender chooses it). Each context of
/// a leaf has its own key (the KID is in the key derivation, RFC 9605
/// §4.4.2), its own frame counter and its own replay window, so one
/// stream's frames never pass as another's: a screen frame the relay
/// re-labels as camera (or back) fails authentication. Receivers know whose
/// stream a frame is from the key that opened it, never from the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MediaContext {
    /// Camera and microphone: context 0 (the shortest KIDs).
    #[default]
    Camera,
    /// A screen share: context 1, a second video stream of the same member.
    Screen,
}

impl MediaContext {
    /// The context's value in the KID.
    pub fn id(self) -> u64 {
        match self {
            MediaContext::Camera => 0,
            MediaContext::Screen => 1,
        }
    }

    /// The context a KID's context field names; `None` for one no Conclave
    /// sender uses.
    pub fn from_id(id: u64) -> Option<Self> {
        match id {
            0 => Some(MediaContext::Camera),
            1 => Some(MediaContext::Screen),
            _ => None,
        }
    }
}

/// A received, authenticated frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptedFrame {
    /// The sender's leaf.
    pub sender: u32,
    /// The sender's stream it belongs to (camera and microphone, or screen):
    /// the context whose key opened it.
    pub context: MediaContext,
    /// The MLS epoch it was encrypted in.
    pub epoch: u64,
    /// The original encoded frame (clear prefix and decrypted rest).
    pub frame: Vec<u8>,
}

fn sframe_err(e: sframe::error::SframeError) -> FrameError {
    FrameError::Sframe(e.to_string())
}

fn aad_meta(prefix: &[u8], codec: Codec) -> Vec<u8> {
    let mut meta = Vec::with_capacity(prefix.len() + 2);
    meta.extend_from_slice(prefix);
    // The prefix length and codec are bound too: a receiver tricked into a
    // different split of the same bytes computes a different AAD.
    meta.push(prefix.len() as u8);
    meta.push(codec.id());
    meta
}

/// `payload ‖ 0x80 ‖ 0x00…` to the smallest multiple of
/// [`AUDIO_PADDED_SIZE`] that holds it and the marker (ISO/IEC 7816-4
/// padding: unambiguous, since the marker is the last non-zero byte).
fn pad(payload: &[u8]) -> Vec<u8> {
    let size = (payload.len() + 1).div_ceil(AUDIO_PADDED_SIZE) * AUDIO_PADDED_SIZE;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(payload);
    out.push(0x80);
    out.resize(size, 0);
    out
}

fn unpad(padded: &[u8]) -> Result<&[u8], FrameError> {
    let end = padded
        .iter()
        .rposition(|b| *b != 0)
        .ok_or(FrameError::Malformed("padding without end marker"))?;
    if padded[end] != 0x80 {
        return Err(FrameError::Malformed("padding without end marker"));
    }
    Ok(&padded[..end])
}
