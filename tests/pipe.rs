//! Named FIFOs through the real binary: every pattern and wait arrives intact (1 MiB messages
//! cross a 64 KiB pipe buffer in pieces), host and client find each other through the socket
//! directory alone, a dead peer is noticed at once, and no FIFO is left, also on Ctrl-C or
//! after a crash.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Scratch;

#[test]
fn every_pattern_and_wait_arrives_intact_and_no_fifo_is_left() {
    for wait in ["spin", "block", "hybrid"] {
        let s = Scratch::new();
        s.run()
            .args(["-t", "pipe", "-p", "all", "-s", "16,4KiB,1MiB", "-n", "200", "--verify", "--wait", wait])
            .assert()
            .success();
        let runs = s.summary()["runs"].as_array().unwrap().clone();
        assert_eq!(runs.len(), 3 * 3, "{wait}");
        for r in &runs {
            let what = format!("{wait} {} {}", r["pattern"], r["size_bytes"]);
            assert_eq!(r["transport"], "pipe");
            assert_eq!(r["integrity"]["received"], 200, "{what}");
            assert_eq!(r["integrity"]["out_of_order"], 0, "{what}");
            assert_eq!(r["integrity"]["corrupt"], 0, "{what}");
        }
        assert!(s.leftovers().is_empty(), "{wait}: {:?}", s.leftovers());
    }
}

#[test]
fn pipes_run_between_host_and_client_through_the_socket_directory() {
    let s = Scratch::new();
    let bin = assert_cmd::cargo::cargo_bin("ipcbench");
    let mut client = Command::new(&bin)
        .args(["client", "--timeout-s", "5", "--socket-dir"])
        .arg(s.sockets())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let st = Command::new(&bin)
        .args(["host", "-t", "pipe", "-p", "round-trip,one-way", "-s", "64,64KiB", "-n", "300", "--verify"])
        .args([
            "--quiet",
            "--timeout-s",
            "5",
            "--client-timeout-s",
            "10",
            "--concurrency",
            "2",
            "--socket-dir",
        ])
        .arg(s.sockets())
        .arg("--out")
        .arg(s.out())
        .status()
        .unwrap();
    assert!(st.success());
    assert!(common::wait_for_exit(&mut client, Duration::from_secs(10)).success());
    for r in s.summary()["runs"].as_array().unwrap() {
        assert_eq!(r["integrity"]["received"], 600, "two pairs of 300: {}", r["pattern"]);
        assert_eq!(r["integrity"]["corrupt"], 0);
    }
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn a_dead_peer_is_noticed_at_once_and_ctrl_c_or_a_crash_leaves_no_fifo() {
    for (wait, pattern, signal) in
        [("block", "round-trip", "peer"), ("spin", "throughput", "peer"), ("block", "round-trip", "ctrl-c")]
    {
        let s = Scratch::new();
        let mut run = s.spawn_run(&[
            "-t",
            "pipe",
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
        let (victim, sig) = if signal == "peer" { (peer, "-9") } else { (run.id(), "-INT") };
        Command::new("kill").args([sig, &victim.to_string()]).status().unwrap();
        let killed = Instant::now();
        let status = common::wait_for_exit(&mut run, Duration::from_secs(10));
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "{wait} {pattern} {signal}: {:?}",
            killed.elapsed()
        );
        let stderr = common::stderr_of(&mut run);
        let line = stderr.lines().find(|l| l.starts_with("Error:")).unwrap_or_default().to_string();
        if signal == "peer" {
            assert_eq!(status.code(), Some(1), "{stderr}");
            assert!(line.contains(&format!("{pattern} over pipe with 4096 B messages")), "{line}");
            assert!(line.contains("peer process exited (signal: 9 (SIGKILL))"), "{line}");
        } else {
            assert_eq!(status.code(), Some(130), "{stderr}");
        }
        assert!(s.leftovers().is_empty(), "{wait} {pattern} {signal}: {:?}", s.leftovers());
    }
    // FIFOs of a crashed run (its pid gone) are removed by the next run; a live one's are kept.
    let s = Scratch::new();
    let stale = s.sockets().join("ipcbench-2147483600-0-0.fifo-i");
    rustix::fs::mkfifoat(rustix::fs::CWD, &stale, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    let live = s.sockets().join(format!("ipcbench-{}-0-0.fifo-p", std::process::id()));
    rustix::fs::mkfifoat(rustix::fs::CWD, &live, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    s.run().args(["-t", "pipe", "-p", "round-trip", "-s", "64", "-n", "10"]).assert().success();
    assert!(!stale.exists(), "the crashed run's FIFO is removed");
    assert!(live.exists(), "a live process's FIFO is kept");
}
