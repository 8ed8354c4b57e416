//! The per-packet path: a publisher's RTP packet to every subscriber of its
//! track, each on the simulcast layer chosen for it ([`Sfu::forward`]),
//! retransmissions a subscriber asks for ([`Sfu::retransmit`]) and key-frame
//! requests to a publisher.

use std::time::{Duration, Instant};

use str0m::media::{KeyframeRequestKind, MediaKind};
use str0m::rtp::rtcp::Nack;
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite};

use super::congestion::Congestion;
use super::ids::{PeerKey, TrackKey};
use super::layers::{narrower, pick, pick_capped};
use super::release::segment_buf;
use super::track::{KEYFRAME_REQUEST_INTERVAL, RTX_PER_SECOND};
use super::{Sfu, Transmit};
use crate::adversary::{Outgoing, Verdict};
use crate::insider::RtpFields;
use crate::metrics::Metrics;
use crate::srtp::{RtpOut, SrtpSender};

/// `header` with the next transport-wide sequence number of the subscriber
/// (if it has congestion control), and the sealed length of a packet with
/// `payload_len` bytes under it.
#[inline]
fn numbered(
    now: Instant,
    cc: Option<&mut Congestion>,
    direct: &SrtpSender,
    mut header: RtpOut,
    payload_len: usize,
) -> (RtpOut, usize) {
    let Some(cc) = cc else {
        return (header, direct.sealed_len(&header, payload_len));
    };
    header.twcc = Some((0, 0));
    let len = direct.sealed_len(&header, payload_len);
    header.twcc = Some(cc.number(now, len));
    (header, len)
}

impl Sfu {
    /// Answers a subscriber's NACK from the route's recent packets, on the
    /// stream's RTX SSRC (RFC 4588). With direct send every NACK is answered
    /// here: the copies str0m sends then are not nackable, so str0m never
    /// sends on the RTX SSRC and the relay alone numbers it (its sequence
    /// numbers are SRTP nonces).
    pub(super) fn retransmit(&mut self, now: Instant, key: PeerKey, nack: &Nack) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let send_to = peer.send_to();
        let (Some(dest), Some(direct)) = (send_to, peer.direct.as_mut()) else {
            return;
        };
        let Some(track) = peer
            .sending
            .get(&*nack.ssrc)
            .and_then(|mid| peer.receiving.get(mid))
        else {
            return;
        };
        let Some(route) = self.routes.get_mut(track) else {
            return;
        };
        let Some(sub) = route.subscriptions.iter_mut().find(|s| s.subscriber == key) else {
            return;
        };
        let Some((rtx_ssrc, rtx_pt)) = sub.rtx else {
            return;
        };
        let last_out = sub.layer.last_seq();
        let mut sent = 0;
        for entry in nack.reports.iter() {
            let lost = std::iter::once(entry.pid).chain(
                (0..16u16)
                    .filter(|b| entry.blp & (1 << b) != 0)
                    .map(|b| entry.pid.wrapping_add(b + 1)),
            );
            for seq16 in lost {
                if now.saturating_duration_since(sub.rtx_window.0) >= Duration::from_secs(1) {
                    sub.rtx_window = (now, 0);
                }
                if sub.rtx_window.1 >= RTX_PER_SECOND {
                    break;
                }
                // The newest extended sequence number with these low 16 bits.
                let back = (last_out as u16).wrapping_sub(seq16) as u64;
                let Some(out_seq) = last_out.checked_sub(back) else {
                    continue;
                };
                // Only the current layer's packets are resent (a NACK for
                // one from before a switch asks for what no longer helps).
                let Some((layer, seq, ts_delta)) = sub.layer.layer_seq(out_seq) else {
                    continue;
                };
                let Some(p) = route.layers[layer].recent.iter().find(|r| r.seq == seq) else {
                    continue;
                };
                let mut body = Vec::with_capacity(2 + p.payload.len());
                body.extend_from_slice(&seq16.to_be_bytes());
                body.extend_from_slice(&p.payload);
                let header = RtpOut {
                    marker: p.marker,
                    pt: rtx_pt,
                    index: sub.rtx_seq,
                    timestamp: p.timestamp.wrapping_add(ts_delta),
                    ssrc: rtx_ssrc,
                    twcc: None,
                };
                let (header, _) = numbered(now, peer.cc.as_mut(), direct, header, body.len());
                let contents = direct.seal(&header, &body);
                sub.rtx_seq += 1;
                sub.rtx_window.1 += 1;
                peer.direct_out.push(Transmit::single(dest, contents));
                sent += 1;
            }
        }
        if sent > 0 {
            Metrics::add(&self.metrics.retransmits, sent);
            self.flush_due = true;
            if !peer.dirty {
                peer.dirty = true;
                self.dirty.push(key);
            }
        }
    }

    /// The per-packet path: one publisher's RTP packet to every subscriber
    /// of its track. Top to bottom: which track and layer it is, what the
    /// insider view records, the route, once per sequence number, what the
    /// clear VP8 bytes say (key frame, size), when the copies may leave, the
    /// retransmission cache, then one copy per subscription that receives
    /// this layer (the adversary's say in test builds, the subscriber's
    /// sequence numbers and timestamps, sealed directly or written to
    /// str0m), and key-frame requests for layers subscribers wait to switch to.
    pub(super) fn forward(&mut self, now: Instant, from: PeerKey, pkt: RtpPacket) {
        let Some(publisher) = self.peers.get_mut(&from) else {
            return;
        };
        let Some((mid, rid)) = publisher.source_of(pkt.header.ssrc) else {
            return;
        };
        if let Some(tap) = &mut self.tap {
            let source = publisher.addr.map_or(self.config.media_addr, |(a, _)| a);
            tap.rtp(
                source,
                self.config.media_addr,
                &RtpFields::of(&pkt),
                &pkt.payload,
            );
        }
        let track = TrackKey {
            publisher: from,
            mid,
        };
        let Some(route) = self.routes.get_mut(&track) else {
            return;
        };
        let index = route.layer_index(rid);
        let layer = &mut route.layers[index];
        if !layer.seen.first(*pkt.seq_no) {
            Metrics::add(&self.metrics.rtp_duplicates, 1);
            return; // forwarded already (a retransmission of a late packet)
        }
        layer.ssrc = Some(pkt.header.ssrc);
        layer.view.last_at = Some(now);
        layer.measure(now, pkt.payload.len());
        let video = route.kind == MediaKind::Video;
        let start = if video {
            conclave_proto::vp8::frame_start(&pkt.payload)
        } else {
            None
        };
        let keyframe = start.is_some_and(|s| s.keyframe);
        if let Some((width, _)) = start.and_then(|s| s.size) {
            layer.view.width = width;
        }
        if keyframe {
            tracing::trace!(layer = index, width = layer.view.width, "key frame");
        }
        // A video frame's leading packets may wait for its last; anything
        // else makes the next flush due at once.
        if video && !pkt.header.marker {
            self.held_since.get_or_insert(now);
        } else {
            self.flush_due = true;
        }
        if video && self.config.direct_send {
            layer.remember(now, &pkt);
        }
        let seq: u64 = *pkt.seq_no;
        let ext = ExtensionValues {
            video_orientation: pkt.header.ext_vals.video_orientation,
            ..Default::default()
        };
        // A copy that ends a frame (or is audio) may go through str0m now and
        // then, so its sender reports map RTP time to wallclock correctly.
        let may_sync = !video || pkt.header.marker;
        let adversary = self.adversary.clone();
        let publisher_id = adversary.as_ref().map(|_| from.participant());
        let (mut forwarded, mut direct_copies, mut probe_copies) = (0, 0, 0);
        let simulcast = route.layers.len() > 1;
        let mut wanted: u8 = 0; // bit i: a subscriber waits for a key frame of layer i
        for sub in &mut route.subscriptions {
            let target = match sub.alloc {
                // The subscriber's estimate fits no layer: video pauses.
                Some(None) => {
                    sub.layer.pause();
                    continue;
                }
                Some(Some(cap)) => pick_capped(now, &route.layers, |l| &l.view, sub.max_width, cap),
                None if simulcast => pick(now, &route.layers, |l| &l.view, sub.max_width),
                None => Some(0),
            };
            // Moved down by its estimate: the current layer no longer fits
            // the path, so its packets stop now instead of keeping the
            // bottleneck's queue full (and the target's key frame stuck
            // behind it) until that key frame comes.
            let shed = matches!(sub.alloc, Some(Some(_)))
                && sub.layer.current() == Some(index)
                && target.is_some_and(|t| narrower(&route.layers, |l| &l.view, t, index));
            let before = sub.layer.current();
            let out = if shed {
                None
            } else {
                sub.layer
                    .on_packet(now, index, seq, pkt.header.timestamp, keyframe, target)
            };
            if out.is_some() && before != Some(index) && simulcast {
                tracing::debug!(
                    subscriber = %sub.subscriber.participant(),
                    from = ?before,
                    to = index,
                    alloc = ?sub.alloc,
                    "layer switched"
                );
            }
            let Some(out) = out else {
                if let Some(t) = target.filter(|t| Some(*t) != sub.layer.current()) {
                    wanted |= 1 << t.min(7);
                }
                continue; // another layer's, or older than this subscription
            };
            let Some(peer) = self.peers.get_mut(&sub.subscriber) else {
                continue;
            };
            let mut payload = &pkt.payload;
            let replaced;
            if let (Some(adversary), Some(publisher)) = (&adversary, &publisher_id) {
                let verdict = adversary.copy(&Outgoing {
                    publisher,
                    subscriber: &peer.participant,
                    video,
                    marker: pkt.header.marker,
                    payload,
                });
                match verdict {
                    Verdict::Forward => {}
                    Verdict::Drop => continue,
                    Verdict::Replace(p) => {
                        replaced = p;
                        payload = &replaced;
                    }
                }
            }
            let send_to = peer.send_to();
            let direct = match (peer.direct.as_mut(), send_to) {
                (Some(direct), Some(dest))
                    // str0m writes the video-orientation extension; the direct path writes none.
                    if ext.video_orientation.is_none() && !sub.sync_due(now, may_sync) =>
                {
                    let header = RtpOut {
                        marker: pkt.header.marker,
                        pt: *sub.pt,
                        index: out.seq,
                        timestamp: out.timestamp,
                        ssrc: sub.ssrc,
                        twcc: None,
                    };
                    let (header, len) =
                        numbered(now, peer.cc.as_mut(), direct, header, payload.len());
                    let more = video && !pkt.header.marker;
                    let buf = segment_buf(&mut peer.direct_out, dest, len, self.gso_segments, more);
                    direct.seal_into(&header, payload, buf);
                    // A probe runs: copies of this packet on the RTX stream
                    // (the subscriber drops them as duplicates) raise the rate.
                    if let (Some(cc), Some((rtx_ssrc, rtx_pt)), true) =
                        (peer.cc.as_mut(), sub.rtx, video)
                    {
                        let copies = cc.probe_copies(now, len + 2);
                        if copies > 0 {
                            let mut body = Vec::with_capacity(2 + payload.len());
                            body.extend_from_slice(&(out.seq as u16).to_be_bytes());
                            body.extend_from_slice(payload);
                            for _ in 0..copies {
                                let header = RtpOut {
                                    pt: rtx_pt,
                                    index: sub.rtx_seq,
                                    ssrc: rtx_ssrc,
                                    ..header
                                };
                                sub.rtx_seq += 1;
                                let (header, len) =
                                    numbered(now, Some(&mut *cc), direct, header, body.len());
                                let buf = segment_buf(
                                    &mut peer.direct_out,
                                    dest,
                                    len,
                                    self.gso_segments,
                                    more,
                                );
                                direct.seal_into(&header, &body, buf);
                            }
                            probe_copies += copies as u64;
                        }
                    }
                    true
                }
                (Some(_), Some(_)) => {
                    sub.via_str0m_at = Some(now);
                    false
                }
                _ => false,
            };
            if !direct {
                // With direct send the relay answers every NACK itself
                // (`retransmit`): str0m must never send on the RTX SSRC, whose
                // sequence numbers (SRTP nonces) the relay then owns alone.
                let nackable = video && !self.config.direct_send;
                let mut api = peer.rtc.direct_api();
                let Some(tx) = api.stream_tx_by_mid(sub.mid, None) else {
                    continue;
                };
                tx.write_rtp(
                    RtpWrite::new(
                        sub.pt,
                        out.seq.into(),
                        out.timestamp,
                        pkt.timestamp,
                        payload.clone(),
                    )
                    .marker(pkt.header.marker)
                    .nackable(nackable)
                    .ext_vals(ext.clone()),
                );
                peer.str0m_due = true;
            }
            forwarded += 1;
            direct_copies += u64::from(direct);
            if !peer.dirty {
                peer.dirty = true;
                self.dirty.push(sub.subscriber);
            }
        }
        Metrics::add(&self.metrics.rtp_forwarded, forwarded);
        if direct_copies > 0 {
            Metrics::add(&self.metrics.rtp_direct, direct_copies);
        }
        if probe_copies > 0 {
            Metrics::add(&self.metrics.probe_copies, probe_copies);
        }
        for layer in (0..8).filter(|i| wanted & (1 << i) != 0) {
            self.request_keyframe(now, track, Some(layer));
        }
    }

    /// Asks the publisher of `track` for a key frame of `layer` (every
    /// layer if `None`: a new subscriber), at most once per
    /// [`KEYFRAME_REQUEST_INTERVAL`] per layer.
    pub(super) fn request_keyframe(&mut self, now: Instant, track: TrackKey, layer: Option<usize>) {
        let Some(route) = self.routes.get_mut(&track) else {
            return;
        };
        let Some(p) = self.peers.get_mut(&track.publisher) else {
            return;
        };
        let mut asked = false;
        for (i, l) in route.layers.iter_mut().enumerate() {
            if layer.is_some_and(|want| want != i)
                || l.last_keyframe_request
                    .is_some_and(|t| now.saturating_duration_since(t) < KEYFRAME_REQUEST_INTERVAL)
            {
                continue;
            }
            let mut api = p.rtc.direct_api();
            let rx = match l.ssrc {
                Some(ssrc) => api.stream_rx(&ssrc),
                None => api.stream_rx_by_mid(track.mid, l.rid),
            };
            if let Some(rx) = rx {
                rx.request_keyframe(KeyframeRequestKind::Pli);
                tracing::trace!(publisher = %track.publisher.participant(), layer = i, "key frame asked");
                l.last_keyframe_request = Some(now);
                asked = true;
            }
        }
        if asked {
            self.mark_dirty(track.publisher);
        }
    }
}
