//! The initiator of `ipcbench run` and `ipcbench host`: gets a peer, checks that both read one
//! clock, walks the matrix of (transport, framing, pattern, size, repetition), takes the
//! initiator's side of each run on every concurrent pair, has the analysis layer merge both
//! sides into a result, and hands it to the exporters.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};

use super::clock_sync::{check_clock, send_clock, share_clock};
use super::fanout::{initiate, on_every_pair};
use super::floors::{measure_pair, ring_floor};
use super::matrix::{needs_one_clock, tests, Climbs, Test};
use super::peer_process::Peer;
use super::progress::ProgressDisplay;
use super::{sample_stream, Channel, ControlError, Message};
use crate::analysis::merge::{merge, RunDetail, RunSetup};
use crate::analysis::summary::{Placement, RunFloor, RunResult, Summary, Topology, SCHEMA_VERSION};
use crate::cleanup;
use crate::config::RunConfig;
use crate::export::ExportManager;
use crate::measure::clock::{self, ClockInfo};
use crate::measure::env::Environment;
use crate::measure::sample_pool::SamplePool;
use crate::pattern::{Pattern, Progress, Side};
use crate::transport::{ChannelOptions, DataListener, Endpoint, TransportKind, WaitStrategy};

pub use super::peer_process::ClientSource;

/// How the initiator gets its peer.
#[derive(Clone, Debug)]
pub enum PeerSource {
    /// Start `ipcbench peer` as a child process (`ipcbench run`).
    Spawn,
    /// Wait for an `ipcbench client` on the control endpoint (`ipcbench host`).
    Client(ClientSource),
}

/// Runs the whole matrix of `cfg`. The summary is on disk after every finished run, and once
/// more at the end, with `error` set if the invocation failed.
pub fn run(cfg: &RunConfig, source: &PeerSource, command: Vec<String>) -> Result<Summary> {
    let mut exporters = ExportManager::new(&cfg.outputs)?;
    // Before the environment measures the clock's cost, and before anything is timed.
    clock::start(cfg.clock)?;
    let mut summary = Summary {
        schema_version: SCHEMA_VERSION,
        tool: "ipcbench".into(),
        started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        command,
        environment: Environment { clock: Some(ClockInfo::current()), ..Environment::detect() },
        peer_environment: None,
        topology: None,
        clock_check: None,
        runs: Vec::new(),
        error: None,
        interrupted: None,
        load_curves: Vec::new(),
        cpu_pairs: Vec::new(),
    };
    exporters.started(&summary)?;
    if !cfg.outputs.quiet {
        for w in summary.environment.fingerprint.warnings() {
            eprintln!("note: {w}");
        }
        if let Some(w) = oversubscribed_spin(cfg, summary.environment.allowed_cpus.len()) {
            eprintln!("note: {w}");
        }
        if exporters.streaming() && cfg.outputs.writer.cpu().is_none() && cfg.pins.iter().any(Option::is_some)
        {
            eprintln!(
                "note: no allowed CPU is free of the measured pinning: the stream writer shares the measured CPUs (--writer-cpu to choose one)"
            );
        }
    }
    cleanup::install_signal_handler(match source {
        PeerSource::Spawn => "ipcbench run",
        PeerSource::Client(_) => "ipcbench host",
    });
    crate::transport::listener::remove_stale_files(&cfg.socket_dir);
    crate::transport::listener::remove_stale_files(&cfg.channels.shm_dir);
    let outcome = match &cfg.connect {
        Some((ep, field)) => super::external::run(cfg, ep, field, &mut summary, &mut exporters),
        None => run_matrix(cfg, source, &mut summary, &mut exporters),
    };
    // iceoryx2 keeps a directory and a management segment for the whole invocation.
    cleanup::remove_all_iox2();
    if let Err(e) = &outcome {
        summary.error = Some(format!("{e:#}"));
    }
    if let Some(warning) = summary.environment.clock.as_mut().and_then(ClockInfo::check_drift) {
        eprintln!("warning: {warning}");
    }
    match (outcome, exporters.finished(&summary)) {
        (Ok(()), written) => written.map(|()| summary),
        (Err(e), Ok(())) => Err(e),
        // Both on the one error line: the run's failure, then what its outputs lost.
        (Err(e), Err(lost)) => Err(anyhow!("{e:#}; {lost:#}")),
    }
}

/// A warning when spinning waits would put more busy threads on this machine than it has CPUs
/// (both sides of every pair spin): a spinner then waits for the scheduler, and its latencies
/// measure that, not the transport.
fn oversubscribed_spin(cfg: &RunConfig, cpus: usize) -> Option<String> {
    let spinners = 2 * cfg.concurrency as usize;
    let fan = if cfg.groups.pins.is_some() || cfg.groups.most() > 1 { cfg.groups.most() + 1 } else { 0 };
    let (spinners, who) = if fan > spinners {
        (fan, format!("{} processes (fan-out, fan-in or many-clients)", fan))
    } else {
        (spinners, format!("{} pair(s)", cfg.concurrency))
    };
    (cfg.waits.contains(&WaitStrategy::Spin) && cfg.connect.is_none() && spinners > cpus).then(|| {
        format!(
            "--wait spin with {who} runs {spinners} spinning threads on {cpus} allowed CPU(s): they take turns through the scheduler, and spin latencies will measure that (use --wait block)"
        )
    })
}

fn run_matrix(
    cfg: &RunConfig,
    source: &PeerSource,
    summary: &mut Summary,
    exporters: &mut ExportManager,
) -> Result<()> {
    if let (Some((cpu, _)), false) = (cfg.pins[0], cfg.pair_sweep) {
        crate::sys::pin_current_thread(cpu).with_context(|| format!("pinning the initiator to CPU {cpu}"))?;
    }
    // Fan-out, fan-in and many-clients need one peer process per subscriber, publisher or
    // client: the host waits for that many clients (a container each); run starts them below.
    let most = cfg.groups.most();
    let mut clients = Vec::new();
    let (mut peer, hello) = match source {
        PeerSource::Spawn => {
            let mut peer = Peer::spawn(cfg)?;
            let hello =
                peer.channel.initiate_session(cfg.timeout, None).map_err(|e| peer.explain(e.into()))?;
            (peer, hello)
        }
        PeerSource::Client(c) => {
            clients = Peer::accept_clients(cfg, c, most)?;
            let first = clients.remove(0);
            (first.0, first.1)
        }
    };
    // Across a container boundary, a failure names the client: its container's name when it
    // knows it, else its host name and whether it said it runs in a container.
    let mut client_name = None;
    match hello {
        Message::Hello { environment, .. } => {
            if let PeerSource::Client(_) = source {
                let boxed = if environment.in_container { " (in a container)" } else { "" };
                client_name = Some(match &environment.container_name {
                    Some(name) => format!("the client in container {name}"),
                    None => format!("the client on {}{boxed}", environment.hostname),
                });
            }
            let remote_tcp = matches!(source, PeerSource::Client(c) if matches!(c.control, Endpoint::Tcp(a) if !a.ip().is_loopback()));
            let spawned = matches!(source, PeerSource::Spawn);
            summary.topology = Some(Topology::of(spawned, remote_tcp, &summary.environment, &environment));
            summary.peer_environment = Some(*environment);
        }
        _ => unreachable!("handshake returns a hello"),
    }
    share_clock(&mut peer.channel, cfg, summary)?;
    let clock = check_clock(&mut peer.channel)?;
    let one_way_refused = !clock.same_clock && cfg.patterns.iter().any(|&p| needs_one_clock(p));
    if one_way_refused {
        eprintln!(
            "note: the peer's {} is not this one (a reading {} ns outside its bracket): \
             one-way and fan-out latency cannot be measured across it and are skipped; round-trip still runs",
            clock::in_use().name(),
            clock.worst_outside_ns
        );
    }
    summary.clock_check = Some(clock);
    peer.channel.send(&Message::Plan {
        pin_cpu: if cfg.pair_sweep { None } else { cfg.pins[0].map(|(_, b)| b) },
        timeout_ms: cfg.timeout.as_millis() as u64,
        writer_cpu: cfg.outputs.writer.cpu(),
    })?;
    let mut channels = cfg.channels.clone();
    if let Some(ip) = peer.data_ip {
        channels.data_ip = ip;
    }
    // The peers beyond the first: started here, or the other clients that connected.
    let mut more = Vec::with_capacity(most.saturating_sub(1));
    let mut clients = clients.into_iter();
    if most > 1 {
        for i in 1..most {
            let mut sub = match clients.next() {
                Some((client, _hello)) => client,
                None => {
                    let mut sub = Peer::spawn(cfg).with_context(|| format!("starting peer process {i}"))?;
                    sub.channel
                        .initiate_session(cfg.timeout, None)
                        .map_err(|e| sub.explain(e.into()))
                        .with_context(|| format!("peer process {i}"))?;
                    sub
                }
            };
            if let Some(why) = send_clock(&mut sub.channel).with_context(|| format!("peer process {i}"))? {
                bail!("peer process {i}: {why} (use --clock monotonic)");
            }
            let clock = check_clock(&mut sub.channel).with_context(|| format!("peer process {i}"))?;
            if !clock.same_clock {
                bail!("peer process {i} does not share this {}", clock::in_use().name());
            }
            sub.channel.send(&Message::Plan {
                pin_cpu: cfg.groups.pins.as_ref().map(|p| p[i + 1]),
                timeout_ms: cfg.timeout.as_millis() as u64,
                writer_cpu: None, // fan-out subscribers and fan-in publishers keep no samples
            })?;
            more.push(sub);
        }
    }
    if cfg.pair_sweep {
        summary.cpu_pairs = cfg
            .pins
            .iter()
            .flatten()
            .map(|&(a, b)| measure_pair(a, b, cfg.timeout))
            .collect::<Result<_>>()?;
    }
    let mut climbs = Climbs::default();
    for test in tests(cfg, one_way_refused) {
        if climbs.skips(&test) {
            continue;
        }
        if let (Some((cpu, _)), true) = (test.pin, cfg.pair_sweep) {
            crate::sys::pin_current_thread(cpu)
                .with_context(|| format!("pinning the initiator to CPU {cpu}"))?;
        }
        // The floor first, while no stream writer is about.
        let floor_ns = match test.subscribers {
            None => ring_floor(&test, cfg)
                .with_context(|| format!("{} (repetition {})", test.label, test.repetition))?,
            Some(_) => None,
        };
        let (outcome, streamed) =
            exporters.during_run(&test.stream_label(), |samples| match test.subscribers {
                Some(n) => {
                    let group = super::fan_run::FanTest {
                        id: test.id,
                        transport: test.transport,
                        channel: &test.channel,
                        params: &test.params,
                        repetition: test.repetition,
                        label: &test.label,
                        pin: test.pin,
                        subscribers: n as usize,
                    };
                    if test.params.pattern == Pattern::FanOut {
                        super::fan_run::run_one(&mut peer, &mut more, cfg, &channels, group, samples)
                    } else {
                        super::many_run::run_one(&mut peer, &mut more, cfg, &channels, group)
                    }
                }
                None => {
                    let (mut run, detail) =
                        run_one(&mut peer, cfg, &channels, &test, samples).map_err(|e| peer.explain(e))?;
                    run.floor = floor_ns.map(|ns| RunFloor::of(&run, ns));
                    Ok((run, detail))
                }
            });
        let (run, detail) = outcome
            .and_then(|r| streamed.map(|()| r))
            .with_context(|| format!("{} (repetition {})", test.label, test.repetition))
            .map_err(|e| match &client_name {
                Some(name) => e.context(name.clone()),
                None => e,
            })?;
        if let Some(n) = run.samples_dropped.filter(|&n| n > 0) {
            eprintln!(
                "warning: {} (repetition {}): {n} messages left out of the streams: the stream writer fell behind (samples_dropped)",
                test.label, test.repetition
            );
        }
        let failed = run
            .fan_out
            .as_ref()
            .and_then(|f| f.failed.clone())
            .or_else(|| run.many.as_ref().and_then(|m| m.failed.clone()));
        summary.runs.push(run);
        summary.load_curves = crate::analysis::load::curves(&summary.runs, cfg.p99_target_ns);
        climbs.step(&test, cfg.repeat, summary);
        exporters.run_finished(summary, &detail)?;
        if let Some(why) = failed {
            // The others' figures are written above; the run still failed.
            bail!("{} (repetition {}): {why}", test.label, test.repetition);
        }
    }
    peer.channel.send(&Message::Bye)?;
    peer.finish()?;
    for (i, mut sub) in more.into_iter().enumerate() {
        sub.channel.send(&Message::Bye).with_context(|| format!("subscriber {}", i + 1))?;
        sub.finish().with_context(|| format!("subscriber {}", i + 1))?;
    }
    crate::cleanup::outlive_peers();
    if one_way_refused {
        // Everything that could run did; the refusal is still an error for the caller.
        bail!(
            "one-way (and fan-out) runs were refused: the peer does not share this {}",
            clock::in_use().name()
        );
    }
    Ok(())
}

/// One run: data channels up, barrier, timed loops (one thread per pair), both sides'
/// results merged.
fn run_one(
    peer: &mut Peer,
    cfg: &RunConfig,
    channels: &ChannelOptions,
    test: &Test,
    samples: Option<&SamplePool>,
) -> Result<(RunResult, RunDetail)> {
    let listeners = (0..cfg.concurrency)
        .map(|pair| DataListener::open(test.transport, channels, test.id, pair, &test.channel))
        .collect::<Result<Vec<_>>>()?;
    let shm_slots = listeners[0].shm_slots();
    let pipe_buffer_bytes = listeners[0].pipe_buffer_bytes();
    let endpoints = listeners
        .iter()
        .map(|l| Ok(l.endpoint()?.relative_to(&cfg.socket_dir)))
        .collect::<Result<Vec<_>>>()?;
    let ch = &mut peer.channel;
    ch.send(&Message::Prepare {
        test_id: test.id,
        transport: test.transport,
        endpoints,
        channel: test.channel.clone(),
        params: test.params.clone(),
        pin_cpu: if cfg.pair_sweep { test.pin.map(|(_, b)| b) } else { None },
    })?;
    // Each pair's peer end connects, or the peer says why it cannot.
    let mut conns = Vec::with_capacity(listeners.len());
    for (pair, listener) in listeners.into_iter().enumerate() {
        match crate::sys::wait_readable_any([listener.fd(), ch.rx_fd()], cfg.timeout)? {
            Some(0) => {}
            Some(_) => bail!(expect_ready(ch, test.id)
                .err()
                .unwrap_or_else(|| anyhow!("the peer answered before connecting"))),
            None => bail!("the peer did not connect to {} within {:?}", listener.endpoint()?, cfg.timeout),
        }
        // Accepting removes the socket file: nothing is left in the socket directory.
        conns.push(listener.accept(&test.channel, cfg.timeout, &ch.data_key(test.id, pair as u32))?);
    }
    expect_ready(ch, test.id)?;

    let progress = Arc::new(Progress::default());
    let display = ProgressDisplay::start(cfg.outputs.quiet, &test.params, &test.label, progress.clone());
    let quiet = Progress::default();
    let kept_by = test.params.pattern.samples_kept_by();
    let mine_kept = samples.filter(|_| kept_by == Some(Side::Initiator));
    // Pair 0 (on this pinned thread) drives the progress bar.
    let mut pairs = || {
        on_every_pair(&mut conns, |pair, c| {
            initiate(c, &test.params, if pair == 0 { &progress } else { &quiet }, mine_kept)
        })
    };
    // The peer's samples arrive during the run when it keeps them.
    let (mine, ended) = match samples.filter(|_| kept_by == Some(Side::Peer)) {
        Some(pool) => {
            let (mine, ended) = sample_stream::receive(&mut peer.channel, pool, pairs);
            (mine, Some(ended))
        }
        None => (pairs(), None),
    };
    let cpu = crate::sys::current_cpu();
    display.finish();
    let mine = match (mine, ended.as_ref()) {
        (Ok(mine), _) => mine,
        (Err(e), Some(Err(ControlError::Remote { message, .. }))) => {
            bail!("{e}: the peer reported: {message}")
        }
        (Err(e), Some(_)) => return Err(e.into()),
        (Err(e), None) => return Err(peer.transport_failure(e)),
    };
    // The data side stays open until the peer has said it is done: a stream's last messages
    // may still be on their way (in a library's queues: zenoh, ZeroMQ) when the sender has
    // sent its stop, and closing would discard them or tell the receiver its peer is gone.
    let done = match ended {
        Some(done) => done,
        None => peer.channel.recv("done"),
    };
    drop(conns); // the shm creator removes its mapping files here
    let done = done?;
    let peer_side = sample_stream::collect(&mut peer.channel, test.id, done)?;
    let placement = Placement {
        initiator_cpu: test.pin.map(|p| p.0),
        peer_cpu: test.pin.map(|p| p.1),
        initiator_cpu_observed: cpu,
        peer_cpu_observed: peer_side.report.cpu_observed,
    };
    let setup = RunSetup {
        transport: test.transport,
        channel: &test.channel,
        params: &test.params,
        repetition: test.repetition,
        placement,
        concurrency: cfg.concurrency,
    };
    let (mut run, detail) = merge(setup, mine, peer_side);
    run.shm_slots = shm_slots;
    run.shm_filesystem = shm_slots.map(|_| match test.transport {
        TransportKind::Memfd => "memfd".to_string(),
        _ => crate::sys::filesystem_name(&cfg.channels.shm_dir),
    });
    run.extra_copy = shm_slots.is_some() && cfg.channels.copy;
    run.pipe_buffer_bytes = pipe_buffer_bytes;
    run.ring_notify =
        (shm_slots.is_some() && test.channel.wait != WaitStrategy::Spin).then_some(cfg.channels.notify);
    Ok((run, detail))
}

pub(super) fn expect_ready(ch: &mut Channel, test_id: u32) -> Result<()> {
    match ch.recv("ready")? {
        Message::Ready { test_id: id } if id == test_id => Ok(()),
        Message::Ready { test_id: id } => {
            bail!("the peer is ready for test {id}, expected test {test_id}")
        }
        other => bail!(ControlError::Unexpected { who: "peer", expected: "ready", got: other.kind().into() }),
    }
}
