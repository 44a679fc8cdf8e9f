//! The io_uring stream sockets through the real binary: every pattern and wait arrives intact
//! over Unix and TCP sockets (1 MiB messages arrive in many short reads), the peer really
//! drives an io_uring, pairs on threads of their own work, a dead peer is noticed at once, and
//! nothing is left, also on Ctrl-C.

mod common;

use common::Scratch;

/// Held by whatever spins here, so that the tests of this file never put more spinning
/// threads on a 2-CPU machine than it has CPUs (then each spinner waits on the scheduler, and a
/// 1 MiB round trip can outlast the 5 s timeout).
static SPINNING: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn every_pattern_and_wait_arrives_intact_over_unix_and_tcp_and_nothing_is_left() {
    // Two pairs where waits sleep; one pair (two spinning threads) where they spin.
    for (wait, pairs) in [("spin", 1), ("block", 2), ("hybrid", 2)] {
        let _spinning = (wait == "spin").then(|| SPINNING.lock().unwrap_or_else(|e| e.into_inner()));
        let s = Scratch::new();
        s.run()
            .args(["-t", "uds-uring,tcp-uring", "-p", "all", "-s", "16,4KiB,1MiB", "-n", "300", "--verify"])
            .args(["--wait", wait, "--concurrency", &pairs.to_string()])
            .assert()
            .success();
        let runs = common::assert_runs_intact(&s.summary(), 300 * pairs, &format!("{pairs} pair(s) of 300"));
        assert_eq!(runs.len(), 2 * 3 * 3, "{wait}");
        assert!(s.leftovers().is_empty(), "{wait}: {:?}", s.leftovers());
    }
}

/// The peer holds an io_uring for a uring transport (and none for plain uds); killing it is
/// noticed at once (end-of-file on the read posted ahead), Ctrl-C ends the run with 130, and
/// neither leaves a socket file.
#[test]
fn the_peer_drives_an_io_uring_and_its_death_or_ctrl_c_is_handled_at_once() {
    for (transport, wait, signal) in [
        ("uds-uring", "block", "peer"),
        ("tcp-uring", "spin", "peer"),
        ("uds-uring", "hybrid", "ctrl-c"),
        ("uds", "block", "none"),
    ] {
        let _spinning = (wait == "spin").then(|| SPINNING.lock().unwrap_or_else(|e| e.into_inner()));
        let s = Scratch::new();
        let mut run = s.spawn_run(&[
            "-t",
            transport,
            "-p",
            "round-trip",
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
        let expected = usize::from(transport.ends_with("uring"));
        assert_eq!(common::settled_anon_fds(peer, "[io_uring]", expected), expected, "{transport}");
        let test = format!("round-trip over {transport} with 4096 B messages");
        common::assert_stops_mid_run(&mut run, peer, signal, &test);
        assert!(s.leftovers().is_empty(), "{transport} {signal}: {:?}", s.leftovers());
    }
}

#[test]
fn io_uring_sockets_run_between_host_and_client_and_refuse_framings() {
    let s = Scratch::new();
    let (st, _) = s.host_with_client(&[
        "-t",
        "uds-uring,tcp-uring",
        "-p",
        "round-trip,one-way",
        "-s",
        "64,64KiB",
        "-n",
        "300",
        "--verify",
    ]);
    assert!(st.success());
    assert_eq!(common::assert_runs_intact(&s.summary(), 300, "host/client").len(), 2 * 2 * 2);
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    common::assert_one_error(
        &s.run().args(["-t", "uds-uring", "--framing", "length-prefixed"]).output().unwrap(),
        2,
        "--framing length-prefixed applies to stream transports (uds, tcp), not uds-uring",
        "framing",
    );
}
