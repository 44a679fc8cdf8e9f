//! One thread serving many channels: the shape of a local daemon or a sidecar with many
//! clients (`--pattern many-clients`), and of a subscriber fed by many publishers
//! (`--pattern fan-in`).
//!
//! [`ServeSet::next_ready`] finds a channel with a message waiting, in round-robin order from
//! the one after the last served, so no channel starves:
//! - rings are checked in user space ([`Transport::message_waiting`]), no system call;
//! - descriptors (sockets, FIFOs, a ring's eventfd, a ring's liveness socket) are checked with
//!   one `poll(2)` over all of them: with a zero timeout while spinning, and sleeping in it
//!   (in slices, so the timeout is kept) for `--wait block`, or `hybrid` after its spin.
//!
//! A ring can be slept on only through its eventfd (`--notify eventfd`): a futex waits on one
//! word, and the server waits on N rings.

use std::os::fd::BorrowedFd;
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags};

use super::wait::{SpinThenWait, Step};
use super::{Connection, Transport, TransportError, WaitStrategy};

/// The longest single sleep in `poll`; then the timeout is checked.
const SLEEP_SLICE: Duration = Duration::from_millis(20);
/// How often a spinning server looks at its rings' liveness sockets.
const LIVENESS_CHECK: Duration = Duration::from_millis(1);

/// Connections served from one thread.
pub struct ServeSet {
    pub conns: Vec<Connection>,
    wait: WaitStrategy,
    timeout: Duration,
    /// Where the next round-robin scan starts.
    next: usize,
    /// Channels no longer served (their peer has finished).
    retired: Vec<bool>,
}

/// Why `conns` cannot be served from one thread with `wait`, if they cannot.
pub fn unservable(conns: &[Connection], wait: WaitStrategy) -> Option<&'static str> {
    for c in conns {
        let (fd, ring) =
            crate::with_transport_ref!(c, t => (t.readable_fd().is_some(), t.liveness_fd().is_some()));
        if !fd && !ring {
            return Some("this transport cannot be served with others from one thread");
        }
        if !fd && wait != WaitStrategy::Spin {
            return Some(
                "a server sleeps on many rings only through eventfds: add --notify eventfd (or --wait spin)",
            );
        }
    }
    None
}

impl ServeSet {
    pub fn new(conns: Vec<Connection>, wait: WaitStrategy, timeout: Duration) -> ServeSet {
        let retired = vec![false; conns.len()];
        ServeSet { conns, wait, timeout, next: 0, retired }
    }

    /// Stops serving channel `i` (its peer has sent its last message).
    pub fn retire(&mut self, i: usize) {
        self.retired[i] = true;
    }

    /// Whether every channel is retired.
    pub fn all_retired(&self) -> bool {
        self.retired.iter().all(|&r| r)
    }

    /// The index of a channel with a message waiting (or whose peer is gone: its receive then
    /// says so). Fails with the index of a channel whose peer is gone, or with a timeout.
    pub fn next_ready(&mut self) -> Result<usize, (Option<usize>, TransportError)> {
        let n = self.conns.len();
        let mut w = SpinThenWait::new(self.wait, self.timeout).checking_every(LIVENESS_CHECK);
        let polled = self.needs_poll();
        loop {
            for k in 0..n {
                let i = (self.next + k) % n;
                if self.retired[i] {
                    continue;
                }
                if crate::with_transport!(&mut self.conns[i], t => t.message_waiting()) {
                    self.next = (i + 1) % n;
                    return Ok(i);
                }
            }
            let sleep = match w.step() {
                Step::Again => None,
                Step::Check => Some(Duration::ZERO),
                Step::Sleep(left) => Some(left.min(SLEEP_SLICE)),
                Step::Elapsed => return Err((None, TransportError::Timeout(self.timeout))),
            };
            // Sockets and FIFOs are only seen by poll: poll them every round while spinning.
            let Some(sleep) = sleep.or_else(|| polled.then_some(Duration::ZERO)) else {
                continue;
            };
            if !sleep.is_zero() {
                let mut early = false;
                for (c, _) in self.conns.iter_mut().zip(&self.retired).filter(|(_, &r)| !r) {
                    early |= crate::with_transport!(c, t => t.before_sleep());
                }
                if early {
                    self.after_sleep();
                    continue;
                }
            }
            let found = self.poll_all(sleep);
            if !sleep.is_zero() {
                self.after_sleep();
            }
            match found? {
                Some(i) => {
                    self.next = (i + 1) % n;
                    return Ok(i);
                }
                None => continue,
            }
        }
    }

    /// Whether some channel's messages are seen only by `poll` (a socket, a FIFO: no
    /// liveness socket of its own, its descriptor is the channel).
    fn needs_poll(&self) -> bool {
        self.conns.iter().any(|c| crate::with_transport_ref!(c, t => t.liveness_fd().is_none()))
    }

    fn after_sleep(&mut self) {
        for (c, _) in self.conns.iter_mut().zip(&self.retired).filter(|(_, &r)| !r) {
            crate::with_transport!(c, t => t.after_sleep());
        }
    }

    /// One `poll` over every channel's descriptors: the first readable one in round-robin
    /// order, or an error naming the channel whose liveness socket says its peer is gone.
    fn poll_all(&self, timeout: Duration) -> Result<Option<usize>, (Option<usize>, TransportError)> {
        let n = self.conns.len();
        // (channel, is liveness)
        let mut owners = Vec::with_capacity(2 * n);
        let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(2 * n);
        for (i, c) in self.conns.iter().enumerate().filter(|(i, _)| !self.retired[*i]) {
            let (data, live): (Option<BorrowedFd<'_>>, Option<BorrowedFd<'_>>) =
                crate::with_transport_ref!(c, t => (t.readable_fd(), t.liveness_fd()));
            if let Some(fd) = data {
                fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
                owners.push((i, false));
            }
            if let Some(fd) = live {
                fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
                owners.push((i, true));
            }
        }
        let ts = rustix::time::Timespec {
            tv_sec: timeout.as_secs() as i64,
            tv_nsec: timeout.subsec_nanos() as i64,
        };
        match poll(&mut fds, Some(&ts)) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(None),
            Err(e) => return Err((None, TransportError::Io(e.into()))),
        }
        let ready: Vec<(usize, bool)> =
            fds.iter().zip(&owners).filter(|(f, _)| !f.revents().is_empty()).map(|(_, o)| *o).collect();
        if let Some(&(i, _)) = ready.iter().find(|(_, live)| *live) {
            return Err((Some(i), TransportError::PeerClosed));
        }
        Ok((0..n).map(|k| (self.next + k) % n).find(|i| ready.iter().any(|(j, _)| j == i)))
    }
}
