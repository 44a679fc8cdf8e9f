//! Tick marks people can read: a handful of round values on a log axis (decades, or 1-2-5 steps
//! on a short span), and labels in human units with no trailing zeros (`1 µs`, `10 KiB`,
//! `2 GB/s`, `99.9%`).

/// A log axis that shows every value it is built for: at most eight round ticks, the first at
/// or below the smallest value and the last at or above the largest, so no point lies beyond
/// the outermost ticks, and a drawn range a little wider than the ticks so no point sits on the
/// frame.
#[derive(Clone, Debug, PartialEq)]
pub struct LogAxis {
    pub range: std::ops::Range<f64>,
    pub ticks: Vec<f64>,
}

/// Most ticks an axis gets: more labels crowd each other.
const MAX_TICKS: usize = 8;

impl LogAxis {
    /// The axis over the given ticks (ascending, at least one).
    fn over(ticks: Vec<f64>) -> LogAxis {
        let (first, last) = (ticks[0], ticks[ticks.len() - 1]);
        // 4% of the span's log on either side, at least a ratio of 1.05.
        let pad = (last / first).powf(0.04).max(1.05);
        LogAxis { range: first / pad..last * pad, ticks }
    }

    /// Round values from `lo` to `hi`: the finest of 1..9, 1-2-5 or decade steps that needs
    /// no more than eight ticks (every second or third decade on a very long span).
    pub fn round(lo: f64, hi: f64) -> LogAxis {
        let lo = lo.max(1e-12);
        let hi = hi.max(lo);
        let mantissas: [&[f64]; 2] = [&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], &[1.0, 2.0, 5.0]];
        let (e0, e1) = (lo.log10().floor() as i32 - 1, hi.log10().ceil() as i32 + 1);
        for m in mantissas {
            let grid: Vec<f64> = (e0..=e1).flat_map(|e| m.iter().map(move |m| m * 10f64.powi(e))).collect();
            let ticks = enclosing(&grid, lo, hi);
            if ticks.len() <= MAX_TICKS {
                return LogAxis::over(ticks);
            }
        }
        LogAxis::powers(10.0, lo, hi)
    }

    /// Powers of `base` from one at or below `lo` to one at or above `hi`, every second (or
    /// third, ...) power when there are too many.
    pub fn powers(base: f64, lo: f64, hi: f64) -> LogAxis {
        let lo = lo.max(1e-12);
        let hi = hi.max(lo);
        let exp = |v: f64| v.ln() / base.ln();
        // The tolerance keeps a value that is a power itself (4096) from a neighbour's tick.
        let mut e0 = (exp(lo) + 1e-9).floor() as i32;
        let mut e1 = (exp(hi) - 1e-9).ceil() as i32;
        if e0 == e1 {
            (e0, e1) = (e0 - 1, e1 + 1);
        }
        let step = ((e1 - e0) as usize).div_ceil(MAX_TICKS - 1).max(1) as i32;
        let n = (e1 - e0 + step - 1) / step;
        LogAxis::over((0..=n).map(|k| base.powi(e0 + k * step)).collect())
    }

    /// The given values as the ticks (the message sizes measured): every value is a tick.
    pub fn exactly(values: Vec<f64>) -> LogAxis {
        LogAxis::over(values)
    }
}

/// The grid values from the last at or below `lo` to the first at or above `hi` (ascending
/// `grid` that spans both); a tick on either side of a single value.
fn enclosing(grid: &[f64], lo: f64, hi: f64) -> Vec<f64> {
    let near = |a: f64, b: f64| (a - b).abs() <= b.abs() * 1e-9;
    let i0 = grid.iter().rposition(|&g| g <= lo || near(g, lo)).unwrap_or(0);
    let i1 = grid.iter().position(|&g| g >= hi || near(g, hi)).unwrap_or(grid.len() - 1);
    let (i0, i1) = if i0 >= i1 { (i0.saturating_sub(1), (i1 + 1).min(grid.len() - 1)) } else { (i0, i1) };
    grid[i0..=i1].to_vec()
}

/// A number with at most three significant digits and no trailing zeros: 1, 2.5, 120.
fn short(v: f64) -> String {
    let s = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `500 ns`, `1 µs`, `20 µs`, `1.5 ms`, `2 s`.
pub fn tick_ns(ns: f64) -> String {
    match ns {
        v if v < 1e3 => format!("{} ns", short(v)),
        v if v < 1e6 => format!("{} µs", short(v / 1e3)),
        v if v < 1e9 => format!("{} ms", short(v / 1e6)),
        v => format!("{} s", short(v / 1e9)),
    }
}

/// `64 B`, `1 KiB`, `10 KiB`, `1 MiB` (powers of 1024).
pub fn tick_bytes(b: f64) -> String {
    match b {
        v if v < 1024.0 => format!("{} B", short(v)),
        v if v < 1024.0 * 1024.0 => format!("{} KiB", short(v / 1024.0)),
        v if v < 1024.0 * 1024.0 * 1024.0 => format!("{} MiB", short(v / 1024.0 / 1024.0)),
        v => format!("{} GiB", short(v / 1024.0 / 1024.0 / 1024.0)),
    }
}

/// A count: `1`, `16`, `128`.
pub fn tick_count(n: f64) -> String {
    short(n)
}

/// `500/s`, `10k/s`, `2M/s`.
pub fn tick_rate(per_s: f64) -> String {
    match per_s {
        v if v < 1e3 => format!("{}/s", short(v)),
        v if v < 1e6 => format!("{}k/s", short(v / 1e3)),
        v if v < 1e9 => format!("{}M/s", short(v / 1e6)),
        v => format!("{}G/s", short(v / 1e9)),
    }
}

/// `500 MB/s`, `2 GB/s` (decimal, as bandwidth is quoted).
pub fn tick_bandwidth(bytes_per_s: f64) -> String {
    match bytes_per_s {
        v if v < 1e6 => format!("{} kB/s", short(v / 1e3)),
        v if v < 1e9 => format!("{} MB/s", short(v / 1e6)),
        v => format!("{} GB/s", short(v / 1e9)),
    }
}

/// The percentile at `x` = 1 / (1 - q) on a percentile-spectrum axis: 0%, 90%, 99.9%.
pub fn tick_percentile(x: f64) -> String {
    let q = (1.0 - 1.0 / x.max(1.0)) * 100.0;
    let digits = (x.log10().round() as usize).saturating_sub(2);
    let s = format!("{q:.digits$}");
    format!("{}%", if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { &s })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_span_gets_fine_steps_a_long_one_decades_never_a_crowd() {
        assert_eq!(LogAxis::round(40.0, 90.0).ticks, [40.0, 50.0, 60.0, 70.0, 80.0, 90.0]);
        assert_eq!(LogAxis::round(100.0, 20_000.0).ticks, [100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 1e4, 2e4]);
        assert_eq!(LogAxis::round(50.0, 5e6).ticks, [10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7]);
        assert_eq!(LogAxis::round(1.0, 1e15).ticks, [1.0, 1e3, 1e6, 1e9, 1e12, 1e15]);
        assert_eq!(LogAxis::powers(4.0, 64.0, 4096.0).ticks, [64.0, 256.0, 1024.0, 4096.0]);
    }

    /// Before, ticks were only the round values inside a padded range: a lowest point of 3 µs
    /// on an axis from 2.1 µs had its lowest tick at 5 µs, and read as "below 5 µs".
    #[test]
    fn every_value_lies_between_the_outermost_ticks_and_inside_the_range() {
        let mut lo = 0.37;
        while lo < 1e10 {
            for ratio in [1.0, 1.03, 1.4, 2.2, 7.0, 31.0, 999.0, 1.3e4, 2e7] {
                let hi = lo * ratio;
                for axis in
                    [LogAxis::round(lo, hi), LogAxis::powers(10.0, lo, hi), LogAxis::powers(4.0, lo, hi)]
                {
                    let t = &axis.ticks;
                    assert!((2..=MAX_TICKS).contains(&t.len()), "{lo}..{hi}: {t:?}");
                    assert!(
                        t[0] <= lo * (1.0 + 1e-9) && t[t.len() - 1] >= hi * (1.0 - 1e-9),
                        "{lo}..{hi}: {t:?}"
                    );
                    assert!(t.windows(2).all(|w| w[0] < w[1]), "{t:?}");
                    assert!(axis.range.start < t[0] && axis.range.end > t[t.len() - 1], "{axis:?}");
                }
            }
            lo *= 1.7;
        }
        assert_eq!(LogAxis::round(2_900.0, 22_000.0).ticks[0], 2_000.0);
    }

    #[test]
    fn labels_are_in_human_units_without_trailing_zeros() {
        assert_eq!(tick_ns(1000.0), "1 µs");
        assert_eq!(tick_ns(500.0), "500 ns");
        assert_eq!(tick_ns(2_500.0), "2.5 µs");
        assert_eq!(tick_ns(10_000_000.0), "10 ms");
        assert_eq!(tick_bytes(10_240.0), "10 KiB");
        assert_eq!(tick_bytes(64.0), "64 B");
        assert_eq!(tick_rate(200_000.0), "200k/s");
        assert_eq!(tick_count(1.0), "1");
        assert_eq!(tick_count(16.0), "16");
        assert_eq!(tick_bandwidth(2e9), "2 GB/s");
        assert_eq!(tick_percentile(1.0), "0%");
        assert_eq!(tick_percentile(10.0), "90%");
        assert_eq!(tick_percentile(100.0), "99%");
        assert_eq!(tick_percentile(1000.0), "99.9%");
        assert_eq!(tick_percentile(10_000.0), "99.99%");
    }
}
