//! The byte-level I/O under stream sockets: filling and draining a socket as the wait strategy
//! says (blocking with `SO_RCVTIMEO`/`SO_SNDTIMEO`, or non-blocking with the shared
//! spin-then-wait policy), and a receive buffer that frames are lent from. Every wait has a
//! limit: a stalled peer is a timeout, never a hang.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::event::PollFlags;
use rustix::io::Errno;

use super::wait::{SpinThenWait, Step};
use super::{TransportError, TransportResult, WaitStrategy};
use crate::sys;

/// Buffered bytes of a line-oriented stream.
pub(super) struct LineBuf {
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
}

impl LineBuf {
    pub(super) fn new(size: usize) -> LineBuf {
        LineBuf { buf: vec![0; (2 * size).max(64 * 1024)], start: 0, end: 0 }
    }

    pub(super) fn get(&self, r: std::ops::Range<usize>) -> &[u8] {
        &self.buf[r]
    }

    /// Makes at least `n` unconsumed bytes available from `start`.
    pub(super) fn ensure(
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
    pub(super) fn read_line(
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
pub(super) fn read_full(
    fd: &OwnedFd,
    buf: &mut [u8],
    wait: WaitStrategy,
    timeout: Duration,
) -> TransportResult<()> {
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
pub(super) fn write_all_vectored(
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
pub(super) fn write_full(
    fd: &OwnedFd,
    buf: &[u8],
    wait: WaitStrategy,
    timeout: Duration,
) -> TransportResult<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_peer_that_stops_reading_times_out_a_vectored_write_instead_of_hanging_it() {
        for wait in [WaitStrategy::Spin, WaitStrategy::Hybrid] {
            let (a, _b) = UnixStream::pair().unwrap(); // _b never reads
            a.set_nonblocking(true).unwrap();
            let fd: OwnedFd = a.into();
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let body = vec![7u8; 64 << 10];
                let prefix = (body.len() as u32).to_le_bytes();
                let outcome = loop {
                    match write_all_vectored(&fd, &prefix, &body, wait, Duration::from_millis(200)) {
                        Ok(()) => continue, // the socket buffer still had room
                        Err(e) => break e,
                    }
                };
                let _ = done_tx.send(outcome);
            });
            // Before the fix, EAGAIN was retried for ever: no answer within 10 s is that hang.
            let outcome =
                done_rx.recv_timeout(Duration::from_secs(10)).expect("the write hung on a full socket");
            assert!(
                matches!(outcome, TransportError::Timeout(t) if t == Duration::from_millis(200)),
                "{wait}: {outcome:?}"
            );
        }
    }
}
