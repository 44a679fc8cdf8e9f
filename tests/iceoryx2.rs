//! iceoryx2 as a transport through the real binary (built with `--features iceoryx2`): every
//! pattern and wait arrives intact, host and client find each other through the socket
//! directory, a dead peer is noticed at once, and nothing of iceoryx2's is left (its directory
//! in the socket directory, its shared memory in /dev/shm) after a normal run, a dead peer,
//! Ctrl-C or a crash; and a fan-out over iceoryx2's own publish-subscribe, one service with N
//! subscribers.
#![cfg(feature = "iceoryx2")]

mod common;

use std::time::Duration;

use common::Scratch;

/// iceoryx2 shared memory made for the creator `pid`.
fn shm_left(pid: u32) -> Vec<String> {
    let prefix = format!("ipcbench_{pid}_");
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

#[test]
fn every_pattern_and_wait_arrives_intact_and_nothing_is_left() {
    for wait in ["spin", "block", "hybrid"] {
        let s = Scratch::new();
        let mut run = s.spawn_run(&[
            "-t",
            "iceoryx2",
            "-p",
            "all",
            "-s",
            "16,4KiB,1MiB",
            "-n",
            "300",
            "--verify",
            "--wait",
            wait,
        ]);
        let pid = run.id();
        let status = common::wait_for_exit(&mut run, Duration::from_secs(60));
        assert!(status.success(), "{wait}: {}", common::stderr_of(&mut run));
        let runs = common::assert_runs_intact(&s.summary(), 300, wait);
        assert_eq!(runs.len(), 3 * 3, "{wait}");
        assert!(runs.iter().all(|r| r["transport"] == "iceoryx2"));
        assert!(s.leftovers().is_empty(), "{wait}: {:?}", s.leftovers());
        assert!(shm_left(pid).is_empty(), "{wait}: {:?}", shm_left(pid));
    }
}

#[test]
fn iceoryx2_runs_between_host_and_client_with_two_pairs() {
    let s = Scratch::new();
    let (st, pid) = s.host_with_client(&[
        "-t",
        "iceoryx2",
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
    assert_eq!(common::assert_runs_intact(&s.summary(), 1000, "two pairs of 500").len(), 2 * 2);
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    assert!(shm_left(pid).is_empty(), "{:?}", shm_left(pid));
}

#[test]
fn a_dead_peer_is_noticed_at_once_and_ctrl_c_or_a_crash_leaves_nothing() {
    for (wait, pattern, signal) in
        [("block", "round-trip", "peer"), ("spin", "throughput", "peer"), ("hybrid", "round-trip", "ctrl-c")]
    {
        let s = Scratch::new();
        let mut run = s.spawn_run(&[
            "-t",
            "iceoryx2",
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
        let pid = run.id();
        let peer = common::wait_for_peer(pid);
        // Let the first test get going.
        std::thread::sleep(Duration::from_millis(300));
        let test = format!("{pattern} over iceoryx2 with 4096 B messages");
        common::assert_stops_mid_run(&mut run, peer, signal, &test);
        assert!(s.leftovers().is_empty(), "{wait} {pattern} {signal}: {:?}", s.leftovers());
        assert!(shm_left(pid).is_empty(), "{wait} {pattern} {signal}: {:?}", shm_left(pid));
    }
    // What a crashed run left (its pid gone) is removed by the next run.
    let s = Scratch::new();
    let stale = s.sockets().join("ipcbench-2147483600-iox2");
    std::fs::create_dir_all(stale.join("nodes")).unwrap();
    let stale_shm = std::path::Path::new("/dev/shm/ipcbench_2147483600_test.segment");
    std::fs::write(stale_shm, b"x").unwrap();
    s.run().args(["-t", "iceoryx2", "-p", "round-trip", "-s", "64", "-n", "10"]).assert().success();
    assert!(!stale.exists(), "the crashed run's directory is removed");
    assert!(!stale_shm.exists(), "the crashed run's shared memory is removed");
}

#[test]
fn a_fan_out_over_one_iceoryx2_service_delivers_every_message_to_every_subscriber_and_leaves_nothing() {
    // Spinning with one subscriber only: two spinners fill this machine's two CPUs.
    for (wait, subscribers) in [("block", "1,3"), ("spin", "1")] {
        let s = Scratch::new();
        let mut run = s.spawn_run(&[
            "-t",
            "iceoryx2",
            "-p",
            "fan-out",
            "--subscribers",
            subscribers,
            "-s",
            "16,4KiB",
            "-n",
            "300",
            "--warmup",
            "20",
            "--verify",
            "--wait",
            wait,
        ]);
        let pid = run.id();
        let status = common::wait_for_exit(&mut run, Duration::from_secs(60));
        assert!(status.success(), "{wait}: {}", common::stderr_of(&mut run));
        let sum = s.summary();
        let runs = sum["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 2 * subscribers.split(',').count(), "{wait}: sizes times subscriber counts");
        for r in runs {
            let n = r["fan_out"]["subscribers"].as_u64().unwrap();
            let what = format!("iceoryx2 {wait} {} B to {n}", r["size_bytes"]);
            common::check_every_delivery(r, n, 300, &what);
            let mechanism = r["fan_out"]["mechanism"].as_str().unwrap();
            assert!(mechanism.starts_with("iceoryx2 publish-subscribe (one service"), "{what}: {mechanism}");
        }
        assert!(s.leftovers().is_empty(), "{wait}: {:?}", s.leftovers());
        assert!(shm_left(pid).is_empty(), "{wait}: {:?}", shm_left(pid));
    }
}

#[test]
fn an_iceoryx2_fan_out_subscriber_killed_mid_run_ends_the_run_naming_it_and_leaves_nothing() {
    let s = Scratch::new();
    let pid = common::assert_a_killed_subscriber_is_named(&s, "iceoryx2", "block");
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    assert!(shm_left(pid).is_empty(), "{:?}", shm_left(pid));
}

#[test]
fn an_iceoryx2_fan_out_too_big_for_the_open_file_limit_is_refused_before_anything_starts() {
    // About 18 descriptors per subscriber on iceoryx2's publisher: 60 need 1144.
    let s = Scratch::new();
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -n 1024 && exec {} run -t iceoryx2 -p fan-out --subscribers 60 --socket-dir {} --out -",
            assert_cmd::cargo::cargo_bin("ipcbench").display(),
            s.sockets().display()
        ))
        .output()
        .unwrap();
    common::assert_one_error(&out, 2, "more than the limit of 1024 (ulimit -n)", "ulimit -n 1024");
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}
