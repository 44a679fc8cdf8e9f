//! Confidence intervals for "how much worse is the new build", and the verdict they support.
//!
//! Everything is a *worse-ratio*: new/old for a metric where lower is better (latency), old/new
//! where higher is better (throughput), so 1.10 means 10% worse either way.
//!
//! - **Paired** (`ipcbench ab`): one ratio per round, both builds measured in that round. The
//!   interval is the distribution-free confidence interval of the median from order statistics
//!   (Conover, *Practical Nonparametric Statistics*, 3rd ed., 1999, section 3.2; the same
//!   interval as the sign test's): with the ratios sorted, `[x_(k), x_(n-k+1)]` where `k` is the
//!   largest rank with `P(Bin(n, 1/2) <= k - 1) <= alpha/2`. It assumes only that rounds are
//!   independent, nothing about the distribution; it needs at least 6 rounds at 95%.
//! - **Unpaired** (`ipcbench compare`): repetitions of each side, with no pairing to lean on.
//!   The interval is a percentile bootstrap of median(new)/median(old) (Efron and Tibshirani, *An
//!   Introduction to the Bootstrap*, 1993, chapter 13), 2,000 resamples from a fixed seed so the
//!   same files always get the same verdict. It cannot see drift *between* the two runs, which
//!   is why it is weaker than `ab`.
//!
//! The verdict against a regression threshold `t` (only metrics a gate names get one): a gate
//! must never pass what it could not judge, so a change passes only when the interval rules out
//! a regression beyond `t`.
//! - `regressed`: the whole interval is above `1 + t` (the gate fails);
//! - `improved`: the whole interval is below `1 - t`;
//! - `unchanged`: the interval lies below `1 + t` and is not wholly below `1 - t` (a regression
//!   beyond the threshold is ruled out);
//! - `undecided`: the interval straddles `1 + t`, or there are too few values to bound it: it
//!   cannot tell whether the change is beyond the threshold (the gate says so with its own exit
//!   code; more repetitions or rounds narrow the interval).

use super::stats::median;

/// A confidence interval of a worse-ratio.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    /// The point estimate: the median ratio (paired) or the ratio of medians (unpaired).
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    /// The interval's actual coverage (order statistics give at least the asked-for 95%).
    pub confidence: f64,
}

/// What a change amounts to, judged by its interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The whole interval is better than the threshold.
    Improved,
    /// The interval rules out a regression beyond the threshold.
    Unchanged,
    /// The interval straddles the regression threshold, or there were too few values to bound
    /// it: measure more. (Files written before schema 2 said `inconclusive`.)
    #[serde(alias = "inconclusive")]
    #[value(alias = "inconclusive")]
    Undecided,
    /// The whole interval is worse than the threshold.
    Regressed,
}

crate::display_as_value_name!(Verdict);

/// The asked-for confidence.
pub const CONFIDENCE: f64 = 0.95;

/// Judges an interval (or its absence: too few values to bound anything) against `threshold`.
pub fn verdict(interval: Option<&Interval>, threshold: f64) -> Verdict {
    let Some(i) = interval else { return Verdict::Undecided };
    let (up, down) = (1.0 + threshold, 1.0 - threshold);
    if i.low > up {
        Verdict::Regressed
    } else if i.high < down {
        Verdict::Improved
    } else if i.high <= up {
        Verdict::Unchanged
    } else {
        Verdict::Undecided
    }
}

/// `P(Bin(n, 1/2) <= k)`.
fn binomial_half_cdf(n: usize, k: usize) -> f64 {
    // pmf(i + 1) = pmf(i) * (n - i) / (i + 1), from pmf(0) = 2^-n (n is at most a few thousand).
    let mut pmf = 0.5f64.powi(n as i32);
    let mut cdf = 0.0;
    for i in 0..=k.min(n) {
        cdf += pmf;
        pmf *= (n - i) as f64 / (i + 1) as f64;
    }
    cdf
}

/// The order-statistics interval of the median of `values` at [`CONFIDENCE`]; `None` when
/// there are too few values for any interval to reach it (fewer than 6).
pub fn median_interval(values: &[f64]) -> Option<Interval> {
    let n = values.len();
    let alpha_half = (1.0 - CONFIDENCE) / 2.0;
    // The largest k >= 1 with P(B <= k - 1) <= alpha/2.
    let k = (1..=n / 2).take_while(|&k| binomial_half_cdf(n, k - 1) <= alpha_half).last()?;
    let mut v = values.to_vec();
    let estimate = median(&mut v)?; // sorts v
    Some(Interval {
        estimate,
        low: v[k - 1],
        high: v[n - k],
        confidence: 1.0 - 2.0 * binomial_half_cdf(n, k - 1),
    })
}

/// Resamples drawn by [`bootstrap_ratio_interval`].
pub const BOOTSTRAP_RESAMPLES: usize = 2_000;

/// The percentile-bootstrap interval of `median(new) / median(old)` at [`CONFIDENCE`]; `None`
/// with fewer than 2 values on either side or a zero median.
pub fn bootstrap_ratio_interval(old: &[f64], new: &[f64]) -> Option<Interval> {
    if old.len() < 2 || new.len() < 2 {
        return None;
    }
    let (mut o, mut n) = (old.to_vec(), new.to_vec());
    let (mo, mn) = (median(&mut o)?, median(&mut n)?);
    if mo <= 0.0 {
        return None;
    }
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut draw = |from: &[f64], into: &mut Vec<f64>| {
        into.clear();
        into.extend((0..from.len()).map(|_| from[(rng.next() % from.len() as u64) as usize]));
        median(into).unwrap_or(0.0)
    };
    let (mut bo, mut bn) = (Vec::new(), Vec::new());
    let mut ratios: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .filter_map(|_| {
            let d = draw(old, &mut bo);
            let u = draw(new, &mut bn);
            (d > 0.0).then(|| u / d)
        })
        .collect();
    ratios.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    let alpha_half = (1.0 - CONFIDENCE) / 2.0;
    Some(Interval {
        estimate: mn / mo,
        low: at(alpha_half),
        high: at(1.0 - alpha_half),
        confidence: CONFIDENCE,
    })
}

/// xorshift64* (Vigna 2016): a fixed-seed generator, so a bootstrap is reproducible.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_statistic_ranks_match_the_textbook_table() {
        // Conover (1999), table A3 / the sign-test interval: n = 10 -> (x(2), x(9)), coverage
        // 0.979; n = 20 -> (x(6), x(15)), 0.959; n = 6 -> (x(1), x(6)), 0.969; n = 5 -> none.
        let ranks = |n: usize| {
            let v: Vec<f64> = (1..=n).map(|i| i as f64).collect();
            median_interval(&v)
                .map(|i| (i.low as usize, i.high as usize, (i.confidence * 1000.0).round() / 1000.0))
        };
        assert_eq!(ranks(10), Some((2, 9, 0.979)));
        assert_eq!(ranks(20), Some((6, 15, 0.959)));
        assert_eq!(ranks(6), Some((1, 6, 0.969)));
        assert_eq!(ranks(5), None, "5 values cannot bound a median at 95%");
        assert!((binomial_half_cdf(10, 1) - 11.0 / 1024.0).abs() < 1e-12);
    }

    #[test]
    fn the_interval_is_of_the_values_not_their_order() {
        let v = [1.3, 0.9, 1.1, 1.0, 1.2, 0.95, 1.05, 1.15, 0.98, 1.02];
        let i = median_interval(&v).unwrap();
        assert_eq!((i.low, i.high), (0.95, 1.2));
        assert!((i.estimate - 1.035).abs() < 1e-12);
    }

    fn at(low: f64, high: f64) -> Interval {
        Interval { estimate: (low + high) / 2.0, low, high, confidence: 0.95 }
    }

    #[test]
    fn verdicts_at_their_boundaries() {
        let t = 0.05;
        assert_eq!(verdict(Some(&at(1.051, 1.2)), t), Verdict::Regressed);
        assert_eq!(
            verdict(Some(&at(1.05, 1.2)), t),
            Verdict::Undecided,
            "touching the threshold is not beyond it"
        );
        assert_eq!(verdict(Some(&at(1.01, 1.2)), t), Verdict::Undecided, "excludes 1.0, straddles 1.05");
        assert_eq!(
            verdict(Some(&at(0.97, 1.2)), t),
            Verdict::Undecided,
            "holds 1.0, but a 20% regression is not ruled out: a gate must not pass it"
        );
        assert_eq!(verdict(Some(&at(1.01, 1.04)), t), Verdict::Unchanged, "within the threshold");
        assert_eq!(verdict(Some(&at(0.96, 1.05)), t), Verdict::Unchanged, "touching is within");
        assert_eq!(verdict(Some(&at(0.90, 0.97)), t), Verdict::Unchanged, "no regression, maybe faster");
        assert_eq!(verdict(Some(&at(0.80, 0.949)), t), Verdict::Improved);
        assert_eq!(verdict(None, t), Verdict::Undecided, "no interval, no claim");
    }

    #[test]
    fn a_bootstrap_is_reproducible_and_brackets_the_ratio_of_medians() {
        let old = [100.0, 102.0, 98.0, 101.0, 99.0];
        let new = [110.0, 112.0, 108.0, 111.0, 109.0];
        let a = bootstrap_ratio_interval(&old, &new).unwrap();
        assert_eq!(Some(a), bootstrap_ratio_interval(&old, &new), "same input, same interval");
        assert!((a.estimate - 1.10).abs() < 1e-12);
        assert!(a.low <= a.estimate && a.estimate <= a.high);
        assert!(a.low > 1.05 && a.high < 1.15, "{a:?}");
        assert_eq!(bootstrap_ratio_interval(&[1.0], &new), None, "one repetition bounds nothing");
        let flat = bootstrap_ratio_interval(&[5.0, 5.0], &[50.0, 50.0]).unwrap();
        assert_eq!((flat.low, flat.high), (10.0, 10.0));
    }
}
