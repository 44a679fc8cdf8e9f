//! POSIX message queues: two queues per channel, one per direction (`/ipcbench-<pid>-<test>-<pair>-i`
//! toward the peer, `...-p` back), each holding messages of exactly the run's size.
//!
//! The creator makes both queues exclusively (`O_CREAT | O_EXCL`, the socket directory's file
//! mode) and a Unix liveness socket in the socket directory, as the shm ring does. The peer opens
//! both queues, then connects the socket; the creator then unlinks both names (the queues live on
//! while open), so nothing is left behind, and a signal unlinks whatever is still registered.
//! Queue descriptors are non-blocking: a spin wait retries, a blocking or hybrid wait sleeps in
//! poll(2) on the queue and the liveness socket together, so a dead peer is noticed at once
//! and a stalled one is a timeout, never a hang (a plain `mq_send` has no timeout).
//!
//! A message may be at most `fs.mqueue.msgsize_max` bytes (8192 by default), and a queue holds
//! at most `fs.mqueue.msg_max` messages (10 by default).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::auth::Key;
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::mqueue::{mq_open, mq_receive, mq_send, MQ_OFlag, MqAttr, MqdT};
use nix::sys::stat::Mode;
use rustix::event::{poll, PollFd, PollFlags};
use serde::{Deserialize, Serialize};

use super::listener::{self, Listener};
use super::wait::{SpinThenWait, Step};
use super::{Endpoint, Transport, TransportError, TransportResult, WaitStrategy};
use crate::cleanup;
use crate::wire::{Header, HEADER_BYTES};

/// How often a spinning waiter checks that the peer is alive.
const SPIN_CHECK: Duration = Duration::from_millis(1);

/// The two queue names and the liveness socket the peer needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MqEndpoint {
    /// The queue the creator sends on.
    pub to_peer: String,
    /// The queue the peer sends on.
    pub from_peer: String,
    pub liveness: PathBuf,
}

/// The largest message a queue may carry here (`fs.mqueue.msgsize_max`).
pub fn msgsize_max() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/fs/mqueue/msgsize_max").ok()?.trim().parse().ok()
}

/// Messages a queue holds: `fs.mqueue.msg_max`, at most 10 (the unprivileged default).
fn depth() -> i64 {
    std::fs::read_to_string("/proc/sys/fs/mqueue/msg_max")
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok())
        .unwrap_or(10)
        .clamp(1, 10)
}

/// An open queue descriptor, closed when dropped.
struct Queue(Option<MqdT>);

impl Queue {
    fn open(name: &str, create: Option<(usize, u32)>) -> Result<Queue> {
        let q = match create {
            Some((size, mode)) => {
                let attr = MqAttr::new(0, depth(), size as i64, 0);
                let flags = MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_RDWR | MQ_OFlag::O_NONBLOCK;
                mq_open(name, flags, Mode::from_bits_truncate(mode), Some(&attr)).map_err(|e| match e {
                    Errno::EINVAL => anyhow::anyhow!(
                        "creating message queue {name} for {size} B messages: {e} (at most fs.mqueue.msgsize_max = {} bytes and fs.mqueue.msg_max messages; raise them with sysctl)",
                        msgsize_max().map_or_else(|| "?".into(), |m| m.to_string())
                    ),
                    e => anyhow::anyhow!("creating message queue {name}: {e}"),
                })?
            }
            None => mq_open(name, MQ_OFlag::O_RDWR | MQ_OFlag::O_NONBLOCK, Mode::empty(), None)
                .with_context(|| format!("opening message queue {name}"))?,
        };
        Ok(Queue(Some(q)))
    }

    fn q(&self) -> &MqdT {
        self.0.as_ref().expect("open until dropped")
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        if let Some(q) = self.0.take() {
            let _ = nix::mqueue::mq_close(q);
        }
    }
}

/// The creator's side before the peer has connected.
pub struct MqListener {
    tx: Queue,
    rx: Queue,
    liveness: Listener,
    endpoint: MqEndpoint,
}

impl MqListener {
    /// Creates both queues, named after `base`, and the liveness socket `liveness`. With a
    /// group-accessible `mode` the queues get the socket directory's group, as its files do
    /// through the directory's setgid bit (a container's user is in that group).
    pub fn create(base: &str, liveness: &Path, size_bytes: usize, mode: u32) -> Result<MqListener> {
        let (to_peer, from_peer) = (format!("/{base}-i"), format!("/{base}-p"));
        let group = (mode & 0o070 != 0)
            .then(|| liveness.parent().and_then(|d| std::fs::metadata(d).ok()))
            .flatten()
            .map(|m| std::os::unix::fs::MetadataExt::gid(&m));
        let open = |name: &str| -> Result<Queue> {
            use std::os::fd::AsFd;
            let q = Queue::open(name, Some((size_bytes, mode)))?;
            cleanup::register_queue(name);
            // The umask may have taken bits away; set exactly `mode`.
            rustix::fs::fchmod(q.q().as_fd(), rustix::fs::Mode::from_raw_mode(mode))
                .with_context(|| format!("setting the mode of message queue {name}"))?;
            if let Some(gid) = group {
                rustix::fs::fchown(q.q().as_fd(), None, Some(rustix::fs::Gid::from_raw(gid))).with_context(
                    || format!("giving message queue {name} the socket directory's group {gid}"),
                )?;
            }
            Ok(q)
        };
        let tx = match open(&to_peer) {
            Ok(q) => q,
            Err(e) => {
                cleanup::remove_queue(&to_peer);
                return Err(e);
            }
        };
        let rx = match open(&from_peer) {
            Ok(q) => q,
            Err(e) => {
                cleanup::remove_queue(&to_peer);
                cleanup::remove_queue(&from_peer);
                return Err(e);
            }
        };
        let endpoint = MqEndpoint { to_peer, from_peer, liveness: liveness.to_path_buf() };
        match Listener::bind_unix(liveness, mode) {
            Ok(l) => Ok(MqListener { tx, rx, liveness: l, endpoint }),
            Err(e) => {
                cleanup::remove_queue(&endpoint.to_peer);
                cleanup::remove_queue(&endpoint.from_peer);
                Err(e)
            }
        }
    }

    pub fn endpoint(&self) -> &MqEndpoint {
        &self.endpoint
    }

    pub fn liveness_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.liveness.fd()
    }

    /// Waits for the peer (it has opened both queues when it connects), then unlinks them.
    pub fn accept(
        mut self,
        size_bytes: usize,
        wait: WaitStrategy,
        timeout: Duration,
        key: &Key,
    ) -> Result<MqTransport> {
        let fd = self.liveness.accept_proven(timeout, key)?;
        cleanup::remove_queue(&self.endpoint.to_peer);
        cleanup::remove_queue(&self.endpoint.from_peer);
        let (tx, rx) = (Queue(self.tx.0.take()), Queue(self.rx.0.take()));
        Ok(MqTransport::new(tx, rx, fd, size_bytes, wait, timeout))
    }
}

impl Drop for MqListener {
    fn drop(&mut self) {
        // Never accepted (or accepted: then already unlinked, and this does nothing).
        cleanup::remove_queue(&self.endpoint.to_peer);
        cleanup::remove_queue(&self.endpoint.from_peer);
    }
}

/// The peer's side: opens both queues, then connects the liveness socket.
pub fn connect(
    ep: &MqEndpoint,
    size_bytes: usize,
    wait: WaitStrategy,
    timeout: Duration,
    key: &Key,
) -> Result<MqTransport> {
    let rx = Queue::open(&ep.to_peer, None)?;
    let tx = Queue::open(&ep.from_peer, None)?;
    for (q, name) in [(&rx, &ep.to_peer), (&tx, &ep.from_peer)] {
        let size = nix::mqueue::mq_getattr(q.q())?.msgsize() as usize;
        if size != size_bytes {
            anyhow::bail!("message queue {name} carries {size} B messages, expected {size_bytes}");
        }
    }
    let fd = listener::connect_proven(&Endpoint::Unix(ep.liveness.clone()), timeout, key)
        .with_context(|| format!("connecting the liveness socket {}", ep.liveness.display()))?;
    Ok(MqTransport::new(tx, rx, fd, size_bytes, wait, timeout))
}

/// One side's two queues.
pub struct MqTransport {
    tx: Queue,
    rx: Queue,
    liveness: OwnedFd,
    tbuf: Vec<u8>,
    rbuf: Vec<u8>,
    wait: WaitStrategy,
    timeout: Duration,
}

impl MqTransport {
    fn new(
        tx: Queue,
        rx: Queue,
        liveness: OwnedFd,
        size: usize,
        wait: WaitStrategy,
        timeout: Duration,
    ) -> Self {
        MqTransport { tx, rx, liveness, tbuf: vec![0; size], rbuf: vec![0; size], wait, timeout }
    }
}

/// The peer's liveness socket carries no data: readable means closed.
fn peer_gone(liveness: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(liveness, PollFlags::IN)];
    matches!(poll(&mut fds, Some(&rustix::time::Timespec { tv_sec: 0, tv_nsec: 0 })), Ok(n) if n > 0)
}

/// Whether `queue` is ready for `interest` right now (a message to take, or room).
fn queue_ready(queue: &MqdT, interest: PollFlags) -> bool {
    let mut fds = [PollFd::new(queue, interest)];
    matches!(poll(&mut fds, Some(&rustix::time::Timespec { tv_sec: 0, tv_nsec: 0 })), Ok(n) if n > 0)
}

/// One failed non-blocking queue call: spin, check the peer, or sleep in poll(2) on the queue
/// (for `interest`) and the liveness socket together.
fn wait_for(
    w: &mut SpinThenWait,
    queue: &MqdT,
    interest: PollFlags,
    liveness: &OwnedFd,
) -> TransportResult<()> {
    match w.step() {
        Step::Again => Ok(()),
        // A peer that sent its last message and exited left it queued: take it first (the
        // caller retries). Only an empty queue and a closed socket mean it is gone.
        Step::Check if peer_gone(liveness) && !queue_ready(queue, interest) => {
            Err(TransportError::PeerClosed)
        }
        Step::Check => Ok(()),
        Step::Sleep(left) => {
            let ts =
                rustix::time::Timespec { tv_sec: left.as_secs() as i64, tv_nsec: left.subsec_nanos() as i64 };
            let mut fds = [PollFd::new(queue, interest), PollFd::new(liveness, PollFlags::IN)];
            match poll(&mut fds, Some(&ts)) {
                Ok(0) => Err(TransportError::Timeout(w.limit())),
                // Data (or room) first: a sender that finished closes its socket right after
                // its last message, which may still be queued.
                Ok(_) if fds[0].revents().is_empty() && !fds[1].revents().is_empty() => {
                    Err(TransportError::PeerClosed)
                }
                Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
                Err(e) => Err(TransportError::Io(e.into())),
            }
        }
        Step::Elapsed => Err(TransportError::Timeout(w.limit())),
    }
}

/// Sends `buf` on `q`, waiting as `wait` says while the queue is full.
fn send_on(
    q: &MqdT,
    buf: &[u8],
    liveness: &OwnedFd,
    wait: WaitStrategy,
    timeout: Duration,
) -> TransportResult<()> {
    let mut w = SpinThenWait::new(wait, timeout).checking_every(SPIN_CHECK);
    loop {
        match mq_send(q, buf, 0) {
            Ok(()) => return Ok(()),
            Err(Errno::EAGAIN) => wait_for(&mut w, q, PollFlags::OUT, liveness)?,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(TransportError::Io(std::io::Error::from(e))),
        }
    }
}

impl MqTransport {
    fn receive(&mut self) -> TransportResult<()> {
        let mut w = SpinThenWait::new(self.wait, self.timeout).checking_every(SPIN_CHECK);
        let mut prio = 0;
        loop {
            match mq_receive(self.rx.q(), &mut self.rbuf, &mut prio) {
                Ok(n) if n == self.rbuf.len() => return Ok(()),
                Ok(n) => {
                    return Err(TransportError::Malformed(format!(
                        "a {n} B message, expected {}",
                        self.rbuf.len()
                    )))
                }
                Err(Errno::EAGAIN) => wait_for(&mut w, self.rx.q(), PollFlags::IN, &self.liveness)?,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(TransportError::Io(std::io::Error::from(e))),
            }
        }
    }
}

impl Transport for MqTransport {
    fn send_buf(&mut self) -> TransportResult<&mut [u8]> {
        Ok(&mut self.tbuf[HEADER_BYTES..])
    }

    fn send(&mut self, h: Header) -> TransportResult<()> {
        h.write(&mut self.tbuf);
        send_on(self.tx.q(), &self.tbuf, &self.liveness, self.wait, self.timeout)
    }

    fn recv(&mut self) -> TransportResult<&[u8]> {
        self.receive()?;
        Ok(&self.rbuf)
    }

    fn release(&mut self) {}

    fn echo(&mut self) -> TransportResult<Header> {
        self.receive()?;
        send_on(self.tx.q(), &self.rbuf, &self.liveness, self.wait, self.timeout)?;
        Ok(Header::read(&self.rbuf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that queued its last message and closed its socket is not "gone" until that
    /// message is taken: under load a receiver's check can come between the two.
    #[test]
    fn a_closed_peer_with_a_message_still_queued_is_not_gone_until_it_is_taken() {
        let name = format!("/ipcbench-test-{}-closed", std::process::id());
        let q = Queue::open(&name, Some((64, 0o600))).unwrap();
        let _ = nix::mqueue::mq_unlink(name.as_str());
        let (mine, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(theirs); // the peer exited
        let live: OwnedFd = mine.into();
        mq_send(q.q(), &[7u8; 64], 0).unwrap();
        let checks =
            || SpinThenWait::new(WaitStrategy::Spin, Duration::from_secs(5)).checking_every(Duration::ZERO);
        let mut w = checks();
        for _ in 0..10 * super::super::wait::POLLS_PER_CLOCK_READ {
            assert!(wait_for(&mut w, q.q(), PollFlags::IN, &live).is_ok(), "a queued message first");
        }
        let mut buf = [0u8; 64];
        mq_receive(q.q(), &mut buf, &mut 0).unwrap();
        let mut w = checks();
        let gone = (0..10 * super::super::wait::POLLS_PER_CLOCK_READ)
            .find_map(|_| wait_for(&mut w, q.q(), PollFlags::IN, &live).err());
        assert!(matches!(gone, Some(TransportError::PeerClosed)), "{gone:?}");
    }
}
