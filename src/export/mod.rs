//! Result sinks. Each output format is one [`Exporter`]; the [`ExportManager`] fans every
//! finished run out to all of them. Exporters run between runs, never inside a timed loop. The
//! per-message streams are written during each run instead, by a thread of their own
//! ([`stream`]), so that they take bounded memory whatever the run's length.

pub mod csv;
pub mod dashboards;
pub mod hlog;
pub mod json;
pub mod jsonl;
pub mod notes;
pub mod rewrite;
pub mod stream;
pub mod table;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::analysis::merge::RunDetail;
use crate::analysis::summary::{RunResult, Summary};
use crate::measure::sample_pool::SamplePool;
pub use stream::{RunLabel, WriterPlace};

/// Version of the per-message stream layouts (JSON lines and CSV).
pub const STREAM_SCHEMA_VERSION: u32 = 1;

/// A sink for results. Hooks default to doing nothing.
pub trait Exporter {
    /// The invocation starts: `summary` has its environment and no runs yet.
    fn started(&mut self, _summary: &Summary) -> Result<()> {
        Ok(())
    }

    /// A run finished: `run` is also the last entry of `summary.runs`; `detail` has its
    /// interval histograms.
    fn run_finished(&mut self, _summary: &Summary, _run: &RunResult, _detail: &RunDetail) -> Result<()> {
        Ok(())
    }

    /// The invocation is over, successfully or not (`summary.error` says which).
    fn finished(&mut self, _summary: &Summary) -> Result<()> {
        Ok(())
    }
}

/// Where an invocation's results go.
#[derive(Clone, Debug)]
pub struct Outputs {
    /// The JSON summary (`-` for stdout).
    pub out: PathBuf,
    /// Per-message JSON lines, if asked for.
    pub stream_json: Option<PathBuf>,
    /// Per-message CSV, if asked for.
    pub stream_csv: Option<PathBuf>,
    /// The HdrHistogram interval log, if any.
    pub hlog: Option<PathBuf>,
    /// No table.
    pub quiet: bool,
    /// `--each`: the table shows every repetition as its own row.
    pub each: bool,
    /// Where the streams' writer thread runs.
    pub writer: WriterPlace,
}

impl Outputs {
    /// Whether runs must keep every sample (a per-message stream wants them).
    pub fn keeps_samples(&self) -> bool {
        self.stream_json.is_some() || self.stream_csv.is_some()
    }

    /// Whether the summary goes to a file (not stdout).
    pub fn summary_to_file(&self) -> bool {
        self.out.as_os_str() != "-"
    }
}

/// Fans results out to every configured exporter.
pub struct ExportManager {
    exporters: Vec<Box<dyn Exporter>>,
    /// The per-message streams, when asked for.
    streams: Option<stream::Streams>,
    /// The stream files, to report a stream that ended early.
    fates: Vec<StreamFate>,
}

/// A per-message stream file and what became of it.
pub struct StreamFate {
    path: PathBuf,
    state: std::sync::Arc<std::sync::Mutex<rewrite::StreamState>>,
    /// Once it failed: the finished runs it holds.
    holds: Option<usize>,
}

impl ExportManager {
    /// Opens every output the configuration names. Output files are created now, so an
    /// unwritable path fails before any measuring.
    pub fn new(o: &Outputs) -> Result<ExportManager> {
        let mut exporters: Vec<Box<dyn Exporter>> = vec![Box::new(json::JsonExporter::new(&o.out))];
        let mut fates = Vec::new();
        let streams = stream::Streams::open(o, &mut fates)?;
        if let Some(p) = &o.hlog {
            exporters.push(Box::new(hlog::HlogExporter::new(p)));
        }
        if !o.quiet {
            let any_stdout = [Some(&o.out), o.stream_json.as_ref(), o.stream_csv.as_ref()]
                .iter()
                .flatten()
                .any(|p| p.as_os_str() == "-");
            exporters.push(Box::new(table::TableExporter::new(any_stdout, o.each)));
        }
        Ok(ExportManager { exporters, streams, fates })
    }

    /// Runs the timed part of a run, `run`, handing it the pool to record samples into when
    /// streams are on, while they are written; returns what `run` returned and whether the
    /// streams were written.
    pub fn during_run<R>(
        &mut self,
        label: &RunLabel,
        run: impl FnOnce(Option<&SamplePool>) -> R,
    ) -> (R, Result<()>) {
        match self.streams.as_mut() {
            Some(s) => s.during(label, |pool| run(Some(pool))),
            None => (run(None), Ok(())),
        }
    }

    /// Whether samples are streamed.
    pub fn streaming(&self) -> bool {
        self.streams.is_some()
    }

    pub fn started(&mut self, summary: &Summary) -> Result<()> {
        self.exporters.iter_mut().try_for_each(|e| e.started(summary))
    }

    pub fn run_finished(&mut self, summary: &Summary, detail: &RunDetail) -> Result<()> {
        let run = summary.runs.last().expect("run_finished follows a pushed run");
        self.exporters.iter_mut().try_for_each(|e| e.run_finished(summary, run, detail))?;
        for s in self.fates.iter_mut().filter(|s| s.holds.is_none()) {
            if let Some(why) = &s.state.lock().unwrap_or_else(|e| e.into_inner()).failed {
                // This run's samples did not all go in: the stream holds the runs before it.
                s.holds = Some(summary.runs.len() - 1);
                eprintln!("note: {why}: the stream keeps the runs it holds whole and takes no more");
            }
        }
        Ok(())
    }

    /// Every exporter finishes, even after another failed; every failure (an output that could
    /// not be written, a stream that ended early) is in the one error returned.
    pub fn finished(&mut self, summary: &Summary) -> Result<()> {
        let streams = self.streams.as_mut().map_or(Ok(()), stream::Streams::flush);
        let mut failures: Vec<String> = self
            .exporters
            .iter_mut()
            .filter_map(|e| e.finished(summary).err())
            .chain(streams.err())
            .map(|e| format!("{e:#}"))
            .collect();
        let runs = summary.runs.len();
        for s in &self.fates {
            let state = s.state.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(why) = &state.failed {
                let holds = s.holds.unwrap_or(runs);
                failures.push(format!(
                    "{why}: {} of {runs} finished run(s) are not in the stream {} (it holds the {holds} before, whole)",
                    runs - holds,
                    s.path.display()
                ));
            }
        }
        match failures.is_empty() {
            true => Ok(()),
            false => Err(anyhow::anyhow!(failures.join("; "))),
        }
    }
}

/// A stream's sink: stdout for `-`, else a [`rewrite::StreamFile`] whose fate `fates` keeps.
fn open_stream(path: &Path, fates: &mut Vec<StreamFate>) -> Result<BufWriter<Box<dyn Write + Send>>> {
    if path == Path::new("-") {
        return open_sink(path);
    }
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let (file, state) = rewrite::StreamFile::new(file, path);
    fates.push(StreamFate { path: path.to_path_buf(), state, holds: None });
    Ok(BufWriter::with_capacity(1 << 20, Box::new(file)))
}

/// A buffered writer to a file (created or truncated) or to stdout for `-`.
pub fn open_sink(path: &Path) -> Result<BufWriter<Box<dyn Write + Send>>> {
    let w: Box<dyn Write + Send> = if path == Path::new("-") {
        Box::new(io::stdout())
    } else {
        Box::new(File::create(path).with_context(|| format!("creating {}", path.display()))?)
    };
    Ok(BufWriter::with_capacity(1 << 20, w))
}
