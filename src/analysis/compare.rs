//! `ipcbench compare`: two result files, configuration by configuration, with a verdict per
//! metric from a confidence interval over the repetitions.
//!
//! Configurations are matched by their [`ConfigKey`]; results taken differently are listed as
//! present on one side only and never compared.
//!
//! Per metric (p50 and p99 latency, lower is better; throughput, higher is better) the change is
//! the worse-ratio of the medians of each side's repetitions (new/old for latency, old/new for
//! throughput: 1.10 is "slower by 10%"), with a bootstrap confidence interval over the
//! repetitions (see [`super::interval`]). Metrics the gate names (`--max-regression`) get a
//! verdict against their threshold; the others show their change only. Two files measured at
//! different times are unpaired: the interval sees the spread within each file, not the
//! machine's drift between them, which `ipcbench ab` (paired, interleaved rounds) does.
//!
//! The gate ([`Gate`]) fails on a gated metric that `regressed`, and cannot pass one that is
//! `undecided`: each has its own exit code ([`crate::exit`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{bail, Result};

use super::interval::{bootstrap_ratio_interval, verdict, Interval, Verdict};
use super::key::ConfigKey;
use super::stats::{groups, median, Metric};
use super::summary::{RunResult, Summary};
use crate::format::{format_change, format_change_range, format_pct, Grid};

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
    /// The threshold `m` is judged by; `None` when the gate does not name it.
    pub fn of(&self, m: Metric) -> Option<f64> {
        self.0.get(&m).copied()
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
    /// The worse-ratio's interval (1.10 = slower by 10%); `None` with too few values to bound it.
    pub interval: Option<Interval>,
    /// The gate's threshold for this metric (0.05 = 5%); `None` when the metric is not gated.
    pub threshold: Option<f64>,
    /// The verdict against `threshold`; `None` when the metric is not gated.
    pub verdict: Option<Verdict>,
    /// Paired comparisons (`ab`): the worse-ratio of each round, in round order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ratios: Vec<f64>,
}

impl MetricChange {
    /// A change of `metric` from its per-side medians and interval, judged when `threshold` is
    /// given.
    pub fn new(
        metric: Metric,
        old: f64,
        new: f64,
        interval: Option<Interval>,
        threshold: Option<f64>,
    ) -> Self {
        let verdict = threshold.map(|t| verdict(interval.as_ref(), t));
        MetricChange { metric, old, new, interval, threshold, verdict, ratios: Vec::new() }
    }

    /// The point estimate of the worse-ratio (1.10 = slower by 10%).
    pub fn worse_ratio(&self) -> f64 {
        match &self.interval {
            Some(i) => i.estimate,
            None => worse_ratio(self.metric, self.old, self.new),
        }
    }

    /// The point estimate of the change, positive = worse.
    pub fn worse_by(&self) -> f64 {
        self.worse_ratio() - 1.0
    }

    /// The change in words: `slower by 31%`, `faster by 12%`, `slower by 4.5x`, `no change`.
    pub fn change_text(&self) -> String {
        format_change(self.worse_ratio())
    }

    /// The interval in words, or why there is none.
    pub fn interval_text(&self) -> String {
        self.interval.map_or_else(|| "too few values".into(), |i| format_change_range(i.low, i.high))
    }

    /// The verdict with the threshold it was judged at (`regressed beyond 5%`), or `not gated`.
    pub fn verdict_text(&self) -> String {
        match (self.verdict, self.threshold) {
            (Some(v), Some(t)) => {
                let t = format_pct(t);
                match v {
                    Verdict::Regressed => format!("regressed: slower beyond {t}"),
                    Verdict::Improved => format!("improved: faster beyond {t}"),
                    Verdict::Unchanged => format!("unchanged: not slower beyond {t}"),
                    Verdict::Undecided => format!("undecided at {t}"),
                }
            }
            _ => "not gated".into(),
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

/// Judges one metric from each side's unpaired repetitions (at `threshold`, when gated).
pub fn judge(metric: Metric, old: &[f64], new: &[f64], threshold: Option<f64>) -> Option<MetricChange> {
    let (mut o, mut n) = (old.to_vec(), new.to_vec());
    let (om, nm) = (median(&mut o)?, median(&mut n)?);
    let interval = if metric.lower_is_better() {
        bootstrap_ratio_interval(old, new)
    } else {
        bootstrap_ratio_interval(new, old)
    };
    Some(MetricChange::new(metric, om, nm, interval, threshold))
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

/// The changes of `rows` whose verdict is `v` (only gated metrics have one).
pub fn gated<K>(rows: &[(K, Vec<MetricChange>)], v: Verdict) -> impl Iterator<Item = (&K, &MetricChange)> {
    rows.iter().flat_map(move |(key, changes)| {
        changes.iter().filter(move |ch| ch.verdict == Some(v)).map(move |ch| (key, ch))
    })
}

/// What a gate concluded. Its exit code: [`crate::exit::REGRESSED`] when a gated metric
/// regressed, else [`crate::exit::UNDECIDED`] when one could not be judged, else success.
#[derive(Debug, Default, PartialEq)]
pub struct Gate {
    /// `configuration metric change` of every regressed gated metric.
    pub regressed: Vec<String>,
    /// The same for every undecided one.
    pub undecided: Vec<String>,
}

impl Gate {
    pub fn of<K: std::fmt::Display>(rows: &[(K, Vec<MetricChange>)]) -> Gate {
        let list =
            |v| gated(rows, v).map(|(k, ch)| format!("{k} {} {}", ch.metric, ch.change_text())).collect();
        Gate { regressed: list(Verdict::Regressed), undecided: list(Verdict::Undecided) }
    }

    pub fn exit_code(&self) -> i32 {
        if !self.regressed.is_empty() {
            crate::exit::REGRESSED
        } else if !self.undecided.is_empty() {
            crate::exit::UNDECIDED
        } else {
            crate::exit::OK
        }
    }

    /// One line per outcome that is not a pass, with `more` saying how to narrow an interval.
    pub fn lines(&self, more: &str) -> Vec<String> {
        let mut out = Vec::new();
        if !self.regressed.is_empty() {
            out.push(format!("regressed beyond the threshold: {}", self.regressed.join("; ")));
        }
        if !self.undecided.is_empty() {
            out.push(format!(
                "undecided (the interval cannot rule out a regression beyond the threshold): {}; {more}",
                self.undecided.join("; ")
            ));
        }
        out
    }
}

/// The aligned table of `rows`: configuration, metric, both medians, the change, its 95%
/// interval and the verdict, under a line that names the statistic.
pub fn render_changes<K: std::fmt::Display>(
    rows: &[(K, Vec<MetricChange>)],
    old: &str,
    new: &str,
    statistic: &str,
) -> String {
    let mut grid = Grid::new(
        ["configuration", "metric", old, new, "change", "95% interval", "verdict"]
            .into_iter()
            .map(|h| (h.to_string(), false))
            .collect(),
    );
    for (key, changes) in rows {
        for ch in changes {
            grid.push(vec![
                key.to_string(),
                ch.metric.to_string(),
                ch.metric.format(ch.old),
                ch.metric.format(ch.new),
                ch.change_text(),
                ch.interval_text(),
                ch.verdict_text(),
            ]);
        }
    }
    format!(
        "{new} against {old}; change: {statistic}; slower and faster in time per message (p50, p99) \
         or per byte (throughput)\n{}",
        grid.render()
    )
}

/// How `compare` computes a change.
pub const UNPAIRED_STATISTIC: &str =
    "ratio of the medians over each side's repetitions, with a 95% bootstrap interval";

impl Comparison {
    /// Metric changes that fail the gate: regressed, on a metric it names.
    pub fn failures(&self) -> impl Iterator<Item = (&ConfigKey, &MetricChange)> {
        gated(&self.rows, Verdict::Regressed)
    }

    /// Gated metric changes the intervals cannot decide.
    pub fn undecided(&self) -> impl Iterator<Item = (&ConfigKey, &MetricChange)> {
        gated(&self.rows, Verdict::Undecided)
    }

    /// The aligned table `compare` prints, with the configurations on one side only and a note
    /// on what unpaired results can and cannot tell.
    pub fn render(&self) -> String {
        let mut out = render_changes(&self.rows, "baseline", "current", UNPAIRED_STATISTIC);
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
