//! The initiator's peer: a child `ipcbench peer` on a pipe pair (`run`), or an `ipcbench client`
//! that connects to the control socket (`host`); how it ended, when we started it.

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::{Channel, ControlError};

/// How long a new control connection may take to say hello before it is dropped.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(2);
use crate::cleanup;
use crate::config::RunConfig;
use crate::transport::{Endpoint, Listener, TransportError};

/// The peer: its control channel, and the child process when we started it.
pub struct Peer {
    pub channel: Channel,
    child: Option<Child>,
    /// Where TCP and UDP data channels listen for this peer (the control connection's local
    /// address, over TCP control); `None`: loopback.
    pub data_ip: Option<std::net::IpAddr>,
}

/// How the host waits for its client.
#[derive(Clone, Debug)]
pub struct ClientSource {
    /// How long to wait for a client that completes the hello.
    pub wait: Duration,
    /// Where to listen: the Unix socket `<socket-dir>/ipcbench.ctl` by default, or TCP.
    pub control: Endpoint,
    /// The token a client must present, if any.
    pub token: Option<String>,
}

impl Peer {
    /// Starts `ipcbench peer` with the control channel on its stdin/stdout.
    pub fn spawn(cfg: &RunConfig) -> Result<Peer> {
        let exe = std::env::current_exe().context("locating the ipcbench binary to start the peer")?;
        let mut child = Command::new(&exe)
            .args(["peer", "--timeout-s", &cfg.timeout.as_secs().to_string(), "--socket-dir"])
            .arg(&cfg.socket_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group: Ctrl-C reaches only us, and we stop the peer ourselves.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting the peer process {}", exe.display()))?;
        cleanup::register_child(child.id());
        let rx: OwnedFd = child.stdout.take().expect("piped").into();
        let tx: OwnedFd = child.stdin.take().expect("piped").into();
        Ok(Peer { channel: Channel::new(rx, tx, "peer", cfg.timeout), child: Some(child), data_ip: None })
    }

    /// Listens on the control endpoint and waits up to `c.wait` for `n` clients that complete
    /// the hello (one; or fan-out, fan-in, many-clients: one container per peer); returns them
    /// with their hellos, in the order they completed it. A connection that fails the hello
    /// (garbage, a wrong magic or version, a missing or wrong token, an oversized frame, silence
    /// past [`HELLO_TIMEOUT`]) is dropped with a one-line reason on stderr, and the wait goes
    /// on: a stray process that can reach the socket cannot end the session.
    pub fn accept_clients(
        cfg: &RunConfig,
        c: &ClientSource,
        n: usize,
    ) -> Result<Vec<(Peer, super::Message)>> {
        let listener = match &c.control {
            Endpoint::Unix(path) => Listener::bind_unix(path, cfg.channels.file_mode)?,
            Endpoint::Tcp(addr) => Listener::bind_tcp(*addr)?,
            other => bail!("{other} is not a control endpoint (tcp:// or unix://)"),
        };
        let wait = c.wait;
        let at = listener.endpoint()?;
        if !cfg.outputs.quiet {
            let many = if n > 1 { format!("{n} ipcbench clients") } else { "an ipcbench client".to_string() };
            eprintln!("waiting up to {wait:?} for {many} on {at}");
        }
        let deadline = Instant::now() + wait;
        let (mut dropped, mut last) = (0u32, String::new());
        let mut peers = Vec::with_capacity(n);
        while peers.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(fd) = listener.accept(left) else {
                let why = if dropped > 0 {
                    format!(" (dropped {dropped} connection(s) that failed the hello; the last: {last})")
                } else {
                    String::new()
                };
                let got = if n > 1 { format!(" ({} of {n} connected)", peers.len()) } else { String::new() };
                bail!("no ipcbench client connected to {at} within {wait:?}{got}{why}");
            };
            // Across hosts, data channels listen where the client reached us.
            let data_ip = rustix::net::getsockname(&fd).ok().and_then(|a| {
                std::net::SocketAddr::try_from(a)
                    .ok()
                    .map(|a| a.ip())
                    .filter(|_| matches!(c.control, Endpoint::Tcp(_)))
            });
            let tx = fd.try_clone().context("duplicating the control socket")?;
            let mut channel = Channel::new(fd, tx, "client", cfg.timeout);
            match channel.initiate_session(HELLO_TIMEOUT.min(cfg.timeout), c.token.as_deref()) {
                Ok(hello) => peers.push((Peer { channel, child: None, data_ip }, hello)),
                Err(e) => {
                    eprintln!("note: dropped a control connection that failed the hello: {e}");
                    (dropped, last) = (dropped + 1, e.to_string());
                }
            }
        }
        drop(listener); // removes a control socket file
        Ok(peers)
    }

    /// After a data-channel failure: the peer's own explanation if it sent one, else the
    /// transport error itself.
    pub fn transport_failure(&mut self, e: TransportError) -> anyhow::Error {
        if let Err(ControlError::Remote { message, .. }) =
            self.channel.recv_within("error", Duration::from_millis(300))
        {
            return anyhow!("{e}: the peer reported: {message}");
        }
        anyhow::Error::from(e)
    }

    /// Adds how the peer process ended, when we started it and it has, to an error.
    pub fn explain(&mut self, e: anyhow::Error) -> anyhow::Error {
        let Some(child) = self.child.as_mut() else { return e };
        let deadline = Instant::now() + Duration::from_millis(300);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                // Reaped: its pid may be reused, so the Ctrl-C handler must not kill it.
                cleanup::forget_child(child.id());
                return e.context(format!("peer process exited ({status})"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if crate::sys::process_stopped(child.id()) {
            return e.context("the peer process is stopped (SIGSTOP, or a debugger holds it)");
        }
        e
    }

    /// Stops a peer we started at once (kill and reap), before the channels it would report
    /// failing on are closed: after another peer's failure, its own error would only be noise.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
            cleanup::forget_child(child.id());
        }
    }

    /// After `Bye`: waits for a child peer to exit.
    pub fn finish(mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else { return Ok(()) };
        let deadline = Instant::now() + self.channel.timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                cleanup::forget_child(child.id());
                if !status.success() {
                    bail!("the peer process exited with {status}");
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("the peer process did not exit within {:?} after the last run", self.channel.timeout);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
            cleanup::forget_child(child.id());
        }
    }
}
