//! The initiator's clock handshake with a peer: which clock both stamp with (the TSC's
//! calibration travels to the peer), then the probes that check the two read one clock.

use anyhow::{bail, Result};

use super::{Channel, ControlError, Message};
use crate::analysis::summary::Summary;
use crate::config::RunConfig;
use crate::measure::clock::{self, now_ns, ClockCheck, ClockInfo, ClockSource};

/// Tells the peer which clock to stamp with. Under `--clock auto`, a peer that cannot read the
/// TSC moves both sides to `CLOCK_MONOTONIC` (nothing has been timed yet) and the environment
/// records the clock and its cost again; an explicit `--clock tsc` fails the run instead.
pub(super) fn share_clock(ch: &mut Channel, cfg: &RunConfig, summary: &mut Summary) -> Result<()> {
    let Some(why) = send_clock(ch)? else { return Ok(()) };
    if !cfg.clock_auto || clock::in_use() == ClockSource::Monotonic {
        bail!("{why} (use --clock monotonic)");
    }
    if !cfg.outputs.quiet {
        eprintln!("note: {why}: --clock auto uses CLOCK_MONOTONIC instead");
    }
    clock::install(None);
    summary.environment.clock_read_overhead_ns = clock::read_overhead_ns();
    summary.environment.clock = Some(ClockInfo::current());
    match send_clock(ch)? {
        Some(why) => bail!("{why}"),
        None => Ok(()),
    }
}

/// Sends the clock in use to a peer: `None` when it took it up, else why it cannot.
pub(super) fn send_clock(ch: &mut Channel) -> Result<Option<String>> {
    ch.send(&Message::Clock { tsc: clock::calibration() })?;
    match ch.recv("clock-ready")? {
        Message::ClockReady { refused } => Ok(refused),
        other => {
            bail!(ControlError::Unexpected { who: "peer", expected: "clock-ready", got: other.kind().into() })
        }
    }
}

/// Asks the peer for its clock 16 times, each bracketed by two readings of ours.
pub(super) fn check_clock(ch: &mut Channel) -> Result<ClockCheck> {
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
