//! Entry points of the coverage-guided fuzz targets (`fuzz/`, run by `tools/fuzz.sh`): one per
//! decoder that reads bytes ipcbench did not write itself, from the peer, a file or the command
//! line. Each feeds arbitrary bytes to the decoder the way ipcbench does and checks what comes
//! back: an error is the expected answer to almost every input, a panic is a bug (libFuzzer
//! reports it as a crash). `tests/decoders.rs` runs the committed seed corpus and every crash
//! found through these same functions, so a crash once found stays fixed.
//!
//! Not part of ipcbench's interface: hidden from the docs, no wider than the targets need.

mod control;
mod files;
mod inputs;
pub mod seeds;
mod streams;

pub use control::{control_frames, hello, peer_blocks};
pub use files::{interval_log, result_file};
pub use inputs::{shm_header, values};
pub use streams::stream_frames;

/// A target's entry point: it takes any bytes, and panics only on a bug.
pub type Target = fn(&[u8]);

/// Every target: its name (the file in `fuzz/fuzz_targets/` and the folder of its seeds) and
/// its entry point.
pub const TARGETS: &[(&str, Target)] = &[
    ("control_frames", control_frames),
    ("hello", hello),
    ("stream_frames", stream_frames),
    ("peer_blocks", peer_blocks),
    ("result_file", result_file),
    ("interval_log", interval_log),
    ("values", values),
    ("shm_header", shm_header),
];

/// The most bytes fed through a socket pair: they are written before the reader starts, and
/// this much always fits in a Unix stream socket's buffer.
const FEED_MAX_BYTES: usize = 32 << 10;

/// A stream that yields `bytes` and then end-of-file: the reading end of a socket pair whose
/// writer wrote them and closed.
fn fed(bytes: &[u8]) -> std::os::unix::net::UnixStream {
    use std::io::Write as _;
    let (mut w, r) = std::os::unix::net::UnixStream::pair().expect("a socket pair");
    w.write_all(&bytes[..bytes.len().min(FEED_MAX_BYTES)]).expect("the bytes fit in the socket buffer");
    r
}
