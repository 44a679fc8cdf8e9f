//! Zenoh as a transport (`--transport zenoh`, `zenoh-tcp`, `zenoh-shm`; built with
//! `--features zenoh`): two zenoh sessions in peer mode, one per process, publishing to each
//! other, so that a run measures what the library adds on top of the socket underneath.
//!
//! - **Sessions**: peer mode, multicast and gossip scouting off, one explicit endpoint: the
//!   creator listens on a Unix socket in the socket directory (`unixsock-stream/<path>`; zenoh
//!   keeps a `.lock` file beside it) or, for `zenoh-tcp`, on TCP loopback, and the peer
//!   connects to it. Nothing else is found or contacted.
//! - **Messages**: one publisher and one subscriber per side, on a key expression per direction.
//!   Publishers never drop (`CongestionControl::Block`) and send at once (`express`, as zenoh's
//!   own ping does). A subscriber's samples wait in a FIFO of the ring's slot count; a full FIFO
//!   holds zenoh's receiving thread back, and through the socket the sender. Round trips are a
//!   put each way (a pair of keys), not zenoh's query/reply: see docs/mechanisms.md for why.
//! - **Copies**: `zenoh` and `zenoh-tcp` put a copy of the message (zenoh takes an owned
//!   buffer), and zenoh serialises it into its batch and the socket. `zenoh-shm` allocates each
//!   message in zenoh's shared-memory provider, writes it in place and puts it: only a
//!   descriptor crosses the socket, and the receiver reads the payload in place.
//! - **Waits**: `--wait spin` polls the FIFO (`try_recv`); `block` sleeps in its `recv_timeout`;
//!   `hybrid` polls, then sleeps. Either way zenoh's own runtime threads (tokio, about six per
//!   process) read the socket and fill the FIFO: they share the CPUs with the timed threads.
//! - **Liveness and cleanup**: as for iceoryx2, a Unix liveness socket (which also proves the
//!   test's key) tells a waiter at once that its peer is gone. Closing the session removes
//!   zenoh's socket and lock file. A `zenoh-shm` side keeps its provider until the peer has
//!   let go of every buffer it sent (or is gone): the provider's end invalidates its buffers,
//!   and zenoh silently drops a message whose buffer is invalid. [`remove_own_segments`]
//!   removes, as the process ends, what zenoh and a killed peer left in `/dev/shm`. zenoh's
//!   runtime threads belong to the process and outlive the session, parked.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use ::zenoh::bytes::ZBytes;
use ::zenoh::pubsub::Publisher;
use ::zenoh::sample::Sample;
use ::zenoh::shm::{GarbageCollect, ZShmMut};
use ::zenoh::{Session, Wait};
use anyhow::{Context, Result};

use super::endpoint::ZenohEndpoint;
use super::listener::{self, Listener};
use super::wait::{SpinThenWait, Step};
use super::{Endpoint, Transport, TransportError, TransportResult, WaitStrategy};
use crate::auth::Key;
use crate::cleanup;
use crate::wire::{Header, HEADER_BYTES};

mod segments;
mod session;
mod waiting;

pub use segments::{cleanup, own_segments, remove_own_segments};
use session::{Listen, Provider, Sub};

/// How often a spinning waiter checks that the peer is alive.
const SPIN_CHECK: Duration = Duration::from_millis(1);
/// The longest single sleep in the FIFO; then liveness and the timeout are checked.
const SLEEP_SLICE: Duration = Duration::from_millis(20);
/// How long a receiver whose peer has closed waits for messages still on their way.
const DRAIN: Duration = Duration::from_millis(500);
/// Every how many puts a sender looks whether its peer is still there (one `poll` of the
/// liveness socket; its cost per message was not measured on its own, and no paired run could
/// tell it from noise at zenoh's tens of µs a message).
const LIVENESS_EVERY: u64 = 1024;
/// The peer's word on the liveness socket that its publisher and subscriber are declared.
const READY: u8 = b'R';

/// The library and its version, for the configuration key: `zenoh 1.10.2`.
pub fn library() -> String {
    // GIT_VERSION is `v<crate version>-<commit or "release">`.
    let v = ::zenoh::GIT_VERSION.trim_start_matches('v');
    format!("zenoh {}", v.split('-').next().unwrap_or(v))
}

/// One side's session and its two declarations.
struct Ports {
    tx: Publisher<'static>,
    rx: Sub,
    /// `zenoh-shm`: where outgoing messages are allocated.
    provider: Option<Provider>,
    /// `zenoh-shm`: how many message buffers the provider holds, all free before the first
    /// message.
    provider_buffers: usize,
    session: Session,
}

fn open_ports(session: Session, ep: &ZenohEndpoint, creator: bool) -> Result<Ports> {
    let (tx_key, rx_key) = if creator { (&ep.to_peer, &ep.from_peer) } else { (&ep.from_peer, &ep.to_peer) };
    let rx = session::subscriber(&session, rx_key, ep.slots)?;
    let tx = session::publisher(&session, tx_key)?;
    let provider = if ep.shm { Some(session::provider(ep.size_bytes, ep.slots)?) } else { None };
    let provider_buffers = provider.as_ref().map_or(0, |p| free_buffers(p, ep.size_bytes));
    Ok(Ports { tx, rx, provider, provider_buffers, session })
}

/// The creator's side before the peer has connected: its session listens, its publisher and
/// subscriber are declared.
pub struct ZenohListener {
    endpoint: ZenohEndpoint,
    liveness: Listener,
    ports: Ports,
}

impl ZenohListener {
    /// Opens a session listening on `<name>.zsock` in `socket_dir` (or TCP on `tcp`), and the
    /// liveness socket `liveness`.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        socket_dir: &Path,
        name: &str,
        liveness: &Path,
        tcp: Option<std::net::IpAddr>,
        shm: bool,
        size_bytes: usize,
        slots: usize,
        timeout: Duration,
        mode: u32,
    ) -> Result<Self> {
        let socket = socket_dir.join(format!("{name}.zsock"));
        let listen = match tcp {
            Some(ip) => Listen::Tcp(ip),
            None => {
                cleanup::register_file(&socket);
                cleanup::register_file(&lock_file(&socket));
                Listen::Unix(&socket)
            }
        };
        let session = session::open(Some(listen), None, shm, timeout)?;
        let tcp = match tcp {
            Some(_) => Some(session::tcp_address(&session)?),
            None => {
                // zenoh makes its socket with the process's umask: give it the directory's mode,
                // so a container's user may connect.
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(mode))
                    .with_context(|| format!("setting the mode of {}", socket.display()))?;
                None
            }
        };
        let endpoint = ZenohEndpoint {
            socket: tcp.is_none().then_some(socket),
            tcp,
            to_peer: format!("ipcbench/{name}/i"),
            from_peer: format!("ipcbench/{name}/p"),
            liveness: liveness.to_path_buf(),
            size_bytes,
            slots,
            shm,
        };
        let ports = open_ports(session, &endpoint, true)?;
        let liveness = Listener::bind_unix(liveness, mode)?;
        Ok(ZenohListener { endpoint, liveness, ports })
    }

    pub fn endpoint(&self) -> &ZenohEndpoint {
        &self.endpoint
    }

    pub fn liveness_fd(&self) -> BorrowedFd<'_> {
        self.liveness.fd()
    }

    /// Takes the peer's liveness connection, waits for its word that it has declared its
    /// publisher and subscriber, then for its subscriber to reach this side.
    pub fn accept(self, wait: WaitStrategy, timeout: Duration, key: &Key) -> Result<ZenohTransport> {
        let fd = self.liveness.accept_proven(timeout, key)?;
        drop(self.liveness);
        if !crate::sys::wait_readable(fd.as_fd(), timeout)? {
            anyhow::bail!("the peer declared no zenoh publisher within {timeout:?}");
        }
        let mut byte = [0u8; 1];
        let got = rustix::net::recv(&fd, &mut byte, rustix::net::RecvFlags::empty())
            .context("reading the peer's word on the liveness socket")?;
        if got.0 != 1 || byte[0] != READY {
            anyhow::bail!("the peer closed its liveness socket before declaring its zenoh publisher");
        }
        session::wait_matched(&self.ports.tx, timeout)?;
        Ok(ZenohTransport::new(self.ports, fd, self.endpoint, wait, timeout))
    }
}

/// The lock file zenoh keeps beside a Unix socket it listens on.
fn lock_file(socket: &Path) -> std::path::PathBuf {
    let mut s = socket.as_os_str().to_os_string();
    s.push(".lock");
    s.into()
}

/// Connects the liveness socket and a session to the creator's, declares this side's publisher
/// and subscriber, waits for the creator's subscriber, and says so.
pub fn connect(
    ep: &ZenohEndpoint,
    wait: WaitStrategy,
    timeout: Duration,
    key: &Key,
) -> Result<ZenohTransport> {
    let fd = listener::connect_proven(&Endpoint::Unix(ep.liveness.clone()), timeout, key)
        .with_context(|| format!("connecting the liveness socket {}", ep.liveness.display()))?;
    let locator = match (&ep.socket, ep.tcp) {
        (Some(p), _) => format!("unixsock-stream/{}", p.display()),
        (None, Some(a)) => format!("tcp/{a}"),
        (None, None) => anyhow::bail!("a zenoh endpoint without a locator"),
    };
    let session = session::open(None, Some(&locator), ep.shm, timeout)?;
    let ports = open_ports(session, ep, false)?;
    session::wait_matched(&ports.tx, timeout)?;
    rustix::net::send(&fd, &[READY], rustix::net::SendFlags::NOSIGNAL)
        .context("telling the creator we are ready")?;
    Ok(ZenohTransport::new(ports, fd, ep.clone(), wait, timeout))
}

/// The buffer the next message is written into.
enum Out {
    /// Reused; `put` takes a copy of it.
    Heap(Vec<u8>),
    /// A buffer of the shared-memory provider, allocated by `send_buf`, moved into `put`.
    Shm(Option<ZShmMut>),
}

/// One side of a zenoh channel.
pub struct ZenohTransport {
    // Fields drop in this order: a received sample and an unsent buffer before the session
    // and provider they belong to, the session before the liveness socket.
    sample: Option<Sample>,
    out: Out,
    /// A received payload that arrived in more than one piece, joined.
    joined: Vec<u8>,
    ports: Ports,
    size: usize,
    /// Messages put, for the liveness check.
    puts: u64,
    wait: WaitStrategy,
    timeout: Duration,
    liveness: OwnedFd,
}

impl ZenohTransport {
    fn new(
        ports: Ports,
        liveness: OwnedFd,
        ep: ZenohEndpoint,
        wait: WaitStrategy,
        timeout: Duration,
    ) -> Self {
        let out = if ep.shm { Out::Shm(None) } else { Out::Heap(vec![0; ep.size_bytes]) };
        ZenohTransport {
            sample: None,
            out,
            joined: Vec::with_capacity(ep.size_bytes),
            ports,
            size: ep.size_bytes,
            puts: 0,
            wait,
            timeout,
            liveness,
        }
    }

    fn peer_gone(&self) -> bool {
        crate::sys::wait_readable(self.liveness.as_fd(), Duration::ZERO).unwrap_or(true)
    }

    fn put(&mut self, bytes: ZBytes) -> TransportResult<()> {
        // A put with no subscriber left is dropped without an error, so a sender that never
        // waits (throughput) would not notice a dead peer: it looks every so many messages.
        self.puts = self.puts.wrapping_add(1);
        if self.puts % LIVENESS_EVERY == 0 && self.peer_gone() {
            return Err(TransportError::PeerClosed);
        }
        self.ports.tx.put(bytes).wait().map_err(|e| {
            if self.peer_gone() {
                TransportError::PeerClosed
            } else {
                io_err(format!("zenoh put: {e}"))
            }
        })
    }

    /// A shared-memory buffer for one message, waiting (as the wait strategy says) while every
    /// buffer is still held by the peer or zenoh.
    fn alloc(&self) -> TransportResult<ZShmMut> {
        let provider = self.ports.provider.as_ref().expect("zenoh-shm has a provider");
        let mut w = SpinThenWait::new(self.wait, self.timeout).checking_every(SPIN_CHECK);
        loop {
            if let Ok(buf) = provider.alloc(self.size).with_policy::<GarbageCollect>().wait() {
                return Ok(buf);
            }
            match w.step() {
                Step::Again => {}
                Step::Check => self.check_alive(&mut w)?,
                Step::Sleep(_) => {
                    std::thread::sleep(Duration::from_micros(50));
                    self.check_alive(&mut w)?;
                }
                Step::Elapsed => return Err(TransportError::Timeout(w.limit())),
            }
        }
    }

    /// The next sample, waiting as the wait strategy says.
    #[inline]
    fn next_sample(&mut self) -> TransportResult<Sample> {
        match self.ports.rx.try_recv() {
            Ok(Some(s)) => Ok(s),
            Ok(None) => self.next_sample_slow(),
            Err(e) => Err(io_err(format!("zenoh subscriber: {e}"))),
        }
    }
}

impl Drop for ZenohTransport {
    fn drop(&mut self) {
        self.sample = None;
        self.out = Out::Heap(Vec::new());
        // Closing undeclares, flushes and closes the link; zenoh removes its socket files.
        // It also lets go of every buffer of the peer's that this side still held.
        let _ = self.ports.session.close().wait();
        // Our segments go with the provider. A killed peer's are removed as the process ends
        // (`cleanup::at_exit`, `run_all`), not here: finding them takes an exclusive lock on
        // every segment for a moment, and a process opening one at that moment (another run's,
        // on the same machine) would fail to, and lose the message it came with.
        if let Some(provider) = self.ports.provider.take() {
            self.linger(&provider);
        }
    }
}

impl ZenohTransport {
    /// `zenoh-shm`: waits until the peer has let go of every buffer this side sent, or has
    /// gone, or the timeout has passed. Dropping the provider invalidates the buffers still
    /// out, and zenoh drops a message whose buffer is invalid without a word: the last
    /// messages (the stop, its answer) would be lost on a peer that has not read them yet.
    fn linger(&self, provider: &Provider) {
        let deadline = std::time::Instant::now() + self.timeout;
        while free_buffers(provider, self.size) < self.ports.provider_buffers
            && !self.peer_gone()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// How many message buffers `provider` gives out now: with none in use, as many as when it was
/// made. (zenoh's default provider does not count its free bytes.)
fn free_buffers(provider: &Provider, size: usize) -> usize {
    let mut held = Vec::new();
    while let Ok(b) = provider.alloc(size).with_policy::<GarbageCollect>().wait() {
        held.push(b);
    }
    held.len()
}

fn io_err(text: String) -> TransportError {
    TransportError::Io(std::io::Error::other(text))
}

impl Transport for ZenohTransport {
    fn send_buf(&mut self) -> TransportResult<&mut [u8]> {
        if let Out::Shm(None) = self.out {
            self.out = Out::Shm(Some(self.alloc()?));
        }
        Ok(match &mut self.out {
            Out::Heap(v) => &mut v[HEADER_BYTES..],
            Out::Shm(b) => &mut b.as_mut().expect("allocated above")[HEADER_BYTES..],
        })
    }

    fn send(&mut self, h: Header) -> TransportResult<()> {
        let bytes = match &mut self.out {
            Out::Heap(v) => {
                h.write(v);
                ZBytes::from(&v[..])
            }
            Out::Shm(b) => {
                let mut buf = b.take().expect("send_buf before send");
                h.write(&mut buf);
                ZBytes::from(buf)
            }
        };
        self.put(bytes)
    }

    fn recv(&mut self) -> TransportResult<&[u8]> {
        self.sample = None;
        let s = self.next_sample()?;
        let payload = self.sample.insert(s).payload();
        let mut slices = payload.slices();
        let whole = match (slices.next(), slices.next()) {
            (Some(one), None) => one,
            _ => {
                self.joined.clear();
                payload.slices().for_each(|s| self.joined.extend_from_slice(s));
                &self.joined
            }
        };
        if whole.len() < HEADER_BYTES {
            return Err(TransportError::Malformed(format!("a {}-byte zenoh sample", whole.len())));
        }
        Ok(whole)
    }

    fn release(&mut self) {
        self.sample = None;
    }

    fn echo(&mut self) -> TransportResult<Header> {
        let s = self.next_sample()?;
        let payload = s.payload();
        let header;
        let bytes = match &mut self.out {
            Out::Heap(v) => {
                copy_into(payload, v)?;
                header = Header::read(v);
                ZBytes::from(&v[..])
            }
            Out::Shm(_) => {
                let mut buf = self.alloc()?;
                copy_into(payload, &mut buf)?;
                header = Header::read(&buf);
                ZBytes::from(buf)
            }
        };
        drop(s);
        self.put(bytes)?;
        Ok(header)
    }
}

/// Copies a received payload into `out`, which must be its size.
fn copy_into(payload: &ZBytes, out: &mut [u8]) -> TransportResult<()> {
    if payload.len() != out.len() {
        return Err(TransportError::Malformed(format!(
            "a {}-byte zenoh sample, expected {}",
            payload.len(),
            out.len()
        )));
    }
    let mut at = 0;
    for s in payload.slices() {
        out[at..at + s.len()].copy_from_slice(s);
        at += s.len();
    }
    Ok(())
}
