//! What the lying relay does to media: rules set over the control channel,
//! applied to each forwarded copy. Pure (no sockets, no clock), so the rules'
//! effect on a copy is unit-tested here; `main.rs` only carries commands in.
//!
//! Attacks (docs/design.md §1, "inject media or downgrade encryption"):
//! - `drop`: the copies never leave (silently stop one member's media)
//! - `forge`: every [`EVERY`]th copy has one byte of its ciphertext flipped,
//!   so it no longer authenticates (injected frames under a member's key id)
//! - `plaintext`: every [`EVERY`]th audio copy becomes a plain Opus frame
//!   with no SFrame at all (a downgrade); video copies pass
//! - `replay`: every [`EVERY`]th audio copy carries the payload of the
//!   [`REPLAY_DISTANCE`]th copy before it (a frame the receiver already
//!   had: inside its replay window); video copies pass
//! - `reflect` (a flag, not a rule): tracks published while it is on are
//!   also sent back to their publisher

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use conclave_relay::adversary::{Outgoing, Verdict};
use serde::Deserialize;

/// One copy in this many is changed by `forge`, `plaintext` and `replay`, so
/// the rest of the stream still plays and the page can name its true sender.
pub const EVERY: u64 = 4;
/// How many copies back a replayed audio payload comes from: 4 s of Opus,
/// inside the receiver's replay window (1024 frame counters, about 12 s),
/// and well past the 1.5 s within which pages take a repeat for a
/// retransmission race, even when a loaded receiver decrypted the original
/// a second late.
pub const REPLAY_DISTANCE: usize = 200;
/// An Opus frame (RFC 6716 §3.1: TOC 0xF8 = CELT fullband 20 ms, one frame)
/// of silence, sent in clear.
pub const PLAIN_OPUS: &[u8] = &[0xF8, 0xFF, 0xFE];

/// What a rule does to the copies it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Attack {
    /// Never forward them.
    Drop,
    /// Flip a ciphertext byte in some.
    Forge,
    /// Replace some audio with plain Opus.
    Plaintext,
    /// Replace some audio with earlier audio.
    Replay,
}

impl Attack {
    fn name(self) -> &'static str {
        match self {
            Attack::Drop => "drop",
            Attack::Forge => "forge",
            Attack::Plaintext => "plaintext",
            Attack::Replay => "replay",
        }
    }
}

/// Which copies a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// What to do.
    pub attack: Attack,
    /// The publisher's participant id.
    pub from: String,
    /// The subscriber's participant id; every subscriber if absent.
    #[serde(default)]
    pub to: Option<String>,
    /// `audio` or `video`; both if absent.
    #[serde(default)]
    pub kind: Option<String>,
}

impl Rule {
    fn matches(&self, copy: &Outgoing<'_>) -> bool {
        self.from == copy.publisher.0
            && self.to.as_ref().is_none_or(|to| *to == copy.subscriber.0)
            && self
                .kind
                .as_deref()
                .is_none_or(|k| (k == "video") == copy.video)
    }
}

/// A command on the control channel (one JSON object per line).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum Command {
    /// Add a rule.
    Rule(Rule),
    /// Remove every rule.
    Clear,
    /// Turn reflection on or off for tracks published from now on.
    Reflect(bool),
    /// Report how many copies each attack changed.
    Counts,
}

/// The rules and what they did.
#[derive(Debug, Default)]
pub struct Attacks {
    rules: Vec<(Rule, u64)>,
    reflect: bool,
    /// Recent audio payloads per (publisher, subscriber), for `replay`.
    history: HashMap<(String, String), VecDeque<Arc<[u8]>>>,
    counts: HashMap<&'static str, u64>,
}

impl Attacks {
    /// Applies a control command; returns the reply line.
    pub fn command(&mut self, cmd: Command) -> String {
        match cmd {
            Command::Rule(rule) => {
                if rule
                    .kind
                    .as_deref()
                    .is_some_and(|k| k != "audio" && k != "video")
                {
                    return "error: kind must be \"audio\" or \"video\"".into();
                }
                self.rules.push((rule, 0));
                "ok".into()
            }
            Command::Clear => {
                self.rules.clear();
                "ok".into()
            }
            Command::Reflect(on) => {
                self.reflect = on;
                "ok".into()
            }
            Command::Counts => {
                let counts: serde_json::Map<String, serde_json::Value> = self
                    .counts
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), (*v).into()))
                    .collect();
                serde_json::Value::Object(counts).to_string()
            }
        }
    }

    /// Whether new tracks go back to their publisher.
    pub fn reflect(&self) -> bool {
        self.reflect
    }

    /// The first matching rule decides a copy's fate.
    pub fn verdict(&mut self, copy: &Outgoing<'_>) -> Verdict {
        let key = (copy.publisher.0.clone(), copy.subscriber.0.clone());
        let earlier = if copy.video {
            None
        } else {
            let history = self.history.entry(key).or_default();
            let earlier = history
                .len()
                .checked_sub(REPLAY_DISTANCE)
                .map(|i| history[i].clone());
            history.push_back(copy.payload.clone());
            if history.len() > REPLAY_DISTANCE {
                history.pop_front();
            }
            earlier
        };
        let Some((rule, seen)) = self.rules.iter_mut().find(|(r, _)| r.matches(copy)) else {
            return Verdict::Forward;
        };
        *seen += 1;
        let chosen = *seen % EVERY == 0;
        let verdict = match rule.attack {
            Attack::Drop => Verdict::Drop,
            Attack::Forge if chosen && !copy.payload.is_empty() => {
                let mut forged = copy.payload.to_vec();
                let last = forged.len() - 1;
                forged[last] ^= 0x5a;
                Verdict::Replace(forged.into())
            }
            Attack::Plaintext if chosen && !copy.video => Verdict::Replace(PLAIN_OPUS.into()),
            Attack::Replay if chosen => match earlier {
                Some(old) => Verdict::Replace(old),
                None => Verdict::Forward,
            },
            _ => Verdict::Forward,
        };
        if verdict != Verdict::Forward {
            *self.counts.entry(rule.attack.name()).or_default() += 1;
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_proto::ParticipantId;

    fn copy<'a>(
        from: &'a ParticipantId,
        to: &'a ParticipantId,
        video: bool,
        payload: &'a Arc<[u8]>,
    ) -> Outgoing<'a> {
        Outgoing {
            publisher: from,
            subscriber: to,
            video,
            marker: true,
            payload,
        }
    }

    fn rule(line: &str) -> Command {
        serde_json::from_str(line).expect("a valid command")
    }

    #[test]
    fn no_rule_forwards_everything() {
        let mut a = Attacks::default();
        let (alice, bob) = (ParticipantId("a".into()), ParticipantId("b".into()));
        let p: Arc<[u8]> = vec![1, 2, 3].into();
        for video in [false, true] {
            assert_eq!(a.verdict(&copy(&alice, &bob, video, &p)), Verdict::Forward);
        }
    }

    #[test]
    fn drop_matches_publisher_subscriber_and_kind_only() {
        let mut a = Attacks::default();
        assert_eq!(
            a.command(rule(
                r#"{"rule":{"attack":"drop","from":"a","to":"c","kind":"video"}}"#
            )),
            "ok"
        );
        let (alice, bob, carol) = (
            ParticipantId("a".into()),
            ParticipantId("b".into()),
            ParticipantId("c".into()),
        );
        let p: Arc<[u8]> = vec![1, 2, 3].into();
        assert_eq!(a.verdict(&copy(&alice, &carol, true, &p)), Verdict::Drop);
        assert_eq!(
            a.verdict(&copy(&alice, &carol, false, &p)),
            Verdict::Forward
        );
        assert_eq!(a.verdict(&copy(&alice, &bob, true, &p)), Verdict::Forward);
        assert_eq!(a.verdict(&copy(&bob, &carol, true, &p)), Verdict::Forward);
        a.command(Command::Clear);
        assert_eq!(a.verdict(&copy(&alice, &carol, true, &p)), Verdict::Forward);
        assert_eq!(a.command(Command::Counts), r#"{"drop":1}"#);
    }

    #[test]
    fn forge_flips_the_last_byte_of_every_fourth_copy() {
        let mut a = Attacks::default();
        a.command(rule(r#"{"rule":{"attack":"forge","from":"a"}}"#));
        let (alice, bob) = (ParticipantId("a".into()), ParticipantId("b".into()));
        let p: Arc<[u8]> = vec![1, 2, 3].into();
        let verdicts: Vec<Verdict> = (0..8)
            .map(|_| a.verdict(&copy(&alice, &bob, false, &p)))
            .collect();
        let forged: Arc<[u8]> = vec![1, 2, 3 ^ 0x5a].into();
        for (i, v) in verdicts.iter().enumerate() {
            let want = if (i + 1) % 4 == 0 {
                Verdict::Replace(forged.clone())
            } else {
                Verdict::Forward
            };
            assert_eq!(*v, want, "copy {i}");
        }
    }

    #[test]
    fn replay_sends_an_audio_payload_the_receiver_already_had() {
        let mut a = Attacks::default();
        a.command(rule(
            r#"{"rule":{"attack":"replay","from":"a","kind":"audio"}}"#,
        ));
        let (alice, bob) = (ParticipantId("a".into()), ParticipantId("b".into()));
        let sent: Vec<Arc<[u8]>> = (0..REPLAY_DISTANCE as u32 + 60)
            .map(|i| i.to_be_bytes().to_vec().into())
            .collect();
        let mut replays = 0;
        for (i, p) in sent.iter().enumerate() {
            if let Verdict::Replace(old) = a.verdict(&copy(&alice, &bob, false, p)) {
                assert_eq!(old, sent[i - REPLAY_DISTANCE], "copy {i}");
                replays += 1;
            }
        }
        assert!(replays >= 8, "{replays} replays");
    }

    #[test]
    fn plaintext_replaces_audio_only() {
        let mut a = Attacks::default();
        a.command(rule(r#"{"rule":{"attack":"plaintext","from":"a"}}"#));
        let (alice, bob) = (ParticipantId("a".into()), ParticipantId("b".into()));
        let p: Arc<[u8]> = vec![9; 40].into();
        let audio: Vec<Verdict> = (0..4)
            .map(|_| a.verdict(&copy(&alice, &bob, false, &p)))
            .collect();
        assert_eq!(audio[3], Verdict::Replace(PLAIN_OPUS.into()));
        let video: Vec<Verdict> = (0..4)
            .map(|_| a.verdict(&copy(&alice, &bob, true, &p)))
            .collect();
        assert!(video.iter().all(|v| *v == Verdict::Forward));
    }

    #[test]
    fn bad_commands_are_refused() {
        let mut a = Attacks::default();
        assert!(a
            .command(rule(
                r#"{"rule":{"attack":"drop","from":"a","kind":"data"}}"#
            ))
            .starts_with("error"));
        assert!(
            serde_json::from_str::<Command>(r#"{"rule":{"attack":"melt","from":"a"}}"#).is_err()
        );
        assert!(a.command(rule(r#"{"reflect":true}"#)) == "ok" && a.reflect());
    }
}
