//! A test-only slowdown, to measure what the regression gate catches: the initiator busy-waits
//! `IPCBENCH_INJECT_NS` nanoseconds (read from the environment once, when the run's environment
//! is recorded) before sending each message. The hook exists only in a build with debug
//! assertions (the dev and test profiles: what `cargo test` builds, so the test suite needs no
//! second build for a slowed one) or with the cargo feature `inject-delay` (a release-profile
//! build for `tools/gate_power.sh`). A release build without the feature, what anyone measures
//! with, has no such hook: [`delay`] is empty and compiles to nothing.
//!
//! ```sh
//! cargo build --release --features inject-delay
//! IPCBENCH_INJECT_NS=500 target/release/ipcbench run ...
//! ```
//!
//! Results from a slowed run say so: `environment.injected_delay_ns`.

/// The hook is compiled in.
#[cfg(any(debug_assertions, feature = "inject-delay"))]
fn configured_ns() -> u64 {
    static NS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *NS.get_or_init(|| match std::env::var("IPCBENCH_INJECT_NS") {
        Err(_) => 0,
        Ok(text) => text.trim().parse().unwrap_or_else(|_| {
            eprintln!("error: IPCBENCH_INJECT_NS={text:?} is not a whole number of nanoseconds");
            std::process::exit(2)
        }),
    })
}

/// Nanoseconds added to every initiator send: `None` in a build without the hook or when
/// `IPCBENCH_INJECT_NS` is unset or 0.
pub fn injected_ns() -> Option<u64> {
    #[cfg(any(debug_assertions, feature = "inject-delay"))]
    {
        Some(configured_ns()).filter(|&ns| ns != 0)
    }
    #[cfg(not(any(debug_assertions, feature = "inject-delay")))]
    {
        None
    }
}

/// The injected delay: a busy-wait on the clock (so it is calibrated by the clock itself,
/// whatever the CPU's speed), or nothing.
#[inline(always)]
pub fn delay() {
    #[cfg(any(debug_assertions, feature = "inject-delay"))]
    {
        let ns = configured_ns();
        if ns != 0 {
            let end = super::clock::now_ns() + ns;
            while super::clock::now_ns() < end {
                std::hint::spin_loop();
            }
        }
    }
}
