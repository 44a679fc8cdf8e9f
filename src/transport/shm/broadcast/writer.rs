//! The writer's side of the broadcast ring: the slot it lends, the publish that wakes every
//! sleeping reader, and the acknowledgements it waits for.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::{Region, WriterControl};
use crate::transport::shm::ring::WaitEnd;
use crate::transport::shm::{wait_slow, WaitCtx};
use crate::transport::{TransportResult, WaitStrategy};
use crate::wire::Header;

/// The writer: lends the next slot, publishes it to every reader, collects acknowledgements.
pub struct BroadcastWriter {
    ring: WriterRing,
    size: usize,
    seen_acks: Vec<u64>,
    liveness: Vec<OwnedFd>,
    wait: WaitStrategy,
    timeout_ns: u64,
}

/// The writer's view of the ring (kept apart from the liveness sockets a wait borrows).
struct WriterRing {
    region: Region,
    head: u64,
    cached_min_tail: u64,
    tails: Vec<u64>,
}

impl WriterRing {
    fn has_space(&mut self) -> bool {
        let count = self.region.layout.slot_count as u64;
        if self.head.wrapping_sub(self.cached_min_tail) < count {
            return true;
        }
        // The slowest reader is the one furthest behind `head` (wrapping: a tail ahead of head,
        // from a broken reader, is "far behind" and reads as full, never as an overflow).
        let mut behind = 0;
        for i in 0..self.tails.len() {
            // SYNC POINT: Acquire pairs with the Release store of `tail` in
            // `BroadcastReader::release`: that reader's reads of the slot are done.
            self.tails[i] = self.region.reader(i).tail.load(Ordering::Acquire);
            behind = behind.max(self.head.wrapping_sub(self.tails[i]));
        }
        self.cached_min_tail = self.head.wrapping_sub(behind);
        behind < count
    }
}

impl BroadcastWriter {
    /// The writer of `region`, its readers connected on `liveness` (reader `i` at `i`).
    pub(super) fn new(
        region: Region,
        size: usize,
        liveness: Vec<OwnedFd>,
        wait: WaitStrategy,
        timeout: Duration,
    ) -> BroadcastWriter {
        let tails = vec![0; liveness.len()];
        BroadcastWriter {
            ring: WriterRing { region, head: 0, cached_min_tail: 0, tails: tails.clone() },
            size,
            seen_acks: tails,
            liveness,
            wait,
            timeout_ns: timeout.as_nanos() as u64,
        }
    }

    pub fn readers(&self) -> usize {
        self.liveness.len()
    }

    /// Whether the next slot is free (every reader has released it).
    pub fn has_space(&mut self) -> bool {
        self.ring.has_space()
    }

    /// The next slot to fill in place, once every reader has released it.
    #[inline]
    pub fn slot(&mut self) -> TransportResult<&mut [u8]> {
        if !self.ring.has_space() {
            // Any reader's death ends the wait: watch the first (the others are checked by
            // their acknowledgements).
            wait_slow(&mut self.ring, WaitCtx::new(self.wait, self.timeout_ns, &self.liveness[0], None))?;
        }
        let p = self.ring.region.slot_ptr(self.ring.head);
        // SAFETY: the slot lies inside the mapping (`slot_ptr`), `size <= slot_stride` (the
        // layout was made for this size), every reader has released it (has_space) and none
        // reads it again before we publish it; `&mut self` ties the slice to this handle.
        Ok(unsafe { std::slice::from_raw_parts_mut(p, self.size) })
    }

    /// Publishes the filled slot to every reader, waking the sleeping ones.
    #[inline]
    pub fn publish(&mut self) {
        self.ring.head += 1;
        let w = self.ring.region.writer();
        if self.wait == WaitStrategy::Spin {
            // SYNC POINT: Release pairs with the Acquire load of `head` in
            // `ReaderRing::has_data`: our writes to the slot are visible to every reader.
            w.head.store(self.ring.head, Ordering::Release);
            return;
        }
        // SYNC POINT: as above; SeqCst also orders the store before the load of `sleepers`
        // (Dekker pair with `ReaderRing::prepare_sleep`).
        w.head.store(self.ring.head, Ordering::SeqCst);
        if w.sleepers.load(Ordering::SeqCst) != 0 {
            wake_all(w);
        }
    }

    /// Waits for reader `i`'s next acknowledgement; returns its header (the message's `seq`,
    /// and in `send_ns` the reader's clock at arrival).
    #[inline]
    pub fn ack(&mut self, i: usize) -> TransportResult<Header> {
        let mut end = AckEnd { region: &self.ring.region, i, seen: self.seen_acks[i] };
        if !end.ready() {
            wait_slow(&mut end, WaitCtx::new(self.wait, self.timeout_ns, &self.liveness[i], None))?;
        }
        let r = self.ring.region.reader(i);
        self.seen_acks[i] += 1;
        // Relaxed: ordered by the Acquire load of `acks` in `ready`.
        Ok(Header { seq: r.ack_seq.load(Ordering::Relaxed), send_ns: r.ack_ns.load(Ordering::Relaxed) })
    }
}

#[cold]
fn wake_all(w: &WriterControl) {
    // Release: pairs with the Acquire load of the futex word in `prepare_sleep`.
    w.readers_futex.fetch_add(1, Ordering::Release);
    let _ =
        rustix::thread::futex::wake(&w.readers_futex, rustix::thread::futex::Flags::empty(), i32::MAX as u32);
}

#[cold]
pub(super) fn wake_writer(w: &WriterControl) {
    // Release: pairs with the Acquire load of the futex word in the writer's `prepare_sleep`.
    w.writer_futex.fetch_add(1, Ordering::Release);
    let _ = rustix::thread::futex::wake(&w.writer_futex, rustix::thread::futex::Flags::empty(), 1);
}

/// The writer waiting for space.
impl WaitEnd for WriterRing {
    fn ready(&mut self) -> bool {
        self.has_space()
    }
    fn prepare_sleep(&mut self) -> Option<u32> {
        // The partner store is a reader's SeqCst store of `tail` in `release`.
        let seen = announce_writer_sleep(self.region.writer());
        if self.has_space() {
            self.done_sleeping();
            return None;
        }
        Some(seen)
    }
    fn done_sleeping(&self) {
        writer_awake(self.region.writer());
    }
    fn futex(&self) -> &AtomicU32 {
        &self.region.writer().writer_futex
    }
}

/// Reads the writer's futex word, then raises its sleeping flag; the caller re-checks its
/// condition before sleeping on the returned value.
fn announce_writer_sleep(c: &WriterControl) -> u32 {
    // Acquire: pairs with the Release bump in `wake_writer`.
    let seen = c.writer_futex.load(Ordering::Acquire);
    // SeqCst: Dekker pair with a reader's SeqCst store (of `tail` or `acks`) followed by its
    // SeqCst load of this flag in `nudge_writer`.
    c.writer_sleeping.store(1, Ordering::SeqCst);
    seen
}

fn writer_awake(c: &WriterControl) {
    // Relaxed: a hint for the readers; a stale 1 costs one needless wake.
    c.writer_sleeping.store(0, Ordering::Relaxed);
}

/// The writer waiting for reader `i`'s next acknowledgement.
struct AckEnd<'a> {
    region: &'a Region,
    i: usize,
    seen: u64,
}

impl WaitEnd for AckEnd<'_> {
    #[inline(always)]
    fn ready(&mut self) -> bool {
        // SYNC POINT: Acquire pairs with the Release (SeqCst) store of `acks` in
        // `BroadcastReader::send`: the acknowledgement's fields are visible.
        self.region.reader(self.i).acks.load(Ordering::Acquire) != self.seen
    }
    fn prepare_sleep(&mut self) -> Option<u32> {
        // The partner store is reader `i`'s SeqCst store of `acks` in `send`.
        let seen = announce_writer_sleep(self.region.writer());
        if self.ready() {
            self.done_sleeping();
            return None;
        }
        Some(seen)
    }
    fn done_sleeping(&self) {
        writer_awake(self.region.writer());
    }
    fn futex(&self) -> &AtomicU32 {
        &self.region.writer().writer_futex
    }
}
