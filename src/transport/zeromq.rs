//! ZeroMQ as a transport (`--transport zeromq` over `ipc://`, `zeromq-tcp` over `tcp://`, built
//! with `--features zeromq`): libzmq's sockets between the two processes, measured with the
//! same method as the mechanisms underneath them (`uds`, `tcp`).
//!
//! - **Sockets**: a pair is one `PAIR` socket a side; the creator binds `ipc://` in the socket
//!   directory (or `tcp://` on the data address, port chosen by the kernel), the peer connects.
//!   A fan-out ([`fan`]) is one `XPUB` with N `SUB`s and a `PAIR` per subscriber for its
//!   acknowledgements.
//! - **Messages**: one libzmq message ([`msg::Msg`]) of the configured size. `send_buf` lends a
//!   buffer of ours; `send` copies it into a message libzmq allocates (`zmq_msg_init_size`) and
//!   hands that over without a further copy. An echo sends back the very message it received.
//!   A send that finds the high-water mark reached keeps its message and tries again.
//! - **Waits**: `--wait spin` polls with `ZMQ_DONTWAIT`; `block` uses libzmq's blocking
//!   receive (and send), in slices of [`SLICE_MS`] (`ZMQ_RCVTIMEO`/`ZMQ_SNDTIMEO`) between
//!   which the peer's liveness and the timeout are checked; `hybrid` spins, then blocks so.
//! - **Liveness**: libzmq hides a peer's disconnection (a `PAIR` waits for a peer forever), so
//!   a Unix liveness socket, as the shm ring has, proves the peer's session and tells a waiter
//!   at once that it is gone.
//! - **Cleanup**: every socket has `ZMQ_LINGER` 0, so closing drops what is queued, except a
//!   sending socket whose peer is alive, which may wait up to [`DRAIN_MS`] (so that a stream's
//!   last messages, its stop among them, are not lost). The context is dropped last, which
//!   joins libzmq's I/O and reaper threads. libzmq leaves an `ipc://` file behind when its
//!   socket closes (it unlinks only those of its own wildcard binds), so ours are registered
//!   for Ctrl-C and removed once the context is gone.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};

use super::endpoint::{ZmqAddr, ZmqEndpoint};
use super::listener::{self, Listener};
use super::wait::{SpinThenWait, Step};
use super::{Endpoint, Transport, TransportError, TransportResult, WaitStrategy};
use crate::auth::Key;
use crate::wire::{Header, HEADER_BYTES};

mod fan;
mod msg;
pub use fan::{ZmqFanListener, ZmqFanOut};
use msg::Msg;

/// The library and its version, for the configuration key: libzmq's own version call (the
/// zmq crate builds the libzmq its zmq-sys pins, statically).
pub fn library() -> String {
    let (major, minor, patch) = zmq::version();
    format!("libzmq {major}.{minor}.{patch}")
}

/// The longest single blocking receive or send; then liveness and the timeout are checked.
pub const SLICE_MS: i32 = 20;
/// How often a spinning waiter checks that the peer is alive.
const SPIN_CHECK: Duration = Duration::from_millis(1);
/// How long closing a socket may wait to hand libzmq's queue to the kernel while the peer is
/// alive: a throughput run's sender closes right after its last messages (the stop among
/// them), which linger 0 would discard.
const DRAIN_MS: i32 = 2000;
/// The word a peer sends on its liveness socket once its sockets are connected.
const READY: u8 = b'R';

/// A libzmq error as a transport error.
fn zio(what: &str, e: zmq::Error) -> TransportError {
    TransportError::Io(std::io::Error::other(format!("zeromq {what}: {e}")))
}

/// A socket of `kind` in `ctx`, with linger 0 and the blocking slices. A context's first
/// socket starts its I/O thread: on any CPU the process started with, not the caller's pinned one.
fn socket(ctx: &zmq::Context, kind: zmq::SocketType) -> Result<zmq::Socket> {
    let s = crate::sys::with_start_cpus(|| ctx.socket(kind)).context("creating a zeromq socket")?;
    s.set_linger(0)?;
    s.set_rcvtimeo(SLICE_MS)?;
    s.set_sndtimeo(SLICE_MS)?;
    Ok(s)
}

fn url(addr: &ZmqAddr) -> String {
    match addr {
        ZmqAddr::Ipc(p) => format!("ipc://{}", p.display()),
        ZmqAddr::Tcp(a) => format!("tcp://{a}"),
    }
}

/// Binds `s` at `addr` and returns the address bound (a TCP port 0 becomes the kernel's
/// choice). An `ipc://` file gets `mode` (the socket directory may be shared with a group)
/// and is registered for removal.
fn bind(s: &zmq::Socket, addr: ZmqAddr, mode: u32) -> Result<ZmqAddr> {
    let u = url(&addr);
    if let ZmqAddr::Ipc(p) = &addr {
        crate::cleanup::register_file(p);
    }
    s.bind(&u).with_context(|| format!("binding a zeromq socket at {u}"))?;
    match addr {
        ZmqAddr::Ipc(p) => {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
                .with_context(|| format!("setting the mode of {}", p.display()))?;
            Ok(ZmqAddr::Ipc(p))
        }
        ZmqAddr::Tcp(_) => {
            let bound = s.get_last_endpoint()?.map_err(|_| anyhow::anyhow!("zeromq bound no address"))?;
            let addr = bound.strip_prefix("tcp://").unwrap_or(&bound);
            Ok(ZmqAddr::Tcp(addr.parse().with_context(|| format!("zeromq bound {bound}"))?))
        }
    }
}

/// The `ipc://` files a side bound, removed when it is dropped (after its sockets and context).
#[derive(Default)]
struct BoundFiles(Vec<PathBuf>);

impl BoundFiles {
    fn of(addrs: &[&ZmqAddr]) -> BoundFiles {
        BoundFiles(
            addrs
                .iter()
                .filter_map(|a| match a {
                    ZmqAddr::Ipc(p) => Some(p.clone()),
                    ZmqAddr::Tcp(_) => None,
                })
                .collect(),
        )
    }
}

impl Drop for BoundFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            crate::cleanup::remove_file(p);
        }
    }
}

/// Where the creator binds: `ipc://` at `ipc` or `tcp://` on `ip`, port chosen by the kernel.
pub fn addr(tcp: bool, ipc: &Path, ip: std::net::IpAddr) -> ZmqAddr {
    if tcp {
        ZmqAddr::Tcp((ip, 0).into())
    } else {
        ZmqAddr::Ipc(ipc.to_path_buf())
    }
}

/// The creator's side before the peer has connected: its socket bound, its liveness socket
/// listening.
pub struct ZmqListener {
    endpoint: ZmqEndpoint,
    liveness: Listener,
    socket: zmq::Socket,
    // The context closes before the files are removed (as in `ZmqTransport`).
    ctx: zmq::Context,
    files: BoundFiles,
}

impl ZmqListener {
    /// Binds a `PAIR` at `data` and the liveness socket at `liveness`.
    pub fn create(data: ZmqAddr, liveness: &Path, mode: u32) -> Result<Self> {
        let ctx = zmq::Context::new();
        let socket = socket(&ctx, zmq::PAIR)?;
        let data = bind(&socket, data, mode)?;
        let files = BoundFiles::of(&[&data]);
        let liveness_listener = Listener::bind_unix(liveness, mode)?;
        let endpoint = ZmqEndpoint { data, ack: None, liveness: liveness.to_path_buf() };
        Ok(ZmqListener { endpoint, liveness: liveness_listener, socket, files, ctx })
    }

    pub fn endpoint(&self) -> &ZmqEndpoint {
        &self.endpoint
    }

    pub fn liveness_fd(&self) -> BorrowedFd<'_> {
        self.liveness.fd()
    }

    /// Takes the peer's proven liveness connection and waits for its word that it connected.
    pub fn accept(
        self,
        size: usize,
        wait: WaitStrategy,
        timeout: Duration,
        key: &Key,
    ) -> Result<ZmqTransport> {
        let fd = accept_ready(&self.liveness, timeout, key, "the peer")?;
        drop(self.liveness);
        Ok(ZmqTransport::new(self.socket, None, fd, self.files, self.ctx, size, wait, timeout))
    }
}

/// Accepts the proven connection on `liveness` and reads the peer's ready word.
fn accept_ready(liveness: &Listener, timeout: Duration, key: &Key, who: &str) -> Result<OwnedFd> {
    let fd = liveness.accept_proven(timeout, key)?;
    if !crate::sys::wait_readable(fd.as_fd(), timeout)? {
        anyhow::bail!("{who} connected no zeromq socket within {timeout:?}");
    }
    let mut byte = [0u8; 1];
    let got = rustix::net::recv(&fd, &mut byte, rustix::net::RecvFlags::empty())
        .with_context(|| format!("reading {who}'s word on the liveness socket"))?;
    if got.0 != 1 || byte[0] != READY {
        anyhow::bail!("{who} closed its liveness socket before connecting its zeromq socket");
    }
    Ok(fd)
}

/// Connects the liveness socket (proving `key`), then the zeromq sockets: a `PAIR` to the
/// creator's, or for a fan-out subscriber a `SUB` to the publisher and a `PAIR` to its
/// acknowledgement socket; and says so.
pub fn connect(
    ep: &ZmqEndpoint,
    size: usize,
    wait: WaitStrategy,
    timeout: Duration,
    key: &Key,
) -> Result<ZmqTransport> {
    let fd = listener::connect_proven(&Endpoint::Unix(ep.liveness.clone()), timeout, key)
        .with_context(|| format!("connecting the liveness socket {}", ep.liveness.display()))?;
    let ctx = zmq::Context::new();
    let (tx, rx) = match &ep.ack {
        None => {
            let pair = socket(&ctx, zmq::PAIR)?;
            pair.connect(&url(&ep.data)).with_context(|| format!("connecting to {}", url(&ep.data)))?;
            (pair, None)
        }
        Some(ack) => {
            let sub = socket(&ctx, zmq::SUB)?;
            sub.set_subscribe(b"")?;
            sub.connect(&url(&ep.data)).with_context(|| format!("subscribing to {}", url(&ep.data)))?;
            let pair = socket(&ctx, zmq::PAIR)?;
            pair.connect(&url(ack)).with_context(|| format!("connecting to {}", url(ack)))?;
            (pair, Some(sub))
        }
    };
    rustix::net::send(&fd, &[READY], rustix::net::SendFlags::NOSIGNAL)
        .context("telling the creator we are ready")?;
    Ok(ZmqTransport::new(tx, rx, fd, BoundFiles::default(), ctx, size, wait, timeout))
}

/// One side of a zeromq channel.
pub struct ZmqTransport {
    // Fields drop in this order: messages, sockets, the context (joining libzmq's threads),
    // then the removal of the `ipc://` files this side bound.
    out: Vec<u8>,
    pending: Option<Msg>,
    inbox: Msg,
    tx: zmq::Socket,
    /// A fan-out subscriber's `SUB`; `None` where `tx` (a `PAIR`) receives too.
    rx: Option<zmq::Socket>,
    liveness: OwnedFd,
    size: usize,
    wait: WaitStrategy,
    timeout: Duration,
    _ctx: zmq::Context,
    _files: BoundFiles,
}

impl ZmqTransport {
    #[allow(clippy::too_many_arguments)]
    fn new(
        tx: zmq::Socket,
        rx: Option<zmq::Socket>,
        liveness: OwnedFd,
        files: BoundFiles,
        ctx: zmq::Context,
        size: usize,
        wait: WaitStrategy,
        timeout: Duration,
    ) -> ZmqTransport {
        ZmqTransport {
            out: vec![0; size],
            pending: None,
            inbox: Msg::new(),
            tx,
            rx,
            liveness,
            size,
            wait,
            timeout,
            _ctx: ctx,
            _files: files,
        }
    }

    /// Receives the next message into `inbox`, checking its size.
    #[inline]
    fn receive(&mut self) -> TransportResult<()> {
        let socket = self.rx.as_mut().unwrap_or(&mut self.tx);
        let live = self.liveness.as_fd();
        recv_wait(socket, &mut self.inbox, || peer_gone(live), self.wait, self.timeout)?;
        let got = self.inbox.bytes().len();
        if got < self.size {
            return Err(TransportError::Malformed(format!(
                "a {got}-byte zeromq message, expected {}",
                self.size
            )));
        }
        Ok(())
    }
}

impl Drop for ZmqTransport {
    fn drop(&mut self) {
        drain_on_close(&self.tx, self.liveness.as_fd());
    }
}

/// Lets closing `socket` wait up to [`DRAIN_MS`] for what it has queued, if the peer behind
/// `liveness` is alive to read it (linger stays 0 otherwise).
fn drain_on_close(socket: &zmq::Socket, liveness: BorrowedFd<'_>) {
    if !crate::sys::wait_readable(liveness, Duration::ZERO).unwrap_or(true) {
        let _ = socket.set_linger(DRAIN_MS);
    }
}

/// Tries `op` as `wait` says until it succeeds: `op(ZMQ_DONTWAIT)` while spinning, `op(0)` (a
/// blocking call of at most [`SLICE_MS`]) while sleeping; `Ok(false)` means it would block.
/// `gone` (checked between tries) saying the peer is gone ends the wait, after one last
/// blocking try, for what it sent before it went, when `incoming`.
#[inline]
fn wait_until(
    mut op: impl FnMut(i32) -> TransportResult<bool>,
    gone: impl FnMut() -> TransportResult<bool>,
    wait: WaitStrategy,
    timeout: Duration,
    incoming: bool,
) -> TransportResult<()> {
    if wait != WaitStrategy::Block && op(zmq::DONTWAIT)? {
        return Ok(());
    }
    wait_slow(op, gone, wait, timeout, incoming)
}

#[inline(never)]
fn wait_slow(
    mut op: impl FnMut(i32) -> TransportResult<bool>,
    mut gone: impl FnMut() -> TransportResult<bool>,
    wait: WaitStrategy,
    timeout: Duration,
    incoming: bool,
) -> TransportResult<()> {
    let mut w = SpinThenWait::new(wait, timeout).checking_every(SPIN_CHECK);
    let mut ended = |op: &mut dyn FnMut(i32) -> TransportResult<bool>| -> TransportResult<bool> {
        if !gone()? {
            return Ok(false);
        }
        if incoming && op(0)? {
            return Ok(true);
        }
        Err(TransportError::PeerClosed)
    };
    loop {
        let done = match w.step() {
            Step::Again => op(zmq::DONTWAIT)?,
            Step::Check => ended(&mut op)? || op(zmq::DONTWAIT)?,
            Step::Sleep(_) => op(0)? || ended(&mut op)?,
            Step::Elapsed => {
                if ended(&mut op)? || op(zmq::DONTWAIT)? {
                    return Ok(());
                }
                return Err(TransportError::Timeout(w.limit()));
            }
        };
        if done {
            return Ok(());
        }
    }
}

/// Whether the peer behind the liveness socket `fd` is gone.
fn peer_gone(fd: BorrowedFd<'_>) -> TransportResult<bool> {
    Ok(crate::sys::wait_readable(fd, Duration::ZERO)?)
}

/// Whether a libzmq call's error means "try again" (would block, or a signal).
fn again(e: zmq::Error) -> bool {
    matches!(e, zmq::Error::EAGAIN | zmq::Error::EINTR)
}

/// Receives into `msg` from `socket` (see [`wait_until`]).
#[inline]
fn recv_wait(
    socket: &mut zmq::Socket,
    msg: &mut Msg,
    gone: impl FnMut() -> TransportResult<bool>,
    wait: WaitStrategy,
    timeout: Duration,
) -> TransportResult<()> {
    let op = |flags| match msg.recv(socket, flags) {
        Ok(()) => Ok(true),
        Err(e) if again(e) => Ok(false),
        Err(e) => Err(zio("receive", e)),
    };
    wait_until(op, gone, wait, timeout, true)
}

/// Sends `msg` on `socket` (see [`wait_until`]); a send that would block keeps the message.
#[inline]
fn send_wait(
    socket: &mut zmq::Socket,
    msg: &mut Msg,
    gone: impl FnMut() -> TransportResult<bool>,
    wait: WaitStrategy,
    timeout: Duration,
) -> TransportResult<()> {
    let op = |flags| match msg.send(socket, flags) {
        Ok(()) => Ok(true),
        Err(e) if again(e) => Ok(false),
        Err(e) => Err(zio("send", e)),
    };
    wait_until(op, gone, wait, timeout, false)
}

impl Transport for ZmqTransport {
    fn send_buf(&mut self) -> TransportResult<&mut [u8]> {
        Ok(&mut self.out[HEADER_BYTES..])
    }

    fn send(&mut self, h: Header) -> TransportResult<()> {
        h.write(&mut self.out);
        let msg = self.pending.insert(Msg::copy_of(&self.out).map_err(|e| zio("message", e))?);
        let live = self.liveness.as_fd();
        send_wait(&mut self.tx, msg, || peer_gone(live), self.wait, self.timeout)?;
        self.pending = None;
        Ok(())
    }

    fn recv(&mut self) -> TransportResult<&[u8]> {
        self.receive()?;
        Ok(self.inbox.bytes())
    }

    fn release(&mut self) {}

    fn echo(&mut self) -> TransportResult<Header> {
        self.receive()?;
        let header = Header::read(self.inbox.bytes());
        // The received message goes back as it is: libzmq takes it over without a copy.
        let live = self.liveness.as_fd();
        send_wait(&mut self.tx, &mut self.inbox, || peer_gone(live), self.wait, self.timeout)?;
        Ok(header)
    }
}
