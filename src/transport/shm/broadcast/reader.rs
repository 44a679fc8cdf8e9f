//! A reader of the broadcast ring: attaches as its index, reads each message in place,
//! releases it and acknowledges it.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rustix::fs::{Mode, OFlags};

use super::writer::wake_writer;
use super::{BroadcastEndpoint, Layout, Region, MAX_READERS};
use crate::transport::listener;
use crate::transport::shm::ring::WaitEnd;
use crate::transport::shm::{wait_slow, WaitCtx};
use crate::transport::{Endpoint, Transport, TransportError, TransportResult, WaitStrategy};
use crate::wire::{Header, HEADER_BYTES};

/// Attaches as reader `ep.index` and connects its liveness socket.
pub fn connect(
    ep: &BroadcastEndpoint,
    size_bytes: usize,
    wait: WaitStrategy,
    timeout: Duration,
    key: &crate::auth::Key,
) -> Result<BroadcastReader> {
    if ep.readers == 0 || ep.readers > MAX_READERS || ep.index >= ep.readers {
        bail!(
            "reader {} of {} is not a broadcast ring reader (1 to {MAX_READERS} readers)",
            ep.index,
            ep.readers
        );
    }
    let layout = Layout::of(size_bytes, ep.slot_count, ep.readers);
    let live = || {
        listener::connect_proven(&Endpoint::Unix(ep.liveness.clone()), timeout, key)
            .with_context(|| format!("connecting the liveness socket {}", ep.liveness.display()))
    };
    let (region, liveness) = if ep.memfd {
        let fd = live()?;
        let mut got = listener::recv_fds(&fd, 1, "memfd", timeout)?;
        let memfd = got.remove(0);
        use rustix::fs::SealFlags;
        let seals = rustix::fs::fcntl_get_seals(&memfd).context("reading the memfd's seals")?;
        if !seals.contains(SealFlags::SHRINK | SealFlags::GROW) {
            bail!("the broadcast memfd is not sealed against resizing: refusing to map it");
        }
        (Region::attach(File::from(memfd), "broadcast memfd", layout, ep.index, timeout)?, fd)
    } else {
        let fd =
            rustix::fs::open(&ep.mapping, OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
                .map_err(|e| anyhow::anyhow!("opening the broadcast ring {}: {e}", ep.mapping.display()))?;
        let region =
            Region::attach(File::from(fd), &ep.mapping.display().to_string(), layout, ep.index, timeout)?;
        (region, live()?)
    };
    // Acquire: pairs with the Release store of `head` by the writer (0 before any message).
    let head = region.writer().head.load(Ordering::Acquire);
    Ok(BroadcastReader {
        ring: ReaderRing { region, index: ep.index, tail: 0, cached_head: head },
        size: size_bytes,
        acks: 0,
        ack: vec![0; size_bytes],
        liveness,
        wait,
        timeout_ns: timeout.as_nanos() as u64,
    })
}

/// Reader `index`: reads each message in place, releases it, acknowledges it.
///
/// As a [`Transport`], `recv`/`release` read the ring and `send_buf`/`send` acknowledge: the
/// header written into the lent buffer (the message's `seq` and this reader's arrival time) goes
/// to this reader's line, the rest of the buffer nowhere.
pub struct BroadcastReader {
    ring: ReaderRing,
    size: usize,
    acks: u64,
    ack: Vec<u8>,
    liveness: OwnedFd,
    wait: WaitStrategy,
    timeout_ns: u64,
}

/// A reader's view of the ring: what it waits on (kept apart from its liveness socket, which
/// the wait borrows at the same time).
struct ReaderRing {
    region: Region,
    index: usize,
    tail: u64,
    cached_head: u64,
}

impl ReaderRing {
    #[inline(always)]
    fn has_data(&mut self) -> bool {
        if self.cached_head != self.tail {
            return true;
        }
        // SYNC POINT: Acquire pairs with the Release (SeqCst) store of `head` in
        // `BroadcastWriter::publish`: the slot's bytes are visible to us.
        self.cached_head = self.region.writer().head.load(Ordering::Acquire);
        self.cached_head != self.tail
    }
}

impl BroadcastReader {
    /// Wakes the writer if it sleeps (after a store of ours it may wait for).
    #[inline(always)]
    fn nudge_writer(&self) {
        if self.wait != WaitStrategy::Spin {
            let w = self.ring.region.writer();
            // SeqCst: partner of the writer's SeqCst store of `writer_sleeping`.
            if w.writer_sleeping.load(Ordering::SeqCst) != 0 {
                wake_writer(w);
            }
        }
    }
}

/// A reader waiting for data.
impl WaitEnd for ReaderRing {
    #[inline(always)]
    fn ready(&mut self) -> bool {
        self.has_data()
    }
    fn prepare_sleep(&mut self) -> Option<u32> {
        let w = self.region.writer();
        // Acquire: pairs with the Release bump in `wake_all`.
        let seen = w.readers_futex.load(Ordering::Acquire);
        // SeqCst: Dekker pair with the writer's SeqCst store of `head` then load of `sleepers`.
        w.sleepers.fetch_add(1, Ordering::SeqCst);
        if self.has_data() {
            self.done_sleeping();
            return None;
        }
        Some(seen)
    }
    fn done_sleeping(&self) {
        // Relaxed: a count the writer reads as a hint; an extra wake is harmless.
        self.region.writer().sleepers.fetch_sub(1, Ordering::Relaxed);
    }
    fn futex(&self) -> &AtomicU32 {
        &self.region.writer().readers_futex
    }
}

impl Transport for BroadcastReader {
    fn send_buf(&mut self) -> TransportResult<&mut [u8]> {
        Ok(&mut self.ack[HEADER_BYTES..])
    }

    /// Acknowledges: the header goes to this reader's line (an acknowledgement has no payload).
    fn send(&mut self, h: Header) -> TransportResult<()> {
        let r = self.ring.region.reader(self.ring.index);
        // Relaxed: published by the store of `acks` below.
        r.ack_seq.store(h.seq, Ordering::Relaxed);
        r.ack_ns.store(h.send_ns, Ordering::Relaxed);
        self.acks += 1;
        if self.wait == WaitStrategy::Spin {
            // SYNC POINT: Release pairs with the Acquire load of `acks` in the writer's
            // `AckEnd::ready`: the acknowledgement's fields are visible with it.
            r.acks.store(self.acks, Ordering::Release);
            return Ok(());
        }
        // SYNC POINT: as above; SeqCst also orders it before the load of `writer_sleeping`.
        r.acks.store(self.acks, Ordering::SeqCst);
        self.nudge_writer();
        Ok(())
    }

    #[inline]
    fn recv(&mut self) -> TransportResult<&[u8]> {
        if !self.ring.has_data() {
            wait_slow(&mut self.ring, WaitCtx::new(self.wait, self.timeout_ns, &self.liveness, None))?;
        }
        let p = self.ring.region.slot_ptr(self.ring.tail);
        // SAFETY: the slot is inside the mapping (`slot_ptr`), `size <= slot_stride`; it is
        // published (tail < head) and not yet released by us, so the writer does not write it
        // while we read (it waits for the slowest reader's release).
        Ok(unsafe { std::slice::from_raw_parts(p, self.size) })
    }

    #[inline]
    fn release(&mut self) {
        let ring = &mut self.ring;
        ring.tail += 1;
        let line = ring.region.reader(ring.index);
        if self.wait == WaitStrategy::Spin {
            // SYNC POINT: Release pairs with the Acquire load of `tail` in the writer's
            // `has_space`: our reads of the slot are complete before it may refill it.
            line.tail.store(ring.tail, Ordering::Release);
            return;
        }
        // SYNC POINT: as above; SeqCst also orders it before the load of `writer_sleeping`.
        line.tail.store(ring.tail, Ordering::SeqCst);
        self.nudge_writer();
    }

    fn echo(&mut self) -> TransportResult<Header> {
        // A reader does not answer with data; fan-out's receivers acknowledge instead.
        Err(TransportError::Malformed("a broadcast ring reader cannot echo".into()))
    }
}
