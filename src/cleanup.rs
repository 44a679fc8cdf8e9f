//! Files a run creates (socket and mapping files, message queues, iceoryx2's directory and
//! shared memory) and child processes it starts, removed or
//! killed on every exit path: normal return, error, and Ctrl-C/SIGTERM.
//!
//! Owners register what they create and unregister it when they clean it up themselves (in
//! `Drop`); [`install_signal_handler`] cleans whatever is still registered when a signal arrives.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustix::process::{kill_process, Pid, Signal};

static FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static CHILDREN: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// POSIX message queue names (they live outside any directory we could sweep).
static QUEUES: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// iceoryx2's directories and shared-memory prefixes (its objects are named by iceoryx2).
static IOX2: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());
/// What to do with the results so far when a signal stops the invocation.
static ON_INTERRUPT: Mutex<Option<Box<dyn Fn() + Send>>> = Mutex::new(None);

/// Sets what runs when a signal stops the invocation (after children are killed and files
/// removed): the summary exporter records there that the invocation was interrupted. Replaces
/// any earlier hook.
pub fn on_interrupt(hook: impl Fn() + Send + 'static) {
    *ON_INTERRUPT.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(hook));
}

/// Removes the interrupt hook (the invocation is over).
pub fn clear_on_interrupt() {
    *ON_INTERRUPT.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

pub fn register_file(path: &Path) {
    FILES.lock().unwrap_or_else(|e| e.into_inner()).push(path.to_path_buf());
}

/// Removes `path` (if it is still there) and forgets it.
pub fn remove_file(path: &Path) {
    let _ = std::fs::remove_file(path);
    FILES.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| p != path);
}

pub fn register_queue(name: &str) {
    QUEUES.lock().unwrap_or_else(|e| e.into_inner()).push(name.to_string());
}

/// Unlinks the message queue `name` (if it is still there) and forgets it.
pub fn remove_queue(name: &str) {
    let _ = nix::mqueue::mq_unlink(name);
    QUEUES.lock().unwrap_or_else(|e| e.into_inner()).retain(|q| q != name);
}

pub fn register_iox2(root: &Path, shm_prefix: &str) {
    let mut all = IOX2.lock().unwrap_or_else(|e| e.into_inner());
    if !all.iter().any(|(r, _)| r == root) {
        all.push((root.to_path_buf(), shm_prefix.to_string()));
    }
}

/// Removes iceoryx2's directory `root` and its shared-memory objects named `shm_prefix*`, and
/// forgets them.
pub fn remove_iox2(root: &Path, shm_prefix: &str) {
    let _ = std::fs::remove_dir_all(root);
    if let Ok(entries) = std::fs::read_dir("/dev/shm") {
        for e in entries.flatten() {
            if e.file_name().to_str().is_some_and(|n| n.starts_with(shm_prefix)) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    IOX2.lock().unwrap_or_else(|e| e.into_inner()).retain(|(r, _)| r != root);
}

/// Removes every iceoryx2 directory and prefix registered.
pub fn remove_all_iox2() {
    let all: Vec<_> = IOX2.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for (root, prefix) in all {
        remove_iox2(&root, &prefix);
    }
}

pub fn register_child(pid: u32) {
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).push(pid as i32);
}

pub fn forget_child(pid: u32) {
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).retain(|&p| p != pid as i32);
}

/// Kills registered children and removes registered files. Safe to call more than once.
pub fn run_all() {
    let children: Vec<i32> = CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect();
    // Found before the children die (and this process exits): only theirs and ours.
    #[cfg(feature = "zenoh")]
    let zenoh_segments = crate::transport::zenoh::own_segments(&children);
    for pid in children {
        if let Some(pid) = Pid::from_raw(pid) {
            let _ = kill_process(pid, Signal::KILL);
        }
    }
    for path in FILES.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        let _ = std::fs::remove_file(path);
    }
    for name in QUEUES.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        let _ = nix::mqueue::mq_unlink(name.as_str());
    }
    remove_all_iox2();
    #[cfg(feature = "zenoh")]
    {
        for path in zenoh_segments {
            let _ = std::fs::remove_file(path);
        }
        // And a killed child's that no one ever opened.
        crate::transport::zenoh::cleanup();
    }
}

/// Set as a signal's handler starts; it ends the process.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// When a signal is being handled, waits for the handler to end the process (exit 130, the
/// summary marked interrupted) instead of going on to an exit or a summary of its own; at
/// most 10 s, should the handler be stuck. Returns at once otherwise.
pub fn defer_to_interrupt() {
    let start = std::time::Instant::now();
    while INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
        && start.elapsed() < std::time::Duration::from_secs(10)
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Set once this process has said goodbye to its peers (the initiator, at the end).
static OUTLIVE_PEERS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The initiator has sent its peers their goodbye: as it ends, it waits a moment for them to
/// let go of what they share (see `at_exit`).
pub fn outlive_peers() {
    OUTLIVE_PEERS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// What a library keeps for the life of the process, removed as it ends normally (`run_all`
/// does it on an error or a signal): zenoh's shared-memory segments. A segment shared with a
/// peer that ends at the same time is removed by the initiator, which waits up to a second
/// for its peers to let go.
pub fn at_exit() {
    #[cfg(feature = "zenoh")]
    {
        let outlive = OUTLIVE_PEERS.load(std::sync::atomic::Ordering::Relaxed);
        let wait = if outlive { std::time::Duration::from_secs(1) } else { std::time::Duration::ZERO };
        crate::transport::zenoh::remove_own_segments(wait);
    }
}

/// On SIGINT/SIGTERM: clean up, record the interruption with the results so far (the summary
/// is rewritten after every run; the hook marks it interrupted), say so on one line, and exit
/// 130.
///
/// The handler kills the children first, and the main thread may then see its peer die and
/// head for an exit of its own: [`defer_to_interrupt`] on every such path keeps it from
/// ending the process (exit 1, a summary that says error) before the handler has.
pub fn install_signal_handler(what: &'static str) {
    let _ = ctrlc::set_handler(move || {
        INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
        run_all();
        if let Some(hook) = ON_INTERRUPT.lock().unwrap_or_else(|e| e.into_inner()).take() {
            hook();
        }
        eprintln!("Error: interrupted; {what} stopped, its socket and mapping files removed");
        std::process::exit(crate::exit::INTERRUPTED);
    });
}
