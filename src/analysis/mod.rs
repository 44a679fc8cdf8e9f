//! Analysis, between measurement and reporting: a run's result built from both sides' reports
//! ([`merge`]), the result schema ([`summary`]), the one identity of a configuration ([`key`]),
//! the metrics and their spread over repetitions ([`stats`]), and the comparison of two results
//! ([`compare`]). Exporters, the report and `compare` all read results through this layer.

pub mod compare;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod key;
pub mod merge;
pub mod stats;
pub mod summary;
