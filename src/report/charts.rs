//! The report's charts, drawn with plotters into SVG strings (no fonts or files needed).

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use crate::format::{format_bytes, format_ns};
use crate::measure::histogram::LatencyHistogram;

const SIZE: (u32, u32) = (760, 420);

fn color(i: usize) -> RGBColor {
    const C: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    C[i % C.len()]
}

/// Draws the legend of the series labelled so far.
fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a chart: {e:?}")
}

/// Latency CDF: one curve per series, log latency axis, markers at p50, p99 and p99.9.
pub fn cdf(title: &str, series: &[(String, &LatencyHistogram)]) -> Result<String> {
    let curves: Vec<(&String, Vec<(u64, f64)>)> = series.iter().map(|(l, h)| (l, h.cdf_points())).collect();
    let lo = curves.iter().filter_map(|(_, c)| c.first().map(|p| p.0)).min().unwrap_or(1).max(1);
    let hi = curves.iter().filter_map(|(_, c)| c.last().map(|p| p.0)).max().unwrap_or(10).max(lo + 1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d((lo as f64 * 0.9..hi as f64 * 1.1).log_scale(), 0.0..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("latency (log scale)")
            .y_desc("fraction of messages ≤ latency")
            .x_label_formatter(&|v| format_ns(*v as u64))
            .draw()
            .map_err(err)?;
        for (i, (label, pts)) in curves.iter().enumerate() {
            let c = color(i);
            chart
                .draw_series(LineSeries::new(pts.iter().map(|&(v, q)| (v as f64, q)), c.stroke_width(2)))
                .map_err(err)?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
            let h = series[i].1;
            for q in [0.5, 0.99, 0.999] {
                let v = h.value_at_quantile(q) as f64;
                chart.draw_series(std::iter::once(Circle::new((v, q), 4, c.filled()))).map_err(err)?;
            }
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A histogram of one run's latencies: 50 equal bins from the minimum to p99.9 (the title says
/// where the rest of the tail goes).
pub fn histogram(title: &str, h: &LatencyHistogram) -> Result<String> {
    let s = h.stats();
    let lo = s.min;
    let hi = s.p99_9.max(lo + 50);
    let bins = 50u64;
    let width = (hi - lo).div_ceil(bins).max(1);
    let edges: Vec<u64> = (0..=bins).map(|i| lo + i * width).collect();
    let counts = h.counts_between(&edges);
    let top = counts.iter().copied().max().unwrap_or(1).max(1);
    let caption = format!("{title} (to p99.9 = {}; max {})", format_ns(s.p99_9), format_ns(s.max));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(lo..edges[edges.len() - 1], 0u64..top + top / 10 + 1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("latency")
            .y_desc("messages")
            .x_labels(8)
            .x_label_formatter(&|v| format_ns(*v))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(
                edges
                    .windows(2)
                    .zip(&counts)
                    .map(|(w, &n)| Rectangle::new([(w[0], 0), (w[1], n)], color(0).mix(0.8).filled())),
            )
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One line of a chart against message size.
pub struct SizeSeries {
    pub label: String,
    /// (size in bytes, value), sizes ascending.
    pub points: Vec<(usize, f64)>,
    pub dashed: bool,
    /// Series with the same color index share a color (p50 and p99 of one transport).
    pub color: usize,
}

/// Values against message size, both axes logarithmic.
pub fn against_size(
    title: &str,
    y_desc: &str,
    series: &[SizeSeries],
    format_y: &dyn Fn(f64) -> String,
) -> Result<String> {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (xmin, xmax) = all().fold((f64::MAX, 0f64), |(a, b), p| (a.min(p.0 as f64), b.max(p.0 as f64)));
    let (ymin, ymax) = all().fold((f64::MAX, 0f64), |(a, b), p| (a.min(p.1), b.max(p.1)));
    if xmax == 0.0 {
        return Err(anyhow!("no data for chart '{title}'"));
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(
                (xmin * 0.8..xmax * 1.25).log_scale(),
                (ymin.max(1e-9) * 0.7..ymax * 1.5).log_scale(),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("message size (log scale)")
            .y_desc(y_desc)
            .x_label_formatter(&|v| format_bytes(v.round() as u64))
            .y_label_formatter(&|v| format_y(*v))
            .draw()
            .map_err(err)?;
        for s in series {
            let c = color(s.color);
            let pts: Vec<(f64, f64)> = s.points.iter().map(|&(x, y)| (x as f64, y)).collect();
            let anno = if s.dashed {
                chart.draw_series(DashedLineSeries::new(pts.clone(), 6, 4, c.stroke_width(2))).map_err(err)?
            } else {
                chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2))).map_err(err)?
            };
            let dashed = s.dashed;
            anno.label(s.label.as_str()).legend(move |(x, y)| {
                let w = if dashed { 1 } else { 2 };
                PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(w))
            });
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled()))).map_err(err)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}
