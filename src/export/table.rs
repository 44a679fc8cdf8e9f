//! The terminal table: one aligned row per finished run, in human units.

use std::io::Write;

use anyhow::Result;

use super::Exporter;
use crate::analysis::key::{ConfigKey, SeriesKey};
use crate::analysis::merge::RunDetail;
use crate::analysis::stats::{groups, spread, Metric};
use crate::analysis::summary::{RunResult, Summary};
use crate::format::{format_bytes, format_ns, format_rate};
use crate::pattern::Pattern;

pub struct TableExporter {
    to_stderr: bool,
    header_done: bool,
}

impl TableExporter {
    /// `to_stderr` when stdout carries a data stream.
    pub fn new(to_stderr: bool) -> Self {
        TableExporter { to_stderr, header_done: false }
    }

    fn emit(&self, line: &str) {
        if self.to_stderr {
            eprintln!("{line}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

const HEADER: &str =
    "transport  pattern     size       count     wait    offered  p50        p99        p99.9      max        msg/s       MB/s     cpu/msg   csw/msg";

impl Exporter for TableExporter {
    fn run_finished(&mut self, _summary: &Summary, run: &RunResult, _detail: &RunDetail) -> Result<()> {
        if !self.header_done {
            self.emit(HEADER);
            self.header_done = true;
        }
        self.emit(&row(run));
        Ok(())
    }

    fn finished(&mut self, summary: &Summary) -> Result<()> {
        for line in fastest(summary) {
            self.emit(&line);
        }
        for line in knees(summary) {
            self.emit(&line);
        }
        for line in heat_maps(summary) {
            self.emit(&line);
        }
        for r in &summary.runs {
            let i = &r.integrity;
            if i.lost + i.corrupt + i.out_of_order > 0 {
                self.emit(&format!(
                    "note: {} {} {}: {} of {} lost, {} corrupt or mismatched, {} out of order",
                    r.transport,
                    r.pattern,
                    format_bytes(r.size_bytes as u64),
                    i.lost,
                    i.sent,
                    i.corrupt,
                    i.out_of_order
                ));
            }
        }
        for r in summary.runs.iter().filter(|r| r.latency_ns.is_some_and(|l| l.clamped_samples > 0)) {
            self.emit(&format!(
                "note: {} {} {}: {} latencies beyond the histogram's one-hour range (max and top percentiles are lower bounds)",
                r.transport,
                r.pattern,
                format_bytes(r.size_bytes as u64),
                r.latency_ns.map_or(0, |l| l.clamped_samples)
            ));
        }
        let extended = summary.runs.iter().filter(|r| r.extended_to_min_time).count();
        if extended > 0 {
            self.emit(&format!(
                "note: {extended} throughput run(s) sent more messages than --count asked, to measure for at least --min-time (count: what they recorded)"
            ));
        }
        for r in &summary.runs {
            if let Some(s) = r.interval_spread.filter(|s| s.unsteady) {
                self.emit(&format!(
                    "note: {} {} {} (!): its {} slices disagree, {} to {} msg/s around a median of {}: \
                     the machine hiccuped during it; repeat it (--repeat) before trusting one figure",
                    r.transport,
                    r.pattern,
                    format_bytes(r.size_bytes as u64),
                    s.slices,
                    format_rate(s.min_messages_per_s),
                    format_rate(s.max_messages_per_s),
                    format_rate(s.median_messages_per_s)
                ));
            }
        }
        if let Some(first) = summary.runs.first() {
            let p = &first.placement;
            let swept: Vec<String> =
                summary.cpu_pairs.iter().map(|p| format!("{}:{}", p.initiator_cpu, p.peer_cpu)).collect();
            let pin = match (p.initiator_cpu, p.peer_cpu) {
                _ if !swept.is_empty() => format!("CPU pairs swept: {}", swept.join(", ")),
                (Some(a), Some(b)) => format!("pinned to CPUs {a},{b}"),
                _ => format!("unpinned (ran on CPUs {},{})", p.initiator_cpu_observed, p.peer_cpu_observed),
            };
            self.emit(&format!(
                "{pin}; latency counts one clock read of ~{} ns; cpu/msg and csw/msg: both sides' CPU time \
                 and voluntary context switches per message",
                summary.environment.clock_read_overhead_ns
            ));
        }
        Ok(())
    }
}

/// For every (pattern, size) measured in more than one configuration, which was fastest: lowest
/// median p50, or most bytes/s for throughput. Configurations are the shared [`ConfigKey`]s, so
/// a framing or wait sweep names its winner by what differs, never mixes two into one.
pub fn fastest(summary: &Summary) -> Vec<String> {
    use std::collections::BTreeMap;
    let mut by: BTreeMap<(Pattern, usize), Vec<(ConfigKey, f64)>> = BTreeMap::new();
    for (key, runs) in groups(summary) {
        // A load sweep's rates are not rivals: its knee line speaks for it.
        if key.series.rate_per_s.is_some() && !summary.load_curves.is_empty() {
            continue;
        }
        let metric = Metric::headline(key.pattern);
        if let Some(s) = spread(&runs, metric) {
            by.entry((key.pattern, key.size_bytes)).or_default().push((key, s.median));
        }
    }
    let mut out = Vec::new();
    for ((pattern, size), entries) in by {
        if entries.len() < 2 {
            continue;
        }
        let metric = Metric::headline(pattern);
        let better = |a: f64, b: f64| if metric.lower_is_better() { a < b } else { a > b };
        let best = entries.iter().fold(&entries[0], |best, e| if better(e.1, best.1) { e } else { best });
        let all: Vec<&SeriesKey> = entries.iter().map(|(k, _)| &k.series).collect();
        out.push(format!(
            "* fastest {pattern} at {}: {} ({})",
            format_bytes(size as u64),
            best.0.series.label_among(&all),
            metric.format(best.1)
        ));
    }
    out
}

/// Each load curve's knee: the highest offered rate it sustained.
pub fn knees(summary: &Summary) -> Vec<String> {
    summary
        .load_curves
        .iter()
        .map(|c| {
            let target = format!("p99 target {} ({})", format_ns(c.p99_target_ns), c.p99_target_source);
            match c.knee_per_s.and_then(|k| c.points.iter().find(|p| p.offered_per_s == k)) {
                Some(p) => format!(
                    "* knee of {}: {}/s{} (p50 {}, p99 {}; {target})",
                    c.label,
                    format_rate(p.offered_per_s as f64),
                    if c.saturated { "" } else { " or more (never saturated)" },
                    format_ns(p.p50_ns),
                    format_ns(p.p99_ns)
                ),
                None => format!(
                    "* knee of {}: none, not even {}/s was sustained ({target})",
                    c.label,
                    format_rate(c.points[0].offered_per_s as f64)
                ),
            }
        })
        .collect()
}

/// Each `--pin-pairs` configuration as a grid: rows the initiator's CPU, columns the peer's,
/// each cell the metric with the pair's cache-line floor and what the two CPUs share.
pub fn heat_maps(summary: &Summary) -> Vec<String> {
    let mut out = Vec::new();
    for m in crate::analysis::placement::pair_maps(summary) {
        out.push(format!(
            "* {} by CPU pair, {} (rows: initiator CPU; columns: peer CPU; [floor: a cache line's round trip, what the CPUs share]):",
            m.metric, m.config
        ));
        let cell = |a: usize, b: usize| match m.cells.get(&(a, b)) {
            None => "-".to_string(),
            Some(&v) => match crate::analysis::placement::PairMap::pair(summary, a, b) {
                Some(p) => format!(
                    "{} [{}, {}]",
                    m.metric.format(v),
                    format_ns(p.cache_line_round_trip_ns),
                    p.relation
                ),
                None => m.metric.format(v),
            },
        };
        let width = m
            .initiators
            .iter()
            .flat_map(|&a| m.peers.iter().map(move |&b| (a, b)))
            .map(|(a, b)| cell(a, b).len())
            .max()
            .unwrap_or(1)
            .max(8);
        out.push(
            format!(
                "    {:>4}  {}",
                "",
                m.peers
                    .iter()
                    .map(|b| format!("{:<width$}", format!("peer {b}")))
                    .collect::<Vec<_>>()
                    .join("  ")
            )
            .trim_end()
            .to_string(),
        );
        for &a in &m.initiators {
            let row = m.peers.iter().map(|&b| format!("{:<width$}", cell(a, b))).collect::<Vec<_>>();
            out.push(format!("    {a:>4}  {}", row.join("  ")).trim_end().to_string());
        }
    }
    out
}

/// One table row.
pub fn row(r: &RunResult) -> String {
    let lat = |f: fn(&crate::measure::histogram::LatencyStats) -> u64| {
        r.latency_ns.as_ref().map_or_else(|| "-".to_string(), |l| format_ns(f(l)))
    };
    format!(
        "{:<10} {:<11} {:<10} {:<9} {:<7} {:<8} {:<10} {:<10} {:<10} {:<10} {:<11} {:<8} {:<9} {}",
        r.transport.to_string(),
        r.pattern.to_string(),
        format_bytes(r.size_bytes as u64),
        r.integrity.received,
        r.wait.to_string(),
        r.rate_per_s.map_or_else(|| "-".into(), |v| format!("{}/s", format_rate(v as f64))),
        lat(|l| l.p50),
        lat(|l| l.p99),
        lat(|l| l.p99_9),
        lat(|l| l.max),
        // `!`: the run's slices disagree (a hiccup); a note at the end says by how much.
        format!(
            "{}{}",
            format_rate(r.throughput.messages_per_s),
            if r.interval_spread.is_some_and(|s| s.unsteady) { " !" } else { "" }
        ),
        // Bandwidth only where the payload is produced and consumed: a zero-copy latency run
        // "moves" a MiB by passing a slot, which is no bandwidth at all.
        if r.pattern == Pattern::Throughput {
            format!("{:.1}", r.throughput.bytes_per_s / 1e6)
        } else {
            "-".into()
        },
        // CPU time of both sides' timed threads per message, and their voluntary context
        // switches (sleeps) per message: what the wait strategy costs.
        r.cpu.map_or_else(|| "-".into(), |c| format_ns(c.cpu_ns_per_message().round() as u64)),
        r.cpu.map_or_else(
            || "-".into(),
            |c| format!(
                "{:.2}",
                c.initiator.voluntary_switches_per_message
                    + c.peer.map_or(0.0, |p| p.voluntary_switches_per_message)
            )
        ),
    )
}
