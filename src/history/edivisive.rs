//! Change points of one series by E-divisive means (Matteson and James, "A Nonparametric
//! Approach for Multiple Change Point Analysis of Multivariate Data", 2014) with the
//! modifications of Hunter/Apache Otava (Fleming et al., "Hunter: Using Change Point Detection
//! to Hunt for Performance Regressions", ICPE 2023):
//!
//! - **Split.** Windows of `window` points, each starting half a window after the last (or at
//!   the last change point it found, if later), are divided recursively at the point that
//!   maximises the divergence Q̂ between the points before and after it; a division stands when
//!   Student's t-test (not the original permutation test: deterministic, and good with few
//!   points) finds the two sides different at a *looser* p-value (10x the target below 0.05).
//!   The union over windows is the set of weak change points.
//! - **Merge.** Weak points are removed one at a time, weakest first (the largest p-value
//!   above the target; when every p-value passes, the smallest magnitude at or below the
//!   minimum), and the neighbours' statistics recomputed, until every point passes both.
//! - **Minimum segment** (ipcbench's): a point that leaves a segment shorter than `min_segment`
//!   commits is removed first, so a one-commit spike is not a step. With `min_segment` 1 this
//!   never happens and the result is Otava's: `tests/otava.rs` checks every case of Otava's own
//!   tests.
//!
//! Otava's merge recomputes the statistics of the point that followed the removed one and of
//! the point after that, not of the point before it; this module does the same, so that its
//! indices stay Otava's.

use super::ttest::{t_test, Split};

/// What counts as a change point.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Settings {
    /// Points per window of the split step, at least 2.
    pub window: usize,
    /// The p-value a change point must be below.
    pub p_value: f64,
    /// The relative change of the means it must exceed (0.05 = 5%).
    pub min_magnitude: f64,
    /// The fewest points a segment between change points may have, at least 1.
    pub min_segment: usize,
}

/// A change point: the first index of the new segment, and the t-test between the segments
/// on either side of it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChangePoint {
    pub index: usize,
    pub split: Split,
}

/// The p-value of the split step: looser than the target, so that the merge can weigh points
/// the target alone would never have proposed.
pub fn first_pass_p_value(p: f64) -> f64 {
    if p < 0.05 {
        p * 10.0
    } else if p < 0.5 {
        p * 2.0
    } else {
        p
    }
}

/// The change points of `series` (split, then merge), in index order.
pub fn change_points(series: &[f64], s: &Settings) -> Vec<ChangePoint> {
    assert!(s.window >= 2 && s.min_segment >= 1, "checked where the settings are parsed");
    let weak = split(series, s.window, first_pass_p_value(s.p_value));
    merge(weak, series, s)
}

/// One E-divisive pass over the whole of `series` at `p_value`, no windows, no merge: the
/// change-point indices, in order.
pub fn divisive(series: &[f64], p_value: f64) -> Vec<usize> {
    divide(series, p_value)
}

/// The boundaries of the segments `cuts` (sorted) make of `0..len`.
fn segments(cuts: &[usize], len: usize) -> Vec<(usize, usize)> {
    let mut bounds = Vec::with_capacity(cuts.len() + 2);
    bounds.push(0);
    bounds.extend_from_slice(cuts);
    bounds.push(len);
    bounds.windows(2).filter(|w| w[0] != w[1]).map(|w| (w[0], w[1])).collect()
}

/// Recursive division of `w` at the point of largest Q̂ while the t-test of the division is
/// significant at `p_value`; indices relative to `w`.
fn divide(w: &[f64], p_value: f64) -> Vec<usize> {
    let q = Divergence::new(w);
    let mut cuts: Vec<usize> = Vec::new();
    loop {
        let segs = segments(&cuts, w.len());
        // The best candidate over every segment of two points or more; the first on a tie.
        let mut best: Option<(usize, f64, (usize, usize))> = None;
        for &(start, end) in segs.iter().filter(|(s, e)| e - s > 1) {
            let (tau, qhat) = q.best_split(start, end);
            if best.map_or(true, |(_, b, _)| qhat > b) {
                best = Some((tau, qhat, (start, end)));
            }
        }
        let Some((tau, _, (start, end))) = best else { break };
        if t_test(&w[start..tau], &w[tau..end]).p_value <= p_value {
            let at = cuts.partition_point(|&c| c < tau);
            cuts.insert(at, tau);
        } else {
            break;
        }
    }
    cuts
}

/// The split step: [`divide`] over sliding windows, the union of what they find.
fn split(series: &[f64], window: usize, p_value: f64) -> Vec<usize> {
    let step = window / 2;
    let mut found: Vec<usize> = Vec::new();
    let mut start = 0;
    while start < series.len() {
        let end = (start + window).min(series.len());
        let cuts: Vec<usize> = divide(&series[start..end], p_value).into_iter().map(|c| c + start).collect();
        let last = cuts.last().copied().unwrap_or(0);
        start = last.max(start + step);
        for c in cuts {
            if !found.contains(&c) {
                found.push(c);
            }
        }
    }
    found.sort_unstable();
    found
}

/// The t-test across point `i` of `cuts`: the segment before it against the segment after.
fn stats_at(series: &[f64], cuts: &[usize], i: usize) -> Split {
    let before = if i == 0 { 0 } else { cuts[i - 1] };
    let after = cuts.get(i + 1).copied().unwrap_or(series.len());
    t_test(&series[before..cuts[i]], &series[cuts[i]..after])
}

/// The merge step, with the minimum segment.
fn merge(cuts: Vec<usize>, series: &[f64], s: &Settings) -> Vec<ChangePoint> {
    let mut cuts = cuts;
    let mut stats: Vec<Split> = (0..cuts.len()).map(|i| stats_at(series, &cuts, i)).collect();
    while !cuts.is_empty() {
        let len = |i: usize| {
            let before = if i == 0 { 0 } else { cuts[i - 1] };
            cuts[i] - before
        };
        let short = |i: usize| {
            len(i) < s.min_segment || (i + 1 == cuts.len() && series.len() - cuts[i] < s.min_segment)
        };
        // A point bounding a short segment: of the two that bound it, the weaker goes.
        let too_short = (0..cuts.len()).filter(|&i| short(i)).map(|i| {
            if i > 0 && stats[i - 1].p_value > stats[i].p_value {
                i - 1
            } else {
                i
            }
        });
        let weakest = match too_short.min() {
            Some(i) => i,
            None => {
                // Otava: the largest p-value (the first, on a tie); when all pass, the smallest
                // magnitude, unless it too passes.
                let mut w = 0;
                for i in 1..cuts.len() {
                    if stats[i].p_value > stats[w].p_value {
                        w = i;
                    }
                }
                if stats[w].p_value < s.p_value {
                    w = 0;
                    for i in 1..cuts.len() {
                        if stats[i].magnitude() < stats[w].magnitude() {
                            w = i;
                        }
                    }
                    if stats[w].magnitude() > s.min_magnitude {
                        break;
                    }
                }
                w
            }
        };
        let shortened = short(weakest) || (weakest + 1 < cuts.len() && short(weakest + 1));
        cuts.remove(weakest);
        stats.remove(weakest);
        // Otava recomputes the point now at `weakest` and the next; the point before the removed
        // one also changed, and is recomputed only when a short segment was dropped (which
        // Otava never does).
        let mut redo = vec![weakest, weakest + 1];
        if shortened && weakest > 0 {
            redo.push(weakest - 1);
        }
        for i in redo.into_iter().filter(|&i| i < cuts.len()) {
            stats[i] = stats_at(series, &cuts, i);
        }
    }
    cuts.into_iter().zip(stats).map(|(index, split)| ChangePoint { index, split }).collect()
}

/// Q̂ of every split of every segment of a window, from the pairwise distances |x_i - x_j|.
///
/// For a segment `start..end` and a split of `start..kappa` at `tau`, with X = w[start..tau]
/// (n points) and Y = w[tau..kappa] (m points):
///
/// Q̂ = 2/(m+n) Σ|X-Y| - 2m/((m+n)(n-1)) Σ_{i<k}|X_i-X_k| - 2n/((m+n)(m-1)) Σ_{j<k}|Y_j-Y_k|,
///
/// the within-sums dropped for a side of one point. The best split maximises Q̂ over `tau`
/// and `kappa`; ties go to the smaller `tau`, then the smaller `kappa`.
struct Divergence {
    n: usize,
    /// `prefix[j * (n + 1) + k]` = Σ_{i<k} |w_j - w_i|.
    prefix: Vec<f64>,
}

impl Divergence {
    fn new(w: &[f64]) -> Divergence {
        let n = w.len();
        let mut prefix = vec![0.0; n * (n + 1)];
        for j in 0..n {
            let row = &mut prefix[j * (n + 1)..(j + 1) * (n + 1)];
            for k in 0..n {
                row[k + 1] = row[k] + (w[j] - w[k]).abs();
            }
        }
        Divergence { n, prefix }
    }

    /// Σ_{i in from..to} |w_j - w_i|.
    fn sum(&self, j: usize, from: usize, to: usize) -> f64 {
        let row = j * (self.n + 1);
        self.prefix[row + to] - self.prefix[row + from]
    }

    /// The best split of `start..end` (two points or more): its `tau` and Q̂.
    fn best_split(&self, start: usize, end: usize) -> (usize, f64) {
        debug_assert!(end - start > 1 && end <= self.n);
        let mut best = (start + 1, f64::NEG_INFINITY);
        let mut within_x = 0.0;
        for tau in start + 1..end {
            // X grows by w[tau - 1].
            within_x += self.sum(tau - 1, start, tau - 1);
            let mut cross = 0.0;
            let mut within_y = 0.0;
            for kappa in tau + 1..=end {
                // Y grows by w[kappa - 1].
                cross += self.sum(kappa - 1, start, tau);
                within_y += self.sum(kappa - 1, tau, kappa - 1);
                let (n, m) = ((tau - start) as f64, (kappa - tau) as f64);
                let a = 2.0 / (m + n) * cross;
                let b = if tau - start > 1 { 2.0 * m / ((m + n) * (n - 1.0)) * within_x } else { 0.0 };
                let c = if kappa - tau > 1 { 2.0 * n / ((m + n) * (m - 1.0)) * within_y } else { 0.0 };
                let qhat = a - b - c;
                if qhat > best.1 {
                    best = (tau, qhat);
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Q̂ straight from its definition.
    fn qhat_slow(x: &[f64], y: &[f64]) -> f64 {
        let (n, m) = (x.len() as f64, y.len() as f64);
        let cross: f64 = x.iter().flat_map(|a| y.iter().map(move |b| (a - b).abs())).sum();
        let within = |v: &[f64]| -> f64 {
            (0..v.len())
                .flat_map(|i| (i + 1..v.len()).map(move |k| (i, k)))
                .map(|(i, k)| (v[i] - v[k]).abs())
                .sum()
        };
        let b = if x.len() > 1 { 2.0 * m / ((m + n) * (n - 1.0)) * within(x) } else { 0.0 };
        let c = if y.len() > 1 { 2.0 * n / ((m + n) * (m - 1.0)) * within(y) } else { 0.0 };
        2.0 / (m + n) * cross - b - c
    }

    #[test]
    fn the_best_split_maximises_qhat_as_defined() {
        let w = [0.3, 2.4, 1.5, -0.9, -0.5, 99.7, 98.3, 99.1, 149.0, 149.7, 149.5, 149.1, 148.8, 150.0];
        let d = Divergence::new(&w);
        for (start, end) in [(0, w.len()), (0, 5), (5, w.len()), (3, 9)] {
            let mut best = (0, f64::NEG_INFINITY);
            for tau in start + 1..end {
                for kappa in tau + 1..=end {
                    let q = qhat_slow(&w[start..tau], &w[tau..kappa]);
                    if q > best.1 + 1e-9 {
                        best = (tau, q);
                    }
                }
            }
            let (tau, q) = d.best_split(start, end);
            assert_eq!(tau, best.0, "{start}..{end}");
            assert!((q - best.1).abs() < 1e-9 * best.1.abs().max(1.0));
        }
    }

    #[test]
    fn a_clean_step_is_one_change_point_at_the_step() {
        let mut series: Vec<f64> = (0..40).map(|i| 100.0 + (i % 5) as f64 * 0.5).collect();
        series.extend((0..40).map(|i| 120.0 + (i % 5) as f64 * 0.5));
        let s = Settings { window: 50, p_value: 0.001, min_magnitude: 0.05, min_segment: 2 };
        let cps = change_points(&series, &s);
        assert_eq!(cps.iter().map(|c| c.index).collect::<Vec<_>>(), [40]);
        assert!((cps[0].split.mean_before - 101.0).abs() < 1e-9);
        assert!((cps[0].split.mean_after - 121.0).abs() < 1e-9);
    }

    #[test]
    fn a_one_point_spike_is_no_change_point_with_segments_of_two() {
        let mut series: Vec<f64> = (0..60).map(|i| 100.0 + (i % 7) as f64 * 0.4).collect();
        series[30] = 130.0;
        let s = Settings { window: 50, p_value: 0.001, min_magnitude: 0.05, min_segment: 2 };
        assert!(change_points(&series, &s).is_empty());
    }

    #[test]
    fn tiny_and_constant_series_have_no_change_points() {
        let s = Settings { window: 50, p_value: 0.001, min_magnitude: 0.0, min_segment: 1 };
        assert!(change_points(&[], &s).is_empty());
        assert!(change_points(&[1.0], &s).is_empty());
        assert!(change_points(&[1.0, 2.0], &s).is_empty());
        assert!(change_points(&[5.0; 30], &s).is_empty());
    }
}
