//! `ipcbench history` through the real binary: add, check (the gate's exit codes), the same
//! result twice, deterministic output, import, export, the trend report, and every kind of
//! unusable file as one error line.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::assert_one_error;
use serde_json::Value;

fn ipcbench() -> Command {
    Command::cargo_bin("ipcbench").unwrap()
}

/// A one-run result (uds round trip, 64 B) with this p50, started at minute `minute`.
fn result(dir: &Path, name: &str, p50: u64, minute: u32) -> PathBuf {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/result-v1.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["started_at"] = Value::from(format!("2026-11-23T12:{minute:02}:00Z"));
    let runs = v["runs"].as_array_mut().unwrap();
    runs.truncate(1);
    runs[0]["latency_ns"]["p50"] = Value::from(p50);
    let path = dir.join(name);
    std::fs::write(&path, v.to_string()).unwrap();
    path
}

/// p50 of commit `i`: 1000 ns +-1% (a fixed pattern), times `factor` from commit `from` on.
fn level(i: usize, from: usize, factor: f64) -> u64 {
    let noise = [0.0, 0.008, -0.006, 0.01, -0.009, 0.003, -0.002, 0.007, -0.01, 0.001][i % 10];
    let f = if i >= from { factor } else { 1.0 };
    (1000.0 * f * (1.0 + noise)).round() as u64
}

/// A history of `n` commits c01.. whose p50 is 50% slower from commit `from` (0-based).
fn history(dir: &Path, n: usize, from: usize) -> PathBuf {
    let db = dir.join("h.sqlite");
    for i in 0..n {
        let c = format!("c{:02}", i + 1);
        let f = result(dir, &format!("{c}.json"), level(i, from, 1.5), i as u32);
        ipcbench()
            .args(["history", "add", "--commit", &c, "--branch", "main", "--db"])
            .arg(&db)
            .arg(&f)
            .assert()
            .success();
    }
    db
}

fn check(db: &Path, extra: &[&str]) -> std::process::Output {
    ipcbench().args(["history", "check", "--metric", "p50", "--db"]).arg(db).args(extra).output().unwrap()
}

#[test]
fn a_step_in_the_last_commits_is_one_regression_at_the_switch_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let db = history(dir.path(), 20, 14);
    let out = check(&db, &["--last", "10"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let table = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = table.lines().filter(|l| l.contains("regression")).collect();
    assert_eq!(rows.len(), 1, "{table}");
    assert!(rows[0].contains("c15") && rows[0].contains("slower by 5"), "{table}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("regression: uds round-trip 64 B spin pin 0,1 p50 slower by"), "{err}");
    assert!(err.contains("at commit c15 (after c14"), "{err}");
}

#[test]
fn a_regression_before_the_gated_commits_is_listed_and_passes_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let db = history(dir.path(), 20, 8);
    let out = check(&db, &["--last", "5"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("regression (before the gated commits)"), "{table}");
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("no regression change point in the last 5 commits"));
}

#[test]
fn the_same_database_gives_byte_identical_output() {
    let dir = tempfile::tempdir().unwrap();
    let db = history(dir.path(), 12, 6);
    for format in ["table", "json"] {
        let a = check(&db, &["--format", format]);
        let b = check(&db, &["--format", format]);
        assert_eq!(a.stdout, b.stdout, "{format}");
        assert!(!a.stdout.is_empty());
    }
    let json: Value = serde_json::from_slice(&check(&db, &["--format", "json"]).stdout).unwrap();
    let found = &json["series"][0]["change_points"];
    assert_eq!(found.as_array().unwrap().len(), 1, "{json}");
    assert_eq!(found[0]["commit"], "c07");
    assert_eq!(found[0]["direction"], "regression");
}

#[test]
fn adding_the_same_result_twice_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = history(dir.path(), 6, 3);
    let csv = |db: &Path| ipcbench().args(["history", "export", "--db"]).arg(db).output().unwrap().stdout;
    let before = csv(&db);
    let out = ipcbench()
        .args(["history", "add", "--commit", "c99", "--db"])
        .arg(&db)
        .arg(dir.path().join("c02.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in the history already (commit c02): nothing added")
    );
    assert_eq!(csv(&db), before);
}

#[test]
fn an_add_that_fails_on_its_second_file_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = history(dir.path(), 4, 2);
    let csv = |db: &Path| ipcbench().args(["history", "export", "--db"]).arg(db).output().unwrap().stdout;
    let before = csv(&db);
    let good = result(dir.path(), "new.json", 1234, 40);
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"tool": "ipcbench", "schema_version": 99}"#).unwrap();
    let out = ipcbench()
        .args(["history", "add", "--commit", "c05", "--db"])
        .arg(&db)
        .arg(&good)
        .arg(&bad)
        .output()
        .unwrap();
    assert_one_error(&out, 2, "schema version 99", "a result of an unknown schema");
    assert_eq!(csv(&db), before, "the good file was not added either");
}

#[test]
fn a_history_too_short_to_judge_says_not_enough_points_and_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let db = history(dir.path(), 1, 1);
    let out = check(&db, &[]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("not enough points: uds round-trip 64 B"),
        "{out:?}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not enough points"));
}

#[test]
fn unusable_databases_are_one_error_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let r = result(d, "r.json", 1000, 0);
    std::fs::write(d.join("damaged.sqlite"), "not a database at all, but long enough to have a header....")
        .unwrap();
    let foreign = d.join("foreign.sqlite");
    rusqlite::Connection::open(&foreign).unwrap().execute_batch("CREATE TABLE t (x);").unwrap();
    let newer = history(d, 1, 1);
    rusqlite::Connection::open(&newer).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let cases: [(&str, &str); 4] = [
        ("damaged.sqlite", "is not an SQLite database"),
        ("foreign.sqlite", "of another program, not an ipcbench history"),
        ("h.sqlite", "newer than this ipcbench knows"),
        ("missing.sqlite", "no history at"),
    ];
    for (file, needle) in cases {
        let out = check(&d.join(file), &[]);
        assert_one_error(&out, 2, needle, file);
        if file != "missing.sqlite" {
            let out = ipcbench()
                .args(["history", "add", "--commit", "x", "--db"])
                .arg(d.join(file))
                .arg(&r)
                .output()
                .unwrap();
            assert_one_error(&out, 2, needle, file);
        }
    }
}

#[test]
fn a_locked_database_is_one_error_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = history(dir.path(), 1, 1);
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE; INSERT INTO results (digest, commit_id, branch, testbed, time, started_at, source) VALUES ('x', 'x', 'x', 'x', 'x', 'x', 'x');").unwrap();
    let r = result(dir.path(), "r.json", 1000, 30);
    let out = ipcbench().args(["history", "add", "--commit", "x", "--db"]).arg(&db).arg(&r).output().unwrap();
    assert_one_error(&out, 2, "is locked by another process", "locked");
    holder.execute_batch("ROLLBACK;").unwrap();
}

#[test]
fn import_adds_a_directory_oldest_first_and_export_writes_otavas_csv() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    std::fs::create_dir(&results).unwrap();
    // File names out of time order: the time each result started decides.
    for (i, name) in ["b", "a", "d", "c"].iter().enumerate() {
        result(&results, &format!("{name}.json"), 1000 + i as u64, i as u32);
    }
    std::fs::write(results.join("notes.txt"), "skipped").unwrap();
    let db = dir.path().join("h.sqlite");
    ipcbench()
        .args(["history", "import", "--commit-from", "file-name", "--branch", "main", "--db"])
        .arg(&db)
        .arg(&results)
        .assert()
        .success();
    let out = ipcbench().args(["history", "export", "--format", "csv", "--db"]).arg(&db).output().unwrap();
    let csv = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "time,commit,uds-round-trip-64-b-spin-pin-0-1.p50");
    let commits: Vec<&str> = lines[1..].iter().map(|l| l.split(',').nth(1).unwrap()).collect();
    assert_eq!(commits, ["b", "a", "d", "c"]);
    assert_eq!(lines[1], "2026-11-23T12:00:00Z,b,1000");
}

#[test]
fn report_history_draws_a_trend_chart_per_series_with_its_change_point() {
    let dir = tempfile::tempdir().unwrap();
    let db = history(dir.path(), 12, 6);
    let html = dir.path().join("history.html");
    let svg = dir.path().join("svg");
    let out = ipcbench()
        .args(["report", "--history"])
        .arg(&db)
        .arg("--out")
        .arg(&html)
        .arg("--svg")
        .arg(&svg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("slower by"), "the change point is labelled");
    assert!(page.contains("c07"));
    assert_eq!(std::fs::read_dir(&svg).unwrap().count(), 2, "p50 and p99 of the one configuration");
}
