use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{CommandFactory, FromArgMatches};

use ipcbench::analysis::compare::{self, Thresholds};
use ipcbench::analysis::summary::Summary;
use ipcbench::cli::{
    passthrough_args, AbArgs, Cli, Command, KubeCommand, RunArgs, AB_OWN_ARGS, AB_REFUSED_ARGS,
    KUBE_OWN_ARGS, KUBE_REFUSED_ARGS,
};
use ipcbench::config::{DirTrust, RunConfig};
use ipcbench::control::coordinator::{ClientSource, PeerSource};
use ipcbench::control::{token, CONTROL_SOCKET};
use ipcbench::transport::Endpoint;

/// Exit status of a usage error (a bad flag or flag value), as clap uses.
const EXIT_USAGE: i32 = 2;

fn main() {
    let cmd = Cli::command();
    let parsed = cmd.clone().try_get_matches().and_then(|m| Ok((Cli::from_arg_matches(&m)?, m)));
    let (cli, matches) = match parsed {
        Ok(p) => p,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => usage_error(&one_line(&e.render().to_string())),
    };
    if let Some(Command::Ab(args)) = &cli.command {
        let m = matches.subcommand_matches("ab").expect("ab parsed");
        let sub = cmd.find_subcommand("ab").expect("ab exists");
        let passthrough =
            passthrough_args(m, sub, AB_OWN_ARGS, AB_REFUSED_ARGS).unwrap_or_else(|e| usage_error(&e));
        std::process::exit(ab(args, passthrough));
    }
    if let Some(Command::Kube { what: KubeCommand::Pod(args) }) = &cli.command {
        let m = matches
            .subcommand_matches("kube")
            .and_then(|m| m.subcommand_matches("pod"))
            .expect("kube pod parsed");
        let sub =
            cmd.find_subcommand("kube").and_then(|k| k.find_subcommand("pod")).expect("kube pod exists");
        let passthrough =
            passthrough_args(m, sub, KUBE_OWN_ARGS, KUBE_REFUSED_ARGS).unwrap_or_else(|e| usage_error(&e));
        if let Err(e) = RunConfig::from_args(&RunArgs { out: Some("-".into()), ..args.run.clone() }) {
            usage_error(&format!("{e:#}"));
        }
        let resources = ipcbench::kube::Resources::guaranteed(args.cpus, args.memory_mib);
        let pod = ipcbench::kube::pod(&args.name, &args.image, &resources, &passthrough);
        print!("{}", ipcbench::kube::to_yaml(&pod));
        return;
    }
    if let Err(e) = run(cli) {
        ipcbench::cleanup::run_all();
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

/// A bad flag or flag value: one line, exit 2.
fn usage_error(message: &str) -> ! {
    eprintln!("Error: {message}");
    std::process::exit(EXIT_USAGE);
}

/// `ipcbench ab`: the exit status (0 pass, 1 regression or failure, 2 usage error).
fn ab(args: &AbArgs, run_args: Vec<std::ffi::OsString>) -> i32 {
    let plan = (|| -> anyhow::Result<ipcbench::ab::AbPlan> {
        let old = ipcbench::ab::check_binary(&args.old, "old")?;
        let new = ipcbench::ab::check_binary(&args.new, "new")?;
        let mut run = args.run.clone();
        let out = run.out.clone().unwrap_or_else(|| {
            let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
            format!("output/ab-{}.json", stamp.replace(':', "").trim_end_matches('Z')).into()
        });
        if run.out.is_none() {
            std::fs::create_dir_all("output").context("creating the output directory output/")?;
        }
        run.out = Some(out.clone());
        RunConfig::from_args(&run)?; // every run option checked once, here, before any build runs
        Ok(ipcbench::ab::AbPlan {
            old,
            new,
            rounds: args.rounds,
            thresholds: args.max_regression.clone(),
            strict: args.strict,
            out,
            quiet: args.run.quiet,
            run_args,
        })
    })();
    let plan = match plan {
        Ok(p) => p,
        Err(e) => usage_error(&format!("{e:#}")),
    };
    match ipcbench::ab::run(&plan, std::env::args().collect()) {
        Ok(ipcbench::ab::Gate::Pass) => 0,
        Ok(ipcbench::ab::Gate::Fail) => 1,
        Err(e) => {
            eprintln!("Error: {e:#}");
            1
        }
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
        Some(Command::Run(args)) => run_bench(&args, &PeerSource::Spawn),
        Some(Command::Ab(_)) | Some(Command::Kube { .. }) => unreachable!("dispatched in main"),
        Some(Command::Host(args)) => host(&args),
        Some(Command::Client(a)) => {
            let control = match &a.control {
                // A host name may not resolve yet (a cluster Service before its pod is up):
                // retried, within the connect timeout.
                Some(url) => resolve_retrying(url, Duration::from_secs(a.connect_timeout_s))?,
                None => Endpoint::Unix(a.socket_dir.join(CONTROL_SOCKET)),
            };
            // Across hosts nothing lives in a socket directory: it need not exist.
            let dir = if matches!(control, Endpoint::Tcp(_)) && !a.socket_dir.exists() {
                std::env::temp_dir()
            } else {
                let trust = if a.trust_dirs { DirTrust::AnyMode } else { DirTrust::NotWorldWritable };
                ipcbench::config::check_dir(&a.socket_dir, "socket directory", trust)?
            };
            let host = ipcbench::control::peer::HostAddress {
                control,
                token: token::load(a.token_file.as_deref())?,
            };
            ipcbench::control::peer::run_client(
                &dir,
                &host,
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
        None => run_bench(&RunArgs::default(), &PeerSource::Spawn),
    }
}

fn compare(baseline: &Path, current: &Path, gate: Option<&Thresholds>, strict: bool) -> anyhow::Result<()> {
    let (old, new) = (Summary::read(baseline)?, Summary::read(current)?);
    compare::check_comparable(&old, &new)?;
    let thresholds = gate.cloned().unwrap_or_default();
    let c = compare::compare(&old, &new, &thresholds);
    print!("{}", c.render());
    let differ = old.environment.fingerprint.differences(&new.environment.fingerprint);
    if !differ.is_empty() {
        println!("note: the two results' machines differ: {}", differ.join("; "));
    }
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
    let failures: Vec<String> = c
        .failures(&thresholds)
        .map(|(key, ch)| format!("{key} {} {:+.1}%", ch.metric, ch.worse_by() * 100.0))
        .collect();
    if !failures.is_empty() {
        bail!("performance regression beyond the threshold: {}", failures.join("; "));
    }
    let undecided: Vec<String> =
        c.inconclusive(&thresholds).map(|(key, ch)| format!("{key} {}", ch.metric)).collect();
    if strict && !undecided.is_empty() {
        bail!("--strict: the intervals cannot decide {}", undecided.join("; "));
    }
    Ok(())
}

/// [`Endpoint::from_url`], retried every 200 ms while a name does not resolve, up to `wait`.
fn resolve_retrying(url: &str, wait: Duration) -> anyhow::Result<Endpoint> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match Endpoint::from_url(url, "--control") {
            Ok(ep) => return Ok(ep),
            Err(e) if !url.starts_with("tcp://") || std::time::Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// `ipcbench host`: checks what crosses the control channel, then runs like `run`.
fn host(args: &ipcbench::cli::HostArgs) -> anyhow::Result<()> {
    let cfg = RunConfig::from_args(&args.run)?;
    let control = match &args.control {
        Some(url) => Endpoint::from_url(url, "--control")?,
        None => Endpoint::Unix(cfg.socket_dir.join(CONTROL_SOCKET)),
    };
    let mut token = token::load(args.token_file.as_deref())?;
    if let Endpoint::Tcp(addr) = &control {
        let local: Vec<String> =
            cfg.transports.iter().filter(|t| !t.crosses_hosts()).map(ToString::to_string).collect();
        if !local.is_empty() {
            bail!(
                "--control tcp:// reaches across hosts, where {} cannot go (they need a shared socket directory or memory): use -t tcp,udp",
                local.join(", ")
            );
        }
        if cfg.connect.is_some() {
            bail!("--connect measures your own service from this host; it takes no client (drop --control)");
        }
        if token.is_none() && !addr.ip().is_loopback() {
            let t = token::generate()?;
            eprintln!(
                "ipcbench host: clients must present this token (--token-file FILE or {}): {t}",
                token::TOKEN_ENV
            );
            token = Some(t);
        }
    }
    let wait = Duration::from_secs(args.client_timeout_s);
    run_with(&cfg, &PeerSource::Client(ClientSource { wait, control, token }))
}

fn run_bench(args: &RunArgs, source: &PeerSource) -> anyhow::Result<()> {
    run_with(&RunConfig::from_args(args)?, source)
}

fn run_with(cfg: &RunConfig, source: &PeerSource) -> anyhow::Result<()> {
    let cfg = cfg.clone();
    let summary = ipcbench::control::coordinator::run(&cfg, source, std::env::args().collect())?;
    if !cfg.outputs.quiet && cfg.outputs.summary_to_file() {
        eprintln!("{} runs written to {}", summary.runs.len(), cfg.outputs.out.display());
    }
    Ok(())
}
