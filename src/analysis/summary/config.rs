//! The configuration key as the schema carries it (in load curves, ab verdict files): the types
//! only; how a run's key is made and named is [`crate::analysis::key`].

use crate::measure::clock::ClockSource;
use crate::pattern::Pattern;
use crate::transport::framing::Framing;
use crate::transport::shm::notify::Notify;
use crate::transport::{TransportKind, WaitStrategy};

/// Linux's default pipe buffer: 16 pages of 4 KiB.
pub const DEFAULT_PIPE_BUFFER_BYTES: usize = 16 * 4096;

/// A run's configuration; see the module doc.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct ConfigKey {
    pub pattern: Pattern,
    pub size_bytes: usize,
    /// Everything else: what one curve of a chart against size is.
    pub series: SeriesKey,
}

/// A configuration without its pattern and size.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct SeriesKey {
    pub transport: TransportKind,
    pub framing: Framing,
    pub wait: WaitStrategy,
    /// Requested (initiator, peer) CPUs.
    pub pin: Option<(usize, usize)>,
    pub rate_per_s: Option<u64>,
    pub concurrency: u32,
    pub verify: bool,
    pub shm: Option<ShmKey>,
    /// Each FIFO's buffer (pipe only), when not the kernel's default: results from before
    /// `--pipe-size` existed, which do not say, are the same configuration as default ones.
    #[serde(default)]
    pub pipe_buffer_bytes: Option<usize>,
    pub external_service: Option<String>,
    /// The library behind a library transport, with its version: runs of two versions are
    /// different configurations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
    /// Fan-out: how many subscribers each message goes to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribers: Option<u32>,
    /// Fan-in: how many publishers one server thread serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publishers: Option<u32>,
    /// Many-clients: how many clients one server thread serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients: Option<u32>,
    /// The clock that stamped it: runs on different clocks are never repetitions of each other
    /// (results that do not say were monotonic).
    #[serde(default, skip_serializing_if = "is_monotonic")]
    pub clock: ClockSource,
}

fn is_monotonic(c: &ClockSource) -> bool {
    *c == ClockSource::Monotonic
}

/// What distinguishes one shm ring from another.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct ShmKey {
    pub slots: usize,
    pub filesystem: Option<String>,
    pub copy: bool,
    /// How sleepers were woken (the default futex also for spin waits, which never sleep).
    #[serde(default)]
    pub notify: Notify,
}
