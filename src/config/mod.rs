//! A validated run configuration, built from the parsed flags. Everything a user can get wrong
//! is caught here, before any process starts, with a one-line error naming the flag. The sweep
//! axes of placement and load are in [`sweeps`].

mod groups;
mod paths;
mod sweeps;

use groups::groups;
pub use groups::Groups;

pub use paths::{check_dir, DirTrust};
use paths::{check_socket_dir, check_writable};

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cli::{OrAll, RunArgs};
use crate::export::Outputs;
use crate::measure::clock::{ClockChoice, ClockSource};
use crate::pattern::{Params, Pattern, Stop};
use crate::transport::framing::{Framing, JSON_MIN_BYTES};
use crate::transport::shm::notify::Notify;
use crate::transport::{ChannelOptions, ChannelSpec, Endpoint, TransportKind, WaitStrategy};

const DEFAULT_COUNT: u64 = 20_000;
/// `--size` when not given; each transport and framing runs the ones it can carry.
const DEFAULT_SIZES: [usize; 3] = [64, 1 << 10, 64 << 10];
const DEFAULT_WARMUP: u64 = 1_000;
/// How long each rate of a `--rates` sweep records without --count or --duration.
const SWEEP_RATE_NS: u64 = 1_000_000_000;
/// The largest ring `--size` and `--shm-slots` may ask for.
const MAX_RING_BYTES: usize = 1 << 30;

/// Everything `ipcbench run` needs, checked.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The clock every timestamp comes from (`--clock`, `auto` resolved on this machine).
    pub clock: ClockSource,
    /// Whether `clock` was `auto`'s choice: a TSC that a peer cannot read falls back to
    /// monotonic instead of failing the run.
    pub clock_auto: bool,
    pub transports: Vec<TransportKind>,
    pub patterns: Vec<Pattern>,
    pub sizes: Vec<usize>,
    pub stop: Stop,
    /// `--warmup`, when given (otherwise it depends on the rate: [`RunConfig::params`]).
    pub warmup: Option<u64>,
    /// (initiator CPU, peer CPU) placements, a sweep: `[None]` unpinned, `[Some(p)]` `--pin`,
    /// several with `--pin-pairs`.
    pub pins: Vec<Option<(usize, usize)>>,
    /// Whether `pins` is a `--pin-pairs` sweep (each pair's floor is measured).
    pub pair_sweep: bool,
    /// Wait strategies (a sweep).
    pub waits: Vec<WaitStrategy>,
    /// Offered rates, a sweep: `[None]` is closed loop, `[Some(r)]` is `--rate r`.
    pub rates: Vec<Option<u64>>,
    /// `--rates auto`: `rates` is the auto ladder, and a configuration's climb stops after the
    /// first rate it does not sustain.
    pub auto_rates: bool,
    /// `--p99-target`.
    pub p99_target_ns: Option<u64>,
    /// Slice length of the interval histograms.
    pub interval_ns: u64,
    /// Least recording time of a throughput run with a count stop.
    pub min_throughput_ns: u64,
    pub verify: bool,
    pub repeat: u32,
    /// Pairs measured at once.
    pub concurrency: u32,
    /// The patterns of N peer processes: their counts and placement.
    pub groups: Groups,
    pub socket_dir: PathBuf,
    /// Wire formats on stream transports (a sweep).
    pub framings: Vec<Framing>,
    pub loss_timeout_ms: u64,
    /// An external service to measure against (`--connect`), with the reply's seq field.
    pub connect: Option<(Endpoint, String)>,
    /// Where data channels are made (socket dir, shm dir, copy, file mode).
    pub channels: ChannelOptions,
    /// `--shm-slots`, when given.
    pub shm_slots: Option<usize>,
    /// Where results go.
    pub outputs: Outputs,
    pub timeout: Duration,
    /// Sizes left out for a transport or framing that cannot carry them: only default sizes, or
    /// sizes of a transport that `all` brought in (a size asked of a named transport is refused).
    pub skipped: Vec<Skipped>,
}

/// A (transport, framing, size) the matrix leaves out, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Skipped {
    pub transport: TransportKind,
    /// Only this framing skips it (json-lines' minimum), or every framing.
    pub framing: Option<Framing>,
    pub size_bytes: usize,
    pub why: String,
    /// Whether the size is one of the defaults (else the transport came with `all`).
    pub default_size: bool,
}

impl Skipped {
    /// The note a run prints about it.
    pub fn note(&self) -> String {
        let framing = self.framing.map(|f| format!(" {f}")).unwrap_or_default();
        let size = crate::format::format_bytes(self.size_bytes as u64);
        let sizes =
            if self.default_size { "the default sizes" } else { "--size (it came with --transport all)" };
        format!("note: {}{framing} runs {sizes} without {size}: {}", self.transport, self.why)
    }
}

impl RunConfig {
    pub fn from_args(a: &RunArgs) -> Result<RunConfig> {
        let framings = dedup(&a.framing);
        let connect = a.connect.as_deref().map(|u| Endpoint::from_url(u, "--connect")).transpose()?;
        let mut transports = OrAll::expand(&a.transport, TransportKind::DEFAULT, &TransportKind::all());
        let named: Vec<TransportKind> =
            a.transport.iter().filter_map(|t| if let OrAll::One(v) = t { Some(*v) } else { None }).collect();
        let default_patterns = [Pattern::RoundTrip, Pattern::OneWay];
        let every_pattern = [Pattern::RoundTrip, Pattern::OneWay, Pattern::Throughput];
        let mut patterns = OrAll::expand(
            a.pattern.as_deref().unwrap_or(&[OrAll::Default]),
            &default_patterns,
            &every_pattern,
        );
        if let Some(ep) = &connect {
            // An external service: its own transport, round trips only.
            transports =
                vec![if matches!(ep, Endpoint::Tcp(_)) { TransportKind::Tcp } else { TransportKind::Uds }];
            if a.pattern.is_some() && patterns != [Pattern::RoundTrip] {
                bail!("--connect measures round trips only (--pattern round-trip)");
            }
            patterns = vec![Pattern::RoundTrip];
        }
        let sizes = dedup(a.size.as_deref().unwrap_or(&DEFAULT_SIZES));
        let mut skipped = Vec::new();
        for &framing in &framings {
            if framing != Framing::Raw {
                if let Some(t) = transports.iter().find(|t| !t.is_stream()) {
                    bail!("--framing {framing} applies to stream transports (uds, tcp), not {t}");
                }
            }
            if framing == Framing::JsonLines && a.verify {
                bail!(
                    "--verify checks payload bytes, which json-lines does not carry (its payload is padding)"
                );
            }
            if framing == Framing::JsonLines {
                let why =
                    format!("json-lines needs at least {JSON_MIN_BYTES} bytes (one JSON object per line)");
                for &s in sizes.iter().filter(|&&s| s < JSON_MIN_BYTES) {
                    if a.size.is_some() {
                        bail!("--framing json-lines needs --size of at least {JSON_MIN_BYTES} bytes (one JSON object per line), not {s}");
                    }
                    for &transport in &transports {
                        skipped.push(Skipped {
                            transport,
                            framing: Some(framing),
                            size_bytes: s,
                            why: why.clone(),
                            default_size: true,
                        });
                    }
                }
            }
        }
        for &t in &transports {
            for &s in &sizes {
                let Some(why) = t.size_refusal(s) else { continue };
                if a.size.is_some() && named.contains(&t) {
                    bail!("--size {why}");
                }
                skipped.push(Skipped {
                    transport: t,
                    framing: None,
                    size_bytes: s,
                    why,
                    default_size: a.size.is_none(),
                });
            }
            if let Some(last) = skipped.iter().rfind(|k| k.transport == t && k.framing.is_none()) {
                if sizes.iter().all(|&s| t.size_refusal(s).is_some()) {
                    bail!("--size {}", last.why);
                }
            }
        }
        let (rates, auto_rates) = sweeps::rates(a.rate, a.rates.as_deref())?;
        let stop = match (a.duration, a.count) {
            (Some(d), _) => Stop::DurationNs(d.as_nanos().min(u64::MAX as u128) as u64),
            (None, Some(n)) => Stop::Count(n),
            // A sweep measures each rate for a while, not a count (slow at 1000/s).
            (None, None) if a.rates.is_some() => Stop::DurationNs(SWEEP_RATE_NS),
            (None, None) => Stop::Count(DEFAULT_COUNT),
        };
        if a.pin_pairs.is_some() && connect.is_some() {
            bail!("--pin-pairs sweeps ipcbench's own peer; with --connect give one --pin");
        }
        if a.rates.is_some() && connect.is_some() {
            bail!("--rates sweeps ipcbench's own peer; with --connect give one --rate");
        }
        let groups = groups(a, &patterns, &transports, connect.is_some())?;
        let pair_pin = match (&groups.pins, a.pin.as_deref()) {
            (Some(p), _) => Some(&p[..2]),
            (_, pin) => pin,
        };
        let pins = sweeps::pins(pair_pin, a.pin_pairs.as_deref())?;
        if let Some(p) = &groups.pins {
            for &cpu in &p[1..] {
                sweeps::pins(Some(&[p[0], cpu]), None)?;
            }
        }
        let writer = sweeps::writer_place(
            a.writer_cpu,
            a.stream_json.is_some() || a.stream_csv.is_some(),
            &pins,
            groups.pins.as_deref(),
        )?;
        let trust = if a.trust_dirs { DirTrust::AnyMode } else { DirTrust::NotWorldWritable };
        let socket_dir = check_socket_dir(&a.socket_dir, trust)?;
        let shm_dir = match &a.shm_dir {
            Some(d) => check_dir(d, "shared-memory directory", trust.or_sticky())?,
            None => socket_dir.clone(),
        };
        let shm_slots = a.shm_slots.map(|n| n as usize);
        if transports.iter().any(|t| t.is_ring()) {
            for &pattern in &patterns {
                for &size in &sizes {
                    let slots = slot_policy(shm_slots, size, pattern);
                    if size.div_ceil(64) * 64 * slots > MAX_RING_BYTES {
                        bail!("--size {size} with {slots} shm slots needs rings over 1 GiB");
                    }
                }
            }
        }
        if a.copy && !transports.iter().any(|t| t.is_ring()) {
            bail!("--copy applies to the shared-memory transports only (shm, memfd); add --transport shm");
        }
        if a.notify != Notify::Futex {
            if !transports.iter().any(|t| t.is_ring()) {
                bail!(
                    "--notify applies to the shared-memory transports only (shm, memfd); add --transport shm"
                );
            }
            if a.wait.iter().all(|&w| w == WaitStrategy::Spin) {
                bail!("--notify chooses how a sleeping waiter is woken, and --wait spin never sleeps: add --wait block or hybrid");
            }
        }
        if let Some(why) = transports.iter().find_map(|t| t.unavailable()) {
            bail!("{why}");
        }
        if a.pipe_size.is_some() && !transports.contains(&TransportKind::Pipe) {
            bail!("--pipe-size applies to the pipe transport only; add --transport pipe");
        }
        let clock = a.clock.resolve().map_err(anyhow::Error::msg)?;
        // A socket directory shared with a group (a container's user) gets group-accessible
        // files; otherwise only the owner may use them.
        let file_mode = crate::sys::shared_file_mode(&socket_dir);
        let channels = ChannelOptions {
            socket_dir: socket_dir.clone(),
            shm_dir,
            copy: a.copy,
            notify: a.notify,
            pipe_buffer_bytes: a.pipe_size,
            file_mode,
            timeout: Duration::from_secs(a.timeout_s),
            data_ip: std::net::Ipv4Addr::LOCALHOST.into(),
        };
        let out = match &a.out {
            Some(p) => p.clone(),
            None => {
                std::fs::create_dir_all("output").context("creating the output directory output/")?;
                let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
                PathBuf::from(format!(
                    "output/ipcbench-{}.json",
                    stamp.replace(':', "").trim_end_matches('Z')
                ))
            }
        };
        let hlog = match &a.hlog {
            Some(p) if p.as_os_str() == "-" => {
                bail!("--hlog needs a file: the interval log cannot go to stdout")
            }
            Some(p) => Some(p.clone()),
            None if out.as_os_str() == "-" => None,
            None => Some(crate::export::hlog::path_beside(&out)),
        };
        for path in std::iter::once(&out).chain(&a.stream_json).chain(&a.stream_csv).chain(&hlog) {
            check_writable(path)?;
        }
        Ok(RunConfig {
            clock,
            clock_auto: a.clock == ClockChoice::Auto,
            transports,
            patterns,
            sizes,
            stop,
            warmup: a.warmup,
            pins,
            pair_sweep: a.pin_pairs.is_some(),
            waits: dedup(&a.wait),
            rates,
            auto_rates,
            p99_target_ns: a.p99_target.map(|d| d.as_nanos().min(u64::MAX as u128) as u64),
            interval_ns: a.interval.map_or_else(
                || crate::measure::intervals::interval_for(stop_duration_ns(stop)),
                |d| d.as_nanos().min(u64::MAX as u128) as u64,
            ),
            min_throughput_ns: a.min_time.as_nanos().min(u64::MAX as u128) as u64,
            verify: a.verify,
            repeat: a.repeat,
            concurrency: a.concurrency,
            groups,
            socket_dir,
            framings,
            loss_timeout_ms: a.loss_timeout_ms,
            connect: connect.map(|ep| (ep, a.reply_seq_field.clone())),
            channels,
            shm_slots,
            outputs: Outputs {
                out,
                stream_json: a.stream_json.clone(),
                stream_csv: a.stream_csv.clone(),
                hlog,
                quiet: a.quiet,
                each: a.each,
                writer,
            },
            timeout: Duration::from_secs(a.timeout_s),
            skipped,
        })
    }

    /// Whether the matrix measures `size_bytes` over `transport` with `framing`.
    pub fn runs(&self, transport: TransportKind, framing: Framing, size_bytes: usize) -> bool {
        !self.skipped.iter().any(|k| {
            k.transport == transport && k.size_bytes == size_bytes && k.framing.map_or(true, |f| f == framing)
        })
    }

    /// The pattern half of a run at an offered rate (or closed loop): built here, once, for
    /// every run of the matrix.
    pub fn params(&self, pattern: Pattern, rate_per_s: Option<u64>, wait: WaitStrategy) -> Params {
        Params {
            pattern,
            stop: self.stop,
            warmup: self.warmup.unwrap_or(match rate_per_s {
                // 100 ms worth at the rate: a warm-up of 1000 messages at 1000/s is a second.
                Some(r) => (r / 10).clamp(1, DEFAULT_WARMUP),
                None => DEFAULT_WARMUP,
            }),
            rate_per_s,
            verify: self.verify && self.connect.is_none(),
            keep_samples: self.outputs.keeps_samples(),
            interval_ns: self.interval_ns,
            min_duration_ns: if pattern == Pattern::Throughput { self.min_throughput_ns } else { 0 },
            spin_pacing: wait == WaitStrategy::Spin,
        }
    }

    /// The channel half of a run.
    pub fn channel(
        &self,
        size_bytes: usize,
        framing: Framing,
        wait: WaitStrategy,
        pattern: Pattern,
    ) -> ChannelSpec {
        ChannelSpec {
            size_bytes,
            wait,
            framing,
            loss_timeout_ms: self.loss_timeout_ms,
            shm_slots: slot_policy(self.shm_slots, size_bytes, pattern),
        }
    }
}

/// Slots per shm ring: `--shm-slots`, or the default for the pattern.
///
/// Latency patterns have one message in flight, and a short ring is measurably faster for them
/// (64 slots against 2 on this machine: ~210 against ~150 ns for a 64 B round trip; a small
/// ring also keeps 4 KiB slots inside L1). Throughput wants room to run ahead: about 4 MiB of
/// slots, at least 4 and at most 64 of them.
pub fn slot_policy(requested: Option<usize>, size_bytes: usize, pattern: Pattern) -> usize {
    requested.unwrap_or(match pattern {
        Pattern::Throughput => ((4 << 20) / (size_bytes.div_ceil(64) * 64)).clamp(4, 64),
        _ => 2,
    })
}

fn stop_duration_ns(stop: Stop) -> Option<u64> {
    match stop {
        Stop::DurationNs(d) => Some(d),
        Stop::Count(_) => None,
    }
}

/// The values of a list, each once, in order.
pub(crate) fn dedup<T: Copy + PartialEq>(items: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for v in items {
        if !out.contains(v) {
            out.push(*v);
        }
    }
    out
}

#[cfg(test)]
mod tests;
