//! The JSON summary: these serde types *are* the schema of a result file. They sit below the
//! code that computes them (key, load, stats, merge): this module imports none of it.
//!
//! Integers are nanoseconds or bytes, with the unit in the name. Bump [`SCHEMA_VERSION`] on any
//! change that an older reader would misread.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

mod config;
mod curve;
mod groups;

pub use config::{ConfigKey, SeriesKey, ShmKey, DEFAULT_PIPE_BUFFER_BYTES};
pub use curve::{LoadCurve, LoadPoint};
pub use groups::{FanOutResult, ManyResult, PeerFigures, SubscriberResult};

use crate::measure::clock::{ClockCheck, ClockSource};
use crate::measure::env::Environment;
use crate::measure::histogram::LatencyStats;
use crate::pattern::Pattern;
use crate::transport::{TransportKind, WaitStrategy};

/// Version of the result-file layout.
pub const SCHEMA_VERSION: u32 = 1;

/// A result file: one invocation of ipcbench, every run it finished.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    /// Layout version of this file ([`SCHEMA_VERSION`] when written).
    pub schema_version: u32,
    /// Always `"ipcbench"`: tells a result file from any other JSON.
    pub tool: String,
    /// When the invocation started, RFC 3339 UTC.
    pub started_at: String,
    /// The command line exactly as given.
    pub command: Vec<String>,
    /// The machine the initiator ran on.
    pub environment: Environment,
    /// The machine the peer ran on (differs from `environment` across a container boundary).
    pub peer_environment: Option<Environment>,
    /// Where the peer ran relative to the initiator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<Topology>,
    /// Whether initiator and peer read one `CLOCK_MONOTONIC` (one-way needs it).
    pub clock_check: Option<ClockCheck>,
    /// One entry per finished (transport, pattern, size, rate, repetition), in run order.
    pub runs: Vec<RunResult>,
    /// Every configuration measured at two or more offered rates (`--rates`): its latency
    /// against load and its knee.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_curves: Vec<LoadCurve>,
    /// With `--pin-pairs`: every CPU pair swept, what its two CPUs share and its cache-line
    /// floor, measured in this run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpu_pairs: Vec<CpuPair>,
    /// Set when the invocation stopped early: what went wrong. The runs above still stand.
    pub error: Option<String>,
    /// Set when a signal stopped the invocation (`SIGINT`, `SIGTERM`): the runs above finished,
    /// the one in progress was abandoned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
}

/// Where the peer ran relative to the initiator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    /// Both on one machine, neither in a container (`ipcbench run`, or host and client side by
    /// side).
    SameHost,
    /// One of them in a container on the same machine (a bind-mounted socket directory).
    HostContainer,
    /// Two containers of one Kubernetes pod (`POD_NAME` equal on both sides).
    PodSidecar,
    /// Different machines: the control channel is TCP to an address other than loopback.
    CrossHost,
}

crate::display_as_value_name!(Topology);

impl Topology {
    /// Judges the topology from both environments and how the peer was reached.
    pub fn of(spawned: bool, remote_tcp: bool, mine: &Environment, peer: &Environment) -> Topology {
        if spawned {
            Topology::SameHost
        } else if remote_tcp {
            Topology::CrossHost
        } else if mine.pod_name.is_some() && mine.pod_name == peer.pod_name {
            Topology::PodSidecar
        } else if mine.in_container || peer.in_container {
            Topology::HostContainer
        } else {
            Topology::SameHost
        }
    }
}

/// One measured configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub transport: TransportKind,
    pub pattern: Pattern,
    /// Message size including the 16-byte header.
    pub size_bytes: usize,
    /// 0-based repetition of this configuration.
    pub repetition: u32,
    /// Messages sent before recording started.
    pub warmup: u64,
    /// How both sides wait for data.
    pub wait: WaitStrategy,
    /// Where the two processes ran.
    pub placement: Placement,
    /// Open-loop send rate, if any (latency then counts from the intended send time).
    pub rate_per_s: Option<u64>,
    /// Whether payloads were filled and checked.
    pub verify: bool,
    /// Slots per shared-memory ring (shm only).
    pub shm_slots: Option<usize>,
    /// Filesystem of the mapping file (shm only): tmpfs (`--shm-dir /dev/shm`) is faster than a
    /// disk-backed page cache here, so compare shm results only on the same one.
    pub shm_filesystem: Option<String>,
    /// Independent pairs measured at once; latency histograms and counts are merged over them.
    pub concurrency: u32,
    /// Whether each side added one explicit copy (shm `--copy`); sockets always copy in the kernel.
    pub extra_copy: bool,
    /// How a sleeping ring waiter was woken (shm and memfd with block or hybrid waits).
    #[serde(default)]
    pub ring_notify: Option<crate::transport::shm::notify::Notify>,
    /// The cache-line floor between the two pinned CPUs, measured just before this run (shm and
    /// memfd pinned to two CPUs); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<RunFloor>,
    /// Each FIFO's buffer as the kernel set it (pipe only; `--pipe-size`).
    #[serde(default)]
    pub pipe_buffer_bytes: Option<usize>,
    /// The clock every timestamp of this run came from (`monotonic` in results that do not say).
    #[serde(default)]
    pub clock: ClockSource,
    /// Length of the recorded phase on the recording side.
    pub duration_ns: u64,
    /// Which side recorded latencies: `initiator` (round-trip) or `peer` (one-way);
    /// `none` for throughput.
    pub latency_source: String,
    /// Latency statistics over recorded messages; absent for throughput.
    pub latency_ns: Option<LatencyStats>,
    /// The full latency histogram, HdrHistogram V2 encoding in base64 (for CDFs and merging).
    pub histogram_v2: Option<String>,
    pub throughput: Throughput,
    pub integrity: Integrity,
    /// Wire format on stream transports (`raw` elsewhere).
    #[serde(default)]
    pub framing: crate::transport::framing::Framing,
    /// The user's service this was measured against (`--connect`), if any.
    #[serde(default)]
    pub external_service: Option<String>,
    /// The library a library transport measured and its version (`zenoh 1.10.2`); absent for
    /// ipcbench's own mechanisms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
    /// CPU time and context switches of each side's timed thread(s), in total and per message.
    #[serde(default)]
    pub cpu: Option<crate::measure::cpu::CpuCost>,
    /// Each side's peak resident memory (`getrusage` `ru_maxrss`) as the run ended: a process's
    /// peak up to and including this run, so it grows along a matrix only if memory does.
    /// Absent in results written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rss_bytes: Option<crate::measure::memory::MaxRss>,
    /// The recorded phase in slices of time, as the recording side saw it (the full interval
    /// histograms are in the `.hlog` file beside the summary).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<IntervalStats>,
    /// Whether the run recorded more messages than its count asked for, to measure for at
    /// least its minimum duration (`--min-time`, throughput).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub extended_to_min_time: bool,
    /// How much the rate of the slices varied; absent with fewer than two full slices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_spread: Option<IntervalSpread>,
    /// Fan-out only: the subscribers, the all-delivered latency, and each subscriber's own
    /// figures (`latency_ns` is every subscriber's latencies merged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fan_out: Option<FanOutResult>,
    /// Fan-in and many-clients: the peers one server thread served, each one's figures, and
    /// the server's CPU per message (`latency_ns` is every peer's latencies merged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub many: Option<ManyResult>,
}

/// One slice of a run's recorded phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntervalStats {
    /// Start of the slice, from the start of the first.
    pub start_offset_ns: u64,
    pub duration_ns: u64,
    /// Messages that arrived in the slice.
    pub messages: u64,
    pub messages_per_s: f64,
    /// Latency percentiles of the slice (absent when nothing arrived in it).
    pub p50_ns: Option<u64>,
    pub p99_ns: Option<u64>,
    pub max_ns: Option<u64>,
}

/// The spread of the per-slice rates over a run's full-length slices (the last, shorter slice
/// left out).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntervalSpread {
    /// Full slices the spread is taken over.
    pub slices: usize,
    pub min_messages_per_s: f64,
    pub median_messages_per_s: f64,
    pub max_messages_per_s: f64,
    /// Whether a slice's rate is more than [`UNSTEADY_FRACTION`] away from the median: a
    /// hiccup of the machine in the run, whose overall figure should not be trusted alone.
    pub unsteady: bool,
}

/// How far one slice's rate may be from the median slice's before a run counts as unsteady.
pub const UNSTEADY_FRACTION: f64 = 0.25;

impl IntervalSpread {
    /// The spread of the slices of a run (slices of `length_ns`; a silence spans several and
    /// counts as one at rate 0), or `None` with fewer than two full slices.
    pub fn of(intervals: &[IntervalStats], length_ns: u64) -> Option<IntervalSpread> {
        let mut rates: Vec<f64> =
            intervals.iter().filter(|i| i.duration_ns >= length_ns).map(|i| i.messages_per_s).collect();
        if rates.len() < 2 {
            return None;
        }
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        let (min, max) = (rates[0], rates[rates.len() - 1]);
        let off = |r: f64| (r - median).abs() > UNSTEADY_FRACTION * median;
        Some(IntervalSpread {
            slices: rates.len(),
            min_messages_per_s: min,
            median_messages_per_s: median,
            max_messages_per_s: max,
            unsteady: off(min) || off(max),
        })
    }
}

/// One CPU pair of a `--pin-pairs` sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CpuPair {
    pub initiator_cpu: usize,
    pub peer_cpu: usize,
    /// What the two CPUs share (sysfs): `smt-siblings`, `shared-l2`, `shared-l3`,
    /// `no-shared-cache`, or `unknown`.
    pub relation: crate::measure::topology::Relation,
    /// A cache line bounced between two threads on these CPUs, ns per round trip (median of
    /// batches): the physical floor of any round trip between them.
    pub cache_line_round_trip_ns: u64,
}

/// A ring run's floor: a cache line bounced between its two pinned CPUs right before it, so
/// that a change of the machine's speed between runs (a VM's vCPUs moved to other host cores)
/// shows in the run and its floor alike.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunFloor {
    /// ns per round trip of one cache line between the two CPUs (median of batches), the same
    /// measurement as a pair sweep's `cpu_pairs`: no round trip between them can be faster.
    pub cache_line_round_trip_ns: u64,
    /// The run's round-trip p50 over `cache_line_round_trip_ns` (1.0 would be the hardware's
    /// limit). Round-trip runs of one pair only: one-way and throughput have no round trip to
    /// set against it, and several pairs share the two CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_to_floor: Option<f64>,
}

impl RunFloor {
    /// The floor of `run`, measured at `cache_line_round_trip_ns`.
    pub fn of(run: &RunResult, cache_line_round_trip_ns: u64) -> RunFloor {
        let ratio = match (run.pattern, run.concurrency, run.latency_ns) {
            (Pattern::RoundTrip, 1, Some(l)) if cache_line_round_trip_ns > 0 => {
                Some(l.p50 as f64 / cache_line_round_trip_ns as f64)
            }
            _ => None,
        };
        RunFloor { cache_line_round_trip_ns, p50_to_floor: ratio }
    }
}

/// Requested and observed CPUs of both sides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// CPU the initiator was pinned to (`--pin A,_`), or none.
    pub initiator_cpu: Option<usize>,
    /// CPU the peer was pinned to (`--pin _,B`), or none.
    pub peer_cpu: Option<usize>,
    /// CPU the initiator was running on when the run ended.
    pub initiator_cpu_observed: usize,
    /// CPU the peer was running on when the run ended.
    pub peer_cpu_observed: usize,
}

/// Rates as the receiving side saw them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub messages_per_s: f64,
    pub bytes_per_s: f64,
}

/// What arrived, and in what shape. Counts exclude warm-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integrity {
    /// Recorded messages the initiator sent.
    pub sent: u64,
    /// Recorded messages that arrived at the recording side.
    pub received: u64,
    /// Sent but never received (`sent - received`): datagrams dropped, replies never seen.
    #[serde(default)]
    pub lost: u64,
    /// Messages whose sequence number was not the next one expected.
    pub out_of_order: u64,
    /// Messages that failed the payload check (`--verify`) or echoes of another message.
    pub corrupt: u64,
}

/// Writes `text` to `path` through a temporary file beside it (`<path>.tmp`) renamed over it,
/// so a reader or a crash never sees half a file; one writer at a time (the signal handler may
/// rewrite a summary while a run ends). On failure (a full disk, a removed folder) the temporary
/// file is removed and `path` keeps its last complete version.
pub fn write_atomically(path: &Path, text: &str) -> Result<()> {
    static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("writing {}", path.display()))
}

impl Summary {
    /// Writes the summary to `path` atomically (a temporary file renamed over it), so a reader
    /// or a crash never sees half a file. `-` writes to stdout.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        if path == Path::new("-") {
            print!("{text}");
            return Ok(());
        }
        write_atomically(path, &text)
    }

    /// Reads a result file, refusing anything that is not an ipcbench result of this schema.
    pub fn read(path: &Path) -> Result<Summary> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Summary::from_json(&text, &path.display().to_string())
    }

    /// [`read`](Self::read) from the text of a result file; errors name it `name`.
    pub fn from_json(text: &str, name: &str) -> Result<Summary> {
        let value: serde_json::Value =
            serde_json::from_str(text).with_context(|| format!("{name} is not JSON"))?;
        if value.get("tool").and_then(|t| t.as_str()) != Some("ipcbench") {
            bail!("{name} is not an ipcbench result file");
        }
        match value.get("schema_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(v) => bail!("{name} has schema version {v}; this ipcbench reads version {SCHEMA_VERSION}"),
            None => bail!("{name} has no schema_version"),
        }
        serde_json::from_value(value).with_context(|| format!("{name} does not match the result schema"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(duration_ns: u64, messages_per_s: f64) -> IntervalStats {
        IntervalStats {
            start_offset_ns: 0,
            duration_ns,
            messages: 0,
            messages_per_s,
            p50_ns: None,
            p99_ns: None,
            max_ns: None,
        }
    }

    #[test]
    fn a_hiccup_in_one_slice_makes_a_run_unsteady_and_the_short_last_slice_does_not_count() {
        let steady = [slice(100, 1000.0), slice(100, 1100.0), slice(100, 950.0), slice(30, 10.0)];
        let s = IntervalSpread::of(&steady, 100).unwrap();
        assert_eq!((s.slices, s.min_messages_per_s, s.max_messages_per_s), (3, 950.0, 1100.0));
        assert_eq!(s.median_messages_per_s, 1000.0);
        assert!(!s.unsteady);
        let hiccup = [slice(100, 1000.0), slice(100, 1000.0), slice(100, 100.0)];
        assert!(IntervalSpread::of(&hiccup, 100).unwrap().unsteady);
        // A silence spanning three slices is one slice at rate 0.
        let silent = [slice(100, 1000.0), slice(300, 0.0), slice(100, 1000.0)];
        assert!(IntervalSpread::of(&silent, 100).unwrap().unsteady);
        assert!(IntervalSpread::of(&[slice(100, 5.0)], 100).is_none(), "one slice has no spread");
    }
}
