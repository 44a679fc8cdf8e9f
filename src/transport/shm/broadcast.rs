//! The broadcast ring of `--pattern fan-out`: one writer, N readers, every message written once
//! into a slot and read in place by all of them.
//!
//! A Disruptor-style sequence ring (LMAX's one-producer, many-consumer barrier) in memory
//! shared by N + 1 processes. The writer owns `head` (messages published); reader `i` owns its
//! own `tail` (messages it has released) and its acknowledgement. A slot is free again once
//! the *slowest* reader has released it: the writer is held back by the slowest reader
//! (back-pressure, never overwrite, never a lost message), and it re-reads the N tails only
//! when its cached minimum says full.
//!
//! | offset | content |
//! |---|---|
//! | 0 | [`Header`]: magic, layout, geometry, the readers' claims |
//! | 4096 | [`WriterControl`]: `head`, the readers' shared futex word, the writer's futex word |
//! | 8192 | N × [`ReaderControl`], 128 bytes each, then padding to a page |
//! | after | the slots |
//!
//! Waking: the readers sleep on one futex word and count themselves in `sleepers`; after a
//! publish the writer bumps the word and wakes *all* sleepers with one `futex_wake` only when
//! the count is non-zero (a Dekker pair, as in [`super::ring`]: the writer stores `head` then
//! loads `sleepers`, a reader adds itself to `sleepers` then re-reads `head`, all `SeqCst`).
//! The writer sleeps on its own word, waiting for an acknowledgement or for space; a reader
//! that acknowledges or releases wakes it when its flag is up. Eventfds are not offered here
//! (one per reader would make the writer signal N descriptors per message).
//!
//! Each reader also holds its own liveness socket to the writer: the writer waiting for reader
//! `i` notices at once when that reader dies, and names it.
//!
//! What a broken or hostile process mapping the file can do is what [`super::ring`]'s module
//! doc says: spoil data, not this process's memory safety. Every index this side uses comes
//! from its own counters and the geometry it created or validated.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use crossbeam_utils::CachePadded;
use memmap2::{MmapMut, MmapOptions};
use rustix::fs::{Mode, OFlags};

use super::ring::WaitEnd;
use super::{wait_slow, WaitCtx};
use crate::cleanup;
use crate::transport::listener::{self, Listener};
use crate::transport::{Endpoint, Transport, TransportError, TransportResult, WaitStrategy};
use crate::wire::{Header, HEADER_BYTES};

/// The first 8 bytes of a broadcast mapping.
pub const MAGIC: [u8; 8] = *b"IPCBCAST";
/// Bumped on any change of the layout.
pub const LAYOUT_VERSION: u32 = 1;
/// The most readers one ring serves (the claims fit the header page).
pub const MAX_READERS: usize = 256;
const PAGE: usize = 4096;
const STATE_READY: u32 = 1;

/// The header at offset 0.
#[repr(C)]
struct Header0 {
    magic: [u8; 8],
    layout_version: u32,
    /// 0 while the creator initialises, [`STATE_READY`] after.
    state: AtomicU32,
    slot_stride: u64,
    slot_count: u64,
    readers: u64,
    total_bytes: u64,
    creator_pid: u32,
    /// Reader `i` claims `claims[i]` (0 -> its pid, compare-and-swap): one process per index.
    claims: [AtomicU32; MAX_READERS],
}

/// What the writer publishes and where everybody sleeps.
#[repr(C)]
struct WriterControl {
    /// Messages published; written by the writer. Next slot: `head % slot_count`.
    head: CachePadded<AtomicU64>,
    /// The readers sleep on `futex`; `sleepers` counts those asleep (or about to be).
    readers_futex: CachePadded<AtomicU32>,
    sleepers: CachePadded<AtomicU32>,
    /// The writer sleeps on `futex`; `sleeping` is 1 while it does.
    writer_futex: CachePadded<AtomicU32>,
    writer_sleeping: CachePadded<AtomicU32>,
}

/// One reader's line: written only by that reader.
#[repr(C)]
struct ReaderControl {
    /// Messages this reader has released.
    tail: AtomicU64,
    /// Acknowledgements sent; bumped after `ack_seq` and `ack_ns` are written.
    acks: AtomicU64,
    /// The last acknowledgement: the message's sequence number and the reader's clock when it
    /// arrived.
    ack_seq: AtomicU64,
    ack_ns: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<Header0>() <= PAGE);
const _: () = assert!(std::mem::size_of::<WriterControl>() <= PAGE);
const READER_STRIDE: usize = 128;
const _: () = assert!(std::mem::size_of::<ReaderControl>() <= READER_STRIDE);

/// The geometry of a ring: offsets and sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    slot_stride: usize,
    slot_count: usize,
    readers: usize,
    slots_offset: usize,
    total: usize,
}

impl Layout {
    fn of(size_bytes: usize, slot_count: usize, readers: usize) -> Layout {
        let slot_stride = size_bytes.div_ceil(64) * 64;
        let slots_offset = 2 * PAGE + (readers * READER_STRIDE).div_ceil(PAGE) * PAGE;
        let total = slots_offset + (slot_stride * slot_count).div_ceil(PAGE) * PAGE;
        Layout { slot_stride, slot_count, readers, slots_offset, total }
    }
}

/// A mapped broadcast region. The creator's removes its file, if any, when dropped.
struct Region {
    map: MmapMut,
    path: Option<PathBuf>,
    creator: bool,
    layout: Layout,
}

impl Region {
    fn header(&self) -> &Header0 {
        // SAFETY: the mapping is at least `layout.total` bytes (created or validated so), the
        // header fits in its first page, which is page-aligned; the atomics in it are made for
        // concurrent access and the plain fields are written only before `state` is ready.
        unsafe { &*(self.map.as_ptr() as *const Header0) }
    }

    fn writer(&self) -> &WriterControl {
        // SAFETY: page 1 lies inside the mapping (total > 2 pages) and holds only atomics.
        unsafe { &*(self.map.as_ptr().add(PAGE) as *const WriterControl) }
    }

    fn reader(&self, i: usize) -> &ReaderControl {
        debug_assert!(i < self.layout.readers);
        // SAFETY: `i < readers`, so the line lies between page 2 and `slots_offset`, inside the
        // mapping; it holds only atomics.
        unsafe { &*(self.map.as_ptr().add(2 * PAGE + i * READER_STRIDE) as *const ReaderControl) }
    }

    fn slot_ptr(&self, seq: u64) -> *mut u8 {
        let index = (seq % self.layout.slot_count as u64) as usize;
        debug_assert!(self.layout.slots_offset + (index + 1) * self.layout.slot_stride <= self.map.len());
        // SAFETY: `index < slot_count`: the slot lies inside the slot area of the mapping.
        unsafe {
            self.map.as_ptr().add(self.layout.slots_offset + index * self.layout.slot_stride) as *mut u8
        }
    }

    /// Maps `file` (sized to `layout.total`, ours alone) and writes the header.
    fn initialise(file: &File, path: Option<&Path>, layout: Layout) -> Result<Region> {
        // SAFETY: the file was just created by us exclusively (or is our fresh memfd); only the
        // readers we hand it to map it. What they write can spoil data, not our memory safety
        // (every index we use is our own, see the module doc).
        let mut map = unsafe { MmapOptions::new().len(layout.total).populate().map_mut(file) }
            .context("mapping the broadcast ring")?;
        map.fill(0); // also faults every page in before any timing
        let region = Region { map, path: path.map(Path::to_path_buf), creator: true, layout };
        let h = region.map.as_ptr() as *mut Header0;
        // SAFETY: the header is inside the mapping and aligned; nobody else maps it yet.
        unsafe {
            (*h).magic = MAGIC;
            (*h).layout_version = LAYOUT_VERSION;
            (*h).slot_stride = layout.slot_stride as u64;
            (*h).slot_count = layout.slot_count as u64;
            (*h).readers = layout.readers as u64;
            (*h).total_bytes = layout.total as u64;
            (*h).creator_pid = std::process::id();
        }
        // SYNC POINT: Release pairs with the Acquire load of `state` in `attach`.
        region.header().state.store(STATE_READY, Ordering::Release);
        Ok(region)
    }

    /// Maps a creator's ring as reader `index`, checking every field against what we were told
    /// and claiming the index.
    fn attach(file: File, name: &str, layout: Layout, index: usize, timeout: Duration) -> Result<Region> {
        let len = file.metadata()?.len() as usize;
        if len != layout.total {
            bail!("{name} is {len} bytes; a broadcast ring of this geometry is {} bytes", layout.total);
        }
        // SAFETY: as in `initialise`; we map exactly the file's length, checked above to be the
        // layout's total, so every offset the layout gives stays inside.
        let map = unsafe { MmapOptions::new().len(len).populate().map_mut(&file) }
            .with_context(|| format!("mapping {name}"))?;
        let region = Region { map, path: None, creator: false, layout };
        let deadline = Instant::now() + timeout;
        // SYNC POINT: Acquire pairs with the Release store of `state` in `initialise`.
        while region.header().state.load(Ordering::Acquire) != STATE_READY {
            if Instant::now() >= deadline {
                bail!("{name} was not initialised within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let h = region.header();
        if h.magic != MAGIC {
            bail!("{name} is not an ipcbench broadcast ring (magic {:?})", h.magic);
        }
        if h.layout_version != LAYOUT_VERSION {
            bail!("{name} has layout version {}; this ipcbench uses {LAYOUT_VERSION}", h.layout_version);
        }
        let checks = [
            ("slot size", h.slot_stride, layout.slot_stride as u64),
            ("slot count", h.slot_count, layout.slot_count as u64),
            ("readers", h.readers, layout.readers as u64),
            ("total size", h.total_bytes, layout.total as u64),
        ];
        for (what, found, expected) in checks {
            if found != expected {
                bail!("{name}: header mismatch: {what} is {found}, expected {expected}");
            }
        }
        // Relaxed: the claim publishes nothing (the ring was published by `state`).
        if let Err(holder) =
            h.claims[index].compare_exchange(0, std::process::id(), Ordering::Relaxed, Ordering::Relaxed)
        {
            bail!("reader {index} of {name} is already attached by process {holder}");
        }
        Ok(region)
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if let (true, Some(path)) = (self.creator, &self.path) {
            cleanup::remove_file(path);
        }
    }
}

/// Where reader `index` of a broadcast ring attaches.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BroadcastEndpoint {
    /// The mapping file (empty for a memfd, which comes over the liveness socket).
    pub mapping: PathBuf,
    /// This reader's own liveness socket.
    pub liveness: PathBuf,
    pub slot_count: usize,
    pub readers: usize,
    pub index: usize,
    pub memfd: bool,
}

/// The writer's side before its readers have attached.
pub struct BroadcastListener {
    region: Region,
    memfd: Option<OwnedFd>,
    liveness: Vec<Listener>,
    endpoints: Vec<BroadcastEndpoint>,
}

impl BroadcastListener {
    /// Creates a ring for `readers` readers of messages of `size_bytes` in the file `mapping`
    /// (or a sealed memfd when `None`), and one liveness socket per reader, `<stem>-<i>.sock`.
    pub fn create(
        mapping: Option<&Path>,
        socket_stem: &Path,
        size_bytes: usize,
        slot_count: usize,
        readers: usize,
        mode: u32,
    ) -> Result<Self> {
        if readers == 0 || readers > MAX_READERS {
            bail!("a broadcast ring serves 1 to {MAX_READERS} readers, not {readers}");
        }
        let layout = Layout::of(size_bytes, slot_count, readers);
        let (region, memfd) = match mapping {
            Some(path) => {
                let fd = rustix::fs::open(
                    path,
                    OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::from_raw_mode(mode),
                )
                .map_err(|e| anyhow::anyhow!("creating the broadcast ring {}: {e}", path.display()))?;
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
                cleanup::register_file(path);
                let file = File::from(fd);
                let made = file
                    .set_len(layout.total as u64)
                    .with_context(|| format!("sizing {} to {} bytes", path.display(), layout.total))
                    .and_then(|_| Region::initialise(&file, Some(path), layout));
                if made.is_err() {
                    cleanup::remove_file(path);
                }
                (made?, None)
            }
            None => {
                use rustix::fs::{MemfdFlags, SealFlags};
                let fd = rustix::fs::memfd_create(
                    "ipcbench-broadcast",
                    MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
                )
                .context("memfd_create")?;
                let file = File::from(fd);
                file.set_len(layout.total as u64).context("sizing the broadcast memfd")?;
                rustix::fs::fcntl_add_seals(&file, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)
                    .context("sealing the broadcast memfd against resizing")?;
                let region = Region::initialise(&file, None, layout)?;
                (region, Some(OwnedFd::from(file)))
            }
        };
        let mut liveness = Vec::with_capacity(readers);
        let mut endpoints = Vec::with_capacity(readers);
        for index in 0..readers {
            let path = PathBuf::from(format!("{}-{index}.sock", socket_stem.display()));
            liveness.push(Listener::bind_unix(&path, mode)?);
            endpoints.push(BroadcastEndpoint {
                mapping: mapping.map(Path::to_path_buf).unwrap_or_default(),
                liveness: path,
                slot_count,
                readers,
                index,
                memfd: memfd.is_some(),
            });
        }
        Ok(BroadcastListener { region, memfd, liveness, endpoints })
    }

    pub fn endpoints(&self) -> &[BroadcastEndpoint] {
        &self.endpoints
    }

    /// Readable once reader `i` has connected.
    pub fn liveness_fd(&self, i: usize) -> std::os::fd::BorrowedFd<'_> {
        self.liveness[i].fd()
    }

    /// Accepts every reader (each maps the ring first), handing a memfd over; the writer's side.
    pub fn accept(self, size_bytes: usize, wait: WaitStrategy, timeout: Duration) -> Result<BroadcastWriter> {
        let mut peers = Vec::with_capacity(self.liveness.len());
        for (i, l) in self.liveness.into_iter().enumerate() {
            let fd = l.accept(timeout).with_context(|| format!("accepting subscriber {i}"))?;
            drop(l); // its socket file is no longer needed
            if let Some(m) = &self.memfd {
                listener::send_fds(&fd, &[m.as_fd()], "memfd")?;
            }
            peers.push(fd);
        }
        let tails = vec![0; peers.len()];
        Ok(BroadcastWriter {
            ring: WriterRing { region: self.region, head: 0, cached_min_tail: 0, tails: tails.clone() },
            size: size_bytes,
            seen_acks: tails,
            liveness: peers,
            wait,
            timeout_ns: timeout.as_nanos() as u64,
        })
    }
}

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
fn wake_writer(w: &WriterControl) {
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
        let c = self.region.writer();
        // Acquire: pairs with the Release bump in `wake_writer`.
        let seen = c.writer_futex.load(Ordering::Acquire);
        // SeqCst: Dekker pair with a reader's SeqCst store of `tail` then load of this flag.
        c.writer_sleeping.store(1, Ordering::SeqCst);
        if self.has_space() {
            self.done_sleeping();
            return None;
        }
        Some(seen)
    }
    fn done_sleeping(&self) {
        // Relaxed: a hint for the readers; a stale 1 costs one needless wake.
        self.region.writer().writer_sleeping.store(0, Ordering::Relaxed);
    }
    fn futex(&self) -> &AtomicU32 {
        &self.region.writer().writer_futex
    }
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
        let c = self.region.writer();
        // Acquire: pairs with the Release bump in `wake_writer`.
        let seen = c.writer_futex.load(Ordering::Acquire);
        // SeqCst: Dekker pair with the reader's SeqCst store of `acks` then load of this flag.
        c.writer_sleeping.store(1, Ordering::SeqCst);
        if self.ready() {
            self.done_sleeping();
            return None;
        }
        Some(seen)
    }
    fn done_sleeping(&self) {
        // Relaxed: a hint for the readers.
        self.region.writer().writer_sleeping.store(0, Ordering::Relaxed);
    }
    fn futex(&self) -> &AtomicU32 {
        &self.region.writer().writer_futex
    }
}

/// Attaches as reader `ep.index` and connects its liveness socket.
pub fn connect(
    ep: &BroadcastEndpoint,
    size_bytes: usize,
    wait: WaitStrategy,
    timeout: Duration,
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
        listener::connect(&Endpoint::Unix(ep.liveness.clone()), timeout)
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
        Ok(&mut self.ack)
    }

    /// Acknowledges: the header in the lent buffer goes to this reader's line.
    fn send(&mut self) -> TransportResult<()> {
        let h = Header::read(&self.ack[..HEADER_BYTES]);
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

#[cfg(test)]
#[path = "broadcast_tests.rs"]
mod tests;
