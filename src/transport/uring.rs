//! Stream sockets driven by io_uring (`uds-uring`, `tcp-uring`): the same connected Unix or
//! TCP socket as `uds`/`tcp`, with every read and write a submission to a ring of this side's
//! own instead of a syscall of its own.
//!
//! - The socket is a registered file and the message buffers are registered buffers
//!   (`READ_FIXED`/`WRITE_FIXED`): no per-operation file lookup or page pinning.
//! - Reads are posted ahead: as soon as a message has arrived, the read of the next one is
//!   queued (into the other of two receive buffers, so the lent message stays intact), and it
//!   goes to the kernel with the next submission. Each `io_uring_enter` thus carries a write and
//!   the next read together (submission batching): a round trip costs the initiator two enters
//!   (send; wait) and the echoing peer two (write + next read; wait) at most.
//! - A send or echo returns once its write has completed (inside the same enter when the
//!   socket has room): io_uring cancels a thread's requests when the thread exits, and a pair's
//!   last message must not be cancelled with its thread.
//! - `--wait spin` busy-polls the completion queue in user space, entering the kernel only when
//!   it flags completions to be run (cooperative task running: no interrupt to the spinner).
//!   `block` sleeps in `io_uring_enter` for a completion, with the run's timeout; `hybrid`
//!   polls first, then sleeps.
//! - A short read or write is resubmitted for the rest; end-of-file, `EPIPE` or `ECONNRESET`
//!   mean the peer is gone.
//!
//! The kernel writes into the receive buffers while a read is in flight, so the buffers live
//! until the ring has given back every operation (see `Drop`).

#![allow(unsafe_code)] // submissions name buffers the kernel reads and writes

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use io_uring::{opcode, squeue, types, IoUring};

use super::wait::{SpinThenWait, Step};
use super::{Transport, TransportError, TransportResult, WaitStrategy};
use crate::wire::{Header, HEADER_BYTES};

const READ: u64 = 1;
const WRITE: u64 = 2;
/// Registered buffers: two for receiving (alternating), one for sending.
const TX: u16 = 2;

/// One read or write in flight: which registered buffer, how far it got, how much is left.
#[derive(Clone, Copy, Debug)]
struct Op {
    buf: u16,
    done: usize,
}

/// One side of an io_uring-driven stream socket.
pub struct UringTransport {
    ring: IoUring,
    /// The socket (registered as fixed file 0); kept open for as long as the ring may use it.
    fd: OwnedFd,
    /// Three buffers of `stride` bytes: receive 0, receive 1, send.
    bufs: Box<[u8]>,
    stride: usize,
    size: usize,
    wait: WaitStrategy,
    timeout: Duration,
    /// The read in flight (always one, but after a failure).
    read: Option<Op>,
    /// A receive buffer holding a whole message not yet handed out.
    arrived: Option<u16>,
    /// The write in flight, if any (one at a time: a stream must not interleave).
    write: Option<Op>,
    /// SQEs pushed but not yet submitted.
    queued: u32,
    /// A read's failure (end-of-file: the peer is gone), reported by the next wait for a
    /// message; a write's, by the next wait for a write. A peer that closes once it has what it
    /// needs fails our posted read, and that is no failure of a last write that went through.
    read_failed: Option<TransportError>,
    write_failed: Option<TransportError>,
}

/// What a wait waits for.
#[derive(Clone, Copy)]
enum Want {
    /// A whole message in a receive buffer.
    Arrival,
    /// The write in flight to have completed.
    Written,
}

impl UringTransport {
    /// Takes over a connected stream socket for messages of `size` bytes.
    pub fn new(fd: OwnedFd, size: usize, wait: WaitStrategy, timeout: Duration) -> io::Result<Self> {
        // io_uring arms its own poll for a socket that would block; a non-blocking descriptor
        // would hand back EAGAIN instead.
        rustix::io::ioctl_fionbio(&fd, false)?;
        // Cooperative task running: a completion arriving for a busy (spinning) side is not
        // forced on it with an inter-processor interrupt, which on a VM is a trip through the
        // hypervisor; the kernel raises a flag instead, and the spinner enters to run it.
        let ring = IoUring::builder().setup_coop_taskrun().setup_taskrun_flag().build(8).map_err(|e| {
            io::Error::new(e.kind(), format!("setting up an io_uring ({e}; is kernel.io_uring_disabled set, or does a seccomp profile refuse io_uring_setup?)"))
        })?;
        let stride = size.div_ceil(64) * 64;
        let mut bufs = vec![0u8; 3 * stride].into_boxed_slice();
        let iovecs: Vec<libc::iovec> = (0..3)
            .map(|i| libc::iovec {
                // SAFETY: `i * stride` is within the allocation of `3 * stride` bytes.
                iov_base: unsafe { bufs.as_mut_ptr().add(i * stride) }.cast(),
                iov_len: stride,
            })
            .collect();
        // SAFETY: the three buffers are owned by the transport, which never moves or frees
        // them while the ring lives (the boxed slice's heap memory stays put, and `Drop` waits
        // for every operation before the fields drop).
        unsafe { ring.submitter().register_buffers(&iovecs) }.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "registering {} bytes of io_uring buffers ({e}; RLIMIT_MEMLOCK may be too low)",
                    3 * stride
                ),
            )
        })?;
        ring.submitter().register_files(&[fd.as_raw_fd()])?;
        let mut t = UringTransport {
            ring,
            fd,
            bufs,
            stride,
            size,
            wait,
            timeout,
            read: None,
            arrived: None,
            write: None,
            queued: 0,
            read_failed: None,
            write_failed: None,
        };
        t.post_read(Op { buf: 0, done: 0 })?;
        Ok(t)
    }

    fn buf_ptr(&mut self, buf: u16, at: usize) -> *mut u8 {
        debug_assert!(at <= self.size && (buf as usize) < 3);
        // SAFETY: `buf < 3` and `at <= size <= stride`: inside the allocation.
        unsafe { self.bufs.as_mut_ptr().add(buf as usize * self.stride + at) }
    }

    fn push(&mut self, sqe: squeue::Entry) -> io::Result<()> {
        // SAFETY: every SQE pushed names a registered buffer of `self.bufs` (which outlives the
        // ring's use of it, see `Drop`) within its bounds, and the registered socket.
        while unsafe { self.ring.submission().push(&sqe) }.is_err() {
            self.ring.submit()?; // the queue is full: hand it to the kernel first
            self.queued = 0;
        }
        self.queued += 1;
        Ok(())
    }

    /// Queues the read of the rest of a message into `op.buf`.
    fn post_read(&mut self, op: Op) -> io::Result<()> {
        let (ptr, len) = (self.buf_ptr(op.buf, op.done), (self.size - op.done) as u32);
        self.read = Some(op);
        self.push(opcode::ReadFixed::new(types::Fixed(0), ptr, len, op.buf).build().user_data(READ))
    }

    /// Queues the write of the rest of `op.buf`'s message.
    fn post_write(&mut self, op: Op) -> io::Result<()> {
        let (ptr, len) = (self.buf_ptr(op.buf, op.done), (self.size - op.done) as u32);
        self.write = Some(op);
        self.push(opcode::WriteFixed::new(types::Fixed(0), ptr, len, op.buf).build().user_data(WRITE))
    }

    /// Hands queued SQEs to the kernel without waiting.
    fn submit(&mut self) -> TransportResult<()> {
        if self.queued > 0 {
            self.ring.submit()?;
            self.queued = 0;
        }
        Ok(())
    }

    /// Takes every completion there is, advancing the read and the write.
    #[inline]
    fn reap(&mut self) -> io::Result<()> {
        loop {
            let Some(cqe) = self.ring.completion().next() else { return Ok(()) };
            self.complete(cqe.user_data(), cqe.result())?;
        }
    }

    fn complete(&mut self, what: u64, res: i32) -> io::Result<()> {
        // End-of-file, or an error that means the peer's end is closed.
        let failure = |res: i32| match -res {
            0 | libc::EPIPE | libc::ECONNRESET => TransportError::PeerClosed,
            errno => TransportError::Io(io::Error::from_raw_os_error(errno)),
        };
        match what {
            READ => {
                let Some(mut op) = self.read.take() else { return Ok(()) };
                match res {
                    r if r <= 0 => self.read_failed = Some(failure(r)),
                    n => {
                        op.done += n as usize;
                        if op.done == self.size {
                            self.arrived = Some(op.buf);
                        } else {
                            self.post_read(op)?;
                        }
                    }
                }
            }
            WRITE => {
                let Some(mut op) = self.write.take() else { return Ok(()) };
                match res {
                    r if r <= 0 => self.write_failed = Some(failure(r)),
                    n => {
                        op.done += n as usize;
                        if op.done < self.size {
                            self.post_write(op)?;
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether `want` is met; its failure, if one came instead.
    fn outcome(&mut self, want: Want) -> Option<TransportResult<()>> {
        let (done, failed) = match want {
            Want::Arrival => (self.arrived.is_some(), &mut self.read_failed),
            Want::Written => (self.write.is_none(), &mut self.write_failed),
        };
        match failed.take() {
            Some(e) => Some(Err(e)),
            None => done.then_some(Ok(())),
        }
    }

    /// Waits until `want` is met, as the wait strategy says; submits what is queued first (with
    /// the wait itself, when sleeping).
    #[inline]
    fn wait_for(&mut self, want: Want) -> TransportResult<()> {
        self.reap()?;
        match self.outcome(want) {
            Some(r) => r.and_then(|_| self.submit()),
            None => self.wait_slow(want),
        }
    }

    #[inline(never)]
    fn wait_slow(&mut self, want: Want) -> TransportResult<()> {
        let mut w = SpinThenWait::new(self.wait, self.timeout);
        loop {
            if let Some(r) = self.outcome(want) {
                return r.and_then(|_| self.submit());
            }
            match w.step() {
                Step::Again | Step::Check => {
                    if self.ring.submission().taskrun() {
                        // Completions wait for this task to enter the kernel.
                        self.ring.submitter().submit_with_args(0, &types::SubmitArgs::new())?;
                        self.queued = 0;
                    } else {
                        self.submit()?;
                    }
                    self.reap()?;
                }
                Step::Sleep(left) => {
                    let ts = types::Timespec::new().sec(left.as_secs()).nsec(left.subsec_nanos());
                    let args = types::SubmitArgs::new().timespec(&ts);
                    match self.ring.submitter().submit_with_args(1, &args) {
                        Ok(_) => {}
                        Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME) | Some(libc::EINTR)) => {}
                        Err(e) => return Err(e.into()),
                    }
                    self.queued = 0;
                    self.reap()?;
                }
                Step::Elapsed => return Err(TransportError::Timeout(w.limit())),
            }
        }
    }

    /// Hands out the arrived message in buffer `buf` and posts the read of the next one into
    /// the other receive buffer (queued: it goes with the next submission).
    fn take_arrived(&mut self) -> TransportResult<u16> {
        let buf = self.arrived.take().expect("a message arrived");
        self.post_read(Op { buf: 1 - buf, done: 0 })?;
        Ok(buf)
    }

    fn rx(&self, buf: u16) -> &[u8] {
        let at = buf as usize * self.stride;
        &self.bufs[at..at + self.size]
    }
}

impl Transport for UringTransport {
    fn send_buf(&mut self) -> TransportResult<&mut [u8]> {
        // Every write completes before `send` or `echo` returns: the buffer is free.
        debug_assert!(self.write.is_none());
        let at = TX as usize * self.stride;
        Ok(&mut self.bufs[at + HEADER_BYTES..at + self.size])
    }

    fn send(&mut self, h: Header) -> TransportResult<()> {
        let at = TX as usize * self.stride;
        h.write(&mut self.bufs[at..at + HEADER_BYTES]);
        self.post_write(Op { buf: TX, done: 0 })?;
        // Done only once written: io_uring cancels a request when the thread that submitted it
        // exits, so a last message still in flight when a pair's thread ends would be lost.
        // A write the socket has room for completes inside this very submission.
        self.submit()?;
        self.wait_for(Want::Written)
    }

    fn recv(&mut self) -> TransportResult<&[u8]> {
        if self.arrived.is_none() {
            self.wait_for(Want::Arrival)?;
        }
        let buf = self.take_arrived()?;
        Ok(self.rx(buf))
    }

    fn release(&mut self) {}

    fn echo(&mut self) -> TransportResult<Header> {
        if self.arrived.is_none() {
            self.wait_for(Want::Arrival)?;
        }
        // The reply is written from the buffer it arrived in (the last reply's write is
        // complete, see below); the other receive buffer takes the next message.
        let buf = self.take_arrived()?;
        let header = Header::read(self.rx(buf));
        self.post_write(Op { buf, done: 0 })?;
        self.submit()?; // the reply and the next read, in one enter
                        // As in `send`: the reply is written before the echo returns.
        self.wait_for(Want::Written)?;
        Ok(header)
    }
}

impl Drop for UringTransport {
    fn drop(&mut self) {
        // Let a last write finish (the peer may wait for it), then end the read in flight:
        // shutting the socket down completes it. The buffers may be freed only once the ring
        // has given back both; if it does not within a second, leak them rather than let the
        // kernel write into freed memory.
        let limit = std::time::Instant::now() + Duration::from_secs(1);
        let mut shut = false;
        loop {
            let _ = self.submit();
            if self.read.is_none() && self.write.is_none() {
                return;
            }
            if self.write.is_none() && !shut {
                let _ = rustix::net::shutdown(&self.fd, rustix::net::Shutdown::Both);
                shut = true;
            }
            if std::time::Instant::now() >= limit {
                std::mem::forget(std::mem::take(&mut self.bufs));
                return;
            }
            let ts = types::Timespec::new().nsec(10_000_000);
            let _ = self.ring.submitter().submit_with_args(1, &types::SubmitArgs::new().timespec(&ts));
            // A failure only ends its operation (`complete` takes it out of flight).
            let _ = self.reap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// io_uring cancels what a thread submitted when the thread exits: a message larger than
    /// the socket buffer, sent by a thread that ends right after `send`, must still arrive
    /// whole (the pairs of a run end their threads after their last message).
    #[test]
    fn a_message_sent_by_a_thread_that_then_exits_arrives_whole() {
        let size = 4 << 20;
        let (mine, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let sender = std::thread::spawn(move || {
            let mut t = UringTransport::new(theirs.into(), size, WaitStrategy::Block, Duration::from_secs(5))
                .unwrap();
            t.send_buf().unwrap().fill(0xa5);
            let all_a5 = u64::from_le_bytes([0xa5; 8]);
            t.send(Header { seq: all_a5, send_ns: all_a5 }).unwrap();
            t // kept alive past the thread's end: only the thread exits
        });
        let mut mine = mine;
        mine.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = vec![0u8; size];
        mine.read_exact(&mut got).expect("the whole message");
        assert!(got.iter().all(|&b| b == 0xa5));
        drop(sender.join().unwrap());
    }
}
