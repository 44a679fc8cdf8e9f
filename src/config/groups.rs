//! The patterns of N peer processes (fan-out, fan-in, many-clients): their counts and their
//! placement, checked against the patterns, the transports and this process's limits.

use anyhow::{bail, Result};

use super::dedup;
use crate::cli::RunArgs;
use crate::pattern::Pattern;
use crate::transport::framing::Framing;
use crate::transport::shm::notify::Notify;
use crate::transport::{TransportKind, WaitStrategy};

/// The default `--subscribers`, `--publishers` and `--clients` sweep.
const DEFAULT_GROUP: [u32; 3] = [1, 2, 4];

/// The patterns with N peer processes, and their counts.
#[derive(Clone, Debug, Default)]
pub struct Groups {
    /// Fan-out: subscriber counts (a sweep); empty without `--pattern fan-out`.
    pub subscribers: Vec<u32>,
    /// Fan-in: publisher counts.
    pub publishers: Vec<u32>,
    /// Many-clients: client counts.
    pub clients: Vec<u32>,
    /// With `--pin`: ipcbench's own process's CPU, then peer `i`'s at `i + 1`.
    pub pins: Option<Vec<usize>>,
}

impl Groups {
    /// The counts `pattern` sweeps (`[None]` for a pattern of two processes).
    pub fn counts(&self, pattern: Pattern) -> Vec<Option<u32>> {
        let v = match pattern {
            Pattern::FanOut => &self.subscribers,
            Pattern::FanIn => &self.publishers,
            Pattern::ManyClients => &self.clients,
            _ => return vec![None],
        };
        v.iter().copied().map(Some).collect()
    }

    /// The most peer processes any run needs.
    pub fn most(&self) -> usize {
        self.subscribers.iter().chain(&self.publishers).chain(&self.clients).copied().max().unwrap_or(1)
            as usize
    }
}

/// `--subscribers`, `--publishers`, `--clients` and their `--pin` list, checked against the
/// patterns, the transports and this process's limits.
pub(super) fn groups(
    a: &RunArgs,
    patterns: &[Pattern],
    transports: &[TransportKind],
    connect: bool,
) -> Result<Groups> {
    use crate::transport::shm::broadcast::MAX_READERS;
    let mut g = Groups::default();
    let flags = [
        (Pattern::FanOut, "--subscribers", "subscriber", &a.subscribers, &mut g.subscribers),
        (Pattern::FanIn, "--publishers", "publisher", &a.publishers, &mut g.publishers),
        (Pattern::ManyClients, "--clients", "client", &a.clients, &mut g.clients),
    ];
    for (pattern, flag, one, given, counts) in flags {
        if !patterns.contains(&pattern) {
            if given.is_some() {
                bail!("{flag} applies to --pattern {pattern} only");
            }
            continue;
        }
        *counts = dedup(given.as_deref().unwrap_or(&DEFAULT_GROUP));
        if counts.contains(&0) {
            bail!("{flag} 0: a {pattern} needs at least one {one}");
        }
        let most = *counts.iter().max().expect("at least one value") as usize;
        if most > MAX_READERS {
            bail!("{flag} {most} is more than the {MAX_READERS} {one}s a {pattern} supports");
        }
        // Each peer is a process with a control channel and a data channel or two; over
        // iceoryx2 the publisher holds about 16 descriptors per subscriber (its ack service's
        // segments, event sockets and liveness socket: 32 open with 1 blocking subscriber, 80
        // with 4, 272 with 16, measured here).
        let per_peer = if transports.contains(&TransportKind::Iceoryx2) { 18 } else { 6 };
        let files = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(u64::MAX);
        let needed_files = 64 + per_peer * most as u64;
        if needed_files > files {
            bail!("{flag} {most} needs about {needed_files} open files here, more than the limit of {files} (ulimit -n)");
        }
        if let Some(procs) = rustix::process::getrlimit(rustix::process::Resource::Nproc).current {
            if most as u64 + 32 > procs {
                bail!("{flag} {most} starts {most} processes, too close to the limit of {procs} (ulimit -u)");
            }
        }
        if connect {
            bail!("--connect measures round trips only, not --pattern {pattern}");
        }
        if transports.contains(&TransportKind::GrpcUds) {
            bail!("--pattern {pattern} does not run over grpc-uds: gRPC has no publish-subscribe, and one server thread serving many channels waits on their descriptors, which tonic's runtime keeps to itself (grpc-uds runs round-trip, one-way and throughput)");
        }
        let allowed: &[TransportKind] = match pattern {
            Pattern::FanOut => &[
                TransportKind::Uds,
                TransportKind::Tcp,
                TransportKind::Shm,
                TransportKind::Memfd,
                TransportKind::Pipe,
                TransportKind::Mqueue,
                TransportKind::UdsUring,
                TransportKind::TcpUring,
                TransportKind::Iceoryx2,
                TransportKind::Zeromq,
                TransportKind::ZeromqTcp,
                TransportKind::Zenoh,
                TransportKind::ZenohTcp,
                TransportKind::ZenohShm,
            ],
            _ => &[
                TransportKind::Uds,
                TransportKind::Tcp,
                TransportKind::Shm,
                TransportKind::Memfd,
                TransportKind::Pipe,
            ],
        };
        if let Some(t) = transports.iter().find(|t| !allowed.contains(t)) {
            let names: Vec<String> = allowed.iter().map(|t| t.to_string()).collect();
            bail!("--pattern {pattern} runs over {}, not {t} (yet)", names.join(", "));
        }
        if a.rate.is_some() || a.rates.is_some() {
            bail!("--pattern {pattern} runs closed loop (every message is answered before the next): drop --rate/--rates");
        }
        if a.concurrency > 1 {
            bail!("--pattern {pattern} sets its own processes: --concurrency does not apply");
        }
        if a.pin_pairs.is_some() {
            bail!("--pin-pairs sweeps pairs; --pattern {pattern} takes --pin with a CPU per process");
        }
        let rings = transports.iter().any(|t| t.is_ring());
        if pattern == Pattern::FanOut && rings && a.copy {
            bail!("the fan-out broadcast ring has no --copy mode");
        }
        if pattern != Pattern::FanOut {
            if rings && a.notify != Notify::Eventfd && a.wait.iter().any(|&w| w != WaitStrategy::Spin) {
                bail!("--pattern {pattern}: one server thread sleeps on many rings only through eventfds: add --notify eventfd (or --wait spin)");
            }
            if a.framing.iter().any(|&f| f != Framing::Raw) {
                bail!("--pattern {pattern} runs raw framing only");
            }
        }
    }
    let most = g.most();
    g.pins = match a.pin.as_deref() {
        Some(p) if g.subscribers.len() + g.publishers.len() + g.clients.len() > 0 => {
            if p.len() != most + 1 {
                bail!(
                    "--pin with --pattern fan-out, fan-in or many-clients takes a CPU per process, ipcbench's own first: {} values for up to {most} peer process(es), got {}",
                    most + 1,
                    p.len()
                );
            }
            Some(p.to_vec())
        }
        _ => None,
    };
    Ok(g)
}
