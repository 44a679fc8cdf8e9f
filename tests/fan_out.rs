//! Fan-out through the real binary: one publisher process, N subscriber processes, every
//! message to every subscriber, over the broadcast ring and over one channel per subscriber.

mod common;

use std::time::{Duration, Instant};

use common::{
    assert_a_killed_subscriber_is_named, assert_one_error, check_every_delivery, child_of, children_of, gone,
    Scratch,
};

#[test]
fn every_subscriber_receives_every_message_in_order_and_intact_on_every_transport() {
    let cases = [
        ("shm", "block"),
        ("shm", "spin"),
        ("memfd", "hybrid"),
        ("uds", "block"),
        ("tcp", "block"),
        ("pipe", "block"),
        ("mqueue", "block"),
    ];
    for (transport, wait) in cases {
        let s = Scratch::new();
        s.run()
            .args(["-t", transport, "-p", "fan-out", "--subscribers", "1,3", "-s", "16,4KiB"])
            .args(["-n", "300", "--warmup", "20", "--verify", "--wait", wait])
            .assert()
            .success();
        let sum = s.summary();
        let runs = sum["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 4, "{transport} {wait}: two sizes times two subscriber counts");
        for r in runs {
            let n = r["fan_out"]["subscribers"].as_u64().unwrap();
            let what = format!("{transport} {wait} {} B to {n}", r["size_bytes"]);
            check_every_delivery(r, n, 300, &what);
            let ring = transport == "shm" || transport == "memfd";
            let mechanism = r["fan_out"]["mechanism"].as_str().unwrap();
            assert_eq!(mechanism.starts_with("broadcast ring"), ring, "{what}: {mechanism}");
        }
        assert!(s.leftovers().is_empty(), "{transport} {wait}: left {:?}", s.leftovers());
    }
}

#[test]
fn a_subscriber_killed_mid_run_ends_the_run_naming_it_keeping_earlier_runs_and_leaving_nothing() {
    for (transport, wait) in [("shm", "block"), ("uds", "block"), ("memfd", "hybrid")] {
        let s = Scratch::new();
        assert_a_killed_subscriber_is_named(&s, transport, wait);
        assert!(s.leftovers().is_empty(), "{transport}: left {:?}", s.leftovers());
    }
}

#[test]
fn ctrl_c_during_a_fan_out_stops_every_subscriber_and_leaves_nothing() {
    let s = Scratch::new();
    let mut host = s.spawn_run(&["-t", "shm", "-p", "fan-out", "--subscribers", "4", "-d", "60s"]);
    let start = Instant::now();
    let peers = loop {
        let peers = children_of(host.id());
        if peers.len() == 4 {
            break peers;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "subscribers never started");
        std::thread::sleep(Duration::from_millis(10));
    };
    std::thread::sleep(Duration::from_millis(700));
    std::process::Command::new("kill").args(["-INT", &host.id().to_string()]).status().unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(st) = host.try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "publisher hangs after Ctrl-C");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(130));
    for p in &peers {
        let t = Instant::now();
        while !gone(*p) && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(gone(*p), "subscriber {p} still running");
    }
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    assert!(child_of(host.id()).is_none_or(gone));
}

#[test]
fn bad_fan_out_input_gets_one_clear_error_and_exit_2() {
    let s = Scratch::new();
    let cases: [(&[&str], &str); 7] = [
        (
            &["-p", "fan-out", "--subscribers", "0"],
            "--subscribers 0: a fan-out needs at least one subscriber",
        ),
        (&["-p", "fan-out", "--subscribers", "300"], "more than the 256 subscribers"),
        (&["-p", "round-trip", "--subscribers", "2"], "--subscribers applies to --pattern fan-out only"),
        (
            &["-p", "fan-out", "--subscribers", "3", "--pin", "0,1"],
            "4 values for up to 3 subscriber(s), got 2",
        ),
        (&["-p", "fan-out", "-t", "udp"], "not udp"),
        (&["-p", "fan-out", "--rate", "1000"], "runs closed loop"),
        (&["-p", "fan-out", "--subscribers", "x"], "--subscribers"),
    ];
    for (args, needle) in cases {
        let out = s.run().args(args).output().unwrap();
        if needle == "--subscribers" {
            // clap's own refusal of a value that is not a number.
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            assert!(String::from_utf8_lossy(&out.stderr).contains(needle), "{args:?}");
            continue;
        }
        assert_one_error(&out, 2, needle, &format!("{args:?}"));
    }
    // Checked against the open-file limit before anything starts.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -n 200 && exec {} run -p fan-out --subscribers 100 --socket-dir {} --out -",
            assert_cmd::cargo::cargo_bin("ipcbench").display(),
            s.sockets().display()
        ))
        .output()
        .unwrap();
    assert_one_error(&out, 2, "more than the limit of 200 (ulimit -n)", "ulimit -n 200");
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}
