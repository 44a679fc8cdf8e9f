//! `ipcbench compare` and `ipcbench export` through the real binary, on result files from real
//! runs and on copies of them with injected changes.

mod common;

use assert_cmd::Command;
use common::{read_json, Scratch};
use predicates::prelude::*;
use serde_json::Value;

fn ipcbench() -> Command {
    Command::cargo_bin("ipcbench").unwrap()
}

/// A real result file with two repetitions of a latency and a throughput configuration, the
/// second repetition's metrics set to the first's: injected changes are then judged against no
/// noise at all, whatever the machine did (a 300-message throughput run can swing by 2x).
fn real_result(s: &Scratch) -> Value {
    // One clock on every machine: the names below are monotonic's (a tsc run adds `clock tsc`).
    s.run()
        .args(["-t", "uds", "-p", "round-trip,throughput", "-s", "64", "-n", "300", "--repeat", "2"])
        .args(["--clock", "monotonic"])
        .assert()
        .success();
    let mut v = s.summary();
    let runs = v["runs"].as_array_mut().unwrap();
    for i in 0..runs.len() {
        if let Some(first) = (0..i).find(|&j| runs[j]["pattern"] == runs[i]["pattern"]) {
            let (lat, tp) = (runs[first]["latency_ns"].clone(), runs[first]["throughput"].clone());
            runs[i]["latency_ns"] = lat;
            runs[i]["throughput"] = tp;
        }
    }
    v
}

fn write(s: &Scratch, name: &str, v: &Value) -> std::path::PathBuf {
    let p = s.path(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p
}

/// Multiplies a latency field (or throughput) of every run by `factor`.
fn scaled(v: &Value, field: &str, factor: f64) -> Value {
    let mut v = v.clone();
    for r in v["runs"].as_array_mut().unwrap() {
        match field {
            "bytes_per_s" => {
                let t = r["throughput"]["bytes_per_s"].as_f64().unwrap();
                r["throughput"]["bytes_per_s"] = (t * factor).into();
            }
            f => {
                if let Some(x) = r["latency_ns"][f].as_u64() {
                    r["latency_ns"][f] = ((x as f64 * factor) as u64).into();
                }
            }
        }
    }
    v
}

#[test]
fn a_result_compared_with_itself_passes_even_a_tight_gate() {
    let s = Scratch::new();
    let base = write(&s, "a.json", &real_result(&s));
    ipcbench()
        .arg("compare")
        .arg(&base)
        .arg(&base)
        .args(["--max-regression", "1%"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("uds round-trip 64 B block").and(predicate::str::contains("unchanged")),
        )
        .stdout(predicate::str::contains("regressed").not());
}

#[test]
fn an_injected_regression_fails_the_gate_and_names_the_metric() {
    let s = Scratch::new();
    let base = real_result(&s);
    let a = write(&s, "a.json", &base);
    let slow = write(&s, "slow.json", &scaled(&base, "p50", 10.0));
    ipcbench()
        .arg("compare")
        .arg(&a)
        .arg(&slow)
        .args(["--max-regression", "50%"])
        .assert()
        .code(3)
        .stdout(
            predicate::str::contains("regressed: slower beyond 50%")
                .and(predicate::str::contains("slower by 10.0x")),
        )
        .stderr(
            predicate::str::contains("regressed beyond the threshold").and(predicate::str::contains("p50")),
        );
    // Without a gate it only reports: the change, no verdict and no threshold it does not enforce.
    ipcbench().arg("compare").arg(&a).arg(&slow).assert().success().stdout(
        predicate::str::contains("slower by 10.0x")
            .and(predicate::str::contains("not gated"))
            .and(predicate::str::contains("regressed").not())
            .and(predicate::str::contains("threshold").not()),
    );
    // Gating only throughput lets the latency regression through.
    ipcbench()
        .arg("compare")
        .arg(&a)
        .arg(&slow)
        .args(["--max-regression", "throughput=5%"])
        .assert()
        .success();
    let starved = write(&s, "starved.json", &scaled(&base, "bytes_per_s", 0.1));
    ipcbench()
        .arg("compare")
        .arg(&a)
        .arg(&starved)
        .args(["--max-regression", "throughput=5%"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("slower by 10.0x"))
        .stderr(predicate::str::contains("throughput"));
    let faster = write(&s, "fast.json", &scaled(&base, "p99", 0.1));
    ipcbench()
        .arg("compare")
        .arg(&a)
        .arg(&faster)
        .args(["--max-regression", "5%"])
        .assert()
        .success()
        .stdout(predicate::str::contains("improved"));
}

#[test]
fn missing_configurations_are_listed_and_fatal_only_with_strict() {
    let s = Scratch::new();
    let base = real_result(&s);
    let mut fewer = base.clone();
    fewer["runs"].as_array_mut().unwrap().retain(|r| r["pattern"] == "round-trip");
    let (a, b) = (write(&s, "a.json", &base), write(&s, "b.json", &fewer));
    ipcbench()
        .arg("compare")
        .arg(&a)
        .arg(&b)
        .assert()
        .success()
        .stdout(predicate::str::contains("only in baseline: uds throughput 64 B block"));
    ipcbench()
        .arg("compare")
        .arg(&a)
        .arg(&b)
        .arg("--strict")
        .assert()
        .code(4)
        .stderr(predicate::str::contains("--strict"));
}

#[test]
fn unreadable_or_foreign_inputs_get_a_clear_error() {
    let s = Scratch::new();
    let base = write(&s, "a.json", &real_result(&s));
    let missing = s.path("nope.json");
    ipcbench()
        .arg("compare")
        .arg(&base)
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nope.json"));
    std::fs::write(s.path("junk.json"), "not json").unwrap();
    ipcbench()
        .arg("compare")
        .arg(&base)
        .arg(s.path("junk.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not JSON"));
    let mut future = read_json(&base);
    future["schema_version"] = 2.into();
    let f = write(&s, "future.json", &future);
    ipcbench()
        .arg("compare")
        .arg(&base)
        .arg(&f)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("schema version 2"));
    ipcbench()
        .arg("compare")
        .arg(&base)
        .arg(&base)
        .args(["--max-regression", "p75=5%"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown metric 'p75'"));
}

#[test]
fn a_gate_fed_single_runs_cannot_pass_a_fourfold_throughput_drop() {
    let s = Scratch::new();
    let base = real_result(&s);
    let mut one = base.clone();
    one["runs"].as_array_mut().unwrap().retain(|r| r["repetition"] == 0);
    let a = write(&s, "one.json", &one);
    let slow = write(&s, "one-slow.json", &scaled(&one, "bytes_per_s", 0.25));
    ipcbench()
        .arg("compare")
        .arg(&a)
        .arg(&slow)
        .args(["--max-regression", "10%"])
        .assert()
        .code(4)
        .stdout(predicate::str::contains("slower by 4.0x").and(predicate::str::contains("undecided at 10%")))
        .stderr(predicate::str::contains("undecided").and(predicate::str::contains("--repeat")));
}

#[test]
fn exports_for_dashboards_carry_every_configuration() {
    let s = Scratch::new();
    let base = write(&s, "a.json", &real_result(&s));
    let out = ipcbench().arg("export").arg(&base).args(["--format", "bencher"]).output().unwrap();
    assert!(out.status.success());
    let bmf: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rt = &bmf["uds round-trip 64 B block"];
    let p50 = &rt["latency_p50_ns"];
    assert!(p50["lower_value"].as_f64().unwrap() <= p50["value"].as_f64().unwrap());
    assert!(p50["value"].as_f64().unwrap() <= p50["upper_value"].as_f64().unwrap());
    assert!(bmf["uds throughput 64 B block"]["throughput_bytes_per_s"]["value"].as_f64().unwrap() > 0.0);

    let file = s.path("gh.json");
    ipcbench()
        .arg("export")
        .arg(&base)
        .args(["--format", "github-smaller", "--out"])
        .arg(&file)
        .assert()
        .success();
    let gh = read_json(&file);
    let names: Vec<&str> = gh.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["uds round-trip 64 B block p50", "uds round-trip 64 B block p99"]);
    assert!(gh.as_array().unwrap().iter().all(|e| e["unit"] == "ns" && e["value"].as_f64().unwrap() > 0.0));
    let out = ipcbench().arg("export").arg(&base).args(["--format", "github-bigger"]).output().unwrap();
    let gh: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(gh.as_array().unwrap().len(), 1);
    assert_eq!(gh[0]["unit"], "bytes/s");
    ipcbench().arg("export").arg(&base).args(["--format", "csv"]).assert().code(2);
}

#[test]
fn compare_says_when_the_two_machines_differ() {
    let s = Scratch::new();
    let base = real_result(&s);
    let a = write(&s, "a.json", &base);
    let mut other = base.clone();
    other["environment"]["fingerprint"]["cpu_governor"] = "powersave".into();
    other["environment"]["fingerprint"]["transparent_hugepages"] = "never".into();
    let b = write(&s, "b.json", &other);
    let out = ipcbench().arg("compare").arg(&a).arg(&b).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let note = text
        .lines()
        .find(|l| l.starts_with("note: the two results' machines differ:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(note.contains("cpu_governor: ") && note.contains(" vs powersave"), "{note}");
    assert!(note.contains("transparent_hugepages: ") && note.contains(" vs never"), "{note}");
    let same = ipcbench().arg("compare").arg(&a).arg(&a).output().unwrap();
    assert!(!String::from_utf8_lossy(&same.stdout).contains("machines differ"));
}
