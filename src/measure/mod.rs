//! Measurement: the clock, latency histograms, the machine's description and the result schema.

pub mod clock;
pub mod env;
pub mod histogram;
pub mod summary;
