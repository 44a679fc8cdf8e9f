//! `ipcbench compare`: two result files, configuration by configuration, with a verdict per
//! metric from a confidence interval over the repetitions.
//!
//! Configurations are matched by their [`ConfigKey`]; results taken differently are listed as
//! present on one side only and never compared.
//!
//! Per metric (p50 and p99 latency, lower is better; throughput, higher is better) the change is
//! the worse-ratio of the medians of each side's repetitions (new/old for latency, old/new for
//! throughput: 1.10 is 10% worse), with a bootstrap confidence interval over the repetitions
//! (see [`super::interval`]), judged against the metric's threshold (`--max-regression`, or
//! [`MIN_CHANGE`] for metrics not gated). Two files measured at different times are unpaired:
//! the interval sees the spread within each file, not the machine's drift between them, which
//! `ipcbench ab` (paired, interleaved rounds) does.
//!
//! The gate fails on a `regressed` metric it names; `--strict` also fails on `inconclusive`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{bail, Result};

use super::interval::{bootstrap_ratio_interval, verdict, Interval, Verdict};
use super::key::ConfigKey;
use super::stats::{groups, median, Metric};
use super::summary::{RunResult, Summary};

/// The threshold of metrics the gate does not name: changes smaller than this are never called
/// a regression or an improvement.
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

impl Thresholds {
    /// The threshold `m` is judged by: the gate's, or [`MIN_CHANGE`].
    pub fn of(&self, m: Metric) -> f64 {
        self.0.get(&m).copied().unwrap_or(MIN_CHANGE)
    }
}

/// How one metric of one configuration changed.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetricChange {
    pub metric: Metric,
    /// Median of the baseline's (old build's) values.
    pub old: f64,
    /// Median of the current (new build's) values.
    pub new: f64,
    /// The worse-ratio's interval (1.10 = 10% worse); `None` with too few values to bound it.
    pub interval: Option<Interval>,
    /// The threshold the verdict was judged by (0.05 = 5%).
    pub threshold: f64,
    pub verdict: Verdict,
    /// Paired comparisons (`ab`): the worse-ratio of each round, in round order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ratios: Vec<f64>,
}

impl MetricChange {
    /// The point estimate of the change, positive = worse.
    pub fn worse_by(&self) -> f64 {
        match &self.interval {
            Some(i) => i.estimate - 1.0,
            None => worse_ratio(self.metric, self.old, self.new) - 1.0,
        }
    }
}

/// new/old where lower is better, old/new where higher is better (1.0 when undefined).
pub fn worse_ratio(m: Metric, old: f64, new: f64) -> f64 {
    let (num, den) = if m.lower_is_better() { (new, old) } else { (old, new) };
    if den > 0.0 {
        num / den
    } else {
        1.0
    }
}

/// The comparison of two result files.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Per configuration present on both sides, its metric changes.
    pub rows: Vec<(ConfigKey, Vec<MetricChange>)>,
    pub only_in_baseline: Vec<ConfigKey>,
    pub only_in_current: Vec<ConfigKey>,
}

/// The values of metric `m` over `runs`.
fn values(runs: &[&RunResult], m: Metric) -> Vec<f64> {
    runs.iter().filter_map(|r| m.of(r)).collect()
}

/// Judges one metric from each side's unpaired repetitions.
pub fn judge(metric: Metric, old: &[f64], new: &[f64], threshold: f64) -> Option<MetricChange> {
    let (mut o, mut n) = (old.to_vec(), new.to_vec());
    let (om, nm) = (median(&mut o)?, median(&mut n)?);
    let interval = if metric.lower_is_better() {
        bootstrap_ratio_interval(old, new)
    } else {
        bootstrap_ratio_interval(new, old)
    };
    let verdict = verdict(interval.as_ref(), threshold);
    Some(MetricChange { metric, old: om, new: nm, interval, threshold, verdict, ratios: Vec::new() })
}

/// Compares `current` with `baseline`, judging each metric by its threshold in `t`.
pub fn compare(baseline: &Summary, current: &Summary, t: &Thresholds) -> Comparison {
    let (old, new) = (groups(baseline), groups(current));
    let mut c = Comparison::default();
    for (key, old_runs) in &old {
        let Some(new_runs) = new.get(key) else {
            c.only_in_baseline.push(key.clone());
            continue;
        };
        let changes = Metric::ALL
            .into_iter()
            .filter_map(|m| judge(m, &values(old_runs, m), &values(new_runs, m), t.of(m)))
            .collect();
        c.rows.push((key.clone(), changes));
    }
    c.only_in_current = new.keys().filter(|k| !old.contains_key(*k)).cloned().collect();
    c
}

/// The changes of `rows` whose verdict is `v`, for the metrics the gate `t` names.
pub fn gated<'a, K>(
    rows: &'a [(K, Vec<MetricChange>)],
    t: &'a Thresholds,
    v: Verdict,
) -> impl Iterator<Item = (&'a K, &'a MetricChange)> + 'a {
    rows.iter().flat_map(move |(key, changes)| {
        changes
            .iter()
            .filter(move |ch| ch.verdict == v && t.0.contains_key(&ch.metric))
            .map(move |ch| (key, ch))
    })
}

/// The aligned table of `rows`: configuration, metric, both medians, the change, its 95%
/// interval and the verdict.
pub fn render_changes<K: std::fmt::Display>(rows: &[(K, Vec<MetricChange>)], old: &str, new: &str) -> String {
    let mut lines = vec![[
        "configuration".to_string(),
        "metric".into(),
        old.into(),
        new.into(),
        "change".into(),
        "95% interval".into(),
        "verdict".into(),
    ]];
    let pct = |r: f64| format!("{:+.1}%", (r - 1.0) * 100.0);
    for (key, changes) in rows {
        for ch in changes {
            lines.push([
                key.to_string(),
                ch.metric.to_string(),
                ch.metric.format(ch.old),
                ch.metric.format(ch.new),
                pct(1.0 + ch.worse_by()),
                ch.interval.map_or_else(
                    || "too few values".into(),
                    |i| format!("[{}, {}]", pct(i.low), pct(i.high)),
                ),
                format!("{} (threshold {:.0}%)", ch.verdict, ch.threshold * 100.0),
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
    out
}

impl Comparison {
    /// Metric changes that fail the gate: regressed, on a metric it names.
    pub fn failures<'a>(
        &'a self,
        t: &'a Thresholds,
    ) -> impl Iterator<Item = (&'a ConfigKey, &'a MetricChange)> + 'a {
        gated(&self.rows, t, Verdict::Regressed)
    }

    /// Gated metric changes the intervals cannot decide (a `--strict` gate fails on them).
    pub fn inconclusive<'a>(
        &'a self,
        t: &'a Thresholds,
    ) -> impl Iterator<Item = (&'a ConfigKey, &'a MetricChange)> + 'a {
        gated(&self.rows, t, Verdict::Inconclusive)
    }

    /// The aligned table `compare` prints, with the configurations on one side only and a note
    /// on what unpaired results can and cannot tell.
    pub fn render(&self) -> String {
        let mut out = render_changes(&self.rows, "baseline", "current");
        for key in &self.only_in_baseline {
            let _ = writeln!(out, "only in baseline: {key}");
        }
        for key in &self.only_in_current {
            let _ = writeln!(out, "only in current: {key}");
        }
        out.push_str(
            "note: unpaired repetitions (bootstrap intervals): they cannot see the machine's drift \
             between the two files; for a CI gate, `ipcbench ab` measures both builds interleaved\n",
        );
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

    /// `n` repetitions each of these p50s (p99 = 2 x p50).
    fn reps(transport: TransportKind, pattern: Pattern, p50s: &[u64]) -> Vec<RunResult> {
        p50s.iter().map(|&v| run(transport, pattern, v, 2 * v, v as f64)).collect()
    }

    fn all(t: &str) -> Thresholds {
        t.parse().unwrap()
    }

    #[test]
    fn a_slower_p50_with_tight_repetitions_is_a_regression_and_fails_the_gate() {
        let old = summary(reps(TransportKind::Uds, Pattern::RoundTrip, &[1000, 1001, 999, 1000]));
        let mut new_runs = reps(TransportKind::Uds, Pattern::RoundTrip, &[1300, 1301, 1299, 1300]);
        for r in &mut new_runs {
            r.latency_ns.as_mut().unwrap().p99 = 2000; // p99 as before
        }
        let new = summary(new_runs);
        let gate = all("10%");
        let c = compare(&old, &new, &gate);
        let v = verdicts(&c);
        let row = |m: &str, verdict: &str| {
            ("uds round-trip 64 B spin pin 0,1".to_string(), m.to_string(), verdict.to_string())
        };
        assert!(v.contains(&row("p50", "regressed")), "{v:?}");
        assert!(v.contains(&row("p99", "unchanged")), "{v:?}");
        let failures: Vec<_> = c.failures(&gate).collect();
        assert_eq!(failures.len(), 1);
        assert!((failures[0].1.worse_by() - 0.3).abs() < 1e-9);
        let lax = all("50%");
        assert_eq!(compare(&old, &new, &lax).failures(&lax).count(), 0, "30% is within a 50% gate");
        let p99_only = all("p99=5%");
        assert_eq!(compare(&old, &new, &p99_only).failures(&p99_only).count(), 0, "p50 is not gated");
    }

    #[test]
    fn one_repetition_a_side_bounds_nothing_and_is_inconclusive() {
        let old = summary(reps(TransportKind::Uds, Pattern::RoundTrip, &[1000]));
        let new = summary(reps(TransportKind::Uds, Pattern::RoundTrip, &[1300]));
        let gate = all("10%");
        let c = compare(&old, &new, &gate);
        assert!(c.rows[0].1.iter().all(|ch| ch.verdict == Verdict::Inconclusive && ch.interval.is_none()));
        assert_eq!(c.failures(&gate).count(), 0, "no interval, no regression claimed");
        assert_eq!(c.inconclusive(&gate).count(), 2, "but --strict fails on it");
        assert!(c.render().contains("too few values"));
    }

    #[test]
    fn more_throughput_is_an_improvement_and_less_a_regression() {
        let old = summary(reps(TransportKind::Shm, Pattern::Throughput, &[1_000_000, 1_000_100]));
        let better = summary(reps(TransportKind::Shm, Pattern::Throughput, &[1_500_000, 1_500_100]));
        let worse = summary(reps(TransportKind::Shm, Pattern::Throughput, &[500_000, 500_100]));
        let t = Thresholds::default();
        assert_eq!(verdicts(&compare(&old, &better, &t))[0].2, "improved");
        assert_eq!(verdicts(&compare(&old, &worse, &t))[0].2, "regressed");
        assert_eq!(compare(&old, &better, &t).rows[0].1.len(), 1, "throughput runs have no latency metrics");
    }

    #[test]
    fn a_change_within_the_spread_of_repetitions_is_unchanged() {
        // Baseline repetitions range 900..1100; the new median is 10% higher but its interval
        // holds no change.
        let old = summary(reps(TransportKind::Tcp, Pattern::OneWay, &[900, 1000, 1100]));
        let new = summary(reps(TransportKind::Tcp, Pattern::OneWay, &[1050, 1100, 1150]));
        let gate = all("5%");
        let c = compare(&old, &new, &gate);
        let p50 = &c.rows[0].1[0];
        assert_eq!(p50.metric, Metric::P50);
        assert!((p50.worse_by() - 0.1).abs() < 1e-9);
        let i = p50.interval.unwrap();
        assert!(i.low <= 1.0 && i.high >= 1.1, "{i:?}");
        assert_eq!(p50.verdict, Verdict::Unchanged);
        assert_eq!(c.failures(&gate).count(), 0, "noise is not a regression");
        // The same 10% shift with tight repetitions is a regression.
        let old = summary(reps(TransportKind::Tcp, Pattern::OneWay, &[1000, 1000, 1001]));
        let new = summary(reps(TransportKind::Tcp, Pattern::OneWay, &[1100, 1100, 1101]));
        assert_eq!(compare(&old, &new, &gate).rows[0].1[0].verdict, Verdict::Regressed);
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
        let c = compare(&old, &new, &Thresholds::default());
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
        let c = compare(&old, &summary(vec![blocking]), &Thresholds::default());
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
        let c = compare(&old, &summary(vec![pairs, verified]), &Thresholds::default());
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
