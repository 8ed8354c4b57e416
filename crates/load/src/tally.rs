//! Reducing what receivers saw to the figures of a point: delivery (share
//! of the frames each receiver should have got, on whichever layer), the
//! latencies of those frames, and which simulcast layer each subscription
//! ended up on. Pure: frame records in, numbers out.

use crate::receive::Got;

/// The measurement window: frame numbers `first..end` (every publisher
/// numbers its frames from one shared clock), and the publishers that were
/// sending when it began.
#[derive(Debug, Clone)]
pub struct Window {
    pub first: u32,
    pub end: u32,
    pub sources: Vec<u16>,
}

impl Window {
    /// Frames each publisher sent in the window.
    pub fn frames(&self) -> usize {
        self.end.saturating_sub(self.first) as usize
    }
}

/// One receiver's share of the window.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverTally {
    /// Distinct frames received ÷ frames expected (every frame of every
    /// publisher in the window but the receiver itself); 0 if none expected.
    pub delivery: f64,
    /// Latency of each counted frame, µs (the first copy of each).
    pub lat_us: Vec<u32>,
    /// Per expected publisher, the layer most of its frames came on
    /// (`None`: none came).
    pub layers: Vec<Option<u8>>,
}

/// What receiver `me` (its own peer index: a meeting participant does not
/// receive itself) got of the window, from its complete frames.
pub fn receiver(frames: &[Got], me: u16, w: &Window) -> ReceiverTally {
    let sources: Vec<u16> = w.sources.iter().copied().filter(|s| *s != me).collect();
    let sent = w.frames();
    let mut got = vec![false; sent * sources.len()];
    let mut per_layer = vec![[0usize; 256]; sources.len()];
    let mut lat_us = Vec::new();
    let mut count = 0usize;
    for f in frames {
        if f.number < w.first || f.number >= w.end {
            continue;
        }
        let Some(si) = sources.iter().position(|s| *s == f.source) else {
            continue;
        };
        let slot = si * sent + (f.number - w.first) as usize;
        if got[slot] {
            continue;
        }
        got[slot] = true;
        count += 1;
        lat_us.push(f.lat_us);
        per_layer[si][f.layer as usize] += 1;
    }
    let layers = per_layer
        .iter()
        .map(|counts| {
            let (layer, n) = counts
                .iter()
                .enumerate()
                .max_by_key(|(i, n)| (**n, std::cmp::Reverse(*i)))?;
            (*n > 0).then_some(layer as u8)
        })
        .collect();
    let expected = sent * sources.len();
    ReceiverTally {
        delivery: if expected == 0 {
            0.0
        } else {
            count as f64 / expected as f64
        },
        lat_us,
        layers,
    }
}

/// How many subscriptions ended up on each of `n_layers` layers (lowest
/// first); subscriptions that received nothing are not counted.
pub fn on_layers<'a>(
    tallies: impl IntoIterator<Item = &'a ReceiverTally>,
    n_layers: usize,
) -> Vec<usize> {
    let mut counts = vec![0usize; n_layers];
    for t in tallies {
        for l in t.layers.iter().flatten() {
            if let Some(c) = counts.get_mut(*l as usize) {
                *c += 1;
            }
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn got(source: u16, number: u32, layer: u8) -> Got {
        Got {
            source,
            number,
            layer,
            lat_us: number * 10,
        }
    }

    fn window() -> Window {
        Window {
            first: 100,
            end: 110,
            sources: vec![0, 1, 2],
        }
    }

    #[test]
    fn a_participant_expects_everyone_but_itself() {
        // Receiver 1 gets all 10 frames of 0 and 5 of 2: 15 of 20.
        let mut frames: Vec<Got> = (100..110).map(|n| got(0, n, 2)).collect();
        frames.extend((100..105).map(|n| got(2, n, 0)));
        let t = receiver(&frames, 1, &window());
        assert_eq!(t.delivery, 0.75);
        assert_eq!(t.lat_us.len(), 15);
        assert_eq!(t.layers, [Some(2), Some(0)]);
    }

    #[test]
    fn frames_outside_the_window_duplicates_and_strangers_do_not_count() {
        let frames = vec![
            got(0, 99, 0),
            got(0, 110, 0),
            got(0, 100, 0),
            got(0, 100, 1), // the same frame again, on another layer
            got(7, 101, 0), // not a publisher of the window
            got(1, 101, 0), // itself
        ];
        let t = receiver(&frames, 1, &window());
        assert_eq!(t.delivery, 1.0 / 20.0);
        assert_eq!(t.lat_us, [1000]);
        assert_eq!(t.layers, [Some(0), None]);
    }

    #[test]
    fn a_fanout_subscriber_expects_the_one_publisher() {
        let w = Window {
            first: 0,
            end: 4,
            sources: vec![0],
        };
        let frames: Vec<Got> = [0, 1, 3].iter().map(|n| got(0, *n, 0)).collect();
        assert_eq!(receiver(&frames, 5, &w).delivery, 0.75);
        let nothing = Window {
            sources: vec![],
            ..w
        };
        assert_eq!(receiver(&frames, 5, &nothing).delivery, 0.0);
    }

    #[test]
    fn a_switch_counts_where_most_frames_came() {
        // 3 frames on layer 0, then 7 on layer 2 after a switch.
        let frames: Vec<Got> = (100..110)
            .map(|n| got(0, n, if n < 103 { 0 } else { 2 }))
            .collect();
        let a = receiver(&frames, 1, &window());
        let b = receiver(&[got(0, 100, 1)], 2, &window());
        assert_eq!(a.layers[0], Some(2));
        assert_eq!(on_layers([&a, &b], 3), [0, 1, 1]);
    }
}
