//! What one side of a run measured, and how concurrent pairs' results add up.

use serde::{Deserialize, Serialize};

use crate::measure::cpu::CpuUse;
use crate::measure::histogram::LatencyHistogram;
use crate::measure::intervals::{self, IntervalHistogram};

/// What one side measured.
#[derive(Clone, Debug, Default)]
pub struct SideResult {
    /// Latencies of recorded messages (empty on a side that does not record).
    pub histogram: LatencyHistogram,
    /// Messages sent, warm-up and stop message excluded.
    pub sent: u64,
    /// Messages received, warm-up and stop message excluded.
    pub received: u64,
    /// Messages whose sequence number was not the one expected.
    pub out_of_order: u64,
    /// Messages whose payload failed `--verify`, or echoes of another message.
    pub corrupt: u64,
    /// Receive time of the first and last recorded message (0 when none).
    pub first_recv_ns: u64,
    pub last_recv_ns: u64,
    /// Start and end of the recorded phase on this side.
    pub start_ns: u64,
    pub end_ns: u64,
    /// Samples the streams' pool had no room for (0 unless streaming and the writer fell
    /// behind).
    pub samples_dropped: u64,
    /// What this side's timed thread(s) used over the recorded phase.
    pub cpu: CpuUse,
    /// The recorded phase in slices of time (`histogram` is their sum).
    pub intervals: Vec<IntervalHistogram>,
}

impl SideResult {
    /// Adds the results of another concurrent pair to these.
    pub fn absorb(&mut self, o: SideResult) {
        self.histogram.add(&o.histogram);
        self.sent += o.sent;
        self.received += o.received;
        self.out_of_order += o.out_of_order;
        self.corrupt += o.corrupt;
        let earliest = |a: u64, b: u64| {
            if a == 0 {
                b
            } else if b == 0 {
                a
            } else {
                a.min(b)
            }
        };
        self.first_recv_ns = earliest(self.first_recv_ns, o.first_recv_ns);
        self.last_recv_ns = self.last_recv_ns.max(o.last_recv_ns);
        self.start_ns = earliest(self.start_ns, o.start_ns);
        self.end_ns = self.end_ns.max(o.end_ns);
        self.samples_dropped += o.samples_dropped;
        self.cpu.add_thread(&o.cpu);
        intervals::absorb(&mut self.intervals, o.intervals);
    }
}

/// A side's counts for one test, as the peer reports them over the control channel (its
/// histogram and samples follow as blocks).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideReport {
    pub sent: u64,
    pub received: u64,
    pub out_of_order: u64,
    pub corrupt: u64,
    pub first_recv_ns: u64,
    pub last_recv_ns: u64,
    pub start_ns: u64,
    pub end_ns: u64,
    /// The CPU the side ran on at the end of the test.
    pub cpu_observed: usize,
    /// Latencies above the histogram's range, recorded at its top (the V2 encoding of the
    /// histogram does not carry this count).
    #[serde(default)]
    pub clamped_samples: u64,
    /// What the side's timed thread(s) used over the recorded phase.
    #[serde(default)]
    pub cpu: CpuUse,
    /// The side's process's peak resident memory at the end of the test, bytes (0 from a peer
    /// too old to say).
    #[serde(default)]
    pub max_rss_bytes: u64,
    /// Samples this side could not keep for the streams (its pool was full).
    #[serde(default)]
    pub samples_dropped: u64,
}

impl SideResult {
    /// The counts of this result, for the report to the initiator, with this process's peak
    /// resident memory read now (the end of the test).
    pub fn report(&self, cpu_observed: usize) -> SideReport {
        SideReport {
            sent: self.sent,
            received: self.received,
            out_of_order: self.out_of_order,
            corrupt: self.corrupt,
            first_recv_ns: self.first_recv_ns,
            last_recv_ns: self.last_recv_ns,
            start_ns: self.start_ns,
            end_ns: self.end_ns,
            cpu_observed,
            clamped_samples: self.histogram.clamped(),
            cpu: self.cpu,
            max_rss_bytes: crate::measure::memory::max_rss_bytes(),
            samples_dropped: self.samples_dropped,
        }
    }
}
