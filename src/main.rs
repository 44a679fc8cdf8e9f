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

use ipcbench::exit::{self, usage};

fn main() {
    ipcbench::sys::note_start_cpus();
    let cmd = Cli::command();
    let parsed = cmd.clone().try_get_matches().and_then(|m| Ok((Cli::from_arg_matches(&m)?, m)));
    let (cli, matches) = match parsed {
        Ok(p) => p,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            let mut message = one_line(&e.render().to_string());
            // `ipcbench --quiet`: a run option before any command.
            let first = std::env::args().nth(1).unwrap_or_default();
            if e.kind() == clap::error::ErrorKind::UnknownArgument && first.starts_with('-') {
                message += " (run options go after a command, e.g. `ipcbench run --quiet`; `ipcbench` alone runs the default matrix)";
            }
            usage_error(&message)
        }
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
        let clients = match RunConfig::from_args(&RunArgs { out: Some("-".into()), ..args.run.clone() }) {
            Ok(cfg) => cfg.groups.most(),
            Err(e) => usage_error(&format!("{e:#}")),
        };
        let resources = ipcbench::kube::Resources::guaranteed(args.cpus, args.memory_mib);
        let pod = ipcbench::kube::pod(&args.name, &args.image, &resources, &passthrough, clients);
        print!("{}", ipcbench::kube::to_yaml(&pod));
        return;
    }
    let result = run(cli);
    ipcbench::cleanup::defer_to_interrupt();
    match result {
        Ok(code) => {
            ipcbench::cleanup::at_exit();
            std::process::exit(code)
        }
        Err(e) => {
            ipcbench::cleanup::run_all();
            eprintln!("Error: {e:#}");
            std::process::exit(exit::code_of(&e));
        }
    }
}

/// A bad flag or flag value: one line, exit 2.
fn usage_error(message: &str) -> ! {
    eprintln!("Error: {message}");
    std::process::exit(exit::USAGE);
}

/// `ipcbench ab`: its exit status ([`ipcbench::exit`]).
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
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            exit::FAILED
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

/// Runs the command; its exit status on success ([`exit::OK`], or a gate's verdict).
fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Some(Command::Peer { timeout_s, socket_dir }) => {
            ipcbench::control::peer::run_on_stdio(Duration::from_secs(timeout_s), &socket_dir)?
        }
        Some(Command::Run(args)) => run_bench(&args, &PeerSource::Spawn)?,
        Some(Command::Ab(_)) | Some(Command::Kube { .. }) => unreachable!("dispatched in main"),
        Some(Command::Host(args)) => host(&args)?,
        Some(Command::Client(a)) => {
            let (dir, host) = (|| -> anyhow::Result<_> {
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
                let token = token::load(a.token_file.as_deref())?;
                Ok((dir, ipcbench::control::peer::HostAddress { control, token }))
            })()
            .map_err(usage)?;
            ipcbench::control::peer::run_client(
                &dir,
                &host,
                Duration::from_secs(a.connect_timeout_s),
                Duration::from_secs(a.timeout_s),
                a.serve,
            )?
        }
        Some(Command::Compare { baseline, current, max_regression, strict }) => {
            return compare(&baseline, &current, max_regression.as_ref(), strict)
        }
        Some(Command::Report { results, out, svg, history }) => {
            let n = match &history {
                Some(db) => ipcbench::report::trend::run(db, &out, svg.as_deref())?,
                None => ipcbench::report::run(&results, &out, svg.as_deref())?,
            };
            eprintln!("{n} charts written to {}", out.display());
        }
        Some(Command::Export { result, format, out }) => {
            let summary = Summary::read(&result).map_err(usage)?;
            let text =
                serde_json::to_string_pretty(&ipcbench::export::dashboards::render(&summary, format))? + "\n";
            match out.as_deref() {
                None => print!("{text}"),
                Some(p) if p.as_os_str() == "-" => print!("{text}"),
                Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?,
            }
        }
        Some(Command::History { what }) => return ipcbench::history::command::run(&what),
        Some(Command::Completions { shell }) => {
            clap_complete::generate(shell, &mut Cli::command(), "ipcbench", &mut std::io::stdout());
        }
        Some(Command::Man { command }) => {
            let top = Cli::command();
            let page = match &command {
                None => top,
                Some(name) => {
                    let names: Vec<String> = top
                        .get_subcommands()
                        .filter(|c| !c.is_hide_set())
                        .map(|c| c.get_name().to_string())
                        .collect();
                    let sub =
                        top.find_subcommand(name).filter(|c| !c.is_hide_set()).cloned().ok_or_else(|| {
                            usage(anyhow::anyhow!(
                                "ipcbench man: no command '{name}' (commands: {})",
                                names.join(", ")
                            ))
                        })?;
                    sub.name(format!("ipcbench-{name}"))
                }
            };
            match clap_mangen::Man::new(page).render(&mut std::io::stdout()) {
                // `ipcbench man | head`: a reader that stops early is no failure.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.context("writing the man page")?,
            }
        }
        None => run_bench(&RunArgs::default(), &PeerSource::Spawn)?,
    }
    Ok(exit::OK)
}

/// `ipcbench compare`: the table, then the gate's exit status.
fn compare(baseline: &Path, current: &Path, gate: Option<&Thresholds>, strict: bool) -> anyhow::Result<i32> {
    let (old, new) = (Summary::read(baseline).map_err(usage)?, Summary::read(current).map_err(usage)?);
    compare::check_comparable(&old, &new).map_err(usage)?;
    let thresholds = gate.cloned().unwrap_or_default();
    let c = compare::compare(&old, &new, &thresholds);
    if c.rows.is_empty() {
        return Err(usage(anyhow::anyhow!(
            "{} and {} have no configuration in common: nothing to compare",
            baseline.display(),
            current.display()
        )));
    }
    print!("{}", c.render());
    let differ = old.environment.fingerprint.differences(&new.environment.fingerprint);
    if !differ.is_empty() {
        println!("note: the two results' machines differ: {}", differ.join("; "));
    }
    let mut verdict = compare::Gate::of(&c.rows);
    if strict {
        verdict.undecided.extend(
            c.only_in_baseline
                .iter()
                .chain(&c.only_in_current)
                .map(|k| format!("{k} (--strict: in one file only)")),
        );
    }
    let reps = |s: &Summary| s.runs.iter().map(|r| r.repetition + 1).max().unwrap_or(1);
    let more = format!(
        "more repetitions narrow the intervals (these files hold {} and {}; measure with --repeat 5 or more)",
        reps(&old),
        reps(&new)
    );
    for line in verdict.lines(&more) {
        eprintln!("{line}");
    }
    Ok(verdict.exit_code())
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
    let (cfg, source) = host_plan(args).map_err(usage)?;
    let outcome = run_with(&cfg, &source);
    token::remove_generated();
    outcome
}

/// What `host` will run and where its client comes from: every check of its options.
fn host_plan(args: &ipcbench::cli::HostArgs) -> anyhow::Result<(RunConfig, PeerSource)> {
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
                "--control tcp:// reaches across hosts, where {} cannot go (they need a shared socket directory or memory): use -t tcp,tcp-uring,udp",
                local.join(", ")
            );
        }
        if cfg.connect.is_some() {
            bail!("--connect measures your own service from this host; it takes no client (drop --control)");
        }
        if token.is_none() && !addr.ip().is_loopback() {
            // Written to a file only this user can read, never printed: a log is no place
            // for a secret.
            let t = token::generate()?;
            let path = cfg.socket_dir.join(token::GENERATED_FILE);
            token::write_private(&path, &t)?;
            eprintln!(
                "ipcbench host: no token given; clients must present the one in {} (copy it to the client and pass --token-file, or set {})",
                path.display(),
                token::TOKEN_ENV
            );
            token = Some(t);
        }
    }
    let wait = Duration::from_secs(args.client_timeout_s);
    Ok((cfg, PeerSource::Client(ClientSource { wait, control, token })))
}

fn run_bench(args: &RunArgs, source: &PeerSource) -> anyhow::Result<()> {
    run_with(&RunConfig::from_args(args).map_err(usage)?, source)
}

fn run_with(cfg: &RunConfig, source: &PeerSource) -> anyhow::Result<()> {
    let cfg = cfg.clone();
    if !cfg.outputs.quiet {
        for k in &cfg.skipped {
            eprintln!("{}", k.note());
        }
    }
    let summary = ipcbench::control::coordinator::run(&cfg, source, std::env::args().collect())?;
    if !cfg.outputs.quiet && cfg.outputs.summary_to_file() {
        let n = summary.runs.len();
        eprintln!("{n} run{} written to {}", if n == 1 { "" } else { "s" }, cfg.outputs.out.display());
    }
    Ok(())
}
