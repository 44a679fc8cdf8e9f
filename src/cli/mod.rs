//! The command line: clap derive types only. [`crate::config`] turns them into a validated run.

pub mod history;
mod modes;
mod values;

pub use modes::{
    AbArgs, ClientArgs, HostArgs, KubeCommand, KubePodArgs, AB_OWN_ARGS, AB_REFUSED_ARGS, KUBE_OWN_ARGS,
    KUBE_REFUSED_ARGS,
};
use values::{
    at_least_one, one_or_all, parse_duration, parse_interval, parse_min_time, parse_pair_item, parse_rate,
    parse_rate_item,
};
pub use values::{passthrough_args, OrAll, PairItem, RateItem};

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::analysis::compare::Thresholds;
use crate::format::parse_size;
use crate::measure::clock::ClockChoice;
use crate::pattern::Pattern;
use crate::transport::framing::Framing;
use crate::transport::shm::notify::Notify;
use crate::transport::{TransportKind, WaitStrategy};

/// Zero-copy IPC benchmarking harness: latency and throughput between two processes over Unix
/// sockets, TCP, a shared-memory ring, pipes, message queues, io_uring, iceoryx2 and more.
///
/// With no command, runs the default matrix (uds, tcp and shm, round-trip and one-way,
/// 64 B / 1 KiB / 64 KiB) and writes the summary under output/: `ipcbench` alone is `ipcbench
/// run`, and run options go after `run`.
#[derive(Debug, Parser)]
#[command(name = "ipcbench", version, about, args_override_self = true, after_help = crate::exit::HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Benchmark transports between this process and a peer process it starts.
    Run(Box<RunArgs>),
    /// Compare two result files per configuration: p50, p99 and throughput, current against
    /// baseline, as the ratio of each side's median over its repetitions with a bootstrap 95%
    /// interval. With --max-regression it is a gate: exit 3 on a regression, 4 when it cannot
    /// judge (too few repetitions: run with --repeat).
    Compare {
        /// The result file to compare against.
        baseline: PathBuf,
        /// The new result file.
        current: PathBuf,
        /// Gate: exit 3 when a metric is slower beyond this, 4 when the interval cannot rule
        /// that out: `10%` for every metric, or per metric, e.g. `p50=5%,p99=20%,throughput=10%`
        /// (metrics not named get no verdict). Without it nothing is gated.
        #[arg(long)]
        max_regression: Option<Thresholds>,
        /// Configurations present on one side only cannot be judged: exit 4, not just listed.
        #[arg(long)]
        strict: bool,
    },
    /// Compare two builds of ipcbench: the run options' matrix measured with each build in
    /// interleaved, balanced rounds (A B, B A, ...), each metric judged by the 95% interval of
    /// its paired ratios. Exit 0: nothing regressed; 3: a regression; 4: undecided (add
    /// --rounds); 1: a failed run; 2: a usage error.
    Ab(Box<AbArgs>),
    /// Print Kubernetes manifests that run ipcbench unchanged on a cluster (or with `podman kube
    /// play`).
    Kube {
        #[command(subcommand)]
        what: KubeCommand,
    },
    /// One self-contained HTML report with latency CDFs, histograms and charts against message
    /// size; several files are overlaid and compared against the first.
    Report {
        /// Result files (the first is the baseline for relative changes).
        #[arg(required_unless_present = "history", conflicts_with = "history")]
        results: Vec<PathBuf>,
        /// Instead of result files, a history (ipcbench history add): one trend chart per
        /// series across commits, change points marked.
        #[arg(long)]
        history: Option<PathBuf>,
        /// The HTML file to write.
        #[arg(long, short, default_value = "report.html")]
        out: PathBuf,
        /// Also write every chart as its own SVG file in this directory.
        #[arg(long)]
        svg: Option<PathBuf>,
    },
    /// The results history across commits (SQLite): add results, find change points, export.
    History {
        #[command(subcommand)]
        what: history::HistoryCommand,
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
    /// Print a shell completion script, e.g. `ipcbench completions bash >
    /// ~/.local/share/bash-completion/completions/ipcbench`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff): `ipcbench man > ipcbench.1; man ./ipcbench.1`, or one command's
    /// with every flag: `ipcbench man run > ipcbench-run.1`.
    Man {
        /// The command whose page to print (run, compare, ab, ...) [default: the top-level page].
        command: Option<String>,
    },
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
pub struct RunArgs {
    /// Transports, comma-separated; `default` = uds,tcp,shm; `all` = every mechanism this build
    /// has.
    #[arg(long, short, default_value = "default", value_delimiter = ',', value_parser = one_or_all::<TransportKind>("uds,tcp,shm", "every mechanism this build has"))]
    pub transport: Vec<OrAll<TransportKind>>,

    /// Patterns, comma-separated [default: round-trip,one-way; with --connect: round-trip].
    #[arg(long, short, value_delimiter = ',', value_parser = one_or_all::<Pattern>("round-trip,one-way", "round-trip, one-way and throughput"))]
    pub pattern: Option<Vec<OrAll<Pattern>>>,

    /// Message sizes including the 16-byte header, comma-separated (a list is a sweep), at most
    /// 256 MiB: K/KiB, M/MiB, G/GiB are powers of 1024, KB/MB/GB powers of 1000 [default:
    /// 64,1KiB,64KiB, less what a transport or framing cannot carry].
    #[arg(long, short, value_delimiter = ',', value_parser = parse_size)]
    pub size: Option<Vec<usize>>,

    /// Recorded messages per run [default: 20000].
    #[arg(long, short = 'n', conflicts_with = "duration", value_parser = at_least_one::<u64>)]
    pub count: Option<u64>,

    /// Record for this long per run instead of a count (e.g. 500ms, 10s).
    #[arg(long, short, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Throughput runs stopped by a count keep going until they have recorded for at least this
    /// long, and say so (a 25 ms figure is one hiccup of the machine away from meaningless);
    /// 0s turns it off.
    #[arg(long, default_value = "1s", value_parser = parse_min_time)]
    pub min_time: Duration,

    /// Messages sent before recording starts [default: 1000; with --rate or --rates, 100 ms
    /// worth at the rate, at most 1000].
    #[arg(long)]
    pub warmup: Option<u64>,

    /// Pin the initiator and the peer to these CPUs: A,B. With fan-out, fan-in, many-clients: a
    /// CPU per process, ipcbench's own first, N+1 for the largest N (CPUs may repeat).
    #[arg(long, value_delimiter = ',', conflicts_with = "pin_pairs")]
    pub pin: Option<Vec<usize>>,

    /// With --pattern fan-out: subscriber processes, each receiving every message,
    /// comma-separated (a list is a sweep, e.g. 1,2,4,8,16), at most 256 [default: 1,2,4].
    #[arg(long, value_delimiter = ',')]
    pub subscribers: Option<Vec<u32>>,

    /// With --pattern fan-in: publisher processes served by one thread, as --subscribers.
    #[arg(long, value_delimiter = ',')]
    pub publishers: Option<Vec<u32>>,

    /// With --pattern many-clients: client processes served by one thread, as --subscribers.
    #[arg(long, value_delimiter = ',')]
    pub clients: Option<Vec<u32>>,

    /// A placement sweep: run every configuration with the initiator and the peer on each of
    /// these CPU pairs, initiator:peer (e.g. 0:1,0:2,2:3), or `all` ordered pairs of distinct
    /// CPUs this process may use. Each pair's cache-line ping-pong floor and what the two
    /// CPUs share (SMT core, L2, L3) are measured in the same run; the table and the report
    /// show p50 as a heat map.
    #[arg(long, value_delimiter = ',', value_parser = parse_pair_item)]
    pub pin_pairs: Option<Vec<PairItem>>,

    /// The clock every timestamp comes from, on both sides (docs/measuring.md, "The clock").
    #[arg(long, value_enum, default_value_t = ClockChoice::Auto)]
    pub clock: ClockChoice,

    /// How both sides wait for data, comma-separated (a list is a sweep).
    #[arg(long, value_enum, default_value = "block", value_delimiter = ',')]
    pub wait: Vec<WaitStrategy>,

    /// Open loop: send this many messages per second (e.g. 5000, 10k, 2M), latency from the
    /// intended send time.
    #[arg(long, value_parser = parse_rate, conflicts_with = "rates")]
    pub rate: Option<u64>,

    /// A load sweep: every configuration open-loop at each of these rates per second (e.g.
    /// 1k,10k,100k), or `auto`: 1k, 2k, 5k, 10k, ... until the first rate it cannot sustain.
    /// Each rate runs for 1 s unless --count or --duration says otherwise; the summary and
    /// the table give each configuration's knee.
    #[arg(long, value_delimiter = ',', value_parser = parse_rate_item)]
    pub rates: Option<Vec<RateItem>>,

    /// With --rates: the p99 a rate must stay under to count as sustained [default: 10x the
    /// lowest p99 of the sweep].
    #[arg(long, value_parser = parse_duration, requires = "rates")]
    pub p99_target: Option<Duration>,

    /// Cut each run's recorded phase into slices this long, one histogram each (the .hlog
    /// interval log, per-interval rates) [default: 100ms, or a hundredth of a longer --duration].
    #[arg(long, value_parser = parse_interval)]
    pub interval: Option<Duration>,

    /// Fill every payload with a pattern and check it on arrival.
    #[arg(long)]
    pub verify: bool,

    /// Wire formats on stream transports, comma-separated (a list is a sweep).
    #[arg(long, value_enum, default_value = "raw", value_delimiter = ',')]
    pub framing: Vec<Framing>,

    /// Datagram transports: how long a receiver waits for one message before counting it lost.
    #[arg(long, default_value_t = 100, value_parser = at_least_one::<u64>)]
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
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,

    /// Repeat every configuration this many times.
    #[arg(long, default_value_t = 1, value_parser = at_least_one::<u32>)]
    pub repeat: u32,

    /// Directory for socket files (created if it is the default and missing).
    #[arg(long, default_value = "sockets")]
    pub socket_dir: PathBuf,

    /// Directory for shared-memory mapping files [default: the socket directory].
    #[arg(long)]
    pub shm_dir: Option<PathBuf>,

    /// Accept world-writable socket and shm directories: only for volumes no other user can
    /// reach, such as a pod's emptyDirs (Kubernetes makes them mode 0777).
    #[arg(long)]
    pub trust_dirs: bool,

    /// Slots per shared-memory ring, 1 to 65536 [default: 2 for round-trip and one-way; for
    /// throughput about 4 MiB of slots, at least 4 and at most 64].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub shm_slots: Option<u32>,

    /// Shared memory only: add one explicit copy on each side (private buffer <-> slot), to see
    /// what zero-copy buys.
    #[arg(long)]
    pub copy: bool,

    /// Shared memory only: how a sleeping (block, hybrid) waiter is woken: a futex word in the
    /// mapping, or eventfds sent over the liveness socket (pollable with other descriptors).
    #[arg(long, value_enum, default_value_t = Notify::Futex)]
    pub notify: Notify,

    /// Pipes only: each FIFO's buffer, set with F_SETPIPE_SZ (the kernel rounds it up to a
    /// power of two pages; more than fs.pipe-max-size needs root) [default: the kernel's, 64 KiB].
    #[arg(long, value_parser = parse_size)]
    pub pipe_size: Option<usize>,

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

    /// The CPU the streams' writer thread runs on [default: an allowed CPU that no --pin or
    /// --pin-pairs uses; when there is none, or nothing is pinned, any allowed CPU].
    #[arg(long, value_name = "CPU")]
    pub writer_cpu: Option<usize>,

    /// Write every run's interval histograms to this HdrHistogram interval log [default:
    /// beside the summary, its .json replaced by .hlog; none when the summary goes to stdout].
    #[arg(long)]
    pub hlog: Option<PathBuf>,

    /// Seconds any single wait may last (peer start, connect, a message) before giving up.
    #[arg(long, default_value_t = 10, value_parser = at_least_one::<u64>)]
    pub timeout_s: u64,

    /// No table, no progress bar, no status lines or machine notes: with `--out -` stdout is the
    /// JSON summary alone, and stderr says something only when something goes wrong (an error, a
    /// dropped control connection, runs skipped).
    #[arg(long, short)]
    pub quiet: bool,

    /// The table shows every repetition as its own row (by default a configuration's
    /// repetitions are one row: their median and spread).
    #[arg(long)]
    pub each: bool,
}

impl Default for RunArgs {
    fn default() -> Self {
        match Cli::parse_from(["ipcbench", "run"]).command {
            Some(Command::Run(args)) => *args,
            _ => unreachable!("`run` parses to Command::Run"),
        }
    }
}
