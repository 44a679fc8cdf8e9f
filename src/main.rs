use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;

use ipcbench::analysis::compare::{self, Thresholds};
use ipcbench::analysis::summary::Summary;
use ipcbench::cli::{Cli, Command, RunArgs};
use ipcbench::config::RunConfig;
use ipcbench::control::coordinator::PeerSource;

/// Exit status of a usage error (a bad flag or flag value), as clap uses.
const EXIT_USAGE: i32 = 2;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            eprintln!("Error: {}", one_line(&e.render().to_string()));
            std::process::exit(EXIT_USAGE);
        }
    };
    if let Err(e) = run(cli) {
        ipcbench::cleanup::run_all();
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

/// clap's error on one line: its text without the `error:` prefix, the usage and the hint.
fn one_line(rendered: &str) -> String {
    rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_string()
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Peer { timeout_s, socket_dir }) => {
            ipcbench::control::peer::run_on_stdio(Duration::from_secs(timeout_s), &socket_dir)
        }
        Some(Command::Run(args)) => run_bench(&args, PeerSource::Spawn),
        Some(Command::Host(args)) => {
            run_bench(&args.run, PeerSource::Client(Duration::from_secs(args.client_timeout_s)))
        }
        Some(Command::Client(a)) => {
            let dir = ipcbench::config::check_dir(&a.socket_dir, "socket directory", false)?;
            ipcbench::control::peer::run_client(
                &dir,
                Duration::from_secs(a.connect_timeout_s),
                Duration::from_secs(a.timeout_s),
                a.serve,
            )
        }
        Some(Command::Compare { baseline, current, max_regression, strict }) => {
            compare(&baseline, &current, max_regression.as_ref(), strict)
        }
        Some(Command::Report { results, out, svg }) => {
            let n = ipcbench::report::run(&results, &out, svg.as_deref())?;
            eprintln!("{n} charts written to {}", out.display());
            Ok(())
        }
        Some(Command::Export { result, format, out }) => {
            let summary = Summary::read(&result)?;
            let text =
                serde_json::to_string_pretty(&ipcbench::export::dashboards::render(&summary, format))? + "\n";
            match out.as_deref() {
                None => print!("{text}"),
                Some(p) if p.as_os_str() == "-" => print!("{text}"),
                Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?,
            }
            Ok(())
        }
        None => run_bench(&RunArgs::default(), PeerSource::Spawn),
    }
}

fn compare(baseline: &Path, current: &Path, gate: Option<&Thresholds>, strict: bool) -> anyhow::Result<()> {
    let (old, new) = (Summary::read(baseline)?, Summary::read(current)?);
    compare::check_comparable(&old, &new)?;
    let c = compare::compare(&old, &new);
    print!("{}", c.render());
    if c.rows.is_empty() {
        bail!("{} and {} have no configuration in common", baseline.display(), current.display());
    }
    if strict && !(c.only_in_baseline.is_empty() && c.only_in_current.is_empty()) {
        bail!(
            "--strict: {} configuration(s) only in the baseline, {} only in the current result",
            c.only_in_baseline.len(),
            c.only_in_current.len()
        );
    }
    if let Some(t) = gate {
        let failures: Vec<String> = c
            .failures(t)
            .map(|(key, ch)| format!("{key} {} {:+.1}%", ch.metric, ch.worse_by * 100.0))
            .collect();
        if !failures.is_empty() {
            bail!("performance regression beyond the threshold: {}", failures.join("; "));
        }
    }
    Ok(())
}

fn run_bench(args: &RunArgs, source: PeerSource) -> anyhow::Result<()> {
    let cfg = RunConfig::from_args(args)?;
    let summary = ipcbench::control::coordinator::run(&cfg, source, std::env::args().collect())?;
    if !cfg.outputs.quiet && cfg.outputs.summary_to_file() {
        eprintln!("{} runs written to {}", summary.runs.len(), cfg.outputs.out.display());
    }
    Ok(())
}
