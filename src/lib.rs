//! ipcbench: a zero-copy IPC benchmarking harness.
//!
//! The pipeline is measurement -> analysis -> reporting: a [`transport::Transport`] moves
//! messages, a [`pattern`] drives it and records into [`measure`] histograms, the
//! [`control`] protocol joins the two processes, [`analysis`] turns both sides' measurements
//! into results and compares them, and [`export`] and [`report`] write them out. [`wire`] and
//! [`format`] are the shared vocabulary below all of them.
//!
//! `unsafe` lives only in `transport::shm` (the mapped region and the ring), `transport::uring`
//! (buffers the kernel reads and writes), `transport::iox2` (handing iceoryx2's ports to a
//! thread), `transport::zeromq::msg` (libzmq's message calls) and `measure::clock::tsc` (rdtscp
//! and the installed conversion); each of those modules allows it, every other module is `deny(unsafe_code)`.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_code)]

/// Implements `Display` through the clap value name, so a flag's value, its help, its JSON
/// form (serde `kebab-case`, checked by tests) and its printed form are one name.
#[macro_export]
macro_rules! display_as_value_name {
    ($($t:ty),* $(,)?) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let v = clap::ValueEnum::to_possible_value(self).expect("no variant is skipped");
                f.write_str(v.get_name())
            }
        }
    )*};
}

pub mod ab;
pub mod analysis;
pub mod auth;
pub mod cleanup;
pub mod cli;
pub mod config;
pub mod control;
pub mod exit;
pub mod export;
pub mod format;
#[doc(hidden)]
pub mod fuzzing;
pub mod history;
pub mod kube;
pub mod measure;
pub mod pattern;
pub mod report;
pub mod sys;
pub mod transport;
pub mod wire;
