//! `ipcbench history ...`: the flags turned into store and analysis calls, and the exit status.
//! Every file named on the command line that cannot be used (a result, the database, the
//! directory) is a usage error, exit 2.

use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, Context, Result};

use super::check::{check, Options};
use super::edivisive::Settings;
use super::store::{testbed_of, Added, Provenance, Store};
use crate::analysis::summary::Summary;
use crate::cli::history::{
    AddArgs, CheckArgs, CheckFormat, CommitFrom, ExportArgs, HistoryCommand, ImportArgs,
};
use crate::exit::{self, usage};

/// Runs one history command; its exit status.
pub fn run(cmd: &HistoryCommand) -> Result<i32> {
    match cmd {
        HistoryCommand::Add(a) => add(a),
        HistoryCommand::Import(a) => import(a),
        HistoryCommand::Check(a) => check_command(a),
        HistoryCommand::Export(a) => export(a),
    }
}

/// `git ARGS` in the current directory: its trimmed output, `None` when git fails or is absent.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).stderr(std::process::Stdio::null()).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn default_branch(given: Option<&str>) -> String {
    given
        .map(str::to_string)
        .or_else(|| git(&["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD"))
        .unwrap_or_else(|| "main".into())
}

/// The commit's time where git knows the commit, else when the result started.
fn time_of(commit: &str, summary: &Summary) -> String {
    git(&["show", "-s", "--format=%cI", &format!("{commit}^{{commit}}")])
        .unwrap_or_else(|| summary.started_at.clone())
}

fn read_result(path: &Path) -> Result<Summary> {
    let s = Summary::read(path).map_err(usage)?;
    if s.runs.is_empty() {
        return Err(usage(anyhow!("{} holds no runs: nothing to add", path.display())));
    }
    Ok(s)
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Adds `results` in one transaction and says what happened to each.
fn store(db: &Path, results: Vec<(Summary, Provenance)>) -> Result<i32> {
    let mut store = Store::open_for_writing(db).map_err(usage)?;
    let added = store.add(&results).map_err(usage)?;
    for ((_, p), a) in results.iter().zip(added) {
        match a {
            Added::New { measurements } => eprintln!(
                "added {}: commit {}, branch {}, testbed {}, {measurements} measurement{}",
                p.source,
                p.commit,
                p.branch,
                p.testbed,
                if measurements == 1 { "" } else { "s" }
            ),
            Added::AlreadyStored { commit } => {
                eprintln!("{} is in the history already (commit {commit}): nothing added", p.source)
            }
        }
    }
    Ok(exit::OK)
}

fn add(a: &AddArgs) -> Result<i32> {
    let branch = default_branch(a.branch.as_deref());
    let mut results = Vec::new();
    for path in &a.results {
        let summary = read_result(path)?;
        let commit = a
            .commit
            .clone()
            .or_else(|| summary.environment.git_commit.clone())
            .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
            .ok_or_else(|| {
                usage(anyhow!(
                    "{}: no commit (the result records none and git has none here): pass --commit",
                    path.display()
                ))
            })?;
        let p = Provenance {
            time: time_of(&commit, &summary),
            commit,
            branch: branch.clone(),
            testbed: a.testbed.clone().unwrap_or_else(|| testbed_of(&summary.environment)),
            source: file_name(path),
        };
        results.push((summary, p));
    }
    store(&a.db.db, results)
}

fn import(a: &ImportArgs) -> Result<i32> {
    let entries =
        std::fs::read_dir(&a.dir).with_context(|| format!("reading {}", a.dir.display())).map_err(usage)?;
    let mut files = Vec::new();
    for e in entries {
        let path = e.with_context(|| format!("reading {}", a.dir.display())).map_err(usage)?.path();
        if path.extension().is_some_and(|x| x == "json") && path.is_file() {
            let summary = read_result(&path)?;
            files.push((summary.started_at.clone(), file_name(&path), summary, path));
        }
    }
    if files.is_empty() {
        return Err(usage(anyhow!("{} holds no result files (*.json)", a.dir.display())));
    }
    files.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
    let branch = default_branch(a.branch.as_deref());
    let results = files
        .into_iter()
        .map(|(_, name, summary, path)| {
            let stem = path.file_stem().map_or_else(|| name.clone(), |s| s.to_string_lossy().into_owned());
            let commit = match a.commit_from {
                CommitFrom::Result => summary.environment.git_commit.clone().unwrap_or(stem),
                CommitFrom::FileName => stem,
            };
            let p = Provenance {
                time: time_of(&commit, &summary),
                commit,
                branch: branch.clone(),
                testbed: a.testbed.clone().unwrap_or_else(|| testbed_of(&summary.environment)),
                source: name,
            };
            (summary, p)
        })
        .collect();
    store(&a.db.db, results)
}

/// The branch asked for, or the newest; `None` for an empty history.
fn branch_of(store: &Store, given: Option<&str>) -> Result<Option<String>> {
    match given {
        None => store.newest_branch().map_err(usage),
        Some(b) => {
            let all = store.branches().map_err(usage)?;
            if all.iter().any(|x| x == b) {
                Ok(Some(b.to_string()))
            } else {
                Err(usage(anyhow!("the history has no branch '{b}' (it has: {})", all.join(", "))))
            }
        }
    }
}

fn check_command(a: &CheckArgs) -> Result<i32> {
    let store = Store::open(&a.db.db).map_err(usage)?;
    let Some(branch) = branch_of(&store, a.branch.as_deref())? else {
        println!("{} holds no results yet: not enough points to judge", a.db.db.display());
        return Ok(exit::UNDECIDED);
    };
    let history = store.branch(&branch).map_err(usage)?;
    let options = Options {
        branch,
        metrics: a.metric.clone(),
        settings: Settings {
            window: a.window as usize,
            p_value: a.p_value,
            min_magnitude: a.min_magnitude,
            min_segment: a.min_segment as usize,
        },
        last: a.last.map(|n| n as usize),
    };
    let report = check(&history, &options);
    match a.format {
        CheckFormat::Table => print!("{}", report.render_table()),
        CheckFormat::Json => print!("{}", report.render_json()),
    }
    for line in report.verdict_lines() {
        eprintln!("{line}");
    }
    Ok(report.exit_code())
}

fn export(a: &ExportArgs) -> Result<i32> {
    let store = Store::open(&a.db.db).map_err(usage)?;
    let Some(branch) = branch_of(&store, a.branch.as_deref())? else {
        return Err(usage(anyhow!("{} holds no results yet: nothing to export", a.db.db.display())));
    };
    let text = super::export::csv(&store.branch(&branch).map_err(usage)?, &a.metric)?;
    match a.out.as_deref() {
        None => print!("{text}"),
        Some(p) if p.as_os_str() == "-" => print!("{text}"),
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?,
    }
    Ok(exit::OK)
}
