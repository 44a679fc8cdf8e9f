//! `ipcbench compare`: two result files, configuration by configuration, with a verdict per
//! metric that accounts for the spread of repetitions.
//!
//! A configuration is everything that changes what is measured: transport, pattern, size, wait
//! strategy, requested pinning, rate, shm copy mode and slots. Results taken differently are
//! different configurations and are never compared with each other.
//!
//! Per metric (p50 and p99 latency, lower is better; throughput, higher is better) the
//! repetitions of each side are reduced to their median, and the change is
//! `(new - old) / old`, signed so that positive is worse. The noise band is the larger relative
//! range `(max - min) / median` of the two sides (0 with a single repetition). The verdict:
//! - `regressed` when the change is worse than the noise band and than [`MIN_CHANGE`];
//! - `improved` when it is better by as much;
//! - `unchanged` otherwise.
//!
//! The gate (`--max-regression`) fails on a regressed metric whose change exceeds its threshold.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{bail, Result};

use super::key::ConfigKey;
use super::stats::{groups, spread, Metric, Spread};
use super::summary::Summary;

/// Changes smaller than this are never called a regression or an improvement.
pub const MIN_CHANGE: f64 = 0.01;

/// The regression thresholds, per metric: `10%` for all, or `p50=5%,p99=20%,throughput=10%`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Thresholds(pub BTreeMap<Metric, f64>);

impl std::str::FromStr for Thresholds {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let pct = |v: &str| -> Result<f64, String> {
            let n: f64 = v
                .trim()
                .trim_end_matches('%')
                .parse()
                .map_err(|_| format!("'{v}' is not a percentage like 10%"))?;
            if !(0.0..=10_000.0).contains(&n) {
                return Err(format!("'{v}' is out of range"));
            }
            Ok(n / 100.0)
        };
        let mut map = BTreeMap::new();
        for part in s.split(',') {
            match part.split_once('=') {
                None => {
                    let v = pct(part)?;
                    for m in Metric::ALL {
                        map.insert(m, v);
                    }
                }
                Some((name, v)) => {
                    let m = <Metric as clap::ValueEnum>::from_str(name.trim(), false)
                        .map_err(|_| format!("unknown metric '{name}' (expected p50, p99 or throughput)"))?;
                    map.insert(m, pct(v)?);
                }
            }
        }
        Ok(Thresholds(map))
    }
}

/// How one metric of one configuration changed.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricChange {
    pub metric: Metric,
    pub old: f64,
    pub new: f64,
    /// Relative change, positive = worse.
    pub worse_by: f64,
    /// The noise band used for the verdict.
    pub noise: f64,
    pub verdict: Verdict,
}

/// What a change amounts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Verdict {
    /// Better by more than the noise.
    Improved,
    /// Within the noise.
    Unchanged,
    /// Worse by more than the noise.
    Regressed,
}

crate::display_as_value_name!(Verdict);

/// The comparison of two result files.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Per configuration present on both sides, its metric changes.
    pub rows: Vec<(ConfigKey, Vec<MetricChange>)>,
    pub only_in_baseline: Vec<ConfigKey>,
    pub only_in_current: Vec<ConfigKey>,
}

/// Judges one metric from its spread on each side.
pub fn judge(metric: Metric, old: Spread, new: Spread) -> MetricChange {
    let raw = if old.median == 0.0 { 0.0 } else { (new.median - old.median) / old.median };
    let worse_by = if metric.lower_is_better() { raw } else { -raw };
    let noise = old.relative_range().max(new.relative_range());
    let band = noise.max(MIN_CHANGE);
    let verdict = if worse_by > band {
        Verdict::Regressed
    } else if worse_by < -band {
        Verdict::Improved
    } else {
        Verdict::Unchanged
    };
    MetricChange { metric, old: old.median, new: new.median, worse_by, noise, verdict }
}

pub fn compare(baseline: &Summary, current: &Summary) -> Comparison {
    let (old, new) = (groups(baseline), groups(current));
    let mut c = Comparison::default();
    for (key, old_runs) in &old {
        let Some(new_runs) = new.get(key) else {
            c.only_in_baseline.push(key.clone());
            continue;
        };
        let changes = Metric::ALL
            .into_iter()
            .filter_map(|m| Some(judge(m, spread(old_runs, m)?, spread(new_runs, m)?)))
            .collect();
        c.rows.push((key.clone(), changes));
    }
    c.only_in_current = new.keys().filter(|k| !old.contains_key(*k)).cloned().collect();
    c
}

impl Comparison {
    /// Metric changes that fail the gate, with their labels.
    pub fn failures<'a>(
        &'a self,
        t: &'a Thresholds,
    ) -> impl Iterator<Item = (&'a ConfigKey, &'a MetricChange)> + 'a {
        self.rows.iter().flat_map(move |(key, changes)| {
            changes.iter().filter_map(move |ch| {
                let limit = t.0.get(&ch.metric)?;
                (ch.verdict == Verdict::Regressed && ch.worse_by > *limit).then_some((key, ch))
            })
        })
    }

    /// The aligned table `compare` prints.
    pub fn render(&self) -> String {
        let mut lines = vec![[
            "configuration".to_string(),
            "metric".into(),
            "baseline".into(),
            "current".into(),
            "change".into(),
            "noise".into(),
            "verdict".into(),
        ]];
        for (key, changes) in &self.rows {
            for ch in changes {
                let signed = if ch.metric.lower_is_better() { ch.worse_by } else { -ch.worse_by };
                lines.push([
                    key.to_string(),
                    ch.metric.to_string(),
                    ch.metric.format(ch.old),
                    ch.metric.format(ch.new),
                    format!("{:+.1}%", signed * 100.0),
                    format!("±{:.1}%", ch.noise * 100.0),
                    ch.verdict.to_string(),
                ]);
            }
        }
        let widths: Vec<usize> =
            (0..7).map(|i| lines.iter().map(|l| l[i].chars().count()).max().unwrap_or(0)).collect();
        let mut out = String::new();
        for l in &lines {
            let cells: Vec<String> = l.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        }
        for key in &self.only_in_baseline {
            let _ = writeln!(out, "only in baseline: {key}");
        }
        for key in &self.only_in_current {
            let _ = writeln!(out, "only in current: {key}");
        }
        out
    }
}

/// Checks that two summaries can be compared at all.
pub fn check_comparable(baseline: &Summary, current: &Summary) -> Result<()> {
    if baseline.runs.is_empty() {
        bail!("the baseline holds no runs");
    }
    if current.runs.is_empty() {
        bail!("the current result holds no runs");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures::{run as fixture, summary};
    use crate::analysis::summary::RunResult;
    use crate::pattern::Pattern;
    use crate::transport::{TransportKind, WaitStrategy};

    /// A run with this p50 and p99 (latency) or bytes/s (throughput).
    fn run(transport: TransportKind, pattern: Pattern, p50: u64, p99: u64, bytes_per_s: f64) -> RunResult {
        let mut r = fixture(
            transport,
            pattern,
            if pattern == Pattern::Throughput { bytes_per_s as u64 } else { p50 },
        );
        if let Some(l) = r.latency_ns.as_mut() {
            l.p99 = p99;
        }
        r
    }

    fn verdicts(c: &Comparison) -> Vec<(String, String, String)> {
        c.rows
            .iter()
            .flat_map(|(k, chs)| {
                chs.iter().map(move |ch| (k.to_string(), ch.metric.to_string(), ch.verdict.to_string()))
            })
            .collect()
    }

    #[test]
    fn a_slower_p50_is_a_regression_and_fails_the_gate() {
        let old = summary(vec![run(TransportKind::Uds, Pattern::RoundTrip, 1000, 2000, 0.0)]);
        let new = summary(vec![run(TransportKind::Uds, Pattern::RoundTrip, 1300, 2000, 0.0)]);
        let c = compare(&old, &new);
        let v = verdicts(&c);
        let row = |m: &str, verdict: &str| {
            ("uds round-trip 64 B spin pin 0,1".to_string(), m.to_string(), verdict.to_string())
        };
        assert!(v.contains(&row("p50", "regressed")), "{v:?}");
        assert!(v.contains(&row("p99", "unchanged")), "{v:?}");
        let gate: Thresholds = "10%".parse().unwrap();
        let failures: Vec<_> = c.failures(&gate).collect();
        assert_eq!(failures.len(), 1);
        assert!((failures[0].1.worse_by - 0.3).abs() < 1e-9);
        let lax: Thresholds = "50%".parse().unwrap();
        assert_eq!(c.failures(&lax).count(), 0, "30% is within a 50% gate");
        let p99_only: Thresholds = "p99=5%".parse().unwrap();
        assert_eq!(c.failures(&p99_only).count(), 0, "p50 is not gated when only p99 is named");
    }

    #[test]
    fn more_throughput_is_an_improvement_and_less_a_regression() {
        let old = summary(vec![run(TransportKind::Shm, Pattern::Throughput, 0, 0, 1e9)]);
        let better = summary(vec![run(TransportKind::Shm, Pattern::Throughput, 0, 0, 1.5e9)]);
        let worse = summary(vec![run(TransportKind::Shm, Pattern::Throughput, 0, 0, 0.5e9)]);
        assert_eq!(verdicts(&compare(&old, &better))[0].2, "improved");
        assert_eq!(verdicts(&compare(&old, &worse))[0].2, "regressed");
        assert_eq!(compare(&old, &better).rows[0].1.len(), 1, "throughput runs have no latency metrics");
    }

    #[test]
    fn a_change_within_the_spread_of_repetitions_is_unchanged() {
        // Baseline repetitions range 900..1100 around 1000 (±20% spread); new median 1100.
        let reps = |vals: &[u64]| {
            vals.iter().map(|&v| run(TransportKind::Tcp, Pattern::OneWay, v, v * 2, 0.0)).collect()
        };
        let old = summary(reps(&[900, 1000, 1100]));
        let new = summary(reps(&[1050, 1100, 1150]));
        let c = compare(&old, &new);
        let p50 = &c.rows[0].1[0];
        assert_eq!(p50.metric, Metric::P50);
        assert!((p50.worse_by - 0.1).abs() < 1e-9);
        assert!((p50.noise - 0.2).abs() < 1e-9);
        assert_eq!(p50.verdict, Verdict::Unchanged);
        assert_eq!(c.failures(&"5%".parse().unwrap()).count(), 0, "noise is not a regression");
        // The same 10% shift with tight repetitions is a regression.
        let old = summary(reps(&[1000, 1000, 1001]));
        let new = summary(reps(&[1100, 1100, 1101]));
        assert_eq!(compare(&old, &new).rows[0].1[0].verdict, Verdict::Regressed);
    }

    #[test]
    fn configurations_on_one_side_only_are_listed() {
        let old = summary(vec![
            run(TransportKind::Uds, Pattern::RoundTrip, 1000, 2000, 0.0),
            run(TransportKind::Tcp, Pattern::RoundTrip, 1000, 2000, 0.0),
        ]);
        let mut shm = run(TransportKind::Shm, Pattern::RoundTrip, 100, 200, 0.0);
        shm.shm_slots = Some(2);
        let new = summary(vec![run(TransportKind::Uds, Pattern::RoundTrip, 1000, 2000, 0.0), shm]);
        let c = compare(&old, &new);
        assert_eq!(c.rows.len(), 1);
        let labels = |v: &[ConfigKey]| v.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        assert_eq!(labels(&c.only_in_baseline), vec!["tcp round-trip 64 B spin pin 0,1"]);
        assert_eq!(labels(&c.only_in_current), vec!["shm round-trip 64 B spin pin 0,1 slots 2"]);
        let text = c.render();
        assert!(text.contains("only in baseline: tcp round-trip"), "{text}");
    }

    #[test]
    fn results_taken_with_another_wait_strategy_are_not_compared() {
        let old = summary(vec![run(TransportKind::Uds, Pattern::RoundTrip, 1000, 2000, 0.0)]);
        let mut blocking = run(TransportKind::Uds, Pattern::RoundTrip, 40_000, 80_000, 0.0);
        blocking.wait = WaitStrategy::Block;
        let c = compare(&old, &summary(vec![blocking]));
        assert!(c.rows.is_empty());
        assert_eq!(c.only_in_baseline.len(), 1);
        assert_eq!(c.only_in_current.len(), 1);
    }

    #[test]
    fn results_taken_with_other_concurrency_or_verify_are_not_compared() {
        let old = summary(vec![run(TransportKind::Uds, Pattern::RoundTrip, 1000, 2000, 0.0)]);
        let mut pairs = run(TransportKind::Uds, Pattern::RoundTrip, 3000, 6000, 0.0);
        pairs.concurrency = 4;
        let mut verified = run(TransportKind::Uds, Pattern::RoundTrip, 1100, 2200, 0.0);
        verified.verify = true;
        let c = compare(&old, &summary(vec![pairs, verified]));
        assert!(c.rows.is_empty(), "{:?}", c.rows);
        assert_eq!(c.only_in_current.len(), 2);
    }

    #[test]
    fn thresholds_parse_for_all_or_per_metric() {
        let all: Thresholds = "10%".parse().unwrap();
        assert_eq!(all.0.len(), 3);
        assert!(all.0.values().all(|&v| (v - 0.1).abs() < 1e-12));
        let some: Thresholds = "p50=5%,throughput=20".parse().unwrap();
        assert_eq!(some.0.get(&Metric::P50), Some(&0.05));
        assert_eq!(some.0.get(&Metric::P99), None);
        assert!("p75=5%".parse::<Thresholds>().unwrap_err().contains("unknown metric 'p75'"));
        assert!("lots".parse::<Thresholds>().is_err());
    }

    #[test]
    fn a_result_file_of_another_schema_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let mut v = serde_json::to_value(summary(vec![])).unwrap();
        v["schema_version"] = 99.into();
        std::fs::write(&path, v.to_string()).unwrap();
        let err = Summary::read(&path).unwrap_err().to_string();
        assert!(err.contains("schema version 99"), "{err}");
        std::fs::write(&path, r#"{"hello": 1}"#).unwrap();
        assert!(Summary::read(&path).unwrap_err().to_string().contains("not an ipcbench result"));
    }
}
