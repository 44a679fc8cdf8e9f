//! Result builders for the unit tests: one place that knows how to make a plausible run and a
//! summary, so tests say only what they vary.

use super::summary::{FanOutResult, Integrity, Placement, RunResult, Summary, Throughput, SCHEMA_VERSION};
use crate::measure::env::Environment;
use crate::measure::histogram::LatencyStats;
use crate::pattern::Pattern;
use crate::transport::{TransportKind, WaitStrategy};

/// A 64 B spin run pinned to 0,1: latency runs get `p50 = value` and `p99 = 2 * value`,
/// throughput runs `bytes_per_s = value`.
pub fn run(transport: TransportKind, pattern: Pattern, value: u64) -> RunResult {
    let latency = pattern != Pattern::Throughput;
    let bytes_per_s = if latency { 0.0 } else { value as f64 };
    RunResult {
        transport,
        pattern,
        size_bytes: 64,
        repetition: 0,
        warmup: 0,
        wait: WaitStrategy::Spin,
        placement: Placement {
            initiator_cpu: Some(0),
            peer_cpu: Some(1),
            initiator_cpu_observed: 0,
            peer_cpu_observed: 1,
        },
        rate_per_s: None,
        verify: false,
        shm_slots: None,
        shm_filesystem: None,
        extra_copy: false,
        ring_notify: None,
        floor: None,
        pipe_buffer_bytes: None,
        clock: Default::default(),
        concurrency: 1,
        duration_ns: 1,
        latency_source: if latency { "initiator" } else { "none" }.into(),
        latency_ns: latency.then_some(LatencyStats { p50: value, p99: 2 * value, ..Default::default() }),
        histogram_v2: None,
        throughput: Throughput { messages_per_s: bytes_per_s / 64.0, bytes_per_s },
        integrity: Integrity::default(),
        framing: Default::default(),
        external_service: None,
        library: None,
        cpu: None,
        max_rss_bytes: None,
        intervals: vec![],
        interval_spread: None,
        extended_to_min_time: false,
        fan_out: None,
        many: None,
    }
}

/// A fan-out run to `subscribers` like [`run`] (its merged latency `p50 = value`,
/// `p99 = 2 * value`), all delivered at `p99 = 3 * value`; no per-subscriber figures.
pub fn fan_out_run(transport: TransportKind, subscribers: u32, value: u64) -> RunResult {
    let mut r = run(transport, Pattern::FanOut, value);
    r.fan_out = Some(FanOutResult {
        subscribers,
        mechanism: "one channel per subscriber".into(),
        all_delivered_ns: Some(LatencyStats { p50: value, p99: 3 * value, ..Default::default() }),
        all_delivered_histogram_v2: None,
        publish_ns: None,
        per_subscriber: Vec::new(),
        failed: None,
    });
    r
}

/// A summary holding `runs`.
pub fn summary(runs: Vec<RunResult>) -> Summary {
    Summary {
        schema_version: SCHEMA_VERSION,
        tool: "ipcbench".into(),
        started_at: String::new(),
        command: vec![],
        environment: Environment::detect(),
        peer_environment: None,
        topology: None,
        clock_check: None,
        runs,
        error: None,
        interrupted: None,
        load_curves: Vec::new(),
        cpu_pairs: Vec::new(),
    }
}
