//! A `--pin-pairs` sweep as heat maps: per configuration (its placement left out), the headline
//! metric (p50, or bytes/s for throughput) of every (initiator CPU, peer CPU) cell, median over
//! repetitions, beside each pair's cache-line floor and what its CPUs share.

use std::collections::BTreeMap;

use super::key::ConfigKey;
use super::stats::{groups, spread, Metric};
use super::summary::{CpuPair, Summary};

/// One configuration over CPU pairs.
pub struct PairMap {
    /// The configuration, its pin left out.
    pub config: ConfigKey,
    pub metric: Metric,
    /// Rows and columns: every initiator CPU and every peer CPU measured.
    pub initiators: Vec<usize>,
    pub peers: Vec<usize>,
    /// (initiator, peer) -> the metric's median.
    pub cells: BTreeMap<(usize, usize), f64>,
}

impl PairMap {
    /// The pair's floor and relation, if it was measured.
    pub fn pair(summary: &Summary, initiator: usize, peer: usize) -> Option<&CpuPair> {
        summary.cpu_pairs.iter().find(|p| (p.initiator_cpu, p.peer_cpu) == (initiator, peer))
    }
}

/// The heat maps of a summary: every configuration measured on two or more CPU pairs.
pub fn pair_maps(summary: &Summary) -> Vec<PairMap> {
    let mut by: BTreeMap<ConfigKey, BTreeMap<(usize, usize), f64>> = BTreeMap::new();
    for (key, runs) in groups(summary) {
        let Some(pin) = key.series.pin else { continue };
        let Some(s) = spread(&runs, Metric::headline(key.pattern)) else { continue };
        let mut config = key.clone();
        config.series.pin = None;
        by.entry(config).or_default().insert(pin, s.median);
    }
    by.into_iter()
        .filter(|(_, cells)| cells.len() >= 2)
        .map(|(config, cells)| {
            let mut initiators: Vec<usize> = cells.keys().map(|k| k.0).collect();
            let mut peers: Vec<usize> = cells.keys().map(|k| k.1).collect();
            initiators.dedup();
            peers.sort_unstable();
            peers.dedup();
            PairMap { metric: Metric::headline(config.pattern), config, initiators, peers, cells }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures::{run, summary};
    use crate::pattern::Pattern;
    use crate::transport::TransportKind;

    #[test]
    fn each_configuration_gets_one_map_of_its_pairs_and_repetitions_are_medians() {
        let at = |a: usize, b: usize, p50: u64| {
            let mut r = run(TransportKind::Shm, Pattern::RoundTrip, p50);
            (r.placement.initiator_cpu, r.placement.peer_cpu) = (Some(a), Some(b));
            r
        };
        let runs = vec![at(0, 1, 100), at(0, 1, 300), at(0, 1, 200), at(1, 0, 150), at(2, 3, 90)];
        let maps = pair_maps(&summary(runs));
        assert_eq!(maps.len(), 1);
        let m = &maps[0];
        assert_eq!(m.initiators, [0, 1, 2]);
        assert_eq!(m.peers, [0, 1, 3]);
        assert_eq!(m.cells[&(0, 1)], 200.0);
        assert_eq!(m.cells[&(1, 0)], 150.0);
        assert_eq!(m.metric, Metric::P50);
        assert_eq!(m.config.series.pin, None);
        // One pair alone is no map.
        assert!(pair_maps(&summary(vec![at(0, 1, 5)])).is_empty());
    }
}
