//! gRPC over a Unix socket (`--transport grpc-uds`, built with `--features grpc`) through the
//! real binary: every pattern it runs arrives intact with every wait, host and client find each
//! other through the socket directory, a dead peer is noticed at once, nothing is left in the
//! socket directory and no runtime thread outlives its run, the result names tonic's version,
//! and the patterns gRPC cannot run are refused before anything starts.
#![cfg(feature = "grpc")]

mod common;

use std::time::Duration;

use common::Scratch;

/// The tonic version Cargo.lock pins, as the result must name it.
fn locked_tonic() -> String {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
    let entry = "name = \"tonic\"\nversion = \"";
    let at = lock.find(entry).expect("tonic in Cargo.lock") + entry.len();
    format!("tonic {}", &lock[at..at + lock[at..].find('"').unwrap()])
}

#[test]
fn every_pattern_and_wait_arrives_intact_names_tonic_and_leaves_nothing() {
    // Round trip and one-way are unary calls; throughput is one client stream. 64 KiB fills
    // HTTP/2's default stream window; 1 MiB is many frames (with blocking waits only: two
    // spinning sides share this machine's two CPUs with whatever else runs, and take long).
    for (wait, sizes) in [("spin", "16,64KiB"), ("block", "16,64KiB,1MiB"), ("hybrid", "16,64KiB")] {
        let s = Scratch::new();
        let mut run = s.spawn_run(&[
            "-t",
            "grpc-uds",
            "-p",
            "round-trip,one-way,throughput",
            "-s",
            sizes,
            "-n",
            "100",
            "--warmup",
            "10",
            "--verify",
            "--wait",
            wait,
        ]);
        let status = common::wait_for_exit(&mut run, Duration::from_secs(60));
        assert!(status.success(), "{wait}: {}", common::stderr_of(&mut run));
        let runs = common::assert_runs_intact(&s.summary(), 100, wait);
        assert_eq!(runs.len(), 3 * sizes.split(',').count(), "{wait}");
        for r in &runs {
            assert_eq!(r["transport"], "grpc-uds");
            assert_eq!(r["library"], locked_tonic().as_str(), "{wait}");
        }
        assert!(s.leftovers().is_empty(), "{wait}: {:?}", s.leftovers());
    }
}

#[test]
fn one_way_at_a_rate_goes_as_a_client_stream_and_arrives_intact() {
    let s = Scratch::new();
    s.run()
        .args(["-t", "grpc-uds", "-p", "one-way", "-s", "64", "-n", "300", "--rate", "20000", "--verify"])
        .assert()
        .success();
    common::assert_runs_intact(&s.summary(), 300, "one-way at 20000/s");
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn grpc_runs_between_host_and_client_with_two_pairs() {
    let s = Scratch::new();
    let (st, _) = s.host_with_client(&[
        "-t",
        "grpc-uds",
        "-p",
        "round-trip,throughput",
        "-s",
        "64,64KiB",
        "-n",
        "300",
        "--verify",
        "--wait",
        "block",
        "--concurrency",
        "2",
    ]);
    assert!(st.success());
    assert_eq!(common::assert_runs_intact(&s.summary(), 600, "two pairs of 300").len(), 2 * 2);
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

/// Threads of `pid` (its runtime would add none, but a leak would show here).
fn threads_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

#[test]
fn a_dead_peer_is_noticed_at_once_and_ctrl_c_leaves_nothing() {
    for (wait, pattern, signal) in
        [("block", "round-trip", "peer"), ("spin", "throughput", "peer"), ("hybrid", "round-trip", "ctrl-c")]
    {
        let s = Scratch::new();
        let mut run = s.spawn_run(&[
            "-t",
            "grpc-uds",
            "-p",
            pattern,
            "-s",
            "4KiB",
            "-d",
            "60s",
            "--timeout-s",
            "30",
            "--wait",
            wait,
        ]);
        let peer = common::wait_for_peer(run.id());
        // Let the first test get going.
        std::thread::sleep(Duration::from_millis(300));
        // One thread per process (the runtime runs on it): plus ipcbench's own helpers, a
        // handful; a runtime leaking worker threads would show many more.
        assert!(threads_of(peer) <= 4, "{wait} {pattern}: peer has {} threads", threads_of(peer));
        let test = format!("{pattern} over grpc-uds with 4096 B messages");
        common::assert_stops_mid_run(&mut run, peer, signal, &test);
        assert!(s.leftovers().is_empty(), "{wait} {pattern} {signal}: {:?}", s.leftovers());
    }
}

#[test]
fn fan_out_fan_in_and_many_clients_are_refused_naming_why() {
    for (pattern, flag) in
        [("fan-out", "--subscribers"), ("fan-in", "--publishers"), ("many-clients", "--clients")]
    {
        let s = Scratch::new();
        let out = s.run().args(["-t", "grpc-uds", "-p", pattern, flag, "2"]).output().unwrap();
        common::assert_one_error(&out, 2, "gRPC has no publish-subscribe", pattern);
        assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    }
}
