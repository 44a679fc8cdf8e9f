//! The terminal table: one aligned row per finished run, in human units.

use std::io::Write;

use anyhow::Result;

use super::Exporter;
use crate::measure::summary::{RunResult, Summary};
use crate::pattern::Sample;

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

const HEADER: &str = "transport  pattern     size       count   wait    p50        p99        p99.9      max        msg/s       MB/s";

impl Exporter for TableExporter {
    fn run_finished(&mut self, _summary: &Summary, run: &RunResult, _samples: &[Sample]) -> Result<()> {
        if !self.header_done {
            self.emit(HEADER);
            self.header_done = true;
        }
        self.emit(&row(run));
        Ok(())
    }

    fn finished(&mut self, summary: &Summary) -> Result<()> {
        for line in fastest(&summary.runs) {
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
        if let Some(first) = summary.runs.first() {
            let p = &first.placement;
            let pin = match (p.initiator_cpu, p.peer_cpu) {
                (Some(a), Some(b)) => format!("pinned to CPUs {a},{b}"),
                _ => format!("unpinned (ran on CPUs {},{})", p.initiator_cpu_observed, p.peer_cpu_observed),
            };
            self.emit(&format!(
                "wait {}, {pin}; latency counts one clock read of ~{} ns",
                first.wait, summary.environment.clock_read_overhead_ns
            ));
        }
        Ok(())
    }
}

/// For every (pattern, size) measured over more than one transport, which transport was
/// fastest: lowest median p50, or most bytes/s for throughput.
pub fn fastest(runs: &[RunResult]) -> Vec<String> {
    use crate::compare::{spread, Metric};
    use std::collections::BTreeMap;
    let mut by: BTreeMap<(crate::pattern::Pattern, usize), BTreeMap<&'static str, Vec<&RunResult>>> =
        BTreeMap::new();
    for r in runs {
        by.entry((r.pattern, r.size_bytes)).or_default().entry(r.transport.name()).or_default().push(r);
    }
    let mut out = Vec::new();
    for ((pattern, size), transports) in by {
        if transports.len() < 2 {
            continue;
        }
        let metric =
            if pattern == crate::pattern::Pattern::Throughput { Metric::Throughput } else { Metric::P50 };
        let best =
            transports.iter().filter_map(|(t, rs)| Some((*t, spread(rs, metric)?.median))).min_by(|a, b| {
                let (x, y) = if metric == Metric::Throughput { (-a.1, -b.1) } else { (a.1, b.1) };
                x.total_cmp(&y)
            });
        if let Some((t, v)) = best {
            let shown = if metric == Metric::Throughput {
                format!("{:.1} MB/s", v / 1e6)
            } else {
                format_ns(v as u64)
            };
            out.push(format!("* fastest {pattern} at {}: {t} ({shown})", format_bytes(size as u64)));
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
        "{:<10} {:<11} {:<10} {:<7} {:<7} {:<10} {:<10} {:<10} {:<10} {:<11} {}",
        r.transport.name(),
        r.pattern.name(),
        format_bytes(r.size_bytes as u64),
        r.integrity.received,
        r.wait.name(),
        lat(|l| l.p50),
        lat(|l| l.p99),
        lat(|l| l.p99_9),
        lat(|l| l.max),
        format_rate(r.throughput.messages_per_s),
        // Bandwidth only where the payload is produced and consumed: a zero-copy latency run
        // "moves" a MiB by passing a slot, which is no bandwidth at all.
        if r.pattern == crate::pattern::Pattern::Throughput {
            format!("{:.1}", r.throughput.bytes_per_s / 1e6)
        } else {
            "-".into()
        },
    )
}

/// 950 ns, 12.3 µs, 4.56 ms, 1.20 s.
pub fn format_ns(ns: u64) -> String {
    match ns {
        0..=9_999 => format!("{ns} ns"),
        10_000..=9_999_999 => format!("{:.1} µs", ns as f64 / 1e3),
        10_000_000..=9_999_999_999 => format!("{:.2} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

/// 64 B, 4 KiB, 1 MiB.
pub fn format_bytes(b: u64) -> String {
    if b >= 1 << 20 && b % (1 << 20) == 0 {
        format!("{} MiB", b >> 20)
    } else if b >= 1 << 10 && b % (1 << 10) == 0 {
        format!("{} KiB", b >> 10)
    } else {
        format!("{b} B")
    }
}

fn format_rate(per_s: f64) -> String {
    if per_s >= 1e6 {
        format!("{:.2}M", per_s / 1e6)
    } else if per_s >= 1e3 {
        format!("{:.1}k", per_s / 1e3)
    } else {
        format!("{per_s:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units_switch_at_the_right_places() {
        assert_eq!(format_ns(950), "950 ns");
        assert_eq!(format_ns(12_345), "12.3 µs");
        assert_eq!(format_ns(45_600_000), "45.60 ms");
        assert_eq!(format_bytes(64), "64 B");
        assert_eq!(format_bytes(4096), "4 KiB");
        assert_eq!(format_bytes(1 << 20), "1 MiB");
        assert_eq!(format_bytes(1000), "1000 B");
    }
}
