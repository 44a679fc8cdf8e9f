//! The initiator of `ipcbench run`: starts the peer process, walks the matrix of
//! (transport, pattern, size, repetition), takes the initiator's side of each run, merges both
//! sides' measurements into a [`RunResult`] and hands it to the exporters.

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::{Channel, ControlError, Message, PeerReport};
use crate::cleanup;
use crate::config::RunConfig;
use crate::export::ExportManager;
use crate::measure::env::Environment;
use crate::measure::histogram::LatencyHistogram;
use crate::measure::summary::{Integrity, Placement, RunResult, Summary, Throughput, SCHEMA_VERSION};
use crate::pattern::{throughput, Params, Pattern, Progress, Sample, SideResult, Stop};
use crate::transport::{Connection, DataListener, TransportError, TransportKind};

/// Runs the whole matrix of `cfg`. The summary is on disk after every finished run, and once
/// more at the end, with `error` set if the invocation failed.
pub fn run(cfg: &RunConfig, command: Vec<String>) -> Result<Summary> {
    let mut exporters = ExportManager::from_config(cfg)?;
    let mut summary = Summary {
        schema_version: SCHEMA_VERSION,
        tool: "ipcbench".into(),
        started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        command,
        environment: Environment::detect(),
        peer_environment: None,
        runs: Vec::new(),
        error: None,
    };
    if cfg.out.as_os_str() != "-" {
        summary.write(&cfg.out)?; // an unwritable --out fails here, before anything is measured
    }
    cleanup::install_signal_handler("ipcbench run");
    crate::transport::socket::remove_stale_files(&cfg.socket_dir);
    crate::transport::socket::remove_stale_files(&cfg.channels.shm_dir);
    let outcome = run_matrix(cfg, &mut summary, &mut exporters);
    if let Err(e) = &outcome {
        summary.error = Some(format!("{e:#}"));
    }
    let written = exporters.finished(&summary);
    outcome.and(written).map(|_| summary)
}

fn run_matrix(cfg: &RunConfig, summary: &mut Summary, exporters: &mut ExportManager) -> Result<()> {
    if let Some((cpu, _)) = cfg.pin {
        crate::sys::pin_current_thread(cpu).with_context(|| format!("pinning the initiator to CPU {cpu}"))?;
    }
    let mut peer = PeerProcess::spawn(cfg.timeout)?;
    let ch = &mut peer.channel;
    match ch.handshake().map_err(|e| peer.explain(e.into()))? {
        Message::Hello { environment, .. } => summary.peer_environment = Some(environment),
        _ => unreachable!("handshake returns a hello"),
    }
    let ch = &mut peer.channel;
    ch.send(&Message::Plan {
        pin_cpu: cfg.pin.map(|(_, b)| b),
        wait: cfg.wait,
        timeout_ms: cfg.timeout.as_millis() as u64,
    })?;
    let mut test_id = 0u32;
    for &transport in &cfg.transports {
        for &pattern in &cfg.patterns {
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
                    };
                    let label = format!("{pattern} over {transport} with {size_bytes} B messages");
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
    peer.channel.send(&Message::Bye)?;
    peer.finish()
}

/// One run: data channel up, barrier, timed loop, both sides' results merged.
fn run_one(
    peer: &mut PeerProcess,
    cfg: &RunConfig,
    test_id: u32,
    transport: TransportKind,
    params: &Params,
    repetition: u32,
    label: &str,
) -> Result<(RunResult, Vec<Sample>)> {
    let listener = DataListener::open(transport, &cfg.channels, test_id, params.size_bytes, params.pattern)?;
    let shm_slots = listener.shm_slots();
    let ch = &mut peer.channel;
    ch.send(&Message::Prepare {
        test_id,
        transport,
        endpoint: listener.endpoint()?,
        params: params.clone(),
    })?;
    // The peer either connects or says why it cannot.
    match crate::sys::wait_readable_any(&[listener.fd(), ch.rx_fd()], cfg.timeout)? {
        Some(0) => {}
        Some(_) => bail!(expect_ready(ch, test_id)
            .err()
            .unwrap_or_else(|| anyhow!("the peer answered before connecting"))),
        None => bail!("the peer did not connect to {} within {:?}", listener.endpoint()?, cfg.timeout),
    }
    // Accepting removes the socket file: nothing is left in the socket directory.
    let mut conn = listener.accept(params.size_bytes, cfg.wait, cfg.timeout)?;
    expect_ready(ch, test_id)?;

    let progress = Arc::new(Progress::default());
    let display = ProgressDisplay::start(cfg, params, label, progress.clone());
    let mine = match &mut conn {
        Connection::Socket(t) => crate::pattern::initiate(t, params, &progress),
        Connection::Shm(t) => crate::pattern::initiate(t, params, &progress),
    };
    let cpu = crate::sys::current_cpu();
    display.finish();
    let mine = mine.map_err(|e| peer.transport_failure(e))?;
    drop(conn); // the shm creator removes its mapping file here

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
    Ok((run, samples))
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
        duration_ns,
        latency_source: if hist.is_some() { source } else { "none" }.into(),
        latency_ns: hist.as_ref().map(|h| h.stats()),
        histogram_v2: hist.as_ref().map(|h| h.to_base64()),
        throughput: Throughput { messages_per_s, bytes_per_s: messages_per_s * p.size_bytes as f64 },
        integrity: Integrity {
            sent: mine.sent,
            received,
            out_of_order: peer.out_of_order + mine.out_of_order,
            corrupt: peer.corrupt + mine.corrupt,
        },
    };
    (run, samples)
}

/// The peer child process and the control channel on its stdin/stdout.
struct PeerProcess {
    child: Child,
    channel: Channel,
}

impl PeerProcess {
    fn spawn(timeout: Duration) -> Result<PeerProcess> {
        let exe = std::env::current_exe().context("locating the ipcbench binary to start the peer")?;
        let mut child = Command::new(&exe)
            .args(["peer", "--timeout-s", &timeout.as_secs().to_string()])
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
        Ok(PeerProcess { child, channel: Channel::new(rx, tx, "peer", timeout) })
    }

    /// After a data-channel failure: the peer's own explanation if it sent one, else how the
    /// peer process ended, else the transport error itself.
    fn transport_failure(&mut self, e: TransportError) -> anyhow::Error {
        if let Err(ControlError::Remote { message, .. }) =
            self.channel.recv_within("error", Duration::from_millis(300))
        {
            return anyhow!("{e}: the peer reported: {message}");
        }
        anyhow::Error::from(e)
    }

    /// Adds how the peer process ended, when it has, to an error.
    fn explain(&mut self, e: anyhow::Error) -> anyhow::Error {
        let deadline = Instant::now() + Duration::from_millis(300);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return e.context(format!("peer process exited ({status})"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        e
    }

    /// Waits for the peer to exit after `Bye`.
    fn finish(mut self) -> Result<()> {
        let deadline = Instant::now() + self.channel.timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                cleanup::forget_child(self.child.id());
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

impl Drop for PeerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        cleanup::forget_child(self.child.id());
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
