//! Bad input and misbehaving peers: each gets a clear one-line error, a non-zero exit within a
//! bounded time, and nothing is left in the socket directory.

mod common;

use std::time::{Duration, Instant};

use common::{child_of, wait_for_exit, Scratch};
use predicates::prelude::*;

/// The error line of a failed command: exactly one line that starts with `Error:`.
fn error_line(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("Error:")).collect();
    assert_eq!(errors.len(), 1, "expected one error line in: {stderr}");
    errors[0].to_string()
}

fn fails_with(s: &Scratch, args: &[&str], needle: &str) {
    let out = s.run().args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    let line = error_line(&out);
    assert!(line.contains(needle), "{args:?}: {line:?} does not mention {needle:?}");
    assert!(s.leftovers().is_empty(), "{args:?} left {:?}", s.leftovers());
}

#[test]
fn fails_with_a_clear_error_for_each_bad_flag_value() {
    let s = Scratch::new();
    fails_with(&s, &["-t", "pipe"], "unknown transport 'pipe'");
    fails_with(&s, &["-p", "zigzag"], "unknown pattern 'zigzag'");
    fails_with(&s, &["-s", "0"], "below the 16-byte message header");
    fails_with(&s, &["-s", "15"], "below the 16-byte message header");
    fails_with(&s, &["-s", "big"], "not a size");
    fails_with(&s, &["-n", "0"], "--count must be at least 1");
    fails_with(&s, &["--duration", "soon"], "--duration 'soon'");
    fails_with(&s, &["--wait", "nap"], "unknown --wait 'nap'");
    fails_with(&s, &["--pin", "0"], "--pin takes two CPUs");
    fails_with(&s, &["--pin", "0,4096"], "CPU 4096 is not available");
    fails_with(&s, &["--rate", "0"], "--rate must be at least 1");
    fails_with(&s, &["--repeat", "0"], "--repeat must be at least 1");
}

#[test]
fn fails_when_count_and_duration_are_both_given() {
    let s = Scratch::new();
    s.run()
        .args(["-n", "5", "--duration", "1s"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot be used with"));
}

#[test]
fn fails_on_a_missing_or_unusable_socket_dir() {
    let s = Scratch::new();
    let mut cmd = assert_cmd::Command::cargo_bin("ipcbench").unwrap();
    let out = cmd
        .args(["run", "-n", "5", "--socket-dir"])
        .arg(s.path("nope"))
        .arg("--out")
        .arg(s.out())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(error_line(&out).contains("does not exist"));
    std::fs::write(s.path("file"), b"x").unwrap();
    let out = assert_cmd::Command::cargo_bin("ipcbench")
        .unwrap()
        .args(["run", "-n", "5", "--socket-dir"])
        .arg(s.path("file"))
        .arg("--out")
        .arg(s.out())
        .output()
        .unwrap();
    assert!(error_line(&out).contains("is not a directory"));
}

#[test]
fn fails_on_an_unwritable_out_before_measuring_anything() {
    let s = Scratch::new();
    let started = Instant::now();
    let out = assert_cmd::Command::cargo_bin("ipcbench")
        .unwrap()
        .args(["run", "-n", "100000", "--socket-dir"])
        .arg(s.sockets())
        .args(["--out", "/nonexistent-dir/out.json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(error_line(&out).contains("/nonexistent-dir"));
    // /proc accepts no new files, even from root.
    let out = assert_cmd::Command::cargo_bin("ipcbench")
        .unwrap()
        .args(["run", "-n", "100000", "--socket-dir"])
        .arg(s.sockets())
        .args(["--out", "/proc/ipcbench.json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(error_line(&out).contains("/proc/ipcbench.json"));
    assert!(started.elapsed() < Duration::from_secs(10), "failed fast, not after measuring");
    let out = s.run().args(["--stream-csv", "/nonexistent-dir/m.csv"]).output().unwrap();
    assert!(error_line(&out).contains("/nonexistent-dir/m.csv"));
}

#[test]
fn a_stale_socket_from_a_crashed_run_is_removed_and_a_live_one_kept() {
    let s = Scratch::new();
    // A socket whose owner no longer exists (pid far above pid_max), nobody listening.
    let stale = s.sockets().join("ipcbench-2147483600-0.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    // A socket of a live process (this test), still listening.
    let live = s.sockets().join(format!("ipcbench-{}-0.sock", std::process::id()));
    let _listener = std::os::unix::net::UnixListener::bind(&live).unwrap();
    s.run().args(["-t", "uds", "-p", "round-trip", "-s", "64", "-n", "10"]).assert().success().stderr(
        predicate::str::contains("removed stale").and(predicate::str::contains("ipcbench-2147483600-0.sock")),
    );
    assert!(!stale.exists());
    assert!(live.exists());
}

#[test]
fn a_peer_that_never_says_hello_times_out() {
    let s = Scratch::new();
    let started = Instant::now();
    let out =
        s.run().env("IPCBENCH_PEER_FAULT", "silent").args(["--timeout-s", "1", "-n", "5"]).output().unwrap();
    assert!(!out.status.success());
    let line = error_line(&out);
    assert!(line.contains("no message from the peer") && line.contains("hello"), "{line}");
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[test]
fn a_peer_that_never_connects_times_out_naming_the_run() {
    let s = Scratch::new();
    let out = s
        .run()
        .env("IPCBENCH_PEER_FAULT", "hang-at-test:0")
        .args(["-t", "uds", "-p", "round-trip", "-s", "64", "-n", "5", "--timeout-s", "1"])
        .output()
        .unwrap();
    let line = error_line(&out);
    assert!(line.contains("did not connect") && line.contains("round-trip over uds with 64 B"), "{line}");
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn a_peer_that_exits_keeps_earlier_results_and_names_the_failed_run() {
    let s = Scratch::new();
    let out = s
        .run()
        .env("IPCBENCH_PEER_FAULT", "exit-at-test:2")
        .args(["-t", "uds", "-p", "round-trip", "-s", "64,128,256,512", "-n", "20"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let line = error_line(&out);
    assert!(line.contains("256 B") && line.contains("exit status: 3"), "{line}");
    let sum = s.summary();
    assert_eq!(sum["runs"].as_array().unwrap().len(), 2, "the two finished runs are kept");
    assert!(sum["error"].as_str().unwrap().contains("256 B"));
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

fn spawn_long_run(s: &Scratch, wait: &str) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("ipcbench"))
        .args([
            "run",
            "-t",
            "uds",
            "-p",
            "round-trip",
            "-s",
            "64",
            "--duration",
            "60s",
            "--timeout-s",
            "2",
            "--quiet",
            "--wait",
            wait,
        ])
        .arg("--socket-dir")
        .arg(s.sockets())
        .arg("--out")
        .arg(s.out())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for_peer(host: u32) -> u32 {
    let start = Instant::now();
    loop {
        if let Some(pid) = child_of(host) {
            // Give it time to be inside the timed loop.
            std::thread::sleep(Duration::from_millis(500));
            return pid;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "peer never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_peer_killed_mid_run_is_reported_within_the_timeout() {
    for wait in ["block", "spin"] {
        let s = Scratch::new();
        let mut host = spawn_long_run(&s, wait);
        let peer = wait_for_peer(host.id());
        std::process::Command::new("kill").args(["-9", &peer.to_string()]).status().unwrap();
        let status = wait_for_exit(&mut host, Duration::from_secs(10));
        assert_eq!(status.code(), Some(1), "{wait}");
        let mut stderr = String::new();
        std::io::Read::read_to_string(host.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert!(stderr.contains("Error:") && stderr.contains("round-trip over uds"), "{wait}: {stderr}");
        assert!(stderr.contains("peer"), "{wait}: {stderr}");
        assert!(s.summary()["error"].is_string());
        assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    }
}

#[test]
fn ctrl_c_stops_the_run_kills_the_peer_and_leaves_nothing_behind() {
    let s = Scratch::new();
    let mut host = spawn_long_run(&s, "block");
    let peer = wait_for_peer(host.id());
    std::process::Command::new("kill").args(["-INT", &host.id().to_string()]).status().unwrap();
    let status = wait_for_exit(&mut host, Duration::from_secs(10));
    assert_eq!(status.code(), Some(130));
    let start = Instant::now();
    while std::path::Path::new(&format!("/proc/{peer}")).exists() && start.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let zombie_or_gone =
        std::fs::read_to_string(format!("/proc/{peer}/stat")).map_or(true, |s| s.contains(") Z "));
    assert!(zombie_or_gone, "peer {peer} still running");
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}
