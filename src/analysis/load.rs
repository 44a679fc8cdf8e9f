//! Load curves: a configuration measured open-loop at several offered rates (`--rates`), the
//! latency it showed at each, and its **knee**: the highest offered rate at which the achieved
//! rate keeps up (within [`KEEP_UP_FRACTION`]) and p99 stays under the target, every lower rate
//! doing the same. Above the knee a queue builds: latency, counted from each message's intended
//! send time, grows with every message.

use std::collections::BTreeMap;

use super::key::ConfigKey;
use super::stats::median;
use super::summary::RunResult;
pub use super::summary::{LoadCurve, LoadPoint};

/// The achieved rate keeps up when it is at least this fraction of the offered one.
pub const KEEP_UP_FRACTION: f64 = 0.99;
/// Without `--p99-target`, the target is this many times the lowest p99 of the sweep (the
/// lowest rate's is no better a base: at 1000/s every message finds cold caches).
pub const DEFAULT_TARGET_FACTOR: u64 = 10;

/// Whether a run at `offered` per second kept up with it.
pub fn keeps_up(offered_per_s: u64, achieved_per_s: f64) -> bool {
    achieved_per_s >= KEEP_UP_FRACTION * offered_per_s as f64
}

/// The load curves of `runs`: every configuration measured at two or more rates.
pub fn curves(runs: &[RunResult], p99_target_ns: Option<u64>) -> Vec<LoadCurve> {
    let mut by: BTreeMap<ConfigKey, BTreeMap<u64, Vec<&RunResult>>> = BTreeMap::new();
    for r in runs {
        let (Some(rate), Some(_)) = (r.rate_per_s, r.latency_ns) else { continue };
        let mut key = ConfigKey::of(r);
        key.series.rate_per_s = None;
        by.entry(key).or_default().entry(rate).or_default().push(r);
    }
    by.into_iter()
        .filter(|(_, rates)| rates.len() >= 2)
        .map(|(config, rates)| curve(config, &rates, p99_target_ns))
        .collect()
}

fn curve(config: ConfigKey, rates: &BTreeMap<u64, Vec<&RunResult>>, given: Option<u64>) -> LoadCurve {
    let med = |runs: &[&RunResult], f: &dyn Fn(&RunResult) -> f64| {
        median(&mut runs.iter().map(|r| f(r)).collect::<Vec<_>>()).unwrap_or(0.0)
    };
    let lat = |f: fn(&crate::measure::histogram::LatencyStats) -> u64| {
        move |r: &RunResult| r.latency_ns.map_or(0.0, |l| f(&l) as f64)
    };
    let mut points: Vec<LoadPoint> = rates
        .iter()
        .map(|(&offered, runs)| LoadPoint {
            offered_per_s: offered,
            achieved_per_s: med(runs, &|r| r.throughput.messages_per_s),
            p50_ns: med(runs, &lat(|l| l.p50)).round() as u64,
            p99_ns: med(runs, &lat(|l| l.p99)).round() as u64,
            p99_9_ns: med(runs, &lat(|l| l.p99_9)).round() as u64,
            sustained: false,
            repetitions: runs.len(),
        })
        .collect();
    let (target, source) = match given {
        Some(t) => (t, "given".to_string()),
        None => (
            points.iter().map(|p| p.p99_ns).min().unwrap_or(0).saturating_mul(DEFAULT_TARGET_FACTOR),
            format!("{DEFAULT_TARGET_FACTOR}x the sweep's lowest p99"),
        ),
    };
    for p in &mut points {
        p.sustained = keeps_up(p.offered_per_s, p.achieved_per_s) && p.p99_ns <= target;
    }
    let sustained_run = points.iter().take_while(|p| p.sustained).count();
    LoadCurve {
        label: config.to_string(),
        config,
        knee_per_s: sustained_run.checked_sub(1).map(|i| points[i].offered_per_s),
        saturated: sustained_run < points.len(),
        points,
        p99_target_ns: target,
        p99_target_source: source,
    }
}

/// The offered rates `--rates auto` climbs through: 1, 2, 5 per decade from 1000/s to 100M/s.
/// The sweep of a configuration stops after the first rate it does not sustain.
pub fn auto_ladder() -> Vec<u64> {
    let mut v = Vec::new();
    let mut decade = 1_000u64;
    while decade <= 100_000_000 {
        for m in [1, 2, 5] {
            v.push(decade * m);
        }
        decade *= 10;
    }
    v.retain(|&r| r <= 100_000_000);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures::run;
    use crate::pattern::Pattern;
    use crate::transport::TransportKind;

    fn at(rate: u64, achieved: f64, p99: u64) -> RunResult {
        let mut r = run(TransportKind::Uds, Pattern::RoundTrip, 1);
        r.rate_per_s = Some(rate);
        r.throughput.messages_per_s = achieved;
        let l = r.latency_ns.as_mut().unwrap();
        (l.p50, l.p99, l.p99_9) = (p99 / 2, p99, p99 * 2);
        r
    }

    #[test]
    fn the_knee_is_the_last_rate_that_keeps_up_under_the_target_with_all_below_it() {
        let runs = vec![
            at(1_000, 1_000.0, 2_000),
            at(10_000, 9_995.0, 3_000),
            at(100_000, 99_500.0, 15_000), // keeps up, but p99 over 10 x 2000
            at(1_000_000, 400_000.0, 900_000),
        ];
        let c = &curves(&runs, None)[0];
        assert_eq!(c.p99_target_ns, 20_000);
        assert_eq!(c.knee_per_s, Some(100_000));
        assert!(c.saturated);
        assert_eq!(c.points.iter().map(|p| p.sustained).collect::<Vec<_>>(), [true, true, true, false]);
        assert_eq!(c.config.series.rate_per_s, None);
        // A tighter target moves the knee down.
        assert_eq!(curves(&runs, Some(5_000))[0].knee_per_s, Some(10_000));
        assert_eq!(curves(&runs, Some(5_000))[0].p99_target_source, "given");
        // Falling behind by more than 1% is not keeping up, whatever the latency.
        let behind = vec![at(1_000, 1_000.0, 2_000), at(10_000, 9_800.0, 2_000)];
        assert_eq!(curves(&behind, None)[0].knee_per_s, Some(1_000));
    }

    #[test]
    fn a_curve_needs_two_rates_and_a_sweep_that_never_saturates_says_so() {
        assert!(curves(&[at(1_000, 1_000.0, 5)], None).is_empty());
        let c = &curves(&[at(1_000, 1_000.0, 5), at(2_000, 2_000.0, 5)], None)[0];
        assert_eq!(c.knee_per_s, Some(2_000));
        assert!(!c.saturated, "the knee is only a lower bound");
        let none = &curves(&[at(1_000, 500.0, 5), at(2_000, 600.0, 5)], None)[0];
        assert_eq!(none.knee_per_s, None);
    }

    #[test]
    fn repetitions_of_a_rate_are_one_point_at_their_medians() {
        let runs = vec![
            at(1_000, 1_000.0, 100),
            at(1_000, 1_000.0, 300),
            at(1_000, 990.0, 200),
            at(5_000, 5_000.0, 100),
        ];
        let c = &curves(&runs, None)[0];
        assert_eq!(c.points[0].repetitions, 3);
        assert_eq!(c.points[0].p99_ns, 200);
        assert_eq!(c.points[0].achieved_per_s, 1_000.0);
    }

    #[test]
    fn the_auto_ladder_climbs_one_two_five_per_decade() {
        let l = auto_ladder();
        assert_eq!(&l[..4], [1_000, 2_000, 5_000, 10_000]);
        assert_eq!(*l.last().unwrap(), 100_000_000);
        assert!(l.windows(2).all(|w| w[0] < w[1]));
    }
}
