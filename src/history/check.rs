//! `ipcbench history check`: the change points of every series of a branch, and the gate.
//!
//! A series is one metric of one configuration ([`ConfigKey`]) on one testbed; its point at a
//! commit is the median of every value measured there (repetitions, and every result added for
//! that commit). Change points come from [`edivisive`]; each is a regression or an improvement
//! for its metric (latency lower is better, throughput higher), stated in the words `compare`
//! uses (`slower by 12%`). The gate fails on a regression among the last `--last` commits of the
//! branch. The output depends on the database alone: the same database, the same bytes.

use std::fmt::Write as _;

use serde::Serialize;

use super::edivisive::{self, Settings};
use super::store::{BranchHistory, Series};
use crate::analysis::compare::worse_ratio;
use crate::analysis::key::ConfigKey;
use crate::analysis::stats::{median, Metric};
use crate::exit;
use crate::format::{format_change, format_pct, Grid};

/// What `check` was asked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Options {
    pub branch: String,
    pub metrics: Vec<Metric>,
    #[serde(flatten)]
    pub settings: Settings,
    /// Only change points in this many newest commits fail the gate; `None`: any.
    pub last: Option<usize>,
}

/// Which way a change point went for its metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Regression,
    Improvement,
}

/// One change point of one series.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Found {
    /// The first commit of the new level.
    pub commit: String,
    /// The commit before it in the series.
    pub previous_commit: String,
    /// Its position in the series (0 = the series' first commit).
    pub index: usize,
    /// The mean of the series' points over the segment before and the segment after.
    pub mean_before: f64,
    pub mean_after: f64,
    /// after/before where lower is better, before/after where higher is (1.10 = slower by 10%).
    pub worse_ratio: f64,
    pub p_value: f64,
    pub direction: Direction,
    /// Whether it lies in the last `--last` commits of the branch (always, without `--last`).
    pub gated: bool,
}

/// One series and what was found in it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeriesReport {
    pub testbed: String,
    /// The configuration as a label (`uds round-trip 64 B block`).
    pub configuration: String,
    pub config: ConfigKey,
    pub metric: Metric,
    /// Commits with a value.
    pub points: usize,
    /// False when the series has too few points to judge.
    pub judged: bool,
    pub change_points: Vec<Found>,
}

/// The whole answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub options: Options,
    /// The branch's commits, oldest first.
    pub commits: usize,
    /// The fewest points a series needs to be judged.
    pub min_points: usize,
    pub series: Vec<SeriesReport>,
}

/// The fewest points a series needs: two segments of the minimum length, and at least 4.
pub fn min_points(s: &Settings) -> usize {
    (2 * s.min_segment).max(4)
}

/// The median of each point of `series`.
pub fn medians(series: &Series) -> Vec<f64> {
    series.points.iter().map(|p| median(&mut p.values.clone()).expect("a point has values")).collect()
}

/// Runs the analysis over every series of `history` with a metric in `options.metrics`.
pub fn check(history: &BranchHistory, options: &Options) -> Report {
    let need = min_points(&options.settings);
    let gated_from = options.last.map_or(0, |n| history.commits.len().saturating_sub(n));
    let position = |commit: &str| history.commits.iter().position(|c| c == commit).unwrap_or(0);
    let series = history
        .series
        .iter()
        .filter(|s| options.metrics.contains(&s.metric))
        .map(|s| {
            let values = medians(s);
            let judged = values.len() >= need;
            let change_points = if judged {
                edivisive::change_points(&values, &options.settings)
                    .into_iter()
                    .map(|cp| {
                        let (before, after) = (cp.split.mean_before, cp.split.mean_after);
                        let ratio = worse_ratio(s.metric, before, after);
                        let commit = s.points[cp.index].commit.clone();
                        Found {
                            gated: position(&commit) >= gated_from,
                            commit,
                            previous_commit: s.points[cp.index - 1].commit.clone(),
                            index: cp.index,
                            mean_before: before,
                            mean_after: after,
                            worse_ratio: ratio,
                            p_value: cp.split.p_value,
                            direction: if ratio > 1.0 {
                                Direction::Regression
                            } else {
                                Direction::Improvement
                            },
                        }
                    })
                    .collect()
            } else {
                Vec::new()
            };
            SeriesReport {
                testbed: s.testbed.clone(),
                configuration: s.config.to_string(),
                config: s.config.clone(),
                metric: s.metric,
                points: values.len(),
                judged,
                change_points,
            }
        })
        .collect();
    Report { options: options.clone(), commits: history.commits.len(), min_points: need, series }
}

fn format_p(p: f64) -> String {
    if p >= 0.001 {
        format!("{p:.3}")
    } else if p > 0.0 {
        format!("{p:.1e}")
    } else {
        "<1e-300".into()
    }
}

impl Report {
    /// The gate's regressions: series and change point.
    pub fn regressions(&self) -> impl Iterator<Item = (&SeriesReport, &Found)> {
        self.series.iter().flat_map(|s| {
            s.change_points
                .iter()
                .filter(|f| f.gated && f.direction == Direction::Regression)
                .map(move |f| (s, f))
        })
    }

    /// 0: nothing regressed; 3: a regression in the gated commits; 4: no series could be judged.
    pub fn exit_code(&self) -> i32 {
        if self.regressions().next().is_some() {
            exit::REGRESSED
        } else if !self.series.iter().any(|s| s.judged) {
            exit::UNDECIDED
        } else {
            exit::OK
        }
    }

    /// The settings in one line.
    fn settings_line(&self) -> String {
        let s = &self.options.settings;
        let metrics: Vec<String> = self.options.metrics.iter().map(ToString::to_string).collect();
        format!(
            "branch {}: {} commit{}; {} series of {}; change points at p < {}, magnitude over {}, windows of {}, segments of {} commit{} or more",
            self.options.branch,
            self.commits,
            if self.commits == 1 { "" } else { "s" },
            self.series.len(),
            metrics.join(", "),
            s.p_value,
            format_pct(s.min_magnitude),
            s.window,
            s.min_segment,
            if s.min_segment == 1 { "" } else { "s" },
        )
    }

    /// The text answer: the settings, a table of change points, the series too short to judge.
    pub fn render_table(&self) -> String {
        let mut out = self.settings_line() + "\n";
        let several_testbeds = self.series.windows(2).any(|w| w[0].testbed != w[1].testbed);
        let found: Vec<(&SeriesReport, &Found)> =
            self.series.iter().flat_map(|s| s.change_points.iter().map(move |f| (s, f))).collect();
        if found.is_empty() {
            out += "no change points\n";
        } else {
            let mut columns: Vec<(String, bool)> = Vec::new();
            if several_testbeds {
                columns.push(("testbed".into(), false));
            }
            for (name, right) in [
                ("configuration", false),
                ("metric", false),
                ("commit", false),
                ("before", true),
                ("after", true),
                ("change", false),
                ("p-value", true),
                ("", false),
            ] {
                columns.push((name.into(), right));
            }
            let mut grid = Grid::new(columns);
            for (s, f) in found {
                let mut row = Vec::new();
                if several_testbeds {
                    row.push(s.testbed.clone());
                }
                row.extend([
                    s.configuration.clone(),
                    s.metric.to_string(),
                    f.commit.clone(),
                    s.metric.format(f.mean_before),
                    s.metric.format(f.mean_after),
                    format_change(f.worse_ratio),
                    format_p(f.p_value),
                    match (f.direction, f.gated) {
                        (Direction::Regression, true) => "regression",
                        (Direction::Regression, false) => "regression (before the gated commits)",
                        (Direction::Improvement, _) => "improvement",
                    }
                    .to_string(),
                ]);
                grid.push(row);
            }
            out += &grid.render();
        }
        for s in self.series.iter().filter(|s| !s.judged) {
            let _ = writeln!(
                out,
                "not enough points: {}{} {} has {} commit{}, a series needs {}",
                if several_testbeds { format!("{} ", s.testbed) } else { String::new() },
                s.configuration,
                s.metric,
                s.points,
                if s.points == 1 { "" } else { "s" },
                self.min_points
            );
        }
        out
    }

    /// The JSON answer (the [`Report`] as it is).
    pub fn render_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serializes") + "\n"
    }

    /// The gate's verdict, one line each, for stderr.
    pub fn verdict_lines(&self) -> Vec<String> {
        let within = match self.options.last {
            Some(n) => format!("in the last {n} commit{}", if n == 1 { "" } else { "s" }),
            None => "in the history".into(),
        };
        let regressions: Vec<String> = self
            .regressions()
            .map(|(s, f)| {
                format!(
                    "regression: {} {} {} at commit {} (after {}; p = {})",
                    s.configuration,
                    s.metric,
                    format_change(f.worse_ratio),
                    f.commit,
                    f.previous_commit,
                    format_p(f.p_value)
                )
            })
            .collect();
        if !regressions.is_empty() {
            let mut v = regressions;
            v.push(format!(
                "history check: {} regression change point{} {within}",
                v.len(),
                if v.len() == 1 { "" } else { "s" }
            ));
            return v;
        }
        if self.series.is_empty() {
            return vec![format!(
                "history check: not enough points: branch {} has no series of {}",
                self.options.branch,
                self.metric_names()
            )];
        }
        if !self.series.iter().any(|s| s.judged) {
            return vec![format!(
                "history check: not enough points: no series has the {} commits it needs to be judged",
                self.min_points
            )];
        }
        vec![format!("history check: no regression change point {within}")]
    }

    fn metric_names(&self) -> String {
        self.options.metrics.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }
}
