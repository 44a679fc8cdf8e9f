//! The [`Transport`] trait and the transports behind it.
//!
//! A transport moves fixed-size messages between exactly two processes. Its API is a *loan*:
//! the sender is lent a buffer to fill in place ([`Transport::send_buf`], then
//! [`Transport::send`]) and the receiver is lent the received bytes in place
//! ([`Transport::recv`], then [`Transport::release`]). Socket transports copy through the kernel
//! underneath, but nothing in the trait forces a copy, so a shared-memory ring can lend its slots
//! directly and move the payload with zero copies.
//!
//! Every message starts with a [`Header`] (sequence number and send timestamp); the rest is
//! payload, either untouched or, with `--verify`, a pattern the receiver checks.

pub mod dgram;
pub mod framing;
pub mod shm;
pub mod socket;

use std::fmt;
use std::io;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use socket::{Endpoint, Listener, SocketTransport};

/// Bytes taken by the [`Header`] at the start of every message: the smallest message size.
pub const HEADER_BYTES: usize = 16;

/// The sequence number that tells the receiver the run is over.
pub const STOP_SEQ: u64 = u64::MAX;

/// The header every message carries, little-endian at offset 0.
///
/// | bytes | field |
/// |---|---|
/// | 0..8 | `seq`: 0, 1, 2, ... in send order; [`STOP_SEQ`] ends the run |
/// | 8..16 | `send_ns`: `CLOCK_MONOTONIC` when sent (with `--rate`: when it was *meant* to be sent) |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub seq: u64,
    pub send_ns: u64,
}

impl Header {
    #[inline(always)]
    pub fn write(&self, buf: &mut [u8]) {
        buf[0..8].copy_from_slice(&self.seq.to_le_bytes());
        buf[8..16].copy_from_slice(&self.send_ns.to_le_bytes());
    }

    #[inline(always)]
    pub fn read(buf: &[u8]) -> Header {
        let seq = u64::from_le_bytes(buf[0..8].try_into().expect("8 bytes"));
        let send_ns = u64::from_le_bytes(buf[8..16].try_into().expect("8 bytes"));
        Header { seq, send_ns }
    }
}

/// Two periods of the byte sequence 0, 1, ..., 255: any 256-byte window of the pattern.
static PATTERN_TABLE: [u8; 512] = {
    let mut t = [0u8; 512];
    let mut i = 0;
    while i < 512 {
        t[i] = i as u8;
        i += 1;
    }
    t
};

/// The payload pattern `--verify` writes and checks: byte `i` of message `seq` is `seq + i`
/// (mod 256). Written and compared 256 bytes at a time, at memcpy speed.
#[inline]
pub fn fill_pattern(seq: u64, payload: &mut [u8]) {
    let window = &PATTERN_TABLE[seq as u8 as usize..][..256];
    for chunk in payload.chunks_mut(256) {
        chunk.copy_from_slice(&window[..chunk.len()]);
    }
}

/// Whether `payload` holds the pattern [`fill_pattern`] writes for `seq`.
#[inline]
pub fn check_pattern(seq: u64, payload: &[u8]) -> bool {
    let window = &PATTERN_TABLE[seq as u8 as usize..][..256];
    payload.chunks(256).all(|chunk| chunk == &window[..chunk.len()])
}

/// What can go wrong moving a message. Callers branch on the kind: a closed peer mid-run is
/// reported differently from a timeout.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("the peer closed the connection")]
    PeerClosed,
    #[error("no progress for {0:?} (peer stalled or gone)")]
    Timeout(Duration),
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

/// Where data channels are created, and how.
#[derive(Clone, Debug)]
pub struct ChannelOptions {
    /// Socket files (UDS data sockets, shm liveness sockets).
    pub socket_dir: std::path::PathBuf,
    /// Shared-memory mapping files.
    pub shm_dir: std::path::PathBuf,
    /// Slots per shm ring; `None` picks [`shm::default_slots`].
    pub shm_slots: Option<usize>,
    /// One explicit copy per side on shm.
    pub copy: bool,
    /// Mode of the files made in these directories: 0600, or 0660 when the socket directory is
    /// shared with a group (a container's user).
    pub file_mode: u32,
}

/// The initiator's side of a data channel before the peer has connected.
pub enum DataListener {
    Socket(Listener),
    Shm(shm::ShmListener),
    Dgram(dgram::DgramListener),
}

impl DataListener {
    /// Creates the channel for pair `pair` of test `test_id`: files are named
    /// `ipcbench-<pid>-<test_id>-<pair>.*`.
    pub fn open(
        kind: TransportKind,
        o: &ChannelOptions,
        test_id: u32,
        pair: u32,
        size_bytes: usize,
        pattern: crate::pattern::Pattern,
    ) -> anyhow::Result<Self> {
        let name = format!("ipcbench-{}-{test_id}-{pair}", std::process::id());
        let sock = o.socket_dir.join(format!("{name}.sock"));
        Ok(match kind {
            TransportKind::Uds => DataListener::Socket(Listener::bind_unix(&sock, o.file_mode)?),
            TransportKind::Tcp => DataListener::Socket(Listener::bind_tcp_loopback()?),
            TransportKind::Shm => DataListener::Shm(shm::ShmListener::create(
                &o.shm_dir.join(format!("{name}.shm")),
                &sock,
                size_bytes,
                o.shm_slots.unwrap_or_else(|| shm::default_slots(size_bytes, pattern)),
                o.copy,
                o.file_mode,
            )?),
            TransportKind::Udp => DataListener::Dgram(dgram::DgramListener::bind_udp()?),
            TransportKind::UdsDgram => {
                DataListener::Dgram(dgram::DgramListener::bind_unix(&sock, o.file_mode)?)
            }
        })
    }

    pub fn endpoint(&self) -> anyhow::Result<Endpoint> {
        match self {
            DataListener::Socket(l) => l.endpoint(),
            DataListener::Shm(l) => Ok(Endpoint::Shm(l.endpoint().clone())),
            DataListener::Dgram(l) => Ok(Endpoint::Dgram(l.addr().clone())),
        }
    }

    /// Slots per ring, for shared memory.
    pub fn shm_slots(&self) -> Option<usize> {
        match self {
            DataListener::Shm(l) => Some(l.endpoint().slot_count),
            _ => None,
        }
    }

    /// The fd that becomes readable when the peer connects.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            DataListener::Socket(l) => l.fd(),
            DataListener::Shm(l) => l.liveness_fd(),
            DataListener::Dgram(l) => l.fd(),
        }
    }

    /// Accepts the peer; a listening socket file is removed.
    pub fn accept(
        self,
        p: &crate::pattern::Params,
        wait: WaitStrategy,
        timeout: Duration,
    ) -> anyhow::Result<Connection> {
        let size = p.size_bytes;
        Ok(match self {
            DataListener::Socket(l) => {
                let fd = l.accept(timeout)?;
                drop(l);
                Connection::Socket(
                    SocketTransport::new(fd, size, wait, timeout)?.framed(p.framing, true, "seq"),
                )
            }
            DataListener::Shm(l) => Connection::Shm(l.accept(size, wait, timeout)?),
            DataListener::Dgram(l) => {
                Connection::Dgram(l.accept(size, wait, timeout, Duration::from_millis(p.loss_timeout_ms))?)
            }
        })
    }
}

/// Connects the peer's side of a data channel; `socket_dir` holds the socket file a Unix
/// datagram peer binds for itself.
pub fn connect(
    ep: &Endpoint,
    p: &crate::pattern::Params,
    wait: WaitStrategy,
    timeout: Duration,
    socket_dir: &std::path::Path,
) -> anyhow::Result<Connection> {
    static OWN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let size = p.size_bytes;
    Ok(match ep {
        Endpoint::Shm(s) => Connection::Shm(shm::connect(s, size, wait, timeout)?),
        Endpoint::Dgram(a) => {
            // Relaxed: a counter for unique names, nothing is published through it.
            let n = OWN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let own = socket_dir.join(format!("ipcbench-{}-p{n}.sock", std::process::id()));
            let mode = crate::sys::shared_file_mode(socket_dir);
            let loss = Duration::from_millis(p.loss_timeout_ms);
            Connection::Dgram(dgram::connect(a, Some((&own, mode)), size, wait, timeout, loss)?)
        }
        ep => Connection::Socket(
            SocketTransport::new(socket::connect(ep, timeout)?, size, wait, timeout)?
                .framed(p.framing, false, "seq"),
        ),
    })
}

/// A connected data channel of any kind. Callers match on it and call code generic over
/// [`Transport`], so the timed loops are monomorphised: no dynamic dispatch per message.
pub enum Connection {
    Socket(SocketTransport),
    Shm(shm::ShmTransport),
    Dgram(dgram::DgramTransport),
}

/// Which transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum TransportKind {
    /// Unix domain stream socket in the socket directory.
    Uds,
    /// TCP over 127.0.0.1 with TCP_NODELAY.
    Tcp,
    /// Zero-copy shared-memory rings in a mapped file.
    Shm,
    /// UDP datagrams over 127.0.0.1 (may lose and reorder: counted).
    Udp,
    /// Unix datagram sockets in the socket directory.
    UdsDgram,
}

impl TransportKind {
    /// What `--transport all` means: the transports of the default matrix.
    pub const ALL: &'static [TransportKind] = &[TransportKind::Uds, TransportKind::Tcp, TransportKind::Shm];
    /// Every transport, for parsing.
    pub const KNOWN: &'static [TransportKind] = &[
        TransportKind::Uds,
        TransportKind::Tcp,
        TransportKind::Shm,
        TransportKind::Udp,
        TransportKind::UdsDgram,
    ];

    /// Byte streams: the framings apply to them.
    pub fn is_stream(self) -> bool {
        matches!(self, TransportKind::Uds | TransportKind::Tcp)
    }

    /// The largest message a datagram transport carries, or `None` for no limit of its own.
    pub fn max_message_bytes(self) -> Option<usize> {
        match self {
            // 65535 minus the IPv4 (20) and UDP (8) headers.
            TransportKind::Udp => Some(65_507),
            // A Unix datagram must fit the socket's send buffer; ipcbench raises it to 4 MiB
            // (the kernel may cap it lower: a larger datagram then fails with a clear error).
            TransportKind::UdsDgram => Some(212_992 - 32),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Uds => "uds",
            TransportKind::Tcp => "tcp",
            TransportKind::Shm => "shm",
            TransportKind::Udp => "udp",
            TransportKind::UdsDgram => "uds-dgram",
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TransportKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TransportKind::KNOWN.iter().copied().find(|k| k.name() == s).ok_or_else(|| {
            format!("unknown transport '{s}' (expected one of: uds, tcp, shm, udp, uds-dgram, all)")
        })
    }
}

/// How a side waits for a message that has not arrived yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaitStrategy {
    /// Sleep in the kernel until data arrives (blocking socket calls).
    Block,
    /// Busy-poll with non-blocking calls: burns a core, avoids the wake-up cost.
    Spin,
    /// Spin for up to 50 µs, then sleep in the kernel.
    Hybrid,
}

impl WaitStrategy {
    pub fn name(self) -> &'static str {
        match self {
            WaitStrategy::Block => "block",
            WaitStrategy::Spin => "spin",
            WaitStrategy::Hybrid => "hybrid",
        }
    }
}

impl fmt::Display for WaitStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_through_bytes() {
        let mut buf = [0u8; 64];
        let h = Header { seq: 0x0102_0304_0506_0708, send_ns: u64::MAX - 7 };
        h.write(&mut buf);
        assert_eq!(Header::read(&buf), h);
        assert_eq!(buf[0], 0x08, "little-endian");
    }

    #[test]
    fn pattern_check_catches_a_flipped_byte_and_a_wrong_sequence() {
        let mut p = vec![0u8; 300];
        fill_pattern(7, &mut p);
        assert!(p.iter().enumerate().all(|(i, &b)| b == 7u8.wrapping_add(i as u8)), "byte i is seq + i");
        assert!(check_pattern(7, &p));
        assert!(!check_pattern(8, &p));
        p[299] ^= 1;
        assert!(!check_pattern(7, &p));
    }

    #[test]
    fn transport_names_parse_back() {
        for k in TransportKind::KNOWN {
            assert_eq!(k.name().parse::<TransportKind>().unwrap(), *k);
        }
        assert!("pipe".parse::<TransportKind>().unwrap_err().contains("unknown transport 'pipe'"));
    }
}
