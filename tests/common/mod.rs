//! Helpers shared by the integration tests: a scratch directory with a socket dir and an
//! output path, and readers for what a run wrote.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sockets")).unwrap();
        Scratch { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn sockets(&self) -> PathBuf {
        self.path("sockets")
    }

    pub fn out(&self) -> PathBuf {
        self.path("out.json")
    }

    /// `ipcbench run` with this scratch's socket dir and output, quiet, short timeouts.
    pub fn run(&self) -> Command {
        let mut cmd = Command::cargo_bin("ipcbench").unwrap();
        cmd.current_dir(self.dir.path())
            .arg("run")
            .arg("--socket-dir")
            .arg(self.sockets())
            .arg("--out")
            .arg(self.out())
            .args(["--timeout-s", "5", "--quiet"])
            .timeout(std::time::Duration::from_secs(60));
        cmd
    }

    pub fn summary(&self) -> Value {
        read_json(&self.out())
    }

    /// Files left in the socket dir.
    pub fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.sockets())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Runs of a summary as (transport, pattern, size) triples.
pub fn configs(summary: &Value) -> Vec<(String, String, u64)> {
    summary["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["transport"].as_str().unwrap().to_string(),
                r["pattern"].as_str().unwrap().to_string(),
                r["size_bytes"].as_u64().unwrap(),
            )
        })
        .collect()
}
