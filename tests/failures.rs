//! Bad input and misbehaving peers: each gets a clear one-line error, a non-zero exit within a
//! bounded time, and nothing is left in the socket directory.

mod common;

use std::time::{Duration, Instant};

use common::{wait_for_exit, wait_for_peer, Scratch};
use ipcbench::control::peer::{connect_control, serve_with, Act, Behaviour};
use ipcbench::control::Channel;
use predicates::prelude::*;

/// The error line of a failed command: exactly one line that starts with `Error:`.
fn error_line(out: &std::process::Output) -> String {
    the_error_line(&String::from_utf8_lossy(&out.stderr))
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
    let possible = "[possible values: uds, tcp, shm, memfd, udp, mqueue, pipe, uds-dgram, uds-uring, tcp-uring, iceoryx2, zeromq, zeromq-tcp, grpc-uds, zenoh, zenoh-tcp, zenoh-shm, default, all]";
    fails_with(
        &s,
        &["-t", "smoke-signals"],
        &format!("invalid value 'smoke-signals' for '--transport <TRANSPORT>' {possible}"),
    );
    fails_with(&s, &["-p", "zigzag"], "invalid value 'zigzag' for '--pattern");
    fails_with(&s, &["-s", "0"], "below the 16-byte message header");
    fails_with(&s, &["-s", "15"], "below the 16-byte message header");
    fails_with(&s, &["-s", "big"], "'big' is not a size like 64, 4KiB, 1MiB or 1GiB (16 B to 256 MiB)");
    fails_with(&s, &["-s", "1GiB"], "1GiB is 1073741824 bytes, over the 256 MiB limit");
    fails_with(&s, &["-n", "0"], "for '--count <COUNT>': must be at least 1");
    fails_with(&s, &["--duration", "soon"], "invalid value 'soon' for '--duration");
    fails_with(&s, &["--duration", "0s"], "must be longer than 0");
    fails_with(
        &s,
        &["--wait", "nap"],
        "invalid value 'nap' for '--wait <WAIT>' [possible values: block, spin, hybrid]",
    );
    fails_with(&s, &["--pin", "0"], "--pin takes two CPUs");
    fails_with(&s, &["--pin", "0,4096"], "CPU 4096 is not available");
    fails_with(&s, &["--rate", "0"], "for '--rate <RATE>': a rate must be at least 1 per second");
    fails_with(&s, &["--repeat", "0"], "for '--repeat <REPEAT>': must be at least 1");
    fails_with(&s, &["--concurrency", "65"], "65 is not in 1..=64");
    fails_with(&s, &["--timeout-s", "x"], "'x' is not a whole number");
}

#[test]
fn a_bad_flag_and_a_bad_value_checked_after_parsing_both_exit_2() {
    let s = Scratch::new();
    assert_eq!(s.run().args(["-t", "smoke-signals"]).output().unwrap().status.code(), Some(2));
    assert_eq!(s.run().args(["--pin", "0,4096"]).output().unwrap().status.code(), Some(2));
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
        .arg(s.path("nope/deeper"))
        .arg("--out")
        .arg(s.out())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(error_line(&out).contains("does not exist"), "{}", error_line(&out));
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

/// `ipcbench host` on this scratch's socket dir, with a short timeout, output piped.
fn spawn_host(s: &Scratch, args: &[&str]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("ipcbench"))
        .arg("host")
        .arg("--socket-dir")
        .arg(s.sockets())
        .arg("--out")
        .arg(s.out())
        .args(["--quiet", "--timeout-s", "1", "--client-timeout-s", "10"])
        .args(args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A client that misbehaves as told, through the peer's behaviour seam (nothing test-only is
/// in the binary): `act` says what it does at each point.
struct Scripted {
    at_hello: Act,
    at_test: Option<(u32, Act)>,
}

impl Behaviour for Scripted {
    fn before_hello(&mut self) -> Act {
        self.at_hello
    }
    fn before_prepare(&mut self, test_id: u32) -> Act {
        match self.at_test {
            Some((n, act)) if n == test_id => act,
            _ => Act::Go,
        }
    }
}

/// Connects a scripted client to the host's control socket on a thread of this test.
fn scripted_client(s: &Scratch, script: Scripted) -> std::thread::JoinHandle<()> {
    let dir = s.sockets();
    std::thread::spawn(move || {
        let mut script = script;
        let ctl = ipcbench::transport::Endpoint::Unix(dir.join("ipcbench.ctl"));
        let fd = connect_control(&ctl, Duration::from_secs(10)).unwrap();
        let tx = fd.try_clone().unwrap();
        let mut ch = Channel::new(fd, tx, "host", Duration::from_secs(5));
        let _ = serve_with(&mut ch, &dir, &mut script);
    })
}

/// Runs a host against a scripted client; the host's exit status and stderr.
fn host_against(s: &Scratch, args: &[&str], script: Scripted) -> (std::process::ExitStatus, String) {
    let mut host = spawn_host(s, args);
    let client = scripted_client(s, script);
    let status = wait_for_exit(&mut host, Duration::from_secs(20));
    client.join().unwrap();
    (status, common::stderr_of(&mut host))
}

fn the_error_line(stderr: &str) -> String {
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("Error:")).collect();
    assert_eq!(errors.len(), 1, "expected one error line in: {stderr}");
    errors[0].to_string()
}

#[test]
fn a_peer_that_never_says_hello_times_out() {
    let s = Scratch::new();
    let started = Instant::now();
    let script = Scripted { at_hello: Act::Stall, at_test: None };
    let (status, stderr) = host_against(&s, &["-n", "5", "--client-timeout-s", "6"], script);
    assert_eq!(status.code(), Some(1));
    // The silent connection is dropped after the hello timeout; the host waits on for another
    // client until its own timeout, and then says why it has none.
    let line = the_error_line(&stderr);
    assert!(line.contains("no ipcbench client connected to") && line.contains("within 6s"), "{line}");
    assert!(
        line.contains("dropped 1 connection(s) that failed the hello; the last: no message from the client within 1s while waiting for hello"),
        "{line}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn a_peer_that_never_connects_times_out_naming_the_run() {
    let s = Scratch::new();
    let script = Scripted { at_hello: Act::Go, at_test: Some((0, Act::Stall)) };
    let (status, stderr) =
        host_against(&s, &["-t", "uds", "-p", "round-trip", "-s", "64", "-n", "5"], script);
    assert_eq!(status.code(), Some(1));
    let line = the_error_line(&stderr);
    assert!(
        line.contains("round-trip over uds with 64 B messages (repetition 0)")
            && line.contains("the peer did not connect to unix://")
            && line.contains("within 1s"),
        "{line}"
    );
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn a_peer_that_exits_keeps_earlier_results_and_names_the_failed_run() {
    let s = Scratch::new();
    let script = Scripted { at_hello: Act::Go, at_test: Some((2, Act::Vanish)) };
    let (status, stderr) =
        host_against(&s, &["-t", "uds", "-p", "round-trip", "-s", "64,128,256,512", "-n", "20"], script);
    assert_eq!(status.code(), Some(1));
    let line = the_error_line(&stderr);
    assert!(
        line.contains("round-trip over uds with 256 B messages")
            && line.contains("the client closed the control channel"),
        "{line}"
    );
    let sum = s.summary();
    let sizes: Vec<u64> =
        sum["runs"].as_array().unwrap().iter().map(|r| r["size_bytes"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [64, 128], "the two finished runs are kept");
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
        let line = the_error_line(&stderr);
        assert!(line.contains("round-trip over uds with 64 B messages"), "{wait}: {line}");
        assert!(line.contains("peer process exited (signal: 9 (SIGKILL))"), "{wait}: {line}");
        assert!(line.contains("the peer closed the connection"), "{wait}: {line}");
        assert!(s.summary()["error"].is_string());
        assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    }
}

/// The handler of Ctrl-C kills the peer first, so the main thread may see its peer die and end
/// the process itself: exit 1, "peer process exited", a summary saying error. A busy runner
/// did that once; strace makes it happen every time, holding the handler 500 ms after its
/// kill() (.ci/run installs strace).
#[test]
fn ctrl_c_exits_130_even_when_the_main_thread_sees_the_killed_peer_first() {
    let s = Scratch::new();
    let mut traced = std::process::Command::new("strace")
        .args(["-f", "-qq", "--seccomp-bpf", "-o", "/dev/null", "-e", "trace=kill"])
        .args(["-e", "inject=kill:delay_exit=500000"])
        .arg(assert_cmd::cargo::cargo_bin("ipcbench"))
        .args(["run", "-t", "uds", "-p", "round-trip", "-s", "64", "-d", "60s", "--timeout-s", "2"])
        .args(["--quiet", "--wait", "block", "--socket-dir"])
        .arg(s.sockets())
        .arg("--out")
        .arg(s.out())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("strace (apt-get install strace; .ci/run does)");
    let start = Instant::now();
    let host = loop {
        if let Some(pid) = common::child_of(traced.id()) {
            break pid;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "strace never started ipcbench");
        std::thread::sleep(Duration::from_millis(10));
    };
    wait_for_peer(host);
    std::process::Command::new("kill").args(["-INT", &host.to_string()]).status().unwrap();
    let status = wait_for_exit(&mut traced, Duration::from_secs(20));
    let err = common::stderr_of(&mut traced);
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(!err.contains("peer process exited"), "{err}");
    assert_eq!(s.summary()["interrupted"], "stopped by a signal (Ctrl-C or SIGTERM)");
    assert!(s.summary()["error"].is_null(), "{}", s.summary());
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn ctrl_c_stops_the_run_kills_the_peer_and_leaves_nothing_behind() {
    let s = Scratch::new();
    let mut host = spawn_long_run(&s, "block");
    let peer = wait_for_peer(host.id());
    std::process::Command::new("kill").args(["-INT", &host.id().to_string()]).status().unwrap();
    let status = wait_for_exit(&mut host, Duration::from_secs(10));
    assert_eq!(status.code(), Some(130), "{}", common::stderr_of(&mut host));
    let start = Instant::now();
    while std::path::Path::new(&format!("/proc/{peer}")).exists() && start.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let zombie_or_gone =
        std::fs::read_to_string(format!("/proc/{peer}/stat")).map_or(true, |s| s.contains(") Z "));
    assert!(zombie_or_gone, "peer {peer} still running");
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    let sum = s.summary();
    assert_eq!(
        sum["interrupted"], "stopped by a signal (Ctrl-C or SIGTERM)",
        "the summary says it was stopped"
    );
    assert_eq!(sum["runs"].as_array().unwrap().len(), 0, "the run in progress is not reported as finished");
}

#[test]
fn a_world_writable_socket_dir_is_refused_unless_trusted() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    let open = s.path("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let run = |extra: &[&str]| {
        let mut cmd = assert_cmd::Command::cargo_bin("ipcbench").unwrap();
        cmd.args([
            "run",
            "-t",
            "uds,shm",
            "-p",
            "round-trip",
            "-s",
            "64",
            "-n",
            "20",
            "--quiet",
            "--socket-dir",
        ])
        .arg(&open)
        .arg("--out")
        .arg(s.out())
        .args(extra)
        .output()
        .unwrap()
    };
    let out = run(&[]);
    assert!(!out.status.success());
    let err = error_line(&out);
    assert!(err.contains("is world-writable (mode 777)") && err.contains("--trust-dirs"), "{err}");
    // A pod's emptyDir is 0777 but the pod's own: trusted on purpose, it works.
    let out = run(&["--trust-dirs"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(s.summary()["runs"].as_array().unwrap().len(), 2);
}

#[test]
fn a_rate_sweep_whose_peer_dies_midway_keeps_the_rates_done_and_their_curve() {
    let s = Scratch::new();
    let script = Scripted { at_hello: Act::Go, at_test: Some((2, Act::Vanish)) };
    let args = ["-t", "uds", "-p", "round-trip", "-s", "64", "--rates", "1k,2k,5k,10k", "-d", "100ms"];
    let (status, stderr) = host_against(&s, &args, script);
    assert_eq!(status.code(), Some(1));
    let line = the_error_line(&stderr);
    assert!(
        line.contains("offered 5.0k/s") && line.contains("the client closed the control channel"),
        "{line}"
    );
    let sum = s.summary();
    let rates: Vec<u64> =
        sum["runs"].as_array().unwrap().iter().map(|r| r["rate_per_s"].as_u64().unwrap()).collect();
    assert_eq!(rates, [1000, 2000], "the finished rates are kept");
    let curve = &sum["load_curves"][0];
    assert_eq!(curve["points"].as_array().unwrap().len(), 2, "{curve}");
    assert!(sum["error"].as_str().unwrap().contains("5.0k/s"));
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

/// A build without the cargo feature says how to get one, and runs nothing.
#[cfg(not(feature = "iceoryx2"))]
#[test]
fn iceoryx2_in_a_build_without_it_is_refused_naming_the_feature() {
    let s = Scratch::new();
    let out = s.run().args(["-t", "shm,iceoryx2", "-n", "10"]).output().unwrap();
    common::assert_one_error(&out, 2, "cargo build --release --features iceoryx2", "no feature");
    assert!(!s.out().exists(), "nothing ran");
}

/// A build without the zeromq feature says how to get one, for either zeromq kind, and runs
/// nothing.
#[cfg(not(feature = "zeromq"))]
#[test]
fn zeromq_in_a_build_without_it_is_refused_naming_the_feature() {
    for kind in ["zeromq", "zeromq-tcp"] {
        let s = Scratch::new();
        let out = s.run().args(["-t", &format!("uds,{kind}"), "-n", "10"]).output().unwrap();
        common::assert_one_error(&out, 2, "cargo build --release --features zeromq", kind);
        assert!(!s.out().exists(), "{kind}: nothing ran");
    }
}

/// The same for gRPC.
#[cfg(not(feature = "grpc"))]
#[test]
fn grpc_uds_in_a_build_without_it_is_refused_naming_the_feature() {
    let s = Scratch::new();
    let out = s.run().args(["-t", "uds,grpc-uds", "-n", "10"]).output().unwrap();
    common::assert_one_error(&out, 2, "cargo build --release --features grpc", "no feature");
    assert!(!s.out().exists(), "nothing ran");
}
/// The same for zenoh: each of its kinds names the feature.
#[cfg(not(feature = "zenoh"))]
#[test]
fn zenoh_in_a_build_without_it_is_refused_naming_the_feature() {
    for kind in ["zenoh", "zenoh-tcp", "zenoh-shm"] {
        let s = Scratch::new();
        let out = s.run().args(["-t", &format!("uds,{kind}"), "-n", "10"]).output().unwrap();
        common::assert_one_error(&out, 2, &format!("--transport {kind} needs a build with it"), kind);
        common::assert_one_error(&out, 2, "cargo build --release --features zenoh", kind);
        assert!(!s.out().exists(), "nothing ran");
    }
}
