//! The cache-line floors a run is measured against: of the CPU pairs in use, once, and of a
//! pinned ring run's two CPUs, right before it.

use anyhow::{Context, Result};

use super::matrix::Test;
use crate::analysis::summary::CpuPair;
use crate::config::RunConfig;
use crate::measure::floor;

/// What CPUs `a` and `b` share (sysfs) and their cache-line floor, measured on two threads of
/// this process.
pub(super) fn measure_pair(a: usize, b: usize, timeout: std::time::Duration) -> Result<CpuPair> {
    Ok(CpuPair {
        initiator_cpu: a,
        peer_cpu: b,
        relation: crate::measure::topology::relation(a, b),
        cache_line_round_trip_ns: floor::cache_line_round_trip_ns(a, b, floor::Length::SWEEP, timeout)
            .with_context(|| format!("measuring the cache-line floor of CPUs {a}:{b}"))?,
    })
}

/// The cache-line floor of `test`'s two CPUs, measured now, right before its run, when it is a
/// ring run pinned to two CPUs: a VM's speed can change between runs (its vCPUs moved to other
/// host cores), and a floor taken beside each run changes with it. `None` for anything else.
pub(super) fn ring_floor(test: &Test, cfg: &RunConfig) -> Result<Option<u64>> {
    match test.pin {
        Some((a, b)) if a != b && test.transport.is_ring() => {
            let ns = floor::cache_line_round_trip_ns(a, b, floor::Length::PER_RUN, cfg.timeout)
                .with_context(|| format!("measuring the cache-line floor of CPUs {a}:{b}"))?;
            Ok(Some(ns))
        }
        _ => Ok(None),
    }
}
