//! The command line: clap derive types only. [`crate::config`] turns them into a validated run.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Zero-copy IPC benchmarking harness: Unix sockets, TCP loopback and shared memory.
///
/// With no command, runs the default matrix (every transport, round-trip and one-way,
/// 64 B / 1 KiB / 64 KiB) and writes the summary under output/.
#[derive(Debug, Parser)]
#[command(name = "ipcbench", version, about, long_about = None, args_override_self = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Benchmark transports between this process and a peer process it starts.
    Run(Box<RunArgs>),
    /// Compare two result files per configuration: p50, p99 and throughput, old against new,
    /// with a verdict that accounts for the spread of repetitions.
    Compare {
        /// The result file to compare against.
        baseline: PathBuf,
        /// The new result file.
        current: PathBuf,
        /// Exit 1 when a metric regressed by more than this: `10%` for every metric, or per
        /// metric, e.g. `p50=5%,p99=20%,throughput=10%` (metrics not named are not gated).
        #[arg(long)]
        max_regression: Option<crate::compare::Thresholds>,
        /// Configurations present on one side only are an error, not just listed.
        #[arg(long)]
        strict: bool,
    },
    /// One self-contained HTML report with latency CDFs, histograms and charts against message
    /// size; several files are overlaid and compared against the first.
    Report {
        /// Result files (the first is the baseline for relative changes).
        #[arg(required = true)]
        results: Vec<PathBuf>,
        /// The HTML file to write.
        #[arg(long, short, default_value = "report.html")]
        out: PathBuf,
        /// Also write every chart as its own SVG file in this directory.
        #[arg(long)]
        svg: Option<PathBuf>,
    },
    /// Convert a result file for a CI dashboard (Bencher, github-action-benchmark).
    Export {
        /// The result file.
        result: PathBuf,
        /// bencher, github-smaller (latency) or github-bigger (throughput).
        #[arg(long, value_enum)]
        format: crate::export::dashboards::DashboardFormat,
        /// Where to write it; `-` or absent for stdout.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Coordinate runs with an `ipcbench client` (typically in a container) that connects to
    /// <socket-dir>/ipcbench.ctl. Takes the options of `run`.
    Host(Box<HostArgs>),
    /// The peer side for `ipcbench host`: connect to <socket-dir>/ipcbench.ctl, retrying until
    /// a host is there, and follow its plan.
    Client(ClientArgs),
    /// The peer side of `run`, started by it: control channel on stdin/stdout.
    #[command(hide = true)]
    Peer {
        /// Seconds any wait may last.
        #[arg(long, default_value_t = 10)]
        timeout_s: u64,
        /// Where relative endpoint paths live.
        #[arg(long)]
        socket_dir: PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
pub struct HostArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Seconds to wait for a client to connect.
    #[arg(long, default_value_t = 60)]
    pub client_timeout_s: u64,
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
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Transports, comma-separated: uds, tcp, shm, udp, uds-dgram; all = uds,tcp,shm.
    #[arg(long, short, default_value = "all", value_delimiter = ',')]
    pub transport: Vec<String>,

    /// Patterns, comma-separated: round-trip, one-way, throughput, or all
    /// [default: round-trip,one-way; with --connect: round-trip].
    #[arg(long, short, value_delimiter = ',')]
    pub pattern: Option<Vec<String>>,

    /// Message sizes in bytes including the 16-byte header, comma-separated (a list is a
    /// sweep); suffixes K/KiB and M/MiB are powers of 1024.
    #[arg(long, short, default_value = "64,1KiB,64KiB", value_delimiter = ',')]
    pub size: Vec<String>,

    /// Recorded messages per run [default: 20000].
    #[arg(long, short = 'n', conflicts_with = "duration")]
    pub count: Option<u64>,

    /// Record for this long per run instead of a count (e.g. 500ms, 10s).
    #[arg(long, short)]
    pub duration: Option<String>,

    /// Messages sent before recording starts.
    #[arg(long, default_value_t = 1000)]
    pub warmup: u64,

    /// Pin the initiator and the peer to these CPUs: A,B.
    #[arg(long, value_delimiter = ',')]
    pub pin: Option<Vec<usize>>,

    /// How both sides wait for data: block (sleep in the kernel), spin (busy-poll), or hybrid
    /// (spin 50 µs, then sleep).
    #[arg(long, default_value = "block")]
    pub wait: String,

    /// Open loop: send this many messages per second, latency from the intended send time.
    #[arg(long)]
    pub rate: Option<u64>,

    /// Fill every payload with a pattern and check it on arrival.
    #[arg(long)]
    pub verify: bool,

    /// Wire formats on stream transports, comma-separated (a list is a sweep): raw,
    /// length-prefixed, json-lines.
    #[arg(long, default_value = "raw", value_delimiter = ',')]
    pub framing: Vec<String>,

    /// Datagram transports: how long a receiver waits for one message before counting it lost.
    #[arg(long, default_value_t = 100)]
    pub loss_timeout_ms: u64,

    /// Measure round trips against your own service instead of an ipcbench peer:
    /// tcp://HOST:PORT or unix:///path. It must echo each message (or, with json-lines, reply
    /// with an object carrying the sequence number in --reply-seq-field).
    #[arg(long)]
    pub connect: Option<String>,

    /// With --connect and json-lines: the reply field that carries the sequence number.
    #[arg(long, default_value = "seq")]
    pub reply_seq_field: String,

    /// Independent pairs measured at once; their histograms are merged.
    #[arg(long, default_value_t = 1)]
    pub concurrency: u32,

    /// Repeat every configuration this many times.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,

    /// Directory for socket files (created if it is the default and missing).
    #[arg(long, default_value = "sockets")]
    pub socket_dir: PathBuf,

    /// Directory for shared-memory mapping files [default: the socket directory].
    #[arg(long)]
    pub shm_dir: Option<PathBuf>,

    /// Slots per shared-memory ring [default: about 1 MiB of slots, 2 to 64].
    #[arg(long)]
    pub shm_slots: Option<usize>,

    /// Shared memory only: add one explicit copy on each side (private buffer <-> slot), to see
    /// what zero-copy buys.
    #[arg(long)]
    pub copy: bool,

    /// JSON summary file, rewritten after every run; `-` for stdout
    /// [default: output/ipcbench-<time>.json].
    #[arg(long, short)]
    pub out: Option<PathBuf>,

    /// Write every recorded message to this JSON-lines file (`-` for stdout).
    #[arg(long)]
    pub stream_json: Option<PathBuf>,

    /// Write every recorded message to this CSV file (`-` for stdout).
    #[arg(long)]
    pub stream_csv: Option<PathBuf>,

    /// Seconds any single wait may last (peer start, connect, a message) before giving up.
    #[arg(long, default_value_t = 10)]
    pub timeout_s: u64,

    /// No table, no progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

impl Default for RunArgs {
    fn default() -> Self {
        match Cli::parse_from(["ipcbench", "run"]).command {
            Some(Command::Run(args)) => *args,
            _ => unreachable!("`run` parses to Command::Run"),
        }
    }
}
