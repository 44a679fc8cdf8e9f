//! The HdrHistogram interval log (`.hlog`): every run's interval histograms, lossless, in the
//! text format HdrHistogram's `HistogramLogProcessor` and the other HdrHistogram libraries
//! read. One line per slice: start (seconds since the log's StartTime), length (seconds),
//! the slice's max, and the histogram in the compressed V2 encoding, tagged with the run's
//! configuration (`Tag=uds_round-trip_64_B_spin/r0`). Values are nanoseconds.
//!
//! The file is rewritten after every run, like the JSON summary, so a later failure loses
//! nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Result};
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;

use super::rewrite::Rewrites;
use super::Exporter;
use crate::analysis::key::ConfigKey;
use crate::analysis::merge::RunDetail;
use crate::analysis::summary::{write_atomically, RunResult, Summary};
use crate::measure::clock::now_ns;
use crate::measure::intervals::IntervalHistogram;

/// Writes the interval log of an invocation.
pub struct HlogExporter {
    path: PathBuf,
    /// The log's StartTime, and the monotonic clock at that moment.
    started_wall: SystemTime,
    started_ns: u64,
    /// The interval lines of every finished run.
    lines: Vec<u8>,
    rewrites: Rewrites,
}

impl HlogExporter {
    pub fn new(path: &Path) -> Self {
        HlogExporter {
            path: path.to_path_buf(),
            started_wall: SystemTime::now(),
            started_ns: now_ns(),
            lines: vec![],
            rewrites: Rewrites::new(path, "the interval log"),
        }
    }

    fn write(&self, summary: &Summary) -> Result<()> {
        let mut text = Vec::new();
        let mut serializer = V2DeflateSerializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment(&format!("ipcbench {} interval log", env!("CARGO_PKG_VERSION")))
            .add_comment(&format!("command: {}", summary.command.join(" ")))
            .add_comment("values are latencies in nanoseconds; one tag per run (configuration/repetition)")
            .with_start_time(self.started_wall)
            .begin_log_with(&mut text, &mut serializer)?;
        text.extend_from_slice(
            b"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n",
        );
        text.extend_from_slice(&self.lines);
        write_atomically(&self.path, &String::from_utf8(text).expect("the log is ASCII"))
    }
}

/// The tag of a run: its configuration label with the characters a tag may not hold replaced.
pub fn tag_of(run: &RunResult) -> String {
    let label = ConfigKey::of(run).to_string().replace(' ', "_").replace(',', ":");
    format!("{label}/r{}", run.repetition)
}

impl Exporter for HlogExporter {
    fn started(&mut self, summary: &Summary) -> Result<()> {
        self.write(summary)
    }

    fn run_finished(&mut self, summary: &Summary, run: &RunResult, detail: &RunDetail) -> Result<()> {
        let (Some(first), Some(last)) = (detail.intervals.first(), detail.intervals.last()) else {
            return Ok(());
        };
        // The recording side's clock may not be ours (another host): place the run so that it
        // ended now, on our clock.
        let span = last.end_ns.saturating_sub(first.start_ns);
        let origin = now_ns().saturating_sub(span).saturating_sub(self.started_ns);
        write_intervals(&mut self.lines, &tag_of(run), &detail.intervals, origin)?;
        let written = self.write(summary);
        self.rewrites.after_run(summary.runs.len(), written);
        Ok(())
    }

    fn finished(&mut self, summary: &Summary) -> Result<()> {
        let written = self.write(summary);
        self.rewrites.at_end(summary.runs.len(), written)
    }
}

/// Appends one interval-log line per slice of `intervals` to `lines`, tagged `tag`, the first
/// slice starting `origin_ns` after the log's StartTime. The slices are the recording side's
/// (the peer's, when it recorded), in order: [`crate::measure::intervals::decode`] refuses
/// any other.
pub fn write_intervals(
    lines: &mut Vec<u8>,
    tag: &str,
    intervals: &[IntervalHistogram],
    origin_ns: u64,
) -> Result<()> {
    let Some(first) = intervals.first() else { return Ok(()) };
    let mut serializer = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new().begin_log_with(lines, &mut serializer)?;
    for i in intervals {
        let start = Duration::from_nanos(origin_ns.saturating_add(i.start_ns - first.start_ns));
        let length = Duration::from_nanos(i.end_ns - i.start_ns);
        writer
            .write_histogram(i.histogram.inner(), start, length, Tag::new(tag))
            .map_err(|e| anyhow!("encoding an interval histogram of {tag}: {e:?}"))?;
    }
    Ok(())
}

/// Where the interval log of a summary file goes: beside it, `.json` replaced by `.hlog`.
pub fn path_beside(summary: &Path) -> PathBuf {
    summary.with_extension("hlog")
}
