//! Measurement patterns, generic over [`Transport`]: each is a pair of loops, one per process.
//!
//! | pattern | initiator (parent / host) | peer | latency recorded by |
//! |---|---|---|---|
//! | round-trip | stamps, sends, waits for the echo | echoes every message | initiator: echo − send |
//! | one-way | stamps, sends, waits for an untimed ack | stamps on receipt, acks | peer: receive − send |
//! | throughput | streams as fast as the transport allows | counts | peer (messages/s, bytes/s) |
//! | fan-out | publishes to N subscribers, waits for all acks | each acks with its arrival time | initiator: each arrival − send |
//! | fan-in | serves N publishers from one thread, acks each | each publishes closed loop | initiator: arrival − send |
//! | many-clients | serves N clients from one thread, echoes | each does round trips | each peer: echo − send |
//!
//! With `--rate` the initiator is open-loop: message `k` is *meant* to leave at
//! `start + k / rate`, its header carries that intended time, and latency counts from it, so a
//! stall delays the schedule and shows up in the tail instead of being hidden (coordinated
//! omission, as wrk2 corrects it). One-way then sends without waiting for acks.
//!
//! Nothing in a timed loop allocates, formats or logs: samples go to a bounded pool of blocks
//! pre-faulted before the clock starts, drained by another thread while the run goes on.
//!
//! | file | what |
//! |---|---|
//! | `drive.rs` | the initiator's loop shared by every pattern, the payload, the stop handshake |
//! | `round_trip.rs`, `one_way.rs`, `throughput.rs` | each pattern's two sides |
//! | `result.rs` | what one side measured |
//! | `pacer.rs`, `samples.rs`, `progress.rs` | the open-loop schedule, sample recording, progress |

mod drive;
pub mod fan_out;
pub mod one_way;
mod pacer;
mod progress;
mod result;
pub mod round_trip;
mod samples;
pub mod serve_many;
pub mod throughput;

use serde::{Deserialize, Serialize};

pub use progress::Progress;
pub use result::{SideReport, SideResult};

use crate::measure::sample_pool::SamplePool;
use crate::transport::{Transport, TransportResult};

/// The initiator's part of `p.pattern`; recorded samples go into `samples` when given (see
/// [`Pattern::samples_kept_by`]).
pub fn initiate<T: Transport>(
    t: &mut T,
    p: &Params,
    progress: &Progress,
    samples: Option<&SamplePool>,
) -> TransportResult<SideResult> {
    match p.pattern {
        Pattern::RoundTrip => round_trip::initiate(t, p, progress, samples),
        Pattern::OneWay => one_way::send(t, p, progress),
        Pattern::Throughput => throughput::send(t, p, progress),
        // These run on N channels at once (`fan_out::publish`, `serve_many::serve`).
        Pattern::FanOut | Pattern::FanIn | Pattern::ManyClients => {
            Err(crate::transport::TransportError::Malformed(format!(
                "{} runs on N channels at once, not one",
                p.pattern
            )))
        }
    }
}

/// The peer's part of `p.pattern`; recorded samples go into `samples` when given (see
/// [`Pattern::samples_kept_by`]).
pub fn take_part<T: Transport>(
    t: &mut T,
    p: &Params,
    samples: Option<&SamplePool>,
) -> TransportResult<SideResult> {
    match p.pattern {
        Pattern::RoundTrip => round_trip::respond(t, p),
        Pattern::OneWay => one_way::receive(t, p, samples),
        // A fan-out subscriber receives and acknowledges as a closed-loop one-way peer does.
        Pattern::FanOut => one_way::receive(t, p, None),
        Pattern::Throughput => throughput::receive(t, p, samples),
        // A publisher of a fan-in sends as a closed-loop one-way initiator does; a client of
        // many round trips as a round-trip initiator does.
        Pattern::FanIn => one_way::send(t, p, &Progress::default()),
        Pattern::ManyClients => round_trip::initiate(t, p, &Progress::default(), None),
    }
}

/// The side of a run that records latency (or arrivals) message by message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Initiator,
    Peer,
}

impl Pattern {
    /// Which side keeps every message's sample for the per-message streams: the initiator for
    /// round trips (echo arrival) and fan-out (the last subscriber's arrival), the peer for
    /// one-way and throughput (arrival); fan-in and many-clients stream none.
    pub fn samples_kept_by(self) -> Option<Side> {
        match self {
            Pattern::RoundTrip | Pattern::FanOut => Some(Side::Initiator),
            Pattern::OneWay | Pattern::Throughput => Some(Side::Peer),
            Pattern::FanIn | Pattern::ManyClients => None,
        }
    }
}

/// Which measurement.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    /// The peer echoes every message; latency is echo arrival - send.
    RoundTrip,
    /// The peer records arrival - send on the shared clock.
    OneWay,
    /// The initiator streams; the peer counts messages and bytes per second.
    Throughput,
    /// One publisher, N subscribers (`--subscribers`): each subscriber's arrival - send, and
    /// the last subscriber's (all delivered).
    FanOut,
    /// N publishers (`--publishers`), one subscriber serving them all from one thread: each
    /// publisher's arrival - send, rate and fairness.
    FanIn,
    /// N clients (`--clients`) doing round trips against one server thread that serves them
    /// all: each client's round trip, the server's CPU per request.
    ManyClients,
}

crate::display_as_value_name!(Pattern);

/// When a run ends (after its warm-up).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stop {
    /// After this many recorded messages.
    Count(u64),
    /// After this many nanoseconds of recording.
    DurationNs(u64),
}

/// What both loops of one run need to know, beyond the channel (its size, framing and wait are
/// the transport's, in [`crate::transport::ChannelSpec`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    pub pattern: Pattern,
    pub stop: Stop,
    /// Messages sent before recording starts.
    pub warmup: u64,
    /// Open-loop send rate; `None` is closed loop.
    pub rate_per_s: Option<u64>,
    /// Fill and check the payload pattern.
    pub verify: bool,
    /// Keep every sample for the per-message streams (the peer makes its pool when it is the
    /// side that keeps them).
    pub keep_samples: bool,
    /// Length of the slices the recorded phase is cut into (interval histograms).
    #[serde(default = "default_interval_ns")]
    pub interval_ns: u64,
    /// A count stop waits until recording has lasted at least this long (throughput: a 25 ms
    /// figure is one hiccup away from meaningless); 0 for none.
    #[serde(default)]
    pub min_duration_ns: u64,
    /// Open loop: the sender spins until each message is due instead of sleeping (with
    /// `--wait spin`).
    #[serde(default)]
    pub spin_pacing: bool,
}

impl Params {
    /// Whether recording is over after `recorded` messages, the last sent at `send_ns` (or, for
    /// a duration stop, once `send_ns` reaches `deadline_ns`).
    #[inline(always)]
    pub fn done(&self, recorded: u64, start_ns: u64, send_ns: u64, deadline_ns: u64) -> bool {
        match self.stop {
            Stop::Count(n) => recorded >= n && send_ns.saturating_sub(start_ns) >= self.min_duration_ns,
            Stop::DurationNs(_) => send_ns >= deadline_ns,
        }
    }
}

fn default_interval_ns() -> u64 {
    crate::measure::intervals::DEFAULT_INTERVAL_NS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_names_are_the_same_in_flags_json_and_text() {
        use clap::ValueEnum;
        for p in Pattern::value_variants() {
            assert_eq!(serde_json::to_value(p).unwrap().as_str().unwrap(), p.to_string());
        }
        assert_eq!(Pattern::RoundTrip.to_string(), "round-trip");
    }
}
