//! `ipcbench ab OLD NEW [run options]`: the same matrix measured with two builds, interleaved in
//! balanced rounds so both see the same machine, and judged pair by pair.
//!
//! Round `r` runs `OLD run ...` then `NEW run ...` when `r` is even and the other way round
//! when it is odd (A B, B A, A B, ...), so neither build always goes first into a warm or a cold
//! machine. Each build drives its own peer (its own `run`), so the initiator and the peer are
//! both the build under test. Every round's result files are kept and merged per build into
//! `<out>.old.json` and `<out>.new.json` (repetition = round), which `report` and `export` read;
//! `<out>` holds the verdicts, both builds' identities and the order the rounds ran in.

pub mod summary;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use self::summary::{AbSummary, RoundOrder, Side};
use crate::analysis::compare::{render_changes, Gate, Thresholds};
use crate::analysis::paired::PAIRED_STATISTIC;
use crate::analysis::summary::Summary;

/// What `ab` was asked to do, checked.
#[derive(Clone, Debug)]
pub struct AbPlan {
    pub old: PathBuf,
    pub new: PathBuf,
    pub rounds: u32,
    pub thresholds: Thresholds,
    pub strict: bool,
    /// The verdict file; the merged results go beside it.
    pub out: PathBuf,
    pub quiet: bool,
    /// The run options, exactly as given, passed to both builds' `run`.
    pub run_args: Vec<OsString>,
}

/// Which build runs first in round `r`: balanced, A B then B A.
pub fn order(round: u32) -> [Side; 2] {
    if round % 2 == 0 {
        [Side::Old, Side::New]
    } else {
        [Side::New, Side::Old]
    }
}

/// The files beside `out` that hold each build's merged results.
pub fn results_path(out: &Path, side: Side) -> PathBuf {
    let stem = out.file_stem().map_or_else(|| "ab".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}.{side}.json"))
}

/// Checks that `path` is an ipcbench binary this process may execute (it answers `--version`
/// with `ipcbench ...`); absolute, for running from anywhere.
pub fn check_binary(path: &Path, which: &str) -> Result<PathBuf> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("the {which} build {} does not exist", path.display()))?;
    if !meta.is_file() || rustix::fs::access(path, rustix::fs::Access::EXEC_OK).is_err() {
        bail!("the {which} build {} is not an executable file", path.display());
    }
    let path = path.canonicalize().with_context(|| format!("resolving {}", path.display()))?;
    let version = Command::new(&path)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !version.starts_with("ipcbench ") {
        bail!(
            "the {which} build {} is not an ipcbench binary (its --version does not say ipcbench)",
            path.display()
        );
    }
    Ok(path)
}

/// Runs the plan: every round, both builds; the verdicts written to `plan.out` after every
/// round (a failure keeps the rounds done), and the gate's exit code ([`crate::exit`]).
pub fn run(plan: &AbPlan, command: Vec<String>) -> Result<i32> {
    let work =
        tempfile::Builder::new().prefix("ipcbench-ab-").tempdir().context("creating a scratch directory")?;
    let mut s = AbSummary::new(plan, command);
    let mut rounds: Vec<(Summary, Summary)> = Vec::new();
    let bar = progress(plan);
    let outcome = (|| -> Result<()> {
        for r in 0..plan.rounds {
            let mut pair: [Option<Summary>; 2] = [None, None];
            for side in order(r) {
                bar.set_message(format!("round {}/{}: {side}", r + 1, plan.rounds));
                let file = work.path().join(format!("{side}-{r}.json"));
                let summary = run_build(plan, side, &file)
                    .with_context(|| format!("round {} of {}", r + 1, plan.rounds))?;
                s.builds.get_mut(side).identify(&summary);
                pair[side as usize] = Some(summary);
                bar.inc(1);
            }
            s.order.push(RoundOrder { round: r, first: order(r)[0], second: order(r)[1] });
            let [Some(old), Some(new)] = pair else { unreachable!("both sides ran") };
            rounds.push((old, new));
            s.judge(&rounds, &plan.thresholds);
            write_all(plan, &mut s, &rounds)?;
        }
        Ok(())
    })();
    bar.finish_and_clear();
    if let Err(e) = &outcome {
        s.error = Some(format!("{e:#}"));
        let _ = write_all(plan, &mut s, &rounds);
    }
    outcome?;
    if !plan.quiet {
        print!("{}", render_changes(&s.rows(), "old", "new", PAIRED_STATISTIC));
        for k in &s.only_in_old {
            println!("only in old: {k}");
        }
        for k in &s.only_in_new {
            println!("only in new: {k}");
        }
        if let Some((o, n)) = rounds.first() {
            let differ = o.environment.fingerprint.differences(&n.environment.fingerprint);
            if !differ.is_empty() {
                println!("note: the builds saw different machine settings: {}", differ.join("; "));
            }
        }
        eprintln!("{} paired rounds written to {}", rounds.len(), plan.out.display());
    }
    let mut gate = Gate::of(&s.rows());
    if plan.strict {
        gate.undecided.extend(
            s.only_in_old
                .iter()
                .chain(&s.only_in_new)
                .map(|k| format!("{k} (--strict: measured by one build only)")),
        );
    }
    for line in gate.lines(&format!("more --rounds (now {}) narrow the intervals", plan.rounds)) {
        eprintln!("{line}");
    }
    Ok(gate.exit_code())
}

/// One build's `run` of the matrix into `file`.
fn run_build(plan: &AbPlan, side: Side, file: &Path) -> Result<Summary> {
    let bin = match side {
        Side::Old => &plan.old,
        Side::New => &plan.new,
    };
    let status = Command::new(bin)
        .arg("run")
        .args(&plan.run_args)
        .args(["--quiet", "--repeat", "1", "--out"])
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .with_context(|| format!("starting the {side} build {}", bin.display()))?;
    if !status.success() {
        bail!("the {side} build {} failed ({status}); its error is above", bin.display());
    }
    Summary::read(file).with_context(|| format!("reading the {side} build's results"))
}

/// The verdicts, and each build's rounds merged into one result file.
fn write_all(plan: &AbPlan, s: &mut AbSummary, rounds: &[(Summary, Summary)]) -> Result<()> {
    for side in [Side::Old, Side::New] {
        let mut merged: Option<Summary> = None;
        for (r, pair) in rounds.iter().enumerate() {
            let one = if side == Side::Old { &pair.0 } else { &pair.1 };
            let m = merged.get_or_insert_with(|| Summary { runs: Vec::new(), ..one.clone() });
            m.runs.extend(one.runs.iter().cloned().map(|mut run| {
                run.repetition = r as u32;
                run
            }));
        }
        if let Some(m) = merged {
            let path = results_path(&plan.out, side);
            m.write(&path)?;
            s.builds.get_mut(side).results_file = Some(path);
        }
    }
    s.write(&plan.out)
}

fn progress(plan: &AbPlan) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if plan.quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(u64::from(plan.rounds) * 2);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} runs")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_alternate_which_build_goes_first() {
        let firsts: Vec<Side> = (0..4).map(|r| order(r)[0]).collect();
        assert_eq!(firsts, [Side::Old, Side::New, Side::Old, Side::New]);
        assert!((0..4).all(|r| order(r)[0] != order(r)[1]));
    }

    #[test]
    fn merged_results_sit_beside_the_verdict_file() {
        assert_eq!(results_path(Path::new("out/ab.json"), Side::Old), Path::new("out/ab.old.json"));
        assert_eq!(results_path(Path::new("gate.json"), Side::New), Path::new("gate.new.json"));
    }
}
