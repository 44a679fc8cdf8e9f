//! The byte-level I/O under byte streams (sockets and FIFOs): filling and draining an fd as the
//! wait strategy says (a blocking socket with `SO_RCVTIMEO`/`SO_SNDTIMEO`, or a non-blocking fd
//! with the shared spin-then-wait policy, which sleeps in poll(2)), and a receive buffer that
//! frames are lent from. Every wait has a limit: a stalled peer is a timeout, never a hang.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::event::PollFlags;
use rustix::io::Errno;

use super::wait::{SpinThenWait, Step};
use super::{TransportError, TransportResult, WaitStrategy};
use crate::sys;

/// How an fd's I/O waits.
#[derive(Clone, Copy, Debug)]
pub(super) struct Waits {
    pub(super) wait: WaitStrategy,
    pub(super) timeout: Duration,
    /// The fd blocks with the kernel's timeout (a socket's `SO_RCVTIMEO`/`SO_SNDTIMEO`): an
    /// `EAGAIN` means it passed. Otherwise the fd is non-blocking and `EAGAIN` means wait.
    pub(super) kernel_timeout: bool,
}

impl Waits {
    /// A socket's: blocking with the kernel's timeout under `block`, non-blocking otherwise.
    #[inline(always)]
    pub(super) fn socket(wait: WaitStrategy, timeout: Duration) -> Waits {
        Waits { wait, timeout, kernel_timeout: wait == WaitStrategy::Block }
    }

    /// A non-blocking fd's (a FIFO has no kernel timeout): `block` sleeps in poll(2).
    #[inline(always)]
    pub(super) fn polled(wait: WaitStrategy, timeout: Duration) -> Waits {
        Waits { wait, timeout, kernel_timeout: false }
    }
}

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
    pub(super) fn ensure(&mut self, n: usize, fd: &OwnedFd, w: Waits) -> TransportResult<()> {
        if self.start + n > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end - self.start < n {
            self.end += read_some(fd, &mut self.buf[self.end..], w)?;
        }
        Ok(())
    }

    /// The next line (without its `\n`), reading as much as needed.
    pub(super) fn read_line(&mut self, fd: &OwnedFd, w: Waits) -> TransportResult<std::ops::Range<usize>> {
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
            self.end += read_some(fd, &mut self.buf[self.end..], w)?;
        }
    }
}

/// Fills `buf` from the fd, waiting as `w` says.
#[inline]
pub(super) fn read_full(fd: &OwnedFd, buf: &mut [u8], w: Waits) -> TransportResult<()> {
    let mut off = 0;
    while off < buf.len() {
        off += read_some(fd, &mut buf[off..], w)?;
    }
    Ok(())
}

/// Reads at least one byte into `buf`, waiting as `w` says.
#[inline]
fn read_some(fd: &OwnedFd, buf: &mut [u8], w: Waits) -> TransportResult<usize> {
    let mut spin = SpinThenWait::new(w.wait, w.timeout);
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Ok(0) => return Err(TransportError::PeerClosed),
            Ok(n) => return Ok(n),
            // A blocking socket returns EAGAIN only after SO_RCVTIMEO: the timeout.
            Err(Errno::AGAIN) if w.kernel_timeout => return Err(TransportError::Timeout(w.timeout)),
            Err(Errno::AGAIN) => would_block(&mut spin, fd, PollFlags::IN)?,
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
pub(super) fn write_all_vectored(fd: &OwnedFd, a: &[u8], b: &[u8], w: Waits) -> TransportResult<()> {
    let total = a.len() + b.len();
    let mut done = 0;
    let mut spin = SpinThenWait::new(w.wait, w.timeout);
    while done < total {
        let (ra, rb) = if done < a.len() { (&a[done..], b) } else { (&a[..0], &b[done - a.len()..]) };
        match rustix::io::writev(fd, &[io::IoSlice::new(ra), io::IoSlice::new(rb)]) {
            Ok(n) => done += n,
            Err(Errno::AGAIN) if w.kernel_timeout => return Err(TransportError::Timeout(w.timeout)),
            Err(Errno::AGAIN) => would_block(&mut spin, fd, PollFlags::OUT)?,
            Err(Errno::INTR) => {}
            Err(e) => return Err(map_errno(e)),
        }
    }
    Ok(())
}

/// Writes all of `buf` to the fd, waiting as `w` says when its buffer is full.
#[inline]
pub(super) fn write_full(fd: &OwnedFd, buf: &[u8], w: Waits) -> TransportResult<()> {
    let mut off = 0;
    let mut spin = SpinThenWait::new(w.wait, w.timeout);
    while off < buf.len() {
        match rustix::io::write(fd, &buf[off..]) {
            Ok(n) => off += n,
            Err(Errno::AGAIN) if w.kernel_timeout => return Err(TransportError::Timeout(w.timeout)),
            Err(Errno::AGAIN) => would_block(&mut spin, fd, PollFlags::OUT)?,
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
                    match write_all_vectored(
                        &fd,
                        &prefix,
                        &body,
                        Waits::socket(wait, Duration::from_millis(200)),
                    ) {
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
