//! Stream-socket transports: Unix domain stream sockets and TCP over loopback.
//!
//! Both are a connected stream fd moving fixed-size messages with `read`/`write`, exactly what a
//! hand-written ping-pong does. With [`WaitStrategy::Spin`] the fd is non-blocking and the
//! reader busy-polls on `EAGAIN`; with [`WaitStrategy::Block`] it sleeps in the kernel with
//! `SO_RCVTIMEO`/`SO_SNDTIMEO` set, so a stalled peer is a timeout, never a hang.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::net::sockopt::{self, Timeout};

use super::framing::{Framing, PREFIX_BYTES};
use super::stream_io::{read_full, write_all_vectored, write_full, LineBuf, Waits};
use super::{Transport, TransportError, TransportResult, WaitStrategy};
use crate::wire::{Header, HEADER_BYTES};

/// A connected stream socket moving messages of one size, framed as [`Framing`] says.
pub struct SocketTransport {
    fd: OwnedFd,
    tx: Vec<u8>,
    rx: Vec<u8>,
    /// How reads and writes wait (the strategy, the timeout, blocking with the kernel's).
    waits: Waits,
    framing: Framing,
    /// Names in the JSON `src`/`dst` fields: (this side, the other side).
    roles: (&'static str, &'static str),
    /// The JSON field a reply carries the sequence number in (`seq` for ipcbench's own peer).
    reply_field: String,
    /// Encoded outgoing frame (json-lines) or length prefix.
    wire: Vec<u8>,
    /// Received bytes not yet consumed (json-lines, length-prefixed).
    lines: LineBuf,
    /// The last length-prefixed frame's payload, in `lines`.
    frame: std::ops::Range<usize>,
}

impl SocketTransport {
    /// Wraps a connected stream socket for raw messages of `size` bytes.
    pub fn new(fd: OwnedFd, size: usize, wait: WaitStrategy, timeout: Duration) -> io::Result<Self> {
        match wait {
            WaitStrategy::Spin | WaitStrategy::Hybrid => rustix::io::ioctl_fionbio(&fd, true)?,
            WaitStrategy::Block => {
                sockopt::set_socket_timeout(&fd, Timeout::Recv, Some(timeout))?;
                sockopt::set_socket_timeout(&fd, Timeout::Send, Some(timeout))?;
            }
        }
        Ok(SocketTransport {
            fd,
            tx: vec![0; size],
            rx: vec![0; size],
            waits: Waits::socket(wait, timeout),
            framing: Framing::Raw,
            roles: ("initiator", "peer"),
            reply_field: "seq".into(),
            wire: Vec::with_capacity(size + PREFIX_BYTES),
            lines: LineBuf::new(size + PREFIX_BYTES),
            frame: 0..0,
        })
    }

    /// Frames messages as `framing`; `initiator` says which side this is (for JSON `src`/`dst`),
    /// `reply_field` where replies carry the sequence number.
    pub fn framed(mut self, framing: Framing, initiator: bool, reply_field: &str) -> Self {
        self.framing = framing;
        self.roles = if initiator { ("initiator", "peer") } else { ("peer", "initiator") };
        self.reply_field = reply_field.to_string();
        self
    }

    /// Reads one frame into `rx`, returning its header.
    #[inline]
    fn read_frame(&mut self) -> TransportResult<Header> {
        match self.framing {
            Framing::Raw => read_full(&self.fd, &mut self.rx, self.waits)?,
            Framing::LengthPrefixed => {
                // Buffered, as a real length-delimited codec reads: prefix and payload usually
                // arrive in one read. The frame is lent from the buffer, not copied.
                self.lines.ensure(PREFIX_BYTES, &self.fd, self.waits)?;
                let at = self.lines.start;
                let n = u32::from_le_bytes(self.lines.buf[at..at + PREFIX_BYTES].try_into().expect("4 bytes"))
                    as usize;
                if !(HEADER_BYTES..=self.rx.len()).contains(&n) {
                    // The stream cannot be resynchronised after a bad length: fatal.
                    return Err(TransportError::Io(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("length prefix {n} outside 16..={} bytes", self.rx.len()),
                    )));
                }
                self.lines.ensure(PREFIX_BYTES + n, &self.fd, self.waits)?;
                let frame = self.lines.start..self.lines.start + PREFIX_BYTES + n;
                self.lines.start = frame.end;
                self.frame = frame.start + PREFIX_BYTES..frame.end;
                return Ok(Header::read(&self.lines.buf[self.frame.clone()]));
            }
            Framing::JsonLines => {
                let line = self.lines.read_line(&self.fd, self.waits)?;
                let (seq, send_ns) = super::framing::reply_seq(self.lines.get(line), &self.reply_field)
                    .map_err(TransportError::Malformed)?;
                Header { seq, send_ns }.write(&mut self.rx);
            }
        }
        Ok(Header::read(&self.rx))
    }

    /// Writes the outgoing message in `tx` as one frame; `kind` is the JSON `type`.
    #[inline]
    fn write_frame(&mut self, kind: &str) -> TransportResult<()> {
        match self.framing {
            Framing::Raw => write_full(&self.fd, &self.tx, self.waits),
            Framing::LengthPrefixed => {
                let prefix = (self.tx.len() as u32).to_le_bytes();
                write_all_vectored(&self.fd, &prefix, &self.tx, self.waits)
            }
            Framing::JsonLines => {
                let h = Header::read(&self.tx);
                self.write_json(h, kind)
            }
        }
    }

    /// Writes a JSON line of the message size for header `h`.
    fn write_json(&mut self, h: Header, kind: &str) -> TransportResult<()> {
        let (me, them) = self.roles;
        super::framing::encode_json_line(&mut self.wire, kind, h.seq, h.send_ns, me, them, self.tx.len())
            .map_err(|e| TransportError::Io(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        write_full(&self.fd, &self.wire, self.waits)
    }
}

impl Transport for SocketTransport {
    fn readable_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        Some(self.fd.as_fd())
    }

    #[inline]
    fn send_buf(&mut self) -> TransportResult<&mut [u8]> {
        Ok(&mut self.tx[HEADER_BYTES..])
    }

    #[inline]
    fn send(&mut self, h: Header) -> TransportResult<()> {
        h.write(&mut self.tx);
        self.write_frame("msg")
    }

    #[inline]
    fn recv(&mut self) -> TransportResult<&[u8]> {
        self.read_frame()?;
        Ok(match self.framing {
            Framing::LengthPrefixed => &self.lines.buf[self.frame.clone()],
            _ => &self.rx,
        })
    }

    #[inline]
    fn release(&mut self) {}

    #[inline]
    fn echo(&mut self) -> TransportResult<Header> {
        let h = self.read_frame()?;
        match self.framing {
            Framing::Raw => write_full(&self.fd, &self.rx, self.waits)?,
            Framing::LengthPrefixed => {
                // The received frame, prefix included, goes straight back out of the buffer.
                let whole = self.frame.start - PREFIX_BYTES..self.frame.end;
                write_full(&self.fd, &self.lines.buf[whole], self.waits)?;
            }
            Framing::JsonLines => self.write_json(h, "echo")?,
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::listener::{connect, Listener};
    use crate::wire::{check_pattern, fill_pattern};
    use std::os::unix::net::UnixStream;
    use std::time::Instant;

    fn pair(
        kind: &str,
        wait: WaitStrategy,
        size: usize,
    ) -> (SocketTransport, SocketTransport, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let listener = match kind {
            "uds" => Listener::bind_unix(&dir.path().join("t.sock"), 0o600).unwrap(),
            _ => Listener::bind_tcp_loopback().unwrap(),
        };
        let ep = listener.endpoint().unwrap();
        let client = std::thread::spawn(move || connect(&ep, Duration::from_secs(5)).unwrap());
        let server = listener.accept(Duration::from_secs(5)).unwrap();
        let client = client.join().unwrap();
        let t = Duration::from_secs(5);
        (
            SocketTransport::new(server, size, wait, t).unwrap(),
            SocketTransport::new(client, size, wait, t).unwrap(),
            dir,
        )
    }

    #[test]
    fn echo_returns_every_byte_over_both_socket_kinds_and_waits() {
        for kind in ["uds", "tcp"] {
            for wait in [WaitStrategy::Block, WaitStrategy::Spin, WaitStrategy::Hybrid] {
                // 256 KiB exceeds the socket buffer, so reads and writes come back partial.
                let size = 256 * 1024;
                let (mut a, mut b, _dir) = pair(kind, wait, size);
                let echoer = std::thread::spawn(move || {
                    for _ in 0..3 {
                        b.echo().unwrap();
                    }
                });
                for seq in 0..3u64 {
                    fill_pattern(seq, a.send_buf().unwrap());
                    a.send(Header { seq, send_ns: 42 }).unwrap();
                    let got = a.recv().unwrap();
                    assert_eq!(Header::read(got), Header { seq, send_ns: 42 }, "{kind} {wait}");
                    assert!(check_pattern(seq, &got[16..]), "{kind} {wait}");
                    a.release();
                }
                echoer.join().unwrap();
            }
        }
    }

    /// A peer that dribbles every frame out one byte at a time: each framing reassembles it.
    #[test]
    fn every_framing_reassembles_frames_split_into_single_bytes() {
        use super::super::framing::encode_json_line;
        use std::io::Write;
        let size = 200;
        let mut msg = vec![0u8; size];
        Header { seq: 41, send_ns: 7 }.write(&mut msg);
        let mut json = Vec::new();
        encode_json_line(&mut json, "msg", 41, 7, "peer", "initiator", size).unwrap();
        let mut lp = (size as u32).to_le_bytes().to_vec();
        lp.extend_from_slice(&msg);
        for (framing, wire) in
            [(Framing::Raw, msg.clone()), (Framing::LengthPrefixed, lp), (Framing::JsonLines, json)]
        {
            for wait in [WaitStrategy::Block, WaitStrategy::Spin] {
                let (a, mut b) = UnixStream::pair().unwrap();
                let wire2 = wire.clone();
                let writer = std::thread::spawn(move || {
                    for _ in 0..2 {
                        for byte in &wire2 {
                            b.write_all(std::slice::from_ref(byte)).unwrap();
                            b.flush().unwrap();
                        }
                    }
                });
                let mut t = SocketTransport::new(a.into(), size, wait, Duration::from_secs(5))
                    .unwrap()
                    .framed(framing, true, "seq");
                for _ in 0..2 {
                    let got = Header::read(t.recv().unwrap());
                    assert_eq!(got, Header { seq: 41, send_ns: 7 }, "{framing} {wait}");
                }
                writer.join().unwrap();
            }
        }
    }

    #[test]
    fn a_bad_length_prefix_or_line_is_an_error_not_a_hang() {
        use std::io::Write;
        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(&u32::MAX.to_le_bytes()).unwrap();
        let mut t = SocketTransport::new(a.into(), 64, WaitStrategy::Block, Duration::from_secs(5))
            .unwrap()
            .framed(Framing::LengthPrefixed, true, "seq");
        assert!(t.recv().unwrap_err().to_string().contains("length prefix"));
        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"{\"type\":\"echo\"}\n").unwrap();
        let mut t = SocketTransport::new(a.into(), 200, WaitStrategy::Block, Duration::from_secs(5))
            .unwrap()
            .framed(Framing::JsonLines, true, "seq");
        assert!(matches!(t.recv(), Err(TransportError::Malformed(_))), "a line without seq is malformed");
    }

    #[test]
    fn a_closed_peer_is_reported_as_peer_closed() {
        for wait in [WaitStrategy::Block, WaitStrategy::Spin, WaitStrategy::Hybrid] {
            let (mut a, b, _dir) = pair("uds", wait, 64);
            drop(b);
            assert!(matches!(a.recv(), Err(TransportError::PeerClosed)));
        }
    }

    #[test]
    fn a_silent_peer_is_a_timeout_not_a_hang() {
        for wait in [WaitStrategy::Block, WaitStrategy::Spin, WaitStrategy::Hybrid] {
            let dir = tempfile::tempdir().unwrap();
            let listener = Listener::bind_unix(&dir.path().join("t.sock"), 0o600).unwrap();
            let ep = listener.endpoint().unwrap();
            let _client = connect(&ep, Duration::from_secs(5)).unwrap();
            let fd = listener.accept(Duration::from_secs(5)).unwrap();
            let mut t = SocketTransport::new(fd, 64, wait, Duration::from_millis(200)).unwrap();
            let start = Instant::now();
            assert!(matches!(t.recv(), Err(TransportError::Timeout(_))));
            assert!(start.elapsed() < Duration::from_secs(5));
        }
    }
}
