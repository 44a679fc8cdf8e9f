//! A bounded pool of pre-faulted sample blocks: how the per-message streams keep memory bounded
//! whatever a run's length.
//!
//! Every block is made and touched before the clock starts. A timed loop records through its
//! own [`Recorder`], which appends compact samples ([`crate::wire::block`]) to its current block
//! and, when the block is full, hands it to the `full` queue and takes a fresh one from the
//! `free` queue: two lock-free queue operations (crossbeam's `ArrayQueue`), no allocation and no
//! system call. One consumer thread ([`SamplePool::drain`]) takes full blocks, writes them out
//! (the stream files, or the control channel on the peer) and gives them back.
//!
//! When the consumer cannot keep up, the free queue runs dry: the recorder then **drops** the
//! samples it cannot keep and counts them ([`Recorder::finish`]), retrying at each sample, so the
//! timed loop never waits for a disk. The count ends up in the run's `samples_dropped`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_queue::ArrayQueue;

use crate::wire::block::{Encoder, MAX_SAMPLE_BYTES};
use crate::wire::Sample;

/// Bytes in a block: about 170,000 samples of a shm round trip.
pub const BLOCK_BYTES: usize = 1 << 20;
/// Blocks in a pool (64 MiB): about 5 s of a 2.5M messages/s round trip waiting to be written.
pub const POOL_BLOCKS: usize = 64;
/// How long an idle consumer sleeps before it looks for full blocks again.
const POLL: Duration = Duration::from_millis(5);

/// A block of encoded samples; `len` bytes of it are used.
pub struct Block {
    bytes: Box<[u8]>,
    len: usize,
}

impl Block {
    /// The encoded samples it holds.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The blocks of one side: free ones to record into, full ones to write out.
pub struct SamplePool {
    free: ArrayQueue<Block>,
    full: ArrayQueue<Block>,
    block_bytes: usize,
}

impl SamplePool {
    /// `blocks` blocks of `block_bytes` each, every page touched now (the clock has not started).
    pub fn new(blocks: usize, block_bytes: usize) -> SamplePool {
        assert!(blocks > 0 && block_bytes >= MAX_SAMPLE_BYTES, "a pool holds at least one sample");
        let free = ArrayQueue::new(blocks);
        for _ in 0..blocks {
            // Non-zero, so that every page is written (faulted in) here, not in a timed loop.
            let bytes = vec![0x5a_u8; block_bytes].into_boxed_slice();
            let _ = free.push(Block { bytes, len: 0 });
        }
        SamplePool { free, full: ArrayQueue::new(blocks), block_bytes }
    }

    /// The pool the streams use: [`POOL_BLOCKS`] of [`BLOCK_BYTES`].
    pub fn standard() -> SamplePool {
        SamplePool::new(POOL_BLOCKS, BLOCK_BYTES)
    }

    /// The largest block this pool holds, in bytes.
    pub fn block_bytes(&self) -> usize {
        self.block_bytes
    }

    /// A recorder for one timed loop, holding a block already.
    pub fn recorder(&self) -> Recorder<'_> {
        let mut r = Recorder { pool: self, block: None, limit: 0, enc: Encoder::new(), dropped: 0 };
        r.take_block();
        r
    }

    /// Hands a filled block to the consumer. The full queue holds every block of the pool, so
    /// there is always room.
    fn hand_on(&self, b: Block) {
        if b.len == 0 {
            let _ = self.free.push(b);
        } else if self.full.push(b).is_err() {
            unreachable!("the full queue has room for every block of its pool");
        }
    }

    /// Copies `bytes` (a block encoded elsewhere: the peer's) into a free block for the consumer,
    /// waiting for one while `keep_waiting` says so. `false` if it gave up or `bytes` does not
    /// fit a block.
    pub fn put_copy(&self, bytes: &[u8], keep_waiting: impl Fn() -> bool) -> bool {
        if bytes.len() > self.block_bytes {
            return false;
        }
        loop {
            if let Some(mut b) = self.free.pop() {
                b.bytes[..bytes.len()].copy_from_slice(bytes);
                b.len = bytes.len();
                self.hand_on(b);
                return true;
            }
            if !keep_waiting() {
                return false;
            }
            std::thread::sleep(POLL);
        }
    }

    /// How many blocks the pool holds.
    pub fn blocks(&self) -> usize {
        self.free.capacity()
    }

    /// The consumer's loop: passes every full block to `each` (in the order they were handed
    /// on) and recycles it, until `producers_done` is set and nothing is left. While the
    /// producers run, it waits until `batch` blocks are full before taking any, then takes all
    /// there are: a consumer that shares the timed loops' CPUs wakes them rarely, and a short
    /// run is written after its loops end. After `each` fails, the remaining blocks are
    /// recycled unread, so no recorder stalls, and the first error is returned.
    pub fn drain<E>(
        &self,
        producers_done: &AtomicBool,
        batch: usize,
        mut each: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut failed = None;
        // Taking blocks until `full` is empty, once `batch` were seen.
        let mut draining = false;
        loop {
            // SYNC POINT with the Release store of whoever set `producers_done` after every
            // recorder finished: a block handed on before that store is in `full` now, so an
            // empty `full` seen after `done` is true means the last block has been drained.
            let done = producers_done.load(Ordering::Acquire);
            if !(draining || done || self.full.len() >= batch) {
                std::thread::sleep(POLL);
                continue;
            }
            match self.full.pop() {
                Some(mut b) => {
                    draining = true;
                    if failed.is_none() {
                        failed = each(b.bytes()).err();
                    }
                    b.len = 0;
                    let _ = self.free.push(b);
                }
                None if done => return failed.map_or(Ok(()), Err),
                None => {
                    draining = false;
                    std::thread::sleep(POLL);
                }
            }
        }
    }
}

/// Tells a pool's consumer that every recorder has finished, when dropped: held by whoever runs
/// the recorders, so that the consumer ends however they end (a panic too).
pub struct ProducersDone<'a>(pub &'a AtomicBool);

impl Drop for ProducersDone<'_> {
    fn drop(&mut self) {
        // SYNC POINT with the Acquire load in `SamplePool::drain`: every recorder has finished,
        // handing on its last block, before this store.
        self.0.store(true, Ordering::Release);
    }
}

/// One timed loop's writer into a [`SamplePool`]; borrows the pool, so it cannot outlive it.
pub struct Recorder<'a> {
    pool: &'a SamplePool,
    block: Option<Block>,
    /// The block is full once `len` passes this: less than one sample's worst case is left.
    limit: usize,
    enc: Encoder,
    dropped: u64,
}

impl Recorder<'_> {
    /// Records `s`: appended to the current block, or (rarely) after a swap to a fresh one, or
    /// counted as dropped when the pool has none free.
    #[inline(always)]
    pub fn push(&mut self, s: Sample) {
        match &mut self.block {
            Some(b) if b.len <= self.limit => {
                debug_assert!(b.bytes.len() - b.len >= MAX_SAMPLE_BYTES);
                b.len += self.enc.encode(s, &mut b.bytes[b.len..]);
            }
            _ => self.swap_and_push(s),
        }
    }

    #[cold]
    #[inline(never)]
    fn swap_and_push(&mut self, s: Sample) {
        if let Some(full) = self.block.take() {
            self.pool.hand_on(full);
        }
        if self.take_block() {
            self.push(s);
        } else {
            self.dropped += 1;
        }
    }

    /// Takes a free block as the current one; `false` when there is none.
    fn take_block(&mut self) -> bool {
        match self.pool.free.pop() {
            Some(mut b) => {
                b.len = 0;
                self.limit = b.bytes.len() - MAX_SAMPLE_BYTES;
                self.enc = Encoder::new();
                self.block = Some(b);
                true
            }
            None => false,
        }
    }

    /// Hands the last, partly filled block on; returns how many samples were dropped.
    pub fn finish(mut self) -> u64 {
        if let Some(b) = self.block.take() {
            self.pool.hand_on(b);
        }
        self.dropped
    }
}

impl Drop for Recorder<'_> {
    /// A loop that failed still hands on what it recorded.
    fn drop(&mut self) {
        if let Some(b) = self.block.take() {
            self.pool.hand_on(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::block::decode;

    fn sample(i: u64) -> Sample {
        Sample { seq: i, send_ns: 1_000 + i * 400, recv_ns: 1_350 + i * 400 }
    }

    fn decoded(pool: &SamplePool) -> Vec<Sample> {
        let done = AtomicBool::new(true);
        let mut all = Vec::new();
        pool.drain(&done, 1, |b| {
            all.extend(decode(b).map(Result::unwrap));
            Ok::<_, ()>(())
        })
        .unwrap();
        all
    }

    #[test]
    fn a_pool_nobody_drains_drops_and_counts_what_it_cannot_hold() {
        // 2 blocks of 64 bytes: a handful of samples each.
        let pool = SamplePool::new(2, 64);
        let mut r = pool.recorder();
        for i in 0..1_000 {
            r.push(sample(i));
        }
        let dropped = r.finish();
        let kept = decoded(&pool);
        assert!(!kept.is_empty() && dropped > 0);
        assert_eq!(kept.len() as u64 + dropped, 1_000, "every sample kept or counted");
        assert_eq!(kept, (0..kept.len() as u64).map(sample).collect::<Vec<_>>(), "the first ones, in order");
        // Every block is free again: the pool is bounded and reusable.
        assert_eq!(pool.free.len(), 2);
    }

    #[test]
    fn a_consumer_that_keeps_up_gets_every_sample_in_order() {
        // 8 blocks of about 800 samples, each used about three times over. The loop records
        // far less between two looks of the consumer (every 5 ms) than the free blocks hold, and
        // waits for one to come back before recording into an empty queue: a consumer kept off
        // the CPU by a busy runner is late, which is not what this test is about.
        let pool = SamplePool::new(8, 4096);
        let done = AtomicBool::new(false);
        let mut got = Vec::new();
        let dropped = std::thread::scope(|s| {
            let consumer = s.spawn(|| {
                pool.drain(&done, 1, |b| {
                    got.extend(decode(b).map(Result::unwrap));
                    Ok::<_, ()>(())
                })
            });
            let mut r = pool.recorder();
            for i in 0..20_000 {
                let waiting = std::time::Instant::now();
                while pool.free.is_empty() {
                    // A consumer that never gives blocks back fails here, not hangs.
                    assert!(waiting.elapsed() < Duration::from_secs(10), "no block came back in 10 s");
                    std::thread::sleep(Duration::from_micros(200));
                }
                r.push(sample(i));
                if i % 40 == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            let dropped = r.finish();
            done.store(true, Ordering::Release);
            consumer.join().unwrap().unwrap();
            dropped
        });
        assert_eq!(dropped, 0);
        assert_eq!(got, (0..20_000).map(sample).collect::<Vec<_>>());
    }

    #[test]
    fn a_consumer_with_a_batch_takes_nothing_until_that_many_blocks_are_full_then_all() {
        let pool = SamplePool::new(4, 64);
        let done = AtomicBool::new(false);
        let taken = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            let consumer = s.spawn(|| {
                pool.drain(&done, 2, |_| {
                    taken.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>(())
                })
            });
            let mut r = pool.recorder();
            // 7 samples fill a 64-byte block (5 bytes each, 30 kept free): the 8th hands it on.
            (0..8).for_each(|i| r.push(sample(i)));
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(taken.load(Ordering::SeqCst), 0, "one full block is below the batch");
            (8..15).for_each(|i| r.push(sample(i))); // a second one
            let start = std::time::Instant::now();
            while taken.load(Ordering::SeqCst) < 2 {
                assert!(start.elapsed() < Duration::from_secs(10), "the batch was never taken");
                std::thread::sleep(Duration::from_millis(1));
            }
            r.finish();
            done.store(true, Ordering::Release);
            consumer.join().unwrap().unwrap();
        });
        assert_eq!(
            taken.load(Ordering::SeqCst),
            3,
            "and the last, partial block once the producers are done"
        );
    }

    #[test]
    fn a_failed_consumer_still_frees_every_block_and_reports_its_first_error() {
        let pool = SamplePool::new(3, 64);
        let mut r = pool.recorder();
        for i in 0..30 {
            r.push(sample(i));
        }
        drop(r); // a loop that failed: its block is handed on all the same
        let mut calls = 0;
        let err = pool.drain(&AtomicBool::new(true), 1, |_| {
            calls += 1;
            Err(calls)
        });
        assert_eq!(err, Err(1));
        assert_eq!(calls, 1);
        assert_eq!(pool.free.len(), 3);
    }

    #[test]
    fn a_foreign_block_is_copied_in_or_refused_when_too_large() {
        let pool = SamplePool::new(1, 64);
        assert!(!pool.put_copy(&[0; 65], || true));
        assert!(pool.put_copy(&[7; 10], || true));
        // The only block is full now: a second copy gives up when told to.
        assert!(!pool.put_copy(&[1; 10], || false));
        let mut blocks = Vec::new();
        pool.drain(&AtomicBool::new(true), 1, |b| {
            blocks.push(b.to_vec());
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!(blocks, vec![vec![7; 10]]);
    }
}
