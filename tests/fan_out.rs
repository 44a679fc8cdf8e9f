//! Patterns of N peer processes through the real binary: fan-out (one publisher, N subscribers,
//! every message to every subscriber, over the broadcast ring and over one channel per
//! subscriber), fan-in (N publishers, one subscriber thread) and many-clients (N clients, one
//! server thread).

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
    let cases: [(&[&str], &str); 11] = [
        (&["-p", "fan-in", "--publishers", "0"], "--publishers 0: a fan-in needs at least one publisher"),
        (&["-p", "fan-out", "--clients", "2"], "--clients applies to --pattern many-clients only"),
        (
            &["-p", "many-clients", "-t", "shm", "--wait", "block"],
            "one server thread sleeps on many rings only through eventfds: add --notify eventfd",
        ),
        (&["-p", "many-clients", "-t", "uds", "--framing", "json-lines", "-s", "1KiB"], "raw framing only"),
        (
            &["-p", "fan-out", "--subscribers", "0"],
            "--subscribers 0: a fan-out needs at least one subscriber",
        ),
        (&["-p", "fan-out", "--subscribers", "300"], "more than the 256 subscribers"),
        (&["-p", "round-trip", "--subscribers", "2"], "--subscribers applies to --pattern fan-out only"),
        (
            &["-p", "fan-out", "--subscribers", "3", "--pin", "0,1"],
            "4 values for up to 3 peer process(es), got 2",
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

#[test]
fn one_thread_serves_every_publisher_and_client_intact_on_every_transport() {
    let cases: [(&str, &str, &str); 6] = [
        ("shm", "spin", "1"),
        ("shm", "block", "1,3"),
        ("memfd", "hybrid", "3"),
        ("uds", "block", "1,3"),
        ("tcp", "block", "3"),
        ("pipe", "block", "3"),
    ];
    for (transport, wait, n) in cases {
        let s = Scratch::new();
        s.run()
            .args(["-t", transport, "-p", "fan-in,many-clients", "--publishers", n, "--clients", n])
            .args(["-s", "16,4KiB", "-n", "300", "--warmup", "20", "--verify", "--wait", wait])
            .args([
                "--notify",
                if wait != "spin" && (transport == "shm" || transport == "memfd") {
                    "eventfd"
                } else {
                    "futex"
                },
            ])
            .assert()
            .success();
        let sum = s.summary();
        let runs = sum["runs"].as_array().unwrap();
        let counts = n.split(',').count();
        assert_eq!(runs.len(), 2 * 2 * counts, "{transport} {wait}: two patterns, two sizes");
        for r in runs {
            let many = &r["many"];
            let peers = many["peers"].as_u64().unwrap();
            let what = format!("{transport} {wait} {} {} B x{peers}", r["pattern"], r["size_bytes"]);
            let per = many["per_peer"].as_array().unwrap();
            assert_eq!(per.len() as u64, peers, "{what}");
            for (i, p) in per.iter().enumerate() {
                assert_eq!(p["received"], 300, "{what}: peer {i}");
                assert_eq!(p["corrupt"], 0, "{what}: peer {i}");
                assert_eq!(p["out_of_order"], 0, "{what}: peer {i}");
                assert!(p["latency_ns"]["p50"].as_u64().unwrap() > 0, "{what}: peer {i}");
                assert!(p["messages_per_s"].as_f64().unwrap() > 0.0, "{what}: peer {i}");
            }
            assert_eq!(r["integrity"]["sent"], 300 * peers, "{what}");
            assert_eq!(r["integrity"]["received"], 300 * peers, "{what}: one thread served every message");
            assert_eq!(r["integrity"]["corrupt"], 0, "{what}");
            let fairness = many["fairness"].as_f64().unwrap();
            assert!(fairness > 0.0 && fairness <= 1.0, "{what}: {fairness}");
            assert!(many["server_cpu_ns_per_message"].as_f64().unwrap() > 0.0, "{what}");
            let key = if r["pattern"] == "fan-in" { "publisher" } else { "client" };
            let label = if key == "publisher" { "subscriber" } else { "clients" };
            assert_eq!(r["latency_source"], label, "{what}");
        }
        assert!(s.leftovers().is_empty(), "{transport} {wait}: left {:?}", s.leftovers());
    }
}

#[test]
fn a_publisher_or_client_killed_mid_run_ends_the_run_naming_it_and_leaving_nothing() {
    for (pattern, flag, who) in
        [("fan-in", "--publishers", "publisher"), ("many-clients", "--clients", "client")]
    {
        let s = Scratch::new();
        let mut host = s.spawn_run(&[
            "-t",
            "uds",
            "-p",
            pattern,
            flag,
            "3",
            "-s",
            "64",
            "--duration",
            "30s",
            "--timeout-s",
            "30",
        ]);
        let start = Instant::now();
        let peers = loop {
            let peers = children_of(host.id());
            if peers.len() == 3 {
                break peers;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "{pattern}: peers never started");
            std::thread::sleep(Duration::from_millis(10));
        };
        std::thread::sleep(Duration::from_millis(800));
        std::process::Command::new("kill").args(["-9", &peers[1].to_string()]).status().unwrap();
        let killed = Instant::now();
        let status = loop {
            if let Some(st) = host.try_wait().unwrap() {
                break st;
            }
            assert!(killed.elapsed() < Duration::from_secs(15), "{pattern}: server hangs");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(killed.elapsed() < Duration::from_secs(5), "{pattern}: noticed in {:?}", killed.elapsed());
        assert_eq!(status.code(), Some(1), "{pattern}");
        let mut stderr = String::new();
        std::io::Read::read_to_string(host.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        let line = stderr.lines().find(|l| l.starts_with("Error:")).unwrap_or_default().to_string();
        assert!(line.contains(&format!("{who} 1")), "{pattern}: names the {who}: {line}");
        assert!(line.contains("SIGKILL"), "{pattern}: {line}");
        for p in &peers {
            let t = Instant::now();
            while !gone(*p) && t.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(gone(*p), "{pattern}: peer process {p} is still running");
        }
        assert!(s.leftovers().is_empty(), "{pattern}: left {:?}", s.leftovers());
    }
}
