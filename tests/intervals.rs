//! Interval histograms through the real binary: the `.hlog` interval log read back by the
//! hdrhistogram crate's own log reader, and the per-slice rates in the summary.

mod common;

use std::collections::BTreeMap;

use common::Scratch;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

/// Per tag: (slices, total count, sum of lengths in s, largest value) as an HdrHistogram
/// reader sees the log.
fn read_log(text: &[u8]) -> BTreeMap<String, (usize, u64, f64, u64)> {
    let mut per_tag = BTreeMap::new();
    let mut saw_start_time = false;
    for entry in IntervalLogIterator::new(text) {
        match entry.expect("every line of the log parses") {
            LogEntry::StartTime(_) => saw_start_time = true,
            LogEntry::BaseTime(_) => {}
            LogEntry::Interval(i) => {
                let bytes = base64_decode(i.encoded_histogram());
                let h: Histogram<u64> = Deserializer::new().deserialize(&mut &bytes[..]).unwrap();
                let tag = i.tag().expect("every slice is tagged").as_str().to_string();
                let e = per_tag.entry(tag).or_insert((0, 0, 0.0, 0));
                e.0 += 1;
                e.1 += h.len();
                e.2 += i.duration().as_secs_f64();
                e.3 = e.3.max(h.max());
                assert_eq!(i.max(), h.max() as f64, "the line's max is the histogram's, in ns");
            }
        }
    }
    assert!(saw_start_time, "the log has a StartTime");
    per_tag
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

#[test]
fn the_interval_log_reads_back_with_hdrhistograms_reader_and_matches_the_summary() {
    let s = Scratch::new();
    s.run()
        .args(["-t", "uds,shm", "-p", "round-trip,one-way", "-s", "64", "-d", "300ms", "--interval", "50ms"])
        .args(["--wait", "spin", "--warmup", "100"])
        .assert()
        .success();
    let sum = s.summary();
    let log = std::fs::read(s.path("out.hlog")).expect("the log is written beside the summary");
    let per_tag = read_log(&log);
    let runs = sum["runs"].as_array().unwrap();
    assert_eq!(per_tag.len(), runs.len(), "one tag per run: {:?}", per_tag.keys());
    for r in runs {
        let what = format!("{} {}", r["transport"], r["pattern"]);
        let prefix =
            format!("{}_{}_64_B_spin", r["transport"].as_str().unwrap(), r["pattern"].as_str().unwrap());
        let mut tags = per_tag.iter().filter(|(t, _)| t.starts_with(&prefix) && t.ends_with("/r0"));
        let (_, &(slices, count, seconds, max)) = tags.next().unwrap_or_else(|| panic!("no tag {prefix}"));
        assert!(tags.next().is_none(), "one tag per run");
        let l = &r["latency_ns"];
        assert_eq!(count, l["samples"].as_u64().unwrap(), "{what}: the slices add up to the run");
        assert_eq!(max, l["max"].as_u64().unwrap(), "{what}");
        let intervals = r["intervals"].as_array().unwrap();
        assert_eq!(slices, intervals.len(), "{what}");
        // 300 ms in 50 ms slices: about six, the last one cut short (both sides spin on two
        // vCPUs: a stall on a busy runner may stretch the last slice, or fold slices that saw
        // no message into one).
        assert!((4..=10).contains(&slices), "{what}: {slices} slices");
        assert!((0.25..1.0).contains(&seconds), "{what}: slices cover {seconds} s");
        let in_summary: u64 = intervals.iter().map(|i| i["messages"].as_u64().unwrap()).sum();
        assert_eq!(in_summary, count, "{what}");
        let spread = &r["interval_spread"];
        assert!(spread["slices"].as_u64().unwrap() >= 4, "{what}: {spread}");
        let (lo, mid, hi) = (
            spread["min_messages_per_s"].as_f64().unwrap(),
            spread["median_messages_per_s"].as_f64().unwrap(),
            spread["max_messages_per_s"].as_f64().unwrap(),
        );
        assert!(0.0 <= lo && lo <= mid && mid <= hi, "{what}: {spread}");
    }
}

#[test]
fn hlog_names_the_only_log_and_bad_values_are_refused() {
    let s = Scratch::new();
    let out = s
        .run()
        .args(["-t", "uds", "-p", "round-trip", "-s", "64", "-n", "2000", "--hlog"])
        .arg(s.path("mine.hlog"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let per_tag = read_log(&std::fs::read(s.path("mine.hlog")).unwrap());
    assert_eq!(per_tag.values().map(|v| v.1).sum::<u64>(), 2000);
    assert!(!s.path("out.hlog").exists(), "--hlog names the only log");
    for (args, code, needle) in [
        (&["--hlog", "-"][..], 2, "--hlog needs a file"),
        (&["--hlog", "/nonexistent/x.hlog"][..], 2, "directory /nonexistent does not exist"),
        (&["--interval", "500us"][..], 2, "must be at least 1ms, not 500us"),
        (&["--interval", "soon"][..], 2, "invalid value 'soon' for '--interval"),
    ] {
        common::assert_one_error(&s.run().args(args).output().unwrap(), code, needle, &format!("{args:?}"));
    }
}

#[test]
fn a_throughput_run_with_a_count_measures_for_at_least_min_time_and_says_so() {
    let s = Scratch::new();
    s.run()
        .args(["-t", "uds", "-p", "throughput,round-trip", "-s", "1KiB", "-n", "100", "--min-time", "300ms"])
        .assert()
        .success();
    let sum = s.summary();
    let runs = sum["runs"].as_array().unwrap();
    let tp = runs.iter().find(|r| r["pattern"] == "throughput").unwrap();
    assert_eq!(tp["extended_to_min_time"], true);
    let sent = tp["integrity"]["sent"].as_u64().unwrap();
    assert!(sent > 100, "sent {sent}");
    assert_eq!(tp["integrity"]["received"].as_u64().unwrap(), sent);
    // The receiver's first to last arrival: the recorded phase, at least the minimum (less the
    // time the receiver may take to see the first message on a busy runner).
    assert!(tp["duration_ns"].as_u64().unwrap() >= 250_000_000, "{}", tp["duration_ns"]);
    assert!(tp["interval_spread"]["slices"].as_u64().unwrap() >= 2, "{}", tp["interval_spread"]);
    // Latency patterns keep their count.
    let rt = runs.iter().find(|r| r["pattern"] == "round-trip").unwrap();
    assert_eq!(rt["integrity"]["sent"], 100);
    assert!(rt.get("extended_to_min_time").is_none());

    let s = Scratch::new();
    s.run()
        .args(["-t", "uds", "-p", "throughput", "-s", "1KiB", "-n", "100", "--min-time", "0s"])
        .assert()
        .success();
    let sum = s.summary();
    assert_eq!(sum["runs"][0]["integrity"]["sent"], 100, "0s turns the minimum off");
    let out = s.run().args(["--min-time", "a while"]).output().unwrap();
    common::assert_one_error(&out, 2, "invalid value 'a while' for '--min-time", "--min-time");
}
