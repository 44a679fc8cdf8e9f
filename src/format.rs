//! Human units for tables, charts and messages: one place that decides how a nanosecond, a byte
//! count or a rate is written.

/// 950 ns, 9,615 ns, 12.3 µs, 4.56 ms, 1.20 s.
pub fn format_ns(ns: u64) -> String {
    match ns {
        0..=9_999 => format!("{} ns", thousands(ns)),
        10_000..=9_999_999 => format!("{:.1} µs", ns as f64 / 1e3),
        10_000_000..=9_999_999_999 => format!("{:.2} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

/// 64 B, 4 KiB, 1 MiB, 1 GiB; sizes that are no whole number of a unit stay in bytes.
pub fn format_bytes(b: u64) -> String {
    if b >= 1 << 30 && b % (1 << 30) == 0 {
        format!("{} GiB", b >> 30)
    } else if b >= 1 << 20 && b % (1 << 20) == 0 {
        format!("{} MiB", b >> 20)
    } else if b >= 1 << 10 && b % (1 << 10) == 0 {
        format!("{} KiB", b >> 10)
    } else {
        format!("{b} B")
    }
}

/// 950, 12.3k, 4.56M (messages per second).
pub fn format_rate(per_s: f64) -> String {
    if per_s >= 1e6 {
        format!("{:.2}M", per_s / 1e6)
    } else if per_s >= 1e3 {
        format!("{:.1}k", per_s / 1e3)
    } else {
        format!("{per_s:.0}")
    }
}

/// 123.4 MB/s (decimal megabytes, as bandwidth is usually quoted).
pub fn format_bandwidth(bytes_per_s: f64) -> String {
    format!("{:.1} MB/s", bytes_per_s / 1e6)
}

/// A fraction as a percentage with no needless digits: 0.05 is `5%`, 0.005 is `0.5%`.
pub fn format_pct(fraction: f64) -> String {
    let text = format!("{:.2}", fraction * 100.0);
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

/// Which way a change goes, from its worse-ratio (current time / baseline time: per message
/// for latency, per byte for throughput; above 1 is slower), and by how much: `31%`, or `2.4x`
/// from twice as slow (or fast) on. `None` for no change at the precision shown.
fn change_amount(worse_ratio: f64) -> Option<(&'static str, String)> {
    let (dir, factor) =
        if worse_ratio >= 1.0 { ("slower", worse_ratio) } else { ("faster", 1.0 / worse_ratio) };
    let by = factor - 1.0;
    if !by.is_finite() {
        return Some((dir, "without bound".into()));
    }
    if by < 0.0005 {
        return None;
    }
    Some((
        dir,
        if factor >= 2.0 {
            format!("{factor:.1}x")
        } else if by < 0.1 {
            format!("{:.1}%", by * 100.0)
        } else {
            format!("{:.0}%", by * 100.0)
        },
    ))
}

/// The one wording of a change, for every metric alike (see [`change_amount`] for the ratio):
/// `slower by 31%`, `faster by 12%`, `slower by 2.4x`, `no change`. The same change seen from
/// the other side reads the same with the direction swapped.
pub fn format_change(worse_ratio: f64) -> String {
    match change_amount(worse_ratio) {
        None => "no change".into(),
        Some((dir, amount)) => format!("{dir} by {amount}"),
    }
}

/// An interval of worse-ratios in the same words: `slower by 2.0% to 8.1%`, `faster by 3.0% to
/// slower by 8.1%`, `slower by 50% to 2.4x`.
pub fn format_change_range(low: f64, high: f64) -> String {
    match (change_amount(low), change_amount(high)) {
        (Some((a, x)), Some((b, y))) if a == b => {
            // Nearest to no change first.
            if a == "slower" {
                format!("{a} by {x} to {y}")
            } else {
                format!("{a} by {y} to {x}")
            }
        }
        (Some((a, x)), Some((b, y))) => format!("{a} by {x} to {b} by {y}"),
        (None, Some((b, y))) => format!("no change to {b} by {y}"),
        (Some((a, x)), None) => format!("{a} by {x} to no change"),
        (None, None) => "no change".into(),
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The unit a column of latencies is written in: the one that keeps its largest value short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    Ns,
    Us,
    Ms,
}

impl TimeUnit {
    /// The unit for a column whose largest value is `max_ns`: nanoseconds up to 100 µs, so a
    /// column holding a 150 ns shm round trip beside a 12 µs tcp one keeps both exact.
    pub fn for_max(max_ns: f64) -> TimeUnit {
        if max_ns < 100_000.0 {
            TimeUnit::Ns
        } else if max_ns < 100_000_000.0 {
            TimeUnit::Us
        } else {
            TimeUnit::Ms
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Ns => "ns",
            TimeUnit::Us => "µs",
            TimeUnit::Ms => "ms",
        }
    }

    /// `ns` in this unit, without the unit (the column header carries it).
    pub fn format(self, ns: f64) -> String {
        match self {
            TimeUnit::Ns => thousands(ns.round() as u64),
            TimeUnit::Us => format!("{:.1}", ns / 1e3),
            TimeUnit::Ms => format!("{:.2}", ns / 1e6),
        }
    }
}

/// An aligned text table: text columns left-aligned, numeric columns right-aligned, two spaces
/// between columns, no trailing blanks. Every table ipcbench prints goes through it.
#[derive(Debug, Default)]
pub struct Grid {
    header: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Grid {
    /// A table with these columns: `(header, right-aligned)`.
    pub fn new(columns: Vec<(String, bool)>) -> Grid {
        let (header, right) = columns.into_iter().unzip();
        Grid { header, right, rows: Vec::new() }
    }

    pub fn push(&mut self, row: Vec<String>) {
        debug_assert_eq!(row.len(), self.header.len());
        self.rows.push(row);
    }

    pub fn render(&self) -> String {
        let n = self.header.len();
        let widths: Vec<usize> = (0..n)
            .map(|i| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .map(|r| r[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let w = widths[i];
                    if self.right[i] {
                        format!("{c:>w$}")
                    } else {
                        format!("{c:<w$}")
                    }
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

/// The largest message size accepted.
pub const MAX_SIZE_BYTES: usize = 256 << 20;
/// The smallest: the message header.
pub const MIN_SIZE_BYTES: usize = crate::wire::HEADER_BYTES;

/// Parses a message size: `64`, `64B`, `4K`/`4KiB`, `1M`/`1MiB`, `1G`/`1GiB` (powers of 1024)
/// or `4KB`/`1MB`/`1GB` (powers of 1000), between the header size and [`MAX_SIZE_BYTES`]. Every
/// refusal names the bounds.
pub fn parse_size(text: &str) -> Result<usize, String> {
    const UNITS: [(&str, usize); 11] = [
        ("KiB", 1 << 10),
        ("MiB", 1 << 20),
        ("GiB", 1 << 30),
        ("KB", 1_000),
        ("MB", 1_000_000),
        ("GB", 1_000_000_000),
        ("K", 1 << 10),
        ("k", 1 << 10),
        ("M", 1 << 20),
        ("G", 1 << 30),
        ("B", 1),
    ];
    let t = text.trim();
    let (digits, mult) =
        UNITS.iter().find_map(|(suffix, m)| t.strip_suffix(suffix).map(|d| (d, *m))).unwrap_or((t, 1));
    let limit = format_bytes(MAX_SIZE_BYTES as u64);
    let n: usize = digits.trim().parse().map_err(|_| {
        format!("'{text}' is not a size like 64, 4KiB, 1MiB or 1GiB ({MIN_SIZE_BYTES} B to {limit})")
    })?;
    match n.checked_mul(mult) {
        Some(b) if b > MAX_SIZE_BYTES => Err(format!("{text} is {b} bytes, over the {limit} limit")),
        None => Err(format!("{text} is over the {limit} limit")),
        Some(b) if b < MIN_SIZE_BYTES => Err(format!(
            "{b} is below the {MIN_SIZE_BYTES}-byte message header (sequence number and timestamp)"
        )),
        Some(b) => Ok(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_suffixes_and_refusals_name_the_bounds() {
        assert_eq!(parse_size("64").unwrap(), 64);
        assert_eq!(parse_size("64B").unwrap(), 64);
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("64K").unwrap(), 65536);
        assert_eq!(parse_size("4KB").unwrap(), 4000);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("2MB").unwrap(), 2_000_000);
        assert!(parse_size("8").unwrap_err().contains("below the 16-byte"));
        assert!(parse_size("0").is_err());
        let err = parse_size("lots").unwrap_err();
        assert!(err.contains("not a size") && err.contains("256 MiB"), "{err}");
        // A GiB is understood, and refused for the limit, like 1024MiB.
        for big in ["1GiB", "1G", "1024MiB", "1GB"] {
            let err = parse_size(big).unwrap_err();
            assert!(err.contains("over the 256 MiB limit"), "{big}: {err}");
        }
        assert!(parse_size("999999999999999999G").unwrap_err().contains("256 MiB limit"));
    }

    #[test]
    fn human_units_switch_at_the_right_places() {
        assert_eq!(format_ns(950), "950 ns");
        assert_eq!(format_ns(12_345), "12.3 µs");
        assert_eq!(format_ns(45_600_000), "45.60 ms");
        assert_eq!(format_bytes(64), "64 B");
        assert_eq!(format_bytes(4096), "4 KiB");
        assert_eq!(format_bytes(1 << 20), "1 MiB");
        assert_eq!(format_bytes(1 << 30), "1 GiB");
        assert_eq!(format_bytes(1000), "1000 B");
        assert_eq!(format_rate(12_345.0), "12.3k");
        assert_eq!(format_bandwidth(2.5e9), "2500.0 MB/s");
    }

    #[test]
    fn a_grid_aligns_text_left_and_numbers_right_with_one_unit_per_column() {
        let mut g = Grid::new(vec![("transport".into(), false), ("p50 ns".into(), true)]);
        g.push(vec!["uds".into(), TimeUnit::Ns.format(9759.0)]);
        g.push(vec!["shm".into(), TimeUnit::Ns.format(150.0)]);
        assert_eq!(g.render(), "transport  p50 ns\nuds         9,759\nshm           150\n");
        assert_eq!(TimeUnit::for_max(15_000.0), TimeUnit::Ns);
        assert_eq!(TimeUnit::for_max(1_707_000.0), TimeUnit::Us);
        assert_eq!(TimeUnit::Us.format(1_707_000.0), "1707.0");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }

    #[test]
    fn a_change_reads_one_way_for_every_metric_and_flips_with_the_sides() {
        assert_eq!(format_change(1.31), "slower by 31%");
        assert_eq!(format_change(1.0 / 1.12), "faster by 12%");
        assert_eq!(format_change(1.023), "slower by 2.3%");
        // A throughput drop from 116.3 to 25.7 MB/s: old/new = 4.53.
        assert_eq!(format_change(116.3 / 25.7), "slower by 4.5x");
        assert_eq!(format_change(25.7 / 116.3), "faster by 4.5x");
        assert_eq!(format_change(1.0002), "no change");
        assert_eq!(format_change_range(1.02, 1.081), "slower by 2.0% to 8.1%");
        assert_eq!(format_change_range(0.97, 1.081), "faster by 3.1% to slower by 8.1%");
        assert_eq!(format_change_range(0.5, 0.9), "faster by 11% to 2.0x");
        assert_eq!(format_change_range(1.5, 2.4), "slower by 50% to 2.4x");
        assert_eq!(format_pct(0.05), "5%");
        assert_eq!(format_pct(0.005), "0.5%");
        assert_eq!(format_pct(9.0), "900%");
    }
}
