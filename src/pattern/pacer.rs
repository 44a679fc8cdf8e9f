//! The send schedule: closed loop, or open loop at a fixed rate (latency then counts from the
//! intended send time, so a stall shows in the tail instead of delaying the schedule).

use crate::measure::clock::now_ns;

/// The send schedule: closed loop (send now) or open loop at a fixed rate.
pub(super) struct Pacer {
    interval_ns: Option<u64>,
    pub(super) start_ns: u64,
    /// Never sleep between messages (`--wait spin`: nothing in the run sleeps; a sleeping
    /// sender wakes late on a VM, and open loop counts that lateness as latency).
    spin: bool,
}

impl Pacer {
    pub(super) fn new(rate_per_s: Option<u64>, spin: bool) -> Self {
        Pacer { interval_ns: rate_per_s.map(|r| (1_000_000_000 / r).max(1)), start_ns: now_ns(), spin }
    }

    /// When message `k` is due in open loop, without waiting; `None` in closed loop.
    #[inline(always)]
    pub(super) fn due(&self, k: u64) -> Option<u64> {
        self.interval_ns.map(|iv| self.start_ns + k * iv)
    }

    /// Waits until message `k` is due and returns its send time: now in closed loop, the
    /// intended time in open loop (already past when the run is behind schedule).
    #[inline(always)]
    pub(super) fn next(&self, k: u64) -> u64 {
        match self.due(k) {
            None => now_ns(),
            Some(due) => loop {
                let now = now_ns();
                if now >= due {
                    return due;
                }
                if !self.spin && due - now > 200_000 {
                    std::thread::sleep(std::time::Duration::from_nanos(due - now - 100_000));
                } else {
                    std::hint::spin_loop();
                }
            },
        }
    }
}
