//! A validated run configuration, built from the parsed flags. Everything a user can get wrong
//! is caught here, before any process starts, with a one-line error naming the flag.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cli::RunArgs;
use crate::pattern::{Pattern, Stop};
use crate::transport::framing::{Framing, JSON_MIN_BYTES};
use crate::transport::{ChannelOptions, Endpoint, TransportKind, WaitStrategy, HEADER_BYTES};

/// The largest message size accepted.
pub const MAX_SIZE_BYTES: usize = 256 << 20;
const DEFAULT_COUNT: u64 = 20_000;

/// Everything `ipcbench run` needs, checked.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub transports: Vec<TransportKind>,
    pub patterns: Vec<Pattern>,
    pub sizes: Vec<usize>,
    pub stop: Stop,
    pub warmup: u64,
    /// (initiator CPU, peer CPU).
    pub pin: Option<(usize, usize)>,
    pub wait: WaitStrategy,
    pub rate_per_s: Option<u64>,
    pub verify: bool,
    pub repeat: u32,
    /// Pairs measured at once.
    pub concurrency: u32,
    pub socket_dir: PathBuf,
    /// Wire formats on stream transports (a sweep).
    pub framings: Vec<Framing>,
    pub loss_timeout_ms: u64,
    /// An external service to measure against (`--connect`), with the reply's seq field.
    pub connect: Option<(Endpoint, String)>,
    /// Where data channels are made (socket dir, shm dir, ring slots, copy).
    pub channels: ChannelOptions,
    pub out: PathBuf,
    pub stream_json: Option<PathBuf>,
    pub stream_csv: Option<PathBuf>,
    pub timeout: Duration,
    pub quiet: bool,
}

impl RunConfig {
    pub fn from_args(a: &RunArgs) -> Result<RunConfig> {
        let framings = parse_list(
            &a.framing,
            "--framing",
            &[Framing::Raw, Framing::LengthPrefixed, Framing::JsonLines],
        )?;
        let connect = a.connect.as_deref().map(parse_connect).transpose()?;
        let mut transports = parse_list(&a.transport, "--transport", TransportKind::ALL)?;
        let default_patterns = || vec!["round-trip".to_string(), "one-way".to_string()];
        let mut patterns =
            parse_list(&a.pattern.clone().unwrap_or_else(default_patterns), "--pattern", Pattern::ALL)?;
        if let Some(ep) = &connect {
            // An external service: its own transport, round trips only.
            transports =
                vec![if matches!(ep, Endpoint::Tcp(_)) { TransportKind::Tcp } else { TransportKind::Uds }];
            if a.pattern.is_some() && patterns != [Pattern::RoundTrip] {
                bail!("--connect measures round trips only (--pattern round-trip)");
            }
            patterns = vec![Pattern::RoundTrip];
        }
        let sizes = a.size.iter().map(|s| parse_size(s)).collect::<Result<Vec<_>>>()?;
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
                if let Some(&s) = sizes.iter().find(|&&s| s < JSON_MIN_BYTES) {
                    bail!(
                        "--framing json-lines needs --size of at least {JSON_MIN_BYTES} bytes (one JSON object per line), not {s}"
                    );
                }
            }
        }
        for t in &transports {
            if let (Some(max), Some(&s)) = (t.max_message_bytes(), sizes.iter().max()) {
                if s > max {
                    bail!("--size {s} is more than a {t} datagram carries ({max} bytes)");
                }
            }
        }
        if a.loss_timeout_ms == 0 {
            bail!("--loss-timeout-ms must be at least 1");
        }
        let stop = match (&a.duration, a.count) {
            (Some(d), _) => {
                let d = humantime::parse_duration(d).map_err(|e| {
                    anyhow::anyhow!("--duration '{d}' is not a duration like 500ms or 10s: {e}")
                })?;
                if d.is_zero() {
                    bail!("--duration must be longer than 0");
                }
                Stop::DurationNs(d.as_nanos().min(u64::MAX as u128) as u64)
            }
            (None, Some(0)) => bail!("--count must be at least 1"),
            (None, Some(n)) => Stop::Count(n),
            (None, None) => Stop::Count(DEFAULT_COUNT),
        };
        let wait = match a.wait.as_str() {
            "block" => WaitStrategy::Block,
            "spin" => WaitStrategy::Spin,
            "hybrid" => WaitStrategy::Hybrid,
            w => bail!("unknown --wait '{w}' (expected block, spin or hybrid)"),
        };
        let pin = match a.pin.as_deref() {
            None => None,
            Some([x, y]) => {
                let allowed = crate::sys::allowed_cpus();
                for cpu in [x, y] {
                    if !allowed.contains(cpu) {
                        bail!("--pin: CPU {cpu} is not available to this process (allowed: {allowed:?})");
                    }
                }
                Some((*x, *y))
            }
            Some(other) => bail!(
                "--pin takes two CPUs, initiator and peer (e.g. --pin 0,1), got {} value(s)",
                other.len()
            ),
        };
        if a.rate == Some(0) {
            bail!("--rate must be at least 1 message per second");
        }
        if a.repeat == 0 {
            bail!("--repeat must be at least 1");
        }
        if !(1..=64).contains(&a.concurrency) {
            bail!("--concurrency must be between 1 and 64");
        }
        if a.timeout_s == 0 {
            bail!("--timeout-s must be at least 1");
        }
        let socket_dir = check_socket_dir(&a.socket_dir)?;
        let shm_dir = match &a.shm_dir {
            Some(d) => check_dir(d, "shared-memory directory", true)?,
            None => socket_dir.clone(),
        };
        if a.shm_slots.is_some_and(|n| !(1..=65_536).contains(&n)) {
            bail!("--shm-slots must be between 1 and 65536");
        }
        if let Some(&big) = sizes.iter().find(|&&s| s.div_ceil(64) * 64 * a.shm_slots.unwrap_or(2) > 1 << 30)
        {
            if transports.contains(&TransportKind::Shm) {
                bail!("--size {big} with --shm-slots {} needs rings over 1 GiB", a.shm_slots.unwrap_or(2));
            }
        }
        if a.copy && !transports.contains(&TransportKind::Shm) {
            bail!("--copy applies to the shm transport only; add --transport shm");
        }
        // A socket directory shared with a group (a container's user) gets group-accessible
        // files; otherwise only the owner may use them.
        let file_mode = crate::sys::shared_file_mode(&socket_dir);
        let channels = ChannelOptions {
            socket_dir: socket_dir.clone(),
            shm_dir,
            shm_slots: a.shm_slots,
            copy: a.copy,
            file_mode,
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
        for path in std::iter::once(&out).chain(a.stream_json.iter()).chain(a.stream_csv.iter()) {
            check_writable(path)?;
        }
        Ok(RunConfig {
            transports,
            patterns,
            sizes,
            stop,
            warmup: a.warmup,
            pin,
            wait,
            rate_per_s: a.rate,
            verify: a.verify,
            repeat: a.repeat,
            concurrency: a.concurrency,
            socket_dir,
            framings,
            loss_timeout_ms: a.loss_timeout_ms,
            connect: connect.map(|ep| (ep, a.reply_seq_field.clone())),
            channels,
            out,
            stream_json: a.stream_json.clone(),
            stream_csv: a.stream_csv.clone(),
            timeout: Duration::from_secs(a.timeout_s),
            quiet: a.quiet,
        })
    }
}

/// Parses `tcp://HOST:PORT` or `unix:///path` (only addresses the user names are contacted).
fn parse_connect(url: &str) -> Result<Endpoint> {
    if let Some(rest) = url.strip_prefix("tcp://") {
        use std::net::ToSocketAddrs;
        let addr = rest
            .to_socket_addrs()
            .map_err(|e| anyhow::anyhow!("--connect {url}: {e}"))?
            .next()
            .ok_or_else(|| anyhow::anyhow!("--connect {url}: no address"))?;
        return Ok(Endpoint::Tcp(addr));
    }
    if let Some(path) = url.strip_prefix("unix://") {
        if !path.starts_with('/') {
            bail!("--connect {url}: give an absolute path, unix:///path/to.sock");
        }
        return Ok(Endpoint::Unix(PathBuf::from(path)));
    }
    bail!("--connect '{url}' is not tcp://HOST:PORT or unix:///path")
}

/// Parses a comma list where `all` means every value.
fn parse_list<T>(items: &[String], flag: &str, all: &[T]) -> Result<Vec<T>>
where
    T: std::str::FromStr<Err = String> + Copy + PartialEq,
{
    let mut out = Vec::new();
    for item in items.iter().map(|s| s.trim()) {
        if item == "all" {
            out.extend_from_slice(all);
        } else {
            out.push(item.parse::<T>().map_err(|e| anyhow::anyhow!("{flag}: {e}"))?);
        }
    }
    if out.is_empty() {
        bail!("{flag} needs at least one value");
    }
    let mut unique = Vec::new();
    for v in out {
        if !unique.contains(&v) {
            unique.push(v);
        }
    }
    Ok(unique)
}

/// Parses `64`, `4K`, `4KiB`, `1M`, `1MiB` into bytes and checks the bounds.
pub fn parse_size(text: &str) -> Result<usize> {
    let t = text.trim();
    let (digits, mult) =
        [("KiB", 1 << 10), ("MiB", 1 << 20), ("K", 1 << 10), ("M", 1 << 20), ("k", 1 << 10), ("B", 1)]
            .iter()
            .find_map(|(suffix, m)| t.strip_suffix(suffix).map(|d| (d, *m)))
            .unwrap_or((t, 1usize));
    let n: usize = digits
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("--size '{text}' is not a size like 64, 4KiB or 1MiB"))?;
    let bytes = n.checked_mul(mult).filter(|&b| b <= MAX_SIZE_BYTES);
    match bytes {
        Some(b) if b >= HEADER_BYTES => Ok(b),
        Some(b) => bail!(
            "--size {b} is below the {HEADER_BYTES}-byte message header (sequence number and timestamp)"
        ),
        None => bail!("--size '{text}' exceeds the {} MiB limit", MAX_SIZE_BYTES >> 20),
    }
}

/// The socket directory must be a writable directory; the default one is created if missing.
fn check_socket_dir(dir: &Path) -> Result<PathBuf> {
    if dir == Path::new("sockets") && !dir.exists() {
        std::fs::create_dir_all(dir).context("creating the socket directory sockets/")?;
    }
    check_dir(dir, "socket directory", false)
}

/// `dir` must be an existing, writable directory that others cannot write to (they could
/// replace its sockets), returned as an absolute path. With `allow_sticky`, a world-writable
/// directory with the sticky bit (`/dev/shm`) is accepted: there nobody can remove or rename
/// the files we create exclusively.
pub fn check_dir(dir: &Path, what: &str, allow_sticky: bool) -> Result<PathBuf> {
    let meta = std::fs::metadata(dir).with_context(|| format!("{what} {} does not exist", dir.display()))?;
    if !meta.is_dir() {
        bail!("{what} {} is not a directory", dir.display());
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
    if mode & 0o002 != 0 && !(allow_sticky && mode & 0o1000 != 0) {
        bail!(
            "{what} {} is world-writable (mode {:o}); use a directory of your own (chmod o-w)",
            dir.display(),
            mode & 0o7777
        );
    }
    rustix::fs::access(dir, rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK)
        .map_err(|_| anyhow::anyhow!("{what} {} is not writable", dir.display()))?;
    dir.canonicalize().with_context(|| format!("resolving {what} {}", dir.display()))
}

/// An output file must be creatable: its directory exists and is writable.
fn check_writable(path: &Path) -> Result<()> {
    if path == Path::new("-") {
        return Ok(());
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        bail!("cannot write {}: directory {} does not exist", path.display(), parent.display());
    }
    if path.is_dir() {
        bail!("cannot write {}: it is a directory", path.display());
    }
    rustix::fs::access(parent, rustix::fs::Access::WRITE_OK).map_err(|_| {
        anyhow::anyhow!("cannot write {}: directory {} is not writable", path.display(), parent.display())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes_and_refuse_less_than_a_header() {
        assert_eq!(parse_size("64").unwrap(), 64);
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("64K").unwrap(), 65536);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert!(parse_size("8").unwrap_err().to_string().contains("below the 16-byte"));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").unwrap_err().to_string().contains("not a size"));
        assert!(parse_size("999999M").unwrap_err().to_string().contains("limit"));
    }

    #[test]
    fn all_expands_and_duplicates_collapse() {
        let v = parse_list(&["uds".into(), "all".into()], "--transport", TransportKind::ALL).unwrap();
        assert_eq!(
            parse_list(&["udp".into()], "--transport", TransportKind::ALL).unwrap(),
            vec![TransportKind::Udp]
        );
        assert_eq!(v, vec![TransportKind::Uds, TransportKind::Tcp, TransportKind::Shm]);
    }
}
