//! Student's two-sample t-test with pooled variance, as `scipy.stats.ttest_ind_from_stats`
//! computes it from the means and the population (ddof = 0) standard deviations Otava passes:
//! the p-value Otava's significance test gives, so that our change points are its change points.
//!
//! The two-sided p-value of `t` with `df` degrees of freedom is the regularized incomplete beta
//! function I_x(df/2, 1/2) at x = df / (df + t²), evaluated by its continued fraction (modified
//! Lentz) with ln Γ from the Lanczos approximation (g = 7, nine terms).

/// The two sides of a candidate split: their means, spreads and how likely they share a mean.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Split {
    pub mean_before: f64,
    pub mean_after: f64,
    /// Population standard deviation (ddof = 0), as Otava computes it.
    pub std_before: f64,
    pub std_after: f64,
    /// Two-sided p-value of equal means; 1.0 where the test is undefined (two points in all,
    /// or two constant sides with equal means).
    pub p_value: f64,
}

impl Split {
    /// Otava's magnitude: the larger of the forward and backward relative change of the means
    /// (0 where a mean is zero).
    pub fn magnitude(&self) -> f64 {
        let rel = |from: f64, to: f64| if from == 0.0 { 0.0 } else { to / from - 1.0 };
        rel(self.mean_before, self.mean_after).abs().max(rel(self.mean_after, self.mean_before).abs())
    }
}

fn mean_and_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std =
        if v.len() >= 2 { (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt() } else { 0.0 };
    (mean, std)
}

/// The t-test of `before` against `after`; both must be non-empty.
pub fn t_test(before: &[f64], after: &[f64]) -> Split {
    debug_assert!(!before.is_empty() && !after.is_empty());
    let (m1, s1) = mean_and_std(before);
    let (m2, s2) = mean_and_std(after);
    let (n1, n2) = (before.len() as f64, after.len() as f64);
    let p_value = if before.len() + after.len() > 2 {
        let df = n1 + n2 - 2.0;
        let pooled = ((n1 - 1.0) * s1 * s1 + (n2 - 1.0) * s2 * s2) / df;
        let t = (m1 - m2) / (pooled * (1.0 / n1 + 1.0 / n2)).sqrt();
        two_sided_p(t, df)
    } else {
        1.0
    };
    Split { mean_before: m1, mean_after: m2, std_before: s1, std_after: s2, p_value }
}

/// P(|T| >= |t|) for Student's T with `df` degrees of freedom; NaN `t` (0/0) gives 1.
pub fn two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_nan() {
        return 1.0;
    }
    if t.is_infinite() {
        return 0.0;
    }
    let x = df / (df + t * t);
    incomplete_beta(df / 2.0, 0.5, x).clamp(0.0, 1.0)
}

/// The regularized incomplete beta function I_x(a, b).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    // The continued fraction converges fast for x below the mean a/(a+b); above it, use the
    // symmetry I_x(a, b) = 1 - I_{1-x}(b, a).
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_fraction(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// The continued fraction of I_x(a, b), by the modified Lentz method.
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPS: f64 = 1e-15;
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0));
    let mut f = d;
    for m in 1..=100_000 {
        let m = m as f64;
        // The even step, then the odd step of the fraction's terms.
        let even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 / guard(1.0 + even * d);
        c = guard(1.0 + even / c);
        f *= c * d;
        let odd = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 / guard(1.0 + odd * d);
        c = guard(1.0 + odd / c);
        let step = c * d;
        f *= step;
        if (step - 1.0).abs() < EPS {
            break;
        }
    }
    f
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1-x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEF[0];
    for (i, c) in COEF.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    #[test]
    fn p_values_match_the_t_distribution_tables() {
        // Two-sided critical values: P(|T| >= t) at df.
        assert!(close(two_sided_p(2.228_138_851_986_27, 10.0), 0.05, 1e-9));
        assert!(close(two_sided_p(12.706_204_736_174_7, 1.0), 0.05, 1e-9));
        // Closed forms: df = 1 is Cauchy, df = 2 has P = 1 - t / sqrt(2 + t²); a huge df is normal.
        for t in [0.3, 1.0, 4.0, 60.0] {
            let cauchy = 1.0 - 2.0 / std::f64::consts::PI * f64::atan(t);
            assert!(close(two_sided_p(t, 1.0), cauchy, 1e-10), "df 1, t {t}");
            assert!(close(two_sided_p(t, 2.0), 1.0 - t / (2.0 + t * t).sqrt(), 1e-10), "df 2, t {t}");
        }
        assert!(close(two_sided_p(3.290_526_731_491_9, 1e9), 0.001, 1e-6));
        assert_eq!(two_sided_p(0.0, 5.0), 1.0);
        assert_eq!(two_sided_p(f64::INFINITY, 5.0), 0.0);
    }

    #[test]
    fn the_significance_cases_of_otavas_tests_give_its_p_values() {
        // apache/otava tests/analysis_test.py test_significance_tester.
        let same = [1.00, 1.02, 1.05, 0.95, 0.98, 1.00, 1.02, 1.05, 0.95, 0.98];
        let s = t_test(&same[..5], &same[5..]);
        assert!(s.p_value > 0.99 && s.p_value < 1.01, "{}", s.p_value);
        let shifted = [1.00, 1.02, 1.05, 0.95, 0.98, 0.80, 0.82, 0.85, 0.79, 0.77];
        let s = t_test(&shifted[..5], &shifted[5..]);
        assert!(s.p_value > 0.0 && s.p_value < 0.001, "{}", s.p_value);
    }

    #[test]
    fn undefined_tests_are_not_significant_and_a_constant_step_is() {
        assert_eq!(t_test(&[1.0], &[2.0]).p_value, 1.0, "two points in all");
        assert_eq!(t_test(&[3.0, 3.0], &[3.0, 3.0]).p_value, 1.0, "0/0");
        assert_eq!(t_test(&[3.0, 3.0], &[4.0, 4.0]).p_value, 0.0, "a step with no noise");
        let s = t_test(&[100.0, 100.0], &[110.0, 110.0]);
        assert!(close(s.magnitude(), 0.1, 1e-12));
    }
}
