//! `ipcbench host` and `ipcbench client` on one machine (the container case is .ci/container-test.sh):
//! the control protocol, the clock check, concurrency and failures on either side.

mod common;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{stderr_of, wait_for_exit, Scratch};

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("ipcbench")
}

fn client(s: &Scratch, extra: &[&str]) -> Child {
    Command::new(bin())
        .args(["client", "--timeout-s", "5", "--socket-dir"])
        .arg(s.sockets())
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn host(s: &Scratch, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.arg("host")
        .args(args)
        .args(["--quiet", "--timeout-s", "5", "--client-timeout-s", "10", "--min-time", "0s", "--socket-dir"])
        .arg(s.sockets())
        .arg("--out")
        .arg(s.out());
    c
}

#[test]
fn host_and_client_measure_every_transport_with_merged_pairs() {
    let s = Scratch::new();
    let mut c = client(&s, &[]);
    let st = host(
        &s,
        &["-t", "default", "-p", "all", "-s", "64,1KiB", "-n", "300", "--concurrency", "3", "--verify"],
    )
    .status()
    .unwrap();
    assert!(st.success());
    assert!(wait_for_exit(&mut c, Duration::from_secs(10)).success(), "the client ends with the session");
    let sum = s.summary();
    assert!(sum["clock_check"]["same_clock"].as_bool().unwrap());
    assert_eq!(sum["clock_check"]["probes"], 16);
    let runs = sum["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3 * 3 * 2);
    for r in runs {
        let what = format!("{} {} {}", r["transport"], r["pattern"], r["size_bytes"]);
        assert_eq!(r["concurrency"], 3, "{what}");
        assert_eq!(r["integrity"]["sent"], 900, "{what}: three pairs of 300");
        assert_eq!(r["integrity"]["received"], 900, "{what}");
        assert_eq!(r["integrity"]["corrupt"], 0, "{what}");
        assert_eq!(r["integrity"]["out_of_order"], 0, "{what}");
        if r["pattern"] != "throughput" {
            assert_eq!(r["latency_ns"]["samples"], 900, "{what}: histograms of all pairs merged");
        }
    }
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn a_serving_client_takes_one_host_after_another() {
    let s = Scratch::new();
    let mut c = client(&s, &["--serve"]);
    for _ in 0..2 {
        assert!(host(&s, &["-t", "uds", "-p", "round-trip", "-s", "64", "-n", "50"])
            .status()
            .unwrap()
            .success());
    }
    assert!(c.try_wait().unwrap().is_none(), "still serving");
    c.kill().unwrap();
    let _ = c.wait();
}

#[test]
fn a_host_without_client_and_a_client_without_host_give_up_with_a_clear_error() {
    let s = Scratch::new();
    let start = Instant::now();
    let out = host(&s, &["-n", "5", "--client-timeout-s", "1"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Error: no ipcbench client connected to") && err.contains("ipcbench.ctl"), "{err}");
    assert!(s.leftovers().is_empty(), "the control socket is removed: {:?}", s.leftovers());
    let out = Command::new(bin())
        .args(["client", "--connect-timeout-s", "1", "--socket-dir"])
        .arg(s.sockets())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Error: no ipcbench host on") && err.contains("within 1s"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(20));
}

/// Connects to the host's control socket, retrying until it listens.
fn connect_ctl(s: &Scratch) -> UnixStream {
    let ctl = s.sockets().join("ipcbench.ctl");
    let start = Instant::now();
    loop {
        if let Ok(sock) = UnixStream::connect(&ctl) {
            return sock;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "host never listened");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A host that first gets stray connections, each sending one of `frames` (`None`: nothing at
/// all), and then a real client: the host's stderr, after it finished the run successfully.
fn host_after_stray_connections(s: &Scratch, frames: Vec<Option<Vec<u8>>>) -> String {
    let mut h = host(s, &["-t", "uds", "-p", "round-trip", "-s", "64", "-n", "50"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for frame in frames {
        let mut sock = connect_ctl(s);
        if let Some(f) = frame {
            sock.write_all(&f).unwrap();
        }
        // The host drops the connection (EOF here) once it has judged the hello.
        sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(&mut sock, &mut rest);
    }
    let mut c = client(s, &[]);
    let st = wait_for_exit(&mut h, Duration::from_secs(20));
    let err = stderr_of(&mut h);
    assert!(st.success(), "the host went on to a real client: {err}");
    assert!(wait_for_exit(&mut c, Duration::from_secs(10)).success());
    assert_eq!(s.summary()["runs"].as_array().unwrap().len(), 1, "and measured with it");
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    err
}

fn json_frame(v: serde_json::Value) -> Vec<u8> {
    let body = serde_json::to_vec(&v).unwrap();
    let mut f = (body.len() as u32).to_le_bytes().to_vec();
    f.push(1);
    f.extend(body);
    f
}

fn dropped(err: &str) -> Vec<&str> {
    err.lines()
        .filter(|l| l.starts_with("note: dropped a control connection that failed the hello: "))
        .collect()
}

#[test]
fn a_client_of_another_protocol_version_is_dropped_naming_both_versions_and_the_host_waits_on() {
    let s = Scratch::new();
    let env = serde_json::to_value(ipcbench::measure::env::Environment::detect()).unwrap();
    let hello = serde_json::json!({
        "type": "hello", "magic": "ipcbench-control", "protocol_version": 99,
        "ipcbench_version": "9.9.9", "clock_ns": 1, "environment": env,
    });
    let err = host_after_stray_connections(&s, vec![Some(json_frame(hello))]);
    let ours = format!("speaks version {}", ipcbench::control::PROTOCOL_VERSION);
    let notes = dropped(&err);
    assert_eq!(notes.len(), 1, "{err}");
    assert!(notes[0].contains("speaks control protocol version 99") && notes[0].contains(&ours), "{err}");
}

#[test]
fn garbage_oversized_unknown_and_silent_connections_are_dropped_with_their_reason_and_the_host_waits_on() {
    // Before, one byte of garbage ended the host's session and removed its control socket.
    let s = Scratch::new();
    let err = host_after_stray_connections(
        &s,
        vec![
            Some(b"I".to_vec()),
            Some(vec![4, 0, 0, 0, 1, b'n', b'o', b'p', b'e']),
            Some(vec![0xff, 0xff, 0xff, 0x7f, 1]),
            Some(json_frame(serde_json::json!({"type": "teleport"}))),
            Some(json_frame(serde_json::json!({"type": "bye"}))),
            Some(json_frame(
                serde_json::json!({"type": "hello", "magic": "not-ipcbench", "protocol_version": 2,
                "ipcbench_version": "0", "clock_ns": 1,
                "environment": serde_json::to_value(ipcbench::measure::env::Environment::detect()).unwrap()}),
            )),
            None,
        ],
    );
    let notes = dropped(&err);
    assert_eq!(notes.len(), 7, "{err}");
    for (note, reason) in notes.iter().zip([
        "no message from the client", // one byte, then silence
        "malformed control frame from the client",
        "exceeds the",
        "teleport",
        "expected a hello message from the client, got bye",
        "not an ipcbench peer (bad magic \"not-ipcbench\")",
        "no message from the client within 2s while waiting for hello",
    ]) {
        assert!(note.contains(reason), "{note:?} should name {reason:?}");
    }
}

#[test]
fn a_malformed_frame_after_the_hello_still_ends_the_session() {
    let s = Scratch::new();
    let mut h = host(&s, &["-t", "uds", "-p", "round-trip", "-s", "64", "-n", "5"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sock = connect_ctl(&s);
    let tx = sock.try_clone().unwrap();
    let mut ch = ipcbench::control::Channel::new(
        sock.try_clone().unwrap().into(),
        tx.into(),
        "host",
        Duration::from_secs(5),
    );
    ch.join_session().unwrap();
    (&sock).write_all(&[0, 0, 0, 0, 9]).unwrap(); // where the clock reply is due
    let st = wait_for_exit(&mut h, Duration::from_secs(10));
    assert_eq!(st.code(), Some(1));
    let err = stderr_of(&mut h);
    assert!(err.contains("Error: malformed control frame from the client: unknown frame kind 9"), "{err}");
}

#[test]
fn a_client_that_dies_mid_run_fails_the_host_naming_the_run_and_keeping_earlier_results() {
    let s = Scratch::new();
    let mut c = client(&s, &[]);
    let mut h = Command::new(bin())
        .args(["host", "-t", "uds", "-p", "round-trip", "-s", "64,128", "--duration", "1500ms", "--quiet"])
        .args(["--timeout-s", "3", "--socket-dir"])
        .arg(s.sockets())
        .arg("--out")
        .arg(s.out())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the client during the second run (128 B): once the first is written, and the
    // client is in the second's timed loop.
    let start = Instant::now();
    let first_written = || {
        std::fs::read_to_string(s.out())
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["runs"].as_array().is_some_and(|r| r.len() == 1))
    };
    while !first_written() {
        assert!(start.elapsed() < Duration::from_secs(30), "the first run was never written");
        std::thread::sleep(Duration::from_millis(10));
    }
    let at_first = common::progress(c.id()).unwrap();
    common::wait_for_progress(c.id(), at_first, 1000, 300, "the client");
    c.kill().unwrap();
    let _ = c.wait();
    let st = wait_for_exit(&mut h, Duration::from_secs(10));
    assert!(!st.success());
    let err = stderr_of(&mut h);
    assert!(err.contains("round-trip over uds with 128 B messages"), "{err}");
    let sum = s.summary();
    assert_eq!(sum["runs"].as_array().unwrap().len(), 1, "the finished run is kept");
    assert!(sum["error"].as_str().unwrap().contains("128 B"));
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn a_world_writable_socket_directory_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    std::fs::set_permissions(s.sockets(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = host(&s, &["-n", "5"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is world-writable"));
}

#[test]
fn a_group_shared_socket_directory_gets_group_files_and_a_private_one_owner_files() {
    use std::os::unix::fs::PermissionsExt;
    for (dir_mode, want) in [(0o700, 0o600), (0o2770, 0o660)] {
        let s = Scratch::new();
        std::fs::set_permissions(s.sockets(), std::fs::Permissions::from_mode(dir_mode)).unwrap();
        let mut h = Command::new(bin())
            .args([
                "run",
                "-t",
                "shm",
                "-p",
                "round-trip",
                "-s",
                "64",
                "--duration",
                "3s",
                "-q",
                "--socket-dir",
            ])
            .arg(s.sockets())
            .arg("--out")
            .arg(s.out())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let mapping = loop {
            let found = std::fs::read_dir(s.sockets())
                .unwrap()
                .flatten()
                .find(|e| e.file_name().to_string_lossy().ends_with(".shm"));
            if let Some(e) = found {
                break e.path();
            }
            assert!(start.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(5));
        };
        // The file is made with the umask's mode, then given its own: look until it has it.
        let mode = loop {
            let mode = std::fs::metadata(&mapping).unwrap().permissions().mode() & 0o777;
            if mode == want || start.elapsed() > Duration::from_secs(10) {
                break mode;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(mode, want, "dir {dir_mode:o}");
        h.kill().unwrap();
        let _ = h.wait();
    }
}
