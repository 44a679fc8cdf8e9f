//! The peer: follows the initiator's plan over a control channel, taking the echoing or
//! receiving side of every test on every concurrent pair. Runs as the hidden `ipcbench peer`
//! (stdin/stdout are the control channel, so it never prints to stdout) or as
//! `ipcbench client`, which connects to a host's control socket, typically from a container.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::fanout::{on_every_pair, take_part};
use super::{sample_stream, Channel, ControlError, Message};
use crate::export::WriterPlace;
use crate::measure::sample_pool::SamplePool;
use crate::pattern::Side;
use crate::transport::Endpoint;

/// Where a test may want the peer to misbehave, asked at points between runs (never inside a
/// timed loop). The binary serves with [`Faithful`]; tests serve with a behaviour of their own
/// through [`serve_with`], so no fault hook ships in the product.
pub trait Behaviour {
    /// Before the hello.
    fn before_hello(&mut self) -> Act {
        Act::Go
    }
    /// Asked to prepare test `test_id`, before connecting to it.
    fn before_prepare(&mut self, _test_id: u32) -> Act {
        Act::Go
    }
}

/// What the peer does at a [`Behaviour`] point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// Follow the plan.
    Go,
    /// Say nothing more, keeping the control channel open until the initiator gives up on it.
    Stall,
    /// End the session at once, closing the control channel (as a peer that died).
    Vanish,
}

/// The peer as it ships: follows the plan.
pub struct Faithful;

impl Behaviour for Faithful {}

/// Serves one control session until `Bye`; relative endpoint paths are in `socket_dir`. On
/// failure, tells the initiator why before returning the error.
pub fn serve(ch: &mut Channel, socket_dir: &Path) -> Result<()> {
    serve_with(ch, socket_dir, &mut Faithful)
}

/// [`serve`] with a [`Behaviour`] of the caller's.
pub fn serve_with(ch: &mut Channel, socket_dir: &Path, b: &mut dyn Behaviour) -> Result<()> {
    let mut files = Vec::new();
    let result = serve_inner(ch, socket_dir, b, &mut files);
    match result {
        Err(e) if e.downcast_ref::<Vanished>().is_none() => {
            // Best effort: the initiator may be gone already.
            let _ = ch.send(&Message::Error { message: format!("{e:#}") });
            let closed = e.chain().any(|c| matches!(c.downcast_ref(), Some(ControlError::Closed(_))));
            match initiator_gone(ch, &files) {
                Some(why) if !closed => Err(e.context(why)),
                _ => Err(e),
            }
        }
        other => other,
    }
}

/// After a failure: if the initiator closed the control channel (it exited, or was killed and
/// could not clean up), removes the files of the test in progress that it left in the socket
/// directory and says so; `None` while the initiator is still there.
fn initiator_gone(ch: &mut Channel, files: &[PathBuf]) -> Option<String> {
    let who = match ch.recv_within("its word on the failure", Duration::from_millis(200)) {
        Err(ControlError::Closed(who)) => who,
        _ => return None,
    };
    let ours = |p: &Path| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("ipcbench-"));
    for f in files.iter().filter(|f| ours(f)) {
        if std::fs::remove_file(f).is_ok() {
            eprintln!("note: removed {}, left by the {who} that went away", f.display());
        }
    }
    Some(format!("the {who} closed the control channel (it exited or was killed)"))
}

/// The session ended by [`Act::Vanish`].
#[derive(Debug, thiserror::Error)]
#[error("the peer vanished as its behaviour asked")]
pub struct Vanished;

/// Acts on a behaviour's answer: `Ok` to go on.
fn act(ch: &mut Channel, a: Act) -> Result<()> {
    match a {
        Act::Go => Ok(()),
        Act::Vanish => Err(Vanished.into()),
        Act::Stall => {
            // Drain until the initiator closes the channel (or a day passes).
            loop {
                match ch.recv_within("nothing (stalling)", Duration::from_secs(86_400)) {
                    Err(ControlError::Closed(_)) | Err(ControlError::Timeout { .. }) => {
                        return Err(Vanished.into())
                    }
                    _ => {}
                }
            }
        }
    }
}

/// `files`: those the initiator made for the test in progress (for [`initiator_gone`]).
fn serve_inner(
    ch: &mut Channel,
    socket_dir: &Path,
    b: &mut dyn Behaviour,
    files: &mut Vec<PathBuf>,
) -> Result<()> {
    // Before any pinning: where a sample shipper may run when it has no CPU of its own.
    let anywhere = WriterPlace::Shared(crate::sys::allowed_cpus());
    act(ch, b.before_hello())?;
    ch.join_session()?;
    // The initiator names its clock and checks ours: take it up and answer the probes until
    // the plan arrives.
    let plan = loop {
        match ch.recv("clock, clock probe or plan")? {
            Message::Clock { tsc } => {
                ch.send(&Message::ClockReady { refused: crate::measure::clock::adopt(tsc).err() })?
            }
            Message::ClockProbe => {
                ch.send(&Message::ClockReply { peer_ns: crate::measure::clock::now_ns() })?
            }
            other => break other,
        }
    };
    let (timeout, shipper) = match plan {
        Message::Plan { pin_cpu, timeout_ms, writer_cpu } => {
            if let Some(cpu) = pin_cpu {
                crate::sys::pin_current_thread(cpu)
                    .with_context(|| format!("pinning the peer to CPU {cpu}"))?;
            }
            (Duration::from_millis(timeout_ms), writer_cpu.map_or(anywhere.clone(), WriterPlace::Cpu))
        }
        other => bail!(ControlError::Unexpected { who: "host", expected: "plan", got: other.kind().into() }),
    };
    // Made at the first test that streams this side's samples, before its clock starts.
    let mut pool: Option<SamplePool> = None;
    loop {
        // Between tests the initiator may take a while (writing streams): wait generously.
        match ch.recv_within("prepare or bye", timeout * 6)? {
            Message::Prepare { test_id, transport, endpoints, channel, params, pin_cpu } => {
                act(ch, b.before_prepare(test_id))?;
                if let Some(cpu) = pin_cpu {
                    crate::sys::pin_current_thread(cpu)
                        .with_context(|| format!("pinning the peer to CPU {cpu} for test {test_id}"))?;
                }
                if endpoints.is_empty() {
                    bail!("test {test_id} names no endpoint");
                }
                let endpoints =
                    endpoints.into_iter().map(|ep| ep.resolve(socket_dir)).collect::<Result<Vec<_>>>()?;
                *files = endpoints.iter().flat_map(|ep| ep.files()).map(Path::to_path_buf).collect();
                let mut conns = endpoints
                    .into_iter()
                    .enumerate()
                    .map(|(pair, ep)| {
                        let key = ch.data_key(test_id, pair as u32);
                        crate::transport::connect(transport, &ep, &channel, timeout, socket_dir, &key)
                            .with_context(|| format!("connecting the {transport} data channel {ep}"))
                    })
                    .collect::<Result<Vec<_>>>()?;
                let keeps = params.keep_samples && params.pattern.samples_kept_by() == Some(Side::Peer);
                let pool = keeps.then(|| &*pool.get_or_insert_with(SamplePool::standard));
                ch.send(&Message::Ready { test_id })?;
                let (r, shipped) = match pool {
                    Some(pool) => sample_stream::ship(ch, pool, &shipper, &anywhere, |pool| {
                        on_every_pair(&mut conns, |_, c| take_part(c, &params, Some(pool)))
                    }),
                    None => (on_every_pair(&mut conns, |_, c| take_part(c, &params, None)), Ok(())),
                };
                let r = r.with_context(|| {
                    format!("{} over {transport} with {} B messages", params.pattern, channel.size_bytes)
                })?;
                shipped.context("sending samples to the initiator")?;
                drop(conns);
                ch.send(&Message::Done { test_id, report: r.report(crate::sys::current_cpu()) })?;
                let hist = if r.histogram.is_empty() { Vec::new() } else { r.histogram.to_bytes() };
                ch.send_block(&hist)?;
                ch.send_block(&crate::measure::intervals::encode(&r.intervals))?;
            }
            Message::Bye => return Ok(()),
            other => bail!(ControlError::Unexpected {
                who: "host",
                expected: "prepare or bye",
                got: other.kind().into()
            }),
        }
    }
}

/// Runs the peer on this process's stdin/stdout (the hidden `ipcbench peer` command).
pub fn run_on_stdio(timeout: Duration, socket_dir: &Path) -> Result<()> {
    use std::os::fd::AsFd;
    let rx = std::io::stdin().as_fd().try_clone_to_owned()?;
    let tx = std::io::stdout().as_fd().try_clone_to_owned()?;
    let mut ch = Channel::new(rx, tx, "host", timeout);
    serve(&mut ch, socket_dir)
}

/// Where a client finds its host, and what it presents.
#[derive(Clone, Debug)]
pub struct HostAddress {
    /// The host's control endpoint (`unix://<socket-dir>/ipcbench.ctl` by default, or TCP).
    pub control: Endpoint,
    /// The token to present in the hello, if the host needs one.
    pub token: Option<String>,
}

/// `ipcbench client`: connects to the host's control endpoint, retrying with backoff while no
/// host listens (up to `connect_timeout`, or for ever with `serve`), and serves the session;
/// with `serve`, then waits for the next host.
pub fn run_client(
    socket_dir: &Path,
    host: &HostAddress,
    connect_timeout: Duration,
    timeout: Duration,
    serve_forever: bool,
) -> Result<()> {
    // Stopped by a signal (`podman stop`, Ctrl-C), a serving client removes what it holds
    // for the life of the process (zenoh's shared-memory segments) before it exits.
    crate::cleanup::install_signal_handler("ipcbench client");
    let env = crate::measure::env::Environment::detect();
    eprintln!(
        "ipcbench client {}: waiting for a host on {}{}",
        env!("CARGO_PKG_VERSION"),
        host.control,
        if env.in_container { " (in a container)" } else { "" }
    );
    loop {
        let wait = if serve_forever { Duration::from_secs(u64::MAX / 4) } else { connect_timeout };
        let fd = connect_control(&host.control, wait)?;
        let tx = fd.try_clone().context("duplicating the control socket")?;
        let mut ch = Channel::new(fd, tx, "host", timeout).with_token(host.token.clone());
        let outcome = serve(&mut ch, socket_dir);
        match (&outcome, serve_forever) {
            (Ok(()), true) => eprintln!("ipcbench client: session done, waiting for the next host"),
            (Err(e), true) => eprintln!("ipcbench client: session failed: {e:#}; waiting for the next host"),
            (_, false) => return outcome,
        }
        // Let the finished host remove its control socket before we look for the next one.
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Connects to a control endpoint (a Unix socket path, or TCP), retrying with backoff (1 ms
/// doubling to 200 ms) until `wait` has passed.
pub fn connect_control(ctl: &Endpoint, wait: Duration) -> Result<std::os::fd::OwnedFd> {
    let deadline = std::time::Instant::now().checked_add(wait);
    let mut backoff = Duration::from_millis(1);
    loop {
        let attempt: std::io::Result<std::os::fd::OwnedFd> = match ctl {
            Endpoint::Unix(p) => std::os::unix::net::UnixStream::connect(p).map(Into::into),
            Endpoint::Tcp(a) => std::net::TcpStream::connect(a).and_then(|s| {
                s.set_nodelay(true)?;
                Ok(s.into())
            }),
            other => bail!("{other} is not a control endpoint (tcp:// or unix://)"),
        };
        match attempt {
            Ok(fd) => return Ok(fd),
            Err(e) if deadline.is_some_and(|d| std::time::Instant::now() >= d) => {
                return Err(e).with_context(|| format!("no ipcbench host on {ctl} within {wait:?}"))
            }
            Err(_) => {
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(200));
            }
        }
    }
}
