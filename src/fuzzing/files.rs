//! Files ipcbench reads back: result files (`compare`, `report`, `export`, `ab` and `history`
//! read them), and the interval slices a peer sends, which end up in the `.hlog` interval log
//! (ipcbench writes that log and has no reader of its own: HdrHistogram's reader checks it).

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;

use crate::analysis::compare::{self, Thresholds};
use crate::analysis::summary::Summary;
use crate::export::dashboards::{self, DashboardFormat};
use crate::export::hlog::write_intervals;
use crate::measure::intervals;
use crate::report::{self, Input};

/// A result file's text, read as the commands read it; what is accepted goes through what they
/// do with it: compared with itself (which can never be a regression), exported for each
/// dashboard, drawn as a report, and written back in a form that reads again.
pub fn result_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(summary) = Summary::from_json(text, "fuzzed.json") else { return };
    if compare::check_comparable(&summary, &summary).is_ok() {
        let gate: Thresholds = "5%".parse().expect("a threshold");
        let c = compare::compare(&summary, &summary, &gate);
        let _ = c.render();
        let verdict = compare::Gate::of(&c.rows);
        assert!(
            verdict.regressed.is_empty(),
            "a result compared with itself regressed: {:?}",
            verdict.regressed
        );
        let _ = verdict.lines("");
    }
    for &format in <DashboardFormat as clap::ValueEnum>::value_variants() {
        let _ = dashboards::render(&summary, format);
    }
    let again = serde_json::to_string_pretty(&summary).expect("a summary always serializes");
    Summary::from_json(&again, "rewritten.json")
        .unwrap_or_else(|e| panic!("a result file that was read does not read back once written: {e:#}"));
    if let Ok(input) = Input::new("fuzzed.json".into(), summary, "fuzzed.json") {
        let inputs = [input];
        if let Ok(charts) = report::charts(&inputs) {
            let _ = report::html(&inputs, &charts);
        }
    }
}

/// An interval block from the peer, decoded as the coordinator decodes it and written as the
/// interval log writes a run's slices: HdrHistogram's own reader must find one histogram per
/// slice, each holding the slice's count, in order.
pub fn interval_log(data: &[u8]) {
    let Ok(slices) = intervals::decode(data) else { return };
    let mut log = Vec::new();
    write_intervals(&mut log, "uds_round-trip_64_B_spin/r0", &slices, 1_000_000)
        .unwrap_or_else(|e| panic!("decoded slices cannot be logged: {e:#}"));
    let mut read = 0;
    for entry in IntervalLogIterator::new(&log) {
        let entry =
            entry.unwrap_or_else(|e| panic!("HdrHistogram cannot read the log ipcbench wrote: {e:?}"));
        let LogEntry::Interval(line) = entry else { continue };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(line.encoded_histogram())
            .expect("the log's histograms are base64");
        let h: hdrhistogram::Histogram<u64> =
            Deserializer::new().deserialize(&mut bytes.as_slice()).expect("the log's histograms decode");
        let slice = slices.get(read).expect("no more histograms in the log than slices");
        assert_eq!(h.len(), slice.histogram.len(), "slice {read}'s count");
        read += 1;
    }
    assert_eq!(read, slices.len(), "every slice is in the log");
}
