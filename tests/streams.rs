//! The per-message streams through the real binary: written while the runs go on, from
//! whichever side keeps the samples, every recorded message exactly once.

mod common;

use std::collections::BTreeMap;

use common::Scratch;

/// Every JSON line, grouped by (transport, pattern, repetition): the seqs, sorted.
fn seqs_by_run(path: &std::path::Path) -> BTreeMap<(String, String, u64), Vec<u64>> {
    let mut out: BTreeMap<_, Vec<u64>> = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let l: serde_json::Value = serde_json::from_str(line).unwrap();
        let lat = l["latency_ns"].as_u64().unwrap();
        assert_eq!(l["recv_ns"].as_u64().unwrap() - l["send_ns"].as_u64().unwrap(), lat, "{line}");
        let key = (
            l["transport"].as_str().unwrap().to_string(),
            l["pattern"].as_str().unwrap().to_string(),
            l["repetition"].as_u64().unwrap(),
        );
        out.entry(key).or_default().push(l["seq"].as_u64().unwrap());
    }
    out.values_mut().for_each(|v| v.sort_unstable());
    out
}

#[test]
fn a_long_run_streams_every_message_of_the_side_that_keeps_them_in_many_blocks() {
    // 700,000 messages a run: several 1 MiB sample blocks each. With a writer CPU of their own
    // the writer and the peer's shipper take each block as it fills, while the run goes on.
    let s = Scratch::new();
    let (jl, csv) = (s.path("m.jsonl"), s.path("m.csv"));
    s.run()
        .args(["-t", "shm", "-p", "round-trip,one-way", "-s", "64", "-n", "700000", "--warmup", "100"])
        .args(["--writer-cpu", "0"])
        .arg("--stream-json")
        .arg(&jl)
        .arg("--stream-csv")
        .arg(&csv)
        .timeout(std::time::Duration::from_secs(240))
        .assert()
        .success();
    let runs = seqs_by_run(&jl);
    let every: Vec<u64> = (100..700_100).collect();
    for pattern in ["round-trip", "one-way"] {
        let seqs = &runs[&("shm".to_string(), pattern.to_string(), 0)];
        assert!(seqs == &every, "{pattern}: {} lines, not each recorded seq once", seqs.len());
    }
    let csv_rows = std::fs::read_to_string(&csv).unwrap().lines().count();
    assert_eq!(csv_rows, 1 + 2 * 700_000, "the header and one row per message");
    for r in s.summary()["runs"].as_array().unwrap() {
        assert_eq!(r["samples_dropped"], 0, "{}", r["pattern"]);
    }
}

#[test]
fn samples_of_the_initiator_and_of_the_peer_both_reach_the_streams() {
    // Round trip and fan-out: the initiator keeps them; one-way and throughput: the peer.
    let s = Scratch::new();
    let jl = s.path("m.jsonl");
    s.run()
        .args(["-t", "uds", "-p", "round-trip,one-way,throughput,fan-out", "--subscribers", "2"])
        .args(["-s", "64", "-n", "300", "--warmup", "10", "--repeat", "2", "--stream-json"])
        .arg(&jl)
        .assert()
        .success();
    let runs = seqs_by_run(&jl);
    let every: Vec<u64> = (10..310).collect();
    for pattern in ["round-trip", "one-way", "throughput", "fan-out"] {
        for rep in 0..2 {
            let seqs = runs.get(&("uds".to_string(), pattern.to_string(), rep));
            assert_eq!(seqs, Some(&every), "{pattern} repetition {rep}");
        }
    }
    assert_eq!(runs.len(), 8, "nothing else: {:?}", runs.keys().collect::<Vec<_>>());
}

#[test]
fn the_summary_counts_dropped_samples_only_when_streaming() {
    let s = Scratch::new();
    s.run().args(["-t", "uds", "-p", "round-trip", "-n", "50"]).assert().success();
    assert!(s.summary()["runs"][0].get("samples_dropped").is_none(), "absent without streams");
    s.run().args(["-t", "uds", "-p", "round-trip", "-n", "50", "--stream-csv", "-"]).assert().success();
    assert_eq!(s.summary()["runs"][0]["samples_dropped"], 0, "an explicit 0 with streams");
}

#[test]
fn writer_cpu_is_refused_without_a_stream_or_beyond_the_allowed_cpus() {
    let s = Scratch::new();
    for (args, needle) in [
        (&["--writer-cpu", "0"][..], "give it with --stream-json or --stream-csv"),
        (&["--writer-cpu", "4000", "--stream-csv", "x.csv"][..], "CPU 4000 is not available"),
    ] {
        let out = s.run().args(["-t", "uds", "-n", "10"]).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("Error:")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: one error line: {stderr}");
        let line = errors[0];
        assert!(line.contains(needle), "{args:?}: {line}");
    }
}

#[test]
fn a_writer_cpu_of_its_own_streams_as_well() {
    let s = Scratch::new();
    let csv = s.path("m.csv");
    s.run()
        .args([
            "-t",
            "uds",
            "-p",
            "one-way",
            "-s",
            "64",
            "-n",
            "200",
            "--warmup",
            "0",
            "--writer-cpu",
            "0",
            "--stream-csv",
        ])
        .arg(&csv)
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 201);
}
