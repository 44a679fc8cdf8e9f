//! Framings over the stream transports, the datagram transports, and `--connect` against the
//! example JSON-lines echo service (container/examples/json_echo.rs).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::Scratch;
use predicates::prelude::*;

#[test]
fn every_framing_works_over_every_stream_transport_and_is_recorded() {
    for framing in ["raw", "length-prefixed", "json-lines"] {
        let s = Scratch::new();
        let jl = s.path("m.jsonl");
        s.run()
            .args([
                "-t",
                "uds,tcp",
                "-p",
                "all",
                "-s",
                "200,4KiB",
                "-n",
                "300",
                "--framing",
                framing,
                "--stream-json",
            ])
            .arg(&jl)
            .assert()
            .success();
        let runs = s.summary()["runs"].as_array().unwrap().clone();
        assert_eq!(runs.len(), 2 * 3 * 2, "{framing}");
        for r in &runs {
            let what = format!("{framing} {} {} {}", r["transport"], r["pattern"], r["size_bytes"]);
            assert_eq!(r["framing"], framing, "{what}");
            let i = &r["integrity"];
            assert_eq!(i["received"], 300, "{what}");
            assert_eq!(i["lost"], 0, "{what}");
            assert_eq!(i["corrupt"], 0, "{what}");
            assert_eq!(i["out_of_order"], 0, "{what}");
        }
        let first: serde_json::Value =
            serde_json::from_str(std::fs::read_to_string(&jl).unwrap().lines().next().unwrap()).unwrap();
        assert_eq!(first["framing"], framing);
        assert!(s.leftovers().is_empty());
    }
}

#[test]
fn datagram_transports_account_for_every_message() {
    let s = Scratch::new();
    s.run()
        .args(["-t", "udp,uds-dgram", "-p", "all", "-s", "64,8KiB", "-n", "2000", "--verify"])
        .assert()
        .success();
    for r in s.summary()["runs"].as_array().unwrap() {
        let what = format!("{} {} {}", r["transport"], r["pattern"], r["size_bytes"]);
        let i = &r["integrity"];
        let (sent, received, lost) =
            (i["sent"].as_u64().unwrap(), i["received"].as_u64().unwrap(), i["lost"].as_u64().unwrap());
        assert_eq!(sent, 2000, "{what}");
        assert_eq!(sent, received + lost, "{what}: every message received or counted lost");
        assert_eq!(i["corrupt"], 0, "{what}");
    }
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn sizes_a_datagram_cannot_carry_and_framings_that_do_not_apply_are_refused() {
    let s = Scratch::new();
    let err = |args: &[&str], needle: &str| {
        s.run().args(args).assert().failure().stderr(predicate::str::contains(needle));
    };
    err(&["-t", "udp", "-s", "70000"], "more than a udp datagram carries (65507 bytes)");
    err(
        &["-t", "shm", "--framing", "json-lines", "-s", "256"],
        "applies to stream transports (uds, tcp), not shm",
    );
    err(&["-t", "uds", "--framing", "json-lines", "-s", "64"], "at least 160 bytes");
    err(&["-t", "uds", "--framing", "json-lines", "-s", "256", "--verify"], "--verify");
    err(
        &["--framing", "xml"],
        "invalid value 'xml' for '--framing <FRAMING>' [possible values: raw, length-prefixed, json-lines]",
    );
    err(&["--connect", "http://example"], "is not tcp://HOST:PORT or unix:///path");
    err(&["--connect", "tcp://127.0.0.1:9", "-p", "one-way"], "round trips only");
}

/// The example echo service, built by cargo next to the test binaries.
fn echo_service(s: &Scratch) -> (Child, String) {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("examples").join("json_echo");
    assert!(bin.exists(), "{} (cargo test builds examples)", bin.display());
    let sock = s.path("echo.sock");
    let mut child = Command::new(bin).arg("unix").arg(&sock).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("listening on"), "{line}");
    (child, format!("unix://{}", sock.display()))
}

#[test]
fn connect_measures_round_trips_against_a_json_lines_service() {
    let s = Scratch::new();
    let (mut svc, url) = echo_service(&s);
    s.run()
        .args(["--connect", &url, "--framing", "json-lines", "-s", "256,1KiB", "-n", "500"])
        .assert()
        .success();
    let sum = s.summary();
    let runs = sum["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for r in runs {
        assert_eq!(r["pattern"], "round-trip");
        assert_eq!(r["external_service"], url.as_str());
        assert_eq!(r["integrity"]["received"], 500);
        assert_eq!(r["integrity"]["corrupt"], 0, "every reply carried its seq");
        assert_eq!(r["latency_ns"]["samples"], 500);
    }
    assert!(sum["peer_environment"].is_null(), "no ipcbench peer was involved");
    // Replies matched on a field the service does not send: every one counted, none hidden.
    s.run()
        .args([
            "--connect",
            &url,
            "--framing",
            "json-lines",
            "-s",
            "256",
            "-n",
            "50",
            "--reply-seq-field",
            "id",
        ])
        .assert()
        .success();
    let r = &s.summary()["runs"][0];
    assert_eq!(r["integrity"]["corrupt"], 50);
    svc.kill().unwrap();
    let _ = svc.wait();
    let out = s
        .run()
        .args(["--connect", &url, "--framing", "json-lines", "-s", "256", "-n", "5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not reachable"), "a dead service is named");
}
