//! Unit tests of the unpaired comparison.

use super::*;
use crate::analysis::fixtures::{run as fixture, summary};
use crate::analysis::summary::RunResult;
use crate::pattern::Pattern;
use crate::transport::{TransportKind, WaitStrategy};

/// A run with this p50 and p99 (latency) or bytes/s (throughput).
fn run(transport: TransportKind, pattern: Pattern, p50: u64, p99: u64, bytes_per_s: f64) -> RunResult {
    let mut r =
        fixture(transport, pattern, if pattern == Pattern::Throughput { bytes_per_s as u64 } else { p50 });
    if let Some(l) = r.latency_ns.as_mut() {
        l.p99 = p99;
    }
    r
}

fn verdicts(c: &Comparison) -> Vec<(String, String, String)> {
    c.rows
        .iter()
        .flat_map(|(k, chs)| {
            chs.iter().map(move |ch| (k.to_string(), ch.metric.to_string(), ch.verdict_text()))
        })
        .collect()
}

/// `n` repetitions each of these p50s (p99 = 2 x p50).
fn reps(transport: TransportKind, pattern: Pattern, p50s: &[u64]) -> Vec<RunResult> {
    p50s.iter().map(|&v| run(transport, pattern, v, 2 * v, v as f64)).collect()
}

fn all(t: &str) -> Thresholds {
    t.parse().unwrap()
}

#[test]
fn a_slower_p50_with_tight_repetitions_is_a_regression_and_fails_the_gate() {
    let old = summary(reps(TransportKind::Uds, Pattern::RoundTrip, &[1000, 1001, 999, 1000]));
    let mut new_runs = reps(TransportKind::Uds, Pattern::RoundTrip, &[1300, 1301, 1299, 1300]);
    for r in &mut new_runs {
        r.latency_ns.as_mut().unwrap().p99 = 2000; // p99 as before
    }
    let new = summary(new_runs);
    let gate = all("10%");
    let c = compare(&old, &new, &gate);
    let v = verdicts(&c);
    let row = |m: &str, verdict: &str| {
        ("uds round-trip 64 B spin pin 0,1".to_string(), m.to_string(), verdict.to_string())
    };
    assert!(v.contains(&row("p50", "regressed: slower beyond 10%")), "{v:?}");
    assert!(v.contains(&row("p99", "unchanged: not slower beyond 10%")), "{v:?}");
    let failures: Vec<_> = c.failures().collect();
    assert_eq!(failures.len(), 1);
    assert!((failures[0].1.worse_by() - 0.3).abs() < 1e-9);
    assert_eq!(failures[0].1.change_text(), "slower by 30%");
    assert_eq!(Gate::of(&c.rows).exit_code(), crate::exit::REGRESSED);
    let lax = all("50%");
    assert_eq!(compare(&old, &new, &lax).failures().count(), 0, "30% is within a 50% gate");
    let p99_only = all("p99=5%");
    let c = compare(&old, &new, &p99_only);
    assert_eq!(c.failures().count(), 0, "p50 is not gated");
    assert_eq!(c.rows[0].1[0].verdict_text(), "not gated", "and shows no threshold it does not enforce");
    assert_eq!(Gate::of(&c.rows).exit_code(), crate::exit::OK);
}

#[test]
fn one_repetition_a_side_bounds_nothing_and_a_gate_cannot_pass_it() {
    // Single runs whose throughput fell 4x: the gate may not call this a pass.
    let old = summary(reps(TransportKind::Uds, Pattern::Throughput, &[2_912_700_000]));
    let new = summary(reps(TransportKind::Uds, Pattern::Throughput, &[728_200_000]));
    let gate = all("10%");
    let c = compare(&old, &new, &gate);
    assert!(c.rows[0].1.iter().all(|ch| ch.verdict == Some(Verdict::Undecided) && ch.interval.is_none()));
    assert_eq!(c.failures().count(), 0, "no interval, no regression claimed");
    assert_eq!(c.undecided().count(), 1);
    assert_eq!(Gate::of(&c.rows).exit_code(), crate::exit::UNDECIDED);
    let text = c.render();
    assert!(text.contains("too few values") && text.contains("slower by 4.0x"), "{text}");
    // Without a gate the same comparison is only a table.
    let ungated = compare(&old, &new, &Thresholds::default());
    assert_eq!(Gate::of(&ungated.rows).exit_code(), crate::exit::OK);
    assert!(!ungated.render().contains("threshold"), "{}", ungated.render());
}

#[test]
fn more_throughput_is_an_improvement_and_less_a_regression() {
    let old = summary(reps(TransportKind::Shm, Pattern::Throughput, &[1_000_000, 1_000_100]));
    let better = summary(reps(TransportKind::Shm, Pattern::Throughput, &[1_500_000, 1_500_100]));
    let worse = summary(reps(TransportKind::Shm, Pattern::Throughput, &[500_000, 500_100]));
    let t = all("1%");
    assert_eq!(verdicts(&compare(&old, &better, &t))[0].2, "improved: faster beyond 1%");
    assert_eq!(verdicts(&compare(&old, &worse, &t))[0].2, "regressed: slower beyond 1%");
    assert_eq!(compare(&old, &worse, &t).rows[0].1[0].change_text(), "slower by 100%");
    assert_eq!(compare(&old, &better, &t).rows[0].1[0].change_text(), "faster by 50%");
    assert_eq!(compare(&old, &better, &t).rows[0].1.len(), 1, "throughput runs have no latency metrics");
}

#[test]
fn a_change_within_the_spread_of_repetitions_is_undecided_not_passed() {
    // Baseline repetitions range 900..1100; the new median is 10% higher, and its interval
    // holds both no change and a change beyond the threshold: the gate cannot pass it.
    let old = summary(reps(TransportKind::Tcp, Pattern::OneWay, &[900, 1000, 1100]));
    let new = summary(reps(TransportKind::Tcp, Pattern::OneWay, &[1050, 1100, 1150]));
    let gate = all("5%");
    let c = compare(&old, &new, &gate);
    let p50 = &c.rows[0].1[0];
    assert_eq!(p50.metric, Metric::P50);
    assert!((p50.worse_by() - 0.1).abs() < 1e-9);
    let i = p50.interval.unwrap();
    assert!(i.low <= 1.0 && i.high >= 1.1, "{i:?}");
    assert_eq!(p50.verdict, Some(Verdict::Undecided));
    assert_eq!(c.failures().count(), 0, "noise is not a regression");
    // A wide gate rules a regression beyond it out.
    let wide = all("50%");
    assert_eq!(compare(&old, &new, &wide).rows[0].1[0].verdict, Some(Verdict::Unchanged));
    // The same 10% shift with tight repetitions is a regression.
    let old = summary(reps(TransportKind::Tcp, Pattern::OneWay, &[1000, 1000, 1001]));
    let new = summary(reps(TransportKind::Tcp, Pattern::OneWay, &[1100, 1100, 1101]));
    assert_eq!(compare(&old, &new, &gate).rows[0].1[0].verdict, Some(Verdict::Regressed));
}

#[test]
fn configurations_on_one_side_only_are_listed() {
    let old = summary(vec![
        run(TransportKind::Uds, Pattern::RoundTrip, 1000, 2000, 0.0),
        run(TransportKind::Tcp, Pattern::RoundTrip, 1000, 2000, 0.0),
    ]);
    let mut shm = run(TransportKind::Shm, Pattern::RoundTrip, 100, 200, 0.0);
    shm.shm_slots = Some(2);
    let new = summary(vec![run(TransportKind::Uds, Pattern::RoundTrip, 1000, 2000, 0.0), shm]);
    let c = compare(&old, &new, &Thresholds::default());
    assert_eq!(c.rows.len(), 1);
    let labels = |v: &[ConfigKey]| v.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    assert_eq!(labels(&c.only_in_baseline), vec!["tcp round-trip 64 B spin pin 0,1"]);
    assert_eq!(labels(&c.only_in_current), vec!["shm round-trip 64 B spin pin 0,1 slots 2"]);
    let text = c.render();
    assert!(text.contains("only in baseline: tcp round-trip"), "{text}");
}

#[test]
fn results_taken_with_another_wait_strategy_are_not_compared() {
    let old = summary(vec![run(TransportKind::Uds, Pattern::RoundTrip, 1000, 2000, 0.0)]);
    let mut blocking = run(TransportKind::Uds, Pattern::RoundTrip, 40_000, 80_000, 0.0);
    blocking.wait = WaitStrategy::Block;
    let c = compare(&old, &summary(vec![blocking]), &Thresholds::default());
    assert!(c.rows.is_empty());
    assert_eq!(c.only_in_baseline.len(), 1);
    assert_eq!(c.only_in_current.len(), 1);
}

#[test]
fn results_taken_with_other_concurrency_or_verify_are_not_compared() {
    let old = summary(vec![run(TransportKind::Uds, Pattern::RoundTrip, 1000, 2000, 0.0)]);
    let mut pairs = run(TransportKind::Uds, Pattern::RoundTrip, 3000, 6000, 0.0);
    pairs.concurrency = 4;
    let mut verified = run(TransportKind::Uds, Pattern::RoundTrip, 1100, 2200, 0.0);
    verified.verify = true;
    let c = compare(&old, &summary(vec![pairs, verified]), &Thresholds::default());
    assert!(c.rows.is_empty(), "{:?}", c.rows);
    assert_eq!(c.only_in_current.len(), 2);
}

#[test]
fn thresholds_parse_for_all_or_per_metric() {
    let all: Thresholds = "10%".parse().unwrap();
    assert_eq!(all.0.len(), 3);
    assert!(all.0.values().all(|&v| (v - 0.1).abs() < 1e-12));
    let some: Thresholds = "p50=5%,throughput=20".parse().unwrap();
    assert_eq!(some.0.get(&Metric::P50), Some(&0.05));
    assert_eq!(some.0.get(&Metric::P99), None);
    assert!("p75=5%".parse::<Thresholds>().unwrap_err().contains("unknown metric 'p75'"));
    assert!("lots".parse::<Thresholds>().is_err());
}

#[test]
fn a_result_file_of_another_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    let mut v = serde_json::to_value(summary(vec![])).unwrap();
    v["schema_version"] = 99.into();
    std::fs::write(&path, v.to_string()).unwrap();
    let err = Summary::read(&path).unwrap_err().to_string();
    assert!(err.contains("schema version 99"), "{err}");
    std::fs::write(&path, r#"{"hello": 1}"#).unwrap();
    assert!(Summary::read(&path).unwrap_err().to_string().contains("not an ipcbench result"));
}
