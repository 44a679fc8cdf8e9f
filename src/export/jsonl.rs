//! Per-message JSON lines: one object per recorded message.

use std::io::{BufWriter, Write};

use anyhow::{Context, Result};
use serde::Serialize;

use super::{Exporter, STREAM_SCHEMA_VERSION};
use crate::analysis::merge::RunDetail;
use crate::analysis::summary::{RunResult, Summary};

/// One line of the stream.
#[derive(Serialize)]
struct Line<'a> {
    schema_version: u32,
    transport: &'a str,
    pattern: &'a str,
    framing: &'a str,
    size_bytes: usize,
    repetition: u32,
    seq: u64,
    send_ns: u64,
    recv_ns: u64,
    latency_ns: u64,
}

pub struct JsonLinesExporter {
    out: BufWriter<Box<dyn Write>>,
}

impl JsonLinesExporter {
    pub fn new(out: BufWriter<Box<dyn Write>>) -> Self {
        JsonLinesExporter { out }
    }
}

impl Exporter for JsonLinesExporter {
    fn run_finished(&mut self, _summary: &Summary, run: &RunResult, detail: &RunDetail) -> Result<()> {
        let (transport, pattern, framing) =
            (run.transport.to_string(), run.pattern.to_string(), run.framing.to_string());
        for s in &detail.samples {
            let line = Line {
                schema_version: STREAM_SCHEMA_VERSION,
                transport: &transport,
                pattern: &pattern,
                framing: &framing,
                size_bytes: run.size_bytes,
                repetition: run.repetition,
                seq: s.seq,
                send_ns: s.send_ns,
                recv_ns: s.recv_ns,
                latency_ns: s.latency_ns(),
            };
            serde_json::to_writer(&mut self.out, &line)?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush().context("writing the JSON-lines stream")
    }
}
