//! A bounded single-producer single-consumer ring of fixed-size slots in memory shared by two
//! processes, in which every message carries its own publication.
//!
//! The algorithm is FastForward's (Giacomoni, Moseley and Vachharajani, PPoPP 2008): there is
//! no shared head or tail counter. The first 8-byte word of each slot says whether the slot is
//! full: it holds the message's sequence number (the `seq` of its header, see
//! [`crate::wire::Header`]) while full and [`EMPTY_SEQ`] while free. The producer writes the
//! rest of the message into the slot at its position, then stores the `seq` into the word
//! (Release); the consumer polls the word of the slot at *its* position, reads the message in
//! place, and stores `EMPTY_SEQ` back (Release), which hands the slot back. The producer learns
//! about space from the same word, in the line it is about to write anyway. Each side's
//! position (the slot it is at) is its own, never read from shared memory.
//!
//! So a 64-byte message moves one cache line per direction, the line holding the word, the rest
//! of the header and the first payload bytes, as a hand-written ping-pong does. The Lamport
//! ring this replaced (a `head` and a `tail` counter, each on its own line) moved the slot's
//! line *and* the `head` line per message, plus the `tail` line whenever the producer's cached
//! copy said full: the 20-40 ns it lost to the raw C floor (`tools/raw_shm.c`).
//!
//! Blocking waits use a futex word per direction (`data_wait`: the consumer sleeps on it,
//! `space_wait`: the producer sleeps on it) with a "sleeping" flag so that the side that
//! publishes or frees makes the `futex_wake` syscall only when the other side actually sleeps.
//! The flag and the slot word form a Dekker pair (store own, then load other's, all `SeqCst`):
//! at least one side sees the other's store, so a wake-up is never lost. The futex words are
//! plain shared memory (no `FUTEX_PRIVATE_FLAG`), so they work between unrelated processes and
//! across a container boundary.
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
//! byte-level contract is: the producer writes a slot only while its word holds `EMPTY_SEQ`
//! and writes the word last; the consumer reads a slot only while its word holds anything else
//! and writes nothing but `EMPTY_SEQ` into it; each side writes its own wait flag and the other
//! side's futex word. A peer that breaks the contract (a bug, or a process that opened the file
//! on its own) can spoil the *data*, not this process's memory safety:
//! - every index and length this side uses comes from its own position and the geometry it
//!   created or validated: `slot < slot_count`, `len <= slot_stride`. A word the
//!   other side writes is only compared with `EMPTY_SEQ`, so any value means at worst "full",
//!   "free" or "ready" at the wrong moment (a wait that times out, or a slot read early);
//! - a lent slot is plain bytes (`u8` has no invalid values). A peer writing into a slot it does
//!   not own races with our access through the lent `&[u8]`/`&mut [u8]`. We accept that race
//!   as every shared-memory IPC does, and confine it: the slices come from raw pointers into an
//!   `mmap` the compiler cannot see through, and nothing derived from slot bytes (headers,
//!   pattern checks) is ever used as an index, a length or a pointer. A run with such a peer
//!   may report garbage; it cannot make this process read or write outside the mapping.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::wait_word::{announce_sleep, wake};
pub use super::wait_word::{WaitEnd, WaitWord};

pub use crate::wire::EMPTY_SEQ;

/// Bytes of a slot's word, at its start: the first bytes of the message (its header's `seq`).
pub const WORD_BYTES: usize = 8;

/// `EMPTY_SEQ` as the word holds it: little-endian, as the header's `seq` is (the value whose
/// native representation is those bytes).
const EMPTY_WORD: u64 = EMPTY_SEQ.to_le();

/// The control block at the start of a ring: only what blocking waits need (the messages
/// publish themselves in their slots). Each wait word is on its own cache lines (128 bytes
/// apart, beyond the adjacent-line prefetcher); written only by a side that goes to sleep, they
/// stay shared (cheap to read) in spin mode.
#[repr(C)]
pub struct RingControl {
    /// Where the consumer sleeps waiting for data.
    pub data_wait: CachePadded<WaitWord>,
    /// Where the producer sleeps waiting for space.
    pub space_wait: CachePadded<WaitWord>,
}

/// Where a ring's slots are and how they are cut.
#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    /// Bytes from one slot to the next (a multiple of 64, at least [`WORD_BYTES`]).
    pub slot_stride: usize,
    pub slot_count: usize,
}

/// Marks every slot of `slots` free: what a fresh ring holds before either end exists.
pub fn clear(slots: &mut [u8], geo: Geometry) {
    for i in 0..geo.slot_count {
        let at = i * geo.slot_stride;
        slots[at..at + WORD_BYTES].copy_from_slice(&EMPTY_SEQ.to_le_bytes());
    }
}

/// Keeps the memory a handle points into alive (the mapped region, or a test's heap ring).
pub type KeepAlive = Arc<dyn Send + Sync>;

/// The producing end of a ring. Exactly one exists per ring (one process creates it).
pub struct Producer {
    ctl: *const RingControl,
    slots: *mut u8,
    geo: Geometry,
    /// The slot we fill next (messages published so far, modulo `slot_count`). Ours alone.
    index: usize,
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
    /// The slot we read next (messages released so far, modulo `slot_count`). Ours alone.
    index: usize,
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

/// The word of slot `index`.
///
/// # Safety
/// `slots` points to `geo.slot_stride * geo.slot_count` bytes of live memory whose slots start
/// 8-byte aligned (the slot array is page-aligned and the stride a multiple of 64), and
/// `index < geo.slot_count`.
#[inline(always)]
unsafe fn word<'a>(slots: *const u8, geo: Geometry, index: usize) -> &'a AtomicU64 {
    debug_assert!(index < geo.slot_count && geo.slot_stride >= WORD_BYTES);
    // SAFETY:
    // - `index < slot_count`, so the 8 bytes at the slot's start are inside the slot array;
    // - aligned for `AtomicU64` (contract above); every access to a word, from either side, is
    //   atomic except the consumer's plain read of it as part of the message it owns (ordered
    //   after its Acquire load saw the message), so there is no mixed-access race.
    unsafe { &*(slots.add(index * geo.slot_stride) as *const AtomicU64) }
}

/// Asks the CPU to fetch the cache line at `p` in a state it can write (`prefetchw`): a hint,
/// never a fault, whatever `p` is.
#[inline(always)]
fn prefetch_for_write(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHW only hints the cache: it reads and writes no memory, cannot fault, and
    // leaves registers and flags alone; on a CPU without it the opcode is a NOP.
    unsafe {
        std::arch::asm!("prefetchw byte ptr [{0}]", in(reg) p, options(nostack, preserves_flags, readonly));
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The slot after `index`: no division on the hot path.
#[inline(always)]
fn next(index: usize, geo: Geometry) -> usize {
    if index + 1 == geo.slot_count {
        0
    } else {
        index + 1
    }
}

impl Producer {
    /// # Safety
    /// - `ctl` points to a `RingControl` and `slots` to `geo.slot_stride * geo.slot_count`
    ///   bytes, page-aligned, both in memory that stays mapped, readable and writable while
    ///   this exists, and `geo.slot_stride` is a multiple of 64;
    /// - no other `Producer` for this ring exists in any process;
    /// - the ring is fresh: every slot [`clear`]ed and no message ever published in it.
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
        Producer { ctl, slots, geo, index: 0, may_sleep, _keep: keep }
    }

    #[inline(always)]
    fn ctl(&self) -> &RingControl {
        // SAFETY: valid for our lifetime per the contract of `new`.
        unsafe { &*self.ctl }
    }

    #[inline(always)]
    fn word(&self) -> &AtomicU64 {
        // SAFETY: `slots` and `geo` as `word` requires, per the contract of `new`.
        unsafe { word(self.slots, self.geo, self.index) }
    }

    /// Whether the slot at our position is free: its word says so.
    #[inline(always)]
    pub fn has_space(&mut self) -> bool {
        // SYNC POINT: Acquire pairs with the Release store of `EMPTY_SEQ` in
        // `Consumer::release`: once we see the slot freed, the consumer's reads of it are done.
        self.word().load(Ordering::Acquire) == EMPTY_WORD
    }

    /// [`has_space`](Self::has_space) for a producer about to write: the word's line is asked
    /// for in a writable state first (`prefetchw`), so that a freed slot, whose line the
    /// consumer last wrote, comes over in one transfer instead of a read and then an upgrade.
    /// For the first check before a send; waits poll with `has_space`.
    #[inline(always)]
    pub fn has_space_to_write(&mut self) -> bool {
        prefetch_for_write(self.word().as_ptr() as *const u8);
        self.has_space()
    }

    /// The slot at our position after its word, `len - WORD_BYTES` bytes, to fill in place:
    /// the message but its first 8 bytes, which [`publish`](Self::publish) writes. Call only
    /// after `has_space` returned true.
    #[inline(always)]
    pub fn body(&mut self, len: usize) -> &mut [u8] {
        debug_assert!(self.word().load(Ordering::Relaxed) == EMPTY_WORD, "body() without space");
        debug_assert!((WORD_BYTES..=self.geo.slot_stride).contains(&len));
        let index = self.index;
        // SAFETY:
        // - `index < slot_count` and `WORD_BYTES <= len <= slot_stride`, so the range is inside
        //   the slot, after its word (which only ever gets atomic accesses from us);
        // - the slot is free (its word holds EMPTY_SEQ, seen with Acquire): the consumer has
        //   released it and will not read it before we publish it, so we have exclusive access;
        // - `&mut self` ties the slice to this handle, so it cannot outlive or alias another.
        unsafe {
            let at = self.slots.add(index * self.geo.slot_stride + WORD_BYTES);
            std::slice::from_raw_parts_mut(at, len - WORD_BYTES)
        }
    }

    /// Publishes the slot filled through [`body`](Self::body) as message `seq` (never
    /// `EMPTY_SEQ`). Returns whether the consumer is asleep and needs a wake-up.
    #[inline(always)]
    pub fn publish(&mut self, seq: u64) -> bool {
        debug_assert_ne!(seq, EMPTY_SEQ, "EMPTY_SEQ is never sent");
        let w = self.word();
        let sleeper = if !self.may_sleep {
            // SYNC POINT: Release pairs with the Acquire load of the word in
            // `Consumer::has_data`: our writes into the slot happen-before its reads of it.
            w.store(seq.to_le(), Ordering::Release);
            false
        } else {
            // SYNC POINT: as above; SeqCst also orders this store before the load of
            // `data_wait.sleeping` below (Dekker pair with `Consumer::prepare_sleep`).
            w.store(seq.to_le(), Ordering::SeqCst);
            // SeqCst: partner of the SeqCst store of `data_wait.sleeping` in `prepare_sleep`.
            self.ctl().data_wait.sleeping.load(Ordering::SeqCst) != 0
        };
        self.index = next(self.index, self.geo);
        sleeper
    }

    /// Wakes a consumer sleeping on `data_wait`.
    pub fn wake_consumer(&self) {
        wake(&self.ctl().data_wait);
    }

    /// Announces that we are about to sleep waiting for space; returns the futex value to sleep
    /// on, or `None` if space appeared meanwhile (then do not sleep).
    pub fn prepare_sleep(&mut self) -> Option<u32> {
        let seen = announce_sleep(&self.ctl().space_wait);
        // SeqCst: the other half of the Dekker pair with `Consumer::release`.
        if self.word().load(Ordering::SeqCst) == EMPTY_WORD {
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

impl Consumer {
    /// # Safety
    /// As for [`Producer::new`], with "Consumer" for "Producer".
    pub unsafe fn new(
        ctl: *const RingControl,
        slots: *const u8,
        geo: Geometry,
        may_sleep: bool,
        keep: KeepAlive,
    ) -> Consumer {
        Consumer { ctl, slots, geo, index: 0, may_sleep, _keep: keep }
    }

    #[inline(always)]
    fn ctl(&self) -> &RingControl {
        // SAFETY: valid for our lifetime per the contract of `new`.
        unsafe { &*self.ctl }
    }

    #[inline(always)]
    fn word(&self) -> &AtomicU64 {
        // SAFETY: `slots` and `geo` as `word` requires, per the contract of `new`.
        unsafe { word(self.slots, self.geo, self.index) }
    }

    /// Whether the message at our position has arrived: its slot's word says so.
    #[inline(always)]
    pub fn has_data(&mut self) -> bool {
        // SYNC POINT: Acquire pairs with the Release (SeqCst) store of the word in
        // `Producer::publish`: the producer's writes into the slot are visible to us.
        self.word().load(Ordering::Acquire) != EMPTY_WORD
    }

    /// The oldest published message, `len` bytes from the slot's start (its word, the `seq`,
    /// first), in place. Call only after `has_data`.
    #[inline(always)]
    pub fn slot(&self, len: usize) -> &[u8] {
        debug_assert!(self.word().load(Ordering::Relaxed) != EMPTY_WORD, "slot() without data");
        debug_assert!(len <= self.geo.slot_stride);
        let index = self.index;
        // SAFETY:
        // - `index < slot_count`, `len <= slot_stride`: inside the slot array;
        // - the slot is published (its word, seen with Acquire, is not EMPTY_SEQ) and not yet
        //   released: the producer will not write it, word included, until we release it, so
        //   nobody writes while we read.
        unsafe { std::slice::from_raw_parts(self.slots.add(index * self.geo.slot_stride), len) }
    }

    /// Releases the slot returned by [`slot`](Self::slot). Returns whether the producer is asleep
    /// and needs a wake-up.
    #[inline(always)]
    pub fn release(&mut self) -> bool {
        let w = self.word();
        let sleeper = if !self.may_sleep {
            // SYNC POINT: Release pairs with the Acquire load of the word in
            // `Producer::has_space`: our reads of the slot are done before it may refill it.
            w.store(EMPTY_WORD, Ordering::Release);
            false
        } else {
            // SYNC POINT: as above; SeqCst also orders this store before the load of
            // `space_wait.sleeping` (Dekker pair with `Producer::prepare_sleep`).
            w.store(EMPTY_WORD, Ordering::SeqCst);
            // SeqCst: partner of the SeqCst store of `space_wait.sleeping` in `prepare_sleep`.
            self.ctl().space_wait.sleeping.load(Ordering::SeqCst) != 0
        };
        self.index = next(self.index, self.geo);
        sleeper
    }

    /// Wakes a producer sleeping on `space_wait`.
    pub fn wake_producer(&self) {
        wake(&self.ctl().space_wait);
    }

    /// Announces that we are about to sleep waiting for data; returns the futex value to sleep
    /// on, or `None` if data arrived meanwhile.
    pub fn prepare_sleep(&mut self) -> Option<u32> {
        let seen = announce_sleep(&self.ctl().data_wait);
        // SeqCst: the other half of the Dekker pair with `Producer::publish`.
        if self.word().load(Ordering::SeqCst) != EMPTY_WORD {
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
