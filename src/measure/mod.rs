//! Measurement: the clock (and the check that two processes share it), latency histograms, and
//! the machine's description. The result schema built from these is in [`crate::analysis`].

pub mod clock;
pub mod cpu;
pub mod env;
pub mod fingerprint;
pub mod floor;
pub mod histogram;
pub mod inject;
pub mod intervals;
pub mod memory;
pub mod sample_pool;
pub mod topology;
