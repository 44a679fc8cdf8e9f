//! A test-only slowdown, to measure what the regression gate catches: with the cargo feature
//! `inject-delay` (off by default, never in a release artefact) the initiator busy-waits
//! `IPCBENCH_INJECT_NS` nanoseconds (read at build time) before sending each message. Without
//! the feature [`delay`] is empty and compiles to nothing.
//!
//! ```sh
//! IPCBENCH_INJECT_NS=500 cargo build --release --features inject-delay --target-dir target/inject
//! ```
//!
//! Results from such a build say so: `environment.injected_delay_ns`. Without the variable the
//! feature adds nothing (0 ns), so a build that asks for every feature (`--all-features`, as
//! rust-analyzer and docs builds do) still compiles; its results still say 0.

/// Nanoseconds added to every initiator send, when the feature is on.
#[cfg(feature = "inject-delay")]
pub const INJECTED_NS: Option<u64> = Some(parse_ns(option_env!("IPCBENCH_INJECT_NS")));
/// Nanoseconds added to every initiator send, when the feature is on.
#[cfg(not(feature = "inject-delay"))]
pub const INJECTED_NS: Option<u64> = None;

#[cfg(feature = "inject-delay")]
const fn parse_ns(text: Option<&str>) -> u64 {
    let Some(text) = text else { return 0 };
    let bytes = text.as_bytes();
    assert!(!bytes.is_empty(), "IPCBENCH_INJECT_NS is empty");
    let (mut i, mut n) = (0, 0u64);
    while i < bytes.len() {
        assert!(bytes[i].is_ascii_digit(), "IPCBENCH_INJECT_NS must be a whole number of nanoseconds");
        n = n * 10 + (bytes[i] - b'0') as u64;
        i += 1;
    }
    n
}

/// The injected delay: a busy-wait on the clock (so it is calibrated by the clock itself,
/// whatever the CPU's speed), or nothing.
#[inline(always)]
pub fn delay() {
    #[cfg(feature = "inject-delay")]
    if INJECTED_NS != Some(0) {
        let end = super::clock::now_ns() + INJECTED_NS.unwrap_or(0);
        while super::clock::now_ns() < end {
            std::hint::spin_loop();
        }
    }
}
