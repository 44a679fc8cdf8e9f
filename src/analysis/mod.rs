//! Analysis, between measurement and reporting: a run's result built from both sides' reports
//! ([`merge`]), the result schema ([`summary`]), the one identity of a configuration ([`key`]),
//! the metrics and their spread over repetitions ([`stats`]), confidence intervals and verdicts
//! ([`interval`]), and the comparison of two results, unpaired ([`compare`]) or paired by round
//! ([`paired`], for `ipcbench ab`). Exporters, the report and `compare` all read results through this layer.

pub mod compare;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod interval;
pub mod key;
pub mod load;
pub mod merge;
pub mod paired;
pub mod placement;
pub mod stats;
pub mod summary;
