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

mod channel;
mod connection;
pub mod dgram;
pub mod endpoint;
pub mod fan;
pub mod framing;
#[cfg(feature = "grpc")]
pub mod grpc;
#[cfg(feature = "iceoryx2")]
pub mod iox2;
pub mod listener;
pub mod mqueue;
pub mod pipe;
pub mod serve;
pub mod shm;
pub mod socket;
mod stream_io;
pub mod uring;
pub mod wait;
#[cfg(feature = "zenoh")]
pub mod zenoh;
#[cfg(feature = "zeromq")]
pub mod zeromq;

use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use channel::{connect, ChannelOptions, ChannelSpec, DataListener};
pub use connection::Connection;
pub use endpoint::Endpoint;
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
///
/// The header goes to `send`, not into the lent buffer: a shared-memory ring publishes a
/// message by storing the header's `seq` into the slot's first word last, so that the receiver
/// polls the message's own cache line (see `shm::ring`). The received bytes hold the whole
/// message, header first.
pub trait Transport {
    /// Lends the payload of the next outgoing message: the bytes after its
    /// [`HEADER_BYTES`](crate::wire::HEADER_BYTES)-byte header, up to the configured size.
    fn send_buf(&mut self) -> TransportResult<&mut [u8]>;

    /// Sends the message with header `h` and the payload written into the buffer lent by
    /// [`send_buf`](Self::send_buf). `h.seq` must not be [`EMPTY_SEQ`](crate::wire::EMPTY_SEQ).
    fn send(&mut self, h: Header) -> TransportResult<()>;

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

    // A server that serves many channels from one thread ([`serve::ServeSet`]) asks each
    // channel these; a transport that answers none of them cannot be served so.

    /// The descriptor that turns readable when a message may be waiting (a socket, a FIFO, a
    /// ring's eventfd), or `None`.
    fn readable_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        None
    }

    /// The descriptor that turns readable when the peer is gone, where `readable_fd` does not
    /// say so itself (a ring's liveness socket).
    fn liveness_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        None
    }

    /// Whether a message is waiting where no descriptor shows it (a ring's slot), checked
    /// without a system call.
    fn message_waiting(&mut self) -> bool {
        false
    }

    /// Before sleeping on `readable_fd`: announces the sleep (a ring's producer then signals
    /// the eventfd); `true` if a message arrived meanwhile (then do not sleep).
    fn before_sleep(&mut self) -> bool {
        false
    }

    /// After sleeping on `readable_fd`.
    fn after_sleep(&mut self) {}
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
    /// ZeroMQ `PAIR` sockets over `ipc://` in the socket directory, `XPUB`/`SUB` for fan-out
    /// (a build with `--features zeromq`).
    Zeromq,
    /// ZeroMQ as `zeromq`, over `tcp://` on 127.0.0.1 (the liveness socket still needs the
    /// socket directory).
    ZeromqTcp,
    /// gRPC (tonic) over a Unix socket in the socket directory: unary calls for round trips, a
    /// client stream for throughput (a build with `--features grpc`).
    GrpcUds,
    /// zenoh publish-subscribe between two sessions in peer mode over a Unix socket in the
    /// socket directory (a build with `--features zenoh`).
    Zenoh,
    /// zenoh as `zenoh`, over TCP loopback.
    ZenohTcp,
    /// zenoh as `zenoh`, each payload allocated in zenoh's shared-memory provider and read in
    /// place (needs the socket directory and /dev/shm shared).
    ZenohShm,
}

impl TransportKind {
    /// What `--transport default` means: the transports of the default matrix.
    pub const DEFAULT: &'static [TransportKind] =
        &[TransportKind::Uds, TransportKind::Tcp, TransportKind::Shm];

    /// What `--transport all` means: every kind this build can run.
    pub fn all() -> Vec<TransportKind> {
        <TransportKind as clap::ValueEnum>::value_variants()
            .iter()
            .copied()
            .filter(|t| t.unavailable().is_none())
            .collect()
    }

    /// Whether the transport can reach another host (needs no shared directory or memory).
    pub fn crosses_hosts(self) -> bool {
        matches!(self, TransportKind::Tcp | TransportKind::TcpUring | TransportKind::Udp)
    }

    /// Why this build cannot run the transport, if it cannot (a library behind a cargo
    /// feature this build lacks).
    pub fn unavailable(self) -> Option<String> {
        let (feature, built) = match self {
            TransportKind::Iceoryx2 => ("iceoryx2", cfg!(feature = "iceoryx2")),
            TransportKind::Zeromq | TransportKind::ZeromqTcp => ("zeromq", cfg!(feature = "zeromq")),
            TransportKind::GrpcUds => ("grpc", cfg!(feature = "grpc")),
            k if k.is_zenoh() => ("zenoh", cfg!(feature = "zenoh")),
            _ => return None,
        };
        (!built).then(|| {
            format!("--transport {self} needs a build with it: cargo install --path . --features {feature} (or cargo build --release --features {feature})")
        })
    }

    /// The library under the transport and its version, where it is one (part of the
    /// configuration key: results of different library versions never compare).
    pub fn library(self) -> Option<String> {
        match self {
            #[cfg(feature = "zeromq")]
            TransportKind::Zeromq | TransportKind::ZeromqTcp => Some(zeromq::library()),
            #[cfg(feature = "grpc")]
            TransportKind::GrpcUds => Some(grpc::library()),
            #[cfg(feature = "iceoryx2")]
            TransportKind::Iceoryx2 => Some(format!("iceoryx2 {}", env!("IPCBENCH_ICEORYX2_VERSION"))),
            #[cfg(feature = "zenoh")]
            k if k.is_zenoh() => Some(zenoh::library()),
            _ => None,
        }
    }

    /// The zenoh kinds.
    pub fn is_zenoh(self) -> bool {
        matches!(self, TransportKind::Zenoh | TransportKind::ZenohTcp | TransportKind::ZenohShm)
    }

    /// The zeromq kinds.
    pub fn is_zeromq(self) -> bool {
        matches!(self, TransportKind::Zeromq | TransportKind::ZeromqTcp)
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
    /// or queue message has a limit of its own (`65536 B is more than ...`).
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
                    format!("{size_bytes} B is more than a POSIX message queue carries here ({max} bytes: {hint})")
                });
            }
            _ => return None,
        };
        (size_bytes > max).then(|| format!("{size_bytes} B is more than {why} ({max} bytes)"))
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
