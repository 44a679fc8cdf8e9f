//! The shared-memory transport through the real binary: two processes, a real mapping.

mod common;

use std::time::{Duration, Instant};

use common::Scratch;

fn shm_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ipcbench-"))
        .collect()
}

#[test]
fn every_pattern_wait_and_size_up_to_a_mebibyte_arrives_intact_over_a_file_and_a_memfd() {
    for (transport, wait) in
        ["shm", "memfd"].into_iter().flat_map(|t| ["spin", "block", "hybrid"].map(move |w| (t, w)))
    {
        let s = Scratch::new();
        s.run()
            .args([
                "-t",
                transport,
                "-p",
                "all",
                "-s",
                "16,100,4KiB,1MiB",
                "-n",
                "200",
                "--warmup",
                "20",
                "--verify",
            ])
            .args(["--wait", wait])
            .assert()
            .success();
        let runs = s.summary()["runs"].as_array().unwrap().clone();
        assert_eq!(runs.len(), 3 * 4, "{wait}");
        for r in &runs {
            let what = format!("{transport} {wait} {} {}", r["pattern"], r["size_bytes"]);
            assert_eq!(r["transport"], transport);
            let fs = r["shm_filesystem"].as_str().unwrap();
            assert_eq!(fs == "memfd", transport == "memfd", "{what}: {fs}");
            assert_eq!(r["integrity"]["sent"], 200, "{what}");
            assert_eq!(r["integrity"]["received"], 200, "{what}");
            assert_eq!(r["integrity"]["out_of_order"], 0, "{what}");
            assert_eq!(r["integrity"]["corrupt"], 0, "{what}");
            assert_eq!(r["wait"], wait);
        }
        assert!(s.leftovers().is_empty(), "{transport} {wait}: left {:?}", s.leftovers());
    }
}

/// A memfd ring needs nothing shared but the socket directory: the host and the client here
/// are two processes that find each other only through it, as across a container boundary.
#[test]
fn memfd_runs_between_host_and_client_through_the_socket_directory_alone() {
    let s = Scratch::new();
    let (st, _) =
        s.host_with_client(&["-t", "memfd", "-p", "all", "-s", "64,64KiB", "-n", "500", "--verify"]);
    assert!(st.success());
    let runs = common::assert_runs_intact(&s.summary(), 500, "memfd");
    assert_eq!(runs.len(), 3 * 2);
    assert!(runs.iter().all(|r| r["transport"] == "memfd"));
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn a_million_messages_wrap_a_small_ring_in_order_and_intact() {
    let s = Scratch::new();
    s.run()
        .args(["-t", "shm", "-p", "throughput,one-way", "-s", "64", "-n", "1000000", "--warmup", "0"])
        .args(["--wait", "spin", "--shm-slots", "3", "--verify"])
        .assert()
        .success();
    for r in s.summary()["runs"].as_array().unwrap() {
        let i = &r["integrity"];
        assert_eq!(i["received"], 1_000_000, "{}", r["pattern"]);
        assert_eq!(i["out_of_order"], 0, "{}", r["pattern"]);
        assert_eq!(i["corrupt"], 0, "{}", r["pattern"]);
    }
}

#[test]
fn copy_mode_moves_the_same_messages() {
    let s = Scratch::new();
    s.run()
        .args(["-t", "shm", "-p", "all", "-s", "64,64KiB", "-n", "300", "--verify", "--copy"])
        .assert()
        .success();
    for r in s.summary()["runs"].as_array().unwrap() {
        assert_eq!(r["integrity"]["received"], 300);
        assert_eq!(r["integrity"]["corrupt"], 0);
    }
}

#[test]
fn the_mapping_can_live_in_another_directory_and_is_removed_after_the_run() {
    let s = Scratch::new();
    let shm_dir = s.path("shm");
    std::fs::create_dir(&shm_dir).unwrap();
    s.run()
        .args(["-t", "shm", "-p", "round-trip", "-s", "64", "-n", "50", "--shm-dir"])
        .arg(&shm_dir)
        .assert()
        .success();
    assert!(shm_files(&shm_dir).is_empty(), "{:?}", shm_files(&shm_dir));
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn a_stale_mapping_of_a_dead_run_is_removed_and_a_live_ones_kept() {
    let s = Scratch::new();
    let stale = s.sockets().join("ipcbench-2147483600-0.shm");
    std::fs::write(&stale, b"left by a crash").unwrap();
    let live = s.sockets().join(format!("ipcbench-{}-0.shm", std::process::id()));
    std::fs::write(&live, b"ours").unwrap();
    s.run().args(["-t", "shm", "-p", "round-trip", "-s", "64", "-n", "10"]).assert().success();
    assert!(!stale.exists());
    assert!(live.exists());
}

#[test]
fn copy_without_shm_is_refused() {
    let s = Scratch::new();
    let out = s.run().args(["-t", "uds", "--copy"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("--copy applies to the shared-memory transports only (shm, memfd)"));
}

#[test]
fn a_peer_killed_mid_run_is_detected_for_every_wait_and_nothing_is_left() {
    let cases =
        [("spin", "round-trip"), ("block", "round-trip"), ("hybrid", "throughput"), ("block", "one-way")];
    for (transport, (wait, pattern)) in ["shm", "memfd"].into_iter().flat_map(|t| cases.map(move |c| (t, c)))
    {
        let s = Scratch::new();
        let mut host = std::process::Command::new(assert_cmd::cargo::cargo_bin("ipcbench"))
            .args([
                "run",
                "-t",
                transport,
                "-p",
                pattern,
                "-s",
                "4KiB",
                "--duration",
                "60s",
                "--timeout-s",
                "30",
            ])
            .args(["--quiet", "--wait", wait, "--socket-dir"])
            .arg(s.sockets())
            .arg("--out")
            .arg(s.out())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let peer = common::wait_for_peer(host.id());
        std::process::Command::new("kill").args(["-9", &peer.to_string()]).status().unwrap();
        let killed = Instant::now();
        let status = loop {
            if let Some(st) = host.try_wait().unwrap() {
                break st;
            }
            assert!(
                killed.elapsed() < Duration::from_secs(10),
                "{wait} {pattern}: host hangs after the peer died"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        // Detected by the liveness socket, long before the 30 s timeout.
        assert!(killed.elapsed() < Duration::from_secs(5), "{wait} {pattern}: {:?}", killed.elapsed());
        assert_eq!(status.code(), Some(1));
        let mut stderr = String::new();
        std::io::Read::read_to_string(host.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        let line = stderr.lines().find(|l| l.starts_with("Error:")).unwrap_or_default();
        assert!(
            line.contains(&format!("{pattern} over {transport} with 4096 B messages")),
            "{wait} {pattern}: {line}"
        );
        assert!(line.contains("peer process exited (signal: 9 (SIGKILL))"), "{wait} {pattern}: {line}");
        // The one-way and throughput initiator never waits on the ring, so it learns of the
        // death from the control channel; the round-trip one from the liveness socket.
        assert!(
            line.contains("the peer closed the connection") || line.contains("closed the control channel"),
            "{wait} {pattern}: {line}"
        );
        assert!(s.leftovers().is_empty(), "{wait} {pattern}: left {:?}", s.leftovers());
    }
}

#[test]
fn eventfd_notification_carries_every_pattern_and_sleeping_wait_and_is_recorded() {
    for transport in ["shm", "memfd"] {
        let s = Scratch::new();
        s.run()
            .args([
                "-t", transport, "-p", "all", "-s", "64,64KiB", "-n", "300", "--verify", "--notify",
                "eventfd",
            ])
            .args(["--wait", "spin,block,hybrid", "--min-time", "0s"])
            .assert()
            .success();
        let runs = s.summary()["runs"].as_array().unwrap().clone();
        assert_eq!(runs.len(), 3 * 3 * 2);
        for r in &runs {
            let what = format!("{transport} {} {} {}", r["wait"], r["pattern"], r["size_bytes"]);
            assert_eq!(r["integrity"]["received"], 300, "{what}");
            assert_eq!(r["integrity"]["corrupt"], 0, "{what}");
            assert_eq!(r["integrity"]["out_of_order"], 0, "{what}");
            // A spinning waiter never sleeps: how it would be woken is no part of its result.
            let expected = if r["wait"] == "spin" { serde_json::Value::Null } else { "eventfd".into() };
            assert_eq!(r["ring_notify"], expected, "{what}");
        }
        assert!(s.leftovers().is_empty(), "{transport}: {:?}", s.leftovers());
    }
}

/// The eventfds really cross to the peer (over the liveness socket), four per channel, and a
/// futex ring has none; a dead peer ends an eventfd sleep at once.
#[test]
fn the_peer_holds_four_eventfds_only_with_eventfd_notification_and_its_death_is_seen_at_once() {
    for (notify, expected) in [("eventfd", 4), ("futex", 0)] {
        let s = Scratch::new();
        let mut run = s.spawn_run(&[
            "-t",
            "shm",
            "-p",
            "round-trip",
            "-s",
            "64",
            "--duration",
            "60s",
            "--wait",
            "block",
            "--rate",
            "1000",
            "--timeout-s",
            "30",
            "--notify",
            notify,
        ]);
        let peer = common::wait_for_peer(run.id());
        assert_eq!(common::settled_anon_fds(peer, "[eventfd]", expected), expected, "{notify}");
        std::process::Command::new("kill").args(["-9", &peer.to_string()]).status().unwrap();
        let killed = Instant::now();
        let status = common::wait_for_exit(&mut run, Duration::from_secs(10));
        assert!(killed.elapsed() < Duration::from_secs(5), "{notify}: {:?}", killed.elapsed());
        assert_eq!(status.code(), Some(1), "{notify}");
        assert!(s.leftovers().is_empty(), "{notify}: {:?}", s.leftovers());
    }
}

#[test]
fn eventfd_notification_between_host_and_client_and_its_refusals() {
    let s = Scratch::new();
    let (st, _) = s.host_with_client(&[
        "-t",
        "shm,memfd",
        "-p",
        "round-trip,throughput",
        "-s",
        "64",
        "-n",
        "500",
        "--verify",
        "--wait",
        "block",
        "--notify",
        "eventfd",
        "--concurrency",
        "2",
    ]);
    assert!(st.success());
    let runs = common::assert_runs_intact(&s.summary(), 1000, "two pairs of 500");
    assert_eq!(runs.len(), 4);
    assert!(runs.iter().all(|r| r["ring_notify"] == "eventfd"));
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    for (args, needle) in [
        (&["-t", "uds", "--notify", "eventfd"][..], "--notify applies to the shared-memory transports only"),
        (&["-t", "shm", "--wait", "spin", "--notify", "eventfd"][..], "--wait spin never sleeps"),
    ] {
        common::assert_one_error(&s.run().args(args).output().unwrap(), 2, needle, &format!("{args:?}"));
    }
    common::assert_one_error(
        &s.run().args(["-t", "shm", "--notify", "doorbell"]).output().unwrap(),
        2,
        "invalid value 'doorbell' for '--notify",
        "bad value",
    );
}
