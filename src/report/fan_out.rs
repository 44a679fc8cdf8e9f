//! The chart of a subscriber sweep (`--pattern fan-out --subscribers 1,2,4`): latency against
//! the number of subscribers, one chart per message size, a curve per configuration (and file)
//! with the p50 and p99 of every delivery and the p99 until all subscribers had the message.

use std::collections::BTreeMap;

use anyhow::Result;

use super::charts::{self, Curve, Stroke};
use super::{series_label, slug, Chart, Groups, Input};
use crate::analysis::key::SeriesKey;
use crate::analysis::stats::{median, spread, Metric};
use crate::analysis::summary::RunResult;
use crate::format::format_bytes;
use crate::pattern::Pattern;

/// One curve's repetitions by subscriber count, ascending.
type Points<'a> = BTreeMap<u32, &'a [&'a RunResult]>;

/// A statistic drawn for each curve: its legend name, its stroke, and its value over the
/// repetitions of one configuration (their median).
struct Statistic {
    name: &'static str,
    stroke: Stroke,
    of: fn(&[&RunResult]) -> Option<f64>,
}

const STATISTICS: [Statistic; 3] = [
    Statistic { name: "p50", stroke: Stroke::Solid, of: |runs| Some(spread(runs, Metric::P50)?.median) },
    Statistic { name: "p99", stroke: Stroke::Dashed, of: |runs| Some(spread(runs, Metric::P99)?.median) },
    Statistic { name: "all-delivered p99", stroke: Stroke::Dotted, of: all_delivered_p99 },
];

/// The median over repetitions of the p99 from send to the last subscriber's arrival.
fn all_delivered_p99(runs: &[&RunResult]) -> Option<f64> {
    let mut v: Vec<f64> =
        runs.iter().filter_map(|r| r.fan_out.as_ref()?.all_delivered_ns.map(|l| l.p99 as f64)).collect();
    median(&mut v)
}

/// Latency against subscribers: a chart per size at which some configuration was measured with
/// at least two subscriber counts (a single count is drawn in the spectra and histograms only).
pub(super) fn subscriber_charts(inputs: &[Input], groups: &[Groups<'_>]) -> Result<Vec<Chart>> {
    subscriber_curves(inputs, groups)
        .into_iter()
        .map(|(size, series)| {
            let title = format!("fan-out latency against subscribers, {}", format_bytes(size as u64));
            let svg = charts::against_subscribers(&title, &series)?;
            Ok(Chart { slug: slug(&format!("fan-out-{size}-vs-subscribers")), title, svg })
        })
        .collect()
}

/// The curves of each size's chart: per configuration without its subscribers (and file), a
/// curve per statistic, one colour for the three.
fn subscriber_curves(inputs: &[Input], groups: &[Groups<'_>]) -> BTreeMap<usize, Vec<Curve>> {
    // size -> (file, configuration without its subscribers) -> points.
    let mut by_size: BTreeMap<usize, BTreeMap<(usize, SeriesKey), Points<'_>>> = BTreeMap::new();
    for (f, g) in groups.iter().enumerate() {
        for (k, runs) in g.iter().filter(|(k, _)| k.pattern == Pattern::FanOut) {
            let Some(n) = k.series.subscribers else { continue };
            let curve = SeriesKey { subscribers: None, ..k.series.clone() };
            by_size
                .entry(k.size_bytes)
                .or_default()
                .entry((f, curve))
                .or_default()
                .insert(n, runs.as_slice());
        }
    }
    by_size.retain(|_, curves| curves.values().any(|points| points.len() >= 2));
    by_size
        .into_iter()
        .map(|(size, curves)| {
            let all: Vec<&SeriesKey> = curves.keys().map(|(_, k)| k).collect();
            let mut series = Vec::new();
            for (color, ((f, key), points)) in curves.iter().enumerate() {
                let what = key.label_among(&all);
                for stat in &STATISTICS {
                    let points: Vec<(usize, f64)> =
                        points.iter().filter_map(|(&n, runs)| Some((n as usize, (stat.of)(runs)?))).collect();
                    if !points.is_empty() {
                        series.push(Curve {
                            label: series_label(inputs, *f, &format!("{what} {}", stat.name)),
                            points,
                            stroke: stat.stroke,
                            color,
                        });
                    }
                }
            }
            (size, series)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures::{fan_out_run, run, summary};
    use crate::analysis::stats::groups;
    use crate::measure::histogram::LatencyHistogram;
    use crate::transport::TransportKind;

    fn input(runs: Vec<RunResult>) -> Input {
        Input { name: "fan.json".into(), summary: summary(runs) }
    }

    /// uds and shm to 1, 2 and 4 subscribers, latency doubling with each.
    fn sweep() -> Vec<RunResult> {
        let mut runs = Vec::new();
        for (transport, base) in [(TransportKind::Uds, 4_000), (TransportKind::Shm, 1_000)] {
            for (i, n) in [1, 2, 4].into_iter().enumerate() {
                runs.push(fan_out_run(transport, n, base << i));
            }
        }
        runs
    }

    /// The text of every `<text>` element of an SVG (plotters and the legend write it on a line
    /// of its own).
    fn texts(svg: &str) -> Vec<&str> {
        svg.split("</text>").filter_map(|t| Some(t.rsplit_once('>')?.1.trim())).collect()
    }

    #[test]
    fn a_subscriber_sweep_is_drawn_as_one_curve_per_transport_with_three_statistics() {
        let inputs = [input(sweep())];
        let charts = crate::report::charts(&inputs).unwrap();
        let chart = charts
            .iter()
            .find(|c| c.title == "fan-out latency against subscribers, 64 B")
            .expect("the chart");
        let texts = texts(&chart.svg);
        for transport in ["uds", "shm"] {
            for stat in ["p50", "p99", "all-delivered p99"] {
                let label = format!("{transport} {stat}");
                assert_eq!(texts.iter().filter(|t| **t == label).count(), 1, "{label} in {texts:?}");
            }
        }
        // The x ticks are the subscriber counts measured, and nothing else is a bare number.
        let numbers: Vec<&str> = texts.iter().copied().filter(|t| t.parse::<u32>().is_ok()).collect();
        assert_eq!(numbers, ["1", "2", "4"]);
        assert!(texts.contains(&"subscribers (log scale)"), "{texts:?}");
    }

    #[test]
    fn each_point_is_the_median_over_repetitions_and_the_all_delivered_p99_its_own_curve() {
        let mut runs = sweep();
        // Two more repetitions of uds to 2 subscribers: p50s 8000 (the first), 9000 and 30000.
        for (repetition, value) in [(1, 9_000), (2, 30_000)] {
            let mut r = fan_out_run(TransportKind::Uds, 2, value);
            r.repetition = repetition;
            runs.push(r);
        }
        let inputs = [input(runs)];
        let g = [groups(&inputs[0].summary)];
        let curves = subscriber_curves(&inputs, &g);
        let curves = &curves[&64];
        assert_eq!(curves.len(), 6, "3 statistics of 2 transports");
        let of = |label: &str| {
            let c = curves.iter().find(|c| c.label == label).unwrap_or_else(|| panic!("{label}"));
            (c.points.clone(), c.stroke, c.color)
        };
        let (p50, stroke, color) = of("uds p50");
        assert_eq!(p50, [(1, 4_000.0), (2, 9_000.0), (4, 16_000.0)]);
        assert_eq!(stroke, Stroke::Solid);
        let (p99, stroke, same) = of("uds p99");
        assert_eq!(p99, [(1, 8_000.0), (2, 18_000.0), (4, 32_000.0)]);
        assert_eq!((stroke, same), (Stroke::Dashed, color), "one colour per transport");
        let (all, stroke, _) = of("uds all-delivered p99");
        assert_eq!(all, [(1, 12_000.0), (2, 27_000.0), (4, 48_000.0)]);
        assert_eq!(stroke, Stroke::Dotted);
        assert_ne!(of("shm p50").2, color, "another colour for shm");
    }

    #[test]
    fn a_fan_out_at_one_subscriber_count_draws_no_chart_against_subscribers() {
        let mut runs = vec![
            fan_out_run(TransportKind::Uds, 4, 4_000),
            fan_out_run(TransportKind::Shm, 4, 1_000),
            run(TransportKind::Uds, Pattern::RoundTrip, 3_000),
        ];
        for r in &mut runs {
            let mut h = LatencyHistogram::new();
            h.record(r.latency_ns.unwrap().p50);
            r.histogram_v2 = Some(h.to_base64());
        }
        let charts = crate::report::charts(&[input(runs)]).unwrap();
        assert!(!charts.iter().any(|c| c.title.contains("against subscribers")));
        assert!(!charts.iter().any(|c| c.title.starts_with("fan-out") && c.title.contains("message size")));
        // Its runs are in the per-run charts.
        assert!(charts.iter().any(|c| c.title == "fan-out latency by percentile, 64 B"));
        assert_eq!(charts.iter().filter(|c| c.title.starts_with("histogram: ")).count(), 3);
    }
}
