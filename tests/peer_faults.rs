//! Faults in the peers, through the real binary: the host SIGKILLed mid-run (its client ends
//! within its timeout, saying so, and leaves nothing), a peer stopped (SIGSTOP) and resumed
//! inside its timeout and past it, and a client whose CLOCK_MONOTONIC is another time
//! namespace's (root and `unshare --time`; skipped with a reason otherwise). The client
//! container killed by its engine is in .ci/container-test.sh.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{gone, stderr_of, wait_for_exit, wait_for_peer, Scratch};

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("ipcbench")
}

fn client(s: &Scratch, wrapper: &[&str]) -> Child {
    let (program, args) = match wrapper.split_first() {
        Some((p, rest)) => (PathBuf::from(p), rest.iter().map(PathBuf::from).chain([bin()]).collect()),
        None => (bin(), vec![]),
    };
    Command::new(program)
        .args(args)
        .args(["client", "--timeout-s", "2", "--socket-dir"])
        .arg(s.sockets())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn host(s: &Scratch, args: &[&str]) -> Child {
    Command::new(bin())
        .arg("host")
        .args(args)
        .args(["--quiet", "--min-time", "0s", "--timeout-s", "2", "--client-timeout-s", "10", "--socket-dir"])
        .arg(s.sockets())
        .arg("--out")
        .arg(s.out())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The one `Error:` line of `stderr`.
fn error_line(stderr: &str) -> String {
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("Error:")).collect();
    assert_eq!(errors.len(), 1, "one error line in: {stderr}");
    errors[0].to_string()
}

fn ipcbench_files_in_dev_shm() -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("ipcbench"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_host_killed_mid_run_ends_its_client_within_the_timeout_and_leaves_nothing() {
    // uds-dgram: a loss of the peer seen only by the timeout.
    for transport in ["uds", "shm", "uds-dgram"] {
        let s = Scratch::new();
        let shm_before = ipcbench_files_in_dev_shm();
        let mut c = client(&s, &[]);
        let mut h = host(&s, &["-t", transport, "-p", "round-trip", "-s", "64", "-d", "30s"]);
        // In the timed loop: the client has waited for a thousand messages (a file in the
        // socket directory, or the control socket gone, could also mean it was still setting up).
        common::wait_for_progress(c.id(), (0, 0), 1000, 300, transport);
        h.kill().unwrap();
        let _ = h.wait();
        let killed = Instant::now();
        let status = wait_for_exit(&mut c, Duration::from_secs(15));
        assert!(killed.elapsed() < Duration::from_secs(5), "{transport}: {:?}", killed.elapsed());
        assert_eq!(status.code(), Some(1), "{transport}");
        let line = error_line(&stderr_of(&mut c));
        assert!(line.contains("the host closed the control channel (it exited or was killed)"), "{line}");
        assert!(line.contains(&format!("round-trip over {transport} with 64 B messages")), "{line}");
        assert!(s.leftovers().is_empty(), "{transport}: {:?}", s.leftovers());
        assert_eq!(ipcbench_files_in_dev_shm(), shm_before, "{transport}");
    }
}

fn long_run(s: &Scratch, timeout_s: &str, duration: &str, more: &[&str]) -> Child {
    let args = ["-t", "uds", "-p", "round-trip", "-s", "64", "-d", duration, "--timeout-s", timeout_s];
    s.spawn_run(&[&args[..], more].concat())
}

fn signal(pid: u32, sig: &str) {
    assert!(Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success());
}

#[test]
fn a_peer_stopped_and_resumed_inside_its_timeout_completes_the_run() {
    let s = Scratch::new();
    // No warm-up: once the peer is in its timed loop, it is recording; and long enough that the
    // second stopped falls inside the recorded phase, however late this thread sends the signal.
    let mut run = long_run(&s, "3", "4s", &["--warmup", "0"]);
    let peer = wait_for_peer(run.id());
    signal(peer, "-STOP");
    std::thread::sleep(Duration::from_millis(1000));
    signal(peer, "-CONT");
    let status = wait_for_exit(&mut run, Duration::from_secs(30));
    assert!(status.success(), "{}", stderr_of(&mut run));
    let sum = s.summary();
    let r = &sum["runs"][0];
    assert_eq!(r["integrity"]["received"], r["integrity"]["sent"], "every message came back");
    assert_eq!(r["integrity"]["corrupt"], 0);
    // The second it stood still is in the tail, not lost.
    assert!(r["latency_ns"]["max"].as_u64().unwrap() > 900_000_000, "{}", r["latency_ns"]);
}

#[test]
fn a_peer_stopped_past_its_timeout_fails_naming_the_stop_and_is_killed() {
    let s = Scratch::new();
    let mut run = long_run(&s, "1", "30s", &[]);
    let peer = wait_for_peer(run.id());
    signal(peer, "-STOP");
    let stopped = Instant::now();
    let status = wait_for_exit(&mut run, Duration::from_secs(20));
    assert!(stopped.elapsed() < Duration::from_secs(5), "{:?}", stopped.elapsed());
    assert_eq!(status.code(), Some(1));
    let line = error_line(&stderr_of(&mut run));
    assert!(line.contains("round-trip over uds with 64 B messages"), "{line}");
    assert!(line.contains("the peer process is stopped (SIGSTOP"), "{line}");
    assert!(line.contains("no progress for 1s"), "{line}");
    let start = Instant::now();
    while !gone(peer) {
        assert!(start.elapsed() < Duration::from_secs(5), "the stopped peer {peer} was left running");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(s.summary()["error"].as_str().unwrap().contains("stopped"));
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn one_way_is_refused_against_a_client_in_another_time_namespace() {
    let probe = Command::new("unshare").args(["--time", "--monotonic", "100000", "true"]).output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return eprintln!(
                "skipped: unshare --time needs root and a kernel with time namespaces: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )
        }
        Err(e) => return eprintln!("skipped: no unshare: {e}"),
    }
    let s = Scratch::new();
    // The client's CLOCK_MONOTONIC runs 100000 s ahead. With --clock tsc the check cannot
    // see it (the TSC is the machine's): monotonic is what it guards.
    let mut c = client(&s, &["unshare", "--time", "--monotonic", "100000"]);
    let mut h =
        host(&s, &["--clock", "monotonic", "-t", "uds", "-p", "round-trip,one-way", "-s", "64", "-n", "100"]);
    let status = wait_for_exit(&mut h, Duration::from_secs(30));
    assert!(wait_for_exit(&mut c, Duration::from_secs(10)).success(), "{}", stderr_of(&mut c));
    assert_eq!(status.code(), Some(1));
    let stderr = stderr_of(&mut h);
    let line = error_line(&stderr);
    assert!(
        line.contains(
            "one-way (and fan-out) runs were refused: the peer does not share this CLOCK_MONOTONIC"
        ),
        "{line}"
    );
    let sum = s.summary();
    assert_eq!(sum["clock_check"]["same_clock"], false);
    assert!(sum["clock_check"]["worst_outside_ns"].as_u64().unwrap() > 99_000_000_000_000);
    let patterns: Vec<&str> =
        sum["runs"].as_array().unwrap().iter().map(|r| r["pattern"].as_str().unwrap()).collect();
    assert_eq!(patterns, ["round-trip"], "round-trip still runs");
}
