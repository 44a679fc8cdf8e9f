//! Tick marks people can read: a handful of round values on a log axis (decades, or 1-2-5 steps
//! on a short span), and labels in human units with no trailing zeros (`1 µs`, `10 KiB`,
//! `2 GB/s`, `99.9%`).

/// Round values on a log axis from `lo` to `hi`: decades when the span is three decades or
/// more, 1-2-5 steps on a shorter one, every integer multiple within a single decade.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (lo, hi) = (lo.max(1e-12), hi.max(lo * 1.000_001));
    let decades = (hi / lo).log10();
    let mantissas: &[f64] = if decades >= 3.0 {
        &[1.0]
    } else if decades >= 1.0 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    };
    let mut out = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for m in mantissas {
            let v = decade * m;
            if v >= lo * 0.999_999 && v <= hi * 1.000_001 {
                out.push(v);
            }
        }
        decade *= 10.0;
    }
    // Many decades: every other one is enough.
    while out.len() > 8 {
        out = out.into_iter().step_by(2).collect();
    }
    out
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
    fn a_short_span_gets_one_two_five_and_a_long_one_decades_never_a_crowd() {
        assert_eq!(log_ticks(40.0, 110.0), [40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]);
        assert_eq!(
            log_ticks(100.0, 20_000.0),
            [100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10_000.0, 20_000.0]
        );
        assert_eq!(log_ticks(50.0, 5e6), [100.0, 1e3, 1e4, 1e5, 1e6]);
        assert!(log_ticks(1.0, 1e15).len() <= 8);
        for (lo, hi) in [(1.0, 1e12), (3.0, 7.0), (123.0, 45_678.0)] {
            let t = log_ticks(lo, hi);
            assert!(!t.is_empty() && t.len() <= 8, "{lo}..{hi}: {t:?}");
            assert!(t.iter().all(|&v| v >= lo * 0.99 && v <= hi * 1.01), "{t:?}");
        }
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
        assert_eq!(tick_bandwidth(2e9), "2 GB/s");
        assert_eq!(tick_percentile(1.0), "0%");
        assert_eq!(tick_percentile(10.0), "90%");
        assert_eq!(tick_percentile(100.0), "99%");
        assert_eq!(tick_percentile(1000.0), "99.9%");
        assert_eq!(tick_percentile(10_000.0), "99.99%");
    }
}
