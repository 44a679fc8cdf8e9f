//! Named FIFOs through the real binary: every pattern and wait arrives intact (1 MiB messages
//! cross a 64 KiB pipe buffer in pieces), host and client find each other through the socket
//! directory alone, a dead peer is noticed at once, and no FIFO is left, also on Ctrl-C or
//! after a crash.

mod common;

use std::process::Command;

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
    let (st, _) = s.host_with_client(&[
        "-t",
        "pipe",
        "-p",
        "round-trip,one-way",
        "-s",
        "64,64KiB",
        "-n",
        "300",
        "--verify",
        "--concurrency",
        "2",
    ]);
    assert!(st.success());
    common::assert_runs_intact(&s.summary(), 600, "two pairs of 300");
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
        common::assert_stops_mid_run(
            &mut run,
            peer,
            signal,
            &format!("{pattern} over pipe with 4096 B messages"),
        );
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

#[test]
fn pipe_size_sets_each_fifo_buffer_and_the_result_records_what_the_kernel_gave() {
    let s = Scratch::new();
    // 5000 bytes is rounded up by the kernel to two pages; 1 MiB is taken as given; without the
    // flag the kernel's default stands. Each is a configuration of its own.
    for (flag, expected) in [(Some("5000"), 8192), (Some("1MiB"), 1 << 20), (None, 65536)] {
        let mut cmd = s.run();
        cmd.args(["-t", "pipe", "-p", "round-trip,throughput", "-s", "256KiB", "-n", "50", "--verify"]);
        cmd.args(["--min-time", "0s"]);
        if let Some(f) = flag {
            cmd.args(["--pipe-size", f]);
        }
        cmd.assert().success();
        for r in s.summary()["runs"].as_array().unwrap() {
            assert_eq!(r["pipe_buffer_bytes"], expected, "{flag:?} {}", r["pattern"]);
            assert_eq!(r["integrity"]["corrupt"], 0);
        }
        assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    }
    for (args, code, needle) in [
        (
            &["-t", "uds", "--pipe-size", "1MiB", "-n", "10"][..],
            2,
            "--pipe-size applies to the pipe transport only",
        ),
        (&["-t", "pipe", "--pipe-size", "lots"][..], 2, "'lots' is not a size"),
    ] {
        common::assert_one_error(&s.run().args(args).output().unwrap(), code, needle, &format!("{args:?}"));
    }
}

/// An unprivileged user asking for more than fs.pipe-max-size gets the limit and the sysctl
/// named (as root, CAP_SYS_RESOURCE lifts the limit, so the test runs the binary as nobody).
#[test]
fn a_pipe_size_over_the_unprivileged_limit_names_the_sysctl() {
    if !rustix::process::geteuid().is_root() || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: needs root and setpriv to run as an unprivileged user");
        return;
    }
    let limit: usize = std::fs::read_to_string("/proc/sys/fs/pipe-max-size").unwrap().trim().parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(assert_cmd::cargo::cargo_bin("ipcbench"))
        .args(["run", "-q", "-t", "pipe", "-p", "round-trip", "-s", "64", "-n", "10", "--timeout-s", "5"])
        .args(["--pipe-size", &(limit * 2).to_string(), "--socket-dir"])
        .arg(dir.path())
        .arg("--out")
        .arg(dir.path().join("out.json"))
        .output()
        .unwrap();
    common::assert_one_error(&out, 1, &format!("fs.pipe-max-size is {limit}"), "over the limit");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("fifo"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
