//! The result of a run with more than two processes: fan-out to N subscribers (`fan_out`),
//! fan-in and many clients served by one thread (`many`).

use serde::{Deserialize, Serialize};

use crate::measure::histogram::LatencyStats;

/// What a fan-in or many-clients run measured beyond its merged latency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManyResult {
    /// Publishers (fan-in) or clients (many-clients), each a process.
    pub peers: u32,
    /// Each peer, in index order.
    pub per_peer: Vec<PeerFigures>,
    /// The slowest peer's rate over the fastest's: 1 is perfectly fair.
    pub fairness: f64,
    /// The one server thread's CPU time per message it served.
    pub server_cpu_ns_per_message: f64,
    /// Why the run ended early, naming the peer whose channel failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// One peer of a fan-in or many-clients run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerFigures {
    pub index: u32,
    /// Fan-in: its messages' arrival - send at the server; many-clients: its round trips.
    pub latency_ns: Option<LatencyStats>,
    /// Its recorded messages the server served (fan-in) or it got back (many-clients).
    pub received: u64,
    /// Its rate, first to last recorded message.
    pub messages_per_s: f64,
    pub out_of_order: u64,
    pub corrupt: u64,
    /// The CPU it was pinned to, if any, and the one it ended on.
    pub cpu: Option<usize>,
    pub cpu_observed: usize,
    /// Its timed thread's CPU time and context switches, per message it sent.
    pub cpu_use: crate::measure::cpu::SideCpu,
}

/// What a fan-out run measured beyond its merged latency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FanOutResult {
    /// Subscriber processes, each receiving every message.
    pub subscribers: u32,
    /// How the publisher reaches them: one broadcast ring, or one channel per subscriber.
    pub mechanism: String,
    /// Send to the last subscriber's arrival, per message.
    pub all_delivered_ns: Option<LatencyStats>,
    /// Its full histogram, HdrHistogram V2 in base64.
    pub all_delivered_histogram_v2: Option<String>,
    /// How long handing one message to every subscriber took on the publisher (N socket writes,
    /// or one store into the ring).
    pub publish_ns: Option<LatencyStats>,
    /// Each subscriber, in index order.
    pub per_subscriber: Vec<SubscriberResult>,
    /// Why the run ended early: a subscriber whose channel failed (the others were stopped
    /// and their figures are kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// One subscriber of a fan-out run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubscriberResult {
    pub index: u32,
    /// Its one-way latencies (arrival - send, on the shared clock).
    pub latency_ns: Option<LatencyStats>,
    /// Messages it received, warm-up and stop excluded.
    pub received: u64,
    /// Messages that arrived after a later one.
    pub out_of_order: u64,
    /// Messages whose payload failed `--verify`, or acknowledgements naming another message.
    pub corrupt: u64,
    /// The CPU it was pinned to, if any, and the one it ended on.
    pub cpu: Option<usize>,
    pub cpu_observed: usize,
    /// Its timed thread's CPU time and context switches, per message it received.
    pub cpu_use: crate::measure::cpu::SideCpu,
}
