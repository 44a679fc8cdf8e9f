//! POSIX message queues through the real binary: every pattern and wait arrives intact, sizes
//! beyond the queue limit are refused before anything runs, a dead peer is noticed at once,
//! and no queue outlives the run, whether it ends normally, with a dead peer or on Ctrl-C.

mod common;

use std::time::Duration;

use common::Scratch;

/// The queues a run by process `pid` could have made for its first `tests` tests, still there.
fn queues_left(pid: u32, tests: u32) -> Vec<String> {
    let mut left = Vec::new();
    for test in 0..tests {
        for end in ["i", "p"] {
            let name = format!("/ipcbench-{pid}-{test}-0-{end}");
            let mode = nix::sys::stat::Mode::empty();
            if let Ok(q) = nix::mqueue::mq_open(name.as_str(), nix::mqueue::MQ_OFlag::O_RDONLY, mode, None) {
                let _ = nix::mqueue::mq_close(q);
                left.push(name);
            }
        }
    }
    left
}

#[test]
fn every_pattern_and_wait_arrives_intact_and_no_queue_is_left() {
    for wait in ["spin", "block", "hybrid"] {
        let s = Scratch::new();
        let mut run = s.spawn_run(&[
            "-t",
            "mqueue",
            "-p",
            "all",
            "-s",
            "16,100,4KiB,8KiB",
            "-n",
            "300",
            "--verify",
            "--wait",
            wait,
        ]);
        let status = common::wait_for_exit(&mut run, Duration::from_secs(60));
        assert!(status.success(), "{wait}: {}", common::stderr_of(&mut run));
        let runs = common::assert_runs_intact(&s.summary(), 300, wait);
        assert_eq!(runs.len(), 3 * 4, "{wait}");
        assert!(runs.iter().all(|r| r["transport"] == "mqueue"));
        assert!(queues_left(run.id(), 12).is_empty(), "{wait}: {:?}", queues_left(run.id(), 12));
        assert!(s.leftovers().is_empty(), "{wait}: {:?}", s.leftovers());
    }
}

#[test]
fn a_size_beyond_the_queue_limit_is_refused_naming_the_limit_and_the_sysctl() {
    let s = Scratch::new();
    let max: usize =
        std::fs::read_to_string("/proc/sys/fs/mqueue/msgsize_max").unwrap().trim().parse().unwrap();
    let out = s.run().args(["-t", "mqueue", "-s", &(max + 1).to_string()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error, found before anything ran");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "more than a POSIX message queue carries here ({max} bytes: fs.mqueue.msgsize_max"
        )) && err.contains("sysctl -w fs.mqueue.msgsize_max="),
        "{err}"
    );
}

#[test]
fn a_peer_killed_mid_run_is_noticed_at_once_and_ctrl_c_leaves_no_queue() {
    for (wait, signal) in [("block", "peer"), ("spin", "peer"), ("block", "ctrl-c")] {
        let s = Scratch::new();
        let mut run = s.spawn_run(&[
            "-t",
            "mqueue",
            "-p",
            "round-trip",
            "-s",
            "64",
            "-d",
            "60s",
            "--timeout-s",
            "30",
            "--wait",
            wait,
        ]);
        let peer = common::wait_for_peer(run.id());
        common::assert_stops_mid_run(&mut run, peer, signal, "round-trip over mqueue with 64 B messages");
        assert!(queues_left(run.id(), 1).is_empty(), "{wait} {signal}: {:?}", queues_left(run.id(), 1));
        assert!(s.leftovers().is_empty(), "{wait} {signal}: {:?}", s.leftovers());
    }
}

#[test]
fn the_leftover_check_sees_a_queue_that_is_there() {
    // The other tests' "no queue left" is only as good as this check.
    let me = std::process::id();
    let name = format!("/ipcbench-{me}-0-0-i");
    let flags = nix::mqueue::MQ_OFlag::O_CREAT | nix::mqueue::MQ_OFlag::O_RDWR;
    let q = nix::mqueue::mq_open(name.as_str(), flags, nix::sys::stat::Mode::from_bits_truncate(0o600), None)
        .unwrap();
    let seen = queues_left(me, 1);
    let _ = nix::mqueue::mq_close(q);
    nix::mqueue::mq_unlink(name.as_str()).unwrap();
    assert_eq!(seen, [name]);
    assert!(queues_left(me, 1).is_empty());
}
