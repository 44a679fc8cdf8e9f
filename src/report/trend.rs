//! `ipcbench report --history FILE`: one trend chart per series of the history's newest branch
//! (commits on the x axis; the median per commit as a line, the spread of its values as a
//! bar, and each change point as a dashed line labelled with its change), on one HTML page
//! with the `history check` table above the charts.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::charts::{color, err, DASH, SIZE};
use super::legend::{Entry, Legend};
use super::{slug, Chart};
use crate::analysis::stats::Metric;
use crate::format::format_change;
use crate::history::check::{check, Options, SeriesReport};
use crate::history::edivisive::Settings;
use crate::history::store::{Series, Store};

/// The change-point settings of the charts: `history check`'s defaults.
pub const SETTINGS: Settings = Settings { window: 50, p_value: 0.001, min_magnitude: 0.04, min_segment: 2 };

const CHANGE: RGBColor = RGBColor(214, 39, 40);

/// At most this many commit ids along the x axis.
const MAX_TICKS: usize = 10;

/// The trend chart of one series and what `check` found in it.
pub fn trend(series: &Series, found: &SeriesReport) -> Result<String> {
    let n = series.points.len();
    if n == 0 {
        return Err(anyhow!("no data for the trend of {}", found.configuration));
    }
    let spreads: Vec<(f64, f64, f64)> = series
        .points
        .iter()
        .map(|p| {
            let mut v = p.values.clone();
            v.sort_by(|a, b| a.total_cmp(b));
            (crate::analysis::stats::median(&mut v).unwrap_or(0.0), v[0], v[v.len() - 1])
        })
        .collect();
    let lo = spreads.iter().map(|s| s.1).fold(f64::MAX, f64::min);
    let hi = spreads.iter().map(|s| s.2).fold(0f64, f64::max);
    let pad = ((hi - lo) * 0.08).max(hi.abs() * 0.01).max(1e-9);
    let (y0, y1) = ((lo - pad).max(0.0), hi + pad * 3.0);
    let metric = series.metric;
    let y_desc = match metric {
        Metric::Throughput => "throughput",
        Metric::P50 => "p50 latency",
        Metric::P99 => "p99 latency",
    };
    let (margin, left) = (12, 12 + 70);
    let mut entries = vec![
        Entry { marker: true, ..Entry::line("median per commit", color(0), 2) },
        Entry { opacity: 0.35, ..Entry::line("spread (lowest to highest value)", color(0), 3) },
    ];
    if !found.change_points.is_empty() {
        entries.push(Entry { dash: Some(DASH), ..Entry::line("change point", CHANGE, 1) });
    }
    let legend = Legend::new(entries, SIZE.0 - left - margin);
    let title = format!("{} · {} · {}", found.configuration, metric, found.testbed);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, SIZE.1 + legend.height())).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (plot, _) = root.split_vertically(SIZE.1);
        let mut chart = ChartBuilder::on(&plot)
            .caption(&title, ("sans-serif", 16))
            .margin(margin)
            .x_label_area_size(40)
            .y_label_area_size(left - margin)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, y0..y1)
            .map_err(err)?;
        let commits: Vec<&str> = series.points.iter().map(|p| p.commit.as_str()).collect();
        chart
            .configure_mesh()
            .x_desc("commit")
            .x_labels(n.min(MAX_TICKS))
            .y_labels(6)
            .y_desc(y_desc)
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.12))
            .x_label_formatter(&|v| {
                let i = v.round();
                // Only whole commits get a label.
                if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < commits.len() {
                    let c = commits[i as usize];
                    c.chars().take(8).collect()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| metric.format(*v))
            .draw()
            .map_err(err)?;
        let c = color(0);
        chart
            .draw_series(spreads.iter().enumerate().map(|(i, s)| {
                PathElement::new(vec![(i as f64, s.1), (i as f64, s.2)], c.mix(0.35).stroke_width(3))
            }))
            .map_err(err)?;
        let medians: Vec<(f64, f64)> = spreads.iter().enumerate().map(|(i, s)| (i as f64, s.0)).collect();
        chart.draw_series(LineSeries::new(medians.clone(), c.stroke_width(2))).map_err(err)?;
        chart.draw_series(medians.iter().map(|&p| Circle::new(p, 3, c.filled()))).map_err(err)?;
        for f in &found.change_points {
            let x = f.index as f64 - 0.5;
            let (on, off) = DASH;
            chart
                .draw_series(DashedLineSeries::new(vec![(x, y0), (x, y1)], on, off, CHANGE.stroke_width(1)))
                .map_err(err)?;
            let label = format!(
                "{} at {}",
                format_change(f.worse_ratio),
                f.commit.chars().take(8).collect::<String>()
            );
            let anchor = if f.index * 2 > n {
                Pos::new(HPos::Right, VPos::Top)
            } else {
                Pos::new(HPos::Left, VPos::Top)
            };
            let style = ("sans-serif", 13).into_font().color(&CHANGE).pos(anchor);
            let dx = if f.index * 2 > n { -0.2 } else { 0.2 };
            chart.draw_series(std::iter::once(Text::new(label, (x + dx, y1), style))).map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    legend.draw_into(&mut svg, left as i32, SIZE.1 as i32);
    Ok(svg)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Reads the history at `db` and writes its page to `out` (and each chart to `svg_dir`).
pub fn run(db: &Path, out: &Path, svg_dir: Option<&Path>) -> Result<usize> {
    let store = Store::open(db).map_err(crate::exit::usage)?;
    let branch = store.newest_branch().map_err(crate::exit::usage)?.ok_or_else(|| {
        crate::exit::usage(anyhow!("{} holds no results yet: nothing to chart", db.display()))
    })?;
    let history = store.branch(&branch).map_err(crate::exit::usage)?;
    let options = Options { branch, metrics: Metric::ALL.to_vec(), settings: SETTINGS, last: None };
    let report = check(&history, &options);
    let mut charts = Vec::new();
    for (s, r) in history.series.iter().zip(&report.series) {
        let title = format!("{} · {} · {}", r.configuration, r.metric, r.testbed);
        charts.push(Chart { slug: slug(&format!("trend {title}")), svg: trend(s, r)?, title });
    }
    if let Some(dir) = svg_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for c in &charts {
            let p = dir.join(format!("{}.svg", c.slug));
            std::fs::write(&p, &c.svg).with_context(|| format!("writing {}", p.display()))?;
        }
    }
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>ipcbench history</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 2em; color: #222; }}\n\
         pre {{ background: #f4f4f4; padding: 0.6em; overflow-x: auto; }}\n\
         figure {{ margin: 1em 0; }}\n\
         </style>\n</head>\n<body>\n<h1>ipcbench history</h1>\n<p>History <code>{}</code>, \
         every metric, at <code>history check</code>'s defaults.</p>\n<pre>{}</pre>\n",
        esc(&db.display().to_string()),
        esc(&report.render_table())
    );
    for c in &charts {
        let _ = writeln!(
            h,
            "<figure id=\"{}\">\n<figcaption>{}</figcaption>\n{}\n</figure>",
            c.slug,
            esc(&c.title),
            c.svg
        );
    }
    h.push_str("</body>\n</html>\n");
    std::fs::write(out, h).with_context(|| format!("writing {}", out.display()))?;
    Ok(charts.len())
}
