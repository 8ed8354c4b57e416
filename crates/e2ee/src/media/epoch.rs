//! One MLS epoch's SFrame key material and KID layout (RFC 9605 §5.2): the
//! base key from the MLS exporter, the members whose leaves may send, and
//! how a KID names (context, leaf, epoch). Lives as long as the epoch; the
//! page hands it to its media worker as bytes ([`MediaEpoch::to_bytes`]).

use std::fmt;

use sframe::key::{DecryptionKey, EncryptionKey};
use zeroize::Zeroizing;

use super::{
    sframe_err, MediaContext, BASE_KEY_LEN, EPOCH_BITS, MAX_MEDIA_EPOCH_MEMBERS, SFRAME_SUITE,
};
use crate::error::FrameError;

const MEDIA_EPOCH_FORMAT: u8 = 1;

/// The SFrame key material of one MLS epoch, as exported by
/// [`crate::Member::media_epoch`]. The base key zeroizes on drop and is never
/// printed.
#[derive(Clone)]
pub struct MediaEpoch {
    epoch: u64,
    base_key: Zeroizing<Vec<u8>>,
    members: Vec<u32>,
    pub(super) own_leaf: u32,
    pub(super) audio_padding: bool,
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

    pub(super) fn epoch_lsb(&self) -> u64 {
        self.epoch & ((1 << EPOCH_BITS) - 1)
    }

    /// The KID of `leaf`'s frames of `context` in this epoch:
    /// `(context << (S+E)) | (leaf << E) | (epoch mod 2^E)` (RFC 9605 §5.2).
    pub fn key_id(&self, leaf: u32, context: MediaContext) -> u64 {
        (context.id() << (EPOCH_BITS + self.index_bits()))
            | (u64::from(leaf) << EPOCH_BITS)
            | self.epoch_lsb()
    }

    /// Whose stream a KID of this epoch names: the leaf (a member of the
    /// epoch) and the context. The epoch bits are the caller's to match.
    pub(super) fn sender_of(&self, kid: u64) -> Result<(u32, MediaContext), FrameError> {
        let s = self.index_bits();
        let leaf = (kid >> EPOCH_BITS) & ((1u64 << s) - 1);
        let context = kid >> (EPOCH_BITS + s);
        let context = MediaContext::from_id(context).ok_or(FrameError::UnknownContext(context))?;
        let leaf = u32::try_from(leaf).map_err(|_| FrameError::UnknownSender(leaf))?;
        if self.members.binary_search(&leaf).is_err() {
            return Err(FrameError::UnknownSender(u64::from(leaf)));
        }
        Ok((leaf, context))
    }

    /// Our own key for `context` (RFC 9605 §4.4.2: key and salt from the base
    /// key and the KID, so every context of every leaf has its own).
    pub(super) fn encryption_key(
        &self,
        context: MediaContext,
    ) -> Result<EncryptionKey, FrameError> {
        EncryptionKey::derive_from(
            SFRAME_SUITE,
            self.key_id(self.own_leaf, context),
            &self.base_key[..],
        )
        .map_err(sframe_err)
    }

    /// The key of the stream `kid` names (checked with [`Self::sender_of`]).
    pub(super) fn decryption_key(&self, kid: u64) -> Result<DecryptionKey, FrameError> {
        DecryptionKey::derive_from(SFRAME_SUITE, kid, &self.base_key[..]).map_err(sframe_err)
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
