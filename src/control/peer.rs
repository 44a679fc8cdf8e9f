//! The peer: follows the initiator's plan over a control channel, taking the echoing or
//! receiving side of every test. Runs as the hidden `ipcbench peer` (stdin/stdout are the
//! control channel, so it never prints to stdout).

use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::{Channel, ControlError, Message, PeerReport};
use crate::pattern::take_part;
use crate::transport::Connection;

/// Serves one control session until `Bye`. On failure, tells the initiator why before
/// returning the error.
pub fn serve(ch: &mut Channel) -> Result<()> {
    let result = serve_inner(ch);
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

fn serve_inner(ch: &mut Channel) -> Result<()> {
    let fault = Fault::from_env();
    if fault == Fault::Silent {
        Fault::hang();
    }
    ch.handshake()?;
    let (wait, timeout) = match ch.recv("plan")? {
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
            Message::Prepare { test_id, transport, endpoint, params } => {
                match fault {
                    Fault::ExitAt(n) if n == test_id => std::process::exit(3),
                    Fault::HangAt(n) if n == test_id => Fault::hang(),
                    _ => {}
                }
                let mut conn = crate::transport::connect(&endpoint, params.size_bytes, wait, timeout)
                    .with_context(|| format!("connecting the {transport} data channel"))?;
                ch.send(&Message::Ready { test_id })?;
                let r = match &mut conn {
                    Connection::Socket(t) => take_part(t, &params),
                    Connection::Shm(t) => take_part(t, &params),
                }
                .with_context(|| {
                    format!("{} over {transport} with {} B messages", params.pattern, params.size_bytes)
                })?;
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

/// Runs the peer on this process's stdin/stdout (the hidden `ipcbench peer` command).
pub fn run_on_stdio(timeout: Duration) -> Result<()> {
    use std::os::fd::AsFd;
    let rx = std::io::stdin().as_fd().try_clone_to_owned()?;
    let tx = std::io::stdout().as_fd().try_clone_to_owned()?;
    let mut ch = Channel::new(rx, tx, "host", timeout);
    serve(&mut ch)
}
