//! The one clock every timestamp comes from: `CLOCK_MONOTONIC` in integer nanoseconds.
//!
//! Both processes of a run read the same kernel clock, so a send stamp taken by one process and
//! a receive stamp taken by the other can be subtracted (one-way latency). The read goes through
//! the vDSO (rustix), costs tens of nanoseconds, and is measured once per run
//! ([`read_overhead_ns`]) so that users can see what it adds to every sample.

use rustix::time::{clock_gettime, ClockId};
use serde::{Deserialize, Serialize};

/// Nanoseconds on `CLOCK_MONOTONIC`.
#[inline(always)]
pub fn now_ns() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    // The monotonic clock is never negative; seconds fit u64 nanoseconds for 584 years of uptime.
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Median cost of one [`now_ns`] call, from 101 batches of 1,000 back-to-back reads.
pub fn read_overhead_ns() -> u64 {
    const BATCH: u64 = 1_000;
    let mut per_read: Vec<u64> = (0..101)
        .map(|_| {
            let start = now_ns();
            let mut last = start;
            for _ in 0..BATCH {
                last = std::hint::black_box(now_ns());
            }
            (last - start) / BATCH
        })
        .collect();
    per_read.sort_unstable();
    per_read[per_read.len() / 2]
}

/// Whether the two sides read the same `CLOCK_MONOTONIC`: every peer reading taken between
/// the initiator's readings before and after it asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockCheck {
    /// The clocks are one kernel clock: one-way latency (receive - send) is meaningful.
    pub same_clock: bool,
    pub probes: u32,
    /// The largest distance of a peer reading outside its bracket, ns (0 when same).
    pub worst_outside_ns: u64,
    /// The shortest probe round trip, ns: the resolution of the check.
    pub best_round_trip_ns: u64,
}

impl ClockCheck {
    /// Judges probes of (initiator before, peer, initiator after).
    pub fn from_probes(probes: &[(u64, u64, u64)]) -> ClockCheck {
        let outside = |&(before, peer, after): &(u64, u64, u64)| {
            if peer < before {
                before - peer
            } else {
                peer.saturating_sub(after)
            }
        };
        let worst_outside_ns = probes.iter().map(outside).max().unwrap_or(u64::MAX);
        ClockCheck {
            same_clock: !probes.is_empty() && worst_outside_ns == 0,
            probes: probes.len() as u32,
            worst_outside_ns,
            best_round_trip_ns: probes.iter().map(|(b, _, a)| a - b).min().unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_never_goes_backwards() {
        let mut last = now_ns();
        for _ in 0..100_000 {
            let t = now_ns();
            assert!(t >= last, "clock went back from {last} to {t}");
            last = t;
        }
    }

    #[test]
    fn clock_read_overhead_is_below_a_millisecond() {
        // A broken clock source (a syscall per read on a bad VM is ~1 µs, still fine) would show here.
        assert!(read_overhead_ns() < 1_000_000);
    }

    #[test]
    fn clocks_match_only_when_every_reading_falls_inside_its_bracket() {
        let same = ClockCheck::from_probes(&[(100, 150, 200), (300, 300, 310)]);
        assert!(same.same_clock);
        assert_eq!(same.best_round_trip_ns, 10);
        let offset = ClockCheck::from_probes(&[(100, 150, 200), (300, 5_000, 310)]);
        assert!(!offset.same_clock);
        assert_eq!(offset.worst_outside_ns, 4_690);
        assert!(!ClockCheck::from_probes(&[]).same_clock);
    }
}
