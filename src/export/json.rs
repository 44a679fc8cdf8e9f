//! The JSON summary, rewritten after every finished run so a later failure loses nothing.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::rewrite::Rewrites;
use super::Exporter;
use crate::analysis::merge::RunDetail;
use crate::analysis::summary::{RunResult, Summary};
use crate::cleanup;

/// What an interrupted summary says.
pub const INTERRUPTED: &str = "stopped by a signal (Ctrl-C or SIGTERM)";

pub struct JsonExporter {
    path: PathBuf,
    rewrites: Rewrites,
}

impl JsonExporter {
    pub fn new(path: &Path) -> JsonExporter {
        JsonExporter { path: path.to_path_buf(), rewrites: Rewrites::new(path, "the summary") }
    }
}

impl JsonExporter {
    /// Should a signal stop the invocation, the summary as it stands now is written once more,
    /// saying it was interrupted.
    fn keep_for_interrupt(&self, summary: &Summary) {
        let (mut s, path) = (summary.clone(), self.path.clone());
        s.interrupted = Some(INTERRUPTED.into());
        cleanup::on_interrupt(move || {
            let _ = s.write(&path);
        });
    }
}

impl Exporter for JsonExporter {
    fn started(&mut self, summary: &Summary) -> Result<()> {
        self.keep_for_interrupt(summary);
        if self.path.as_os_str() == "-" {
            return Ok(());
        }
        summary.write(&self.path) // an unwritable --out fails here, before anything is measured
    }

    fn run_finished(&mut self, summary: &Summary, _run: &RunResult, _detail: &RunDetail) -> Result<()> {
        self.keep_for_interrupt(summary);
        if self.path.as_os_str() == "-" {
            return Ok(()); // stdout gets the summary once, at the end
        }
        // A full disk or a removed folder: the runs stay in memory for the next rewrite.
        self.rewrites.after_run(summary.runs.len(), summary.write(&self.path));
        Ok(())
    }

    fn finished(&mut self, summary: &Summary) -> Result<()> {
        // A run cut short by the signal's handler killing the peer: the handler writes the
        // summary (interrupted), not this.
        cleanup::defer_to_interrupt();
        cleanup::clear_on_interrupt();
        if self.path.as_os_str() == "-" {
            return summary.write(&self.path);
        }
        self.rewrites.at_end(summary.runs.len(), summary.write(&self.path))
    }
}
