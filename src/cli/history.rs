//! `ipcbench history`: its subcommands and flags.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::analysis::stats::Metric;

/// Where the history lives unless `--db` says otherwise.
pub const DEFAULT_DB: &str = "output/history.sqlite";

#[derive(Debug, Clone, Subcommand)]
pub enum HistoryCommand {
    /// Store every run of result files in the history, under a commit, branch and testbed.
    /// Adding the same result again changes nothing; the files are added together or not at
    /// all.
    Add(AddArgs),
    /// Build a history from a directory of result files, oldest first (by the time each
    /// started), each under its own commit.
    Import(ImportArgs),
    /// Change points across commits in every series (testbed, configuration, metric): E-divisive
    /// means with a t-test, as Apache Otava finds them. Exit 3 when a regression lies in the
    /// last --last commits, 4 when no series has enough commits to judge.
    Check(CheckArgs),
    /// Write a branch's series as CSV that Apache Otava reads (one row per commit, one column
    /// per series), to check our change points against Otava's own.
    Export(ExportArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// The history database (SQLite; created by add and import when missing).
    #[arg(long, default_value = DEFAULT_DB)]
    pub db: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    /// Result files (ipcbench run --out).
    #[arg(required = true)]
    pub results: Vec<PathBuf>,
    #[command(flatten)]
    pub db: DbArgs,
    /// The commit measured [default: the commit the measuring ipcbench was built from, as its
    /// result records it; else git's HEAD here].
    #[arg(long)]
    pub commit: Option<String>,
    /// The branch [default: git's current branch here; else main].
    #[arg(long)]
    pub branch: Option<String>,
    /// The machine's name in the history [default: derived from the result's CPU model, CPU
    /// count and machine fingerprint, so different machines never share a series].
    #[arg(long)]
    pub testbed: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// A directory of result files (*.json; other files are skipped).
    pub dir: PathBuf,
    #[command(flatten)]
    pub db: DbArgs,
    /// Where each file's commit comes from.
    #[arg(long, value_enum, default_value_t = CommitFrom::Result)]
    pub commit_from: CommitFrom,
    /// The branch [default: git's current branch here; else main].
    #[arg(long)]
    pub branch: Option<String>,
    /// The machine's name in the history [default: derived from each result's machine].
    #[arg(long)]
    pub testbed: Option<String>,
}

/// How `import` names each file's commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CommitFrom {
    /// The commit the measuring ipcbench was built from, as the result records it (the file
    /// name where it does not).
    Result,
    /// The file name without .json.
    FileName,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The branch [default: the branch of the newest result added].
    #[arg(long)]
    pub branch: Option<String>,
    /// Metrics to analyse, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "p50,throughput")]
    pub metric: Vec<Metric>,
    /// A change point's t-test must be below this p-value.
    #[arg(long, default_value_t = 0.001, value_parser = parse_p_value)]
    pub p_value: f64,
    /// A change point's means must differ by more than this (4%: at 2.5% noise, under 3% of
    /// flat series show a change point; docs/history.md has the figures).
    #[arg(long, default_value = "4%", value_parser = parse_pct)]
    pub min_magnitude: f64,
    /// Commits per window of the split step (Otava's window_len).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(2..=100_000))]
    pub window: u32,
    /// The fewest commits between change points: 2 keeps a one-commit spike from being a
    /// change point; 1 gives Otava's own answer.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub min_segment: u32,
    /// The gate: only a regression in this many newest commits of the branch exits 3
    /// [default: a regression anywhere].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub last: Option<u32>,
    /// How to print the answer (the verdict lines go to stderr either way).
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// An aligned table of change points.
    Table,
    /// Every series and its change points, as JSON.
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The file format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// The branch [default: the branch of the newest result added].
    #[arg(long)]
    pub branch: Option<String>,
    /// Metrics to write, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "p50,throughput")]
    pub metric: Vec<Metric>,
    /// Where to write it; `-` or absent for stdout.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Apache Otava's CSV (time, commit, one column per series).
    Csv,
}

fn parse_p_value(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if p > 0.0 && p < 1.0 => Ok(p),
        _ => Err(format!("'{s}' is not a p-value between 0 and 1 (e.g. 0.001)")),
    }
}

fn parse_pct(s: &str) -> Result<f64, String> {
    match s.trim().trim_end_matches('%').parse::<f64>() {
        Ok(v) if (0.0..=1000.0).contains(&v) => Ok(v / 100.0),
        _ => Err(format!("'{s}' is not a percentage like 5%")),
    }
}
