//! The CPU-pair heat map of a `--pin-pairs` sweep: initiator CPU down, peer CPU across, each
//! cell shaded by its value (log scale, darker is slower; faster for throughput) and labelled
//! with the value, the pair's cache-line floor and what its CPUs share.

use anyhow::Result;
use plotters::prelude::*;

use super::charts::err;
use crate::analysis::placement::PairMap;
use crate::analysis::summary::Summary;
use crate::format::format_ns;

/// The heat map of one configuration.
pub fn heat_map(title: &str, m: &PairMap, summary: &Summary) -> Result<String> {
    let (cols, rows) = (m.peers.len(), m.initiators.len());
    let cell_w = (640 / cols.max(1)).clamp(120, 220) as u32;
    let cell_h = 64u32;
    let size = (cell_w * cols as u32 + 140, cell_h * rows as u32 + 120);
    let (lo, hi) = m.cells.values().fold((f64::MAX, 0f64), |(a, b), &v| (a.min(v), b.max(v)));
    // 0 = best, 1 = worst, on a log scale between the extremes.
    let badness = |v: f64| {
        let t = if hi > lo { (v.ln() - lo.ln()) / (hi.ln() - lo.ln()) } else { 0.0 };
        if m.metric.lower_is_better() {
            t
        } else {
            1.0 - t
        }
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .build_cartesian_2d(0..cols as i32, 0..rows as i32)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .disable_y_axis()
            .x_desc("peer CPU")
            .y_desc("initiator CPU")
            .draw()
            .map_err(err)?;
        // Row and column labels at the cells' centres (an axis would put them on the edges).
        let font = ("sans-serif", 13).into_font();
        for (ci, &b) in m.peers.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(ci as i32, 0));
            root.draw(&Text::new(format!("CPU {b}"), (px + cell_w as i32 / 2 - 20, py + 8), font.clone()))
                .map_err(err)?;
        }
        for (ri, &a) in m.initiators.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(0, (rows - ri) as i32));
            root.draw(&Text::new(format!("CPU {a}"), (px - 52, py + cell_h as i32 / 2 - 6), font.clone()))
                .map_err(err)?;
        }
        for (ri, &a) in m.initiators.iter().enumerate() {
            let y = (rows - 1 - ri) as i32;
            for (ci, &b) in m.peers.iter().enumerate() {
                let x = ci as i32;
                let Some(&v) = m.cells.get(&(a, b)) else {
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(x, y), (x + 1, y + 1)],
                            RGBColor(240, 240, 240).filled(),
                        )))
                        .map_err(err)?;
                    continue;
                };
                let t = badness(v);
                let shade = RGBColor(255, (235.0 - 150.0 * t) as u8, (200.0 - 180.0 * t) as u8);
                chart
                    .draw_series(std::iter::once(Rectangle::new([(x, y), (x + 1, y + 1)], shade.filled())))
                    .map_err(err)?;
                let pair = PairMap::pair(summary, a, b);
                let lines = [
                    m.metric.format(v),
                    pair.map_or_else(String::new, |p| {
                        format!("floor {}", format_ns(p.cache_line_round_trip_ns))
                    }),
                    pair.map_or_else(String::new, |p| p.relation.to_string()),
                ];
                let (px, py) = chart.backend_coord(&(x, y + 1));
                for (i, text) in lines.iter().enumerate() {
                    root.draw(&Text::new(
                        text.clone(),
                        (px + 8, py + 6 + 17 * i as i32),
                        ("sans-serif", 13).into_font(),
                    ))
                    .map_err(err)?;
                }
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}
