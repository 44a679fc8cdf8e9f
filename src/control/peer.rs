//! The peer: follows the initiator's plan over a control channel, taking the echoing or
//! receiving side of every test on every concurrent pair. Runs as the hidden `ipcbench peer`
//! (stdin/stdout are the control channel, so it never prints to stdout) or as
//! `ipcbench client`, which connects to a host's control socket, typically from a container.

use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::{Channel, ControlError, Message, PeerReport};
use std::path::Path;

use crate::pattern::{take_part, Params, SideResult};
use crate::transport::{Connection, TransportError};

/// Serves one control session until `Bye`; relative endpoint paths are in `socket_dir`. On
/// failure, tells the initiator why before returning the error.
pub fn serve(ch: &mut Channel, socket_dir: &Path) -> Result<()> {
    let result = serve_inner(ch, socket_dir);
    if let Err(e) = &result {
        // Best effort: the initiator may be gone already.
        let _ = ch.send(&Message::Error { message: format!("{e:#}") });
    }
    result
}

/// Faults the peer can be told to inject (through `IPCBENCH_PEER_FAULT`), so tests can check
/// how the initiator copes with a peer that misbehaves. Checked only between runs, never in a
/// timed loop.
///
/// | value | the peer ... |
/// |---|---|
/// | `silent` | never says hello |
/// | `exit-at-test:N` | exits with status 3 when asked to prepare test N |
/// | `hang-at-test:N` | never connects to test N |
#[derive(Debug, PartialEq, Eq)]
enum Fault {
    None,
    Silent,
    ExitAt(u32),
    HangAt(u32),
}

impl Fault {
    fn from_env() -> Fault {
        let v = std::env::var("IPCBENCH_PEER_FAULT").unwrap_or_default();
        let at = |prefix: &str| v.strip_prefix(prefix).and_then(|n| n.parse::<u32>().ok());
        match v.as_str() {
            "silent" => Fault::Silent,
            _ => at("exit-at-test:")
                .map(Fault::ExitAt)
                .or_else(|| at("hang-at-test:").map(Fault::HangAt))
                .unwrap_or(Fault::None),
        }
    }

    fn hang() -> ! {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

fn serve_inner(ch: &mut Channel, socket_dir: &Path) -> Result<()> {
    let fault = Fault::from_env();
    if fault == Fault::Silent {
        Fault::hang();
    }
    ch.handshake()?;
    // The initiator checks our clock first: answer its probes until the plan arrives.
    let plan = loop {
        match ch.recv("clock probe or plan")? {
            Message::ClockProbe => {
                ch.send(&Message::ClockReply { peer_ns: crate::measure::clock::now_ns() })?
            }
            other => break other,
        }
    };
    let (wait, timeout) = match plan {
        Message::Plan { pin_cpu, wait, timeout_ms } => {
            if let Some(cpu) = pin_cpu {
                crate::sys::pin_current_thread(cpu)
                    .with_context(|| format!("pinning the peer to CPU {cpu}"))?;
            }
            (wait, Duration::from_millis(timeout_ms))
        }
        other => bail!(ControlError::Unexpected { who: "host", expected: "plan", got: other.kind().into() }),
    };
    loop {
        // Between tests the initiator may take a while (writing streams): wait generously.
        match ch.recv_within("prepare or bye", timeout * 6)? {
            Message::Prepare { test_id, transport, endpoints, params } => {
                match fault {
                    Fault::ExitAt(n) if n == test_id => std::process::exit(3),
                    Fault::HangAt(n) if n == test_id => Fault::hang(),
                    _ => {}
                }
                if endpoints.is_empty() {
                    bail!("test {test_id} names no endpoint");
                }
                let mut conns = endpoints
                    .into_iter()
                    .map(|ep| {
                        let ep = ep.resolve(socket_dir)?;
                        crate::transport::connect(&ep, &params, wait, timeout, socket_dir)
                            .with_context(|| format!("connecting the {transport} data channel {ep}"))
                    })
                    .collect::<Result<Vec<_>>>()?;
                ch.send(&Message::Ready { test_id })?;
                let r = take_parts(&mut conns, &params).with_context(|| {
                    format!("{} over {transport} with {} B messages", params.pattern, params.size_bytes)
                })?;
                drop(conns);
                let report = PeerReport {
                    sent: r.sent,
                    received: r.received,
                    out_of_order: r.out_of_order,
                    corrupt: r.corrupt,
                    first_recv_ns: r.first_recv_ns,
                    last_recv_ns: r.last_recv_ns,
                    start_ns: r.start_ns,
                    end_ns: r.end_ns,
                    cpu_observed: crate::sys::current_cpu(),
                };
                ch.send(&Message::Done { test_id, report })?;
                let hist = if r.histogram.is_empty() { Vec::new() } else { r.histogram.to_bytes() };
                ch.send_block(&hist)?;
                ch.send_block(&crate::pattern::Sample::encode_all(&r.samples))?;
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

/// Takes the peer's part on every pair at once (pair 0 on this thread) and merges the results.
fn take_parts(conns: &mut [Connection], params: &Params) -> Result<SideResult, TransportError> {
    let (first, rest) = conns.split_first_mut().expect("at least one pair");
    std::thread::scope(|s| {
        let others: Vec<_> = rest.iter_mut().map(|c| s.spawn(|| take_part_on(c, params))).collect();
        let mine = take_part_on(first, params);
        others.into_iter().fold(mine, |acc, h| match (acc, h.join().expect("a peer thread panicked")) {
            (Ok(mut a), Ok(b)) => {
                a.absorb(b);
                Ok(a)
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        })
    })
}

fn take_part_on(conn: &mut Connection, params: &Params) -> Result<SideResult, TransportError> {
    match conn {
        Connection::Socket(t) => take_part(t, params),
        Connection::Shm(t) => take_part(t, params),
        Connection::Dgram(t) => take_part(t, params),
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

/// `ipcbench client`: connects to `<socket-dir>/ipcbench.ctl`, retrying with backoff while no
/// host listens (up to `connect_timeout`, or for ever with `serve`), and serves the session;
/// with `serve`, then waits for the next host.
pub fn run_client(
    socket_dir: &Path,
    connect_timeout: Duration,
    timeout: Duration,
    serve_forever: bool,
) -> Result<()> {
    let ctl = socket_dir.join(super::coordinator::CONTROL_SOCKET);
    let env = crate::measure::env::Environment::detect();
    eprintln!(
        "ipcbench client {}: waiting for a host on {}{}",
        env!("CARGO_PKG_VERSION"),
        ctl.display(),
        if env.in_container { " (in a container)" } else { "" }
    );
    loop {
        let wait = if serve_forever { Duration::from_secs(u64::MAX / 4) } else { connect_timeout };
        let fd = connect_control(&ctl, wait)?;
        let tx = fd.try_clone().context("duplicating the control socket")?;
        let mut ch = Channel::new(fd, tx, "host", timeout);
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

/// Connects to the control socket, retrying with backoff (1 ms doubling to 200 ms) until
/// `wait` has passed.
fn connect_control(ctl: &Path, wait: Duration) -> Result<std::os::fd::OwnedFd> {
    let deadline = std::time::Instant::now().checked_add(wait);
    let mut backoff = Duration::from_millis(1);
    loop {
        match std::os::unix::net::UnixStream::connect(ctl) {
            Ok(s) => return Ok(s.into()),
            Err(e) if deadline.is_some_and(|d| std::time::Instant::now() >= d) => {
                return Err(e)
                    .with_context(|| format!("no ipcbench host on {} within {wait:?}", ctl.display()))
            }
            Err(_) => {
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(200));
            }
        }
    }
}
