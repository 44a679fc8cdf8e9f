//! `ipcbench report`: one self-contained HTML file (inline SVG, no scripts, no fetches) from one
//! or more result files, and optionally every chart as its own SVG file.
//!
//! Repetitions of a configuration are merged: histograms bucket by bucket for the CDFs, medians
//! for the charts against message size and against a fan-out's subscribers. With several files
//! every chart overlays them, each series named `transport · file`, and a table shows the
//! relative changes against the first.

mod axes;
pub mod charts;
mod fan_out;
mod heatmap;
mod legend;
mod page;
mod sweeps;
pub mod trend;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::analysis::key::{ConfigKey, SeriesKey};
use crate::analysis::stats::{groups, spread, Metric};
use crate::analysis::summary::{RunResult, Summary};
use crate::format::format_bytes;
use crate::measure::histogram::LatencyHistogram;
use crate::pattern::Pattern;
use charts::{Curve, Stroke};
pub use page::html;

/// A loaded result file.
pub struct Input {
    /// How the file is named in legends: its file name.
    pub name: String,
    pub summary: Summary,
}

impl Input {
    /// Reads a result file, checking it has what the report draws from.
    pub fn load(path: &Path) -> Result<Input> {
        let summary = Summary::read(path)?;
        let name =
            path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        Input::new(name, summary, &path.display().to_string())
    }

    /// A result file already read, checked as [`load`](Self::load) does; errors name it `shown`.
    pub fn new(name: String, summary: Summary, shown: &str) -> Result<Input> {
        if summary.runs.is_empty() {
            bail!("{shown} holds no runs");
        }
        if let Some(r) = summary.runs.iter().find(|r| r.latency_ns.is_some() && r.histogram_v2.is_none()) {
            bail!(
                "{shown} has no latency histogram for {} (written by an older ipcbench?); the CDFs need it: measure again",
                ConfigKey::of(r)
            );
        }
        Ok(Input { name, summary })
    }
}

/// A chart: a stable file name, a heading and its SVG.
pub struct Chart {
    pub slug: String,
    pub title: String,
    pub svg: String,
}

pub(super) fn slug(text: &str) -> String {
    let s: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    s.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-")
}

pub(super) fn series_label(inputs: &[Input], file: usize, what: &str) -> String {
    if inputs.len() == 1 {
        what.to_string()
    } else {
        format!("{what} · {}", inputs[file].name)
    }
}

/// Merged histogram of every repetition of one configuration in one file.
fn merged(runs: &[&RunResult]) -> Result<Option<LatencyHistogram>> {
    let mut acc: Option<LatencyHistogram> = None;
    for r in runs {
        if let Some(b64) = &r.histogram_v2 {
            let h = LatencyHistogram::from_base64(b64)?;
            match &mut acc {
                Some(a) => a.add(&h),
                None => acc = Some(h),
            }
        }
    }
    Ok(acc)
}

type Groups<'a> = BTreeMap<ConfigKey, Vec<&'a RunResult>>;

/// Every series (configuration without pattern and size) of `pattern` in any file: legends name
/// a curve by what differs among these.
fn all_series<'a>(groups: &'a [Groups<'_>], pattern: Pattern) -> Vec<&'a SeriesKey> {
    let mut v: Vec<&SeriesKey> =
        groups.iter().flat_map(|g| g.keys()).filter(|k| k.pattern == pattern).map(|k| &k.series).collect();
    v.sort();
    v.dedup();
    v
}

/// How many message sizes `pattern` was measured at in any file.
fn sizes(groups: &[Groups<'_>], pattern: Pattern) -> usize {
    let mut v: Vec<usize> =
        groups.iter().flat_map(|g| g.keys()).filter(|k| k.pattern == pattern).map(|k| k.size_bytes).collect();
    v.sort_unstable();
    v.dedup();
    v.len()
}

/// The series of `pattern` in one file, each with its points against size.
fn series_of<'a>(
    g: &'a Groups<'_>,
    pattern: Pattern,
) -> BTreeMap<&'a SeriesKey, Vec<(usize, &'a [&'a RunResult])>> {
    let mut m: BTreeMap<&SeriesKey, Vec<(usize, &[&RunResult])>> = BTreeMap::new();
    for (k, runs) in g.iter().filter(|(k, _)| k.pattern == pattern) {
        m.entry(&k.series).or_default().push((k.size_bytes, runs.as_slice()));
    }
    m
}

/// Every chart of the report, in the order it shows them.
pub fn charts(inputs: &[Input]) -> Result<Vec<Chart>> {
    let mut out = Vec::new();
    // A load sweep's rates are drawn against load; every rate in the other charts would bury
    // them in curves.
    let groups: Vec<Groups<'_>> = inputs
        .iter()
        .map(|i| {
            let mut g = groups(&i.summary);
            if !i.summary.load_curves.is_empty() {
                g.retain(|k, _| k.series.rate_per_s.is_none());
            }
            g
        })
        .collect();

    // Latency against size: p50 solid, p99 dashed, per pattern with latencies. A curve is one
    // configuration, so a fan-out's subscriber counts are curves of their own; a fan-out at a
    // single size is drawn against its subscribers instead.
    for pattern in [Pattern::RoundTrip, Pattern::OneWay, Pattern::FanOut] {
        if pattern == Pattern::FanOut && sizes(&groups, pattern) < 2 {
            continue;
        }
        let all = all_series(&groups, pattern);
        let mut series = Vec::new();
        for (f, g) in groups.iter().enumerate() {
            for (si, (key, points)) in series_of(g, pattern).into_iter().enumerate() {
                for (metric, stroke) in [(Metric::P50, Stroke::Solid), (Metric::P99, Stroke::Dashed)] {
                    let points: Vec<(usize, f64)> = points
                        .iter()
                        .filter_map(|(size, runs)| Some((*size, spread(runs, metric)?.median)))
                        .collect();
                    if !points.is_empty() {
                        series.push(Curve {
                            label: series_label(inputs, f, &format!("{} {metric}", key.label_among(&all))),
                            points,
                            stroke,
                            color: f * 4 + si,
                        });
                    }
                }
            }
        }
        if !series.is_empty() {
            let title = format!("{pattern} p50 (solid) and p99 (dashed) against message size");
            let svg = charts::against_size(&title, "latency (log scale)", &series, &axes::tick_ns)?;
            out.push(Chart { slug: slug(&format!("{pattern}-latency-vs-size")), title, svg });
        }
    }

    // Throughput against size.
    let all = all_series(&groups, Pattern::Throughput);
    let mut series = Vec::new();
    for (f, g) in groups.iter().enumerate() {
        for (si, (key, points)) in series_of(g, Pattern::Throughput).into_iter().enumerate() {
            let points: Vec<(usize, f64)> = points
                .iter()
                .filter_map(|(size, runs)| Some((*size, spread(runs, Metric::Throughput)?.median)))
                .collect();
            series.push(Curve {
                label: series_label(inputs, f, &key.label_among(&all)),
                points,
                stroke: Stroke::Solid,
                color: f * 4 + si,
            });
        }
    }
    if !series.is_empty() {
        let title = "throughput (bytes/s) against message size".to_string();
        let svg = charts::against_size(&title, "bandwidth (log scale)", &series, &axes::tick_bandwidth)?;
        out.push(Chart { slug: "throughput-vs-size".into(), title, svg });
    }

    out.extend(fan_out::subscriber_charts(inputs, &groups)?);
    out.extend(sweeps::load_charts(inputs)?);
    out.extend(sweeps::pair_charts(inputs)?);

    // Percentile spectra: one chart per (pattern, size), a curve per configuration (and file).
    let mut cells: Vec<(Pattern, usize)> =
        groups.iter().flat_map(|g| g.keys().map(|k| (k.pattern, k.size_bytes))).collect();
    cells.sort();
    cells.dedup();
    for (pattern, size) in cells.into_iter().filter(|k| k.0 != Pattern::Throughput) {
        let all = all_series(&groups, pattern);
        let mut hists: Vec<(String, LatencyHistogram)> = Vec::new();
        for (f, g) in groups.iter().enumerate() {
            for (k, runs) in g.iter().filter(|(k, _)| (k.pattern, k.size_bytes) == (pattern, size)) {
                if let Some(h) = merged(runs)? {
                    hists.push((series_label(inputs, f, &k.series.label_among(&all)), h));
                }
            }
        }
        if hists.is_empty() {
            continue;
        }
        let title = format!("{pattern} latency by percentile, {}", format_bytes(size as u64));
        let refs: Vec<(String, &LatencyHistogram)> = hists.iter().map(|(l, h)| (l.clone(), h)).collect();
        out.push(Chart {
            slug: slug(&format!("percentiles-{pattern}-{size}")),
            title: title.clone(),
            svg: charts::percentile_spectrum(&title, &refs)?,
        });
    }

    // A histogram per configuration (repetitions merged).
    for (f, g) in groups.iter().enumerate() {
        for (k, runs) in g {
            if let Some(h) = merged(runs)? {
                let title = format!("histogram: {}", series_label(inputs, f, &k.to_string()));
                let file_part = if inputs.len() > 1 { format!("-{f}") } else { String::new() };
                out.push(Chart {
                    slug: slug(&format!("histogram-{k}{file_part}")),
                    title: title.clone(),
                    svg: charts::histogram(&title, &h)?,
                });
            }
        }
    }
    Ok(out)
}

/// `ipcbench report`: reads `files`, writes the HTML to `out` and, with `svg_dir`, each chart.
pub fn run(files: &[PathBuf], out: &Path, svg_dir: Option<&Path>) -> Result<usize> {
    // A file named on the command line that cannot be read as a result is a usage error.
    let inputs =
        files.iter().map(|p| Input::load(p)).collect::<Result<Vec<_>>>().map_err(crate::exit::usage)?;
    let charts = charts(&inputs)?;
    if let Some(dir) = svg_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for c in &charts {
            let p = dir.join(format!("{}.svg", c.slug));
            std::fs::write(&p, &c.svg).with_context(|| format!("writing {}", p.display()))?;
        }
    }
    std::fs::write(out, html(&inputs, &charts)).with_context(|| format!("writing {}", out.display()))?;
    Ok(charts.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures::{run, summary};
    use crate::transport::TransportKind;

    fn with_histogram(mut r: RunResult, latency_ns: u64) -> RunResult {
        let mut h = LatencyHistogram::new();
        for i in 0..100 {
            h.record(latency_ns + i);
        }
        r.histogram_v2 = Some(h.to_base64());
        r
    }

    #[test]
    fn a_framing_sweep_is_drawn_as_one_curve_per_framing_not_merged() {
        let raw = with_histogram(run(TransportKind::Uds, Pattern::RoundTrip, 5_000), 5_000);
        let mut json = with_histogram(run(TransportKind::Uds, Pattern::RoundTrip, 7_000), 7_000);
        json.framing = crate::transport::framing::Framing::JsonLines;
        let input = Input { name: "sweep.json".into(), summary: summary(vec![raw, json]) };
        let charts = charts(&[input]).unwrap();
        let cdf = charts.iter().find(|c| c.title.contains("latency by percentile")).expect("a spectrum");
        // Two curves, each named by what tells it apart; before, one merged "uds" curve.
        assert!(cdf.svg.contains("\nuds json-lines\n"), "{}", cdf.title);
        assert!(cdf.svg.contains("\nuds\n"), "{}", cdf.title);
        let histograms = charts.iter().filter(|c| c.title.starts_with("histogram:")).count();
        assert_eq!(histograms, 2, "one histogram per configuration");
    }

    #[test]
    fn a_fan_out_at_several_sizes_gets_a_curve_per_subscriber_count_against_size() {
        use crate::analysis::fixtures::fan_out_run;
        let mut runs = Vec::new();
        for (size, value) in [(64, 4_000), (4096, 6_000)] {
            for n in [1, 2] {
                let mut r = fan_out_run(TransportKind::Uds, n, value * n as u64);
                r.size_bytes = size;
                runs.push(r);
            }
        }
        let input = Input { name: "fan.json".into(), summary: summary(runs) };
        let charts = charts(&[input]).unwrap();
        let chart = charts
            .iter()
            .find(|c| c.title == "fan-out p50 (solid) and p99 (dashed) against message size")
            .expect("a chart against size");
        // Each subscriber count is a configuration of its own, so a curve of its own.
        for label in ["uds to 1 subscriber p50", "uds to 2 subscribers p50", "uds to 2 subscribers p99"] {
            assert!(chart.svg.contains(&format!("\n{label}\n")), "{label}");
        }
        assert!(!chart.svg.contains("\nuds p50\n"), "no curve merges the counts");
        let against_subscribers: Vec<&str> = charts
            .iter()
            .filter(|c| c.title.contains("against subscribers"))
            .map(|c| c.title.as_str())
            .collect();
        assert_eq!(
            against_subscribers,
            ["fan-out latency against subscribers, 64 B", "fan-out latency against subscribers, 4 KiB"]
        );
    }
}
