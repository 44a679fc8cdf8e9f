//! What a side's timed thread spent, read at the start and the end of the recorded phase (never
//! inside the timed loop): its CPU time from `CLOCK_THREAD_CPUTIME_ID` (exact, to the
//! nanosecond), the split into user and system time and the context switches from
//! `getrusage(RUSAGE_THREAD)` (the switch counts are exact; the user/system split is the
//! kernel's tick-sampled estimate, and lags by up to a tick, so trust it only for runs of many
//! ticks). Spinning shows as a busy core with next to no voluntary switches; blocking as about
//! one voluntary switch per message.
//!
//! Beside the timed thread, each reading takes the whole process's CPU time
//! (`CLOCK_PROCESS_CPUTIME_ID`): a middleware library works on threads of its own (ZeroMQ's I/O
//! thread, zenoh's and tokio's runtimes), and what it costs is the process's figure, not the
//! timed thread's.

use serde::{Deserialize, Serialize};

/// CPU time and context switches of one thread over an interval (or summed over threads).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuUse {
    /// On-CPU time (user and system), exact.
    #[serde(default)]
    pub cpu_ns: u64,
    /// The kernel's estimate of the user part (tick-sampled).
    pub user_ns: u64,
    /// The kernel's estimate of the system part (tick-sampled).
    pub system_ns: u64,
    /// The thread gave up the CPU (it blocked: a sleep in the kernel).
    pub voluntary_switches: u64,
    /// The scheduler took the CPU away (preemption: another task wanted it).
    pub involuntary_switches: u64,
    /// On-CPU time of the whole process over the same interval: the timed thread(s), a
    /// library's own threads, and ipcbench's helpers (the stream writer, when streams are on).
    #[serde(default)]
    pub process_cpu_ns: u64,
}

impl CpuUse {
    /// This thread's totals since it started; zeros where the kernel cannot say.
    pub fn of_this_thread() -> CpuUse {
        use nix::sys::resource::{getrusage, UsageWho};
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        let cpu_ns = t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64;
        let p = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
        let process_cpu_ns = p.tv_sec as u64 * 1_000_000_000 + p.tv_nsec as u64;
        let Ok(u) = getrusage(UsageWho::RUSAGE_THREAD) else {
            return CpuUse { cpu_ns, process_cpu_ns, ..CpuUse::default() };
        };
        let ns =
            |t: nix::sys::time::TimeVal| (t.tv_sec() as u64) * 1_000_000_000 + (t.tv_usec() as u64) * 1_000;
        CpuUse {
            cpu_ns,
            user_ns: ns(u.user_time()),
            system_ns: ns(u.system_time()),
            voluntary_switches: u.voluntary_context_switches() as u64,
            involuntary_switches: u.involuntary_context_switches() as u64,
            process_cpu_ns,
        }
    }

    /// What was used from `start` (an earlier reading of the same thread) to `self`.
    pub fn since(&self, start: &CpuUse) -> CpuUse {
        CpuUse {
            cpu_ns: self.cpu_ns.saturating_sub(start.cpu_ns),
            user_ns: self.user_ns.saturating_sub(start.user_ns),
            system_ns: self.system_ns.saturating_sub(start.system_ns),
            voluntary_switches: self.voluntary_switches.saturating_sub(start.voluntary_switches),
            involuntary_switches: self.involuntary_switches.saturating_sub(start.involuntary_switches),
            process_cpu_ns: self.process_cpu_ns.saturating_sub(start.process_cpu_ns),
        }
    }

    /// Adds another process's use (a subscriber, a client).
    pub fn add(&mut self, o: &CpuUse) {
        self.add_thread_fields(o);
        self.process_cpu_ns += o.process_cpu_ns;
    }

    /// Adds the use of another thread of this process over the same phase (concurrent pairs):
    /// both read the one process clock, so the process's time is the larger reading, not the sum.
    pub fn add_thread(&mut self, o: &CpuUse) {
        self.add_thread_fields(o);
        self.process_cpu_ns = self.process_cpu_ns.max(o.process_cpu_ns);
    }

    fn add_thread_fields(&mut self, o: &CpuUse) {
        self.cpu_ns += o.cpu_ns;
        self.user_ns += o.user_ns;
        self.system_ns += o.system_ns;
        self.voluntary_switches += o.voluntary_switches;
        self.involuntary_switches += o.involuntary_switches;
    }

    pub fn cpu_ns(&self) -> u64 {
        self.cpu_ns
    }
}

/// One side's use, per message.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SideCpu {
    pub total: CpuUse,
    /// Recorded messages the total is divided by.
    pub messages: u64,
    pub cpu_ns_per_message: f64,
    /// The whole process's CPU per message (`CpuUse::process_cpu_ns`): with a library's own
    /// threads, what the library costs.
    #[serde(default)]
    pub process_cpu_ns_per_message: f64,
    pub voluntary_switches_per_message: f64,
    pub involuntary_switches_per_message: f64,
}

impl SideCpu {
    pub fn new(total: CpuUse, messages: u64) -> SideCpu {
        let per = |v: u64| if messages == 0 { 0.0 } else { v as f64 / messages as f64 };
        SideCpu {
            total,
            messages,
            cpu_ns_per_message: per(total.cpu_ns()),
            process_cpu_ns_per_message: per(total.process_cpu_ns),
            voluntary_switches_per_message: per(total.voluntary_switches),
            involuntary_switches_per_message: per(total.involuntary_switches),
        }
    }
}

/// Both sides' use for a run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CpuCost {
    pub initiator: SideCpu,
    /// Absent against an external service (`--connect`): its CPU is not ours to read.
    pub peer: Option<SideCpu>,
}

impl CpuCost {
    /// CPU ns per message, both sides together.
    pub fn cpu_ns_per_message(&self) -> f64 {
        self.initiator.cpu_ns_per_message + self.peer.map_or(0.0, |p| p.cpu_ns_per_message)
    }

    /// Both processes' CPU ns per message, every thread counted.
    pub fn process_cpu_ns_per_message(&self) -> f64 {
        self.initiator.process_cpu_ns_per_message + self.peer.map_or(0.0, |p| p.process_cpu_ns_per_message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_thread_shows_cpu_time_and_a_sleeping_one_voluntary_switches() {
        let start = CpuUse::of_this_thread();
        let t = std::time::Instant::now();
        // Spin until 3 ms of CPU time shows (a runner whose other jobs take most of this core
        // gives less than the wall time: under two CPU hogs, 30 ms of spinning got 8 ms), or
        // give up after 10 s of wall time, which only a clock that does not count could need.
        let busy = loop {
            for _ in 0..10_000 {
                std::hint::spin_loop();
            }
            let busy = CpuUse::of_this_thread().since(&start);
            if busy.cpu_ns() >= 3_000_000 || t.elapsed() > std::time::Duration::from_secs(10) {
                break busy;
            }
        };
        assert!(busy.cpu_ns() >= 3_000_000, "spinning is CPU time: {busy:?} in {:?}", t.elapsed());
        let start = CpuUse::of_this_thread();
        for _ in 0..20 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let slept = CpuUse::of_this_thread().since(&start);
        assert!(slept.voluntary_switches >= 20, "each sleep gives the CPU up: {slept:?}");
        assert!(slept.cpu_ns() < 3_000_000, "sleeping is not: {slept:?}");
        let per = SideCpu::new(slept, 20);
        assert!(per.voluntary_switches_per_message >= 1.0);
        assert_eq!(SideCpu::new(slept, 0).cpu_ns_per_message, 0.0);
    }

    #[test]
    fn another_threads_work_is_the_processs_not_the_timed_threads() {
        let start = CpuUse::of_this_thread();
        // A library's background thread, busy while the timed thread sleeps.
        std::thread::spawn(|| {
            // Until it has had 5 ms of CPU (at most 10 s of wall time on a crowded runner).
            let (mine, t) = (CpuUse::of_this_thread(), std::time::Instant::now());
            while CpuUse::of_this_thread().since(&mine).cpu_ns() < 5_000_000
                && t.elapsed() < std::time::Duration::from_secs(10)
            {
                for _ in 0..10_000 {
                    std::hint::spin_loop();
                }
            }
        })
        .join()
        .unwrap();
        let used = CpuUse::of_this_thread().since(&start);
        assert!(used.cpu_ns() < 4_000_000, "the timed thread only waited: {used:?}");
        assert!(used.process_cpu_ns >= 4_000_000, "the process did the other thread's work: {used:?}");
        assert!(used.process_cpu_ns >= used.cpu_ns());
        assert_eq!(SideCpu::new(used, 4).process_cpu_ns_per_message, used.process_cpu_ns as f64 / 4.0);

        let one = CpuUse { cpu_ns: 10, process_cpu_ns: 100, ..CpuUse::default() };
        let mut pairs = one;
        pairs.add_thread(&CpuUse { cpu_ns: 20, process_cpu_ns: 90, ..CpuUse::default() });
        assert_eq!((pairs.cpu_ns(), pairs.process_cpu_ns), (30, 100), "one process, read twice");
        let mut peers = one;
        peers.add(&CpuUse { cpu_ns: 20, process_cpu_ns: 90, ..CpuUse::default() });
        assert_eq!((peers.cpu_ns(), peers.process_cpu_ns), (30, 190), "two processes");
        // The larger process second: still the sum, not the larger plus the second.
        let mut peers = CpuUse { process_cpu_ns: 50, ..CpuUse::default() };
        peers.add(&CpuUse { process_cpu_ns: 90, ..CpuUse::default() });
        assert_eq!(peers.process_cpu_ns, 140, "two processes, the larger second");
    }
}
