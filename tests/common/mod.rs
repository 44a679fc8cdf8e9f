//! Helpers shared by the integration tests: a scratch directory with a socket dir and an
//! output path, and readers for what a run wrote.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

    /// `ipcbench run` with this scratch's socket dir and output, quiet, short timeouts, and
    /// exact counts (`--min-time 0s`: a test asking for 300 messages gets 300, not a second's
    /// worth; tests of the minimum give their own, which overrides this).
    pub fn run(&self) -> Command {
        let mut cmd = Command::cargo_bin("ipcbench").unwrap();
        cmd.current_dir(self.dir.path())
            .arg("run")
            .arg("--socket-dir")
            .arg(self.sockets())
            .arg("--out")
            .arg(self.out())
            .args(["--timeout-s", "5", "--quiet", "--min-time", "0s"])
            .timeout(std::time::Duration::from_secs(60));
        cmd
    }

    /// `ipcbench run` with this scratch's socket dir and output, quiet, exact counts, started
    /// in the background with stderr piped (to kill it, or its peer, mid-run).
    pub fn spawn_run(&self, args: &[&str]) -> std::process::Child {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("ipcbench"))
            .args(["run", "--quiet", "--min-time", "0s", "--socket-dir"])
            .arg(self.sockets())
            .arg("--out")
            .arg(self.out())
            .args(args)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
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

/// The pid of a direct child of `parent`, from /proc.
pub fn child_of(parent: u32) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let after_comm = &stat[stat.rfind(')')? + 2..];
        let ppid: u32 = after_comm.split(' ').nth(1)?.parse().ok()?;
        (ppid == parent).then_some(pid)
    })
}

/// How far process `pid` has got: the context switches its threads made of their own accord
/// (a blocking wait gives the CPU up once a message), and its CPU time in ms (a spinning wait
/// burns it). Starting, connecting and the clock check make a few dozen switches and take a few
/// ms of CPU; a timed loop passes either mark below within its warm-up.
pub fn progress(pid: u32) -> Option<(u64, u64)> {
    let mut switches = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        switches += status
            .lines()
            .filter_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .filter_map(|v| v.trim().parse::<u64>().ok())
            .sum::<u64>();
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    // utime and stime, fields 14 and 15 of the line (11 and 12 after the command name), in
    // clock ticks of 10 ms (USER_HZ is 100 on Linux).
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((switches, ticks * 10))
}

/// Until process `pid` has made `switches` more voluntary context switches or used `cpu_ms`
/// more CPU than at `from` (see [`progress`]), for at most 30 s.
pub fn wait_for_progress(pid: u32, from: (u64, u64), switches: u64, cpu_ms: u64, what: &str) {
    let start = std::time::Instant::now();
    loop {
        let (s, c) = progress(pid).unwrap_or_else(|| panic!("{what}: process {pid} is gone"));
        if s >= from.0 + switches || c >= from.1 + cpu_ms {
            return;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "{what}: process {pid} made no progress in 30 s ({s} switches, {c} ms of CPU)"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The peer `host` started, once it is in its timed loop: a thousand waits for a message, or
/// 300 ms of CPU spinning for one (a fixed wait after the fork was not enough on a busy
/// runner: the peer was sometimes still connecting, and its death was no test's).
pub fn wait_for_peer(host: u32) -> u32 {
    let start = std::time::Instant::now();
    loop {
        if let Some(pid) = child_of(host) {
            wait_for_progress(pid, (0, 0), 1000, 300, "the peer");
            return pid;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "peer never started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// `out` failed with exit `code` and exactly one `Error:` line, which contains `needle`.
pub fn assert_one_error(out: &std::process::Output, code: i32, needle: &str, what: &str) {
    assert_eq!(out.status.code(), Some(code), "{what}");
    let err = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("Error:")).collect();
    assert_eq!(errors.len(), 1, "{what}: {err}");
    assert!(errors[0].contains(needle), "{what}: {}", errors[0]);
}

/// Waits for `child` to exit, killing it and failing after `limit`.
pub fn wait_for_exit(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Everything a child wrote to its piped stderr.
pub fn stderr_of(child: &mut std::process::Child) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut text).unwrap();
    text
}

impl Scratch {
    /// `ipcbench host <args>` against an `ipcbench client`, both on this scratch's socket
    /// directory (as across a container boundary, they share nothing else), with short timeouts
    /// and exact counts; waits for both, checks that the client ended well, and returns the
    /// host's exit status and pid.
    pub fn host_with_client(&self, args: &[&str]) -> (std::process::ExitStatus, u32) {
        let bin = assert_cmd::cargo::cargo_bin("ipcbench");
        let mut client = std::process::Command::new(&bin)
            .args(["client", "--timeout-s", "5", "--socket-dir"])
            .arg(self.sockets())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut host = std::process::Command::new(&bin)
            .arg("host")
            .args(args)
            .args(["--quiet", "--min-time", "0s", "--timeout-s", "5", "--client-timeout-s", "10"])
            .arg("--socket-dir")
            .arg(self.sockets())
            .arg("--out")
            .arg(self.out())
            .spawn()
            .unwrap();
        let pid = host.id();
        let status = wait_for_exit(&mut host, std::time::Duration::from_secs(60));
        let client_status = wait_for_exit(&mut client, std::time::Duration::from_secs(10));
        assert!(client_status.success(), "client: {}", stderr_of(&mut client));
        (status, pid)
    }
}

/// How many descriptors of `pid` are anonymous inodes of `kind` (`[eventfd]`, `[io_uring]`).
pub fn anon_fds_of(pid: u32, kind: &str) -> usize {
    let want = format!("anon_inode:{kind}");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|p| p.as_os_str() == want.as_str())
                .count()
        })
        .unwrap_or(0)
}

/// `pid`'s count of `kind` descriptors once it reaches `expected` (for 0: after half a second
/// of staying there), or what it was after 10 s.
pub fn settled_anon_fds(pid: u32, kind: &str, expected: usize) -> usize {
    let start = std::time::Instant::now();
    loop {
        let seen = anon_fds_of(pid, kind);
        let settled =
            seen == expected && (expected > 0 || start.elapsed() > std::time::Duration::from_millis(500));
        if settled || start.elapsed() > std::time::Duration::from_secs(10) {
            return seen;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Runs of the summary, each checked: `received` messages arrived, none corrupt or out of order.
pub fn assert_runs_intact(summary: &Value, received: u64, what: &str) -> Vec<Value> {
    let runs = summary["runs"].as_array().unwrap().clone();
    for r in &runs {
        let which = format!("{what}: {} {} {} {}", r["transport"], r["wait"], r["pattern"], r["size_bytes"]);
        assert_eq!(r["integrity"]["received"], received, "{which}");
        assert_eq!(r["integrity"]["out_of_order"], 0, "{which}");
        assert_eq!(r["integrity"]["corrupt"], 0, "{which}");
    }
    runs
}

/// Stops a running `ipcbench run` mid-test, as `how` says: `"peer"` kills its peer (SIGKILL),
/// `"ctrl-c"` interrupts the run itself (SIGINT). Then checks that the run ended within 5 s:
/// with exit 1 and one error naming `test` (e.g. "round-trip over pipe with 4096 B
/// messages") and the peer's death, or with exit 130.
pub fn assert_stops_mid_run(run: &mut std::process::Child, peer: u32, how: &str, test: &str) {
    let (victim, sig) = if how == "ctrl-c" { (run.id(), "-INT") } else { (peer, "-9") };
    std::process::Command::new("kill").args([sig, &victim.to_string()]).status().unwrap();
    let stopped = std::time::Instant::now();
    let status = wait_for_exit(run, std::time::Duration::from_secs(10));
    assert!(stopped.elapsed() < std::time::Duration::from_secs(5), "{test} {how}: {:?}", stopped.elapsed());
    let stderr = stderr_of(run);
    if how == "ctrl-c" {
        assert_eq!(status.code(), Some(130), "{test} {how}: {stderr}");
        assert!(stderr.lines().any(|l| l.starts_with("Error: interrupted")), "{stderr}");
        return;
    }
    assert_eq!(status.code(), Some(1), "{test} {how}: {stderr}");
    let line = stderr.lines().find(|l| l.starts_with("Error:")).unwrap_or_default();
    assert!(line.contains(test), "{line}");
    assert!(line.contains("peer process exited (signal: 9 (SIGKILL))"), "{line}");
}

/// Every direct child of `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let mut out: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let after_comm = &stat[stat.rfind(')')? + 2..];
            let ppid: u32 = after_comm.split(' ').nth(1)?.parse().ok()?;
            (ppid == parent).then_some(pid)
        })
        .collect();
    out.sort_unstable();
    out
}

pub fn gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z "))
}

/// What every fan-out run must show: `n` subscribers each received all `count` messages,
/// intact and in order, and the all-delivered and publish figures are there.
pub fn check_every_delivery(r: &Value, n: u64, count: u64, what: &str) {
    let fan = &r["fan_out"];
    assert_eq!(fan["subscribers"], n, "{what}");
    let subs = fan["per_subscriber"].as_array().unwrap();
    assert_eq!(subs.len() as u64, n, "{what}");
    for (i, sub) in subs.iter().enumerate() {
        assert_eq!(sub["index"], i as u64, "{what}");
        assert_eq!(sub["received"], count, "{what}: subscriber {i}");
        assert_eq!(sub["corrupt"], 0, "{what}: subscriber {i}");
        assert_eq!(sub["out_of_order"], 0, "{what}: subscriber {i}");
        assert!(sub["latency_ns"]["p50"].as_u64().unwrap() > 0, "{what}: subscriber {i}");
    }
    assert_eq!(r["integrity"]["sent"], count * n, "{what}: every message to every subscriber");
    assert_eq!(r["integrity"]["received"], count * n, "{what}");
    assert_eq!(r["integrity"]["lost"], 0, "{what}");
    assert_eq!(r["latency_source"], "publisher", "{what}");
    let merged = r["latency_ns"]["p50"].as_u64().unwrap();
    let all = fan["all_delivered_ns"]["p99"].as_u64().unwrap();
    let max_each = subs.iter().map(|s| s["latency_ns"]["max"].as_u64().unwrap()).max().unwrap();
    assert!(all >= merged, "{what}: the last arrival is no earlier than the median one ({all} < {merged})");
    assert!(
        fan["all_delivered_ns"]["max"].as_u64().unwrap() <= max_each + max_each / 100 + 1,
        "{what}: the all-delivered maximum is some subscriber's arrival"
    );
    assert!(fan["publish_ns"]["p50"].as_u64().is_some(), "{what}");
    assert!(r["cpu"]["peer"]["total"]["cpu_ns"].as_u64().unwrap() > 0, "{what}: subscribers' CPU counted");
}

/// Runs a fan-out of `transport` to 1 then 3 subscribers for two seconds each, kills subscriber 2
/// (SIGKILL) inside the second run, and checks that the run ended within 5 s with exit 1 and
/// one error naming subscriber 2, that the first run and the others' figures were kept, and
/// that every subscriber process is gone. Returns the publisher's pid.
pub fn assert_a_killed_subscriber_is_named(s: &Scratch, transport: &str, wait: &str) -> u32 {
    let mut host = s.spawn_run(&[
        "-t",
        transport,
        "-p",
        "fan-out",
        "--subscribers",
        "1,3",
        "-s",
        "64",
        "--duration",
        "2s",
        "--warmup",
        "10",
        "--wait",
        wait,
        "--timeout-s",
        "30",
    ]);
    // Every subscriber is started up front; kill the last once the first run is written.
    let start = Instant::now();
    let peers = loop {
        let peers = children_of(host.id());
        let written = std::fs::read_to_string(s.out())
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|v| v["runs"].as_array().is_some_and(|r| !r.is_empty()));
        if peers.len() == 3 && written {
            break peers;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{transport}: subscribers never ran");
        std::thread::sleep(Duration::from_millis(10));
    };
    // Past the second run's warm-up (10 messages), inside its recorded two seconds: the
    // subscriber that only the second run has is taking messages.
    let at_first = progress(peers[2]).unwrap_or_else(|| panic!("{transport}: subscriber 2 is gone"));
    wait_for_progress(peers[2], at_first, 200, 100, &format!("{transport}: subscriber 2"));
    std::process::Command::new("kill").args(["-9", &peers[2].to_string()]).status().unwrap();
    let killed = Instant::now();
    let status = loop {
        if let Some(st) = host.try_wait().unwrap() {
            break st;
        }
        assert!(killed.elapsed() < Duration::from_secs(15), "{transport}: publisher hangs");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(killed.elapsed() < Duration::from_secs(5), "{transport}: noticed in {:?}", killed.elapsed());
    assert_eq!(status.code(), Some(1), "{transport}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(host.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let line = stderr.lines().find(|l| l.starts_with("Error:")).unwrap_or_default().to_string();
    assert!(line.contains("to 3 subscriber(s)"), "{transport}: {line}");
    assert!(line.contains("subscriber 2"), "{transport}: names the subscriber: {line}");
    assert!(line.contains("SIGKILL"), "{transport}: {line}");
    let sum = s.summary();
    assert!(sum["error"].as_str().unwrap().contains("subscriber 2"), "{transport}");
    let runs = sum["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{transport}: the finished run and the failed one's figures are kept");
    assert_eq!(runs[0]["fan_out"]["subscribers"], 1);
    let failed = &runs[1]["fan_out"];
    assert!(failed["failed"].as_str().unwrap().contains("subscriber 2"), "{transport}: {failed}");
    for i in 0..2 {
        let sub = &failed["per_subscriber"][i];
        assert!(sub["received"].as_u64().unwrap() > 0, "{transport}: subscriber {i} kept: {sub}");
        assert_eq!(sub["corrupt"], 0, "{transport}");
    }
    for p in &peers {
        let t = Instant::now();
        while !gone(*p) && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(gone(*p), "{transport}: subscriber process {p} is still running");
    }
    host.id()
}
