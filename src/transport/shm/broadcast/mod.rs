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
//! | 0 | `Header0`: magic, layout, geometry, the readers' claims |
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

use crate::cleanup;
use crate::transport::listener::{self, Listener};
use crate::transport::WaitStrategy;

mod reader;
mod writer;

pub use reader::{connect, BroadcastReader};
pub use writer::BroadcastWriter;

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
    pub fn accept(
        self,
        size_bytes: usize,
        wait: WaitStrategy,
        timeout: Duration,
        keys: &[crate::auth::Key],
    ) -> Result<BroadcastWriter> {
        let mut peers = Vec::with_capacity(self.liveness.len());
        for ((i, l), key) in self.liveness.into_iter().enumerate().zip(keys) {
            let fd = l.accept_proven(timeout, key).with_context(|| format!("accepting subscriber {i}"))?;
            drop(l); // its socket file is no longer needed
            if let Some(m) = &self.memfd {
                listener::send_fds(&fd, &[m.as_fd()], "memfd")?;
            }
            peers.push(fd);
        }
        Ok(BroadcastWriter::new(self.region, size_bytes, peers, wait, timeout))
    }
}

#[cfg(test)]
mod tests;
