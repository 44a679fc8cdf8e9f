//! The terminal table: one row per configuration (repetitions summarised as their median, with
//! their spread), printed once the runs are done. Only the dimensions that vary between rows
//! get a column; what every row shares is said once below the table. Each latency column has
//! one unit, named in its header. `--each` prints every repetition as its own row.

use std::io::Write;

use anyhow::Result;

use super::Exporter;
use crate::analysis::key::{ConfigKey, SeriesKey};
use crate::analysis::stats::{groups, median, spread, Metric};
use crate::analysis::summary::{RunResult, Summary};
use crate::format::{format_bytes, thousands, Grid, TimeUnit};
use crate::pattern::Pattern;

pub struct TableExporter {
    to_stderr: bool,
    each: bool,
}

impl TableExporter {
    /// `to_stderr` when stdout carries a data stream; `each` for a row per repetition.
    pub fn new(to_stderr: bool, each: bool) -> Self {
        TableExporter { to_stderr, each }
    }

    fn emit(&self, text: &str) {
        if self.to_stderr {
            eprint!("{text}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "{text}");
            let _ = out.flush();
        }
    }
}

impl Exporter for TableExporter {
    fn finished(&mut self, summary: &Summary) -> Result<()> {
        if summary.runs.is_empty() {
            return Ok(());
        }
        let mut text = render(summary, self.each);
        for line in fastest(summary, self.each)
            .into_iter()
            .chain(super::notes::knees(summary))
            .chain(super::notes::heat_maps(summary))
            .chain(super::notes::notes(summary))
        {
            text.push_str(&line);
            text.push('\n');
        }
        self.emit(&text);
        Ok(())
    }
}

/// One row of the table: a configuration and its runs (one, with `--each`).
struct Row<'a> {
    key: ConfigKey,
    runs: Vec<&'a RunResult>,
}

impl Row<'_> {
    /// The median over the row's runs of `f`, where the runs have it.
    fn median(&self, f: impl Fn(&RunResult) -> Option<f64>) -> Option<f64> {
        median(&mut self.runs.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
    }
}

fn rows(summary: &Summary, each: bool) -> Vec<Row<'_>> {
    groups(summary)
        .into_iter()
        .flat_map(|(key, runs)| {
            if each {
                runs.into_iter().map(|r| Row { key: key.clone(), runs: vec![r] }).collect::<Vec<_>>()
            } else {
                vec![Row { key, runs }]
            }
        })
        .collect()
}

/// The unit of a time column over `rows`; `None` when no row has the value.
fn latency_unit(rows: &[Row], f: impl Fn(&RunResult) -> Option<f64> + Copy) -> Option<TimeUnit> {
    let values: Vec<f64> = rows.iter().filter_map(|r| r.median(f)).collect();
    (!values.is_empty()).then(|| TimeUnit::for_max(values.iter().copied().fold(0.0, f64::max)))
}

/// A numeric column: its header (with the unit) and its cells.
fn time_column(
    name: &str,
    rows: &[Row],
    f: impl Fn(&RunResult) -> Option<f64> + Copy,
) -> ((String, bool), Vec<String>) {
    let values: Vec<Option<f64>> = rows.iter().map(|r| r.median(f)).collect();
    let unit = latency_unit(rows, f).unwrap_or(TimeUnit::Ns);
    (
        (format!("{name} {}", unit.name()), true),
        values.iter().map(|v| v.map_or_else(|| "-".into(), |v| unit.format(v))).collect(),
    )
}

/// The table of a summary (without the lines that follow it).
pub fn render(summary: &Summary, each: bool) -> String {
    let rows = rows(summary, each);
    let mut columns: Vec<((String, bool), Vec<String>)> = vec![
        (("transport".into(), false), rows.iter().map(|r| r.key.series.transport.to_string()).collect()),
        (("pattern".into(), false), rows.iter().map(|r| r.key.pattern.to_string()).collect()),
        (("size".into(), true), rows.iter().map(|r| format_bytes(r.key.size_bytes as u64)).collect()),
    ];
    let mut shared = Vec::new();
    let dims: Vec<[(&str, String); 14]> = rows.iter().map(|r| r.key.series.dimensions()).collect();
    for i in 0..dims[0].len() {
        let name = dims[0][i].0;
        let values: Vec<String> = dims.iter().map(|d| d[i].1.clone()).collect();
        if values.iter().any(|v| *v != values[0]) {
            columns.push(((name.into(), false), values));
        } else if let Some(text) = shared_text(name, &values[0]) {
            shared.push(text);
        }
    }
    let repeated = rows.iter().any(|r| r.runs.len() > 1);
    if repeated {
        columns.push((("runs".into(), true), rows.iter().map(|r| r.runs.len().to_string()).collect()));
    }
    if each && summary.runs.iter().any(|r| r.repetition > 0) {
        columns.push((("rep".into(), true), rows.iter().map(|r| r.runs[0].repetition.to_string()).collect()));
    }
    columns.push((
        ("messages".into(), true),
        rows.iter()
            .map(|r| thousands(r.median(|x| Some(x.integrity.received as f64)).unwrap_or(0.0) as u64))
            .collect(),
    ));
    let lat = |f: fn(&crate::measure::histogram::LatencyStats) -> u64| {
        move |r: &RunResult| r.latency_ns.map(|l| f(&l) as f64)
    };
    if summary.runs.iter().any(|r| r.latency_ns.is_some()) {
        columns.push(time_column("p50", &rows, lat(|l| l.p50)));
        columns.push(time_column("p99", &rows, lat(|l| l.p99)));
        columns.push(time_column("p99.9", &rows, lat(|l| l.p99_9)));
        columns.push(time_column("max", &rows, lat(|l| l.max)));
    }
    if summary.runs.iter().any(|r| floor_ratio(r).is_some()) {
        columns.push((
            ("×floor".into(), true),
            rows.iter()
                .map(|r| r.median(floor_ratio).map_or_else(|| "-".into(), |v| format!("{v:.2}")))
                .collect(),
        ));
    }
    if summary.runs.iter().any(|r| r.fan_out.is_some()) {
        let fan = |f: fn(&crate::analysis::summary::FanOutResult) -> Option<u64>| {
            move |r: &RunResult| r.fan_out.as_ref().and_then(f).map(|v| v as f64)
        };
        columns.push(time_column("all-delivered p99", &rows, fan(|f| f.all_delivered_ns.map(|l| l.p99))));
        columns.push(time_column("publish p50", &rows, fan(|f| f.publish_ns.map(|l| l.p50))));
    }
    if summary.runs.iter().any(|r| r.many.is_some()) {
        columns.push((
            ("fairness".into(), true),
            rows.iter()
                .map(|r| {
                    r.median(|x| x.many.as_ref().map(|m| m.fairness))
                        .map_or_else(|| "-".into(), |v| format!("{v:.2}"))
                })
                .collect(),
        ));
        columns.push(time_column("server cpu/msg", &rows, |x| {
            x.many.as_ref().map(|m| m.server_cpu_ns_per_message)
        }));
    }
    if repeated {
        let cells = rows
            .iter()
            .map(|r| {
                let runs: Vec<&RunResult> = r.runs.clone();
                spread(&runs, Metric::headline(r.key.pattern))
                    .filter(|s| s.median > 0.0 && runs.len() > 1)
                    .map_or_else(|| "-".into(), |s| format!("{:.1}%", (s.max - s.min) / s.median * 100.0))
            })
            .collect();
        columns.push((("spread".into(), true), cells));
    }
    columns.push((
        ("msg/s".into(), true),
        rows.iter()
            .map(|r| thousands(r.median(|x| Some(x.throughput.messages_per_s)).unwrap_or(0.0).round() as u64))
            .collect(),
    ));
    // `!`: a run's slices disagree (a hiccup); a note below says which. Its own column, so the
    // digits stay aligned.
    if rows.iter().any(|r| r.runs.iter().any(|x| x.interval_spread.is_some_and(|s| s.unsteady))) {
        columns.push((
            ("".into(), false),
            rows.iter()
                .map(|r| {
                    let unsteady = r.runs.iter().any(|x| x.interval_spread.is_some_and(|s| s.unsteady));
                    if unsteady {
                        "!".into()
                    } else {
                        String::new()
                    }
                })
                .collect(),
        ));
    }
    // Bandwidth only where the payload is produced and consumed: a zero-copy latency run
    // "moves" a MiB by passing a slot, which is no bandwidth at all.
    if summary.runs.iter().any(|r| r.pattern == Pattern::Throughput) {
        columns.push((
            ("MB/s".into(), true),
            rows.iter()
                .map(|r| match r.key.pattern {
                    Pattern::Throughput => {
                        format!("{:.1}", r.median(|x| Some(x.throughput.bytes_per_s)).unwrap_or(0.0) / 1e6)
                    }
                    _ => "-".into(),
                })
                .collect(),
        ));
    }
    if summary.runs.iter().any(|r| r.cpu.is_some()) {
        columns.push(time_column("cpu/msg", &rows, |x| x.cpu.map(|c| c.cpu_ns_per_message())));
        // A library works on threads of its own too: its cost is the whole processes' CPU.
        if summary.runs.iter().any(|r| r.library.is_some()) {
            columns.push(time_column("process cpu/msg", &rows, |x| {
                x.cpu.map(|c| c.process_cpu_ns_per_message())
            }));
        }
        columns.push((
            ("csw/msg".into(), true),
            rows.iter()
                .map(|r| {
                    r.median(|x| {
                        x.cpu.map(|c| {
                            c.initiator.voluntary_switches_per_message
                                + c.peer.map_or(0.0, |p| p.voluntary_switches_per_message)
                        })
                    })
                    .map_or_else(|| "-".into(), |v| format!("{v:.2}"))
                })
                .collect(),
        ));
    }
    let mut grid = Grid::new(columns.iter().map(|(h, _)| h.clone()).collect());
    for i in 0..rows.len() {
        grid.push(columns.iter().map(|(_, cells)| cells[i].clone()).collect());
    }
    let mut out = grid.render();
    if !shared.is_empty() {
        out.push_str(&format!("every row: {}\n", shared.join(", ")));
    }
    out.push_str(&legend(summary, repeated));
    out
}

/// A ring round trip's p50 over the cache-line floor measured beside it.
fn floor_ratio(run: &RunResult) -> Option<f64> {
    run.floor.and_then(|f| f.p50_to_floor)
}

/// How a dimension every row shares is said below the table; `None` for a default not worth
/// a word.
fn shared_text(name: &str, value: &str) -> Option<String> {
    match (name, value) {
        (_, "-") | ("framing", "raw") | ("offered", "closed loop") | ("pairs", "1") | ("verify", "no") => {
            None
        }
        ("pin", _) => None,   // the placement line says where they ran
        ("clock", _) => None, // the placement line names it with its read cost
        ("pairs", v) => Some(format!("{v} pairs at once")),
        ("verify", _) => Some("payloads verified".into()),
        ("wait", v) => Some(format!("{v} waits")),
        ("offered", v) => Some(format!("offered {v}")),
        (n, v) => Some(format!("{n} {v}")),
    }
}

/// For every group of comparable rows (the same pattern, size and everything else, only the
/// transport differing), which was fastest: lowest median p50, or most bytes/s for throughput,
/// the median being the figure its row shows.
pub fn fastest(summary: &Summary, each: bool) -> Vec<String> {
    use std::collections::BTreeMap;
    let p50_unit = latency_unit(&rows(summary, each), |r| r.latency_ns.map(|l| l.p50 as f64));
    let mut by: BTreeMap<ConfigKey, Vec<(ConfigKey, f64, usize)>> = BTreeMap::new();
    for (key, runs) in groups(summary) {
        // A load sweep's rates are not rivals: its knee line speaks for it.
        if key.series.rate_per_s.is_some() && !summary.load_curves.is_empty() {
            continue;
        }
        if let Some(s) = spread(&runs, Metric::headline(key.pattern)) {
            by.entry(comparable(&key)).or_default().push((key, s.median, runs.len()));
        }
    }
    let mut out = Vec::new();
    for (group, entries) in &by {
        if entries.len() < 2 {
            continue;
        }
        let metric = Metric::headline(group.pattern);
        let better = |a: f64, b: f64| if metric.lower_is_better() { a < b } else { a > b };
        let best = entries.iter().fold(&entries[0], |best, e| if better(e.1, best.1) { e } else { best });
        let transports: std::collections::BTreeSet<_> =
            entries.iter().map(|(k, ..)| k.series.transport).collect();
        let all: Vec<&SeriesKey> = entries.iter().map(|(k, ..)| &k.series).collect();
        let name = if transports.len() == entries.len() {
            best.0.series.transport.to_string()
        } else {
            best.0.series.label_among(&all)
        };
        // Among several groups of one pattern and size, say what sets this one apart.
        let same: Vec<&SeriesKey> = by
            .keys()
            .filter(|k| k.pattern == group.pattern && k.size_bytes == group.size_bytes)
            .map(|k| &k.series)
            .collect();
        let context = if same.len() > 1 {
            let label = group.series.label_among(&same);
            let rest = label.trim_start_matches(&group.series.transport.to_string()).trim();
            if rest.is_empty() {
                String::new()
            } else {
                format!(", {rest}")
            }
        } else {
            String::new()
        };
        // The figure in its column's unit, as the row shows it.
        let figure = match (metric, p50_unit) {
            (Metric::P50, Some(unit)) => format!("{} {}", unit.format(best.1), unit.name()),
            _ => metric.format(best.1),
        };
        // With --each the rows are single runs: the figure is their median, said so.
        let over =
            if each && best.2 > 1 { format!(", the median of its {} runs", best.2) } else { String::new() };
        out.push(format!(
            "* fastest {} at {}{context}: {} ({} {}{over})",
            group.pattern,
            format_bytes(group.size_bytes as u64),
            name,
            metric,
            figure
        ));
    }
    out
}

/// What makes rows comparable: their key with the transport and what only one transport has
/// (the shm ring, the pipe buffer, the library) taken out.
fn comparable(key: &ConfigKey) -> ConfigKey {
    let mut k = key.clone();
    k.series.transport = crate::transport::TransportKind::Uds;
    // The library goes with the transport: a library's rows are rivals of the mechanisms'.
    k.series.library = None;
    k.series.shm = None;
    k.series.pipe_buffer_bytes = None;
    k.series.library = None;
    k
}

mod legend;
use legend::legend;

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
