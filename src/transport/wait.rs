//! The one spin-then-sleep policy every transport's wait follows (sockets, datagrams and the
//! shared-memory ring alike), so `--wait` means the same thing on all of them:
//!
//! | `--wait` | while the condition is not met |
//! |---|---|
//! | `spin` | poll again (a pause instruction between polls) until the limit |
//! | `hybrid` | poll like `spin` for [`HYBRID_SPIN_NS`], then sleep in the kernel |
//! | `block` | sleep in the kernel at once |
//!
//! The caller polls its own condition (a non-blocking read, a ring counter) and calls
//! [`SpinThenWait::step`] after each failed poll; `step` says whether to poll again, to make a
//! periodic check (a peer's liveness), to sleep in the kernel, or that the limit has passed. The
//! clock is read only every [`POLLS_PER_CLOCK_READ`] failed polls, and never by a wait that
//! ends before that: a short wait costs no clock read.

use std::time::Duration;

use super::WaitStrategy;
use crate::measure::clock::now_ns;

/// Hybrid waits spin this long before sleeping.
pub const HYBRID_SPIN_NS: u64 = 50_000;

/// Failed polls between two clock reads while spinning.
pub const POLLS_PER_CLOCK_READ: u32 = 128;

/// What the waiter does after a failed poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Poll again.
    Again,
    /// Poll again, after the caller's periodic check (see [`SpinThenWait::checking_every`]).
    Check,
    /// Spinning is over: sleep in the kernel for at most this long, then poll again.
    Sleep(Duration),
    /// The limit passed without the condition being met.
    Elapsed,
}

/// The state of one wait.
#[derive(Debug)]
pub struct SpinThenWait {
    wait: WaitStrategy,
    limit_ns: u64,
    check_every_ns: u64,
    polls: u32,
    /// First clock reading of this wait; 0 until the clock was first read.
    start_ns: u64,
    checked_ns: u64,
}

impl SpinThenWait {
    /// A wait that gives up after `limit`.
    #[inline(always)]
    pub fn new(wait: WaitStrategy, limit: Duration) -> SpinThenWait {
        SpinThenWait {
            wait,
            limit_ns: limit.as_nanos().min(u64::MAX as u128) as u64,
            check_every_ns: u64::MAX,
            polls: 0,
            start_ns: 0,
            checked_ns: 0,
        }
    }

    /// Also asks for a [`Step::Check`] about every `every` while spinning.
    #[inline(always)]
    pub fn checking_every(mut self, every: Duration) -> SpinThenWait {
        self.check_every_ns = every.as_nanos() as u64;
        self
    }

    /// Call after every failed poll of the condition.
    #[inline(always)]
    pub fn step(&mut self) -> Step {
        if self.wait == WaitStrategy::Block {
            return self.sleep_step();
        }
        std::hint::spin_loop();
        self.polls = self.polls.wrapping_add(1);
        if self.polls % POLLS_PER_CLOCK_READ != 0 {
            return Step::Again;
        }
        self.clock_step()
    }

    #[inline(never)]
    fn clock_step(&mut self) -> Step {
        let now = self.now();
        let waited = now - self.start_ns;
        if waited >= self.limit_ns {
            return Step::Elapsed;
        }
        if self.wait == WaitStrategy::Hybrid && waited >= HYBRID_SPIN_NS {
            return Step::Sleep(Duration::from_nanos(self.limit_ns - waited));
        }
        if now - self.checked_ns >= self.check_every_ns {
            self.checked_ns = now;
            return Step::Check;
        }
        Step::Again
    }

    #[inline(never)]
    fn sleep_step(&mut self) -> Step {
        let waited = self.waited_ns();
        if waited >= self.limit_ns {
            return Step::Elapsed;
        }
        Step::Sleep(Duration::from_nanos(self.limit_ns - waited))
    }

    fn now(&mut self) -> u64 {
        let now = now_ns();
        if self.start_ns == 0 {
            (self.start_ns, self.checked_ns) = (now, now);
        }
        now
    }

    /// How long this wait has lasted (from its first clock read).
    pub fn waited_ns(&mut self) -> u64 {
        let now = self.now();
        now - self.start_ns
    }

    /// The limit this wait was made with.
    pub fn limit(&self) -> Duration {
        Duration::from_nanos(self.limit_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_until_not_again(w: &mut SpinThenWait) -> (Step, u32) {
        let mut polls = 0;
        loop {
            polls += 1;
            match w.step() {
                Step::Again => {}
                other => return (other, polls),
            }
        }
    }

    #[test]
    fn spin_never_sleeps_and_ends_at_the_limit() {
        let mut w = SpinThenWait::new(WaitStrategy::Spin, Duration::from_millis(2));
        let start = std::time::Instant::now();
        let (step, polls) = run_until_not_again(&mut w);
        assert_eq!(step, Step::Elapsed);
        assert!(start.elapsed() >= Duration::from_millis(2));
        assert_eq!(polls % POLLS_PER_CLOCK_READ, 0, "the limit is seen only at a clock read");
    }

    #[test]
    fn hybrid_spins_first_then_sleeps_for_what_is_left() {
        let mut w = SpinThenWait::new(WaitStrategy::Hybrid, Duration::from_secs(1));
        let (step, polls) = run_until_not_again(&mut w);
        assert!(polls > POLLS_PER_CLOCK_READ, "it spun before sleeping");
        match step {
            Step::Sleep(left) => assert!(left <= Duration::from_secs(1) && left > Duration::from_millis(900)),
            other => panic!("expected a sleep, got {other:?}"),
        }
    }

    #[test]
    fn block_sleeps_at_once_and_checks_come_at_their_interval() {
        let mut w = SpinThenWait::new(WaitStrategy::Block, Duration::from_secs(1));
        assert!(matches!(w.step(), Step::Sleep(_)), "no spinning at all");
        let mut w = SpinThenWait::new(WaitStrategy::Spin, Duration::from_secs(1))
            .checking_every(Duration::from_millis(1));
        let start = std::time::Instant::now();
        let (step, _) = run_until_not_again(&mut w);
        assert_eq!(step, Step::Check);
        assert!(start.elapsed() >= Duration::from_millis(1));
    }
}
