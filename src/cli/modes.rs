//! The flags of the commands that wrap a run: `ab` (two builds), `kube pod` (a manifest),
//! `host` and `client` (the two sides across a container or host boundary).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::RunArgs;
use crate::analysis::compare::Thresholds;

#[derive(Debug, Clone, Args)]
pub struct AbArgs {
    /// The baseline build: an ipcbench binary.
    pub old: PathBuf,
    /// The build under test: an ipcbench binary.
    pub new: PathBuf,
    /// Rounds; each runs the whole matrix once with each build. At least 6: fewer cannot bound
    /// a median at 95%.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(6..=1000))]
    pub rounds: u32,
    /// Exit 3 when a metric's whole interval is slower than this, 4 when the interval straddles
    /// it: `5%` for every metric, or per metric, e.g. `p50=5%,p99=20%,throughput=5%` (metrics
    /// not named are shown without a verdict).
    #[arg(long, default_value = "5%")]
    pub max_regression: Thresholds,
    /// Configurations only one build measured cannot be judged: exit 4, not just listed.
    #[arg(long)]
    pub strict: bool,
    /// The run options, passed to both builds' `run` (`--out` names the verdict file
    /// [default: output/ab-<time>.json]; `--repeat` and the streams do not apply).
    #[command(flatten)]
    pub run: RunArgs,
}

/// The flags of `ab` that are its own, not passed on to the builds' `run`.
pub const AB_OWN_ARGS: &[&str] = &["old", "new", "rounds", "max_regression", "strict", "out", "quiet"];
/// Run options that make no sense under `ab`, and why.
pub const AB_REFUSED_ARGS: &[(&str, &str)] = &[
    ("repeat", "does not apply to ab (rounds replace repetitions)"),
    ("stream_json", "does not apply to ab (per-message streams stay with run)"),
    ("stream_csv", "does not apply to ab (per-message streams stay with run)"),
    ("writer_cpu", "does not apply to ab (per-message streams stay with run)"),
    ("hlog", "does not apply to ab (interval logs stay with run)"),
];

#[derive(Debug, Clone, Subcommand)]
pub enum KubeCommand {
    /// One Pod, host and client containers sharing an emptyDir socket directory and a
    /// memory-backed /dev/shm; the host's run options are the options given here. The JSON
    /// summary goes to the host container's log.
    Pod(Box<KubePodArgs>),
}

#[derive(Debug, Clone, Args)]
pub struct KubePodArgs {
    /// The ipcbench image both containers run [default: the tag run_container_server.sh build
    /// gives, this version's].
    #[arg(long, default_value = crate::kube::IMAGE)]
    pub image: String,
    /// The Pod's name.
    #[arg(long, default_value = "ipcbench")]
    pub name: String,
    /// Whole CPUs each container requests, and is limited to: requests equal to limits make the
    /// Pod Guaranteed QoS, and a kubelet with the static CPU manager then gives each container
    /// cores of its own.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub cpus: u32,
    /// Memory each container requests, and is limited to, in MiB. The shm rings in the
    /// memory-backed /dev/shm count against the host container's.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(16..=1_048_576))]
    pub memory_mib: u64,
    /// The host's run options (the socket directory, shm directory and output are the
    /// manifest's).
    #[command(flatten)]
    pub run: RunArgs,
}

/// The flags of `kube pod` that are its own.
pub const KUBE_OWN_ARGS: &[&str] = &["image", "name", "cpus", "memory_mib"];
/// Run options the manifest decides.
pub const KUBE_REFUSED_ARGS: &[(&str, &str)] = &[
    ("socket_dir", "is the manifest's (the shared emptyDir at /app/sockets)"),
    ("trust_dirs", "is the manifest's (its emptyDirs are the pod's own)"),
    ("shm_dir", "is the manifest's (the memory-backed /dev/shm)"),
    ("out", "is the manifest's (the host container's log)"),
    ("stream_json", "has nowhere to go in a pod (the summary goes to the log)"),
    ("stream_csv", "has nowhere to go in a pod (the summary goes to the log)"),
    ("writer_cpu", "has nowhere to go in a pod (the summary goes to the log)"),
    ("hlog", "has nowhere to go in a pod (the summary goes to the log)"),
];

#[derive(Debug, Clone, Args)]
pub struct HostArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Seconds to wait for a client to connect.
    #[arg(long, default_value_t = 60)]
    pub client_timeout_s: u64,
    /// Where clients connect: unix:///path or tcp://ADDR:PORT [default:
    /// unix://<socket-dir>/ipcbench.ctl]. Over TCP only tcp, tcp-uring and udp run (nothing else crosses
    /// hosts), and an address other than loopback needs a token.
    #[arg(long)]
    pub control: Option<String>,
    /// A file holding the token clients must present [default: IPCBENCH_TOKEN; on a
    /// non-loopback TCP control address without either, one is generated and printed].
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The directory holding the host's control socket ipcbench.ctl (bind-mounted from the host).
    #[arg(long, default_value = "sockets")]
    pub socket_dir: PathBuf,
    /// Seconds to keep retrying while no host is listening.
    #[arg(long, default_value_t = 60)]
    pub connect_timeout_s: u64,
    /// Seconds any other single wait may last.
    #[arg(long, default_value_t = 10)]
    pub timeout_s: u64,
    /// Keep serving: after each host session, wait for the next host (no connect timeout).
    #[arg(long)]
    pub serve: bool,
    /// The host's control endpoint: unix:///path or tcp://HOST:PORT [default:
    /// unix://<socket-dir>/ipcbench.ctl].
    #[arg(long)]
    pub control: Option<String>,
    /// A file holding the token the host asks for [default: IPCBENCH_TOKEN].
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Accept a world-writable socket directory: only for a volume no other user can reach,
    /// such as a pod's emptyDir.
    #[arg(long)]
    pub trust_dirs: bool,
}
