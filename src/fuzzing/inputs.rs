//! What a user or another process hands over as text or memory: flag values (sizes, durations,
//! rates, CPU lists, thresholds) and the header of a shared-memory mapping an attacher finds.

use std::time::Duration;

use std::sync::{Mutex, OnceLock};

use clap::{CommandFactory as _, FromArgMatches as _};

use crate::analysis::compare::Thresholds;
use crate::cli::{Cli, Command, RateItem};
use crate::format::{parse_size, MAX_SIZE_BYTES, MIN_SIZE_BYTES};
use crate::measure::topology::parse_cpu_list;
use crate::transport::shm::region::{layout, validate_header, MAGIC};

/// Command lines that end in a flag whose value ipcbench parses itself; the fuzzed text is the
/// value (`--flag=TEXT`).
const FLAGS: &[&[&str]] = &[
    &["run", "--size"],
    &["run", "--count"],
    &["run", "--duration"],
    &["run", "--min-time"],
    &["run", "--warmup"],
    &["run", "--pin"],
    &["run", "--subscribers"],
    &["run", "--pin-pairs"],
    &["run", "--rate"],
    &["run", "--rates"],
    &["run", "--rates=1k,2k", "--p99-target"],
    &["run", "--interval"],
    &["run", "--loss-timeout-ms"],
    &["run", "--concurrency"],
    &["run", "--shm-slots"],
    &["run", "--pipe-size"],
    &["run", "--transport"],
    &["run", "--pattern"],
    &["run", "--wait"],
    &["compare", "a.json", "b.json", "--max-regression"],
    &["ab", "old", "new", "--max-regression"],
    &["history", "check", "--p-value"],
    &["history", "check", "--min-magnitude"],
];

/// The first byte picks a flag of [`FLAGS`], the rest is its value: parsed by the command line
/// as `ipcbench` parses it, and by the parsers called outside clap. What is accepted is within
/// the bounds each parser promises.
pub fn values(data: &[u8]) {
    let Some((&pick, text)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(text) else { return };
    let line = FLAGS[usize::from(pick) % FLAGS.len()];
    let (flag, head) = line.split_last().expect("a flag");
    let args = std::iter::once("ipcbench".to_string())
        .chain(head.iter().map(|s| s.to_string()))
        .chain([format!("{flag}={text}")]);
    // One command line, built once: building clap's whole tree for every input would be most
    // of the work.
    static CLI: OnceLock<Mutex<clap::Command>> = OnceLock::new();
    let matches = CLI
        .get_or_init(|| Mutex::new(Cli::command()))
        .lock()
        .expect("no panic holds it")
        .try_get_matches_from_mut(args);
    if let Ok(Cli { command: Some(Command::Run(a)) }) = matches.and_then(|m| Cli::from_arg_matches(&m)) {
        let sizes = a.size.iter().flatten().chain(&a.pipe_size);
        for &s in sizes {
            assert!((MIN_SIZE_BYTES..=MAX_SIZE_BYTES).contains(&s), "a size of {s} bytes passed");
        }
        let rates = a.rate.into_iter().chain(a.rates.iter().flatten().filter_map(|r| match r {
            RateItem::PerS(r) => Some(*r),
            RateItem::Auto => None,
        }));
        for r in rates {
            assert!((1..=1_000_000_000).contains(&r), "a rate of {r}/s passed");
        }
        for d in a.duration.iter().chain(&a.p99_target) {
            assert!(!d.is_zero(), "a zero duration passed");
        }
        assert!(
            !matches!(a.interval, Some(d) if d < Duration::from_millis(1)),
            "an interval under 1 ms passed"
        );
        assert_ne!(a.count, Some(0), "a count of 0 passed");
    }
    if let Ok(s) = parse_size(text) {
        assert!((MIN_SIZE_BYTES..=MAX_SIZE_BYTES).contains(&s), "a size of {s} bytes passed");
    }
    if let Ok(t) = text.parse::<Thresholds>() {
        assert!(t.0.values().all(|v| (0.0..=100.0).contains(v)), "threshold out of range: {t:?}");
    }
    // A sysfs CPU list (read from the machine, not typed): every range is capped.
    let parts = text.split(',').count();
    assert!(parse_cpu_list(text).len() <= parts * 4097, "a CPU list longer than its ranges allow");
}

/// The first byte picks the geometry the attacher was told (message size 64 to 512 bytes, 1 to
/// 128 slots), the rest is the mapping as the attacher finds it. A header that passes is an
/// ipcbench header on a mapping exactly as long as that geometry needs.
pub fn shm_header(data: &[u8]) {
    let Some((&pick, mapping)) = data.split_first() else { return };
    let (geo, ring_bytes) = layout(64 << (pick & 3), 1 << ((pick >> 2) & 7));
    if validate_header(mapping, mapping.len(), "fuzzed", geo, ring_bytes).is_ok() {
        assert_eq!(mapping[..8], MAGIC);
        assert_eq!(mapping.len(), 4096 + 2 * ring_bytes, "a mapping of another length passed");
    }
}
