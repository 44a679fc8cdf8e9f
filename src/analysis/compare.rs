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
#[path = "compare_tests.rs"]
mod tests;
