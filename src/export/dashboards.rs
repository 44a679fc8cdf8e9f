//! Result files in the formats CI dashboards read: Bencher Metric Format, and
//! github-action-benchmark's `customSmallerIsBetter` / `customBiggerIsBetter`.
//!
//! Repetitions of a configuration are reduced to their median, with min and max as the range
//! (the same reduction `compare` uses).

use serde_json::{json, Map, Value};

use crate::analysis::stats::{groups, spread, Metric};
use crate::analysis::summary::Summary;

/// Output formats of `ipcbench export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DashboardFormat {
    /// Bencher Metric Format: {benchmark: {measure: {value, lower_value, upper_value}}}.
    Bencher,
    /// github-action-benchmark customSmallerIsBetter: p50 and p99 latency in ns.
    GithubSmaller,
    /// github-action-benchmark customBiggerIsBetter: throughput in bytes/s.
    GithubBigger,
}

fn measure_name(m: Metric) -> &'static str {
    match m {
        Metric::P50 => "latency_p50_ns",
        Metric::P99 => "latency_p99_ns",
        Metric::Throughput => "throughput_bytes_per_s",
    }
}

/// Renders `summary` in `format`.
pub fn render(summary: &Summary, format: DashboardFormat) -> Value {
    let metrics = groups(summary).into_iter().map(|(key, runs)| {
        let spreads: Vec<_> = Metric::ALL.into_iter().filter_map(|m| Some((m, spread(&runs, m)?))).collect();
        (key.to_string(), spreads)
    });
    match format {
        DashboardFormat::Bencher => {
            let mut out = Map::new();
            for (label, spreads) in metrics {
                let measures: Map<String, Value> = spreads
                    .into_iter()
                    .map(|(m, s)| {
                        let v = json!({ "value": s.median, "lower_value": s.min, "upper_value": s.max });
                        (measure_name(m).to_string(), v)
                    })
                    .collect();
                out.insert(label, Value::Object(measures));
            }
            Value::Object(out)
        }
        DashboardFormat::GithubSmaller | DashboardFormat::GithubBigger => {
            let want_bigger = format == DashboardFormat::GithubBigger;
            let entries: Vec<Value> = metrics
                .flat_map(|(label, spreads)| {
                    spreads.into_iter().filter(move |(m, _)| (*m == Metric::Throughput) == want_bigger).map(
                        move |(m, s)| {
                            json!({
                                "name": format!("{label} {m}"),
                                "unit": if m == Metric::Throughput { "bytes/s" } else { "ns" },
                                "value": s.median,
                                "range": format!("{}..{}", s.min, s.max),
                            })
                        },
                    )
                })
                .collect();
            Value::Array(entries)
        }
    }
}
