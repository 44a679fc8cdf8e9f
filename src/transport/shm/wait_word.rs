//! What a ring's blocking waits share: a futex word with its "sleeping" flag, the wake and the
//! announcement of a sleep (one side of the Dekker pair whose other side is a slot's word, see
//! `ring`), and the view of a ring end that the waiters in `shm` use.

use std::sync::atomic::{AtomicU32, Ordering};

/// A futex word and the flag that says someone sleeps on it.
#[repr(C)]
pub struct WaitWord {
    /// Bumped (by the other side) to wake the sleeper.
    pub futex: AtomicU32,
    /// 1 while the owner of this word sleeps (or is about to sleep) on `futex`.
    pub sleeping: AtomicU32,
}

/// Bumps `w.futex` and wakes one sleeper on it.
pub(super) fn wake(w: &WaitWord) {
    // Release: pairs with the Acquire load of the futex word in `announce_sleep`.
    w.futex.fetch_add(1, Ordering::Release);
    // Shared (not private) futex: the sleeper is another process.
    let _ = rustix::thread::futex::wake(&w.futex, rustix::thread::futex::Flags::empty(), 1);
}

/// Reads the futex word, then raises the sleeping flag; the caller re-checks its condition
/// before sleeping on the returned value.
pub(super) fn announce_sleep(w: &WaitWord) -> u32 {
    // Acquire: pairs with the Release bump in `wake`.
    let seen = w.futex.load(Ordering::Acquire);
    // SeqCst: Dekker pair with the SeqCst store of a slot's word (in `publish` or `release`)
    // followed by the SeqCst load of this flag on the other side.
    w.sleeping.store(1, Ordering::SeqCst);
    seen
}

/// One end of a ring as seen by a waiter: a condition to wait for, and the futex protocol to
/// sleep until it may hold.
pub trait WaitEnd {
    /// Whether the wait is over (space for a producer, data for a consumer).
    fn ready(&mut self) -> bool;
    /// Raises the sleeping flag; `None` if ready meanwhile, else the futex value to sleep on.
    fn prepare_sleep(&mut self) -> Option<u32>;
    fn done_sleeping(&self);
    fn futex(&self) -> &AtomicU32;
}
