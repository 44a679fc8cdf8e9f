//! Paired comparison of two builds (`ipcbench ab`): in every round both builds measured every
//! configuration, so each round gives one worse-ratio per configuration and metric, and the
//! verdict comes from the order-statistics interval of their median (see [`super::interval`]).
//! Drift of the machine between rounds cancels out within each pair.

use std::collections::BTreeMap;

use super::compare::{worse_ratio, MetricChange, Thresholds};
use super::interval::median_interval;
use super::key::ConfigKey;
use super::stats::{median, Metric};
use super::summary::Summary;

/// How `ab` computes a change.
pub const PAIRED_STATISTIC: &str = "median of the per-round paired ratios, with a 95% order-statistics \
     interval (old and new: each build's median over the rounds; the paired change can differ from their ratio)";

/// The per-configuration changes of a paired comparison, and the configurations only one build
/// measured.
#[derive(Debug, Default)]
pub struct Paired {
    pub rows: Vec<(ConfigKey, Vec<MetricChange>)>,
    pub only_in_old: Vec<ConfigKey>,
    pub only_in_new: Vec<ConfigKey>,
}

/// One value of metric `m` per configuration of a round's summary (the median, should a round
/// hold repetitions).
fn per_config(s: &Summary, m: Metric) -> BTreeMap<ConfigKey, f64> {
    let mut by: BTreeMap<ConfigKey, Vec<f64>> = BTreeMap::new();
    for r in &s.runs {
        if let Some(v) = m.of(r) {
            by.entry(ConfigKey::of(r)).or_default().push(v);
        }
    }
    by.into_iter().filter_map(|(k, mut v)| Some((k, median(&mut v)?))).collect()
}

/// Pairs the rounds (old, new summary of each round) and judges every configuration's metrics.
/// A configuration counts only in the rounds where both builds measured it.
pub fn compare_rounds(rounds: &[(Summary, Summary)], t: &Thresholds) -> Paired {
    let keys = |pick: fn(&(Summary, Summary)) -> &Summary| -> std::collections::BTreeSet<ConfigKey> {
        rounds.iter().flat_map(|r| pick(r).runs.iter().map(ConfigKey::of)).collect()
    };
    let (old_keys, new_keys) = (keys(|r| &r.0), keys(|r| &r.1));
    let mut out = Paired {
        only_in_old: old_keys.difference(&new_keys).cloned().collect(),
        only_in_new: new_keys.difference(&old_keys).cloned().collect(),
        ..Default::default()
    };
    let mut rows: BTreeMap<ConfigKey, Vec<MetricChange>> = BTreeMap::new();
    for m in Metric::ALL {
        let per_round: Vec<_> = rounds.iter().map(|(o, n)| (per_config(o, m), per_config(n, m))).collect();
        for key in old_keys.intersection(&new_keys) {
            let pairs: Vec<(f64, f64)> =
                per_round.iter().filter_map(|(o, n)| Some((*o.get(key)?, *n.get(key)?))).collect();
            if pairs.is_empty() {
                continue;
            }
            let ratios: Vec<f64> = pairs.iter().map(|&(o, n)| worse_ratio(m, o, n)).collect();
            let interval = median_interval(&ratios);
            let (mut o, mut n): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
            let (om, nm) = (median(&mut o).unwrap_or(0.0), median(&mut n).unwrap_or(0.0));
            rows.entry(key.clone())
                .or_default()
                .push(MetricChange { ratios, ..MetricChange::new(m, om, nm, interval, t.of(m)) });
        }
    }
    out.rows = rows.into_iter().collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures::{run, summary};
    use crate::analysis::interval::Verdict;
    use crate::pattern::Pattern;
    use crate::transport::TransportKind;

    fn round(old_p50: u64, new_p50: u64) -> (Summary, Summary) {
        (
            summary(vec![run(TransportKind::Shm, Pattern::RoundTrip, old_p50)]),
            summary(vec![run(TransportKind::Shm, Pattern::RoundTrip, new_p50)]),
        )
    }

    #[test]
    fn drift_between_rounds_cancels_within_pairs() {
        // The machine's speed doubles and halves between rounds (as it does here), while the
        // new build is always 10% slower than the old one in the same round.
        let rounds: Vec<_> = [100, 250, 100, 600, 150, 100, 620, 130, 100, 400]
            .iter()
            .map(|&base| round(base * 10, base * 11))
            .collect();
        let t: Thresholds = "5%".parse().unwrap();
        let p = compare_rounds(&rounds, &t);
        let p50 = &p.rows[0].1[0];
        assert_eq!(p50.metric, Metric::P50);
        assert_eq!(p50.ratios.len(), 10);
        assert!(p50.ratios.iter().all(|r| (r - 1.1).abs() < 1e-9));
        assert_eq!(p50.verdict, Some(Verdict::Regressed), "unpaired, this spread would hide it");
        // The same machine, the same build: unchanged.
        let same: Vec<_> = [100, 250, 100, 600, 150, 100, 620, 130].iter().map(|&b| round(b, b)).collect();
        assert!(compare_rounds(&same, &t).rows[0].1.iter().all(|c| c.verdict == Some(Verdict::Unchanged)));
    }

    #[test]
    fn configurations_one_build_lacks_are_listed_not_paired() {
        let mut r = round(100, 100);
        r.1.runs.push(run(TransportKind::Uds, Pattern::RoundTrip, 5000));
        let p = compare_rounds(&[r.clone(), r], &Thresholds::default());
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.only_in_new.len(), 1);
        assert!(p.only_in_old.is_empty());
    }
}
