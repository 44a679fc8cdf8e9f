//! Per-message sample recording for the streams, into a bounded pool made before the clock
//! starts ([`crate::measure::sample_pool`]), and the sizing of what a run records ahead.

use super::{Params, Stop};
use crate::measure::sample_pool::{Recorder, SamplePool};
use crate::wire::Sample;

/// A timed loop's sample recording: into a pool when the streams want samples, else nothing.
pub(super) struct SampleBuf<'a> {
    rec: Option<Recorder<'a>>,
}

impl<'a> SampleBuf<'a> {
    pub(super) fn new(pool: Option<&'a SamplePool>) -> Self {
        SampleBuf { rec: pool.map(SamplePool::recorder) }
    }

    #[inline(always)]
    pub(super) fn push(&mut self, s: Sample) {
        if let Some(r) = &mut self.rec {
            r.push(s);
        }
    }

    /// Hands the last block on; how many samples the pool had no room for.
    pub(super) fn finish(self) -> u64 {
        self.rec.map_or(0, Recorder::finish)
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
