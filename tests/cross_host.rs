//! `ipcbench host --control tcp://...` and `ipcbench client --control tcp://...`: on loopback,
//! and between two network namespaces joined by a veth pair (two "hosts" on one machine; needs
//! root, and says why it skips otherwise). Traffic goes only to loopback and to the test's own
//! namespace addresses (TEST-NET-1, 192.0.2.0/24), and the namespaces are deleted at the end.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{read_json, stderr_of, wait_for_exit, Scratch};

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("ipcbench")
}

/// `prefix... ipcbench host --control URL ...` (prefix: `ip netns exec NS`, or nothing).
fn host(prefix: &[&str], s: &Scratch, url: &str, args: &[&str]) -> Child {
    let (exe, pre) = split(prefix);
    Command::new(exe)
        .args(pre)
        .arg("host")
        .args(["--control", url, "--quiet", "--timeout-s", "5", "--client-timeout-s", "15", "--socket-dir"])
        .arg(s.sockets())
        .arg("--out")
        .arg(s.out())
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn client(prefix: &[&str], url: &str, token: Option<&Path>) -> Output {
    let (exe, pre) = split(prefix);
    let mut c = Command::new(exe);
    c.args(pre).args(["client", "--control", url, "--connect-timeout-s", "10", "--timeout-s", "5"]);
    if let Some(t) = token {
        c.arg("--token-file").arg(t);
    }
    c.env_remove("IPCBENCH_TOKEN").output().unwrap()
}

/// The program to run and its leading arguments: the prefix (if any), then ipcbench.
fn split(prefix: &[&str]) -> (std::path::PathBuf, Vec<std::ffi::OsString>) {
    match prefix.split_first() {
        None => (bin(), vec![]),
        Some((exe, rest)) => {
            let mut v: Vec<std::ffi::OsString> = rest.iter().map(Into::into).collect();
            v.push(bin().into());
            (exe.into(), v)
        }
    }
}

/// A host on `url` asking for a token; a client without one and one with a wrong one (both
/// refused, the host waits on), then one with the right token (it measures). The host's stderr
/// and summary.
fn tokens_at_work(prefix_host: &[&str], prefix_client: &[&str], url: &str) -> (String, serde_json::Value) {
    let s = Scratch::new();
    let (good, bad) = (s.path("token"), s.path("wrong"));
    std::fs::write(&good, "right-token\n").unwrap();
    std::fs::write(&bad, "wrong-token\n").unwrap();
    let good_arg = good.to_str().unwrap().to_string();
    let args = [
        "-t",
        "tcp,tcp-uring,udp",
        "-p",
        "round-trip,one-way",
        "-s",
        "64",
        "-n",
        "200",
        "--token-file",
        &good_arg,
    ];
    let mut h = host(prefix_host, &s, url, &args);
    for token in [None, Some(bad.as_path())] {
        let refused = client(prefix_client, url, token);
        assert!(!refused.status.success(), "{token:?} is refused");
        let err = String::from_utf8_lossy(&refused.stderr);
        // Without a token the client knows why; with a wrong one only the host does.
        let why =
            if token.is_none() { "the host needs a token" } else { "the host closed the control channel" };
        assert!(err.contains("Error:") && err.contains(why), "{err}");
    }
    let ok = client(prefix_client, url, Some(&good));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let st = wait_for_exit(&mut h, Duration::from_secs(30));
    let herr = stderr_of(&mut h);
    assert!(st.success(), "{herr}");
    let notes: Vec<&str> =
        herr.lines().filter(|l| l.starts_with("note: dropped a control connection")).collect();
    assert_eq!(notes.len(), 2, "{herr}");
    assert!(notes[0].contains("presented no token"), "{}", notes[0]);
    assert!(notes[1].contains("presented a wrong token"), "{}", notes[1]);
    (herr, read_json(&s.out()))
}

/// Every network transport ran, every message arrived.
fn check_runs(sum: &serde_json::Value) {
    let runs = sum["runs"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> =
        runs.iter().map(|r| (r["transport"].as_str().unwrap(), r["pattern"].as_str().unwrap())).collect();
    for kind in ["tcp", "tcp-uring", "udp"] {
        assert!(kinds.contains(&(kind, "round-trip")), "{kind}: {kinds:?}");
    }
    for r in runs {
        assert_eq!(r["integrity"]["sent"], 200);
        assert_eq!(
            r["integrity"]["sent"],
            r["integrity"]["received"].as_u64().unwrap() + r["integrity"]["lost"].as_u64().unwrap()
        );
    }
}

#[test]
fn a_tcp_control_channel_on_loopback_checks_tokens_and_measures_tcp_tcp_uring_and_udp() {
    let (_, sum) = tokens_at_work(&[], &[], "tcp://127.0.0.1:7717");
    check_runs(&sum);
    assert_eq!(sum["topology"], "same-host", "loopback TCP is one machine");
    assert_eq!(sum["runs"].as_array().unwrap().len(), 6, "one-way too: one clock");
}

/// Two network namespaces joined by a veth pair, deleted on drop.
struct TwoHosts {
    host: String,
    client: String,
}

impl TwoHosts {
    fn new() -> Result<TwoHosts, String> {
        let id = std::process::id();
        let t = TwoHosts { host: format!("ipcb-h{id}"), client: format!("ipcb-c{id}") };
        let (vh, vc) = (format!("vh{id}"), format!("vc{id}"));
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", &t.host],
            vec!["netns", "add", &t.client],
            vec!["link", "add", &vh, "type", "veth", "peer", "name", &vc],
            vec!["link", "set", &vh, "netns", &t.host],
            vec!["link", "set", &vc, "netns", &t.client],
            vec!["-n", &t.host, "addr", "add", "192.0.2.1/24", "dev", &vh],
            vec!["-n", &t.client, "addr", "add", "192.0.2.2/24", "dev", &vc],
            vec!["-n", &t.host, "link", "set", &vh, "up"],
            vec!["-n", &t.client, "link", "set", &vc, "up"],
            vec!["-n", &t.host, "link", "set", "lo", "up"],
            vec!["-n", &t.client, "link", "set", "lo", "up"],
        ];
        for step in steps {
            let out = Command::new("ip").args(&step).output().map_err(|e| format!("ip: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "ip {}: {}",
                    step.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(t)
    }
}

impl Drop for TwoHosts {
    fn drop(&mut self) {
        for ns in [&self.host, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status(); // takes its veth end along
        }
    }
}

#[test]
fn across_two_network_namespaces_tcp_tcp_uring_and_udp_run_tokens_are_checked_and_the_topology_is_cross_host()
{
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: creating network namespaces needs root (CI runs as root)");
        return;
    }
    let hosts = match TwoHosts::new() {
        Ok(h) => h,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: no network namespaces here: {e}");
            return;
        }
        Err(e) => panic!("network namespaces are needed under CI: {e}"),
    };
    let (h, c) =
        (["ip", "netns", "exec", hosts.host.as_str()], ["ip", "netns", "exec", hosts.client.as_str()]);
    let (_, sum) = tokens_at_work(&h, &c, "tcp://192.0.2.1:7718");
    check_runs(&sum);
    assert_eq!(sum["topology"], "cross-host");
    // Data channels listened where the client reached the host, not on loopback.
    let s = Scratch::new();
    let out = Command::new("ip")
        .args(["netns", "exec", &hosts.host])
        .arg(bin())
        .args(["host", "--control", "tcp://192.0.2.1:7718", "-t", "uds", "--quiet", "--socket-dir"])
        .arg(s.sockets())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("where uds cannot go"),
        "uds is refused across hosts"
    );
    drop(hosts);
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&left.stdout).contains(&format!("ipcb-h{}", std::process::id())),
        "namespaces removed"
    );
}

#[test]
fn a_tcp_control_channel_refuses_what_cannot_cross_hosts_before_anything_runs() {
    let s = Scratch::new();
    let out = Command::new(bin())
        .args(["host", "--control", "tcp://127.0.0.1:7719", "-t", "uds,shm,tcp", "--quiet", "--socket-dir"])
        .arg(s.sockets())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error, found before anything ran");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Error: --control tcp:// reaches across hosts, where uds, shm cannot go"), "{err}");
    assert!(!err.contains("waiting"), "refused before listening: {err}");
    let out = Command::new(bin()).args(["host", "--control", "http://x", "--quiet"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("--control 'http://x' is not tcp://HOST:PORT or unix:///path"));
}
