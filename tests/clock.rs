//! `--clock`: each clock stamps both processes' runs and is recorded in the result, one-way
//! across processes still passes the clock check with the TSC (the peer converts with the
//! initiator's calibration), and a clock this machine cannot offer is refused before anything
//! runs.

mod common;

use common::{assert_one_error, read_json, Scratch};
use ipcbench::measure::clock::tsc_unusable_because;
use serde_json::Value;

/// A uds round trip and one-way run with `--clock clock`, its summary.
fn run_with(clock: &str) -> Value {
    let s = Scratch::new();
    s.run()
        .args(["--clock", clock, "-t", "uds", "-p", "round-trip,one-way", "-s", "64", "-n", "200"])
        .args(["--warmup", "20"])
        .assert()
        .code(0);
    read_json(&s.out())
}

/// What every result of a run on `clock` says about it.
fn assert_records(sum: &Value, clock: &str) {
    let env = &sum["environment"];
    assert_eq!(env["clock"]["source"], clock, "{env}");
    assert!(env["clock_read_overhead_ns"].is_u64(), "{env}");
    let runs = sum["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "round-trip and one-way both ran");
    for r in runs {
        assert_eq!(r["clock"], clock, "{}", r["pattern"]);
    }
    // One-way subtracts the peer's stamp from ours: the check ran on the clock in use.
    assert_eq!(sum["clock_check"]["same_clock"], true, "{}", sum["clock_check"]);
}

#[test]
fn a_monotonic_run_records_its_clock_in_the_environment_and_every_run() {
    let sum = run_with("monotonic");
    assert_records(&sum, "monotonic");
    assert!(sum["environment"]["clock"]["tsc_hz"].is_null());
    assert!(sum["environment"]["clock"]["drift_ppm"].is_null());
}

#[test]
fn a_tsc_run_records_its_clock_rate_and_drift_or_is_refused_where_the_tsc_is_unsafe() {
    if let Some(why) = tsc_unusable_because() {
        let s = Scratch::new();
        let out = s.run().args(["--clock", "tsc", "-t", "uds", "-n", "10"]).output().unwrap();
        assert_one_error(&out, 2, "--clock tsc:", &format!("tsc refused here ({why})"));
        assert!(!s.out().exists(), "nothing ran");
        return;
    }
    let sum = run_with("tsc");
    assert_records(&sum, "tsc");
    let clock = &sum["environment"]["clock"];
    assert!(clock["tsc_hz"].as_u64().is_some_and(|hz| hz > 0), "{clock}");
    assert!(clock["drift_ppm"].is_f64(), "the end check recorded a drift: {clock}");
}

#[test]
fn auto_takes_the_tsc_only_where_it_is_safe() {
    let s = Scratch::new();
    s.run().args(["-t", "uds", "-p", "round-trip", "-s", "64", "-n", "100"]).assert().code(0);
    let expected = if tsc_unusable_because().is_none() { "tsc" } else { "monotonic" };
    assert_eq!(read_json(&s.out())["environment"]["clock"]["source"], expected);
}

#[test]
fn an_unknown_clock_is_refused_with_one_error_line() {
    let s = Scratch::new();
    let out = s.run().args(["--clock", "sundial"]).output().unwrap();
    assert_one_error(&out, 2, "invalid value 'sundial' for '--clock", "--clock sundial");
    assert!(!s.out().exists(), "nothing ran");
}
