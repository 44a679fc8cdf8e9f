//! zenoh's shared-memory segments in /dev/shm (`<id>.zenoh`): which ones this process may
//! remove, and removing them, so that no run leaves one behind.

use std::path::Path;

/// Removes zenoh shared-memory segments in /dev/shm that no live process holds (a killed
/// peer's): zenoh names them `<id>.zenoh` and holds a lock on each while it is in use.
pub fn cleanup() {
    ::zenoh::shm::cleanup_orphaned_shm_segments();
}

/// Before this process exits: removes the zenoh segments that only it holds (and orphans).
/// zenoh keeps some for the life of the process (its metadata and watchdog segments, the
/// peer's segments it mapped) and removes them only when no one holds them, which at exit is
/// never; the mappings stay valid after the names are gone.
pub fn remove_own_segments() {
    cleanup();
    for path in own_segments(&[]) {
        let _ = std::fs::remove_file(path);
    }
}

/// The zenoh segments in /dev/shm held by this process, by the processes `also` (children
/// about to be killed) or by processes that have exited, and by no one else: segments another
/// process still uses are never among them.
pub fn own_segments(also: &[i32]) -> Vec<std::path::PathBuf> {
    let me = std::process::id() as i32;
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
    let ours = |pid: i32| pid == me || also.contains(&pid) || !Path::new(&format!("/proc/{pid}")).exists();
    let Ok(dir) = std::fs::read_dir("/dev/shm") else { return Vec::new() };
    dir.flatten()
        .filter(|e| e.path().extension() == Some(std::ffi::OsStr::new("zenoh")))
        .filter(|e| {
            let held =
                e.metadata().map(|m| holders(std::os::unix::fs::MetadataExt::ino(&m))).unwrap_or_default();
            !held.is_empty() && held.into_iter().all(ours)
        })
        .map(|e| e.path())
        .collect()
}
