//! The [`Transport`] trait and the transports behind it.
//!
//! A transport moves fixed-size messages between exactly two processes. Its API is a *loan*:
//! the sender is lent a buffer to fill in place ([`Transport::send_buf`], then
//! [`Transport::send`]) and the receiver is lent the received bytes in place
//! ([`Transport::recv`], then [`Transport::release`]). Socket transports copy through the kernel
//! underneath, but nothing in the trait forces a copy, so a shared-memory ring can lend its slots
//! directly and move the payload with zero copies.
//!
//! Every message starts with a [`Header`] (sequence number and send timestamp, see
//! [`crate::wire`]); the rest is payload, either untouched or, with `--verify`, a pattern the
//! receiver checks. Transports know nothing of patterns: what a channel is comes to them as a
//! [`ChannelSpec`].

pub mod dgram;
pub mod endpoint;
pub mod framing;
#[cfg(feature = "iceoryx2")]
pub mod iox2;
pub mod listener;
pub mod mqueue;
pub mod pipe;
pub mod shm;
pub mod socket;
mod stream_io;
pub mod uring;
pub mod wait;

use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use endpoint::Endpoint;
use framing::Framing;
pub use listener::Listener;
pub use socket::SocketTransport;

use crate::wire::Header;

/// What can go wrong moving a message. Callers branch on the kind: a closed peer mid-run is
/// reported differently from a timeout.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("the peer closed the connection")]
    PeerClosed,
    #[error("no progress for {0:?} (peer stalled or gone)")]
    Timeout(Duration),
    /// A lossy transport's peer never answered the stop message, however often it was sent.
    #[error("the peer never answered the stop message (sent {tries} times over {waited:?})")]
    StopUnanswered { tries: u32, waited: Duration },
    /// A datagram transport waited its loss timeout for a message: count it lost and go on.
    #[error("no datagram within the loss timeout")]
    Lost,
    /// A message arrived but could not be decoded (bad frame, bad JSON): counted, not fatal.
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

pub type TransportResult<T> = Result<T, TransportError>;

/// A bidirectional channel of fixed-size messages between two processes, with loaned buffers.
///
/// Call order on each side: `send_buf` then `send`; `recv` then `release`. A buffer lent by
/// `send_buf` or `recv` is valid until the matching `send` or `release`.
pub trait Transport {
    /// Lends the buffer for the next outgoing message: exactly the configured size.
    fn send_buf(&mut self) -> TransportResult<&mut [u8]>;

    /// Sends the message written into the buffer lent by [`send_buf`](Self::send_buf).
    fn send(&mut self) -> TransportResult<()>;

    /// Waits for the next message and lends its bytes in place until [`release`](Self::release).
    fn recv(&mut self) -> TransportResult<&[u8]>;

    /// Gives back the bytes lent by [`recv`](Self::recv).
    fn release(&mut self);

    /// Receives one message and sends its bytes straight back; returns its header.
    ///
    /// Each transport does this with as few copies as it can (a socket writes back the buffer
    /// it read into).
    fn echo(&mut self) -> TransportResult<Header>;

    /// Whether messages can be lost or reordered (datagrams): then patterns count losses,
    /// skip late replies and repeat the stop message.
    fn lossy(&self) -> bool {
        false
    }
}

/// Where data channels are created, and how: the same for every run of an invocation.
#[derive(Clone, Debug)]
pub struct ChannelOptions {
    /// Socket files (UDS data sockets, shm liveness sockets).
    pub socket_dir: std::path::PathBuf,
    /// Shared-memory mapping files.
    pub shm_dir: std::path::PathBuf,
    /// One explicit copy per side on shm.
    pub copy: bool,
    /// How sleeping ring waiters are woken (`--notify`).
    pub notify: shm::notify::Notify,
    /// `--pipe-size`: each FIFO's buffer (the kernel's default when `None`).
    pub pipe_buffer_bytes: Option<usize>,
    /// Mode of the files made in these directories: 0600, or 0660 when the socket directory is
    /// shared with a group (a container's user).
    pub file_mode: u32,
    /// The run's timeout (`--timeout-s`), for waits inside a transport's setup.
    pub timeout: Duration,
    /// The address TCP and UDP data channels listen on: loopback, or across hosts the address
    /// the peer reached the control channel at.
    pub data_ip: std::net::IpAddr,
}

/// What one run's data channel is: everything a transport needs to know, decided by the
/// configuration and sent to the peer with the test. Transports take this, never pattern types.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSpec {
    /// Message size including the header.
    pub size_bytes: usize,
    /// How both sides wait for data.
    pub wait: WaitStrategy,
    /// Wire format on stream transports (`raw` elsewhere).
    pub framing: Framing,
    /// How long a datagram receiver waits for one message before counting it lost.
    pub loss_timeout_ms: u64,
    /// Slots per shared-memory ring (ignored by other transports).
    pub shm_slots: usize,
}

impl ChannelSpec {
    fn loss_timeout(&self) -> Duration {
        Duration::from_millis(self.loss_timeout_ms)
    }
}

/// The initiator's side of a data channel before the peer has connected.
pub enum DataListener {
    Socket(Listener),
    Uring(Listener),
    Shm(shm::ShmListener),
    Dgram(dgram::DgramListener),
    Mqueue(mqueue::MqListener),
    Pipe(pipe::PipeListener),
    #[cfg(feature = "iceoryx2")]
    Iox2(Box<iox2::Iox2Listener>),
}

impl DataListener {
    /// Creates the channel for pair `pair` of test `test_id`: files are named
    /// `ipcbench-<pid>-<test_id>-<pair>.*`.
    pub fn open(
        kind: TransportKind,
        o: &ChannelOptions,
        test_id: u32,
        pair: u32,
        spec: &ChannelSpec,
    ) -> anyhow::Result<Self> {
        let name = format!("ipcbench-{}-{test_id}-{pair}", std::process::id());
        let sock = o.socket_dir.join(format!("{name}.sock"));
        Ok(match kind {
            TransportKind::Uds => DataListener::Socket(Listener::bind_unix(&sock, o.file_mode)?),
            TransportKind::Tcp => DataListener::Socket(Listener::bind_tcp((o.data_ip, 0).into())?),
            TransportKind::UdsUring => DataListener::Uring(Listener::bind_unix(&sock, o.file_mode)?),
            TransportKind::TcpUring => DataListener::Uring(Listener::bind_tcp((o.data_ip, 0).into())?),
            TransportKind::Shm | TransportKind::Memfd => {
                let mapping = o.shm_dir.join(format!("{name}.shm"));
                DataListener::Shm(shm::ShmListener::create(
                    (kind == TransportKind::Shm).then_some(mapping.as_path()),
                    &sock,
                    spec.size_bytes,
                    spec.shm_slots,
                    o.copy,
                    o.notify,
                    o.file_mode,
                )?)
            }
            TransportKind::Pipe => DataListener::Pipe(pipe::PipeListener::create(
                &o.socket_dir.join(&name),
                o.file_mode,
                o.pipe_buffer_bytes,
            )?),
            TransportKind::Mqueue => {
                DataListener::Mqueue(mqueue::MqListener::create(&name, &sock, spec.size_bytes, o.file_mode)?)
            }
            #[cfg(feature = "iceoryx2")]
            TransportKind::Iceoryx2 => DataListener::Iox2(Box::new(iox2::Iox2Listener::create(
                &o.socket_dir,
                &name,
                &sock,
                spec.size_bytes,
                spec.shm_slots,
                spec.wait,
                o.timeout,
                o.file_mode,
            )?)),
            #[cfg(not(feature = "iceoryx2"))]
            TransportKind::Iceoryx2 => {
                anyhow::bail!("{}", TransportKind::Iceoryx2.unavailable().unwrap_or_default())
            }
            TransportKind::Udp => DataListener::Dgram(dgram::DgramListener::bind_udp(o.data_ip)?),
            TransportKind::UdsDgram => {
                DataListener::Dgram(dgram::DgramListener::bind_unix(&sock, o.file_mode)?)
            }
        })
    }

    pub fn endpoint(&self) -> anyhow::Result<Endpoint> {
        match self {
            DataListener::Socket(l) | DataListener::Uring(l) => l.endpoint(),
            DataListener::Shm(l) => Ok(Endpoint::Shm(l.endpoint().clone())),
            DataListener::Dgram(l) => Ok(Endpoint::Dgram(l.addr().clone())),
            DataListener::Mqueue(l) => Ok(Endpoint::Mqueue(l.endpoint().clone())),
            DataListener::Pipe(l) => Ok(Endpoint::Pipe(l.endpoint().clone())),
            #[cfg(feature = "iceoryx2")]
            DataListener::Iox2(l) => Ok(Endpoint::Iox2(l.endpoint().clone())),
        }
    }

    /// Slots per ring, for shared memory.
    pub fn shm_slots(&self) -> Option<usize> {
        match self {
            DataListener::Shm(l) => Some(l.endpoint().slot_count),
            _ => None,
        }
    }

    /// Each FIFO's buffer, for pipes.
    pub fn pipe_buffer_bytes(&self) -> Option<usize> {
        match self {
            DataListener::Pipe(l) => Some(l.buffer_bytes()),
            _ => None,
        }
    }

    /// The fd that becomes readable when the peer connects.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            DataListener::Socket(l) | DataListener::Uring(l) => l.fd(),
            DataListener::Shm(l) => l.liveness_fd(),
            DataListener::Dgram(l) => l.fd(),
            DataListener::Mqueue(l) => l.liveness_fd(),
            DataListener::Pipe(l) => l.fd(),
            #[cfg(feature = "iceoryx2")]
            DataListener::Iox2(l) => l.liveness_fd(),
        }
    }

    /// Accepts the peer; a listening socket file is removed.
    pub fn accept(self, spec: &ChannelSpec, timeout: Duration) -> anyhow::Result<Connection> {
        let (size, wait) = (spec.size_bytes, spec.wait);
        Ok(match self {
            DataListener::Socket(l) => {
                let fd = l.accept(timeout)?;
                drop(l);
                Connection::Socket(SocketTransport::new(fd, size, wait, timeout)?.framed(
                    spec.framing,
                    true,
                    "seq",
                ))
            }
            DataListener::Uring(l) => {
                let fd = l.accept(timeout)?;
                drop(l);
                Connection::Uring(Box::new(uring::UringTransport::new(fd, size, wait, timeout)?))
            }
            DataListener::Shm(l) => Connection::Shm(l.accept(size, wait, timeout)?),
            DataListener::Dgram(l) => {
                Connection::Dgram(l.accept(size, wait, timeout, spec.loss_timeout())?)
            }
            DataListener::Mqueue(l) => Connection::Mqueue(l.accept(size, wait, timeout)?),
            DataListener::Pipe(l) => Connection::Pipe(l.accept(size, wait, timeout)?),
            #[cfg(feature = "iceoryx2")]
            DataListener::Iox2(l) => Connection::Iox2(Box::new(l.accept(wait, timeout)?)),
        })
    }
}

/// Connects the peer's side of a data channel of `kind`; `socket_dir` holds the socket file a
/// Unix datagram peer binds for itself.
pub fn connect(
    kind: TransportKind,
    ep: &Endpoint,
    spec: &ChannelSpec,
    timeout: Duration,
    socket_dir: &std::path::Path,
) -> anyhow::Result<Connection> {
    static OWN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let (size, wait) = (spec.size_bytes, spec.wait);
    Ok(match ep {
        Endpoint::Shm(s) => Connection::Shm(shm::connect(s, size, wait, timeout)?),
        Endpoint::Mqueue(m) => Connection::Mqueue(mqueue::connect(m, size, wait, timeout)?),
        Endpoint::Pipe(p) => Connection::Pipe(pipe::connect(p, size, wait, timeout)?),
        #[cfg(feature = "iceoryx2")]
        Endpoint::Iox2(x) => Connection::Iox2(Box::new(iox2::connect(x, wait, timeout)?)),
        #[cfg(not(feature = "iceoryx2"))]
        Endpoint::Iox2(_) => anyhow::bail!("{}", TransportKind::Iceoryx2.unavailable().unwrap_or_default()),
        Endpoint::Dgram(a) => {
            // Relaxed: a counter for unique names, nothing is published through it.
            let n = OWN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let own = socket_dir.join(format!("ipcbench-{}-p{n}.sock", std::process::id()));
            let mode = crate::sys::shared_file_mode(socket_dir);
            Connection::Dgram(dgram::connect(
                a,
                Some((&own, mode)),
                size,
                wait,
                timeout,
                spec.loss_timeout(),
            )?)
        }
        ep if kind.is_uring() => {
            let fd = listener::connect(ep, timeout)?;
            Connection::Uring(Box::new(uring::UringTransport::new(fd, size, wait, timeout)?))
        }
        ep => Connection::Socket(
            SocketTransport::new(listener::connect(ep, timeout)?, size, wait, timeout)?.framed(
                spec.framing,
                false,
                "seq",
            ),
        ),
    })
}

/// Runs `$body` with `$t` bound to the transport inside a [`Connection`], whatever its kind:
/// the one place that lists the kinds, so the code in `$body` is monomorphised per transport.
#[macro_export]
macro_rules! with_transport {
    ($conn:expr, $t:ident => $body:expr) => {
        match $conn {
            $crate::transport::Connection::Socket($t) => $body,
            $crate::transport::Connection::Shm($t) => $body,
            $crate::transport::Connection::Dgram($t) => $body,
            $crate::transport::Connection::Mqueue($t) => $body,
            $crate::transport::Connection::Pipe($t) => $body,
            $crate::transport::Connection::Uring($t) => {
                let $t = &mut **$t;
                $body
            }
            #[cfg(feature = "iceoryx2")]
            $crate::transport::Connection::Iox2($t) => {
                let $t = &mut **$t;
                $body
            }
        }
    };
}

/// A connected data channel of any kind. Callers reach the transport through
/// [`with_transport!`] and call code generic over [`Transport`], so the timed loops are
/// monomorphised: no dynamic dispatch per message.
pub enum Connection {
    Socket(SocketTransport),
    Shm(shm::ShmTransport),
    Dgram(dgram::DgramTransport),
    Mqueue(mqueue::MqTransport),
    Pipe(pipe::PipeTransport),
    Uring(Box<uring::UringTransport>),
    #[cfg(feature = "iceoryx2")]
    Iox2(Box<iox2::Iox2Transport>),
}

/// Which transport.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum TransportKind {
    /// Unix domain stream socket in the socket directory.
    Uds,
    /// TCP over 127.0.0.1 with TCP_NODELAY.
    Tcp,
    /// Zero-copy shared-memory rings in a mapped file.
    Shm,
    /// The same rings in an anonymous sealed memfd sent over a Unix socket (SCM_RIGHTS): shares
    /// nothing but the socket directory.
    Memfd,
    /// UDP datagrams over 127.0.0.1 (may lose and reorder: counted).
    Udp,
    /// POSIX message queues, one per direction (needs a shared IPC namespace).
    Mqueue,
    /// Two named FIFOs in the socket directory, one per direction.
    Pipe,
    /// Unix datagram sockets in the socket directory.
    UdsDgram,
    /// The Unix stream socket of `uds`, driven by io_uring (registered buffers, batched
    /// submissions, completion-queue polling under `--wait spin`).
    UdsUring,
    /// TCP over 127.0.0.1 as `tcp`, driven by io_uring.
    TcpUring,
    /// iceoryx2's zero-copy publish-subscribe, one service per direction (a build with
    /// `--features iceoryx2`; needs the socket directory and /dev/shm shared).
    Iceoryx2,
}

impl TransportKind {
    /// What `--transport all` means: the transports of the default matrix.
    pub const ALL: &'static [TransportKind] = &[TransportKind::Uds, TransportKind::Tcp, TransportKind::Shm];

    /// Whether the transport can reach another host (needs no shared directory or memory).
    pub fn crosses_hosts(self) -> bool {
        matches!(self, TransportKind::Tcp | TransportKind::TcpUring | TransportKind::Udp)
    }

    /// Why this build cannot run the transport, if it cannot (iceoryx2 is a cargo feature).
    pub fn unavailable(self) -> Option<String> {
        (self == TransportKind::Iceoryx2 && !cfg!(feature = "iceoryx2")).then(|| {
            "--transport iceoryx2 needs a build with it: cargo build --release --features iceoryx2"
                .to_string()
        })
    }

    /// The stream sockets driven by io_uring.
    pub fn is_uring(self) -> bool {
        matches!(self, TransportKind::UdsUring | TransportKind::TcpUring)
    }

    /// The shared-memory rings (a mapped file or a memfd).
    pub fn is_ring(self) -> bool {
        matches!(self, TransportKind::Shm | TransportKind::Memfd)
    }

    /// The byte streams that carry the framings (the io_uring ones carry raw messages only).
    pub fn is_stream(self) -> bool {
        matches!(self, TransportKind::Uds | TransportKind::Tcp)
    }

    /// Why a message of `size_bytes` cannot travel on this transport, if it cannot: a datagram
    /// or queue message has a limit of its own.
    pub fn size_refusal(self, size_bytes: usize) -> Option<String> {
        let (max, why) = match self {
            // 65535 minus the IPv4 (20) and UDP (8) headers.
            TransportKind::Udp => (65_507, "a udp datagram carries".to_string()),
            // A Unix datagram must fit the socket's send buffer; ipcbench raises it to 4 MiB
            // (the kernel may cap it lower: a larger datagram then fails with a clear error).
            TransportKind::UdsDgram => (212_992 - 32, "a uds-dgram datagram carries".to_string()),
            TransportKind::Mqueue => {
                let max = mqueue::msgsize_max().unwrap_or(8192);
                let hint = format!(
                    "fs.mqueue.msgsize_max; raise it with sysctl -w fs.mqueue.msgsize_max={size_bytes}"
                );
                return (size_bytes > max).then(|| {
                    format!("--size {size_bytes} is more than a POSIX message queue carries here ({max} bytes: {hint})")
                });
            }
            _ => return None,
        };
        (size_bytes > max).then(|| format!("--size {size_bytes} is more than {why} ({max} bytes)"))
    }
}

/// How a side waits for a message that has not arrived yet (see [`wait`]).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum WaitStrategy {
    /// Sleep in the kernel until data arrives (blocking calls, futex).
    Block,
    /// Busy-poll with non-blocking calls: burns a core, avoids the wake-up cost.
    Spin,
    /// Spin for up to 50 µs, then sleep in the kernel.
    Hybrid,
}

crate::display_as_value_name!(TransportKind, WaitStrategy);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_and_wait_names_are_the_same_in_flags_json_and_text() {
        use clap::ValueEnum;
        for k in TransportKind::value_variants() {
            let json = serde_json::to_value(k).unwrap();
            assert_eq!(json.as_str().unwrap(), k.to_string());
            assert_eq!(TransportKind::from_str(&k.to_string(), false).unwrap(), *k);
        }
        for w in WaitStrategy::value_variants() {
            assert_eq!(serde_json::to_value(w).unwrap().as_str().unwrap(), w.to_string());
        }
        assert_eq!(TransportKind::UdsDgram.to_string(), "uds-dgram");
    }
}
