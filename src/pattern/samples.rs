//! Per-message sample storage, sized and pre-faulted before the clock starts.

use super::{Params, Stop};
use crate::wire::Sample;

/// Sample storage sized and pre-faulted before the clock starts.
pub(super) struct SampleBuf {
    keep: bool,
    pub(super) v: Vec<Sample>,
}

impl SampleBuf {
    pub(super) fn new(keep: bool) -> Self {
        SampleBuf { keep, v: Vec::new() }
    }

    /// Makes room for `n` samples and touches every page, so recording never faults or grows.
    pub(super) fn prepare(&mut self, n: u64) {
        if self.keep {
            let n = n.min(1 << 28) as usize;
            self.v.resize(n, Sample::default());
            self.v.clear();
        }
    }

    #[inline(always)]
    pub(super) fn push(&mut self, s: Sample) {
        if self.keep {
            self.v.push(s);
        }
    }
}

/// Messages per second a run will go at: its rate, or the warm-up's, or a guess of 1M/s.
fn expected_rate(p: &Params, warmup_ns: u64) -> u64 {
    match (p.rate_per_s, p.warmup) {
        (Some(r), _) => r,
        (None, w) if w > 0 && warmup_ns > 0 => (w * 1_000_000_000 / warmup_ns).max(1),
        _ => 1_000_000,
    }
}

/// How long recording will last, plus half again: for sizing the interval recorder's pool.
pub(super) fn expected_recording_ns(p: &Params, warmup_ns: u64) -> u64 {
    let d = match p.stop {
        Stop::DurationNs(d) => d,
        Stop::Count(n) => {
            ((n as u128 * 1_000_000_000 / expected_rate(p, warmup_ns) as u128) as u64).max(p.min_duration_ns)
        }
    };
    d.saturating_add(d / 2)
}

/// How many samples a run will record: exact for a count (unless a minimum duration extends
/// it), estimated from the warm-up rate (plus half again) for a duration.
pub(super) fn expected_samples(p: &Params, warmup_ns: u64) -> u64 {
    let per_s = expected_rate(p, warmup_ns);
    let over = |d: u64| (per_s as u128 * d as u128 / 1_000_000_000 * 3 / 2) as u64 + 1024;
    match p.stop {
        Stop::Count(n) if p.min_duration_ns > 0 => n.max(over(p.min_duration_ns)),
        Stop::Count(n) => n,
        Stop::DurationNs(d) => over(d),
    }
}
