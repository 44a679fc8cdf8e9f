//! zenoh as a transport through the real binary (built with `--features zenoh`): every pattern
//! and wait over its Unix socket, TCP and shared memory arrives intact, host and client find
//! each other through the socket directory, a dead peer is noticed at once, the results name
//! the library and its version, and nothing of zenoh's is left (its socket and lock files in
//! the socket directory, its segments in /dev/shm) after a normal run, a dead peer or Ctrl-C.
#![cfg(feature = "zenoh")]

mod common;

use std::time::Duration;

use common::Scratch;

/// zenoh shared-memory segments (`/dev/shm/<id>.zenoh`) that no process holds: leaked. zenoh
/// holds a lock on every segment in use, so one that no line of /proc/locks names is held by
/// no one (read, not probed: a probing exclusive lock would make another test's process fail to
/// open the segment at that moment). A segment another test is creating is unheld for a moment,
/// and a peer killed by another test leaves orphans until its survivor removes them as it ends:
/// what is still unheld 8 s after it was first seen so is a leak (a survivor has 5 s to end).
fn orphan_segments() -> Vec<String> {
    let first = orphans_now();
    let start = std::time::Instant::now();
    loop {
        let now = orphans_now();
        let still: Vec<String> = first.iter().filter(|f| now.contains(f)).cloned().collect();
        if still.is_empty() || start.elapsed() > Duration::from_secs(8) {
            return still;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn orphans_now() -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let locks = std::fs::read_to_string("/proc/locks").unwrap();
    // `1: FLOCK  ADVISORY  READ  <pid> <major>:<minor>:<inode> 0 EOF`
    let held: Vec<u64> =
        locks.lines().filter_map(|l| l.split_whitespace().nth(5)?.rsplit(':').next()?.parse().ok()).collect();
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "zenoh"))
        .filter(|e| e.metadata().is_ok_and(|m| !held.contains(&m.ino())))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_pattern_and_wait_arrives_intact_over_zenoh_and_its_shared_memory() {
    for (transport, wait) in [("zenoh", "spin"), ("zenoh-shm", "block"), ("zenoh-tcp", "hybrid")] {
        let s = Scratch::new();
        let mut run = s.spawn_run(&[
            "-t",
            transport,
            "-p",
            "round-trip,one-way,throughput",
            "-s",
            "16,64KiB",
            "-n",
            "300",
            "--verify",
            "--wait",
            wait,
        ]);
        let status = common::wait_for_exit(&mut run, Duration::from_secs(60));
        assert!(status.success(), "{transport} {wait}: {}", common::stderr_of(&mut run));
        let runs = common::assert_runs_intact(&s.summary(), 300, wait);
        assert_eq!(runs.len(), 3 * 2, "{transport} {wait}");
        for r in &runs {
            assert_eq!(r["transport"], transport);
            let library = r["library"].as_str().unwrap();
            assert!(library.starts_with("zenoh 1."), "{library}");
        }
        assert!(s.leftovers().is_empty(), "{transport} {wait}: {:?}", s.leftovers());
    }
    let orphans = orphan_segments();
    assert!(orphans.is_empty(), "{orphans:?}");
}

#[test]
fn zenoh_shm_runs_between_host_and_client_with_two_pairs() {
    let s = Scratch::new();
    let (st, _) = s.host_with_client(&[
        "-t",
        "zenoh-shm,zenoh",
        "-p",
        "round-trip,throughput",
        "-s",
        "64,64KiB",
        "-n",
        "500",
        "--verify",
        "--wait",
        "hybrid",
        "--concurrency",
        "2",
    ]);
    assert!(st.success());
    assert_eq!(common::assert_runs_intact(&s.summary(), 1000, "two pairs of 500").len(), 2 * 2 * 2);
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    let orphans = orphan_segments();
    assert!(orphans.is_empty(), "{orphans:?}");
}

#[test]
fn a_dead_zenoh_peer_is_noticed_at_once_and_ctrl_c_leaves_nothing() {
    for (transport, wait, pattern, signal) in [
        ("zenoh", "block", "round-trip", "peer"),
        ("zenoh-shm", "spin", "throughput", "peer"),
        ("zenoh-shm", "hybrid", "round-trip", "ctrl-c"),
    ] {
        let s = Scratch::new();
        let mut run = s.spawn_run(&[
            "-t",
            transport,
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
        eprintln!("case: {transport} {wait} {pattern} {signal}");
        let peer = common::wait_for_peer(run.id());
        // Let the first test get going.
        std::thread::sleep(Duration::from_millis(500));
        let test = format!("{pattern} over {transport} with 4096 B messages");
        common::assert_stops_mid_run(&mut run, peer, signal, &test);
        assert!(s.leftovers().is_empty(), "{transport} {pattern} {signal}: {:?}", s.leftovers());
        let orphans = orphan_segments();
        assert!(orphans.is_empty(), "{transport} {signal}: {orphans:?}");
    }
}

#[test]
fn a_fan_out_over_zenoh_delivers_every_message_to_every_subscriber_and_leaves_nothing() {
    let s = Scratch::new();
    let mut run = s.spawn_run(&[
        "-t",
        "zenoh,zenoh-shm",
        "-p",
        "fan-out",
        "--subscribers",
        "1,3",
        "-s",
        "4KiB",
        "-n",
        "300",
        "--warmup",
        "20",
        "--verify",
        "--wait",
        "block",
    ]);
    let status = common::wait_for_exit(&mut run, Duration::from_secs(60));
    assert!(status.success(), "{}", common::stderr_of(&mut run));
    let sum = s.summary();
    let runs = sum["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2 * 2, "transports times subscriber counts");
    for r in runs {
        let n = r["fan_out"]["subscribers"].as_u64().unwrap();
        common::check_every_delivery(r, n, 300, &format!("{} to {n}", r["transport"]));
    }
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    let orphans = orphan_segments();
    assert!(orphans.is_empty(), "{orphans:?}");
}

#[test]
fn zenoh_is_refused_for_fan_in_naming_the_transports_that_can() {
    let s = Scratch::new();
    let out = s.run().args(["-t", "zenoh", "-p", "fan-in", "-n", "10"]).output().unwrap();
    common::assert_one_error(&out, 2, "not zenoh", "fan-in over zenoh");
}

#[test]
fn a_serving_client_stopped_by_sigterm_leaves_no_zenoh_segment() {
    // `ipcbench client --serve` (the container side) outlives each host: zenoh's segments it
    // holds for the life of the process are removed when `podman stop` sends it SIGTERM.
    let s = Scratch::new();
    let bin = assert_cmd::cargo::cargo_bin("ipcbench");
    let mut client = std::process::Command::new(&bin)
        .args(["client", "--serve", "--timeout-s", "5", "--socket-dir"])
        .arg(s.sockets())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut host = std::process::Command::new(&bin)
        .args(["host", "-t", "zenoh-shm", "-p", "round-trip", "-s", "4KiB", "-n", "200", "--quiet"])
        .args(["--min-time", "0s", "--timeout-s", "5", "--client-timeout-s", "10", "--socket-dir"])
        .arg(s.sockets())
        .arg("--out")
        .arg(s.out())
        .spawn()
        .unwrap();
    assert!(common::wait_for_exit(&mut host, Duration::from_secs(60)).success());
    assert!(client.try_wait().unwrap().is_none(), "the client serves on");
    std::process::Command::new("kill").args(["-TERM", &client.id().to_string()]).status().unwrap();
    let status = common::wait_for_exit(&mut client, Duration::from_secs(10));
    assert_eq!(status.code(), Some(130), "{}", common::stderr_of(&mut client));
    let orphans = orphan_segments();
    assert!(orphans.is_empty(), "{orphans:?}");
}
