//! The lines below the run table: each load curve's knee, each placement sweep's heat map, and
//! the notes on integrity, range, --min-time and unsteady runs.

use crate::analysis::key::ConfigKey;
use crate::analysis::summary::{RunResult, Summary};
use crate::format::{format_ns, format_rate};

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

/// Integrity, range, --min-time and unsteadiness notes, one line each.
pub fn notes(summary: &Summary) -> Vec<String> {
    let mut out = Vec::new();
    let label = |r: &RunResult| ConfigKey::of(r).to_string();
    for r in &summary.runs {
        let i = &r.integrity;
        if i.lost + i.corrupt + i.out_of_order > 0 {
            out.push(format!(
                "note: {} (run {}): {} of {} lost, {} corrupt or mismatched, {} out of order",
                label(r),
                r.repetition,
                i.lost,
                i.sent,
                i.corrupt,
                i.out_of_order
            ));
        }
    }
    for r in summary.runs.iter().filter(|r| r.latency_ns.is_some_and(|l| l.clamped_samples > 0)) {
        out.push(format!(
            "note: {} (run {}): {} latencies beyond the histogram's one-hour range (max and top percentiles are lower bounds)",
            label(r),
            r.repetition,
            r.latency_ns.map_or(0, |l| l.clamped_samples)
        ));
    }
    for r in summary.runs.iter().filter(|r| r.samples_dropped.is_some_and(|n| n > 0)) {
        out.push(format!(
            "note: {} (run {}): {} of its messages are missing from the streams (samples_dropped): \
             the stream writer fell behind; its figures above still count every message",
            label(r),
            r.repetition,
            r.samples_dropped.unwrap_or(0)
        ));
    }
    let extended = summary.runs.iter().filter(|r| r.extended_to_min_time).count();
    if extended > 0 {
        out.push(format!(
            "note: {extended} throughput run(s) sent more messages than --count asked, to measure for at least --min-time (messages: what they recorded)"
        ));
    }
    let unsteady: Vec<String> = summary
        .runs
        .iter()
        .filter_map(|r| {
            let s = r.interval_spread.filter(|s| s.unsteady)?;
            Some(format!(
                "{} run {} ({} to {} msg/s around {})",
                label(r),
                r.repetition,
                format_rate(s.min_messages_per_s),
                format_rate(s.max_messages_per_s),
                format_rate(s.median_messages_per_s)
            ))
        })
        .collect();
    if !unsteady.is_empty() {
        // The first few, so the line stays readable; the summary has every run's slices.
        let shown = unsteady.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
        let more =
            if unsteady.len() > 3 { format!("; and {} more", unsteady.len() - 3) } else { String::new() };
        out.push(format!(
            "note: ! marks a row with a run whose slices disagree by more than 25% (the machine hiccuped: \
             repeat it with --repeat before trusting one figure): {shown}{more}"
        ));
    }
    out
}
