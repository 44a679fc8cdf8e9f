//! Outputs that can fail without stopping the measurement. A full disk or a removed output
//! folder is no reason to throw away runs still to come: a file rewritten whole after every run
//! (the summary, the interval log) keeps its last complete version and is tried again after the
//! next run, so it is whole again once space returns ([`Rewrites`]); a per-message stream keeps
//! the runs it holds complete and takes nothing more ([`StreamFile`]). Either way the invocation
//! ends in one error line counting the runs a file is missing.

use std::fs::File;
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Result};

/// The state of a file rewritten whole after every run.
pub struct Rewrites {
    path: PathBuf,
    /// What the file is, for messages ("the summary").
    what: &'static str,
    /// Finished runs the file on disk holds.
    held: usize,
    /// The last rewrite's failure, while the file is behind.
    failed: Option<String>,
}

impl Rewrites {
    pub fn new(path: &Path, what: &'static str) -> Rewrites {
        Rewrites { path: path.to_path_buf(), what, held: 0, failed: None }
    }

    /// After a rewrite holding `runs` finished runs: a failure is noted (once) and kept, not
    /// returned, so the measurement goes on.
    pub fn after_run(&mut self, runs: usize, written: Result<()>) {
        match written {
            Ok(()) => {
                if self.failed.take().is_some() {
                    eprintln!("note: {} {} is whole again ({runs} run(s))", self.what, self.path.display());
                }
                self.held = runs;
            }
            Err(e) => {
                if self.failed.is_none() {
                    eprintln!(
                        "note: {e:#}: {} keeps the {} run(s) it holds and is tried again after the next run",
                        self.what, self.held
                    );
                }
                self.failed = Some(format!("{e:#}"));
            }
        }
    }

    /// After the last rewrite, holding `runs`: an error counting the runs missing if it failed.
    pub fn at_end(&mut self, runs: usize, written: Result<()>) -> Result<()> {
        self.after_run(runs, written);
        match &self.failed {
            None => Ok(()),
            Some(e) => Err(anyhow!(
                "{e}: {} of {runs} finished run(s) are not in {} {} (it keeps the last complete version)",
                runs - self.held.min(runs),
                self.what,
                self.path.display()
            )),
        }
    }
}

/// What became of a stream file, shared between the file and the exporters' manager.
#[derive(Debug, Default)]
pub struct StreamState {
    /// Why the stream took nothing more, once it failed.
    pub failed: Option<String>,
}

/// A per-message stream file that holds whole runs only. Its exporter ends every run with a
/// `flush`: the file's length then is the last commit. A write that fails (a full disk), or a
/// commit that finds the file removed, cuts the file back to the last commit and ends the
/// stream: later writes are dropped, and the failure is kept in [`StreamState`] for the
/// manager to report.
pub struct StreamFile {
    file: File,
    path: PathBuf,
    committed: u64,
    written: u64,
    state: Arc<Mutex<StreamState>>,
}

impl StreamFile {
    pub fn new(file: File, path: &Path) -> (StreamFile, Arc<Mutex<StreamState>>) {
        let state = Arc::new(Mutex::new(StreamState::default()));
        let f = StreamFile { file, path: path.to_path_buf(), committed: 0, written: 0, state: state.clone() };
        (f, state)
    }

    fn failed(&self) -> bool {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).failed.is_some()
    }

    /// Ends the stream after `e`, cutting it back to its last commit.
    fn fail(&mut self, e: String) {
        let _ = self.file.set_len(self.committed);
        let _ = self.file.seek(io::SeekFrom::Start(self.committed));
        self.state.lock().unwrap_or_else(|e| e.into_inner()).failed = Some(e);
    }
}

impl Write for StreamFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed() {
            return Ok(buf.len()); // the stream has ended: dropped, and reported at the end
        }
        match self.file.write_all(buf) {
            Ok(()) => {
                self.written += buf.len() as u64;
                Ok(buf.len())
            }
            Err(e) => {
                self.fail(format!("writing {}: {e}", self.path.display()));
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.failed() {
            return Ok(());
        }
        // A file removed from its folder takes writes that nobody will read.
        if std::os::unix::fs::MetadataExt::nlink(&self.file.metadata()?) == 0 {
            self.fail(format!("{} was removed", self.path.display()));
            return Ok(());
        }
        self.committed = self.written;
        Ok(())
    }
}
