//! `ipcbench ab` through the real binary: a build against itself passes, a build with an injected
//! delay fails naming what regressed, bad usage exits 2, a build that fails mid-gate keeps the
//! rounds done. The slowed build is the test build's own binary run with `IPCBENCH_INJECT_NS`
//! (a hook only builds with debug assertions or the `inject-delay` feature have), so no second
//! build is needed and nothing test-only is in a release binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{read_json, Scratch};

fn ipcbench() -> PathBuf {
    assert_cmd::cargo::cargo_bin("ipcbench")
}

/// The delay the slowed build adds to every send: far beyond any noise of a test machine.
const INJECTED_NS: &str = "200000";

/// The slowed build: this test build's binary under `IPCBENCH_INJECT_NS` (a build with debug
/// assertions reads it, src/measure/inject.rs), as a script `ab` runs like any binary.
fn slowed_build() -> &'static Path {
    static MADE: OnceLock<PathBuf> = OnceLock::new();
    MADE.get_or_init(|| {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ipcbench-slowed");
        let script =
            format!("#!/bin/sh\nIPCBENCH_INJECT_NS={INJECTED_NS} exec '{}' \"$@\"\n", ipcbench().display());
        // Written aside and renamed: another test binary may be running it.
        let aside = path.with_extension(format!("{}", std::process::id()));
        std::fs::write(&aside, script).unwrap();
        std::fs::set_permissions(&aside, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::rename(&aside, &path).unwrap();
        path
    })
}

/// `ipcbench ab OLD NEW` with a small, quick matrix; its output.
fn ab(s: &Scratch, old: &Path, new: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(ipcbench())
        .arg("ab")
        .arg(old)
        .arg(new)
        .args([
            "--rounds",
            "6",
            "-t",
            "uds,shm",
            "-p",
            "round-trip",
            "-s",
            "64",
            "-n",
            "300",
            "--timeout-s",
            "5",
        ])
        .arg("--socket-dir")
        .arg(s.sockets())
        .arg("--out")
        .arg(s.path("ab.json"))
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_build_against_itself_passes_with_balanced_rounds_and_keeps_both_results() {
    let s = Scratch::new();
    // A wide threshold on p50 only: what is tested here is the pipeline, not this machine's
    // noise. Six rounds bound a median only by the lowest and highest ratio, and a gate may not
    // pass an interval that reaches past its threshold: on this VM one blocking round can read
    // 4x in either direction, so an A/A gate may honestly answer "undecided" (4). It must never
    // answer "regressed" (3).
    let out = ab(&s, &ipcbench(), &ipcbench(), &["--max-regression", "p50=300%"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {}
        Some(4) => assert!(stderr.contains("undecided") && stderr.contains("--rounds"), "{stderr}"),
        other => panic!("an A/A gate exited {other:?}: {stderr}"),
    }
    let v = read_json(&s.path("ab.json"));
    assert_eq!(v["tool"], "ipcbench-ab");
    assert_eq!(v["schema_version"], 2);
    let firsts: Vec<&str> =
        v["order"].as_array().unwrap().iter().map(|r| r["first"].as_str().unwrap()).collect();
    assert_eq!(firsts, ["old", "new", "old", "new", "old", "new"], "balanced: A B, B A, ...");
    for side in ["old", "new"] {
        let b = &v["builds"][side];
        assert_eq!(b["path"].as_str().unwrap(), ipcbench().canonicalize().unwrap().to_str().unwrap());
        assert_eq!(b["ipcbench_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(b["git_commit"], v["builds"]["old"]["git_commit"], "one binary, one commit");
        assert_eq!(b["git_commit"], v["environment"]["git_commit"], "as this build says of itself");
        let results = read_json(Path::new(b["results_file"].as_str().unwrap()));
        // Every round of both configurations, each round a repetition.
        let reps: Vec<u64> =
            results["runs"].as_array().unwrap().iter().map(|r| r["repetition"].as_u64().unwrap()).collect();
        assert_eq!(reps.len(), 12);
        assert_eq!(reps.iter().max(), Some(&5));
    }
    let comparisons = v["comparisons"].as_array().unwrap();
    assert_eq!(comparisons.len(), 2, "uds and shm");
    for c in comparisons {
        for ch in c["changes"].as_array().unwrap() {
            assert_eq!(ch["ratios"].as_array().unwrap().len(), 6, "one ratio per round");
            let i = &ch["interval"];
            assert!(i["low"].as_f64().unwrap() <= i["high"].as_f64().unwrap());
            assert_ne!(ch["verdict"], "regressed");
        }
    }
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("95% interval") && table.contains("uds round-trip 64 B"), "{table}");
    assert!(table.contains("median of the per-round paired ratios"), "the statistic is named: {table}");
    assert!(table.contains("beyond 300%") && table.contains("not gated"), "{table}");
    // The merged results are ordinary result files.
    let report = Command::new(ipcbench())
        .arg("report")
        .arg(s.path("ab.old.json"))
        .arg(s.path("ab.new.json"))
        .arg("--out")
        .arg(s.path("r.html"))
        .status()
        .unwrap();
    assert!(report.success());
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn a_build_with_an_injected_delay_fails_the_gate_naming_what_regressed() {
    let s = Scratch::new();
    let out = ab(&s, &ipcbench(), slowed_build(), &["--max-regression", "p50=5%"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("regressed beyond the threshold:"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        line.contains("uds round-trip 64 B") && line.contains("shm round-trip 64 B") && line.contains("p50"),
        "{line}"
    );
    assert!(!line.contains("p99"), "only p50 is gated: {line}");
    let table = String::from_utf8_lossy(&out.stdout);
    let p99 = table.lines().find(|l| l.contains("uds round-trip") && l.contains(" p99 ")).unwrap();
    assert!(p99.ends_with("not gated") && !p99.contains("threshold"), "{p99}");
    let v = read_json(&s.path("ab.json"));
    assert_eq!(v["builds"]["new"]["injected_delay_ns"], INJECTED_NS.parse::<u64>().unwrap());
    assert!(v["builds"]["old"].get("injected_delay_ns").is_none());
    for c in v["comparisons"].as_array().unwrap() {
        let p50 = c["changes"].as_array().unwrap().iter().find(|ch| ch["metric"] == "p50").unwrap();
        assert_eq!(p50["verdict"], "regressed", "{}", c["configuration"]);
        let p99 = c["changes"].as_array().unwrap().iter().find(|ch| ch["metric"] == "p99").unwrap();
        assert!(p99["verdict"].is_null() && p99["threshold"].is_null(), "p99 is not gated: {p99}");
        assert!(p50["interval"]["low"].as_f64().unwrap() > 1.05);
    }
}

#[test]
fn bad_usage_exits_2_with_one_error_line() {
    let s = Scratch::new();
    let cases: &[(&[&str], &str)] = &[
        (&["--rounds", "5"], "5 is not in 6..=1000"),
        (&["--repeat", "3"], "--repeat does not apply to ab"),
        (&["--stream-json", "x.jsonl"], "--stream-json does not apply to ab"),
        (&["--max-regression", "p75=5%"], "unknown metric 'p75'"),
        (&["-t", "smoke-signals"], "invalid value 'smoke-signals' for '--transport"),
    ];
    for (extra, needle) in cases {
        let out = ab(&s, &ipcbench(), &ipcbench(), extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("Error:")).collect();
        assert_eq!(errors.len(), 1, "{extra:?}: {stderr}");
        assert!(errors[0].contains(needle), "{extra:?}: {}", errors[0]);
    }
    let out = ab(&s, &ipcbench(), &s.path("no-such-build"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the new build"));
    let out = ab(&s, &ipcbench(), Path::new("/bin/true"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/bin/true is not an ipcbench binary"));
    assert!(!s.path("ab.json").exists(), "nothing ran");
}

#[test]
fn a_build_that_fails_mid_gate_keeps_the_rounds_done_and_exits_1() {
    let s = Scratch::new();
    // A "build" that works for two runs, then fails: it counts its runs in a file.
    let counter = s.path("runs");
    let script = s.path("flaky-build");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = --version ] && exec '{b}' --version\nn=$(cat '{c}' 2>/dev/null || echo 0)\necho $((n + 1)) > '{c}'\n[ \"$n\" -lt 2 ] || exit 7\nexec '{b}' \"$@\"\n",
            c = counter.display(),
            b = ipcbench().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = ab(&s, &ipcbench(), &script, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Error: round 3 of 6: the new build") && stderr.contains("exit status: 7"),
        "{stderr}"
    );
    let v = read_json(&s.path("ab.json"));
    assert_eq!(v["order"].as_array().unwrap().len(), 2, "the two finished rounds are kept");
    assert!(v["error"].as_str().unwrap().contains("round 3"));
}
