//! The shared mapping: a file (in the socket directory, or `/dev/shm`) or an anonymous memfd
//! (passed to the peer over a Unix socket) holding a header and two rings, one per direction.
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 4096 | [`RegionHeader`] |
//! | 4096 | `ring_bytes` | ring 0 (creator -> attacher): 4096 bytes of [`RingControl`], then slots, each starting with its word (see `ring`) |
//! | 4096 + `ring_bytes` | `ring_bytes` | ring 1 (attacher -> creator) |
//!
//! The creator makes the file exclusively (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600), sizes
//! it, initialises it and only then sets `state` to ready. The attacher refuses a file whose
//! magic, layout version, slot size, slot count or length differ from what it was told: it is
//! never misread.
//!
//! A memfd is sealed against shrinking and growing before it is handed over (`F_SEAL_SHRINK |
//! F_SEAL_GROW | F_SEAL_SEAL`), and the attacher refuses one that is not: neither side can
//! truncate the memory under the other (which would turn the next access into a SIGBUS).
//!
//! One producer and one consumer per ring, by construction: the creator is unique (exclusive
//! creation), the attacher is unique (it claims `attacher_pid` with a compare-and-swap, so a
//! second attach fails), and [`Region::split`] consumes the region, so each side splits once.
//! The handles share the region through an `Arc`: the mapping lives as long as either does.
//!
//! The header is validated once, at attach; afterwards this side uses only the geometry it
//! validated, never a field the other process could rewrite (see the ring's module doc for
//! what the other process can and cannot do to us).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use memmap2::{MmapMut, MmapOptions};
use rustix::fs::{Mode, OFlags};

use super::ring::{self, Consumer, Geometry, Producer, RingControl};
use crate::cleanup;

/// The first 8 bytes of every mapping file.
pub const MAGIC: [u8; 8] = *b"IPCBSHM\0";
/// Bumped on any change of the layout above.
pub const LAYOUT_VERSION: u32 = 2;
const PAGE: usize = 4096;
const STATE_READY: u32 = 1;

/// The header at offset 0.
#[repr(C)]
struct RegionHeader {
    magic: [u8; 8],
    layout_version: u32,
    /// 0 while the creator initialises, [`STATE_READY`] after.
    state: AtomicU32,
    /// Bytes from one slot to the next (message size rounded up to 64).
    slot_stride: u64,
    slot_count: u64,
    /// Bytes of one ring: control page plus slots, a multiple of the page size.
    ring_bytes: u64,
    total_bytes: u64,
    creator_pid: u32,
    /// Claimed (0 -> its pid, compare-and-swap) by the one attacher once it has mapped the file.
    attacher_pid: AtomicU32,
}

const _: () = assert!(std::mem::size_of::<RegionHeader>() <= PAGE);
const _: () = assert!(std::mem::size_of::<RingControl>() <= PAGE);

/// Slot stride and count for messages of `size_bytes`, and the bytes of one ring.
pub fn layout(size_bytes: usize, slot_count: usize) -> (Geometry, usize) {
    let slot_stride = size_bytes.div_ceil(64) * 64;
    let ring_bytes = PAGE + (slot_stride * slot_count).div_ceil(PAGE) * PAGE;
    (Geometry { slot_stride, slot_count }, ring_bytes)
}

/// A mapped region. The creator's removes its file, if it has one, when dropped.
pub(crate) struct Region {
    map: MmapMut,
    /// The mapping file; `None` for a memfd.
    path: Option<PathBuf>,
    /// How errors name the mapping: its path, or `memfd`.
    name: String,
    creator: bool,
    geo: Geometry,
    ring_bytes: usize,
}

impl Region {
    /// Creates the file at `path` exclusively and initialises it for messages of `size_bytes`.
    /// A file left by a crashed run (its creator no longer exists) is replaced; anything else
    /// at `path`, a symlink included, is an error.
    /// The file gets `mode` (0600, or 0660 to share it with the directory's group).
    pub fn create(path: &Path, size_bytes: usize, slot_count: usize, mode: u32) -> Result<Region> {
        let (geo, ring_bytes) = layout(size_bytes, slot_count);
        let total = PAGE + 2 * ring_bytes;
        let file = match create_exclusive(path, mode) {
            Err(e) if e == rustix::io::Errno::EXIST && stale(path) => {
                eprintln!("note: removed stale shared-memory file {} left by an earlier run", path.display());
                std::fs::remove_file(path).with_context(|| format!("removing stale {}", path.display()))?;
                create_exclusive(path, mode)
            }
            other => other,
        }
        .map_err(|e| match e {
            rustix::io::Errno::EXIST => anyhow::anyhow!("{} already exists and is in use", path.display()),
            rustix::io::Errno::LOOP => {
                anyhow::anyhow!("{} is a symlink; refusing to follow it", path.display())
            }
            e => anyhow::anyhow!("creating shared-memory file {}: {e}", path.display()),
        })?;
        cleanup::register_file(path);
        let result = (|| {
            file.set_len(total as u64)
                .with_context(|| format!("sizing {} to {total} bytes", path.display()))?;
            Region::initialise(&file, Some(path), geo, ring_bytes)
        })();
        if result.is_err() {
            cleanup::remove_file(path);
        }
        result
    }

    /// Creates the region in an anonymous memfd, sized and sealed against resizing; returns it
    /// and a descriptor of the memfd to hand to the peer.
    pub fn create_memfd(size_bytes: usize, slot_count: usize) -> Result<(Region, std::os::fd::OwnedFd)> {
        use rustix::fs::{MemfdFlags, SealFlags};
        let (geo, ring_bytes) = layout(size_bytes, slot_count);
        let total = PAGE + 2 * ring_bytes;
        let fd = rustix::fs::memfd_create("ipcbench-ring", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
            .context("memfd_create")?;
        let file = File::from(fd);
        file.set_len(total as u64).with_context(|| format!("sizing a memfd to {total} bytes"))?;
        rustix::fs::fcntl_add_seals(&file, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)
            .context("sealing the memfd against resizing")?;
        let region = Region::initialise(&file, None, geo, ring_bytes)?;
        Ok((region, std::os::fd::OwnedFd::from(file)))
    }

    /// Maps `file` (already `PAGE + 2 * ring_bytes` long and ours alone) and writes the header.
    fn initialise(file: &File, path: Option<&Path>, geo: Geometry, ring_bytes: usize) -> Result<Region> {
        let total = PAGE + 2 * ring_bytes;
        let name = path.map_or_else(|| "memfd".to_string(), |p| p.display().to_string());
        {
            // SAFETY: the file (or memfd) was just created by us, exclusively, mode 0600; only
            // the peer we hand it to maps it, and it follows the ring protocol. Concurrent
            // modification by others would be a protocol breach, not memory unsafety of ours
            // beyond garbage data (all indices we use are our own).
            let mut map = unsafe { MmapOptions::new().len(total).populate().map_mut(file) }
                .with_context(|| format!("mapping {name}"))?;
            map.fill(0); // also faults in every page before any timing
            for i in 0..2 {
                let start = PAGE + i * ring_bytes + PAGE;
                ring::clear(&mut map[start..start + geo.slot_stride * geo.slot_count], geo);
            }
            let mut region =
                Region { map, path: path.map(Path::to_path_buf), name, creator: true, geo, ring_bytes };
            let h = region.header_mut_ptr();
            // SAFETY: the header lies within the mapping (checked by the const assert above),
            // is suitably aligned (page-aligned mapping), and nobody else uses the file yet.
            unsafe {
                (*h).magic = MAGIC;
                (*h).layout_version = LAYOUT_VERSION;
                (*h).slot_stride = geo.slot_stride as u64;
                (*h).slot_count = geo.slot_count as u64;
                (*h).ring_bytes = ring_bytes as u64;
                (*h).total_bytes = total as u64;
                (*h).creator_pid = std::process::id();
            }
            // SYNC POINT: Release pairs with the Acquire load of `state` in `attach`: the
            // header and zeroed rings are complete before an attacher sees ready.
            region.header().state.store(STATE_READY, Ordering::Release);
            Ok(region)
        }
    }

    /// Maps the file at `path` made by a creator for messages of `size_bytes` in rings of
    /// `slot_count`, waiting up to `timeout` for it to be ready. Any disagreement is an error.
    pub fn attach(path: &Path, size_bytes: usize, slot_count: usize, timeout: Duration) -> Result<Region> {
        let (geo, ring_bytes) = layout(size_bytes, slot_count);
        let fd = rustix::fs::open(path, OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| match e {
                rustix::io::Errno::LOOP => {
                    anyhow::anyhow!("{} is a symlink; refusing to follow it", path.display())
                }
                e => anyhow::anyhow!("opening shared-memory file {}: {e}", path.display()),
            })?;
        Region::attach_file(File::from(fd), Some(path), geo, ring_bytes, timeout)
    }

    /// Maps a memfd received from its creator, refusing one that is not sealed against
    /// resizing; otherwise as [`Region::attach`].
    pub fn attach_memfd(
        fd: std::os::fd::OwnedFd,
        size_bytes: usize,
        slot_count: usize,
        timeout: Duration,
    ) -> Result<Region> {
        use rustix::fs::SealFlags;
        let (geo, ring_bytes) = layout(size_bytes, slot_count);
        let seals = rustix::fs::fcntl_get_seals(&fd).context("reading the memfd's seals (is it a memfd?)")?;
        if !seals.contains(SealFlags::SHRINK | SealFlags::GROW) {
            bail!("the memfd from the peer is not sealed against resizing (seals {seals:?}): refusing to map it");
        }
        Region::attach_file(File::from(fd), None, geo, ring_bytes, timeout)
    }

    fn attach_file(
        file: File,
        path: Option<&Path>,
        geo: Geometry,
        ring_bytes: usize,
        timeout: Duration,
    ) -> Result<Region> {
        let name = path.map_or_else(|| "memfd".to_string(), |p| p.display().to_string());
        let len = file.metadata()?.len() as usize;
        if len < PAGE {
            bail!("{name} is {len} bytes, too small for an ipcbench shared-memory header");
        }
        // SAFETY: as in `initialise`; we map exactly the file's length, so every access through
        // the header's fields (checked against that length below) stays inside the mapping.
        let map = unsafe { MmapOptions::new().len(len).populate().map_mut(&file) }
            .with_context(|| format!("mapping {name}"))?;
        let region = Region { map, path: path.map(Path::to_path_buf), name, creator: false, geo, ring_bytes };
        let deadline = Instant::now() + timeout;
        // SYNC POINT: Acquire pairs with the Release store of `state` in `initialise`.
        while region.header().state.load(Ordering::Acquire) != STATE_READY {
            if Instant::now() >= deadline {
                bail!("{} was not initialised within {timeout:?}", region.name);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        region.validate(len)?;
        // The one attacher: a second attach (in this process or another) would make a second
        // producer and consumer. Relaxed: the claim publishes nothing; the rings were published
        // by the Acquire load of `state` above.
        if let Err(holder) = region.header().attacher_pid.compare_exchange(
            0,
            std::process::id(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            bail!("{} is already attached by process {holder}", region.name);
        }
        Ok(region)
    }

    fn validate(&self, len: usize) -> Result<()> {
        validate_header(&self.header_bytes(), len, &self.name, self.geo, self.ring_bytes)
    }

    /// A copy of the header's fields as they lie in the mapping, read through the header's
    /// own types (the atomics with atomic loads), for [`validate_header`].
    fn header_bytes(&self) -> [u8; HEADER_BYTES] {
        use std::mem::offset_of;
        let h = self.header();
        let mut out = [0u8; HEADER_BYTES];
        let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
        put(offset_of!(RegionHeader, magic), &h.magic);
        put(offset_of!(RegionHeader, layout_version), &h.layout_version.to_ne_bytes());
        put(offset_of!(RegionHeader, state), &h.state.load(Ordering::Relaxed).to_ne_bytes());
        put(offset_of!(RegionHeader, slot_stride), &h.slot_stride.to_ne_bytes());
        put(offset_of!(RegionHeader, slot_count), &h.slot_count.to_ne_bytes());
        put(offset_of!(RegionHeader, ring_bytes), &h.ring_bytes.to_ne_bytes());
        put(offset_of!(RegionHeader, total_bytes), &h.total_bytes.to_ne_bytes());
        put(offset_of!(RegionHeader, creator_pid), &h.creator_pid.to_ne_bytes());
        put(offset_of!(RegionHeader, attacher_pid), &h.attacher_pid.load(Ordering::Relaxed).to_ne_bytes());
        out
    }

    fn header_mut_ptr(&mut self) -> *mut RegionHeader {
        self.map.as_mut_ptr() as *mut RegionHeader
    }

    fn header(&self) -> &RegionHeader {
        // SAFETY: the mapping holds at least a page and the header fits in it; the atomics we
        // touch through this reference are designed for concurrent access.
        unsafe { &*(self.map.as_ptr() as *const RegionHeader) }
    }

    #[cfg(test)]
    fn creator_pid(&self) -> u32 {
        self.header().creator_pid
    }

    /// The two ends this side uses: it produces into ring 0 and consumes ring 1 if it is the
    /// creator, and the other way round otherwise. Consumes the region: each side splits once,
    /// and the handles keep the mapping alive between them.
    pub fn split(self, may_sleep: bool) -> (Producer, Consumer) {
        let (tx, rx) = if self.creator { (0, 1) } else { (1, 0) };
        let (geo, ring_bytes) = (self.geo, self.ring_bytes);
        let mut region = self;
        let base = region.map.as_mut_ptr();
        let keep: Arc<Region> = Arc::new(region);
        let ring = |i: usize| {
            debug_assert!(i < 2 && PAGE + (i + 1) * ring_bytes <= keep.map.len());
            // SAFETY: ring `i` < 2 starts at PAGE + i * ring_bytes and spans ring_bytes, inside
            // the mapping of PAGE + 2 * ring_bytes bytes (created or validated so).
            let start = unsafe { base.add(PAGE + i * ring_bytes) };
            // SAFETY: the slot area is the rest of the ring after its control page.
            (start as *const RingControl, unsafe { start.add(PAGE) })
        };
        let (tctl, tslots) = ring(tx);
        let (rctl, rslots) = ring(rx);
        // SAFETY:
        // - both rings lie in the mapping that `keep` owns; each handle holds a clone of `keep`,
        //   so the mapping outlives both (the `Arc` moved, the `MmapMut` inside did not, so
        //   `base` still points at it);
        // - this process holds the only producer of ring `tx` and the only consumer of ring
        //   `rx`: the creator is unique (O_EXCL) and so is the attacher (its CAS on
        //   `attacher_pid`), the two take opposite ends, and `split` consumed the region;
        // - the rings are fresh: cleared by the creator, and nothing is published before both
        //   sides have split (the run starts after both are connected).
        unsafe {
            (
                Producer::new(tctl, tslots, geo, may_sleep, keep.clone()),
                Consumer::new(rctl, rslots, geo, may_sleep, keep),
            )
        }
    }

    /// Writes to every page of the ring this side produces into, so no send takes a page fault.
    pub fn prefault_tx(&mut self) {
        let tx = if self.creator { 0 } else { 1 };
        let start = PAGE + tx * self.ring_bytes + PAGE;
        let end = PAGE + (tx + 1) * self.ring_bytes;
        for off in (start..end).step_by(PAGE) {
            // Byte 63 of the page: never a slot's word (words are bytes 0..8 of a slot, and
            // slots start at multiples of 64), so the consumer, which reads only words until
            // we publish, never sees this store. Volatile so it is not optimised away.
            // SAFETY: `off + 63` is inside the mapping (the ring's pages are whole); it lies
            // in the body of a slot we have not published, which no one else touches.
            unsafe { self.map.as_mut_ptr().add(off + 63).write_volatile(0) };
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if let (true, Some(path)) = (self.creator, &self.path) {
            cleanup::remove_file(path);
        }
    }
}

/// Bytes of the [`RegionHeader`] at the start of a mapping.
pub(crate) const HEADER_BYTES: usize = std::mem::size_of::<RegionHeader>();

/// Checks the header an attacher found against what it was told: `head` holds the header's
/// bytes (the start of the mapping), `len` is the mapping's length, `name` names it in errors.
/// Reads the fields from bytes, so any buffer can be checked (the fuzz target feeds arbitrary
/// ones); the header's `state` is the caller's to wait for.
pub(crate) fn validate_header(
    head: &[u8],
    len: usize,
    name: &str,
    geo: Geometry,
    ring_bytes: usize,
) -> Result<()> {
    use std::mem::offset_of;
    let Some(head) = head.get(..HEADER_BYTES) else {
        bail!("{name} is {len} bytes, too small for an ipcbench shared-memory header");
    };
    let u32_at = |at: usize| u32::from_ne_bytes(head[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_ne_bytes(head[at..at + 8].try_into().expect("8 bytes"));
    let magic = &head[offset_of!(RegionHeader, magic)..][..MAGIC.len()];
    if magic != MAGIC {
        bail!("{name} is not an ipcbench shared-memory file (magic {magic:?})");
    }
    let version = u32_at(offset_of!(RegionHeader, layout_version));
    if version != LAYOUT_VERSION {
        bail!("{name} has layout version {version}; this ipcbench uses version {LAYOUT_VERSION}");
    }
    let total = PAGE + 2 * ring_bytes;
    let checks = [
        ("slot size", u64_at(offset_of!(RegionHeader, slot_stride)), geo.slot_stride as u64),
        ("slot count", u64_at(offset_of!(RegionHeader, slot_count)), geo.slot_count as u64),
        ("ring size", u64_at(offset_of!(RegionHeader, ring_bytes)), ring_bytes as u64),
        ("total size", u64_at(offset_of!(RegionHeader, total_bytes)), total as u64),
        ("file length", len as u64, total as u64),
    ];
    for (what, found, expected) in checks {
        if found != expected {
            bail!("{name}: header mismatch: {what} is {found}, expected {expected}");
        }
    }
    Ok(())
}

fn create_exclusive(path: &Path, mode: u32) -> Result<File, rustix::io::Errno> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )?;
    // The umask may have taken bits away; set exactly `mode`.
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
    Ok(File::from(fd))
}

/// Whether the regular file at `path` is a mapping file whose creator no longer exists.
fn stale(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return false };
    if !meta.file_type().is_file() {
        return false;
    }
    let Ok(bytes) = std::fs::read(path) else { return false };
    if bytes.len() < HEADER_BYTES || bytes[..8] != MAGIC {
        return false;
    }
    let off = std::mem::offset_of!(RegionHeader, creator_pid);
    let pid = u32::from_le_bytes(bytes[off..off + 4].try_into().expect("4 bytes"));
    !crate::sys::process_exists(pid)
}

#[cfg(test)]
#[path = "region_tests.rs"]
mod tests;
