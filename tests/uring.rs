//! The io_uring stream sockets through the real binary: every pattern and wait arrives intact
//! over Unix and TCP sockets (1 MiB messages arrive in many short reads), the peer really
//! drives an io_uring, pairs on threads of their own work, a dead peer is noticed at once, and
//! nothing is left, also on Ctrl-C.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::Scratch;

#[test]
fn every_pattern_and_wait_arrives_intact_over_unix_and_tcp_and_nothing_is_left() {
    for wait in ["spin", "block", "hybrid"] {
        let s = Scratch::new();
        s.run()
            .args(["-t", "uds-uring,tcp-uring", "-p", "all", "-s", "16,4KiB,1MiB", "-n", "300", "--verify"])
            .args(["--wait", wait, "--concurrency", "2", "--min-time", "0s"])
            .assert()
            .success();
        let runs = s.summary()["runs"].as_array().unwrap().clone();
        assert_eq!(runs.len(), 2 * 3 * 3, "{wait}");
        for r in &runs {
            let what = format!("{wait} {} {} {}", r["transport"], r["pattern"], r["size_bytes"]);
            assert_eq!(r["integrity"]["received"], 600, "{what}: two pairs of 300");
            assert_eq!(r["integrity"]["out_of_order"], 0, "{what}");
            assert_eq!(r["integrity"]["corrupt"], 0, "{what}");
        }
        assert!(s.leftovers().is_empty(), "{wait}: {:?}", s.leftovers());
    }
}

fn io_urings_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|p| p.as_os_str() == "anon_inode:[io_uring]")
                .count()
        })
        .unwrap_or(0)
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
        let start = Instant::now();
        let expected = usize::from(transport.ends_with("uring"));
        let mut rings = 0;
        while start.elapsed() < Duration::from_secs(10) {
            rings = io_urings_of(peer);
            if rings == expected && (expected > 0 || start.elapsed() > Duration::from_millis(500)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(rings, expected, "{transport}");
        let (victim, sig) = match signal {
            "ctrl-c" => (run.id(), "-INT"),
            _ => (peer, "-9"),
        };
        Command::new("kill").args([sig, &victim.to_string()]).status().unwrap();
        let killed = Instant::now();
        let status = common::wait_for_exit(&mut run, Duration::from_secs(10));
        assert!(killed.elapsed() < Duration::from_secs(5), "{transport} {signal}: {:?}", killed.elapsed());
        let stderr = common::stderr_of(&mut run);
        if signal == "ctrl-c" {
            assert_eq!(status.code(), Some(130), "{stderr}");
        } else {
            assert_eq!(status.code(), Some(1), "{stderr}");
            let line = stderr.lines().find(|l| l.starts_with("Error:")).unwrap_or_default();
            assert!(line.contains(&format!("round-trip over {transport} with 4096 B messages")), "{line}");
            assert!(line.contains("peer process exited (signal: 9 (SIGKILL))"), "{line}");
        }
        assert!(s.leftovers().is_empty(), "{transport} {signal}: {:?}", s.leftovers());
    }
}

#[test]
fn io_uring_sockets_run_between_host_and_client_and_refuse_framings() {
    let s = Scratch::new();
    let bin = assert_cmd::cargo::cargo_bin("ipcbench");
    let mut client = Command::new(&bin)
        .args(["client", "--timeout-s", "5", "--socket-dir"])
        .arg(s.sockets())
        .spawn()
        .unwrap();
    let st = Command::new(&bin)
        .args([
            "host",
            "-t",
            "uds-uring,tcp-uring",
            "-p",
            "round-trip,one-way",
            "-s",
            "64,64KiB",
            "-n",
            "300",
        ])
        .args(["--verify", "--quiet", "--timeout-s", "5", "--client-timeout-s", "10", "--socket-dir"])
        .arg(s.sockets())
        .arg("--out")
        .arg(s.out())
        .status()
        .unwrap();
    assert!(st.success());
    assert!(common::wait_for_exit(&mut client, Duration::from_secs(10)).success());
    let runs = s.summary()["runs"].as_array().unwrap().clone();
    assert_eq!(runs.len(), 2 * 2 * 2);
    for r in &runs {
        assert_eq!(r["integrity"]["received"], 300);
        assert_eq!(r["integrity"]["corrupt"], 0);
    }
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    common::assert_one_error(
        &s.run().args(["-t", "uds-uring", "--framing", "length-prefixed"]).output().unwrap(),
        1,
        "--framing length-prefixed applies to stream transports (uds, tcp), not uds-uring",
        "framing",
    );
}
