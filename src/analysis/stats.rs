//! The metrics results are compared and charted by, and their spread over repetitions.

use std::collections::BTreeMap;

use super::key::ConfigKey;
use super::summary::{RunResult, Summary};
use crate::format::{format_bandwidth, format_ns};
use crate::pattern::Pattern;

/// What is compared.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Median latency, ns (lower is better).
    P50,
    /// 99th-percentile latency, ns (lower is better).
    P99,
    /// Bytes per second of a throughput run (higher is better).
    Throughput,
}

crate::display_as_value_name!(Metric);

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::P50, Metric::P99, Metric::Throughput];

    pub fn lower_is_better(self) -> bool {
        self != Metric::Throughput
    }

    /// The value in human units.
    pub fn format(self, v: f64) -> String {
        match self {
            Metric::Throughput => format_bandwidth(v),
            _ => format_ns(v.round() as u64),
        }
    }

    /// The metric of one run; `None` where the run has none (latency of a throughput run,
    /// bandwidth of a latency run).
    pub fn of(self, r: &RunResult) -> Option<f64> {
        match self {
            Metric::P50 => r.latency_ns.map(|l| l.p50 as f64),
            Metric::P99 => r.latency_ns.map(|l| l.p99 as f64),
            Metric::Throughput => Some(r.throughput.bytes_per_s).filter(|_| r.pattern == Pattern::Throughput),
        }
    }

    /// The metric a pattern is judged by: p50, or bytes/s for throughput.
    pub fn headline(pattern: Pattern) -> Metric {
        if pattern == Pattern::Throughput {
            Metric::Throughput
        } else {
            Metric::P50
        }
    }
}

/// The runs of a summary by configuration (repetitions together), in key order.
pub fn groups(s: &Summary) -> BTreeMap<ConfigKey, Vec<&RunResult>> {
    let mut m: BTreeMap<ConfigKey, Vec<&RunResult>> = BTreeMap::new();
    for r in &s.runs {
        m.entry(ConfigKey::of(r)).or_default().push(r);
    }
    m
}

/// A metric of one configuration over its repetitions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// The median of `v` (sorted in place); `None` when empty.
pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// Median, min and max of metric `m` over `runs`; `None` if no run has the metric.
pub fn spread(runs: &[&RunResult], m: Metric) -> Option<Spread> {
    let mut v: Vec<f64> = runs.iter().filter_map(|r| m.of(r)).collect();
    let median = median(&mut v)?;
    Some(Spread { median, min: v[0], max: v[v.len() - 1] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
