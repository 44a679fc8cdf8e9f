//! The charts of the two sweeps: latency against load (`--rates`) and the CPU-pair heat maps
//! (`--pin-pairs`).

use std::collections::BTreeMap;

use anyhow::Result;

use super::{charts, heatmap, series_label, slug, Chart, Input};
use crate::analysis::key::SeriesKey;
use crate::format::format_bytes;
use crate::pattern::Pattern;

/// Latency against load: one chart per (pattern, size) with load curves, a curve per
/// configuration (and file), knees ringed.
pub(super) fn load_charts(inputs: &[Input]) -> Result<Vec<Chart>> {
    let mut by: BTreeMap<(Pattern, usize), Vec<charts::LoadSeries>> = BTreeMap::new();
    for (f, input) in inputs.iter().enumerate() {
        let curves = &input.summary.load_curves;
        for pattern in [Pattern::RoundTrip, Pattern::OneWay] {
            let all: Vec<&SeriesKey> =
                curves.iter().filter(|c| c.config.pattern == pattern).map(|c| &c.config.series).collect();
            for c in curves.iter().filter(|c| c.config.pattern == pattern) {
                let points: Vec<(f64, f64, f64, f64)> = c
                    .points
                    .iter()
                    .map(|p| (p.achieved_per_s, p.p50_ns as f64, p.p99_ns as f64, p.p99_9_ns as f64))
                    .collect();
                let knee = c.knee_per_s.and_then(|k| c.points.iter().find(|p| p.offered_per_s == k));
                let what = c.config.series.label_among(&all);
                by.entry((pattern, c.config.size_bytes)).or_default().push(charts::LoadSeries {
                    labels: ["p50", "p99", "p99.9"].map(|p| series_label(inputs, f, &format!("{what} {p}"))),
                    points,
                    knee: knee.map(|p| (p.achieved_per_s, p.p99_ns as f64)),
                });
            }
        }
    }
    by.into_iter()
        .map(|((pattern, size), series)| {
            let title = format!(
                "{pattern} latency against load, {}: p99 thick, p50 dashed, p99.9 thin, knee ringed",
                format_bytes(size as u64)
            );
            let svg = charts::against_load(&title, &series)?;
            Ok(Chart { slug: slug(&format!("load-{pattern}-{size}")), title, svg })
        })
        .collect()
}

/// A heat map per configuration (and file) of a `--pin-pairs` sweep.
pub(super) fn pair_charts(inputs: &[Input]) -> Result<Vec<Chart>> {
    let mut out = Vec::new();
    for (f, input) in inputs.iter().enumerate() {
        for m in crate::analysis::placement::pair_maps(&input.summary) {
            let title = series_label(inputs, f, &format!("{} by CPU pair, {}", m.metric, m.config));
            let svg = heatmap::heat_map(&title, &m, &input.summary)?;
            out.push(Chart { slug: slug(&format!("pairs-{}-{f}", m.config)), title, svg });
        }
    }
    Ok(out)
}
