//! Every class of outcome and its one exit status (src/exit.rs): 0 success, 1 a run that failed,
//! 2 a usage error found before anything ran, 3 a gate that found a regression, 4 a gate that
//! could not judge. Each case also prints exactly one `Error:` line where it is an error.

mod common;

use assert_cmd::Command;
use common::{assert_one_error, read_json, Scratch};
use serde_json::Value;

fn ipcbench() -> Command {
    Command::cargo_bin("ipcbench").unwrap()
}

/// Usage errors of every kind: clap's (an unknown flag, a bad value), values checked after
/// parsing, combinations, paths named on the command line, and a run option before a command.
#[test]
fn every_usage_error_exits_2_with_one_error_line_before_anything_runs() {
    let s = Scratch::new();
    let cases: &[(&[&str], &str)] = &[
        (&["--no-such-flag"], "unexpected argument '--no-such-flag'"),
        (&["--wait", "nap"], "invalid value 'nap' for '--wait"),
        (&["--pin", "0,4096"], "CPU 4096 is not available"),
        (&["--pin", "a,b"], "invalid value 'a' for '--pin"),
        (&["-t", "uds", "--copy"], "--copy applies to the shared-memory transports only"),
        (&["-t", "udp", "-s", "64KiB"], "more than a udp datagram carries"),
        (&["--rate", "auto"], "--rate takes one rate like 10k"),
        (&["--connect", "http://example.invalid"], "--connect"),
    ];
    for (args, needle) in cases {
        let out = s.run().args(*args).output().unwrap();
        assert_one_error(&out, 2, needle, &format!("{args:?}"));
    }
    // A directory whose parent is missing too (a missing socket directory alone is created).
    let out = s.run().args(["-n", "10", "--socket-dir"]).arg(s.path("no/such")).output().unwrap();
    assert_one_error(&out, 2, "does not exist", "socket dir");
    let out = ipcbench().args(["compare", "missing-a.json", "missing-b.json"]).output().unwrap();
    assert_one_error(&out, 2, "missing-a.json", "compare of a missing file");
    let out = ipcbench().args(["--quiet"]).output().unwrap();
    assert_one_error(&out, 2, "run options go after a command, e.g. `ipcbench run --quiet`", "no command");
    assert!(!s.out().exists(), "nothing ran");
}

#[test]
fn a_run_that_fails_exits_1_and_a_good_one_0() {
    let s = Scratch::new();
    s.run().args(["-t", "uds", "-p", "round-trip", "-s", "64", "-n", "200"]).assert().code(0);
    // Nothing listens on this port: the run starts, and fails connecting.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = s.run().args(["--connect", &format!("tcp://127.0.0.1:{port}"), "-n", "10"]).output().unwrap();
    assert_one_error(&out, 1, "is not reachable", "a service that is not there");
}

/// A result file with two identical repetitions of a uds round trip, and a copy with every
/// p50 `factor` times larger.
fn results(s: &Scratch, factor: u64, keep_reps: u64) -> (std::path::PathBuf, std::path::PathBuf) {
    s.run()
        .args(["-t", "uds", "-p", "round-trip", "-s", "64", "-n", "300", "--repeat", "2"])
        .assert()
        .success();
    let mut v = s.summary();
    let runs = v["runs"].as_array_mut().unwrap();
    runs.retain(|r| r["repetition"].as_u64().unwrap() < keep_reps);
    let first = runs[0]["latency_ns"].clone();
    for r in runs.iter_mut() {
        r["latency_ns"] = first.clone();
    }
    let a = s.path(&format!("a{keep_reps}.json"));
    std::fs::write(&a, v.to_string()).unwrap();
    for r in v["runs"].as_array_mut().unwrap() {
        let p50 = r["latency_ns"]["p50"].as_u64().unwrap();
        r["latency_ns"]["p50"] = Value::from(p50 * factor);
    }
    let b = s.path(&format!("b{keep_reps}.json"));
    std::fs::write(&b, v.to_string()).unwrap();
    (a, b)
}

#[test]
fn a_gate_exits_3_on_a_regression_and_4_when_it_cannot_judge() {
    let s = Scratch::new();
    let (a, b) = results(&s, 3, 2);
    let gate = |x: &std::path::Path, y: &std::path::Path| {
        ipcbench().arg("compare").arg(x).arg(y).args(["--max-regression", "p50=10%"]).output().unwrap()
    };
    assert_eq!(gate(&a, &a).status.code(), Some(0), "a result against itself passes");
    let out = gate(&a, &b);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("slower by 3.0x"));
    // One repetition a side bounds nothing: the gate cannot pass a threefold regression.
    let (a1, b1) = results(&s, 3, 1);
    let out = gate(&a1, &b1);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--repeat"));
    // Without a gate it is a table, whatever it shows.
    assert_eq!(ipcbench().arg("compare").arg(&a1).arg(&b1).output().unwrap().status.code(), Some(0));
    assert_eq!(read_json(&a)["runs"].as_array().unwrap().len(), 2);
}

#[test]
fn help_says_what_every_exit_status_means() {
    let out = ipcbench().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "0 success",
        "1 a run failed",
        "2 a usage error",
        "3 a gate found a regression",
        "4 a gate could not judge",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}

/// `history check` is a gate too: 3 on a regression change point in its last commits, 4 when no
/// series has the commits to be judged, 2 for a database that is not one.
#[test]
fn history_check_exits_3_on_a_regression_4_with_too_few_commits_and_2_on_a_damaged_database() {
    let s = Scratch::new();
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/result-v1.json")).unwrap();
    let db = s.path("history.sqlite");
    let add = |i: usize, p50: u64| {
        let mut v: Value = serde_json::from_str(&text).unwrap();
        v["runs"].as_array_mut().unwrap().truncate(1);
        v["runs"][0]["latency_ns"]["p50"] = Value::from(p50);
        let f = s.path(&format!("r{i}.json"));
        std::fs::write(&f, v.to_string()).unwrap();
        ipcbench()
            .args(["history", "add", "--commit", &format!("c{i:02}")])
            .arg("--db")
            .arg(&db)
            .arg(&f)
            .assert()
            .code(0);
    };
    let check = || {
        ipcbench().args(["history", "check", "--metric", "p50", "--last", "6"]).arg("--db").arg(&db).assert()
    };
    for i in 0..3 {
        add(i, 1000 + i as u64);
    }
    check().code(4);
    for i in 3..12 {
        add(i, if i < 8 { 1000 + (i % 3) as u64 } else { 2000 + (i % 3) as u64 });
    }
    check().code(3);
    std::fs::write(s.path("damaged.sqlite"), "this is no database, just text long enough to be read.")
        .unwrap();
    let out = ipcbench().args(["history", "check", "--db"]).arg(s.path("damaged.sqlite")).output().unwrap();
    assert_one_error(&out, 2, "is not an SQLite database", "a damaged history");
}
