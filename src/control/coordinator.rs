//! The initiator of `ipcbench run` and `ipcbench host`: gets a peer (a child process on a pipe
//! pair, or a client that connects to the control socket), checks that both read one clock,
//! walks the matrix of (transport, pattern, size, repetition), takes the initiator's side of
//! each run on every concurrent pair, merges both sides' measurements into a [`RunResult`] and
//! hands it to the exporters.

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::{Channel, ClockCheck, ControlError, Message, PeerReport};
use crate::cleanup;
use crate::config::RunConfig;
use crate::export::ExportManager;
use crate::measure::clock::now_ns;
use crate::measure::env::Environment;
use crate::measure::histogram::LatencyHistogram;
use crate::measure::summary::{Integrity, Placement, RunResult, Summary, Throughput, SCHEMA_VERSION};
use crate::pattern::{throughput, Params, Pattern, Progress, Sample, SideResult, Stop};
use crate::transport::framing::Framing;
use crate::transport::{Connection, DataListener, Endpoint, Listener, TransportError, TransportKind};

/// How the initiator gets its peer.
#[derive(Clone, Copy, Debug)]
pub enum PeerSource {
    /// Start `ipcbench peer` as a child process (`ipcbench run`).
    Spawn,
    /// Wait this long for an `ipcbench client` on `<socket-dir>/ipcbench.ctl` (`ipcbench host`).
    Client(Duration),
}

/// The name of the control socket in the socket directory.
pub const CONTROL_SOCKET: &str = "ipcbench.ctl";

/// Runs the whole matrix of `cfg`. The summary is on disk after every finished run, and once
/// more at the end, with `error` set if the invocation failed.
pub fn run(cfg: &RunConfig, source: PeerSource, command: Vec<String>) -> Result<Summary> {
    let mut exporters = ExportManager::from_config(cfg)?;
    let mut summary = Summary {
        schema_version: SCHEMA_VERSION,
        tool: "ipcbench".into(),
        started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        command,
        environment: Environment::detect(),
        peer_environment: None,
        clock_check: None,
        runs: Vec::new(),
        error: None,
    };
    if cfg.out.as_os_str() != "-" {
        summary.write(&cfg.out)?; // an unwritable --out fails here, before anything is measured
    }
    cleanup::install_signal_handler(match source {
        PeerSource::Spawn => "ipcbench run",
        PeerSource::Client(_) => "ipcbench host",
    });
    crate::transport::socket::remove_stale_files(&cfg.socket_dir);
    crate::transport::socket::remove_stale_files(&cfg.channels.shm_dir);
    let outcome = match &cfg.connect {
        Some((ep, field)) => run_external(cfg, ep, field, &mut summary, &mut exporters),
        None => run_matrix(cfg, source, &mut summary, &mut exporters),
    };
    if let Err(e) = &outcome {
        summary.error = Some(format!("{e:#}"));
    }
    let written = exporters.finished(&summary);
    outcome.and(written).map(|_| summary)
}

fn run_matrix(
    cfg: &RunConfig,
    source: PeerSource,
    summary: &mut Summary,
    exporters: &mut ExportManager,
) -> Result<()> {
    if let Some((cpu, _)) = cfg.pin {
        crate::sys::pin_current_thread(cpu).with_context(|| format!("pinning the initiator to CPU {cpu}"))?;
    }
    let mut peer = match source {
        PeerSource::Spawn => Peer::spawn(cfg)?,
        PeerSource::Client(wait) => Peer::accept_client(cfg, wait)?,
    };
    match peer.channel.handshake().map_err(|e| peer.explain(e.into()))? {
        Message::Hello { environment, .. } => summary.peer_environment = Some(environment),
        _ => unreachable!("handshake returns a hello"),
    }
    let clock = check_clock(&mut peer.channel)?;
    let one_way_refused = !clock.same_clock && cfg.patterns.contains(&Pattern::OneWay);
    if one_way_refused {
        eprintln!(
            "note: the peer's CLOCK_MONOTONIC is not this one (a reading {} ns outside its bracket): \
             one-way latency cannot be measured across it and is skipped; round-trip still runs",
            clock.worst_outside_ns
        );
    }
    summary.clock_check = Some(clock);
    peer.channel.send(&Message::Plan {
        pin_cpu: cfg.pin.map(|(_, b)| b),
        wait: cfg.wait,
        timeout_ms: cfg.timeout.as_millis() as u64,
    })?;
    let mut test_id = 0u32;
    for &transport in &cfg.transports {
        for &framing in &cfg.framings {
            for &pattern in cfg.patterns.iter().filter(|&&p| !(one_way_refused && p == Pattern::OneWay)) {
                for &size_bytes in &cfg.sizes {
                    for repetition in 0..cfg.repeat {
                        let params = Params {
                            pattern,
                            size_bytes,
                            stop: cfg.stop,
                            warmup: cfg.warmup,
                            rate_per_s: cfg.rate_per_s,
                            verify: cfg.verify,
                            keep_samples: cfg.stream_json.is_some() || cfg.stream_csv.is_some(),
                            framing,
                            loss_timeout_ms: cfg.loss_timeout_ms,
                        };
                        let framed =
                            if framing == Framing::Raw { String::new() } else { format!(" {framing}") };
                        let label =
                            format!("{pattern} over {transport} with {size_bytes} B{framed} messages");
                        let (run, samples) =
                            run_one(&mut peer, cfg, test_id, transport, &params, repetition, &label)
                                .map_err(|e| peer.explain(e))
                                .with_context(|| format!("{label} (repetition {repetition})"))?;
                        summary.runs.push(run);
                        exporters.run_finished(summary, &samples)?;
                        test_id += 1;
                    }
                }
            }
        }
    }
    if one_way_refused {
        // Everything that could run did; the refusal is still an error for the caller.
        peer.channel.send(&Message::Bye)?;
        peer.finish()?;
        bail!("one-way runs were refused: the peer does not share this CLOCK_MONOTONIC");
    }
    peer.channel.send(&Message::Bye)?;
    peer.finish()
}

/// `--connect`: round trips against the user's own service, one connection per run.
fn run_external(
    cfg: &RunConfig,
    ep: &Endpoint,
    reply_field: &str,
    summary: &mut Summary,
    exporters: &mut ExportManager,
) -> Result<()> {
    if let Some((cpu, _)) = cfg.pin {
        crate::sys::pin_current_thread(cpu).with_context(|| format!("pinning the initiator to CPU {cpu}"))?;
    }
    let transport = cfg.transports[0];
    for &framing in &cfg.framings {
        for &size_bytes in &cfg.sizes {
            for repetition in 0..cfg.repeat {
                let params = Params {
                    pattern: Pattern::RoundTrip,
                    size_bytes,
                    stop: cfg.stop,
                    warmup: cfg.warmup,
                    rate_per_s: cfg.rate_per_s,
                    verify: false,
                    keep_samples: cfg.stream_json.is_some() || cfg.stream_csv.is_some(),
                    framing,
                    loss_timeout_ms: cfg.loss_timeout_ms,
                };
                let label = format!("round-trip with {size_bytes} B {framing} messages against {ep}");
                // A service that is not there now is not coming: half a second of retries only.
                let fd = crate::transport::socket::connect(ep, Duration::from_millis(500))
                    .with_context(|| format!("the service at {ep} is not reachable"))?;
                let mut t = crate::transport::SocketTransport::new(fd, size_bytes, cfg.wait, cfg.timeout)?
                    .framed(framing, true, reply_field);
                let progress = Arc::new(Progress::default());
                let display = ProgressDisplay::start(cfg, &params, &label, progress.clone());
                let mine = crate::pattern::initiate(&mut t, &params, &progress);
                display.finish();
                let mine = mine.with_context(|| format!("{label} (repetition {repetition})"))?;
                let placement = Placement {
                    initiator_cpu: cfg.pin.map(|p| p.0),
                    peer_cpu: None,
                    initiator_cpu_observed: crate::sys::current_cpu(),
                    peer_cpu_observed: 0,
                };
                let (mut run, samples) = merge(
                    transport,
                    &params,
                    repetition,
                    cfg,
                    placement,
                    mine,
                    PeerReport::default(),
                    None,
                    Vec::new(),
                );
                run.external_service = Some(ep.to_string());
                summary.runs.push(run);
                exporters.run_finished(summary, &samples)?;
            }
        }
    }
    Ok(())
}

/// Asks the peer for its clock 16 times, each bracketed by two readings of ours.
fn check_clock(ch: &mut Channel) -> Result<ClockCheck> {
    let mut probes = Vec::with_capacity(16);
    for _ in 0..16 {
        let before = now_ns();
        ch.send(&Message::ClockProbe)?;
        let peer_ns = match ch.recv("clock-reply")? {
            Message::ClockReply { peer_ns } => peer_ns,
            other => bail!(ControlError::Unexpected {
                who: "peer",
                expected: "clock-reply",
                got: other.kind().into()
            }),
        };
        probes.push((before, peer_ns, now_ns()));
    }
    Ok(ClockCheck::from_probes(&probes))
}

/// One run: data channels up, barrier, timed loops (one thread per pair), both sides'
/// results merged.
fn run_one(
    peer: &mut Peer,
    cfg: &RunConfig,
    test_id: u32,
    transport: TransportKind,
    params: &Params,
    repetition: u32,
    label: &str,
) -> Result<(RunResult, Vec<Sample>)> {
    let listeners = (0..cfg.concurrency)
        .map(|pair| {
            DataListener::open(transport, &cfg.channels, test_id, pair, params.size_bytes, params.pattern)
        })
        .collect::<Result<Vec<_>>>()?;
    let shm_slots = listeners[0].shm_slots();
    let endpoints = listeners
        .iter()
        .map(|l| Ok(l.endpoint()?.relative_to(&cfg.socket_dir)))
        .collect::<Result<Vec<_>>>()?;
    let ch = &mut peer.channel;
    ch.send(&Message::Prepare { test_id, transport, endpoints, params: params.clone() })?;
    // Each pair's peer end connects, or the peer says why it cannot.
    let mut conns = Vec::with_capacity(listeners.len());
    for listener in listeners {
        match crate::sys::wait_readable_any([listener.fd(), ch.rx_fd()], cfg.timeout)? {
            Some(0) => {}
            Some(_) => bail!(expect_ready(ch, test_id)
                .err()
                .unwrap_or_else(|| anyhow!("the peer answered before connecting"))),
            None => bail!("the peer did not connect to {} within {:?}", listener.endpoint()?, cfg.timeout),
        }
        // Accepting removes the socket file: nothing is left in the socket directory.
        conns.push(listener.accept(params, cfg.wait, cfg.timeout)?);
    }
    expect_ready(ch, test_id)?;

    let progress = Arc::new(Progress::default());
    let display = ProgressDisplay::start(cfg, params, label, progress.clone());
    let quiet = Progress::default();
    // Pair 0 runs on this (pinned) thread; the others on threads that inherit its affinity.
    let (first, rest) = conns.split_first_mut().expect("at least one pair");
    let (mine, cpu) = std::thread::scope(|s| {
        let others: Vec<_> = rest.iter_mut().map(|c| s.spawn(|| initiate(c, params, &quiet))).collect();
        let mine = initiate(first, params, &progress);
        let cpu = crate::sys::current_cpu();
        let mine = others.into_iter().fold(mine, |acc, h| {
            let other = h.join().expect("an initiator thread panicked");
            match (acc, other) {
                (Ok(mut a), Ok(b)) => {
                    a.absorb(b);
                    Ok(a)
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
        });
        (mine, cpu)
    });
    display.finish();
    let mine = mine.map_err(|e| peer.transport_failure(e))?;
    drop(conns); // the shm creator removes its mapping files here

    let ch = &mut peer.channel;
    let report = match ch.recv("done")? {
        Message::Done { test_id: id, report } if id == test_id => report,
        other => bail!(ControlError::Unexpected { who: "peer", expected: "done", got: other.kind().into() }),
    };
    let hist_bytes = ch.recv_block("histogram")?;
    let peer_samples = Sample::decode_all(&ch.recv_block("samples")?)?;
    let peer_hist =
        if hist_bytes.is_empty() { None } else { Some(LatencyHistogram::from_bytes(&hist_bytes)?) };

    let placement = Placement {
        initiator_cpu: cfg.pin.map(|p| p.0),
        peer_cpu: cfg.pin.map(|p| p.1),
        initiator_cpu_observed: cpu,
        peer_cpu_observed: report.cpu_observed,
    };
    let (mut run, samples) =
        merge(transport, params, repetition, cfg, placement, mine, report, peer_hist, peer_samples);
    run.shm_slots = shm_slots;
    run.shm_filesystem = shm_slots.map(|_| crate::sys::filesystem_name(&cfg.channels.shm_dir));
    run.extra_copy = shm_slots.is_some() && cfg.channels.copy;
    run.concurrency = cfg.concurrency;
    Ok((run, samples))
}

fn initiate(
    conn: &mut Connection,
    params: &Params,
    progress: &Progress,
) -> Result<SideResult, TransportError> {
    match conn {
        Connection::Socket(t) => crate::pattern::initiate(t, params, progress),
        Connection::Shm(t) => crate::pattern::initiate(t, params, progress),
        Connection::Dgram(t) => crate::pattern::initiate(t, params, progress),
    }
}

fn expect_ready(ch: &mut Channel, test_id: u32) -> Result<()> {
    match ch.recv("ready")? {
        Message::Ready { test_id: id } if id == test_id => Ok(()),
        Message::Ready { test_id: id } => {
            bail!("the peer is ready for test {id}, expected test {test_id}")
        }
        other => bail!(ControlError::Unexpected { who: "peer", expected: "ready", got: other.kind().into() }),
    }
}

/// Both sides' measurements of one run as one result.
#[allow(clippy::too_many_arguments)]
fn merge(
    transport: TransportKind,
    p: &Params,
    repetition: u32,
    cfg: &RunConfig,
    placement: Placement,
    mine: SideResult,
    peer: PeerReport,
    peer_hist: Option<LatencyHistogram>,
    peer_samples: Vec<Sample>,
) -> (RunResult, Vec<Sample>) {
    let (source, hist, samples, received, duration_ns) = match p.pattern {
        Pattern::RoundTrip => (
            "initiator",
            Some(mine.histogram),
            mine.samples,
            mine.received,
            mine.end_ns.saturating_sub(mine.start_ns),
        ),
        Pattern::OneWay | Pattern::Throughput => (
            if p.pattern == Pattern::OneWay { "peer" } else { "none" },
            if p.pattern == Pattern::OneWay { peer_hist } else { None },
            peer_samples,
            peer.received,
            peer.last_recv_ns.saturating_sub(peer.first_recv_ns),
        ),
    };
    let messages_per_s = match p.pattern {
        Pattern::RoundTrip if duration_ns > 0 => received as f64 * 1e9 / duration_ns as f64,
        Pattern::RoundTrip => 0.0,
        _ => throughput::messages_per_s(received, peer.first_recv_ns, peer.last_recv_ns),
    };
    let hist = hist.filter(|h| !h.is_empty());
    let run = RunResult {
        transport,
        pattern: p.pattern,
        size_bytes: p.size_bytes,
        repetition,
        warmup: p.warmup,
        wait: cfg.wait,
        placement,
        rate_per_s: p.rate_per_s,
        verify: p.verify,
        shm_slots: None,
        shm_filesystem: None,
        extra_copy: false,
        concurrency: 1,
        duration_ns,
        latency_source: if hist.is_some() { source } else { "none" }.into(),
        latency_ns: hist.as_ref().map(|h| h.stats()),
        histogram_v2: hist.as_ref().map(|h| h.to_base64()),
        throughput: Throughput { messages_per_s, bytes_per_s: messages_per_s * p.size_bytes as f64 },
        integrity: Integrity {
            sent: mine.sent,
            received,
            lost: mine.sent.saturating_sub(received),
            out_of_order: peer.out_of_order + mine.out_of_order,
            corrupt: peer.corrupt + mine.corrupt,
        },
        framing: p.framing,
        external_service: None,
    };
    (run, samples)
}

/// The peer: its control channel, and the child process when we started it.
struct Peer {
    channel: Channel,
    child: Option<Child>,
}

impl Peer {
    /// Starts `ipcbench peer` with the control channel on its stdin/stdout.
    fn spawn(cfg: &RunConfig) -> Result<Peer> {
        let exe = std::env::current_exe().context("locating the ipcbench binary to start the peer")?;
        let mut child = Command::new(&exe)
            .args(["peer", "--timeout-s", &cfg.timeout.as_secs().to_string(), "--socket-dir"])
            .arg(&cfg.socket_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group: Ctrl-C reaches only us, and we stop the peer ourselves.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting the peer process {}", exe.display()))?;
        cleanup::register_child(child.id());
        let rx: OwnedFd = child.stdout.take().expect("piped").into();
        let tx: OwnedFd = child.stdin.take().expect("piped").into();
        Ok(Peer { channel: Channel::new(rx, tx, "peer", cfg.timeout), child: Some(child) })
    }

    /// Listens on `<socket-dir>/ipcbench.ctl` and waits up to `wait` for a client.
    fn accept_client(cfg: &RunConfig, wait: Duration) -> Result<Peer> {
        let path = cfg.socket_dir.join(CONTROL_SOCKET);
        let listener = Listener::bind_unix(&path, cfg.channels.file_mode)?;
        eprintln!("waiting up to {wait:?} for an ipcbench client on {}", path.display());
        let fd = listener
            .accept(wait)
            .map_err(|_| anyhow!("no ipcbench client connected to {} within {wait:?}", path.display()))?;
        drop(listener); // removes the control socket file
        let tx = fd.try_clone().context("duplicating the control socket")?;
        Ok(Peer { channel: Channel::new(fd, tx, "client", cfg.timeout), child: None })
    }

    /// After a data-channel failure: the peer's own explanation if it sent one, else the
    /// transport error itself.
    fn transport_failure(&mut self, e: TransportError) -> anyhow::Error {
        if let Err(ControlError::Remote { message, .. }) =
            self.channel.recv_within("error", Duration::from_millis(300))
        {
            return anyhow!("{e}: the peer reported: {message}");
        }
        anyhow::Error::from(e)
    }

    /// Adds how the peer process ended, when we started it and it has, to an error.
    fn explain(&mut self, e: anyhow::Error) -> anyhow::Error {
        let Some(child) = self.child.as_mut() else { return e };
        let deadline = Instant::now() + Duration::from_millis(300);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return e.context(format!("peer process exited ({status})"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        e
    }

    /// After `Bye`: waits for a child peer to exit.
    fn finish(mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else { return Ok(()) };
        let deadline = Instant::now() + self.channel.timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                cleanup::forget_child(child.id());
                if !status.success() {
                    bail!("the peer process exited with {status}");
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("the peer process did not exit within {:?} after the last run", self.channel.timeout);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
            cleanup::forget_child(child.id());
        }
    }
}

/// A progress bar on stderr for runs that last more than two seconds, when stderr is a terminal.
struct ProgressDisplay {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProgressDisplay {
    fn start(cfg: &RunConfig, p: &Params, label: &str, progress: Arc<Progress>) -> ProgressDisplay {
        use std::io::IsTerminal;
        let done = Arc::new(AtomicBool::new(false));
        if cfg.quiet || !std::io::stderr().is_terminal() {
            return ProgressDisplay { done, thread: None };
        }
        let (total, label, flag) = (
            match p.stop {
                Stop::Count(n) => Some(n + p.warmup),
                Stop::DurationNs(_) => None,
            },
            label.to_string(),
            done.clone(),
        );
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(2) {
                if flag.load(Ordering::Acquire) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let bar = match total {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::new_spinner(),
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg} [{elapsed_precise}] {wide_bar} {pos}/{len}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(label);
            // Acquire: pairs with the Release store in `finish`.
            while !flag.load(Ordering::Acquire) {
                bar.set_position(progress.get());
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        ProgressDisplay { done, thread: Some(thread) }
    }

    fn finish(mut self) {
        self.done.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
