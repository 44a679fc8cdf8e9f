//! The report's charts, drawn with plotters into SVG strings (no fonts or files needed).

use anyhow::{anyhow, Result};
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axes::{tick_bytes, tick_count, tick_ns, tick_percentile, LogAxis};
use super::legend::{text_width, Entry, Legend};
use crate::format::format_ns;
use crate::measure::histogram::LatencyHistogram;

/// A chart's size without its legend, which goes below.
pub(super) const SIZE: (u32, u32) = (760, 420);
/// Dash and gap of a dashed line, in pixels: the series and its legend swatch share them.
pub(super) const DASH: (u32, u32) = (6, 4);
/// Dot and gap of a dotted line, in pixels.
const DOT: (u32, u32) = (2, 3);
/// Opacity of a load chart's thin p99.9 lines.
const THIN_OPACITY: f64 = 0.5;

pub(super) fn color(i: usize) -> RGBColor {
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

pub(super) fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a chart: {e:?}")
}

/// The percentile spectrum HdrHistogram users read: latency (log) against the percentile on a
/// "nines" axis, x = 1 / (1 - q) on a log scale, so 90%, 99%, 99.9% and 99.99% are equally
/// far apart and the tail gets the room it deserves. A curve ends where its samples do (a run
/// of 10,000 messages says nothing about 99.999%).
pub fn percentile_spectrum(title: &str, series: &[(String, &LatencyHistogram)]) -> Result<String> {
    let curves: Vec<(&String, Vec<(f64, f64)>)> =
        series.iter().map(|(l, h)| (l, spectrum_points(h))).filter(|(_, c)| !c.is_empty()).collect();
    let values = || curves.iter().flat_map(|(_, c)| c.iter().map(|p| p.1));
    let lo = values().fold(f64::MAX, f64::min).max(1.0);
    let hi = values().fold(0.0, f64::max).max(lo);
    let x_hi = curves.iter().filter_map(|(_, c)| c.last().map(|p| p.0)).fold(10.0, f64::max);
    // x = 1 (0%) to the first power of ten past the last sample.
    let x = LogAxis::powers(10.0, 1.0, x_hi);
    let y = LogAxis::round(lo, hi);
    let (margin, left) = (14, 14 + 64);
    let legend = Legend::new(
        curves.iter().enumerate().map(|(i, (label, _))| Entry::line(label, color(i), 2)).collect(),
        SIZE.0 - left - margin,
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, SIZE.1 + legend.height())).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (plot, _) = root.split_vertically(SIZE.1);
        let mut chart = ChartBuilder::on(&plot)
            .caption(title, ("sans-serif", 18))
            .margin(margin)
            .x_label_area_size(40)
            .y_label_area_size(left - margin)
            .build_cartesian_2d(
                x.range.log_scale().with_key_points(x.ticks),
                y.range.log_scale().with_key_points(y.ticks),
            )
            .map_err(err)?;
        mesh(&mut chart, "percentile (log scale of 1/(1-q))", "latency (log scale)")
            .x_label_formatter(&|x| tick_percentile(*x))
            .y_label_formatter(&|v| tick_ns(*v))
            .draw()
            .map_err(err)?;
        for (i, (_, pts)) in curves.iter().enumerate() {
            chart.draw_series(LineSeries::new(pts.iter().copied(), color(i).stroke_width(2))).map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    legend.draw_into(&mut svg, left as i32, SIZE.1 as i32);
    Ok(svg)
}

/// (1 / (1 - q), latency at q) from q = 0 up to where the samples run out, 40 points a decade.
fn spectrum_points(h: &LatencyHistogram) -> Vec<(f64, f64)> {
    let n = h.len() as f64;
    if n < 1.0 {
        return Vec::new();
    }
    let mut pts: Vec<(f64, f64)> = (0..=240)
        .map(|i| 10f64.powf(i as f64 / 40.0))
        .take_while(|&x| x <= n)
        .map(|x| (x, h.value_at_quantile(1.0 - 1.0 / x) as f64))
        .collect();
    pts.push((n.max(1.0), h.value_at_quantile(1.0) as f64));
    pts
}

/// The grid every chart shares: bold lines at the key points only (no band of minor lines).
fn mesh<'a, 'b, DB, X, Y>(
    chart: &'b mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    x_desc: &str,
    y_desc: &str,
) -> plotters::chart::MeshStyle<'a, 'b, X, Y, DB>
where
    DB: DrawingBackend,
    X: Ranged<FormatOption = plotters::coord::ranged1d::DefaultFormatting> + ValueFormatter<X::ValueType>,
    Y: Ranged<FormatOption = plotters::coord::ranged1d::DefaultFormatting> + ValueFormatter<Y::ValueType>,
{
    let mut m = chart.configure_mesh();
    m.x_desc(x_desc.to_string())
        .y_desc(y_desc.to_string())
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12));
    m
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
        mesh(&mut chart, "latency", "messages")
            .x_labels(7)
            .y_labels(6)
            .x_label_formatter(&|v| tick_ns(*v as f64))
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

/// How a curve's line is drawn; its points are always marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stroke {
    Solid,
    Dashed,
    Dotted,
}

impl Stroke {
    /// Dash and gap in pixels, for the plotted line and its legend swatch alike.
    fn dash(self) -> Option<(u32, u32)> {
        match self {
            Stroke::Solid => None,
            Stroke::Dashed => Some(DASH),
            Stroke::Dotted => Some(DOT),
        }
    }
}

/// One curve of a chart against message size or subscribers.
pub struct Curve {
    pub label: String,
    /// (x: size in bytes or subscribers, value), x ascending.
    pub points: Vec<(usize, f64)>,
    pub stroke: Stroke,
    /// Curves with the same color index share a color (p50 and p99 of one transport).
    pub color: usize,
}

/// An axis of measured values (sizes, subscriber counts): those values as the ticks (what a
/// reader looks up); powers of `base` from below the smallest to above the largest when there
/// are too many to label.
fn measured_axis(series: &[Curve], base: f64) -> LogAxis {
    let mut xs: Vec<usize> = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
    xs.sort_unstable();
    xs.dedup();
    if xs.len() <= 8 {
        return LogAxis::exactly(xs.into_iter().map(|s| s as f64).collect());
    }
    LogAxis::powers(base, xs[0] as f64, xs[xs.len() - 1] as f64)
}

/// The x axis of a chart against a measured dimension.
struct XAxis<'a> {
    axis: LogAxis,
    desc: &'a str,
    format: &'a dyn Fn(f64) -> String,
}

/// Values against message size, both axes logarithmic.
pub fn against_size(
    title: &str,
    y_desc: &str,
    series: &[Curve],
    format_y: &dyn Fn(f64) -> String,
) -> Result<String> {
    let x = XAxis { axis: measured_axis(series, 4.0), desc: "message size (log scale)", format: &tick_bytes };
    against_measured(title, x, y_desc, series, format_y)
}

/// Latency against the number of subscribers of a fan-out, both axes logarithmic: 1, 2, 4, 8
/// and 16 subscribers evenly apart.
pub fn against_subscribers(title: &str, series: &[Curve]) -> Result<String> {
    let x = XAxis { axis: measured_axis(series, 2.0), desc: "subscribers (log scale)", format: &tick_count };
    against_measured(title, x, "latency (log scale)", series, &tick_ns)
}

/// Values against a measured dimension, both axes logarithmic.
fn against_measured(
    title: &str,
    x: XAxis<'_>,
    y_desc: &str,
    series: &[Curve],
    format_y: &dyn Fn(f64) -> String,
) -> Result<String> {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let xmax = all().map(|p| p.0).max().unwrap_or(0);
    let (ymin, ymax) = all().fold((f64::MAX, 0f64), |(a, b), p| (a.min(p.1), b.max(p.1)));
    if xmax == 0 {
        return Err(anyhow!("no data for chart '{title}'"));
    }
    let y = LogAxis::round(ymin.max(1e-9), ymax);
    let (margin, left) = (12, 12 + 70);
    let entries = series
        .iter()
        .map(|s| Entry { dash: s.stroke.dash(), marker: true, ..Entry::line(&s.label, color(s.color), 2) })
        .collect();
    let legend = Legend::new(entries, SIZE.0 - left - margin);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, SIZE.1 + legend.height())).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (plot, _) = root.split_vertically(SIZE.1);
        let mut chart = ChartBuilder::on(&plot)
            .caption(title, ("sans-serif", 18))
            .margin(margin)
            .x_label_area_size(40)
            .y_label_area_size(left - margin)
            .build_cartesian_2d(
                x.axis.range.log_scale().with_key_points(x.axis.ticks),
                y.range.log_scale().with_key_points(y.ticks),
            )
            .map_err(err)?;
        mesh(&mut chart, x.desc, y_desc)
            .x_label_formatter(&|v| (x.format)(*v))
            .y_label_formatter(&|v| format_y(*v))
            .draw()
            .map_err(err)?;
        for s in series {
            let c = color(s.color);
            let pts: Vec<(f64, f64)> = s.points.iter().map(|&(x, y)| (x as f64, y)).collect();
            match s.stroke.dash() {
                Some((on, off)) => chart
                    .draw_series(DashedLineSeries::new(pts.clone(), on, off, c.stroke_width(2)))
                    .map_err(err)?,
                None => chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2))).map_err(err)?,
            };
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled()))).map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    legend.draw_into(&mut svg, left as i32, SIZE.1 as i32);
    Ok(svg)
}

const KNEE_RING_PX: i32 = 9;
const KNEE_FONT_PX: i32 = 13;

/// Where the label of a knee ringed at `ring` goes, and how it is anchored there: right of
/// and below the ring, or left of it near the plot's right edge, or above it near its bottom,
/// so that a label of `size` (width, height) stays inside the plotting `area`.
fn knee_label(
    ring: (i32, i32),
    size: (i32, i32),
    area: (std::ops::Range<i32>, std::ops::Range<i32>),
) -> ((i32, i32), Pos) {
    let gap = KNEE_RING_PX + 3;
    let (w, h) = size;
    let (x, hpos) = if ring.0 + gap + w <= area.0.end {
        (ring.0 + gap, HPos::Left)
    } else {
        ((ring.0 - gap).max(area.0.start + w), HPos::Right)
    };
    let (y, vpos) = if ring.1 + gap + h <= area.1.end {
        (ring.1 + gap, VPos::Top)
    } else {
        ((ring.1 - gap).max(area.1.start + h), VPos::Bottom)
    };
    ((x, y), Pos::new(hpos, vpos))
}

/// One configuration's curve against load: (achieved messages/s, p50, p99, p99.9 in ns) per
/// offered rate, and the point of its knee, if any.
pub struct LoadSeries {
    /// The legend's names of its p50, p99 and p99.9 lines.
    pub labels: [String; 3],
    pub points: Vec<(f64, f64, f64, f64)>,
    pub knee: Option<(f64, f64)>,
}

/// Latency against achieved rate, both logarithmic: per configuration p50 dashed, p99 solid,
/// p99.9 thin, and the knee ringed.
pub fn against_load(title: &str, series: &[LoadSeries]) -> Result<String> {
    let pts = || series.iter().flat_map(|s| s.points.iter());
    let (xlo, xhi) = pts().fold((f64::MAX, 0f64), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (ylo, yhi) = pts().fold((f64::MAX, 0f64), |(a, b), p| (a.min(p.1), b.max(p.3)));
    if xhi <= 0.0 {
        return Err(anyhow!("no data for chart '{title}'"));
    }
    let (x, y) = (LogAxis::round(xlo.max(1.0), xhi), LogAxis::round(ylo.max(1.0), yhi));
    let (margin, left) = (14, 14 + 64);
    let mut entries = Vec::new();
    for (i, s) in series.iter().enumerate() {
        let [p50, p99, p99_9] = &s.labels;
        let c = color(i);
        entries.push(Entry { dash: Some(DASH), ..Entry::line(p50, c, 2) });
        entries.push(Entry { marker: true, ..Entry::line(p99, c, 3) });
        entries.push(Entry { opacity: THIN_OPACITY, ..Entry::line(p99_9, c, 1) });
    }
    let legend = Legend::new(entries, SIZE.0 - left - margin);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, SIZE.1 + legend.height())).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (plot, _) = root.split_vertically(SIZE.1);
        let mut chart = ChartBuilder::on(&plot)
            .caption(title, ("sans-serif", 18))
            .margin(margin)
            .x_label_area_size(40)
            .y_label_area_size(left - margin)
            .build_cartesian_2d(
                x.range.log_scale().with_key_points(x.ticks),
                y.range.log_scale().with_key_points(y.ticks),
            )
            .map_err(err)?;
        mesh(&mut chart, "achieved rate (messages/s, log scale)", "latency (log scale)")
            .x_label_formatter(&|v| super::axes::tick_rate(*v))
            .y_label_formatter(&|v| tick_ns(*v))
            .draw()
            .map_err(err)?;
        for (i, s) in series.iter().enumerate() {
            let c = color(i);
            let line = |f: fn(&(f64, f64, f64, f64)) -> f64| {
                s.points.iter().map(move |p| (p.0, f(p))).collect::<Vec<_>>()
            };
            let (on, off) = DASH;
            chart.draw_series(LineSeries::new(line(|p| p.2), c.stroke_width(3))).map_err(err)?;
            chart
                .draw_series(DashedLineSeries::new(line(|p| p.1), on, off, c.stroke_width(2)))
                .map_err(err)?;
            chart
                .draw_series(LineSeries::new(line(|p| p.3), c.mix(THIN_OPACITY).stroke_width(1)))
                .map_err(err)?;
            chart
                .draw_series(line(|p| p.2).into_iter().map(|p| Circle::new(p, 3, c.filled())))
                .map_err(err)?;
            if let Some(k) = s.knee {
                chart
                    .draw_series(std::iter::once(Circle::new(k, KNEE_RING_PX, c.stroke_width(2))))
                    .map_err(err)?;
                let text = format!("knee {}", super::axes::tick_rate(k.0));
                let width = text_width(&text, KNEE_FONT_PX as f64).ceil() as i32;
                let area = chart.plotting_area().get_pixel_range();
                let (at, pos) = knee_label(chart.backend_coord(&k), (width, KNEE_FONT_PX), area);
                let font = ("sans-serif", KNEE_FONT_PX).into_font().color(&c).pos(pos);
                plot.draw(&Text::new(text, at, font)).map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    legend.draw_into(&mut svg, left as i32, SIZE.1 as i32);
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_knee_label_turns_left_near_the_right_edge_and_up_near_the_bottom() {
        let area = (80..740, 40..380);
        let ((x, y), pos) = knee_label((300, 200), (70, 13), area.clone());
        assert_eq!((x, y), (312, 212));
        assert!(matches!((pos.h_pos, pos.v_pos), (HPos::Left, VPos::Top)));
        // At the top right corner, where a load sweep's last point sits: left of the ring.
        let ((x, y), pos) = knee_label((735, 45), (70, 13), area.clone());
        assert_eq!((x, y), (723, 57));
        assert!(matches!((pos.h_pos, pos.v_pos), (HPos::Right, VPos::Top)));
        let ((x, y), pos) = knee_label((300, 375), (70, 13), area);
        assert_eq!((x, y), (312, 363));
        assert!(matches!((pos.h_pos, pos.v_pos), (HPos::Left, VPos::Bottom)));
    }
}
