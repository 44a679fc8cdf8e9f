//! A load curve as the schema carries it: the types only; how curves and knees are computed is
//! [`crate::analysis::load`].

use serde::{Deserialize, Serialize};

use super::ConfigKey;

/// One configuration against load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadCurve {
    /// The configuration, its rate left out (`rate_per_s` is null here; the points have it).
    pub config: ConfigKey,
    /// How the configuration is named in text.
    pub label: String,
    /// One point per offered rate, ascending.
    pub points: Vec<LoadPoint>,
    /// The p99 a rate must stay under to count as sustained.
    pub p99_target_ns: u64,
    /// `given` (`--p99-target`) or `10x the sweep's lowest p99`.
    pub p99_target_source: String,
    /// The highest sustained offered rate; absent when even the lowest rate was not sustained.
    pub knee_per_s: Option<u64>,
    /// Whether a rate above the knee was measured (without one, the knee is a lower bound: the
    /// sweep stopped before the configuration saturated).
    pub saturated: bool,
}

/// One offered rate of a curve: medians over its repetitions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadPoint {
    pub offered_per_s: u64,
    pub achieved_per_s: f64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p99_9_ns: u64,
    /// Achieved kept up with offered and p99 stayed under the target.
    pub sustained: bool,
    pub repetitions: usize,
}
