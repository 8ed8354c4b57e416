//! The benchmark scenarios: who publishes, who receives what.
//!
//! - `fanout` (the default, issue 5): one publisher of one 1.5 Mbit/s video
//!   stream + audio, N receive-only subscribers.
//! - `meeting` (issue 12 §7): N participants, each publishing audio and
//!   simulcast video (3 layers) and receiving every other participant: N ×
//!   (N − 1) subscriptions. Each asks the relay for one width for all the
//!   tracks it receives, as the web client does for a grid of tiles.
//! - `webinar` (issue 12 §7): one simulcast publisher, N receive-only viewers
//!   asking for different widths (by default a third each at 320, 640 and
//!   unlimited), so the relay forwards different layers to different viewers.

use anyhow::{bail, Context, Result};

/// Which scenario a point runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// 1 publisher (one layer), N receive-only subscribers.
    Fanout,
    /// N participants, everyone publishing simulcast and receiving everyone else.
    Meeting,
    /// 1 simulcast publisher, N viewers on mixed layers.
    Webinar,
}

impl Scenario {
    /// Its name in the results.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Fanout => "fanout",
            Scenario::Meeting => "meeting",
            Scenario::Webinar => "webinar",
        }
    }

    /// Tracks the relay forwards with `n` subscribers / participants (audio
    /// and video each count).
    pub fn tracks(self, n: usize) -> usize {
        match self {
            Scenario::Fanout | Scenario::Webinar => 2 * n,
            Scenario::Meeting => 2 * n * n.saturating_sub(1),
        }
    }

    /// Publishers each receiver must be getting frames from before the
    /// window starts.
    pub fn sources_per_receiver(self, n: usize) -> usize {
        match self {
            Scenario::Meeting => n.saturating_sub(1),
            _ => 1,
        }
    }

    /// The widths receivers ask for unless told otherwise (cycled over them;
    /// 0: no limit). The meeting's 640 is what the web client asks for a
    /// grid tile of 321-640 device pixels (crates/web `simulcast.js`): 4 to 25
    /// tiles on a 1080p screen.
    pub fn default_widths(self) -> Vec<u16> {
        match self {
            Scenario::Fanout => Vec::new(),
            Scenario::Meeting => vec![640],
            Scenario::Webinar => vec![320, 640, 0],
        }
    }
}

/// Parses `--widths`: comma-separated pixel widths, 0 for no limit.
pub fn parse_widths(s: &str) -> Result<Vec<u16>> {
    let widths = s
        .split(',')
        .map(|w| w.trim())
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.parse::<u16>()
                .with_context(|| format!("--widths: {w:?} is not a width in pixels (0-65535)"))
        })
        .collect::<Result<Vec<u16>>>()?;
    if widths.is_empty() {
        bail!("--widths needs at least one width, e.g. 320,640,0");
    }
    Ok(widths)
}

/// The width receiver `i` asks for: `widths` cycled (none if empty).
pub fn width_for(widths: &[u16], i: usize) -> Option<u16> {
    (!widths.is_empty()).then(|| widths[i % widths.len()])
}

/// The video m-lines an SDP offer from the relay sends on (`a=sendonly` or
/// `a=sendrecv`), by mid: the tracks a receiver gets and may ask a width for.
pub fn sent_video_mids(sdp: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut section: Option<(bool, Option<String>, bool)> = None; // (video, mid, sends)
    let mut close = |s: Option<(bool, Option<String>, bool)>| {
        if let Some((true, Some(mid), true)) = s {
            out.push(mid);
        }
    };
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            close(section.take());
            section = Some((m.starts_with("video "), None, false));
        } else if let Some((_, mid, sends)) = section.as_mut() {
            if let Some(v) = line.strip_prefix("a=mid:") {
                *mid = Some(v.to_string());
            } else if line == "a=sendonly" || line == "a=sendrecv" {
                *sends = true;
            }
        }
    }
    close(section);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meeting_forwards_everyone_to_everyone_else() {
        assert_eq!(Scenario::Meeting.tracks(10), 180);
        assert_eq!(Scenario::Meeting.sources_per_receiver(25), 24);
        assert_eq!(Scenario::Webinar.tracks(50), 100);
        assert_eq!(Scenario::Fanout.sources_per_receiver(100), 1);
    }

    #[test]
    fn widths_cycle_over_receivers() {
        let w = parse_widths("320, 640,0").unwrap();
        let got: Vec<Option<u16>> = (0..4).map(|i| width_for(&w, i)).collect();
        assert_eq!(got, [Some(320), Some(640), Some(0), Some(320)]);
        assert_eq!(width_for(&[], 3), None);
        assert!(parse_widths("wide").is_err());
        assert!(parse_widths("").is_err());
    }

    #[test]
    fn only_video_the_relay_sends_gets_a_width() {
        let sdp = "v=0\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=recvonly\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=recvonly\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:2\r\na=sendonly\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\na=mid:3\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:x7\r\na=inactive\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:9\r\na=sendrecv\r\n";
        assert_eq!(sent_video_mids(sdp), ["3", "9"]);
    }
}
