//! Chart legends, drawn below the plotting area where they cover nothing. Each entry's swatch
//! is drawn the way its series is plotted: colour, width, dashes, opacity and markers.
//!
//! The legend is written as plain SVG into a `<g class="legend">` appended to the chart,
//! which a chart reserves room for by growing its height by [`Legend::height`].

use std::fmt::Write as _;

use plotters::style::RGBColor;

/// How one series is drawn, for its swatch.
#[derive(Clone, Debug)]
pub struct Entry {
    pub label: String,
    pub color: RGBColor,
    pub stroke_px: u32,
    /// Dash and gap lengths in pixels, for a dashed line.
    pub dash: Option<(u32, u32)>,
    pub opacity: f64,
    /// Whether the series marks its points with dots (of radius 3).
    pub marker: bool,
}

impl Entry {
    /// A solid, opaque line of `stroke_px` without markers.
    pub fn line(label: &str, color: RGBColor, stroke_px: u32) -> Entry {
        Entry { label: label.to_string(), color, stroke_px, dash: None, opacity: 1.0, marker: false }
    }
}

/// Font size of the labels, in pixels.
const FONT_PX: f64 = 11.0;
/// Height of one row of entries.
const ROW_PX: u32 = 18;
const SWATCH_PX: u32 = 28;
/// From a swatch to its label, and from a label to the next column.
const GAP_PX: u32 = 6;
const COLUMN_GAP_PX: u32 = 18;

/// Width of `text` at `font_px`, at 0.62 em a character: more than the average letter of a
/// sans-serif font, so what is laid out by it fits.
pub fn text_width(text: &str, font_px: f64) -> f64 {
    text.chars().count() as f64 * 0.62 * font_px
}

/// The entries laid out in equal columns, filled row by row, as many columns as fit.
pub struct Legend {
    entries: Vec<Entry>,
    columns: usize,
    column_px: u32,
}

impl Legend {
    /// Lays out `entries` in `width_px`.
    pub fn new(entries: Vec<Entry>, width_px: u32) -> Legend {
        let widest = entries.iter().map(|e| text_width(&e.label, FONT_PX).ceil() as u32).max().unwrap_or(0);
        let column_px = SWATCH_PX + GAP_PX + widest + COLUMN_GAP_PX;
        let columns = ((width_px / column_px.max(1)) as usize).clamp(1, entries.len().max(1));
        Legend { entries, columns, column_px }
    }

    /// The height the legend takes below its chart: nothing when it has no entries.
    pub fn height(&self) -> u32 {
        let rows = self.entries.len().div_ceil(self.columns) as u32;
        if rows == 0 {
            0
        } else {
            rows * ROW_PX + 10
        }
    }

    /// Appends the legend to `svg` (a whole SVG document), its first row's top at `top` and
    /// its first column at `left`.
    pub fn draw_into(&self, svg: &mut String, left: i32, top: i32) {
        if self.entries.is_empty() {
            return;
        }
        let mut g = String::from("<g class=\"legend\">\n");
        for (i, e) in self.entries.iter().enumerate() {
            let x = left + (i % self.columns) as i32 * self.column_px as i32;
            let y = top + (i / self.columns) as i32 * ROW_PX as i32 + ROW_PX as i32 / 2;
            let RGBColor(r, gr, b) = e.color;
            let color = format!("#{r:02X}{gr:02X}{b:02X}");
            let dash =
                e.dash.map_or_else(String::new, |(on, off)| format!(" stroke-dasharray=\"{on} {off}\""));
            let _ = writeln!(
                g,
                "<line x1=\"{x}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{color}\" stroke-width=\"{}\" opacity=\"{}\"{dash}/>",
                x + SWATCH_PX as i32,
                e.stroke_px,
                e.opacity
            );
            if e.marker {
                let _ = writeln!(
                    g,
                    "<circle cx=\"{}\" cy=\"{y}\" r=\"3\" fill=\"{color}\" opacity=\"{}\"/>",
                    x + SWATCH_PX as i32 / 2,
                    e.opacity
                );
            }
            let _ = writeln!(
                g,
                "<text x=\"{}\" y=\"{y}\" dy=\"0.5ex\" text-anchor=\"start\" font-family=\"sans-serif\" font-size=\"{FONT_PX}\" fill=\"#000000\">\n{}\n</text>",
                x + (SWATCH_PX + GAP_PX) as i32,
                escape(&e.label)
            );
        }
        g.push_str("</g>\n");
        let at = svg.rfind("</svg>").unwrap_or(svg.len());
        svg.insert_str(at, &g);
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_fill_as_many_columns_as_fit_and_a_dashed_swatch_carries_its_dashes() {
        let mut dashed = Entry::line("uds p99 & more", RGBColor(31, 119, 180), 2);
        dashed.dash = Some((6, 4));
        let entries = vec![Entry::line("uds p50", RGBColor(31, 119, 180), 2), dashed];
        // 2 labels of 14 characters: 28 + 6 + 96 + 18 = 148 pixels a column.
        assert_eq!(Legend::new(entries.clone(), 300).columns, 2);
        let one = Legend::new(entries, 200);
        assert_eq!((one.columns, one.height()), (1, 2 * ROW_PX + 10));
        let mut svg = "<svg>\n</svg>\n".to_string();
        one.draw_into(&mut svg, 80, 400);
        assert!(svg.starts_with("<svg>\n<g class=\"legend\">") && svg.ends_with("</g>\n</svg>\n"), "{svg}");
        assert_eq!(svg.matches("stroke-dasharray=\"6 4\"").count(), 1, "{svg}");
        assert!(svg.contains("uds p99 &amp; more"));
        assert_eq!(Legend::new(Vec::new(), 600).height(), 0);
    }
}
