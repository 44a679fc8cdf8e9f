//! zenoh's shared-memory segments in /dev/shm (`<id>.zenoh`): which ones this process may
//! remove, and removing them, so that no run leaves one behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Removes zenoh shared-memory segments in /dev/shm that no live process holds (a killed
/// peer's): zenoh names them `<id>.zenoh` and holds a lock on each while it is in use. It
/// probes each with an exclusive lock, so it runs only as a process ends.
pub fn cleanup() {
    ::zenoh::shm::cleanup_orphaned_shm_segments();
}

/// Before this process exits: removes the zenoh segments that only it holds (and orphans).
/// zenoh keeps some for the life of the process (its metadata and watchdog segments, the
/// peer's segments it mapped) and removes them only when no one holds them, which at exit is
/// never; the mappings stay valid after the names are gone.
///
/// A segment this process shares with a peer that is ending too is removed by whichever of
/// the two looks last, and if both look while the other still holds it, by neither. So one
/// side waits: with `outlive` (the initiator, which has said goodbye to its peers), up to
/// that long for the peers to let go, removing each segment as it becomes only ours. Peers
/// never wait, so the two never wait for each other.
pub fn remove_own_segments(outlive: Duration) {
    cleanup();
    let deadline = Instant::now() + outlive;
    let me = std::process::id() as i32;
    loop {
        for path in own_segments(&[]) {
            let _ = std::fs::remove_file(path);
        }
        // What this process still holds, a live peer holds too.
        let shared = held_segments().iter().any(|(_, holders)| holders.contains(&me));
        if !shared || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The zenoh segments in /dev/shm held by this process, by the processes `also` (children
/// about to be killed) or by processes that have exited, and by no one else: segments another
/// process still uses are never among them.
pub fn own_segments(also: &[i32]) -> Vec<PathBuf> {
    let me = std::process::id() as i32;
    held_segments()
        .into_iter()
        .filter(|(_, holders)| holders.iter().all(|&pid| pid == me || also.contains(&pid) || !alive(pid)))
        .map(|(path, _)| path)
        .collect()
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Every zenoh segment in /dev/shm that some process holds a lock on, with the holders' pids
/// (read from /proc/locks, not probed: a probe would take the lock for a moment).
fn held_segments() -> Vec<(PathBuf, Vec<i32>)> {
    let Ok(locks) = std::fs::read_to_string("/proc/locks") else { return Vec::new() };
    // `1: FLOCK  ADVISORY  READ  <pid> <major>:<minor>:<inode> 0 EOF`; `->` lines are waiters.
    let holders = |inode: u64| -> Vec<i32> {
        let tail = format!(":{inode}");
        locks
            .lines()
            .filter(|l| !l.contains("->"))
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() > 5 && f[5].ends_with(&tail)).then(|| f[4].parse().ok()).flatten()
            })
            .collect()
    };
    let Ok(dir) = std::fs::read_dir("/dev/shm") else { return Vec::new() };
    dir.flatten()
        .filter(|e| e.path().extension() == Some(std::ffi::OsStr::new("zenoh")))
        .filter_map(|e| {
            let held = e.metadata().map(|m| holders(std::os::unix::fs::MetadataExt::ino(&m))).ok()?;
            (!held.is_empty()).then(|| (e.path(), held))
        })
        .collect()
}
