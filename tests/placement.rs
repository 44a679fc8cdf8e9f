//! Placement through the real binary: each pair of a sweep (`--pin-pairs`) runs where it was
//! asked to, with its floor and topology recorded; a pinned ring run carries the floor measured
//! beside it; bad pairs are refused.

mod common;

use common::Scratch;

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("Cpus_allowed_list:")).unwrap();
    let list = line.split(':').nth(1).unwrap().trim().to_string();
    list.split(',')
        .flat_map(|p| match p.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().unwrap()..=b.parse().unwrap()).collect::<Vec<_>>(),
            None => vec![p.parse().unwrap()],
        })
        .collect()
}

#[test]
fn every_ordered_pair_runs_where_it_was_asked_with_its_floor_and_topology() {
    let cpus = allowed_cpus();
    if cpus.len() < 2 {
        eprintln!("skipped: one CPU, no pair");
        return;
    }
    let s = Scratch::new();
    s.run()
        .args(["-t", "shm,uds", "-p", "round-trip,one-way", "-s", "64", "-n", "500", "--wait", "spin"])
        .args(["--pin-pairs", "all"])
        .assert()
        .success();
    let sum = s.summary();
    let pairs = cpus.len() * (cpus.len() - 1);
    let runs = sum["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2 * 2 * pairs);
    for r in runs {
        let p = &r["placement"];
        assert_ne!(p["initiator_cpu"], p["peer_cpu"]);
        assert_eq!(p["initiator_cpu"], p["initiator_cpu_observed"], "the initiator ran where asked: {p}");
        assert_eq!(p["peer_cpu"], p["peer_cpu_observed"], "the peer ran where asked: {p}");
    }
    let recorded = sum["cpu_pairs"].as_array().unwrap();
    assert_eq!(recorded.len(), pairs);
    for p in recorded {
        assert!(p["cache_line_round_trip_ns"].as_u64().unwrap() > 0, "{p}");
        let relation = p["relation"].as_str().unwrap();
        assert!(
            ["smt-siblings", "shared-l2", "shared-l3", "no-shared-cache", "unknown"].contains(&relation),
            "{relation}"
        );
    }
}

#[test]
fn a_pinned_ring_run_records_the_floor_measured_beside_it_and_an_unpinned_or_socket_run_does_not() {
    let cpus = allowed_cpus();
    if cpus.len() < 2 {
        eprintln!("skipped: one CPU, no pair");
        return;
    }
    let pin = format!("{},{}", cpus[0], cpus[1]);
    let s = Scratch::new();
    s.run()
        .args(["-t", "shm,memfd,uds", "-p", "round-trip,one-way", "-s", "64", "-n", "500", "--wait", "spin"])
        .args(["--pin", &pin])
        .assert()
        .success();
    let sum = s.summary();
    let runs = sum["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    for r in runs {
        let what = format!("{} {}", r["transport"], r["pattern"]);
        if r["transport"] == "uds" {
            assert!(r.get("floor").is_none(), "a socket has no ring floor: {what}");
            continue;
        }
        let floor = &r["floor"];
        let ns = floor["cache_line_round_trip_ns"].as_u64().unwrap_or_else(|| panic!("{what}: {floor}"));
        assert!(ns > 0, "{what}: {floor}");
        if r["pattern"] == "round-trip" {
            let ratio = floor["p50_to_floor"].as_f64().unwrap_or_else(|| panic!("{what}: {floor}"));
            let p50 = r["latency_ns"]["p50"].as_u64().unwrap();
            assert!((ratio - p50 as f64 / ns as f64).abs() < 1e-9, "{what}: p50 {p50}, {floor}");
        } else {
            assert!(floor.get("p50_to_floor").is_none(), "one-way has no round trip to compare: {what}");
        }
    }

    let unpinned = Scratch::new();
    unpinned
        .run()
        .args(["-t", "shm", "-p", "round-trip", "-s", "64", "-n", "500", "--wait", "spin"])
        .assert()
        .success();
    let sum = unpinned.summary();
    let run = &sum["runs"][0];
    assert_eq!(run["transport"], "shm");
    assert!(run.get("floor").is_none(), "unpinned, there is no pair to measure: {run}");
}

#[test]
fn bad_cpu_pairs_get_one_clear_error() {
    let s = Scratch::new();
    for (args, code, needle) in [
        (&["--pin-pairs", "0:0"][..], 2, "initiator and peer need two CPUs"),
        (&["--pin-pairs", "0-1"][..], 2, "'0-1' is not a CPU pair like 0:1 (initiator:peer) or all"),
        (&["--pin-pairs", "0:4096"][..], 2, "--pin-pairs: CPU 4096 is not available"),
        (&["--pin-pairs", "all", "--pin", "0,1"][..], 2, "cannot be used with"),
        (&["--pin-pairs", "0:1", "--connect", "tcp://127.0.0.1:9"][..], 2, "with --connect give one --pin"),
    ] {
        common::assert_one_error(&s.run().args(args).output().unwrap(), code, needle, &format!("{args:?}"));
    }
    assert!(s.leftovers().is_empty());
}
