//! The few raw system interfaces the harness needs beyond std: waiting on an fd with a timeout,
//! CPU pinning, and where this thread runs. Each wraps one rustix call and returns `io::Error`.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::thread::{sched_getaffinity, sched_getcpu, sched_setaffinity, CpuSet};
use rustix::time::Timespec;

/// Waits until `fd` is readable (or at EOF/error) or `timeout` passes; true when readable.
/// Allocates nothing: hybrid waits call it from timed loops.
pub fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    Ok(wait_readable_any([fd], timeout)?.is_some())
}

/// Waits until `fd` is ready for `interest` (`PollFlags::IN` or `OUT`; or at EOF/error) or
/// `timeout` passes; true when ready. Allocates nothing.
pub fn wait_ready(fd: BorrowedFd<'_>, interest: PollFlags, timeout: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ts = Timespec { tv_sec: left.as_secs() as i64, tv_nsec: left.subsec_nanos() as i64 };
        let mut polled = [PollFd::from_borrowed_fd(fd, interest)];
        match poll(&mut polled, Some(&ts)) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Waits until one of `fds` is readable (or at EOF/error); the index of the first such fd, or
/// `None` when `timeout` passes first.
pub fn wait_readable_any<const N: usize>(
    fds: [BorrowedFd<'_>; N],
    timeout: Duration,
) -> io::Result<Option<usize>> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ts = Timespec { tv_sec: left.as_secs() as i64, tv_nsec: left.subsec_nanos() as i64 };
        let mut polled = fds.map(|fd| PollFd::from_borrowed_fd(fd, PollFlags::IN));
        match poll(&mut polled, Some(&ts)) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(polled.iter().position(|p| !p.revents().is_empty())),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Pins the calling thread to `cpu` (an error, never a panic, for a CPU number beyond what a
/// CPU set holds: a peer gets its CPU from the other side).
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= CpuSet::MAX_CPU {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("CPU {cpu} is beyond the {} a CPU set holds", CpuSet::MAX_CPU),
        ));
    }
    let mut set = CpuSet::new();
    set.set(cpu);
    sched_setaffinity(None, &set).map_err(io::Error::from)
}

/// Lets the calling thread run on any of `cpus` (a thread started by a pinned one inherits its
/// single CPU).
pub fn allow_current_thread(cpus: &[usize]) -> io::Result<()> {
    let mut set = CpuSet::new();
    for &cpu in cpus.iter().filter(|&&c| c < CpuSet::MAX_CPU) {
        set.set(cpu);
    }
    sched_setaffinity(None, &set).map_err(io::Error::from)
}

/// The CPUs the process was allowed when it started, before any thread was pinned.
static START_CPUS: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();

/// Notes the CPUs the process may use; `main` calls it before anything pins a thread.
pub fn note_start_cpus() {
    START_CPUS.get_or_init(allowed_cpus);
}

/// Runs `f` with the calling thread allowed every CPU the process started with, then gives the
/// thread back its own set. Threads a library starts inside `f` (ZeroMQ's I/O thread, zenoh's
/// runtimes) inherit the wide set, so they are not stacked on the pinned CPU of the thread that
/// happened to open the library, where a busy-polling timed thread would starve them.
pub fn with_start_cpus<T>(f: impl FnOnce() -> T) -> T {
    let mine = sched_getaffinity(None).ok();
    let _ = allow_current_thread(START_CPUS.get_or_init(allowed_cpus));
    let out = f();
    if let Some(set) = mine {
        let _ = sched_setaffinity(None, &set);
    }
    out
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    match sched_getaffinity(None) {
        Ok(set) => (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect(),
        Err(_) => (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect(),
    }
}

/// The CPU the calling thread is running on right now.
pub fn current_cpu() -> usize {
    sched_getcpu()
}

/// Whether a process with this pid exists (in this pid namespace).
pub fn process_exists(pid: u32) -> bool {
    match rustix::process::Pid::from_raw(pid as i32) {
        Some(p) => !matches!(rustix::process::test_kill_process(p), Err(rustix::io::Errno::SRCH)),
        None => false,
    }
}

/// Whether process `pid` is stopped (`T`: SIGSTOP, SIGTSTP; `t`: a tracer), from its
/// `/proc/<pid>/stat` state field.
pub fn process_stopped(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state follows the command name, which is in parentheses and may hold anything.
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .is_some_and(|s| s == "T" || s == "t")
}

/// The name of the filesystem `path` lives on (`tmpfs`, `ext4`, ...), or its magic number.
pub fn filesystem_name(path: &std::path::Path) -> String {
    let Ok(st) = rustix::fs::statfs(path) else { return "unknown".into() };
    match st.f_type as u64 {
        0x0102_1994 => "tmpfs".into(),
        0xEF53 => "ext4".into(),
        0x794C_7630 => "overlayfs".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683E => "btrfs".into(),
        0x6969 => "nfs".into(),
        0x0102_0304 | 0x0101_0101 => "9p/virtiofs".into(),
        0x6573_5546 => "fuse".into(),
        other => format!("0x{other:x}"),
    }
}

/// The mode for files ipcbench creates in `dir`: 0660 when the directory is shared with its
/// group (group-writable, e.g. with a container's user), else 0600.
pub fn shared_file_mode(dir: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(dir) {
        Ok(m) if m.permissions().mode() & 0o020 != 0 => 0o660,
        _ => 0o600,
    }
}
