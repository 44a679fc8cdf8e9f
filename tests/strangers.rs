//! Strangers at the door: a process that reaches a data channel before the real client is
//! refused and the run completes; a token never crosses the control connection.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{stderr_of, wait_for_exit, Scratch};
use ipcbench::control::peer::{serve_with, Act, Behaviour, HostAddress};
use ipcbench::control::Channel;
use ipcbench::transport::Endpoint;

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("ipcbench")
}

fn host(s: &Scratch, args: &[&str]) -> Child {
    Command::new(bin())
        .arg("host")
        .args(args)
        .args(["-p", "round-trip", "-s", "64", "-n", "200", "--min-time", "0s", "--quiet"])
        .args(["--timeout-s", "10", "--client-timeout-s", "20", "--socket-dir"])
        .arg(s.sockets())
        .arg("--out")
        .arg(s.out())
        .env_remove("IPCBENCH_TOKEN")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A client that takes its time before connecting each data channel, so that the stranger
/// gets there first, every time.
struct SlowToConnect;

impl Behaviour for SlowToConnect {
    fn before_prepare(&mut self, _test_id: u32) -> Act {
        std::thread::sleep(Duration::from_millis(700));
        Act::Go
    }
}

/// Serves one session as a client in this process, slow to connect.
fn slow_client(dir: PathBuf, control: Endpoint) -> std::thread::JoinHandle<anyhow::Result<()>> {
    std::thread::spawn(move || {
        let host = HostAddress { control, token: None };
        let fd = ipcbench::control::peer::connect_control(&host.control, Duration::from_secs(20))?;
        let tx = fd.try_clone()?;
        let mut ch = Channel::new(fd, tx, "host", Duration::from_secs(10));
        serve_with(&mut ch, &dir, &mut SlowToConnect)
    })
}

/// The host's listening TCP ports (from /proc: its socket inodes in LISTEN state).
fn listening_ports(pid: u32) -> Vec<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter_map(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
            (f.get(3) == Some(&"0A") && inodes.iter().any(|i| Some(&i.as_str()) == f.get(9))).then_some(port)
        })
        .collect()
}

/// A stranger that speaks the protocol: connects to every new candidate `find` offers (one it
/// has not yet got into), reads the challenge and answers it with a made-up tag, then holds the
/// connection open. A candidate it could not connect to (a Unix socket file appears at bind,
/// a moment before listen) is tried again. Returns how many connections it made.
fn intrude<K: PartialEq>(
    mut find: impl FnMut(&[K]) -> Option<K>,
    connect: impl Fn(&K) -> std::io::Result<Box<dyn ReadWrite>>,
    mut got_into: Vec<K>,
    stop: Arc<AtomicBool>,
) -> usize {
    let mut made = 0;
    let mut held = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        if let Some(k) = find(&got_into) {
            if let Ok(mut c) = connect(&k) {
                made += 1;
                got_into.push(k);
                let mut challenge = [0u8; 32];
                if c.read_exact(&mut challenge).is_ok() {
                    let _ = c.write_all(&[0x5a; 32]);
                }
                held.push(c);
                continue;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    made
}

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

fn data_socket(dir: &Path, got_into: &[PathBuf]) -> Option<PathBuf> {
    std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).find(|p| {
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        n.starts_with("ipcbench-") && n.ends_with(".sock") && !got_into.contains(p)
    })
}

fn assert_completes_despite_the_stranger(
    s: &Scratch,
    mut h: Child,
    client: std::thread::JoinHandle<anyhow::Result<()>>,
    stop: Arc<AtomicBool>,
    stranger: std::thread::JoinHandle<usize>,
) {
    let st = wait_for_exit(&mut h, Duration::from_secs(60));
    stop.store(true, Ordering::Relaxed);
    let made = stranger.join().unwrap();
    client.join().unwrap().unwrap();
    let err = stderr_of(&mut h);
    assert!(st.success(), "{err}");
    assert!(made >= 1, "the stranger got in first at least once");
    assert!(err.contains("note: refused a connection to") && err.contains("wrong answer"), "{err}");
    let sum = s.summary();
    let runs = sum["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["latency_ns"]["samples"], 200, "the real client's messages, and only those");
    assert_eq!(runs[0]["integrity"]["corrupt"], 0);
}

#[test]
fn a_stranger_first_on_a_unix_data_socket_is_refused_and_the_real_client_completes() {
    let s = Scratch::new();
    let h = host(&s, &["-t", "uds"]);
    let client = slow_client(s.sockets(), Endpoint::Unix(s.sockets().join("ipcbench.ctl")));
    let stop = Arc::new(AtomicBool::new(false));
    let dir = s.sockets();
    let st = stop.clone();
    let stranger = std::thread::spawn(move || {
        intrude(
            |got_into: &[PathBuf]| data_socket(&dir, got_into),
            |p| UnixStream::connect(p).map(|c| Box::new(c) as Box<dyn ReadWrite>),
            Vec::new(),
            st,
        )
    });
    assert_completes_despite_the_stranger(&s, h, client, stop, stranger);
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn a_stranger_first_on_a_tcp_data_port_is_refused_and_the_real_client_completes() {
    let s = Scratch::new();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("tcp://127.0.0.1:{port}");
    let h = host(&s, &["-t", "tcp", "--control", &url]);
    let pid = h.id();
    let client = slow_client(s.sockets(), Endpoint::from_url(&url, "test").unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    let stranger = std::thread::spawn(move || {
        intrude(
            |got_into: &[u16]| listening_ports(pid).into_iter().find(|p| !got_into.contains(p)),
            |p| TcpStream::connect(("127.0.0.1", *p)).map(|c| Box::new(c) as Box<dyn ReadWrite>),
            vec![port],
            st,
        )
    });
    assert_completes_despite_the_stranger(&s, h, client, stop, stranger);
}

/// Copies bytes from `from` to `to`, keeping a copy, until either end closes.
fn tap(
    mut from: TcpStream,
    mut to: TcpStream,
    seen: Arc<std::sync::Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
            seen.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    })
}

#[test]
fn the_token_appears_nowhere_a_watcher_can_look() {
    const TOKEN: &str = "e3b1c4f09a7d42c8b5a6d7e8f9012345";
    let s = Scratch::new();
    let token = s.path("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let host_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let control = format!("tcp://127.0.0.1:{host_port}");
    let mut h = host(&s, &["-t", "tcp,udp", "--control", &control, "--token-file", token.to_str().unwrap()]);
    // The client goes through a relay that records every control byte both ways.
    let relay = TcpListener::bind("127.0.0.1:0").unwrap();
    let relay_port = relay.local_addr().unwrap().port();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let relay = std::thread::spawn(move || {
        let (c, _) = relay.accept().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let up = loop {
            match TcpStream::connect(("127.0.0.1", host_port)) {
                Ok(u) => break u,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("the host never listened: {e}"),
            }
        };
        let a = tap(c.try_clone().unwrap(), up.try_clone().unwrap(), seen2.clone());
        let b = tap(up, c, seen2);
        a.join().unwrap();
        b.join().unwrap();
    });
    let client = Command::new(bin())
        .args(["client", "--control", &format!("tcp://127.0.0.1:{relay_port}"), "--token-file"])
        .arg(&token)
        .args(["--connect-timeout-s", "20", "--timeout-s", "10"])
        .env_remove("IPCBENCH_TOKEN")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The process list: neither command line carries the token (it is in a file).
    for pid in [h.id(), client.id()] {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&cmdline).contains(TOKEN));
    }
    let out = client.wait_with_output().unwrap();
    let st = wait_for_exit(&mut h, Duration::from_secs(60));
    relay.join().unwrap();
    let host_err = stderr_of(&mut h);
    let client_err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(st.success() && out.status.success(), "{host_err}\n{client_err}");
    let wire = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(wire.contains(r#""type":"proof""#), "the relay saw the handshake");
    assert!(!wire.contains(TOKEN), "the token crossed the wire");
    let results = std::fs::read_to_string(s.out()).unwrap();
    assert_eq!(common::read_json(&s.out())["runs"].as_array().unwrap().len(), 2);
    for (what, text) in [("host log", &host_err), ("client log", &client_err), ("results", &results)] {
        assert!(!text.contains(TOKEN), "the token is in the {what}");
    }
}
