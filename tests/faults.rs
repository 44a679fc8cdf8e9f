//! Faults in the outputs, through the real binary: the output file system full (a small tmpfs;
//! root only, skipped with a reason otherwise) and the output folder removed mid-run. What must
//! hold: one clear error line, no temporary file left, every file whole (the summary its last
//! complete version, a stream whole runs only), the runs a file misses counted, and a summary
//! written whole again once space returns. Faults in the peers are in tests/peer_faults.rs.

mod common;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_one_error, read_json, wait_for_exit, Scratch};

/// A small tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// A tmpfs of `size` (`64k`) at `dir`, or why there is none (not root, no mount).
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        if !nix_is_root() {
            return Err("mounting a tmpfs needs root".into());
        }
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Ok(Tmpfs { dir: dir.to_path_buf() }),
            Ok(o) => Err(format!("mount -t tmpfs failed: {}", String::from_utf8_lossy(&o.stderr).trim())),
            Err(e) => Err(format!("no mount command: {e}")),
        }
    }

    /// Fills what is left of it with a file of zeros, returning the file.
    fn fill(&self) -> PathBuf {
        let filler = self.dir.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        while f.write_all(&[0u8; 4096]).is_ok() {}
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Files in `dir` whose names end in `.tmp`.
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("ipcbench")
}

#[test]
fn a_full_disk_keeps_every_file_whole_leaves_no_temp_file_and_counts_the_runs_missing() {
    let s = Scratch::new();
    let fs = match Tmpfs::mount(&s.path("full"), "64k") {
        Ok(fs) => fs,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let (out, csv) = (fs.dir.join("r.json"), fs.dir.join("s.csv"));
    // 30 runs of 200 messages: the summary, its interval log and the stream outgrow 64 KiB.
    let res = Command::new(bin())
        .args([
            "run",
            "-q",
            "-t",
            "uds",
            "-p",
            "round-trip",
            "-s",
            "64,128,256,512,1KiB,2KiB,4KiB,8KiB,16KiB,32KiB",
        ])
        .args(["--repeat", "3", "-n", "200", "--min-time", "0s", "--timeout-s", "5", "--socket-dir"])
        .arg(s.sockets())
        .arg("--out")
        .arg(&out)
        .arg("--stream-csv")
        .arg(&csv)
        .output()
        .unwrap();
    assert_one_error(&res, 1, "No space left on device", "a full disk");
    let stderr = String::from_utf8_lossy(&res.stderr);
    let line = stderr.lines().find(|l| l.starts_with("Error:")).unwrap();
    // The summary is its last complete version, and the error counts what it misses.
    let kept = read_json(&out)["runs"].as_array().unwrap().len();
    assert!((1..30).contains(&kept), "{kept} runs kept");
    assert!(
        line.contains(&format!(
            "{} of 30 finished run(s) are not in the summary {}",
            30 - kept,
            out.display()
        )),
        "{line}"
    );
    // The stream holds whole runs (200 rows each, every row complete), as many as it says.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut runs: Vec<(String, usize)> = Vec::new();
    for row in text.lines().skip(1) {
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(fields.len(), 10, "a cut row: {row}");
        let run = format!("{} {}", fields[4], fields[5]);
        match runs.last_mut() {
            Some((r, n)) if *r == run => *n += 1,
            _ => runs.push((run, 1)),
        }
    }
    assert!(runs.iter().all(|(_, n)| *n == 200), "whole runs only: {runs:?}");
    assert!(
        line.contains(&format!(
            "not in the stream {} (it holds the {} before, whole)",
            csv.display(),
            runs.len()
        )),
        "{line}"
    );
    assert!(temp_files(&fs.dir).is_empty(), "{:?}", temp_files(&fs.dir));
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn a_summary_that_could_not_be_written_is_written_whole_once_space_returns() {
    let s = Scratch::new();
    // Room for all 8 runs once the filler is gone.
    let fs = match Tmpfs::mount(&s.path("full"), "1m") {
        Ok(fs) => fs,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let out = fs.dir.join("r.json");
    let mut run = Command::new(bin())
        .args(["run", "-q", "-t", "uds", "-p", "round-trip", "-s", "64", "-d", "300ms", "--repeat", "8"])
        .args(["--timeout-s", "5", "--socket-dir"])
        .arg(s.sockets())
        .arg("--out")
        .arg(&out)
        .arg("--hlog")
        .arg(s.path("r.hlog"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first summary (no runs yet) is written before anything is measured; then the disk fills.
    let start = Instant::now();
    while !out.exists() {
        assert!(start.elapsed() < Duration::from_secs(10), "no summary at the start");
        std::thread::sleep(Duration::from_millis(5));
    }
    let filler = fs.fill();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = run.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    // A rewrite fails: noted, and the run goes on. Then space returns.
    loop {
        let line = rx.recv_timeout(Duration::from_secs(10)).expect("a note on the failed rewrite");
        let noted = line.contains("No space left on device") && line.contains("the summary keeps");
        lines.push(line);
        if noted {
            break;
        }
    }
    std::fs::remove_file(filler).unwrap();
    let status = wait_for_exit(&mut run, Duration::from_secs(30));
    lines.extend(rx.try_iter());
    assert!(status.success(), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("is whole again")), "{lines:?}");
    let sum = read_json(&out);
    assert_eq!(sum["runs"].as_array().unwrap().len(), 8, "every run, written once space returned");
    assert!(sum["error"].is_null());
    assert!(temp_files(&fs.dir).is_empty(), "{:?}", temp_files(&fs.dir));
}

#[test]
fn the_output_folder_removed_mid_run_ends_in_one_error_without_hanging_or_recreating_it() {
    let s = Scratch::new();
    let dir = s.path("results");
    std::fs::create_dir(&dir).unwrap();
    let out = dir.join("r.json");
    let mut run = Command::new(bin())
        .args(["run", "-q", "-t", "uds", "-p", "round-trip", "-s", "64", "-d", "300ms", "--repeat", "6"])
        .args(["--timeout-s", "5", "--socket-dir"])
        .arg(s.sockets())
        .arg("--out")
        .arg(&out)
        .arg("--stream-json")
        .arg(dir.join("s.jsonl"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first run is written, the folder goes.
    let start = Instant::now();
    loop {
        let written = std::fs::read_to_string(&out)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["runs"].as_array().is_some_and(|r| !r.is_empty()));
        if written {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the first run was never written");
        std::thread::sleep(Duration::from_millis(5));
    }
    // A rewrite may put a file in it while it goes: try until it is gone.
    while let Err(e) = std::fs::remove_dir_all(&dir) {
        assert!(start.elapsed() < Duration::from_secs(10), "removing {}: {e}", dir.display());
    }
    let status = wait_for_exit(&mut run, Duration::from_secs(30));
    let stderr = common::stderr_of(&mut run);
    let output = std::process::Output { status, stdout: vec![], stderr: stderr.clone().into_bytes() };
    assert_one_error(&output, 1, "No such file or directory", "a removed folder");
    let line = stderr.lines().find(|l| l.starts_with("Error:")).unwrap();
    assert!(line.contains("finished run(s) are not in the summary"), "{line}");
    assert!(line.contains("s.jsonl was removed"), "the stream says it was removed: {line}");
    assert!(!dir.exists(), "the folder is not made again");
    assert!(temp_files(s.dir.path()).is_empty());
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}
