//! Media frames: SFrame (RFC 9605) with keys from the MLS group.
//!
//! - Suite 0x0004 `AES_128_GCM_SHA256_128`, through the `sframe` crate (ring
//!   natively, RustCrypto on wasm32).
//! - Keys per RFC 9605 §5.2: `base_key = MLS-Exporter("SFrame 1.0 Base Key",
//!   "", AEAD.Nk)` per epoch, and each sender's KID is
//!   `(context << (S+E)) | (leaf << E) | (epoch mod 2^E)` with `E = 8`, `S` the
//!   bits needed for the group's leaves, and context 0. Only members of the
//!   epoch can derive its keys: a removed member cannot decrypt frames sent
//!   after the remove, and a joiner cannot decrypt frames sent before it
//!   joined (docs/design.md §1, "watch or listen to a call").
//! - A codec-aware **clear prefix** stays readable for the relay and the
//!   browser's packetizer (VP8: 10 bytes on key frames, 1 on delta frames;
//!   Opus and raw: none). It is authenticated as SFrame AAD together with its
//!   length and the codec, so flipping a prefix bit, or making the receiver
//!   read a different prefix length, fails authentication.
//! - Receivers drop anything that does not authenticate, replays (a 1024-counter
//!   window per sender), and frames from unknown epochs or senders, each with
//!   its own [`FrameError`] (docs/design.md §1, "inject media or downgrade
//!   encryption"). There is no plaintext pass-through.
//! - Epoch switches lose no frames: receivers keep the previous epoch's keys
//!   for at most [`PREVIOUS_EPOCH_GRACE_MS`]; senders switch when told.
//! - Audio padding to one fixed size ([`AUDIO_PADDED_SIZE`]; rooms the
//!   browser creates always pad) hides frame sizes that follow speech
//!   (docs/design.md §1, "read who is speaking"): every Opus frame the relay
//!   forwards is as long as every other, in speech and in silence.
//!
//! Wire format of an encrypted frame: `clear prefix ‖ SFrame header ‖
//! ciphertext ‖ tag`. The plaintext under AES-GCM is the frame after the
//! prefix, padded if the room pads audio.

use std::collections::HashMap;
use std::fmt;

use sframe::frame::{EncryptedFrameView, MediaFrameView, SingleUseCounter};
use sframe::header::SframeHeader;
use sframe::key::{DecryptionKey, EncryptionKey};
use sframe::CipherSuite;
use zeroize::Zeroizing;

use crate::error::FrameError;

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
/// Frame counters per sender the replay window covers. A sender's audio
/// and video share one counter (about 80 frames a second), so this is
/// about 12 s: a video frame that arrives late under load (a repair, a
/// stalled decoder) is still told from a replay. With 128 it was 1.6 s, and
/// honest late frames were refused as too old, which looked like replays.
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
const MEDIA_EPOCH_FORMAT: u8 = 1;

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

/// The SFrame key material of one MLS epoch, as exported by
/// [`crate::Member::media_epoch`]. The base key zeroizes on drop and is never
/// printed.
#[derive(Clone)]
pub struct MediaEpoch {
    epoch: u64,
    base_key: Zeroizing<Vec<u8>>,
    members: Vec<u32>,
    own_leaf: u32,
    audio_padding: bool,
}

impl fmt::Debug for MediaEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaEpoch")
            .field("epoch", &self.epoch)
            .field("base_key", &"<redacted>")
            .field("members", &self.members)
            .field("own_leaf", &self.own_leaf)
            .field("audio_padding", &self.audio_padding)
            .finish()
    }
}

impl MediaEpoch {
    /// Key material from its parts. Clients get it from
    /// [`crate::Member::media_epoch`]; this constructor is for tools, tests and
    /// fuzzing.
    pub fn new(
        epoch: u64,
        base_key: Zeroizing<Vec<u8>>,
        mut members: Vec<u32>,
        own_leaf: u32,
        audio_padding: bool,
    ) -> Self {
        members.sort_unstable();
        members.dedup();
        MediaEpoch {
            epoch,
            base_key,
            members,
            own_leaf,
            audio_padding,
        }
    }

    /// The MLS epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// `S`: bits for a leaf index, the smallest with `leaves <= 2^S`.
    fn index_bits(&self) -> u32 {
        let n = self.members.last().map_or(1, |m| u64::from(*m) + 1);
        let mut s = 0;
        while (1u64 << s) < n {
            s += 1;
        }
        s
    }

    fn epoch_lsb(&self) -> u64 {
        self.epoch & ((1 << EPOCH_BITS) - 1)
    }

    /// The KID of `leaf`'s frames in this epoch (context 0).
    pub fn key_id(&self, leaf: u32) -> u64 {
        (u64::from(leaf) << EPOCH_BITS) | self.epoch_lsb()
    }

    /// Serializes the key material so it can be handed to another instance of
    /// this crate in the same device — e.g. from the browser page, which holds
    /// the MLS group, to the worker that encrypts frames (a separate wasm
    /// instance). It contains the base key: never send it over the network or
    /// store it. Format (integers big-endian): `version u8 (1) | epoch u64 |
    /// flags u8 (bit 0: audio padding to [`AUDIO_PADDED_SIZE`]) | own_leaf u32 | key_len u8 | key |
    /// members u32 | member u32 …`.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(
            19 + self.base_key.len() + 4 * self.members.len(),
        ));
        out.push(MEDIA_EPOCH_FORMAT);
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.push(u8::from(self.audio_padding));
        out.extend_from_slice(&self.own_leaf.to_be_bytes());
        // BASE_KEY_LEN fits a byte; from_bytes refuses any other length.
        out.push(self.base_key.len().min(255) as u8);
        out.extend_from_slice(&self.base_key);
        out.extend_from_slice(&(self.members.len() as u32).to_be_bytes());
        for m in &self.members {
            out.extend_from_slice(&m.to_be_bytes());
        }
        out
    }

    /// Parses [`MediaEpoch::to_bytes`]. Refuses other versions, a key that is
    /// not [`BASE_KEY_LEN`] bytes, more than [`MAX_MEDIA_EPOCH_MEMBERS`]
    /// members, truncation and trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FrameError> {
        const BAD: FrameError = FrameError::Malformed("bad media epoch encoding");
        let mut r = bytes;
        let mut take = |n: usize| -> Result<&[u8], FrameError> {
            if r.len() < n {
                return Err(BAD);
            }
            let (head, rest) = r.split_at(n);
            r = rest;
            Ok(head)
        };
        if take(1)?[0] != MEDIA_EPOCH_FORMAT {
            return Err(FrameError::Malformed("unknown media epoch version"));
        }
        let u32_of = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let mut e = [0u8; 8];
        e.copy_from_slice(take(8)?);
        let flags = take(1)?[0];
        if flags & !1 != 0 {
            return Err(BAD);
        }
        let own_leaf = u32_of(take(4)?);
        let key_len = take(1)?[0] as usize;
        if key_len != BASE_KEY_LEN {
            return Err(BAD);
        }
        let base_key = Zeroizing::new(take(key_len)?.to_vec());
        let n = u32_of(take(4)?) as usize;
        if n > MAX_MEDIA_EPOCH_MEMBERS {
            return Err(BAD);
        }
        let mut members = Vec::with_capacity(n);
        for _ in 0..n {
            members.push(u32_of(take(4)?));
        }
        if !r.is_empty() {
            return Err(BAD);
        }
        Ok(MediaEpoch::new(
            u64::from_be_bytes(e),
            base_key,
            members,
            own_leaf,
            flags & 1 != 0,
        ))
    }
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

/// Encrypts this device's frames under the current epoch's key.
pub struct FrameSender {
    epoch: u64,
    key: EncryptionKey,
    next_counter: u64,
    audio_padding: bool,
}

impl fmt::Debug for FrameSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameSender")
            .field("epoch", &self.epoch)
            .field("next_counter", &self.next_counter)
            .finish_non_exhaustive()
    }
}

impl FrameSender {
    /// A sender keyed for `epoch`, as our own leaf.
    pub fn new(epoch: &MediaEpoch) -> Result<Self, FrameError> {
        let key = EncryptionKey::derive_from(
            SFRAME_SUITE,
            epoch.key_id(epoch.own_leaf),
            &epoch.base_key[..],
        )
        .map_err(sframe_err)?;
        Ok(FrameSender {
            epoch: epoch.epoch,
            key,
            next_counter: 0,
            audio_padding: epoch.audio_padding,
        })
    }

    /// Switches to a new epoch's key (call it once members have the new
    /// epoch, docs/design.md §4 step 4). The counter restarts: the key is new.
    pub fn switch_epoch(&mut self, epoch: &MediaEpoch) -> Result<(), FrameError> {
        *self = FrameSender::new(epoch)?;
        Ok(())
    }

    /// The epoch this sender encrypts under.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Encrypts one encoded frame. The codec's clear prefix is copied in
    /// front, authenticated but not encrypted.
    pub fn encrypt(&mut self, codec: Codec, frame: &[u8]) -> Result<Vec<u8>, FrameError> {
        if self.next_counter == u64::MAX {
            return Err(FrameError::CounterExhausted);
        }
        let n = codec.clear_prefix_len(frame)?;
        let (prefix, body) = frame.split_at(n);
        let padded;
        let body = if self.audio_padding && codec.pads() {
            padded = pad(body);
            &padded[..]
        } else {
            body
        };
        let meta = aad_meta(prefix, codec);
        let mut counter = SingleUseCounter::new(self.next_counter);
        let media =
            MediaFrameView::try_with_meta_data(&mut counter, &body, &meta).map_err(sframe_err)?;
        let mut out = Vec::new();
        media
            .encrypt_into(&self.key, &mut out)
            .map_err(sframe_err)?;
        self.next_counter += 1;
        // `out` is `meta ‖ header ‖ ciphertext`: drop the two bound-only bytes.
        out.drain(n..n + 2);
        Ok(out)
    }
}

/// A received, authenticated frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptedFrame {
    /// The sender's leaf.
    pub sender: u32,
    /// The MLS epoch it was encrypted in.
    pub epoch: u64,
    /// The original encoded frame (clear prefix and decrypted rest).
    pub frame: Vec<u8>,
}

struct ReplayWindow {
    highest: Option<u64>,
    /// Bit `ctr % REPLAY_WINDOW`: counter `ctr` (within the window) was seen.
    seen: [u64; (REPLAY_WINDOW / 64) as usize],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow {
            highest: None,
            seen: [0; (REPLAY_WINDOW / 64) as usize],
        }
    }
}

impl ReplayWindow {
    fn check(&self, ctr: u64) -> Result<(), FrameError> {
        let Some(h) = self.highest else { return Ok(()) };
        if ctr > h {
            return Ok(());
        }
        if h - ctr >= REPLAY_WINDOW {
            return Err(FrameError::TooOld(ctr));
        }
        if self.bit(ctr) {
            return Err(FrameError::Replayed(ctr));
        }
        Ok(())
    }

    fn bit(&self, ctr: u64) -> bool {
        let i = ctr % REPLAY_WINDOW;
        self.seen[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, ctr: u64, on: bool) {
        let i = ctr % REPLAY_WINDOW;
        let word = &mut self.seen[(i / 64) as usize];
        if on {
            *word |= 1 << (i % 64);
        } else {
            *word &= !(1 << (i % 64));
        }
    }

    /// Records `ctr` (after [`ReplayWindow::check`] let it through).
    fn record(&mut self, ctr: u64) {
        match self.highest {
            Some(h) if ctr <= h => {}
            Some(h) if ctr - h < REPLAY_WINDOW => {
                // Counters skipped on the way to `ctr` were not seen.
                for skipped in h + 1..ctr {
                    self.set(skipped, false);
                }
                self.highest = Some(ctr);
            }
            _ => {
                self.seen = [0; (REPLAY_WINDOW / 64) as usize];
                self.highest = Some(ctr);
            }
        }
        self.set(ctr, true);
    }
}

struct SenderState {
    key: DecryptionKey,
    window: ReplayWindow,
}

struct EpochKeys {
    material: MediaEpoch,
    retire_at_ms: Option<u64>,
    senders: HashMap<u64, SenderState>,
}

/// Decrypts the frames of all senders in the group, across epoch switches.
#[derive(Default)]
pub struct FrameReceiver {
    epochs: Vec<EpochKeys>,
}

impl fmt::Debug for FrameReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameReceiver")
            .field(
                "epochs",
                &self
                    .epochs
                    .iter()
                    .map(|e| e.material.epoch)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl FrameReceiver {
    /// A receiver with no keys yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs a new epoch's keys. The previous current epoch stays usable
    /// until `now_ms + PREVIOUS_EPOCH_GRACE_MS`; older ones go now.
    pub fn add_epoch(&mut self, epoch: &MediaEpoch, now_ms: u64) {
        self.expire(now_ms);
        if self.epochs.iter().any(|e| e.material.epoch == epoch.epoch) {
            return;
        }
        // RFC 9605 §5.2: a new epoch replaces any with the same low bits.
        self.epochs
            .retain(|e| e.material.epoch_lsb() != epoch.epoch_lsb() && e.retire_at_ms.is_none());
        for e in &mut self.epochs {
            e.retire_at_ms = Some(now_ms.saturating_add(PREVIOUS_EPOCH_GRACE_MS));
        }
        self.epochs.push(EpochKeys {
            material: epoch.clone(),
            retire_at_ms: None,
            senders: HashMap::new(),
        });
    }

    /// Drops previous-epoch keys whose grace period has passed.
    pub fn expire(&mut self, now_ms: u64) {
        self.epochs
            .retain(|e| e.retire_at_ms.is_none_or(|t| now_ms < t));
    }

    /// The epochs keys are held for, oldest first.
    pub fn epochs(&self) -> Vec<u64> {
        self.epochs.iter().map(|e| e.material.epoch).collect()
    }

    /// Authenticates and decrypts one frame. Any error means: drop the frame.
    pub fn decrypt(
        &mut self,
        codec: Codec,
        data: &[u8],
        now_ms: u64,
    ) -> Result<DecryptedFrame, FrameError> {
        self.expire(now_ms);
        let n = codec.clear_prefix_len(data)?;
        let (prefix, sframe) = data.split_at(n);
        let header = SframeHeader::deserialize(sframe)
            .map_err(|_| FrameError::Malformed("bad SFrame header"))?;
        let kid = header.key_id();
        let counter = header.counter();
        let lsb = kid & ((1 << EPOCH_BITS) - 1);
        let keys = self
            .epochs
            .iter_mut()
            .find(|e| e.material.epoch_lsb() == lsb)
            .ok_or(FrameError::UnknownEpoch(lsb))?;
        let s = keys.material.index_bits();
        let leaf = (kid >> EPOCH_BITS) & ((1u64 << s) - 1);
        let context = kid >> (EPOCH_BITS + s);
        if context != 0 {
            return Err(FrameError::UnknownSender(kid >> EPOCH_BITS));
        }
        let leaf = u32::try_from(leaf).map_err(|_| FrameError::UnknownSender(leaf))?;
        if keys.material.members.binary_search(&leaf).is_err() {
            return Err(FrameError::UnknownSender(u64::from(leaf)));
        }
        let state = match keys.senders.entry(kid) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let key =
                    DecryptionKey::derive_from(SFRAME_SUITE, kid, &keys.material.base_key[..])
                        .map_err(sframe_err)?;
                v.insert(SenderState {
                    key,
                    window: ReplayWindow::default(),
                })
            }
        };
        state.window.check(counter)?;
        let meta = aad_meta(prefix, codec);
        let view = EncryptedFrameView::try_with_meta_data(sframe, &meta)
            .map_err(|_| FrameError::Malformed("bad SFrame header"))?;
        let mut buf = Vec::new();
        let media = view
            .decrypt_into(&state.key, &mut buf)
            .map_err(|_| FrameError::Authentication)?;
        state.window.record(counter);
        let body = if keys.material.audio_padding && codec.pads() {
            unpad(media.payload())?
        } else {
            media.payload()
        };
        let mut frame = Vec::with_capacity(n + body.len());
        frame.extend_from_slice(prefix);
        frame.extend_from_slice(body);
        Ok(DecryptedFrame {
            sender: leaf,
            epoch: keys.material.epoch,
            frame,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(e: u64, key: u8, members: &[u32], own: u32, pad: bool) -> MediaEpoch {
        MediaEpoch::new(
            e,
            Zeroizing::new(vec![key; BASE_KEY_LEN]),
            members.to_vec(),
            own,
            pad,
        )
    }

    fn vp8_key_frame() -> Vec<u8> {
        let mut f = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
        f.extend((0..500u32).map(|i| (i * 7) as u8));
        f
    }

    fn vp8_delta_frame() -> Vec<u8> {
        let mut f = vec![0x31];
        f.extend((0..300u32).map(|i| (i * 3) as u8));
        f
    }

    #[test]
    fn frames_round_trip_with_clear_prefix() {
        let e = epoch(5, 1, &[0, 1, 2], 1, false);
        let mut tx = FrameSender::new(&e).unwrap();
        let mut rx = FrameReceiver::new();
        rx.add_epoch(&e, 0);
        for (codec, frame, n) in [
            (Codec::Vp8, vp8_key_frame(), 10),
            (Codec::Vp8, vp8_delta_frame(), 1),
            (Codec::Opus, vec![0x78; 80], 0),
            (Codec::Raw, b"hello".to_vec(), 0),
        ] {
            let enc = tx.encrypt(codec, &frame).unwrap();
            assert_eq!(&enc[..n], &frame[..n], "prefix stays in clear");
            assert!(!enc
                .windows(16)
                .any(|w| frame[n..].windows(16).any(|f| f == w)));
            let dec = rx.decrypt(codec, &enc, 1).unwrap();
            assert_eq!(dec.frame, frame);
            assert_eq!(dec.sender, 1);
            assert_eq!(dec.epoch, 5);
        }
    }

    #[test]
    fn tampering_anywhere_is_rejected() {
        let e = epoch(1, 2, &[0, 1], 0, false);
        let mut tx = FrameSender::new(&e).unwrap();
        let frame = vp8_key_frame();
        let enc = tx.encrypt(Codec::Vp8, &frame).unwrap();
        let header_len = SframeHeader::deserialize(&enc[10..]).unwrap().len();
        // A fresh receiver per case, so the replay window is not what refuses.
        let check = |bytes: &[u8], codec: Codec| {
            let mut rx = FrameReceiver::new();
            rx.add_epoch(&e, 0);
            rx.decrypt(codec, bytes, 0)
        };
        assert!(check(&enc, Codec::Vp8).is_ok());
        // Clear prefix (a dimension byte).
        let mut t = enc.clone();
        t[7] ^= 1;
        assert_eq!(check(&t, Codec::Vp8), Err(FrameError::Authentication));
        // Prefix length: flip the key-frame bit, so the receiver reads 1 byte.
        let mut t = enc.clone();
        t[0] ^= 1;
        assert!(check(&t, Codec::Vp8).is_err());
        // Same bytes, read as a codec without a prefix.
        assert!(check(&enc, Codec::Raw).is_err());
        // SFrame header counter.
        let mut t = enc.clone();
        t[10 + header_len - 1] ^= 1;
        assert!(check(&t, Codec::Vp8).is_err());
        // Ciphertext.
        let mut t = enc.clone();
        t[10 + header_len + 3] ^= 0x40;
        assert_eq!(check(&t, Codec::Vp8), Err(FrameError::Authentication));
        // Tag.
        let mut t = enc.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert_eq!(check(&t, Codec::Vp8), Err(FrameError::Authentication));
        // Truncated.
        assert!(check(&enc[..enc.len() - 17], Codec::Vp8).is_err());
    }

    #[test]
    fn replays_and_unknown_epochs_and_senders_have_distinct_errors() {
        let e = epoch(3, 3, &[0, 1, 2], 2, false);
        let mut tx = FrameSender::new(&e).unwrap();
        let mut rx = FrameReceiver::new();
        rx.add_epoch(&e, 0);
        let f0 = tx.encrypt(Codec::Raw, b"zero").unwrap();
        let f1 = tx.encrypt(Codec::Raw, b"one").unwrap();
        rx.decrypt(Codec::Raw, &f1, 0).unwrap();
        rx.decrypt(Codec::Raw, &f0, 0).unwrap(); // reordered: fine
        assert_eq!(rx.decrypt(Codec::Raw, &f1, 0), Err(FrameError::Replayed(1)));
        assert_eq!(rx.decrypt(Codec::Raw, &f0, 0), Err(FrameError::Replayed(0)));
        for _ in 0..=REPLAY_WINDOW {
            let f = tx.encrypt(Codec::Raw, b"x").unwrap();
            rx.decrypt(Codec::Raw, &f, 0).unwrap();
        }
        let late = {
            let mut tx2 = FrameSender::new(&e).unwrap();
            tx2.next_counter = 2;
            tx2.encrypt(Codec::Raw, b"late").unwrap()
        };
        assert_eq!(rx.decrypt(Codec::Raw, &late, 0), Err(FrameError::TooOld(2)));

        let other_epoch = epoch(4, 3, &[0, 1, 2], 2, false);
        let f = FrameSender::new(&other_epoch)
            .unwrap()
            .encrypt(Codec::Raw, b"x")
            .unwrap();
        assert_eq!(
            rx.decrypt(Codec::Raw, &f, 0),
            Err(FrameError::UnknownEpoch(4))
        );

        // Leaf 3 is not a member of epoch 3 (members 0..=2, S = 2 bits).
        let ghost = epoch(3, 3, &[0, 1, 2, 3], 3, false);
        let f = FrameSender::new(&ghost)
            .unwrap()
            .encrypt(Codec::Raw, b"x")
            .unwrap();
        assert_eq!(
            rx.decrypt(Codec::Raw, &f, 0),
            Err(FrameError::UnknownSender(3))
        );
    }

    #[test]
    fn previous_epoch_is_kept_ten_seconds_then_dropped() {
        let e1 = epoch(1, 1, &[0, 1], 0, false);
        let e2 = epoch(2, 2, &[0, 1], 0, false);
        let mut tx = FrameSender::new(&e1).unwrap();
        let old = tx.encrypt(Codec::Raw, b"old").unwrap();
        let old2 = tx.encrypt(Codec::Raw, b"old2").unwrap();
        let mut rx = FrameReceiver::new();
        rx.add_epoch(&e1, 0);
        rx.add_epoch(&e2, 1_000);
        assert_eq!(rx.epochs(), vec![1, 2]);
        rx.decrypt(Codec::Raw, &old, 1_000 + PREVIOUS_EPOCH_GRACE_MS - 1)
            .unwrap();
        assert_eq!(
            rx.decrypt(Codec::Raw, &old2, 1_000 + PREVIOUS_EPOCH_GRACE_MS),
            Err(FrameError::UnknownEpoch(1))
        );
        assert_eq!(rx.epochs(), vec![2]);
        tx.switch_epoch(&e2).unwrap();
        let new = tx.encrypt(Codec::Raw, b"new").unwrap();
        assert_eq!(rx.decrypt(Codec::Raw, &new, 20_000).unwrap().frame, b"new");
    }

    #[test]
    fn padded_audio_sizes_do_not_follow_speech() {
        let e = epoch(1, 9, &[0, 1], 0, true);
        let mut tx = FrameSender::new(&e).unwrap();
        let mut rx = FrameReceiver::new();
        rx.add_epoch(&e, 0);
        // Opus frames as Chromium makes them: DTX-like silence (1-3 bytes),
        // VBR silence and speech (35, 53, 81), a CBR frame at 32 kbit/s (80),
        // and the largest that fits (95). All leave as one size.
        let mut sizes = std::collections::BTreeSet::new();
        for len in [0usize, 1, 3, 35, 53, 80, 81, AUDIO_PADDED_SIZE - 1] {
            let frame = vec![0xAA; len];
            let enc = tx.encrypt(Codec::Opus, &frame).unwrap();
            sizes.insert(enc.len() - SframeHeader::deserialize(&enc).unwrap().len());
            assert_eq!(rx.decrypt(Codec::Opus, &enc, 0).unwrap().frame, frame);
        }
        assert_eq!(
            sizes.into_iter().collect::<Vec<_>>(),
            vec![AUDIO_PADDED_SIZE + 16],
            "every frame up to {} bytes is one size (plus the 16-byte tag)",
            AUDIO_PADDED_SIZE - 1
        );
        // Larger frames round up to multiples of the one size.
        assert_eq!(pad(&[0; AUDIO_PADDED_SIZE]).len(), 2 * AUDIO_PADDED_SIZE);
        assert_eq!(pad(&[0; 2000]).len(), 21 * AUDIO_PADDED_SIZE);
        // Zeros at the end of a frame survive: the marker ends it.
        assert_eq!(unpad(&pad(&[0, 0, 0])).unwrap(), &[0, 0, 0]);
        assert_eq!(unpad(&pad(&[])).unwrap(), &[] as &[u8]);
        // Video is never padded, and padding is the room's choice.
        let enc = tx.encrypt(Codec::Vp8, &vp8_delta_frame()).unwrap();
        assert!(enc.len() < vp8_delta_frame().len() + 32);
        let plain = epoch(2, 9, &[0, 1], 0, false);
        let enc = FrameSender::new(&plain)
            .unwrap()
            .encrypt(Codec::Opus, &[0xAA; 10])
            .unwrap();
        assert!(enc.len() < 10 + 16 + 8);
    }

    #[test]
    fn unpadding_refuses_frames_without_the_marker() {
        assert!(unpad(&[]).is_err());
        assert!(unpad(&[0; 96]).is_err());
        let mut no_marker = vec![0x11; 10];
        no_marker.resize(96, 0);
        assert!(unpad(&no_marker).is_err());
        // A sender that did not pad: a frame whose padding does not decode is
        // dropped, not played.
        let unpadded = epoch(3, 4, &[0, 1], 0, false);
        let mut padded = unpadded.clone();
        padded.audio_padding = true;
        let enc = FrameSender::new(&unpadded)
            .unwrap()
            .encrypt(Codec::Opus, &[0x11; 20])
            .unwrap();
        let mut rx = FrameReceiver::new();
        rx.add_epoch(&padded, 0);
        assert_eq!(
            rx.decrypt(Codec::Opus, &enc, 0),
            Err(FrameError::Malformed("padding without end marker"))
        );
    }

    #[test]
    fn media_epoch_bytes_round_trip_and_refuse_damage() {
        let e = epoch(300, 7, &[0, 2, 5], 2, true);
        let bytes = e.to_bytes();
        let back = MediaEpoch::from_bytes(&bytes).unwrap();
        assert_eq!(back.to_bytes(), bytes);
        // Keys made from the copy work with keys made from the original.
        let mut tx = FrameSender::new(&e).unwrap();
        let mut rx = FrameReceiver::new();
        rx.add_epoch(&back, 0);
        let enc = tx.encrypt(Codec::Opus, b"hello").unwrap();
        assert_eq!(rx.decrypt(Codec::Opus, &enc, 0).unwrap().frame, b"hello");
        for cut in 0..bytes.len() {
            assert!(MediaEpoch::from_bytes(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(MediaEpoch::from_bytes(&long).is_err());
        let mut v2 = bytes.to_vec();
        v2[0] = 2;
        assert!(MediaEpoch::from_bytes(&v2).is_err());
        assert!(!format!("{back:?}").contains("7, 7"));
    }

    #[test]
    fn replay_window_shifts() {
        let mut w = ReplayWindow::default();
        w.record(5);
        assert_eq!(w.check(5), Err(FrameError::Replayed(5)));
        assert!(w.check(4).is_ok());
        w.record(500);
        assert_eq!(
            w.check(5),
            Err(FrameError::Replayed(5)),
            "still in the window"
        );
        assert!(w.check(499).is_ok());
        w.record(499);
        assert_eq!(w.check(499), Err(FrameError::Replayed(499)));
        w.record(5000);
        assert_eq!(w.check(500), Err(FrameError::TooOld(500)));
        assert!(w.check(5000 - REPLAY_WINDOW + 1).is_ok());
        // A counter that wraps onto an old slot is not mistaken for it.
        assert!(w.check(5000 + REPLAY_WINDOW - 1).is_ok());
        w.record(5000 + REPLAY_WINDOW - 1);
        assert!(w.check(5000 + 2 * REPLAY_WINDOW - 1).is_ok());
    }

    #[test]
    fn replay_window_matches_a_plain_set_of_recent_counters() {
        // Against a model: seen = every recorded counter; too old = below highest - window.
        let mut w = ReplayWindow::default();
        let mut seen = std::collections::BTreeSet::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut base = 0u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            base += x % 5;
            let ctr = (base + x % 2000).saturating_sub(1000);
            let highest = seen.iter().next_back().copied();
            let want = match highest {
                Some(h) if ctr <= h && h - ctr >= REPLAY_WINDOW => Err(FrameError::TooOld(ctr)),
                _ if seen.contains(&ctr) => Err(FrameError::Replayed(ctr)),
                _ => Ok(()),
            };
            assert_eq!(w.check(ctr), want, "counter {ctr}, highest {highest:?}");
            if want.is_ok() {
                w.record(ctr);
                seen.insert(ctr);
            }
        }
    }
}
