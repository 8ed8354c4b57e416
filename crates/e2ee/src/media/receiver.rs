//! Every member's incoming streams: the current epoch's keys and, for
//! [`PREVIOUS_EPOCH_GRACE_MS`], the previous one's, each stream's key (one
//! per KID: leaf and context) derived when its first frame arrives, with
//! its own replay window. Lives as long as the call.

use std::collections::HashMap;
use std::fmt;

use sframe::frame::EncryptedFrameView;
use sframe::header::SframeHeader;
use sframe::key::DecryptionKey;

use super::window::ReplayWindow;
use super::{
    aad_meta, unpad, Codec, DecryptedFrame, MediaEpoch, EPOCH_BITS, PREVIOUS_EPOCH_GRACE_MS,
};
use crate::error::FrameError;

struct StreamState {
    key: DecryptionKey,
    window: ReplayWindow,
}

struct EpochKeys {
    material: MediaEpoch,
    retire_at_ms: Option<u64>,
    /// KID -> that stream's key and replay window.
    streams: HashMap<u64, StreamState>,
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
                    .map(|e| e.material.epoch())
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
        if self
            .epochs
            .iter()
            .any(|e| e.material.epoch() == epoch.epoch())
        {
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
            streams: HashMap::new(),
        });
    }

    /// Drops previous-epoch keys whose grace period has passed.
    pub fn expire(&mut self, now_ms: u64) {
        self.epochs
            .retain(|e| e.retire_at_ms.is_none_or(|t| now_ms < t));
    }

    /// The epochs keys are held for, oldest first.
    pub fn epochs(&self) -> Vec<u64> {
        self.epochs.iter().map(|e| e.material.epoch()).collect()
    }

    /// Authenticates and decrypts one frame. Any error means: drop the frame.
    /// Whose it is (leaf and context) comes from the key that opened it.
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
        let (leaf, context) = keys.material.sender_of(kid)?;
        let state = match keys.streams.entry(kid) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(StreamState {
                key: keys.material.decryption_key(kid)?,
                window: ReplayWindow::default(),
            }),
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
            context,
            epoch: keys.material.epoch(),
            frame,
        })
    }
}
