//! The JSON summary, rewritten after every finished run so a later failure loses nothing.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Exporter;
use crate::measure::summary::{RunResult, Summary};
use crate::pattern::Sample;

pub struct JsonExporter {
    path: PathBuf,
}

impl JsonExporter {
    pub fn new(path: &Path) -> JsonExporter {
        JsonExporter { path: path.to_path_buf() }
    }
}

impl Exporter for JsonExporter {
    fn run_finished(&mut self, summary: &Summary, _run: &RunResult, _samples: &[Sample]) -> Result<()> {
        if self.path.as_os_str() == "-" {
            return Ok(()); // stdout gets the summary once, at the end
        }
        summary.write(&self.path)
    }

    fn finished(&mut self, summary: &Summary) -> Result<()> {
        summary.write(&self.path)
    }
}
