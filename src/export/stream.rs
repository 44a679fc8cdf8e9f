//! The per-message streams (`--stream-json`, `--stream-csv`), written while a run goes on, in
//! bounded memory whatever its length.
//!
//! The timed loops record compact samples into a [`SamplePool`] made (and pre-faulted) when
//! the files are opened, before anything is timed; so does the thread that receives the peer's
//! blocks when the peer is the side that records. During each run a writer thread of this
//! module drains the pool's full blocks, formats them into both files and gives the blocks
//! back; at the end of the run it writes what is left and flushes. Memory is the pool (64 MiB)
//! plus the files' buffers, however long the run. When the writer falls behind, the recorders
//! drop samples and count them: the run's `samples_dropped` (see
//! [`crate::measure::sample_pool`]).
//!
//! The writer thread runs where [`WriterPlace`] says: a CPU of its own (`--writer-cpu`, or by
//! default an allowed CPU outside the measured pinning), or, when every CPU is measured, on any
//! allowed CPU, sharing them with the timed loops.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::AtomicBool;

use anyhow::{anyhow, Context, Result};

use super::csv::CsvRows;
use super::jsonl::JsonLines;
use super::{open_stream, Outputs, StreamFate};
use crate::measure::sample_pool::{ProducersDone, SamplePool};
use crate::pattern::Pattern;
use crate::transport::framing::Framing;
use crate::transport::TransportKind;
use crate::wire::block::decode;

/// Formatted lines are handed to a file's buffer in pieces of about this size.
const PIECE_BYTES: usize = 64 << 10;

/// What every line of one run names.
#[derive(Clone, Debug)]
pub struct RunLabel {
    pub transport: TransportKind,
    pub pattern: Pattern,
    pub framing: Framing,
    pub size_bytes: usize,
    pub repetition: u32,
}

#[cfg(test)]
impl RunLabel {
    /// A label for format tests.
    pub fn example(repetition: u32) -> RunLabel {
        RunLabel {
            transport: TransportKind::Uds,
            pattern: Pattern::RoundTrip,
            framing: Framing::Raw,
            size_bytes: 64,
            repetition,
        }
    }
}

/// Where the stream writer thread runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriterPlace {
    /// On this CPU alone, away from the measured ones.
    Cpu(usize),
    /// On any of these CPUs (no CPU is free of the measured pinning, or nothing is pinned).
    Shared(Vec<usize>),
}

impl WriterPlace {
    /// `--writer-cpu`, or the highest allowed CPU that no measured thread is pinned to, or (none
    /// left, or nothing pinned) any allowed CPU.
    pub fn resolve(flag: Option<usize>, allowed: &[usize], pinned: &[usize]) -> WriterPlace {
        match flag {
            Some(cpu) => WriterPlace::Cpu(cpu),
            None if pinned.is_empty() => WriterPlace::Shared(allowed.to_vec()),
            None => match allowed.iter().rev().find(|c| !pinned.contains(c)) {
                Some(&cpu) => WriterPlace::Cpu(cpu),
                None => WriterPlace::Shared(allowed.to_vec()),
            },
        }
    }

    /// The CPU to send a peer for its own writer, if this is one.
    pub fn cpu(&self) -> Option<usize> {
        match self {
            WriterPlace::Cpu(c) => Some(*c),
            WriterPlace::Shared(_) => None,
        }
    }

    /// How many of a pool's `blocks` must be full before a writer placed here takes them: one
    /// on a CPU of its own; half the pool when it shares the measured CPUs, so that it wakes
    /// the timed loops' CPUs rarely and a run that fits in half the pool is written after its
    /// loops end, as if nothing streamed.
    pub fn batch(&self, blocks: usize) -> usize {
        match self {
            WriterPlace::Cpu(_) => 1,
            WriterPlace::Shared(_) => (blocks / 2).max(1),
        }
    }

    /// Puts the calling thread there.
    pub fn apply(&self) -> std::io::Result<()> {
        match self {
            WriterPlace::Cpu(c) => crate::sys::pin_current_thread(*c),
            WriterPlace::Shared(cpus) => crate::sys::allow_current_thread(cpus),
        }
    }
}

/// One stream file.
struct Sink {
    out: BufWriter<Box<dyn Write + Send>>,
    what: String,
}

impl Sink {
    fn open(path: &Path, kind: &str, fates: &mut Vec<StreamFate>) -> Result<Sink> {
        let out = open_stream(path, fates)?;
        Ok(Sink { out, what: format!("writing the {kind} stream {}", path.display()) })
    }

    fn put(&mut self, bytes: &mut Vec<u8>) -> Result<()> {
        let r = self.out.write_all(bytes).with_context(|| self.what.clone());
        bytes.clear();
        r
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush().with_context(|| self.what.clone())
    }
}

/// The open stream files, their pool and where their writer runs.
pub struct Streams {
    json: Option<Sink>,
    csv: Option<Sink>,
    pool: SamplePool,
    place: WriterPlace,
}

impl Streams {
    /// Creates the files `o` names (the CSV with its header) and the pool; `None` when no
    /// stream is asked for. A file that fails mid-run keeps its whole runs (see
    /// [`super::rewrite::StreamFile`]); `fates` learns of each file to report that.
    pub fn open(o: &Outputs, fates: &mut Vec<StreamFate>) -> Result<Option<Streams>> {
        if !o.keeps_samples() {
            return Ok(None);
        }
        let json = o.stream_json.as_deref().map(|p| Sink::open(p, "JSON-lines", fates)).transpose()?;
        let mut csv = o.stream_csv.as_deref().map(|p| Sink::open(p, "CSV", fates)).transpose()?;
        if let Some(c) = csv.as_mut() {
            c.put(&mut super::csv::header())?;
        }
        let place = o.writer.clone();
        Ok(Some(Streams { json, csv, pool: SamplePool::standard(), place }))
    }

    /// Runs `run` (the timed part of one run, recording into the pool it is given) while a
    /// writer thread drains the pool into the files; returns what `run` returned and whether
    /// every block was written. Whatever was recorded is written, the run failed or not.
    pub fn during<R>(&mut self, label: &RunLabel, run: impl FnOnce(&SamplePool) -> R) -> (R, Result<()>) {
        let Streams { json, csv, pool, place } = self;
        let pool = &*pool;
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            let writer = std::thread::Builder::new().name("ipcbench-streams".into()).spawn_scoped(s, || {
                place.apply().with_context(|| format!("placing the stream writer on {place:?}"))?;
                write_run(pool, &done, place, label, json.as_mut(), csv.as_mut())
            });
            let writer = match writer {
                Ok(w) => w,
                Err(e) => return (run(pool), Err(anyhow!("starting the stream writer: {e}"))),
            };
            // Set however `run` ends (a panic too), or the writer would wait for ever.
            let producers_done = ProducersDone(&done);
            let r = run(pool);
            drop(producers_done);
            let written = writer.join().unwrap_or_else(|_| Err(anyhow!("the stream writer panicked")));
            (r, written)
        })
    }

    /// Flushes both files.
    pub fn flush(&mut self) -> Result<()> {
        self.json.iter_mut().chain(self.csv.iter_mut()).try_for_each(Sink::flush)
    }
}

/// The writer thread's loop for one run: every full block into both files, then a flush.
fn write_run(
    pool: &SamplePool,
    done: &AtomicBool,
    place: &WriterPlace,
    label: &RunLabel,
    mut json: Option<&mut Sink>,
    mut csv: Option<&mut Sink>,
) -> Result<()> {
    let (lines, rows) = (JsonLines::new(label), CsvRows::new(label));
    let (mut jbuf, mut cbuf) = (Vec::with_capacity(PIECE_BYTES * 2), Vec::with_capacity(PIECE_BYTES * 2));
    pool.drain(done, place.batch(pool.blocks()), |block| {
        for s in decode(block) {
            let s = s.context("a sample block")?;
            if let Some(j) = json.as_deref_mut() {
                lines.line(&s, &mut jbuf);
                if jbuf.len() >= PIECE_BYTES {
                    j.put(&mut jbuf)?;
                }
            }
            if let Some(c) = csv.as_deref_mut() {
                rows.row(&s, &mut cbuf);
                if cbuf.len() >= PIECE_BYTES {
                    c.put(&mut cbuf)?;
                }
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    for (sink, buf) in [(json, &mut jbuf), (csv, &mut cbuf)] {
        if let Some(sink) = sink {
            sink.put(buf)?;
            sink.flush()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Sample;
    use std::sync::{Arc, Mutex};

    /// A file in memory.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn streams_into(file: &Shared, pool: SamplePool) -> Streams {
        let out: Box<dyn Write + Send> = Box::new(file.clone());
        Streams {
            json: Some(Sink { out: BufWriter::new(out), what: "test".into() }),
            csv: None,
            pool,
            place: WriterPlace::Shared(crate::sys::allowed_cpus()),
        }
    }

    fn sample(i: u64) -> Sample {
        Sample { seq: i, send_ns: 10 * i, recv_ns: 10 * i + 3 }
    }

    #[test]
    fn a_writer_that_falls_behind_drops_samples_and_counts_every_one_it_dropped() {
        // Two blocks of about 40 samples against 200,000 recorded at once: the writer, which
        // looks for blocks every few ms, cannot keep up.
        let file = Shared::default();
        let mut streams = streams_into(&file, SamplePool::new(2, 256));
        let (dropped, written) = streams.during(&RunLabel::example(0), |pool| {
            let mut r = pool.recorder();
            (0..200_000).for_each(|i| r.push(sample(i)));
            r.finish()
        });
        written.unwrap();
        let text = String::from_utf8(file.0.lock().unwrap().clone()).unwrap();
        let seqs: Vec<u64> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_u64().unwrap())
            .collect();
        assert!(dropped > 0, "nothing dropped");
        assert_eq!(seqs.len() as u64 + dropped, 200_000, "every sample written or counted");
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "the kept ones in order, each once");
    }

    #[test]
    fn a_writer_that_keeps_up_writes_every_sample_of_every_run_in_order() {
        let file = Shared::default();
        // 16 blocks of about 800 samples: the writer (sharing CPUs, so taking 8 at a time)
        // always has room ahead of a loop this slow.
        let mut streams = streams_into(&file, SamplePool::new(16, 4096));
        for rep in 0..3 {
            let (dropped, written) = streams.during(&RunLabel::example(rep), |pool| {
                let mut r = pool.recorder();
                for i in 0..5_000 {
                    r.push(sample(i));
                    if i % 100 == 0 {
                        std::thread::sleep(std::time::Duration::from_micros(300));
                    }
                }
                r.finish()
            });
            written.unwrap();
            assert_eq!(dropped, 0);
        }
        let text = String::from_utf8(file.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 15_000);
        for (i, l) in lines.iter().enumerate() {
            assert_eq!(l["repetition"], (i / 5_000) as u64);
            assert_eq!(l["seq"], (i % 5_000) as u64);
        }
    }

    #[test]
    fn the_writer_takes_a_cpu_outside_the_measured_pinning_when_there_is_one() {
        assert_eq!(WriterPlace::resolve(None, &[0, 1, 2, 3], &[0, 1]), WriterPlace::Cpu(3));
        assert_eq!(WriterPlace::resolve(None, &[0, 1, 2, 3], &[3, 1]), WriterPlace::Cpu(2));
        // Two CPUs, both measured: it shares them.
        assert_eq!(WriterPlace::resolve(None, &[0, 1], &[0, 1]), WriterPlace::Shared(vec![0, 1]));
        // Nothing pinned: the measured threads may be anywhere, so may the writer.
        assert_eq!(WriterPlace::resolve(None, &[0, 1, 2], &[]), WriterPlace::Shared(vec![0, 1, 2]));
        // The flag wins.
        assert_eq!(WriterPlace::resolve(Some(0), &[0, 1, 2], &[0, 1]), WriterPlace::Cpu(0));
    }
}
