//! Stream-socket transports: Unix domain stream sockets and TCP over loopback.
//!
//! Both are a connected stream fd moving fixed-size messages with `read`/`write`, exactly what a
//! hand-written ping-pong does. With [`WaitStrategy::Spin`] the fd is non-blocking and the
//! reader busy-polls on `EAGAIN`; with [`WaitStrategy::Block`] it sleeps in the kernel with
//! `SO_RCVTIMEO`/`SO_SNDTIMEO` set, so a stalled peer is a timeout, never a hang.

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::net::sockopt::{self, Timeout};

use super::framing::{Framing, PREFIX_BYTES};
use super::wait::{SpinThenWait, Step};
use super::{Endpoint, Transport, TransportError, TransportResult, WaitStrategy};
use crate::cleanup;
use crate::sys;
use crate::wire::{Header, HEADER_BYTES};

/// A listening socket. A Unix socket file is removed when the listener is dropped.
pub enum Listener {
    Unix { listener: UnixListener, path: PathBuf },
    Tcp(TcpListener),
}

impl Listener {
    /// Listens on a Unix socket at `path`.
    ///
    /// A socket file left by a crashed run (nobody accepts on it) is replaced; a live socket, a
    /// symlink or any other kind of file at `path` is an error and is left alone.
    ///
    /// The socket file gets `mode` (0600, or 0660 to share it with the socket directory's
    /// group, e.g. a container's user).
    pub fn bind_unix(path: &Path, mode: u32) -> Result<Listener> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
                Ok(_) => bail!("{} is in use by another running process", path.display()),
                Err(_) => {
                    eprintln!("note: removed stale socket {} left by an earlier run", path.display());
                    std::fs::remove_file(path)
                        .with_context(|| format!("removing stale socket {}", path.display()))?;
                }
            },
            Ok(_) => bail!("{} exists and is not a socket; refusing to replace it", path.display()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("checking {}", path.display())),
        }
        let listener =
            UnixListener::bind(path).with_context(|| format!("binding Unix socket {}", path.display()))?;
        cleanup::register_file(path);
        // Connecting needs write permission on the socket file: only the owner (and the group
        // with 0660) may. Until now it had the umask's mode, which never grants others write.
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .with_context(|| format!("setting mode {mode:o} on {}", path.display()))?;
        Ok(Listener::Unix { listener, path: path.to_path_buf() })
    }

    /// Listens on an ephemeral TCP port of 127.0.0.1.
    pub fn bind_tcp_loopback() -> Result<Listener> {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding TCP on 127.0.0.1")?;
        Ok(Listener::Tcp(l))
    }

    pub fn endpoint(&self) -> Result<Endpoint> {
        Ok(match self {
            Listener::Unix { path, .. } => Endpoint::Unix(path.clone()),
            Listener::Tcp(l) => Endpoint::Tcp(l.local_addr()?),
        })
    }

    /// The listening fd, to wait on it together with other fds.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Listener::Unix { listener, .. } => listener.as_fd(),
            Listener::Tcp(l) => l.as_fd(),
        }
    }

    /// Accepts one connection, waiting at most `timeout`.
    pub fn accept(&self, timeout: Duration) -> Result<OwnedFd> {
        if !sys::wait_readable(self.fd(), timeout)? {
            bail!("the peer did not connect to {} within {timeout:?}", self.endpoint()?);
        }
        Ok(match self {
            Listener::Unix { listener, .. } => listener.accept()?.0.into(),
            Listener::Tcp(l) => {
                let (s, _) = l.accept()?;
                s.set_nodelay(true)?;
                s.into()
            }
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix { path, .. } = self {
            cleanup::remove_file(path);
        }
    }
}

/// Removes data sockets and mapping files in `dir` left by ipcbench processes that no longer
/// exist (a crash or a SIGKILL skips cleanup), saying so on stderr. Files of live processes,
/// and anything not named `ipcbench-<pid>-<n>.sock|.shm`, are left alone.
pub fn remove_stale_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("ipcbench-"))
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if pid <= 0 || sys::process_exists(pid as u32) {
            continue;
        }
        let Ok(kind) = entry.file_type() else { continue };
        let path = entry.path();
        let ext = path.extension().and_then(|e| e.to_str());
        let stale_socket = kind.is_socket() && ext == Some("sock") && UnixStream::connect(&path).is_err();
        let stale_mapping = kind.is_file() && ext == Some("shm");
        if stale_socket || stale_mapping {
            eprintln!("note: removed stale {} left by an earlier run", path.display());
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Connects to `endpoint`, retrying until `timeout` while it is not there yet.
pub fn connect(endpoint: &Endpoint, timeout: Duration) -> Result<OwnedFd> {
    if let Endpoint::Shm(_) | Endpoint::Dgram(_) = endpoint {
        bail!("{endpoint} is not a stream socket");
    }
    let deadline = Instant::now() + timeout;
    let mut backoff = Duration::from_millis(1);
    loop {
        let attempt: io::Result<OwnedFd> = match endpoint {
            Endpoint::Unix(p) => UnixStream::connect(p).map(Into::into),
            Endpoint::Tcp(a) => TcpStream::connect(a).and_then(|s| {
                s.set_nodelay(true)?;
                Ok(s.into())
            }),
            Endpoint::Shm(_) | Endpoint::Dgram(_) => unreachable!("checked above"),
        };
        match attempt {
            Ok(fd) => return Ok(fd),
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| format!("connecting to {endpoint} for {timeout:?}"))
            }
            Err(_) => {
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(100));
            }
        }
    }
}

/// A connected stream socket moving messages of one size, framed as [`Framing`] says.
pub struct SocketTransport {
    fd: OwnedFd,
    tx: Vec<u8>,
    rx: Vec<u8>,
    wait: WaitStrategy,
    timeout: Duration,
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
            wait,
            timeout,
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
            Framing::Raw => read_full(&self.fd, &mut self.rx, self.wait, self.timeout)?,
            Framing::LengthPrefixed => {
                // Buffered, as a real length-delimited codec reads: prefix and payload usually
                // arrive in one read. The frame is lent from the buffer, not copied.
                self.lines.ensure(PREFIX_BYTES, &self.fd, self.wait, self.timeout)?;
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
                self.lines.ensure(PREFIX_BYTES + n, &self.fd, self.wait, self.timeout)?;
                let frame = self.lines.start..self.lines.start + PREFIX_BYTES + n;
                self.lines.start = frame.end;
                self.frame = frame.start + PREFIX_BYTES..frame.end;
                return Ok(Header::read(&self.lines.buf[self.frame.clone()]));
            }
            Framing::JsonLines => {
                let line = self.lines.read_line(&self.fd, self.wait, self.timeout)?;
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
            Framing::Raw => write_full(&self.fd, &self.tx, self.wait, self.timeout),
            Framing::LengthPrefixed => {
                let prefix = (self.tx.len() as u32).to_le_bytes();
                write_all_vectored(&self.fd, &prefix, &self.tx, self.wait, self.timeout)
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
        write_full(&self.fd, &self.wire, self.wait, self.timeout)
    }
}

/// Buffered bytes of a line-oriented stream.
struct LineBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl LineBuf {
    fn new(size: usize) -> LineBuf {
        LineBuf { buf: vec![0; (2 * size).max(64 * 1024)], start: 0, end: 0 }
    }

    fn get(&self, r: std::ops::Range<usize>) -> &[u8] {
        &self.buf[r]
    }

    /// Makes at least `n` unconsumed bytes available from `start`.
    fn ensure(
        &mut self,
        n: usize,
        fd: &OwnedFd,
        wait: WaitStrategy,
        timeout: Duration,
    ) -> TransportResult<()> {
        if self.start + n > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end - self.start < n {
            self.end += read_some(fd, &mut self.buf[self.end..], wait, timeout)?;
        }
        Ok(())
    }

    /// The next line (without its `\n`), reading as much as needed.
    fn read_line(
        &mut self,
        fd: &OwnedFd,
        wait: WaitStrategy,
        timeout: Duration,
    ) -> TransportResult<std::ops::Range<usize>> {
        loop {
            if let Some(pos) = self.buf[self.start..self.end].iter().position(|&b| b == b'\n') {
                let line = self.start..self.start + pos;
                self.start += pos + 1;
                return Ok(line);
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                return Err(TransportError::Io(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("no newline in {} bytes: not a JSON-lines stream", self.buf.len()),
                )));
            }
            self.end += read_some(fd, &mut self.buf[self.end..], wait, timeout)?;
        }
    }
}

/// Fills `buf` from the socket, waiting as `wait` says.
#[inline]
fn read_full(fd: &OwnedFd, buf: &mut [u8], wait: WaitStrategy, timeout: Duration) -> TransportResult<()> {
    let mut off = 0;
    while off < buf.len() {
        off += read_some(fd, &mut buf[off..], wait, timeout)?;
    }
    Ok(())
}

/// Reads at least one byte into `buf`, waiting as `wait` says.
#[inline]
fn read_some(fd: &OwnedFd, buf: &mut [u8], wait: WaitStrategy, timeout: Duration) -> TransportResult<usize> {
    let mut w = SpinThenWait::new(wait, timeout);
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Ok(0) => return Err(TransportError::PeerClosed),
            Ok(n) => return Ok(n),
            // A blocking socket returns EAGAIN only after SO_RCVTIMEO: the timeout.
            Err(Errno::AGAIN) if wait == WaitStrategy::Block => return Err(TransportError::Timeout(timeout)),
            Err(Errno::AGAIN) => would_block(&mut w, fd, PollFlags::IN)?,
            Err(Errno::INTR) => {}
            Err(e) => return Err(map_errno(e)),
        }
    }
}

/// One failed non-blocking call on a spinning or hybrid socket: spin, or (hybrid, after the
/// spin phase) sleep in poll(2) until the socket is ready for `interest`; the wait's limit is
/// a timeout.
#[inline]
fn would_block(w: &mut SpinThenWait, fd: &OwnedFd, interest: PollFlags) -> TransportResult<()> {
    match w.step() {
        Step::Again | Step::Check => Ok(()),
        Step::Sleep(left) => match sys::wait_ready(fd.as_fd(), interest, left)? {
            true => Ok(()),
            false => Err(TransportError::Timeout(w.limit())),
        },
        Step::Elapsed => Err(TransportError::Timeout(w.limit())),
    }
}

/// Writes `a` then `b` with as few syscalls as possible (writev), handling partial writes; a
/// peer that stops reading is a timeout, as for [`write_full`].
fn write_all_vectored(
    fd: &OwnedFd,
    a: &[u8],
    b: &[u8],
    wait: WaitStrategy,
    timeout: Duration,
) -> TransportResult<()> {
    let total = a.len() + b.len();
    let mut done = 0;
    let mut w = SpinThenWait::new(wait, timeout);
    while done < total {
        let (ra, rb) = if done < a.len() { (&a[done..], b) } else { (&a[..0], &b[done - a.len()..]) };
        match rustix::io::writev(fd, &[io::IoSlice::new(ra), io::IoSlice::new(rb)]) {
            Ok(n) => done += n,
            Err(Errno::AGAIN) if wait == WaitStrategy::Block => return Err(TransportError::Timeout(timeout)),
            Err(Errno::AGAIN) => would_block(&mut w, fd, PollFlags::OUT)?,
            Err(Errno::INTR) => {}
            Err(e) => return Err(map_errno(e)),
        }
    }
    Ok(())
}

/// Writes all of `buf` to the socket, waiting as `wait` says when the socket buffer is full.
#[inline]
fn write_full(fd: &OwnedFd, buf: &[u8], wait: WaitStrategy, timeout: Duration) -> TransportResult<()> {
    let mut off = 0;
    let mut w = SpinThenWait::new(wait, timeout);
    while off < buf.len() {
        match rustix::io::write(fd, &buf[off..]) {
            Ok(n) => off += n,
            Err(Errno::AGAIN) if wait == WaitStrategy::Block => return Err(TransportError::Timeout(timeout)),
            Err(Errno::AGAIN) => would_block(&mut w, fd, PollFlags::OUT)?,
            Err(Errno::INTR) => {}
            Err(e) => return Err(map_errno(e)),
        }
    }
    Ok(())
}

fn map_errno(e: Errno) -> TransportError {
    match e {
        Errno::PIPE | Errno::CONNRESET | Errno::NOTCONN => TransportError::PeerClosed,
        e => TransportError::Io(e.into()),
    }
}

impl Transport for SocketTransport {
    #[inline]
    fn send_buf(&mut self) -> TransportResult<&mut [u8]> {
        Ok(&mut self.tx)
    }

    #[inline]
    fn send(&mut self) -> TransportResult<()> {
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
            Framing::Raw => write_full(&self.fd, &self.rx, self.wait, self.timeout)?,
            Framing::LengthPrefixed => {
                // The received frame, prefix included, goes straight back out of the buffer.
                let whole = self.frame.start - PREFIX_BYTES..self.frame.end;
                write_full(&self.fd, &self.lines.buf[whole], self.wait, self.timeout)?;
            }
            Framing::JsonLines => self.write_json(h, "echo")?,
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{check_pattern, fill_pattern};

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
                    let buf = a.send_buf().unwrap();
                    fill_pattern(seq, &mut buf[16..]);
                    Header { seq, send_ns: 42 }.write(buf);
                    a.send().unwrap();
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

    #[test]
    fn a_stale_socket_file_is_replaced_but_a_live_one_or_a_regular_file_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        drop(UnixListener::bind(&path).unwrap()); // leaves the file behind, like a crash
        assert!(path.exists());
        let live = Listener::bind_unix(&path, 0o600).unwrap();
        let err = Listener::bind_unix(&path, 0o600).err().unwrap();
        assert!(err.to_string().contains("in use"), "{err}");
        drop(live);
        assert!(!path.exists(), "listener removes its socket file");
        std::fs::write(&path, b"data").unwrap();
        let err = Listener::bind_unix(&path, 0o600).err().unwrap();
        assert!(err.to_string().contains("not a socket"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
    }
}
