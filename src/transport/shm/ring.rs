//! A bounded single-producer single-consumer ring of fixed-size slots in memory shared by two
//! processes.
//!
//! The algorithm is the classic Lamport ring with cached indices (as in Rigtorp's SPSCQueue
//! and iceoryx2's `spsc::queue`): the producer owns `head`, the consumer owns `tail`, both are
//! free-running `u64` counters (slot = counter % slot_count), so `head - tail` is the fill level
//! and the ring is full at `slot_count`. Each side caches the other's counter and re-reads it
//! only when the cached value says full/empty, so an uncontended message costs one cache-line
//! transfer each way.
//!
//! Blocking waits use a futex word per direction (`data_wait`: the consumer sleeps on it,
//! `space_wait`: the producer sleeps on it) with a "sleeping" flag so that the side that
//! publishes makes the `futex_wake` syscall only when the other side actually sleeps. The flag
//! and the counter form a Dekker pair (store own, then load other's, both `SeqCst`): at least one
//! side sees the other's store, so a wake-up is never lost. The futex words are plain shared
//! memory (no `FUTEX_PRIVATE_FLAG`), so they work between unrelated processes and across a
//! container boundary.
//!
//! Bounded means back-pressure: a full ring makes the producer wait; nothing is overwritten and
//! nothing grows.
//!
//! # One of each end, and the mapping outlives them
//! A [`Producer`] or [`Consumer`] exists only through the `unsafe` constructors, whose callers
//! (the mapped region, and the tests' heap rings) promise one producer and one consumer per ring
//! and memory that stays valid. Each handle owns a keep-alive of what it points into (the
//! region's `Arc`), so moving, swapping or dropping handles in any order cannot leave one
//! pointing at unmapped memory.
//!
//! # What the other process can do
//! The other end is another process mapping the same pages; no type system reaches it. The
//! byte-level contract is: a side writes only its own counter (`head` for the producer, `tail`
//! for the consumer), its own wait flag and the other side's futex word, and touches a slot only
//! while the counters lend it to that side. A peer that breaks the contract (a bug, or a process
//! that opened the file on its own) can spoil the *data*, not this process's memory safety:
//! - every index and length this side uses comes from its own counter and the geometry it
//!   created or validated: `slot = own_counter % slot_count`, `len <= slot_stride`. The other
//!   side's counter is only compared with ours, in wrapping arithmetic, so any value it writes
//!   means at worst "full", "empty" or "ready" at the wrong moment (a wait that times out, or a
//!   slot read early);
//! - a lent slot is plain bytes (`u8` has no invalid values). A peer writing into a slot it does
//!   not own races with our access through the lent `&[u8]`/`&mut [u8]`. We accept that race
//!   as every shared-memory IPC does, and confine it: the slices come from raw pointers into an
//!   `mmap` the compiler cannot see through, and nothing derived from slot bytes (headers,
//!   pattern checks) is ever used as an index, a length or a pointer. A run with such a peer
//!   may report garbage; it cannot make this process read or write outside the mapping.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

/// A futex word and the flag that says someone sleeps on it.
#[repr(C)]
pub struct WaitWord {
    /// Bumped (by the other side) to wake the sleeper.
    pub futex: AtomicU32,
    /// 1 while the owner of this word sleeps (or is about to sleep) on `futex`.
    pub sleeping: AtomicU32,
}

/// The control block at the start of a ring. Every field group is on its own cache lines (128
/// bytes apart, beyond the adjacent-line prefetcher), so the producer's and consumer's writes
/// never false-share, and the wait words, written only by a side that goes to sleep, stay
/// shared (cheap to read) in spin mode.
#[repr(C)]
pub struct RingControl {
    /// Messages published so far; written by the producer. Next slot to fill: `head % count`.
    pub head: CachePadded<AtomicU64>,
    /// Messages released so far; written by the consumer. Next slot to read: `tail % count`.
    pub tail: CachePadded<AtomicU64>,
    /// Where the consumer sleeps waiting for data.
    pub data_wait: CachePadded<WaitWord>,
    /// Where the producer sleeps waiting for space.
    pub space_wait: CachePadded<WaitWord>,
}

/// Where a ring's slots are and how they are cut.
#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    /// Bytes from one slot to the next (a multiple of 64).
    pub slot_stride: usize,
    pub slot_count: usize,
}

/// Keeps the memory a handle points into alive (the mapped region, or a test's heap ring).
pub type KeepAlive = Arc<dyn Send + Sync>;

/// The producing end of a ring. Exactly one exists per ring (one process creates it).
pub struct Producer {
    ctl: *const RingControl,
    slots: *mut u8,
    geo: Geometry,
    /// Our own `head`: only we write it, so the local copy is always current.
    head: u64,
    /// The consumer's `tail` as last read; only ever behind the real one.
    cached_tail: u64,
    /// Whether the consumer may sleep (block/hybrid waits): then publishing checks for a
    /// sleeper. Pure spinning on both sides skips that, and the SeqCst it needs.
    may_sleep: bool,
    _keep: KeepAlive,
}

/// The consuming end of a ring. Exactly one exists per ring.
pub struct Consumer {
    ctl: *const RingControl,
    slots: *const u8,
    geo: Geometry,
    tail: u64,
    cached_head: u64,
    may_sleep: bool,
    _keep: KeepAlive,
}

// SAFETY:
// - the handles point only into memory that their own `_keep` keeps mapped (contract of `new`),
//   wherever the handle goes;
// - moving a handle to another thread moves the sole right to use that end of the ring with it:
//   every method takes `&self`/`&mut self` of the one handle, and the other end's process or
//   thread synchronises with us only through the atomics, never through the handle.
unsafe impl Send for Producer {}
// SAFETY: as for `Producer`.
unsafe impl Send for Consumer {}

impl Producer {
    /// # Safety
    /// - `ctl` points to a `RingControl` and `slots` to `geo.slot_stride * geo.slot_count`
    ///   bytes, both in memory that stays mapped, readable and writable while this exists;
    /// - no other `Producer` for this ring exists in any process;
    /// - the counters in `ctl` are those of a consistent ring (fresh: both zero).
    ///
    /// - `keep` keeps that memory mapped (it is dropped with the handle, never before).
    ///
    /// `may_sleep`: whether either side may sleep in the kernel (any wait but pure spin).
    pub unsafe fn new(
        ctl: *const RingControl,
        slots: *mut u8,
        geo: Geometry,
        may_sleep: bool,
        keep: KeepAlive,
    ) -> Producer {
        // SAFETY: `ctl` is valid per the contract.
        let c = unsafe { &*ctl };
        // Acquire: pairs with the Release stores of the counters by whoever set them up.
        let head = c.head.load(Ordering::Acquire);
        let tail = c.tail.load(Ordering::Acquire);
        Producer { ctl, slots, geo, head, cached_tail: tail, may_sleep, _keep: keep }
    }

    #[inline(always)]
    fn ctl(&self) -> &RingControl {
        // SAFETY: valid for our lifetime per the contract of `new`.
        unsafe { &*self.ctl }
    }

    /// Whether a slot is free, re-reading the consumer's `tail` only when the cache says full.
    #[inline(always)]
    pub fn has_space(&mut self) -> bool {
        if self.head.wrapping_sub(self.cached_tail) < self.geo.slot_count as u64 {
            return true;
        }
        // SYNC POINT: Acquire pairs with the Release store of `tail` in `Consumer::release`:
        // once we see the slot released, the consumer's reads of it are complete.
        self.cached_tail = self.ctl().tail.load(Ordering::Acquire);
        // Wrapping: `tail` is the other process's to write; a value ahead of `head` (a broken
        // peer) wraps to a huge fill level and reads as "full", never as an overflow.
        self.head.wrapping_sub(self.cached_tail) < self.geo.slot_count as u64
    }

    /// The next slot, `len` bytes, to fill in place. Call only after `has_space` returned true.
    #[inline(always)]
    pub fn slot(&mut self, len: usize) -> &mut [u8] {
        debug_assert!(
            self.head.wrapping_sub(self.cached_tail) < self.geo.slot_count as u64,
            "slot() without space"
        );
        debug_assert!(len <= self.geo.slot_stride);
        let index = (self.head % self.geo.slot_count as u64) as usize;
        // SAFETY:
        // - `index < slot_count` and `len <= slot_stride`, so the range is inside the slot array;
        // - the slot is free (head - tail < slot_count): the consumer has released it and will
        //   not read it again until we publish it, so we have exclusive access;
        // - `&mut self` ties the slice to this handle, so it cannot outlive or alias another.
        unsafe { std::slice::from_raw_parts_mut(self.slots.add(index * self.geo.slot_stride), len) }
    }

    /// Publishes the slot filled through [`slot`](Self::slot). Returns whether the consumer is
    /// asleep and needs a `futex_wake` on `data_futex`.
    #[inline(always)]
    pub fn publish(&mut self) -> bool {
        self.head += 1;
        let c = self.ctl();
        if !self.may_sleep {
            // SYNC POINT: Release pairs with the Acquire load of `head` in
            // `Consumer::has_data`: our writes into the slot happen-before its reads of it.
            c.head.store(self.head, Ordering::Release);
            return false;
        }
        // SYNC POINT: as above; SeqCst also orders this store before the load of
        // `data_wait.sleeping` below (Dekker pair with `Consumer::prepare_sleep`).
        c.head.store(self.head, Ordering::SeqCst);
        // SeqCst: partner of the SeqCst store of `data_wait.sleeping` in `prepare_sleep`.
        c.data_wait.sleeping.load(Ordering::SeqCst) != 0
    }

    /// Wakes a consumer sleeping on `data_wait`.
    pub fn wake_consumer(&self) {
        wake(&self.ctl().data_wait);
    }

    /// Announces that we are about to sleep waiting for space; returns the futex value to sleep
    /// on, or `None` if space appeared meanwhile (then do not sleep).
    pub fn prepare_sleep(&mut self) -> Option<u32> {
        let seen = announce_sleep(&self.ctl().space_wait);
        if self.has_space() {
            self.done_sleeping();
            return None;
        }
        Some(seen)
    }

    pub fn done_sleeping(&self) {
        // Relaxed: only ever read as a hint by the consumer; a stale 1 costs one needless wake.
        self.ctl().space_wait.sleeping.store(0, Ordering::Relaxed);
    }

    pub fn futex(&self) -> &AtomicU32 {
        &self.ctl().space_wait.futex
    }
}

/// Bumps `w.futex` and wakes one sleeper on it.
fn wake(w: &WaitWord) {
    // Release: pairs with the Acquire load of the futex word in `announce_sleep`.
    w.futex.fetch_add(1, Ordering::Release);
    // Shared (not private) futex: the sleeper is another process.
    let _ = rustix::thread::futex::wake(&w.futex, rustix::thread::futex::Flags::empty(), 1);
}

/// Reads the futex word, then raises the sleeping flag; the caller re-checks its condition
/// before sleeping on the returned value.
fn announce_sleep(w: &WaitWord) -> u32 {
    // Acquire: pairs with the Release bump in `wake`.
    let seen = w.futex.load(Ordering::Acquire);
    // SeqCst: Dekker pair with the SeqCst store of the counter (`head` in `publish`, `tail`
    // in `release`) followed by the SeqCst load of this flag on the other side.
    w.sleeping.store(1, Ordering::SeqCst);
    seen
}

impl Consumer {
    /// # Safety
    /// As for [`Producer::new`], with "Consumer" for "Producer"; the slots need only be readable.
    pub unsafe fn new(
        ctl: *const RingControl,
        slots: *const u8,
        geo: Geometry,
        may_sleep: bool,
        keep: KeepAlive,
    ) -> Consumer {
        // SAFETY: `ctl` is valid per the contract.
        let c = unsafe { &*ctl };
        // Acquire: pairs with the Release stores of the counters by whoever set them up.
        let tail = c.tail.load(Ordering::Acquire);
        let head = c.head.load(Ordering::Acquire);
        Consumer { ctl, slots, geo, tail, cached_head: head, may_sleep, _keep: keep }
    }

    #[inline(always)]
    fn ctl(&self) -> &RingControl {
        // SAFETY: valid for our lifetime per the contract of `new`.
        unsafe { &*self.ctl }
    }

    /// Whether a message is waiting, re-reading the producer's `head` only when the cache says
    /// empty.
    #[inline(always)]
    pub fn has_data(&mut self) -> bool {
        if self.cached_head != self.tail {
            return true;
        }
        // SYNC POINT: Acquire pairs with the Release (SeqCst) store of `head` in
        // `Producer::publish`: the producer's writes into the slot are visible to us.
        self.cached_head = self.ctl().head.load(Ordering::Acquire);
        self.cached_head != self.tail
    }

    /// The oldest published message, `len` bytes, in place. Call only after `has_data`.
    #[inline(always)]
    pub fn slot(&self, len: usize) -> &[u8] {
        debug_assert!(self.cached_head != self.tail, "slot() without data");
        debug_assert!(len <= self.geo.slot_stride);
        let index = (self.tail % self.geo.slot_count as u64) as usize;
        // SAFETY:
        // - `index < slot_count`, `len <= slot_stride`: inside the slot array;
        // - the slot is published (tail < head) and not yet released: the producer will not
        //   write it until we release it, so nobody writes while we read.
        unsafe { std::slice::from_raw_parts(self.slots.add(index * self.geo.slot_stride), len) }
    }

    /// Releases the slot returned by [`slot`](Self::slot). Returns whether the producer is asleep
    /// and needs a `futex_wake` on `space_futex`.
    #[inline(always)]
    pub fn release(&mut self) -> bool {
        self.tail += 1;
        let c = self.ctl();
        if !self.may_sleep {
            // SYNC POINT: Release pairs with the Acquire load of `tail` in
            // `Producer::has_space`: our reads of the slot are done before it may refill it.
            c.tail.store(self.tail, Ordering::Release);
            return false;
        }
        // SYNC POINT: as above; SeqCst also orders this store before the load of
        // `space_wait.sleeping` (Dekker pair with `Producer::prepare_sleep`).
        c.tail.store(self.tail, Ordering::SeqCst);
        // SeqCst: partner of the SeqCst store of `space_wait.sleeping` in `prepare_sleep`.
        c.space_wait.sleeping.load(Ordering::SeqCst) != 0
    }

    /// Wakes a producer sleeping on `space_wait`.
    pub fn wake_producer(&self) {
        wake(&self.ctl().space_wait);
    }

    /// Announces that we are about to sleep waiting for data; returns the futex value to sleep
    /// on, or `None` if data arrived meanwhile.
    pub fn prepare_sleep(&mut self) -> Option<u32> {
        let seen = announce_sleep(&self.ctl().data_wait);
        if self.has_data() {
            self.done_sleeping();
            return None;
        }
        Some(seen)
    }

    pub fn done_sleeping(&self) {
        // Relaxed: a hint for the producer; a stale 1 costs one needless wake.
        self.ctl().data_wait.sleeping.store(0, Ordering::Relaxed);
    }

    pub fn futex(&self) -> &AtomicU32 {
        &self.ctl().data_wait.futex
    }
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

impl WaitEnd for Producer {
    #[inline(always)]
    fn ready(&mut self) -> bool {
        self.has_space()
    }
    fn prepare_sleep(&mut self) -> Option<u32> {
        Producer::prepare_sleep(self)
    }
    fn done_sleeping(&self) {
        Producer::done_sleeping(self)
    }
    fn futex(&self) -> &AtomicU32 {
        Producer::futex(self)
    }
}

impl WaitEnd for Consumer {
    #[inline(always)]
    fn ready(&mut self) -> bool {
        self.has_data()
    }
    fn prepare_sleep(&mut self) -> Option<u32> {
        Consumer::prepare_sleep(self)
    }
    fn done_sleeping(&self) {
        Consumer::done_sleeping(self)
    }
    fn futex(&self) -> &AtomicU32 {
        Consumer::futex(self)
    }
}

#[cfg(test)]
#[path = "ring_tests.rs"]
mod tests;
