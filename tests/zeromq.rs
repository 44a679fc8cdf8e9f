//! ZeroMQ as a transport through the real binary (built with `--features zeromq`): every
//! pattern and wait over `ipc://` and `tcp://` arrives intact, host and client find each other
//! through the socket directory, a dead peer is noticed at once, a fan-out over `XPUB`/`SUB`
//! delivers every message to every subscriber, the results name the library and its version,
//! and no socket file is left after a normal run, a dead peer, Ctrl-C or a crash.
#![cfg(feature = "zeromq")]

mod common;

use std::time::Duration;

use common::Scratch;

#[test]
fn every_pattern_and_wait_over_ipc_and_tcp_arrives_intact_names_libzmq_and_leaves_nothing() {
    for (kind, wait) in
        [("zeromq", "spin"), ("zeromq", "block"), ("zeromq-tcp", "spin"), ("zeromq-tcp", "hybrid")]
    {
        let s = Scratch::new();
        let mut run = s
            .spawn_run(&["-t", kind, "-p", "all", "-s", "16,64KiB", "-n", "300", "--verify", "--wait", wait]);
        let status = common::wait_for_exit(&mut run, Duration::from_secs(60));
        assert!(status.success(), "{kind} {wait}: {}", common::stderr_of(&mut run));
        let runs = common::assert_runs_intact(&s.summary(), 300, wait);
        assert_eq!(runs.len(), 3 * 2, "{kind} {wait}");
        for r in &runs {
            assert_eq!(r["transport"], kind);
            let library = r["library"].as_str().unwrap_or_default();
            assert!(library.starts_with("libzmq 4."), "{kind} {wait}: {library:?}");
        }
        assert!(s.leftovers().is_empty(), "{kind} {wait}: {:?}", s.leftovers());
    }
}

#[test]
fn zeromq_runs_between_host_and_client_with_two_pairs() {
    for kind in ["zeromq", "zeromq-tcp"] {
        let s = Scratch::new();
        let (st, _) = s.host_with_client(&[
            "-t",
            kind,
            "-p",
            "round-trip,throughput",
            "-s",
            "64,64KiB",
            "-n",
            "500",
            "--verify",
            "--wait",
            "block",
            "--concurrency",
            "2",
        ]);
        assert!(st.success(), "{kind}");
        assert_eq!(common::assert_runs_intact(&s.summary(), 1000, kind).len(), 2 * 2);
        assert!(s.leftovers().is_empty(), "{kind}: {:?}", s.leftovers());
    }
}

#[test]
fn a_dead_zeromq_peer_is_noticed_at_once_and_ctrl_c_or_a_crash_leaves_nothing() {
    for (kind, wait, pattern, signal) in [
        ("zeromq", "block", "round-trip", "peer"),
        ("zeromq", "spin", "throughput", "peer"),
        ("zeromq-tcp", "block", "one-way", "peer"),
        ("zeromq", "hybrid", "round-trip", "ctrl-c"),
    ] {
        let s = Scratch::new();
        let mut run = s.spawn_run(&[
            "-t",
            kind,
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
        let test = format!("{pattern} over {kind} with 4096 B messages");
        common::assert_stops_mid_run(&mut run, peer, signal, &test);
        assert!(s.leftovers().is_empty(), "{kind} {wait} {pattern} {signal}: {:?}", s.leftovers());
    }
    // The ipc:// socket file a crashed run left (its pid gone) is removed by the next run.
    let s = Scratch::new();
    let stale = s.sockets().join("ipcbench-2147483600-1-0-zmq.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    s.run().args(["-t", "zeromq", "-p", "round-trip", "-s", "64", "-n", "10"]).assert().success();
    assert!(!stale.exists(), "the crashed run's socket file is removed");
}

#[test]
fn a_zeromq_fan_out_delivers_every_message_to_every_subscriber_and_leaves_nothing() {
    // Spinning with one subscriber only: two spinners fill this machine's two CPUs.
    for (kind, wait, subscribers) in
        [("zeromq", "block", "1,3"), ("zeromq-tcp", "block", "3"), ("zeromq", "spin", "1")]
    {
        let s = Scratch::new();
        let mut run = s.spawn_run(&[
            "-t",
            kind,
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
        let status = common::wait_for_exit(&mut run, Duration::from_secs(60));
        assert!(status.success(), "{kind} {wait}: {}", common::stderr_of(&mut run));
        let sum = s.summary();
        let runs = sum["runs"].as_array().unwrap();
        assert_eq!(
            runs.len(),
            2 * subscribers.split(',').count(),
            "{kind} {wait}: sizes times subscriber counts"
        );
        for r in runs {
            let n = r["fan_out"]["subscribers"].as_u64().unwrap();
            let what = format!("{kind} {wait} {} B to {n}", r["size_bytes"]);
            common::check_every_delivery(r, n, 300, &what);
            let mechanism = r["fan_out"]["mechanism"].as_str().unwrap();
            assert!(mechanism.starts_with("zeromq publish-subscribe (one XPUB"), "{what}: {mechanism}");
        }
        assert!(s.leftovers().is_empty(), "{kind} {wait}: {:?}", s.leftovers());
    }
}

#[test]
fn a_zeromq_fan_out_subscriber_killed_mid_run_ends_the_run_naming_it_and_leaves_nothing() {
    let s = Scratch::new();
    common::assert_a_killed_subscriber_is_named(&s, "zeromq", "block");
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn zeromq_has_no_fan_in_and_says_so_before_anything_runs() {
    let s = Scratch::new();
    let out = s.run().args(["-t", "zeromq", "-p", "fan-in", "-n", "10"]).output().unwrap();
    common::assert_one_error(&out, 2, "not zeromq", "fan-in");
    assert!(!s.out().exists(), "nothing ran");
}
