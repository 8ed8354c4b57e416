//! SDP with each connection: the client's one offer, then the relay's
//! offers for every track it subscribes to or drops (only the relay offers
//! after the first, so there is no glare).

use std::borrow::Cow;
use std::time::Instant;

use conclave_proto::{ErrorCode, ServerMsg};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind};
use str0m::Rtc;

use super::congestion::Congestion;
use super::ids::{PeerKey, TrackKey};
use super::layers::LayerSwitch;
use super::peer::Change;
use super::track::{Subscription, RTX_CACHE_AGE, RTX_CACHE_PACKETS};
use super::Sfu;

impl Sfu {
    pub(super) fn accept_offer(&mut self, now: Instant, key: PeerKey, sdp: &str) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if peer.offered {
            return self.error(
                key,
                ErrorCode::OutOfOrder,
                "this connection already sent its offer; answer the relay's offers instead",
            );
        }
        let (sdp, twcc) = own_twcc(
            self.config.congestion_control && self.config.direct_send,
            sdp,
        );
        let offer = match SdpOffer::from_sdp_string(&sdp) {
            Ok(o) => o,
            Err(e) => {
                return self.error(
                    key,
                    ErrorCode::BadSdp,
                    &format!("the offer is not valid SDP: {e}"),
                )
            }
        };
        let answer = match peer.rtc.sdp_api().accept_offer(offer) {
            Ok(a) => a,
            Err(e) => {
                return self.error(
                    key,
                    ErrorCode::BadSdp,
                    &format!("the offer cannot be used: {e}"),
                );
            }
        };
        peer.offered = true;
        if let (None, Some(id)) = (&peer.cc, twcc) {
            peer.cc = Congestion::new(now, id);
        }
        peer.send(ServerMsg::Answer {
            sdp: answer.to_sdp_string(),
        });
        // The newcomer receives every track already published in the room.
        let room = peer.room.clone();
        let existing: Vec<Change> = self.rooms[&room]
            .peers
            .iter()
            .filter(|k| **k != key)
            .filter_map(|k| self.peers.get(k).map(|p| (*k, p)))
            .flat_map(|(k, p)| {
                p.published.iter().map(move |(mid, kind)| {
                    Change::Subscribe(
                        TrackKey {
                            publisher: k,
                            mid: *mid,
                        },
                        *kind,
                    )
                })
            })
            .collect();
        if let Some(peer) = self.peers.get_mut(&key) {
            peer.queued.extend(existing);
        }
        // MediaAdded events for its own tracks come out of the Rtc now.
        self.drive(now, key);
        self.renegotiate(key);
    }

    pub(super) fn accept_answer(&mut self, now: Instant, key: PeerKey, sdp: &str) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let Some(pending) = peer.pending_offer.take() else {
            return self.error(
                key,
                ErrorCode::OutOfOrder,
                "no offer from the relay is waiting for an answer",
            );
        };
        let (sdp, twcc) = own_twcc(
            self.config.congestion_control && self.config.direct_send,
            sdp,
        );
        let answer = match SdpAnswer::from_sdp_string(&sdp) {
            Ok(a) => a,
            Err(e) => {
                peer.pending_offer = Some(pending);
                return self.error(
                    key,
                    ErrorCode::BadSdp,
                    &format!("the answer is not valid SDP: {e}"),
                );
            }
        };
        if let Err(e) = peer.rtc.sdp_api().accept_answer(pending, answer) {
            // The offer is spent; retry its subscriptions in a fresh offer.
            let retry: Vec<Change> = peer
                .in_flight
                .drain(..)
                .map(|(_, t, kind)| Change::Subscribe(t, kind))
                .collect();
            peer.queued.extend(retry);
            self.error(
                key,
                ErrorCode::BadSdp,
                &format!("the answer cannot be used: {e}"),
            );
            self.renegotiate(key);
            return;
        }
        if let (None, Some(id)) = (&peer.cc, twcc) {
            peer.cc = Congestion::new(now, id);
        }
        let in_flight = std::mem::take(&mut peer.in_flight);
        let pt_for = |rtc: &Rtc, kind: MediaKind| {
            let codec = if kind == MediaKind::Audio {
                Codec::Opus
            } else {
                Codec::Vp8
            };
            rtc.codec_config()
                .params()
                .iter()
                .find(|p| p.spec().codec == codec)
                .map(|p| p.pt())
        };
        let mut keyframes = Vec::new();
        for (mid, track, kind) in in_flight {
            let Some(peer) = self.peers.get_mut(&key) else {
                return;
            };
            let (Some(route), Some(pt)) = (self.routes.get_mut(&track), pt_for(&peer.rtc, kind))
            else {
                // The publisher left while the offer was out.
                peer.queued.push(Change::Unsubscribe(mid));
                continue;
            };
            let mut api = peer.rtc.direct_api();
            let Some(tx) = api.stream_tx_by_mid(mid, None) else {
                peer.queued.push(Change::Unsubscribe(mid));
                continue;
            };
            // str0m keeps 3 s / 1024 packets by default: far more memory per track.
            tx.set_rtx_cache(RTX_CACHE_PACKETS, RTX_CACHE_AGE, Some(0.15));
            let ssrc = *tx.ssrc();
            let rtx_ssrc = tx.rtx().map(|s| *s);
            let rtx_pt = peer
                .rtc
                .codec_config()
                .params()
                .iter()
                .find(|p| p.pt() == pt)
                .and_then(|p| p.resend());
            peer.receiving.insert(mid, track);
            peer.sending.insert(ssrc, mid);
            route.subscriptions.push(Subscription {
                subscriber: key,
                mid,
                pt,
                layer: LayerSwitch::default(),
                max_width: None,
                ssrc,
                rtx: rtx_ssrc.zip(rtx_pt.map(|p| *p)),
                rtx_seq: 0,
                rtx_window: (now, 0),
                via_str0m_at: None,
                alloc: None,
            });
            if kind == MediaKind::Video {
                keyframes.push(track);
            }
        }
        // A new subscriber can decode nothing until the next key frame.
        for track in keyframes {
            self.request_keyframe(now, track, None);
        }
        self.renegotiate(key);
    }

    /// Sends the next relay offer if one is needed and none is outstanding:
    /// only the relay offers after the client's first offer, so there is no glare.
    pub(super) fn renegotiate(&mut self, key: PeerKey) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if !peer.offered
            || peer.pending_offer.is_some()
            || peer.queued.is_empty()
            || peer.media_lost.is_some()
        {
            return;
        }
        let cc = self.config.congestion_control && self.config.direct_send;
        let queued = std::mem::take(&mut peer.queued);
        let mut api = peer.rtc.sdp_api();
        let mut in_flight = Vec::new();
        for change in queued {
            match change {
                Change::Subscribe(track, kind) => {
                    if !self.routes.contains_key(&track) {
                        continue;
                    }
                    let stream = track.publisher.participant().0;
                    let track_id = format!("{stream}-{}", track.mid);
                    let mid = api.add_media(
                        kind,
                        Direction::SendOnly,
                        Some(stream),
                        Some(track_id),
                        None,
                    );
                    in_flight.push((mid, track, kind));
                }
                Change::Unsubscribe(mid) => api.stop_media(mid),
            }
        }
        if let Some((offer, pending)) = api.apply() {
            peer.pending_offer = Some(pending);
            peer.in_flight = in_flight;
            let sdp = offer.to_sdp_string();
            peer.send(ServerMsg::Offer {
                sdp: if cc { sdp } else { without_send_twcc(&sdp) },
            });
        }
    }
}

/// Removes transport-wide congestion control from the m-lines the relay sends
/// on, when it runs no congestion control (`--congestion-control false`), so
/// per-packet TWCC sequence numbers, the subscriber's feedback and str0m's
/// send-side record of it (~90 KB per peer) would be work for nothing. The
/// m-lines a client publishes on keep TWCC: its browser's estimator needs the
/// relay's feedback.
fn without_send_twcc(sdp: &str) -> String {
    without_twcc(sdp, "a=sendonly").0
}

/// A client's SDP as str0m is to read it, and the transport-wide sequence
/// number's extension id in it if the relay runs congestion control (`cc`)
/// for what it sends this client ([`without_recv_twcc`]); unchanged otherwise.
fn own_twcc(cc: bool, sdp: &str) -> (Cow<'_, str>, Option<u8>) {
    if cc {
        let (sdp, id) = without_recv_twcc(sdp);
        (Cow::Owned(sdp), id)
    } else {
        (Cow::Borrowed(sdp), None)
    }
}

/// The URI of the transport-wide sequence number header extension.
const TWCC_URI: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

/// Takes transport-wide congestion control out of the m-lines of a client's
/// SDP on which the client receives (`a=recvonly`), before str0m reads it;
/// returns the SDP and the extension's id there.
///
/// The relay seals almost every copy it forwards itself (`crate::srtp`) and
/// numbers those copies in one transport-wide sequence of its own
/// (`congestion.rs`), from which the client's feedback drives the relay's
/// estimate of its downlink (`crate::bwe`). str0m, which sends the rest (a
/// copy now and then for its sender reports), must then not number its
/// packets in a second sequence on the same transport: it numbers only
/// where the client's SDP, as str0m reads it, has the extension. The client
/// still sees the extension in the relay's offers and answers, so it
/// numbers what it publishes and sends feedback on what it receives.
fn without_recv_twcc(sdp: &str) -> (String, Option<u8>) {
    without_twcc(sdp, "a=recvonly")
}

/// Takes the transport-wide sequence number extension and `transport-cc`
/// feedback out of the m-sections whose direction line is `direction`;
/// returns the SDP and the extension's id in those sections.
fn without_twcc(sdp: &str, direction: &str) -> (String, Option<u8>) {
    let mut out = String::with_capacity(sdp.len());
    let mut id = None;
    // Sections start at "m=" lines; the session part comes first.
    let mut rest = sdp;
    while !rest.is_empty() {
        let end = rest[1..]
            .find("\r\nm=")
            .map(|i| i + 3)
            .unwrap_or(rest.len());
        let (section, tail) = rest.split_at(end);
        rest = tail;
        let matches =
            section.starts_with("m=") && section.split("\r\n").any(|line| line == direction);
        if !matches {
            out.push_str(section);
            continue;
        }
        for line in section.split_inclusive("\r\n") {
            let ext = line
                .strip_prefix("a=extmap:")
                .filter(|l| l.trim_end().ends_with(TWCC_URI));
            if let Some(ext) = ext {
                // "3 URI" or "3/recvonly URI".
                let number = ext.split([' ', '/']).next();
                id = id.or(number.and_then(|n| n.parse::<u8>().ok()));
                continue;
            }
            let feedback =
                line.starts_with("a=rtcp-fb:") && line.trim_end().ends_with(" transport-cc");
            if !feedback {
                out.push_str(line);
            }
        }
    }
    (out, id)
}

#[cfg(test)]
mod tests {
    use super::{without_recv_twcc, without_send_twcc};

    #[test]
    fn twcc_is_dropped_only_where_the_relay_sends() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\na=group:BUNDLE 0 1\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n\
            a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
            a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=recvonly\r\n\
            a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 transport-cc\r\na=rtcp-fb:96 nack\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n\
            a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
            a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=sendonly\r\n\
            a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 transport-cc\r\na=rtcp-fb:96 nack\r\n";
        let out = without_send_twcc(sdp);
        let (published, sent) = out.split_at(out.find("a=mid:1").expect("second m-line"));
        assert!(published.contains("transport-wide-cc") && published.contains("96 transport-cc"));
        assert!(!sent.contains("transport-wide-cc") && !sent.contains("transport-cc"));
        assert!(sent.contains("sdes:mid") && sent.contains("a=rtcp-fb:96 nack\r\n"));
        let removed = sdp.len() - out.len();
        let expected = "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n".len()
            + "a=rtcp-fb:96 transport-cc\r\n".len();
        assert_eq!(removed, expected, "{out}");
    }

    #[test]
    fn twcc_is_hidden_from_str0m_only_where_the_client_receives() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\na=group:BUNDLE 0 1\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n\
            a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
            a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=sendonly\r\n\
            a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 transport-cc\r\na=rtcp-fb:96 nack\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n\
            a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
            a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=recvonly\r\n\
            a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 transport-cc\r\na=rtcp-fb:96 nack\r\n";
        let (out, id) = without_recv_twcc(sdp);
        assert_eq!(id, Some(3));
        let (published, received) = out.split_at(out.find("a=mid:1").expect("second m-line"));
        assert!(published.contains("transport-wide-cc") && published.contains("96 transport-cc"));
        assert!(!received.contains("transport-wide-cc") && !received.contains("transport-cc"));
        assert!(received.contains("sdes:mid") && received.contains("a=rtcp-fb:96 nack\r\n"));
        let removed = sdp.len() - out.len();
        let expected = "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n".len()
            + "a=rtcp-fb:96 transport-cc\r\n".len();
        assert_eq!(removed, expected, "{out}");
        // No receiving m-line: nothing changes, no id.
        let (same, none) = without_recv_twcc(
            &sdp[..sdp
                .find("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1")
                .expect("m")],
        );
        assert_eq!(none, None);
        assert!(same.contains("transport-cc"));
        // An id that is not a number is ignored, not trusted.
        let (_, bad) = without_recv_twcc(&sdp.replace("a=extmap:3 http", "a=extmap:x http"));
        assert_eq!(bad, None);
    }
}
