//! Datagram transports: UDP over 127.0.0.1 and Unix datagram sockets. One message is one
//! datagram. Datagrams can be lost (a full receive buffer drops them) and, for UDP in general,
//! reordered: a receiver waits at most the loss timeout for each message and then reports it
//! [`TransportError::Lost`], so a lost datagram is counted, never waited for forever.
//!
//! Setup: the initiator binds; the peer binds its own socket, connects to the initiator's and
//! sends a short hello until the initiator, which then connects back, acknowledges it. Hellos
//! and acks are shorter than any message and are skipped if a duplicate arrives later.

use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rustix::io::Errno;
use rustix::net::sockopt;

use super::endpoint::DgramAddr;
use super::wait::{SpinThenWait, Step};
use super::{Transport, TransportError, TransportResult, WaitStrategy};
use crate::auth::Key;
use crate::cleanup;
use crate::sys;
use crate::wire::{Header, HEADER_BYTES};

const HELLO: &[u8] = b"ipcb-hi";
const ACK: &[u8] = b"ipcb-ok";
/// The listener's answer to a hello: this prefix and the sender's challenge.
const CHALLENGE: &[u8] = b"ipcb-ch";
/// The peer's proof: this prefix and the first [`CHALLENGE_BYTES`] of its answer
/// ([`crate::auth::Key::answer`]). Eight bytes keep every setup datagram shorter than the
/// smallest message (the 16-byte header), so a late one is skipped like a late hello; a
/// forger then has one chance in 2^64 per datagram, within one test's accept.
const PROOF: &[u8] = b"ipcb-pr";
const CHALLENGE_BYTES: usize = 8;
/// Socket buffers asked for (the kernel caps them at net.core.[rw]mem_max x 2).
const BUFFER_BYTES: usize = 4 << 20;

/// The initiator's datagram socket before the peer has said hello.
pub struct DgramListener {
    fd: OwnedFd,
    /// Our socket file (Unix datagrams), removed on drop.
    path: Option<PathBuf>,
    addr: DgramAddr,
}

impl DgramListener {
    /// Binds UDP on `ip`, an ephemeral port.
    pub fn bind_udp(ip: std::net::IpAddr) -> Result<DgramListener> {
        let s = UdpSocket::bind((ip, 0)).with_context(|| format!("binding UDP on {ip}"))?;
        let addr = DgramAddr::Udp(s.local_addr()?);
        Ok(DgramListener { fd: s.into(), path: None, addr })
    }

    pub fn bind_unix(path: &Path, mode: u32) -> Result<DgramListener> {
        let fd = bind_unix_dgram(path, mode)?;
        Ok(DgramListener { fd, path: Some(path.to_path_buf()), addr: DgramAddr::Unix(path.to_path_buf()) })
    }

    pub fn addr(&self) -> &DgramAddr {
        &self.addr
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Waits for the peer's hello, challenges its sender, and once a sender answers with
    /// `key` ([`crate::auth`]) connects back to it and acknowledges. Datagrams from anyone
    /// else are counted, named in one note, and ignored; a connected socket then takes
    /// datagrams from the peer alone.
    pub fn accept(
        mut self,
        size: usize,
        wait: WaitStrategy,
        timeout: Duration,
        loss: Duration,
        key: &Key,
    ) -> Result<DgramTransport> {
        let deadline = Instant::now() + timeout;
        // Each sender's challenge is a tag of its address under a key of this listener's:
        // nothing to remember per sender, and an answer seen on the wire is worth nothing
        // from any other address.
        let salt = Key::random()?;
        let challenge_for = |from: &str| -> [u8; CHALLENGE_BYTES] {
            salt.answer(from.as_bytes())[..CHALLENGE_BYTES].try_into().expect("a tag is longer")
        };
        let mut ignored = 0u32;
        let mut buf = [0u8; 64];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !sys::wait_readable(self.fd.as_fd(), left)? {
                let why = if ignored > 0 {
                    format!(" (ignored {ignored} datagram(s) from other senders)")
                } else {
                    String::new()
                };
                bail!("the peer did not say hello on {:?} within {timeout:?}{why}", self.addr);
            }
            let (n, from) = self.recv_from(&mut buf)?;
            let Some(from) = from else {
                ignored += 1;
                continue;
            };
            let name = from.name();
            let msg = &buf[..n];
            if msg == HELLO {
                let mut ch = [0u8; CHALLENGE.len() + CHALLENGE_BYTES];
                ch[..CHALLENGE.len()].copy_from_slice(CHALLENGE);
                ch[CHALLENGE.len()..].copy_from_slice(&challenge_for(&name));
                from.send_to(&self.fd, &ch);
                continue;
            }
            let proven = msg.len() == PROOF.len() + CHALLENGE_BYTES
                && msg.starts_with(PROOF)
                && key.answer(&challenge_for(&name))[..CHALLENGE_BYTES] == msg[PROOF.len()..];
            if !proven {
                ignored += 1;
                if ignored == 1 {
                    eprintln!(
                        "note: ignoring datagrams on {:?} from {name}: not this session's peer",
                        self.addr
                    );
                }
                continue;
            }
            from.connect(&self.fd)?;
            rustix::io::write(&self.fd, ACK)?;
            if ignored > 0 {
                eprintln!("note: ignored {ignored} datagram(s) on {:?} from other senders", self.addr);
            }
            let fd = self.fd.try_clone()?;
            // Our socket file stays until the transport is dropped: the peer sends to it.
            let path = self.path.take();
            return DgramTransport::new(fd, path, size, wait, timeout, loss).map_err(Into::into);
        }
    }

    /// One datagram and its sender (`None`: an unnamed Unix sender, which cannot be answered).
    fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, Option<Sender>)> {
        Ok(match &self.addr {
            DgramAddr::Udp(_) => {
                let s = UdpSocket::from(self.fd.try_clone()?);
                let (n, from) = s.recv_from(buf)?;
                (n, Some(Sender::Udp(from)))
            }
            DgramAddr::Unix(_) => {
                let s = UnixDatagram::from(self.fd.try_clone()?);
                let (n, from) = s.recv_from(buf)?;
                (n, from.as_pathname().map(|p| Sender::Unix(p.to_path_buf())))
            }
        })
    }
}

/// Who sent a datagram to a listener.
enum Sender {
    Udp(std::net::SocketAddr),
    Unix(PathBuf),
}

impl Sender {
    fn name(&self) -> String {
        match self {
            Sender::Udp(a) => a.to_string(),
            Sender::Unix(p) => p.display().to_string(),
        }
    }

    /// Best effort: a challenge that does not arrive is sent again on the next hello.
    fn send_to(&self, fd: &OwnedFd, msg: &[u8]) {
        let Ok(fd) = fd.try_clone() else { return };
        let _ = match self {
            Sender::Udp(a) => UdpSocket::from(fd).send_to(msg, a).map(drop),
            Sender::Unix(p) => UnixDatagram::from(fd).send_to(msg, p).map(drop),
        };
    }

    fn connect(&self, fd: &OwnedFd) -> Result<()> {
        match self {
            Sender::Udp(a) => UdpSocket::from(fd.try_clone()?).connect(a)?,
            Sender::Unix(p) => UnixDatagram::from(fd.try_clone()?).connect(p)?,
        }
        Ok(())
    }
}

impl Drop for DgramListener {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            cleanup::remove_file(p);
        }
    }
}

fn bind_unix_dgram(path: &Path, mode: u32) -> Result<OwnedFd> {
    if std::fs::symlink_metadata(path).is_ok() {
        bail!("{} already exists; refusing to replace it", path.display());
    }
    let s = UnixDatagram::bind(path)
        .with_context(|| format!("binding Unix datagram socket {}", path.display()))?;
    cleanup::register_file(path);
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
        .with_context(|| format!("setting mode {mode:o} on {}", path.display()))?;
    Ok(s.into())
}

/// The peer's side: binds (a socket file `own` for Unix datagrams), says hello until
/// acknowledged.
pub fn connect(
    to: &DgramAddr,
    own: Option<(&Path, u32)>,
    size: usize,
    wait: WaitStrategy,
    timeout: Duration,
    loss: Duration,
    key: &Key,
) -> Result<DgramTransport> {
    let (fd, path): (OwnedFd, Option<PathBuf>) = match to {
        DgramAddr::Udp(a) => {
            // Loopback for a loopback peer; otherwise any local address, the route decides.
            let ip: std::net::IpAddr =
                if a.ip().is_loopback() { Ipv4Addr::LOCALHOST.into() } else { Ipv4Addr::UNSPECIFIED.into() };
            let s = UdpSocket::bind((ip, 0)).with_context(|| format!("binding UDP on {ip}"))?;
            s.connect(a).with_context(|| format!("connecting UDP to {a}"))?;
            (s.into(), None)
        }
        DgramAddr::Unix(p) => {
            let (own, mode) = own.context("a Unix datagram peer needs a socket path of its own")?;
            let fd = bind_unix_dgram(own, mode)?;
            let s = UnixDatagram::from(fd);
            s.connect(p).with_context(|| format!("connecting to {}", p.display()))?;
            (s.into(), Some(own.to_path_buf()))
        }
    };
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 64];
    // Hello until challenged, then the proof until acknowledged (a lost datagram is resent).
    let mut say: Vec<u8> = HELLO.to_vec();
    loop {
        match rustix::io::write(&fd, &say) {
            Ok(_) | Err(Errno::CONNREFUSED) | Err(Errno::AGAIN) => {}
            Err(e) => return Err(e).context("saying hello on the datagram socket"),
        }
        if sys::wait_readable(fd.as_fd(), Duration::from_millis(50))? {
            if let Ok(n) = rustix::io::read(&fd, &mut buf[..]) {
                let got = &buf[..n];
                if got == ACK {
                    return DgramTransport::new(fd, path, size, wait, timeout, loss).map_err(Into::into);
                }
                if n == CHALLENGE.len() + CHALLENGE_BYTES && got.starts_with(CHALLENGE) {
                    say = PROOF.to_vec();
                    say.extend_from_slice(&key.answer(&got[CHALLENGE.len()..])[..CHALLENGE_BYTES]);
                    continue;
                }
            }
        }
        if Instant::now() >= deadline {
            bail!("no answer to hello on {to:?} within {timeout:?}");
        }
    }
}

/// A connected datagram socket moving messages of one size.
pub struct DgramTransport {
    fd: OwnedFd,
    path: Option<PathBuf>,
    tx: Vec<u8>,
    rx: Vec<u8>,
    wait: WaitStrategy,
    timeout: Duration,
    loss: Duration,
    /// When a message last arrived: silence longer than `timeout` is fatal, shorter is loss.
    last_arrival: Instant,
}

impl DgramTransport {
    fn new(
        fd: OwnedFd,
        path: Option<PathBuf>,
        size: usize,
        wait: WaitStrategy,
        timeout: Duration,
        loss: Duration,
    ) -> io::Result<DgramTransport> {
        let _ = sockopt::set_socket_send_buffer_size(&fd, BUFFER_BYTES);
        let _ = sockopt::set_socket_recv_buffer_size(&fd, BUFFER_BYTES);
        match wait {
            WaitStrategy::Spin | WaitStrategy::Hybrid => rustix::io::ioctl_fionbio(&fd, true)?,
            WaitStrategy::Block => {
                sockopt::set_socket_timeout(&fd, sockopt::Timeout::Recv, Some(loss))?;
                sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, Some(timeout))?;
            }
        }
        Ok(DgramTransport {
            fd,
            path,
            tx: vec![0; size],
            rx: vec![0; size],
            wait,
            timeout,
            loss,
            last_arrival: Instant::now(),
        })
    }

    /// Receives one message datagram into `rx`: `Lost` after the loss timeout.
    fn read_datagram(&mut self) -> TransportResult<()> {
        let mut w = SpinThenWait::new(self.wait, self.loss);
        loop {
            // MSG_TRUNC: the datagram's real length, so a longer one is seen as malformed
            // instead of passing as a message with its tail cut off.
            match rustix::net::recv(&self.fd, &mut self.rx[..], rustix::net::RecvFlags::TRUNC).map(|(_, n)| n)
            {
                Ok(n) if n < HEADER_BYTES => continue, // a late hello or ack
                Ok(n) if n != self.rx.len() => {
                    self.last_arrival = Instant::now();
                    return Err(TransportError::Malformed(format!(
                        "datagram of {n} bytes, expected {}",
                        self.rx.len()
                    )));
                }
                Ok(_) => {
                    self.last_arrival = Instant::now();
                    return Ok(());
                }
                // A blocking socket returns EAGAIN after SO_RCVTIMEO, the loss timeout.
                Err(Errno::AGAIN) if self.wait == WaitStrategy::Block => return Err(self.lost_or_silent()),
                Err(Errno::AGAIN) => match w.step() {
                    Step::Again | Step::Check => {}
                    Step::Sleep(left) => {
                        sys::wait_ready(self.fd.as_fd(), rustix::event::PollFlags::IN, left)?;
                    }
                    Step::Elapsed => return Err(self.lost_or_silent()),
                },
                Err(Errno::INTR) => {}
                Err(Errno::CONNREFUSED) => return Err(TransportError::PeerClosed),
                Err(e) => return Err(TransportError::Io(e.into())),
            }
        }
    }

    /// Nothing within the loss timeout: lost, or, after `timeout` of silence, a dead stream.
    #[cold]
    fn lost_or_silent(&self) -> TransportError {
        if self.last_arrival.elapsed() >= self.timeout {
            TransportError::Timeout(self.timeout)
        } else {
            TransportError::Lost
        }
    }

    fn write_datagram(&self, msg: &[u8]) -> TransportResult<()> {
        let mut w = SpinThenWait::new(WaitStrategy::Spin, self.timeout);
        loop {
            match rustix::io::write(&self.fd, msg) {
                Ok(_) => return Ok(()),
                // A full peer queue (Unix datagrams) pushes back; UDP drops instead. Spun on
                // with every wait strategy (as before): a full queue drains in microseconds.
                Err(Errno::AGAIN) | Err(Errno::NOBUFS) => {
                    if w.step() == Step::Elapsed {
                        return Err(TransportError::Timeout(self.timeout));
                    }
                }
                Err(Errno::INTR) => {}
                Err(Errno::MSGSIZE) => {
                    return Err(TransportError::Io(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "a datagram of {} bytes is more than this socket carries (EMSGSIZE)",
                            msg.len()
                        ),
                    )))
                }
                Err(Errno::CONNREFUSED) | Err(Errno::NOENT) => return Err(TransportError::PeerClosed),
                Err(e) => return Err(TransportError::Io(e.into())),
            }
        }
    }
}

impl Drop for DgramTransport {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            cleanup::remove_file(p);
        }
    }
}

impl Transport for DgramTransport {
    fn send_buf(&mut self) -> TransportResult<&mut [u8]> {
        Ok(&mut self.tx[HEADER_BYTES..])
    }

    fn send(&mut self, h: Header) -> TransportResult<()> {
        h.write(&mut self.tx);
        self.write_datagram(&self.tx)
    }

    fn recv(&mut self) -> TransportResult<&[u8]> {
        self.read_datagram()?;
        Ok(&self.rx)
    }

    fn release(&mut self) {}

    fn echo(&mut self) -> TransportResult<Header> {
        self.read_datagram()?;
        self.write_datagram(&self.rx)?;
        Ok(Header::read(&self.rx))
    }

    fn lossy(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[path = "dgram_tests.rs"]
mod tests;
