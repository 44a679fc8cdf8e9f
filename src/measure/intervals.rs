//! Interval histograms: the recorded phase cut into fixed slices of time, one latency histogram
//! per slice, so a run can be exported as an HdrHistogram interval log and its rate and tail
//! seen over time (a hiccup in one slice stands out against the others).
//!
//! Recording costs one comparison more than a plain histogram: the slice rolls over when a
//! message arrives past the slice's end, taking the next histogram from a pool made before the
//! clock started (a new HdrHistogram of this range is a 270 KB allocation that takes 70 to
//! 120 µs to zero here: made in the timed loop, it stalled an open-loop run every slice). Only
//! a run far longer than expected outgrows the pool and allocates at a roll. A stall longer
//! than a slice becomes one empty slice covering the silence.

use anyhow::{bail, Result};

use super::histogram::LatencyHistogram;

/// Slices are this long unless a run asks for longer ones.
pub const DEFAULT_INTERVAL_NS: u64 = 100_000_000;
/// A duration run is cut into at most about this many slices (longer runs get longer slices).
pub const MAX_INTERVALS: u64 = 100;
/// The most histograms a recorder makes ahead (about 28 MB: a duration run has at most
/// [`MAX_INTERVALS`] slices, plus a partial one and a silence).
pub const MAX_POOL: usize = MAX_INTERVALS as usize + 4;

/// One slice of the recorded phase.
#[derive(Clone, Debug)]
pub struct IntervalHistogram {
    /// `CLOCK_MONOTONIC` at the start and end of the slice (of the recording side).
    pub start_ns: u64,
    pub end_ns: u64,
    /// Latencies of the messages that arrived in it.
    pub histogram: LatencyHistogram,
}

impl IntervalHistogram {
    /// Messages per second that arrived in this slice.
    pub fn messages_per_s(&self) -> f64 {
        let ns = self.end_ns.saturating_sub(self.start_ns);
        if ns == 0 {
            0.0
        } else {
            self.histogram.len() as f64 * 1e9 / ns as f64
        }
    }
}

/// The slice length for a run: [`DEFAULT_INTERVAL_NS`], or a hundredth of a long duration run.
pub fn interval_for(duration_ns: Option<u64>) -> u64 {
    duration_ns.map_or(DEFAULT_INTERVAL_NS, |d| (d / MAX_INTERVALS).max(DEFAULT_INTERVAL_NS))
}

/// Records latencies into the slice their arrival falls in.
pub struct IntervalRecorder {
    length_ns: u64,
    start_ns: u64,
    end_ns: u64,
    current: LatencyHistogram,
    /// Histograms made ahead, for the next slices.
    pool: Vec<LatencyHistogram>,
    done: Vec<IntervalHistogram>,
}

impl IntervalRecorder {
    /// A recorder whose first slice starts at `start_ns`, with histograms made ahead for
    /// `expected_ns` of recording (at most [`MAX_POOL`]).
    pub fn new(start_ns: u64, length_ns: u64, expected_ns: u64) -> Self {
        let length_ns = length_ns.max(1);
        let slices = (expected_ns / length_ns).saturating_add(2).min(MAX_POOL as u64) as usize;
        IntervalRecorder {
            length_ns,
            start_ns,
            end_ns: start_ns.saturating_add(length_ns),
            current: LatencyHistogram::new(),
            pool: (0..slices).map(|_| LatencyHistogram::new()).collect(),
            done: Vec::with_capacity(slices * 2),
        }
    }

    /// Moves the first slice to start at `start_ns` (before anything is recorded: the recording
    /// phase starts later than the recorder was made, which allocates).
    pub fn restart(&mut self, start_ns: u64) {
        debug_assert!(self.done.is_empty() && self.current.is_empty(), "restart after recording");
        self.start_ns = start_ns;
        self.end_ns = start_ns.saturating_add(self.length_ns);
    }

    /// Records `latency_ns` for a message that arrived at `at_ns`.
    #[inline(always)]
    pub fn record(&mut self, at_ns: u64, latency_ns: u64) {
        if at_ns >= self.end_ns {
            self.roll(at_ns);
        }
        self.current.record(latency_ns);
    }

    /// Closes the current slice, and an empty one for any silence, so that `at_ns` falls in the
    /// new current slice.
    #[cold]
    fn roll(&mut self, at_ns: u64) {
        let next = self.pool.pop().unwrap_or_default();
        let full = std::mem::replace(&mut self.current, next);
        self.done.push(IntervalHistogram { start_ns: self.start_ns, end_ns: self.end_ns, histogram: full });
        let skipped = (at_ns - self.end_ns) / self.length_ns;
        if skipped > 0 {
            let silence_end = self.end_ns + skipped * self.length_ns;
            let empty = self.pool.pop().unwrap_or_default();
            self.done.push(IntervalHistogram {
                start_ns: self.end_ns,
                end_ns: silence_end,
                histogram: empty,
            });
            self.end_ns = silence_end;
        }
        self.start_ns = self.end_ns;
        self.end_ns = self.start_ns.saturating_add(self.length_ns);
    }

    /// Ends recording at `end_ns`: the whole run's histogram and its slices (the last one cut
    /// at `end_ns`, dropped if it is empty and shorter than a slice).
    pub fn finish(mut self, end_ns: u64) -> (LatencyHistogram, Vec<IntervalHistogram>) {
        let last_end = end_ns.clamp(self.start_ns, self.end_ns);
        if !self.current.is_empty() || last_end == self.end_ns {
            self.done.push(IntervalHistogram {
                start_ns: self.start_ns,
                end_ns: last_end,
                histogram: self.current,
            });
        }
        let mut total = LatencyHistogram::new();
        for i in &self.done {
            total.add(&i.histogram);
        }
        (total, self.done)
    }
}

/// Adds the slices of another concurrent pair to `mine`, slice by slice (pairs start within
/// microseconds of each other, so their slices line up to that).
pub fn absorb(mine: &mut Vec<IntervalHistogram>, other: Vec<IntervalHistogram>) {
    for (i, o) in other.into_iter().enumerate() {
        match mine.get_mut(i) {
            Some(m) => {
                m.histogram.add(&o.histogram);
                m.start_ns = m.start_ns.min(o.start_ns);
                m.end_ns = m.end_ns.max(o.end_ns);
            }
            None => mine.push(o),
        }
    }
}

/// The slices as one block for the control channel: per slice, start and end (u64 LE), the
/// length of the V2 histogram (u32 LE), then the histogram.
pub fn encode(intervals: &[IntervalHistogram]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in intervals {
        let h = i.histogram.to_bytes();
        out.extend_from_slice(&i.start_ns.to_le_bytes());
        out.extend_from_slice(&i.end_ns.to_le_bytes());
        out.extend_from_slice(&(h.len() as u32).to_le_bytes());
        out.extend_from_slice(&h);
    }
    out
}

/// Reads a block written by [`encode`]; anything else is an error, never a panic. Slices come
/// in the order they were recorded (each starts no earlier than the one before): the merge
/// and the interval log measure every slice from the first.
pub fn decode(mut bytes: &[u8]) -> Result<Vec<IntervalHistogram>> {
    let mut out: Vec<IntervalHistogram> = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 20 {
            bail!("interval block: {} trailing bytes are not a slice header", bytes.len());
        }
        let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        let (start_ns, end_ns) = (u64_at(bytes, 0), u64_at(bytes, 8));
        let len = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes")) as usize;
        if end_ns < start_ns {
            bail!("interval block: a slice ends ({end_ns}) before it starts ({start_ns})");
        }
        if let Some(before) = out.last().filter(|b| start_ns < b.start_ns) {
            bail!(
                "interval block: slice {} starts ({start_ns}) before the one before it ({})",
                out.len(),
                before.start_ns
            );
        }
        if bytes.len() - 20 < len {
            bail!("interval block: a slice announces {len} histogram bytes, {} remain", bytes.len() - 20);
        }
        let histogram = if len == 0 {
            LatencyHistogram::new()
        } else {
            LatencyHistogram::from_bytes(&bytes[20..20 + len])?
        };
        out.push(IntervalHistogram { start_ns, end_ns, histogram });
        bytes = &bytes[20 + len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_land_in_their_slice_and_silence_becomes_one_empty_slice() {
        let mut r = IntervalRecorder::new(1_000, 100, 0);
        r.record(1_000, 5); // slice [1000, 1100)
        r.record(1_099, 6);
        r.record(1_100, 7); // slice [1100, 1200)
        r.record(1_450, 8); // silence [1200, 1400), then slice [1400, 1500)
        let (total, slices) = r.finish(1_460);
        let spans: Vec<(u64, u64, u64)> =
            slices.iter().map(|s| (s.start_ns, s.end_ns, s.histogram.len())).collect();
        assert_eq!(spans, [(1_000, 1_100, 2), (1_100, 1_200, 1), (1_200, 1_400, 0), (1_400, 1_460, 1)]);
        assert_eq!(total.len(), 4);
        assert_eq!(total.stats().max, 8);
        assert_eq!(slices[0].messages_per_s(), 2.0 * 1e9 / 100.0);
    }

    #[test]
    fn an_empty_partial_last_slice_is_dropped() {
        let mut r = IntervalRecorder::new(0, 100, 0);
        r.record(10, 1);
        r.record(150, 1);
        let (_, slices) = r.finish(160);
        assert_eq!(slices.iter().map(|s| (s.start_ns, s.end_ns)).collect::<Vec<_>>(), [(0, 100), (100, 160)]);
        let r = IntervalRecorder::new(0, 100, 0);
        let (total, slices) = r.finish(40);
        assert!(total.is_empty());
        assert!(slices.is_empty(), "{slices:?}");
    }

    #[test]
    fn slices_survive_the_control_block_and_garbage_is_refused() {
        let mut r = IntervalRecorder::new(0, 1_000, 10_000);
        for k in 0..5_000u64 {
            r.record(k, 100 + k % 50);
        }
        let (_, slices) = r.finish(5_000);
        let back = decode(&encode(&slices)).unwrap();
        assert_eq!(back.len(), 5);
        for (a, b) in slices.iter().zip(&back) {
            assert_eq!((a.start_ns, a.end_ns), (b.start_ns, b.end_ns));
            assert_eq!(a.histogram.stats(), b.histogram.stats());
        }
        let block = encode(&slices);
        assert!(decode(&block[..block.len() - 1]).is_err());
        assert!(decode(&block[..7]).is_err());
        let mut backwards = block.clone();
        backwards[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode(&backwards).is_err());
    }

    #[test]
    fn the_histograms_of_an_expected_run_are_made_before_it_and_rolling_takes_them() {
        // 1000 ns expected in slices of 100: ten slices and two to spare, made now.
        let mut r = IntervalRecorder::new(0, 100, 1_000);
        assert_eq!(r.pool.len(), 12);
        for k in 0..10u64 {
            r.record(k * 100 + 50, 7);
        }
        assert_eq!(r.pool.len(), 3, "nine rolls took nine made-ahead histograms");
        let huge = IntervalRecorder::new(0, 1, u64::MAX);
        assert_eq!(huge.pool.len(), MAX_POOL, "the pool has a ceiling");
    }

    #[test]
    fn long_duration_runs_get_longer_slices() {
        assert_eq!(interval_for(None), DEFAULT_INTERVAL_NS);
        assert_eq!(interval_for(Some(1_000_000_000)), DEFAULT_INTERVAL_NS);
        assert_eq!(interval_for(Some(60_000_000_000)), 600_000_000);
    }
}
