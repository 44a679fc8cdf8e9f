//! The peer's samples during a run, when the peer is the side that keeps them (one-way and
//! throughput with a stream on), and the peer's report after it.
//!
//! The peer records into its own bounded [`SamplePool`]; a shipper thread of the peer sends each
//! full block over the control channel as a binary frame while the run goes on ([`ship`]), and a
//! receiver thread of the initiator copies each into the initiator's pool, whose writer thread
//! formats it into the stream files ([`receive`]). The peer's `Done` ends the blocks. Both sides
//! stay bounded: when the initiator's writer falls behind, its pool fills, the receiver stops
//! reading, the control channel's buffer fills, the shipper waits, and the peer's recorders
//! drop samples and count them (`SideReport::samples_dropped`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::{Channel, ControlError, Message};
use crate::analysis::merge::PeerSide;
use crate::export::WriterPlace;
use crate::measure::histogram::LatencyHistogram;
use crate::measure::sample_pool::{ProducersDone, SamplePool};

/// How often a waiting receiver looks whether the run is over.
const SLICE: Duration = Duration::from_millis(20);
/// How long a receiver waits for the peer's word after the initiator's side failed (as
/// `Peer::transport_failure` does).
const AFTER_FAILURE: Duration = Duration::from_millis(300);

/// Peer: runs `run` (the timed loops, recording into `pool`) while a shipper thread, placed at
/// `place`, sends every full block over `ch`. Returns what `run` returned and whether every
/// block was sent.
pub(super) fn ship<R>(
    ch: &mut Channel,
    pool: &SamplePool,
    place: &WriterPlace,
    fallback: &WriterPlace,
    run: impl FnOnce(&SamplePool) -> R,
) -> (R, Result<(), ControlError>) {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let shipper = s.spawn(|| {
            // Best effort: a client in a container may not have the initiator's CPU.
            let _ = place.apply().or_else(|_| fallback.apply());
            pool.drain(&done, place.batch(pool.blocks()), |block| ch.send_block(block))
        });
        let producers_done = ProducersDone(&done);
        let r = run(pool);
        drop(producers_done);
        let shipped = shipper.join().unwrap_or_else(|_| Err(panicked("sample shipper")));
        (r, shipped)
    })
}

/// Initiator: runs `run` (the timed loops, `Ok` when they succeeded) while a receiver thread
/// copies the peer's sample blocks into `pool`, until the message that ends them. Returns what
/// `run` returned and that message (`Done`, or the peer's error as [`ControlError::Remote`]).
pub(super) fn receive<T, E>(
    ch: &mut Channel,
    pool: &SamplePool,
    run: impl FnOnce() -> Result<T, E>,
) -> (Result<T, E>, Result<Message, ControlError>) {
    let start = Instant::now();
    let timeout = ch.timeout;
    // Milliseconds after `start` at which the receiver gives up; none while the run goes on.
    let give_up_ms = AtomicU64::new(u64::MAX);
    // Relaxed (here and in `GiveUpAfter`): the deadline is the only thing it hands over.
    let waiting = || (start.elapsed().as_millis() as u64) < give_up_ms.load(Ordering::Relaxed);
    std::thread::scope(|s| {
        let receiver = s.spawn(|| {
            let mut block = Vec::new();
            loop {
                if !crate::sys::wait_readable(ch.rx_fd(), SLICE)? {
                    if waiting() {
                        continue;
                    }
                    return Err(ControlError::Timeout { who: "peer", timeout, waiting_for: "done" });
                }
                match ch.recv_message_or_block("samples or done", &mut block)? {
                    Some(m) => return Ok(m),
                    None if pool.put_copy(&block, waiting) => {}
                    None => {
                        return Err(ControlError::Malformed {
                            who: "peer",
                            detail: format!(
                                "a sample block of {} bytes (the most is {}), or no room for it in time",
                                block.len(),
                                pool.block_bytes()
                            ),
                        })
                    }
                }
            }
        });
        // The receiver waits `timeout` more for the peer after a run that went well, a moment
        // after one that failed (or panicked: the guard's default).
        let mut give_up = GiveUpAfter { at_ms: &give_up_ms, start, wait: AFTER_FAILURE };
        let r = run();
        if r.is_ok() {
            give_up.wait = timeout;
        }
        drop(give_up);
        let ended = receiver.join().unwrap_or_else(|_| Err(panicked("sample receiver")));
        (r, ended)
    })
}

/// Sets when a waiting receiver gives up, `wait` from now, when dropped.
struct GiveUpAfter<'a> {
    at_ms: &'a AtomicU64,
    start: Instant,
    wait: Duration,
}

impl Drop for GiveUpAfter<'_> {
    fn drop(&mut self) {
        self.at_ms.store((self.start.elapsed() + self.wait).as_millis() as u64, Ordering::Relaxed);
    }
}

fn panicked(thread: &str) -> ControlError {
    ControlError::Io(std::io::Error::other(format!("the {thread} thread panicked")))
}

/// The peer's side of test `test_id` once its `Done` (`done`) has arrived: the report, and the
/// histogram and interval blocks after it.
pub(super) fn collect(ch: &mut Channel, test_id: u32, done: Message) -> Result<PeerSide> {
    let report = match done {
        Message::Done { test_id: id, report } if id == test_id => report,
        other => bail!(ControlError::Unexpected { who: "peer", expected: "done", got: other.kind().into() }),
    };
    let hist_bytes = ch.recv_block("histogram")?;
    let intervals = crate::measure::intervals::decode(&ch.recv_block("intervals")?)?;
    let histogram =
        if hist_bytes.is_empty() { None } else { Some(LatencyHistogram::from_bytes(&hist_bytes)?) };
    Ok(PeerSide { report, histogram, intervals, present: true })
}
