use std::time::Duration;

use clap::Parser;

use ipcbench::cli::{Cli, Command, RunArgs};
use ipcbench::config::RunConfig;

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        ipcbench::cleanup::run_all();
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Peer { timeout_s }) => {
            ipcbench::control::peer::run_on_stdio(Duration::from_secs(timeout_s))
        }
        Some(Command::Run(args)) => run_bench(&args),
        None => run_bench(&RunArgs::default()),
    }
}

fn run_bench(args: &RunArgs) -> anyhow::Result<()> {
    let cfg = RunConfig::from_args(args)?;
    let summary = ipcbench::control::coordinator::run(&cfg, std::env::args().collect())?;
    if !cfg.quiet && cfg.out.as_os_str() != "-" {
        eprintln!("{} runs written to {}", summary.runs.len(), cfg.out.display());
    }
    Ok(())
}
