//! The `ipcbench ab` verdict file: these serde types are its schema. Bump [`AB_SCHEMA_VERSION`]
//! on any change an older reader would misread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::AbPlan;
use crate::analysis::compare::{MetricChange, Thresholds};
use crate::analysis::interval::CONFIDENCE;
use crate::analysis::key::ConfigKey;
use crate::analysis::paired::compare_rounds;
use crate::analysis::summary::Summary;
use crate::measure::env::Environment;

/// Version of the verdict-file layout.
/// 2: a metric the gate does not name has no threshold and no verdict; `inconclusive` is
/// `undecided`, and an interval that holds no change but reaches past the threshold is undecided.
pub const AB_SCHEMA_VERSION: u32 = 2;

/// One of the two builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// The baseline.
    Old = 0,
    /// The build under test.
    New = 1,
}

crate::display_as_value_name!(Side);

/// What one build is.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Build {
    /// The binary, as an absolute path.
    pub path: PathBuf,
    /// `ipcbench_version` and `git_commit` from the build's own result files.
    pub ipcbench_version: Option<String>,
    pub git_commit: Option<String>,
    /// Nanoseconds a test build (`inject-delay`) adds per send; absent for a real build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injected_delay_ns: Option<u64>,
    /// Its rounds merged into one result file (repetition = round), for `report` and `export`.
    pub results_file: Option<PathBuf>,
}

impl Build {
    /// Takes the build's identity from a result file it wrote.
    pub fn identify(&mut self, s: &Summary) {
        self.ipcbench_version = Some(s.environment.ipcbench_version.clone());
        self.git_commit = s.environment.git_commit.clone();
        self.injected_delay_ns = s.environment.injected_delay_ns;
    }
}

/// Both builds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Builds {
    pub old: Build,
    pub new: Build,
}

impl Builds {
    pub fn get_mut(&mut self, side: Side) -> &mut Build {
        match side {
            Side::Old => &mut self.old,
            Side::New => &mut self.new,
        }
    }
}

/// Which build ran first in a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundOrder {
    /// 0-based round.
    pub round: u32,
    pub first: Side,
    pub second: Side,
}

/// One configuration's paired comparison.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConfigComparison {
    /// The configuration's label, as tables show it.
    pub configuration: String,
    /// The configuration itself, field by field.
    pub key: ConfigKey,
    pub changes: Vec<MetricChange>,
}

/// An `ipcbench ab` verdict file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AbSummary {
    /// Layout version of this file ([`AB_SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Always `"ipcbench-ab"`.
    pub tool: String,
    /// When the gate started, RFC 3339 UTC.
    pub started_at: String,
    /// The command line exactly as given.
    pub command: Vec<String>,
    /// The machine the gate ran on (as this process sees it).
    pub environment: Environment,
    pub builds: Builds,
    /// Rounds asked for; `order` lists those that finished.
    pub rounds: u32,
    /// The order the builds ran in, round by round (balanced: old first in even rounds).
    pub order: Vec<RoundOrder>,
    /// Gated metrics and their thresholds (0.05 = 5%); other metrics get no verdict.
    pub thresholds: BTreeMap<String, f64>,
    /// How the intervals were computed.
    pub method: String,
    /// The confidence asked for (each interval states what it reached).
    pub confidence: f64,
    /// Per configuration: each metric's medians, per-round ratios, interval and verdict.
    pub comparisons: Vec<ConfigComparison>,
    /// Configurations only one build measured: never compared.
    pub only_in_old: Vec<String>,
    pub only_in_new: Vec<String>,
    /// Set when the gate stopped early: what failed. The rounds in `order` still stand.
    pub error: Option<String>,
}

impl AbSummary {
    pub fn new(plan: &AbPlan, command: Vec<String>) -> AbSummary {
        AbSummary {
            schema_version: AB_SCHEMA_VERSION,
            tool: "ipcbench-ab".into(),
            started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            command,
            environment: Environment::detect(),
            builds: Builds {
                old: Build { path: plan.old.clone(), ..Default::default() },
                new: Build { path: plan.new.clone(), ..Default::default() },
            },
            rounds: plan.rounds,
            order: Vec::new(),
            thresholds: plan.thresholds.0.iter().map(|(m, v)| (m.to_string(), *v)).collect(),
            method: "paired worse-ratios (new/old latency, old/new throughput), one per round; \
                     distribution-free order-statistics interval of their median"
                .into(),
            confidence: CONFIDENCE,
            comparisons: Vec::new(),
            only_in_old: Vec::new(),
            only_in_new: Vec::new(),
            error: None,
        }
    }

    /// Judges the rounds so far.
    pub fn judge(&mut self, rounds: &[(Summary, Summary)], t: &Thresholds) {
        let p = compare_rounds(rounds, t);
        self.comparisons = p
            .rows
            .into_iter()
            .map(|(key, changes)| ConfigComparison { configuration: key.to_string(), key, changes })
            .collect();
        self.only_in_old = p.only_in_old.iter().map(ToString::to_string).collect();
        self.only_in_new = p.only_in_new.iter().map(ToString::to_string).collect();
    }

    /// The comparisons as (configuration, changes) rows, for tables and gates.
    pub fn rows(&self) -> Vec<(ConfigKey, Vec<MetricChange>)> {
        self.comparisons.iter().map(|c| (c.key.clone(), c.changes.clone())).collect()
    }

    /// Writes the file atomically (a temporary file renamed over it).
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::analysis::summary::write_atomically(path, &(serde_json::to_string_pretty(self)? + "\n"))
    }
}
