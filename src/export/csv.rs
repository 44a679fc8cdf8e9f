//! Per-message CSV with a header row: one row per recorded message.

use std::io::{BufWriter, Write};

use anyhow::{Context, Result};

use super::{Exporter, STREAM_SCHEMA_VERSION};
use crate::analysis::merge::RunDetail;
use crate::analysis::summary::{RunResult, Summary};

/// The header row; every row has these columns in this order.
pub const COLUMNS: [&str; 10] = [
    "schema_version",
    "transport",
    "pattern",
    "framing",
    "size_bytes",
    "repetition",
    "seq",
    "send_ns",
    "recv_ns",
    "latency_ns",
];

pub struct CsvExporter {
    out: csv::Writer<BufWriter<Box<dyn Write>>>,
    header_written: bool,
}

impl CsvExporter {
    pub fn new(out: BufWriter<Box<dyn Write>>) -> Self {
        CsvExporter { out: csv::WriterBuilder::new().from_writer(out), header_written: false }
    }

    fn ensure_header(&mut self) -> Result<()> {
        if !self.header_written {
            self.out.write_record(COLUMNS)?;
            self.header_written = true;
        }
        Ok(())
    }
}

impl Exporter for CsvExporter {
    fn run_finished(&mut self, _summary: &Summary, run: &RunResult, detail: &RunDetail) -> Result<()> {
        self.ensure_header()?;
        let (version, size, rep) =
            (STREAM_SCHEMA_VERSION.to_string(), run.size_bytes.to_string(), run.repetition.to_string());
        let (transport, pattern, framing) =
            (run.transport.to_string(), run.pattern.to_string(), run.framing.to_string());
        for s in &detail.samples {
            self.out.write_record([
                version.as_str(),
                &transport,
                &pattern,
                &framing,
                size.as_str(),
                rep.as_str(),
                &s.seq.to_string(),
                &s.send_ns.to_string(),
                &s.recv_ns.to_string(),
                &s.latency_ns().to_string(),
            ])?;
        }
        self.out.flush().context("writing the CSV stream")
    }

    fn finished(&mut self, _summary: &Summary) -> Result<()> {
        // A run that recorded nothing still leaves a file with the header.
        self.ensure_header()?;
        self.out.flush().context("writing the CSV stream")
    }
}
