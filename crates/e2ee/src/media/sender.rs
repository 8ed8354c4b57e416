//! One outgoing stream's encryption: our leaf's key for one [`MediaContext`]
//! in the current epoch, and its frame counter. Lives until the next epoch
//! switch; a device runs one per context (camera and microphone share one,
//! a screen share has its own), so no two streams ever use one key and
//! counter (RFC 9605 §4.4.3: a nonce must never repeat under a key).

use std::fmt;

use sframe::frame::{MediaFrameView, SingleUseCounter};
use sframe::key::EncryptionKey;

use super::{aad_meta, pad, sframe_err, Codec, MediaContext, MediaEpoch};
use crate::error::FrameError;

/// Encrypts this device's frames of one stream under the current epoch's key.
pub struct FrameSender {
    epoch: u64,
    context: MediaContext,
    key: EncryptionKey,
    next_counter: u64,
    audio_padding: bool,
}

impl fmt::Debug for FrameSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameSender")
            .field("epoch", &self.epoch)
            .field("context", &self.context)
            .field("next_counter", &self.next_counter)
            .finish_non_exhaustive()
    }
}

impl FrameSender {
    /// A sender keyed for `epoch`, as our own leaf, for camera and
    /// microphone (context 0).
    pub fn new(epoch: &MediaEpoch) -> Result<Self, FrameError> {
        Self::with_context(epoch, MediaContext::Camera)
    }

    /// A sender keyed for `epoch`, as our own leaf, for the stream `context`
    /// (e.g. [`MediaContext::Screen`]): its own key and its own counter.
    pub fn with_context(epoch: &MediaEpoch, context: MediaContext) -> Result<Self, FrameError> {
        Ok(FrameSender {
            epoch: epoch.epoch(),
            context,
            key: epoch.encryption_key(context)?,
            next_counter: 0,
            audio_padding: epoch.audio_padding,
        })
    }

    /// Switches to a new epoch's key (call it once members have the new
    /// epoch, docs/design.md §4 step 4). The counter restarts: the key is new.
    pub fn switch_epoch(&mut self, epoch: &MediaEpoch) -> Result<(), FrameError> {
        *self = FrameSender::with_context(epoch, self.context)?;
        Ok(())
    }

    /// The epoch this sender encrypts under.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The stream this sender encrypts.
    pub fn context(&self) -> MediaContext {
        self.context
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

    /// Tests: start counting at `next` (a second sender reusing counters).
    #[cfg(test)]
    pub(super) fn set_next_counter(&mut self, next: u64) {
        self.next_counter = next;
    }
}
