//! The physical floor of a CPU pair: a cache line bounced between two threads pinned to the
//! pair's CPUs, as fast as the hardware moves it. No IPC mechanism between those two CPUs can
//! do a round trip faster than one such bounce (it must move at least one line each way), so
//! each cell of a pair sweep is shown next to this.
//!
//! The two threads share one cache-line-aligned atomic counter: the initiator stores an odd
//! value and spins until it reads the next even one, which the responder stores when it sees
//! the odd one. One iteration is one round trip of the line.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use crossbeam_utils::CachePadded;

use super::clock::now_ns;

/// How long a floor measurement is: `batches` batches of `round_trips` each; the floor is the
/// median batch's mean, so a batch the scheduler interrupts does not move it.
#[derive(Clone, Copy, Debug)]
pub struct Length {
    pub batches: usize,
    pub round_trips: u64,
}

impl Length {
    /// Once per pair of a `--pin-pairs` sweep: 140,000 round trips (10 ms at 70 ns, 85 ms at
    /// 600 ns).
    pub const SWEEP: Length = Length { batches: 7, round_trips: 20_000 };
    /// Before every pinned ring run: 22,000 round trips (1.5 ms at 70 ns, 13 ms at 600 ns),
    /// in more, shorter batches.
    pub const PER_RUN: Length = Length { batches: 11, round_trips: 2_000 };
}

/// The median over `length.batches` of the mean cache-line round trip between a thread on
/// `initiator_cpu` and one on `peer_cpu`, in ns. Fails when either CPU cannot be pinned or the
/// bouncing stalls for longer than `timeout` (two threads spinning on one CPU never finish).
pub fn cache_line_round_trip_ns(
    initiator_cpu: usize,
    peer_cpu: usize,
    length: Length,
    timeout: Duration,
) -> Result<u64> {
    if initiator_cpu == peer_cpu {
        bail!("a cache-line floor needs two CPUs, not CPU {initiator_cpu} twice");
    }
    let Length { batches: count, round_trips } = length;
    assert!(count > 0 && round_trips > 0, "an empty floor measurement");
    let line = CachePadded::new(AtomicU64::new(0));
    let give_up = AtomicBool::new(false);
    let deadline = Instant::now() + timeout;
    let total = round_trips * count as u64;
    std::thread::scope(|s| {
        let responder = s.spawn(|| -> Result<()> {
            crate::sys::pin_current_thread(peer_cpu).with_context(|| format!("pinning to CPU {peer_cpu}"))?;
            for i in 0..total {
                let odd = 2 * i + 1;
                // SYNC POINT: pairs with the initiator's Release store of `odd`.
                while line.load(Ordering::Acquire) != odd {
                    if give_up.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    std::hint::spin_loop();
                }
                // SYNC POINT: the initiator's Acquire load waits for this.
                line.store(odd + 1, Ordering::Release);
            }
            Ok(())
        });
        let mine = (|| -> Result<u64> {
            crate::sys::pin_current_thread(initiator_cpu)
                .with_context(|| format!("pinning to CPU {initiator_cpu}"))?;
            let mut batches = Vec::with_capacity(count);
            for b in 0..count as u64 {
                let start = now_ns();
                for i in b * round_trips..(b + 1) * round_trips {
                    line.store(2 * i + 1, Ordering::Release);
                    let mut spins = 0u32;
                    while line.load(Ordering::Acquire) != 2 * i + 2 {
                        spins = spins.wrapping_add(1);
                        if spins % 4096 == 0 && Instant::now() > deadline {
                            bail!("the cache line stopped bouncing between CPUs {initiator_cpu} and {peer_cpu} within {timeout:?}");
                        }
                        std::hint::spin_loop();
                    }
                }
                batches.push((now_ns() - start) / round_trips);
            }
            batches.sort_unstable();
            Ok(batches[count / 2])
        })();
        give_up.store(true, Ordering::Relaxed);
        let theirs = responder.join().expect("the responder thread panicked");
        theirs.and(mine)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_bounces_between_two_cpus_in_a_plausible_time_and_one_cpu_is_refused() {
        let cpus = crate::sys::allowed_cpus();
        if cpus.len() >= 2 {
            for length in [Length::SWEEP, Length::PER_RUN] {
                let ns = cache_line_round_trip_ns(cpus[0], cpus[1], length, Duration::from_secs(20)).unwrap();
                // Moving a line and back takes at least a few ns and (even on a loaded VM, as a
                // median of batches of thousands) far less than a millisecond.
                assert!((5..1_000_000).contains(&ns), "{ns} ns with {length:?}");
            }
        }
        assert!(cache_line_round_trip_ns(0, 0, Length::PER_RUN, Duration::from_secs(1)).is_err());
        assert!(cache_line_round_trip_ns(0, 100_000, Length::PER_RUN, Duration::from_secs(1)).is_err());
    }
}
