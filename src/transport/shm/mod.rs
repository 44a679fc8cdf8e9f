//! The zero-copy shared-memory transport: two single-producer single-consumer rings (one per
//! direction) in a file mapped by both processes.
//!
//! The sender is lent a slot of the ring and writes its message straight into shared memory;
//! the receiver reads it in place and then releases the slot. No intermediate buffer, no
//! serialization, no per-message allocation. With `--copy` each side adds one explicit copy
//! (sender: private buffer -> slot; receiver: slot -> private buffer) to show what zero-copy buys.
//!
//! Besides the mapping, the two sides hold a connected Unix socket that carries no data: when a
//! process dies the kernel closes its end, so a waiter notices a dead peer within a millisecond
//! (spin) or a few tens of milliseconds (sleeping), across pid namespaces and containers alike.
//!
//! The mapping is a file in the shm directory (`shm`), or an anonymous sealed memfd (`memfd`)
//! that the creator sends over that same socket with `SCM_RIGHTS`: then the two processes share
//! nothing but the socket directory, no `/dev/shm`, no IPC namespace, no file of the ring.

#![allow(unsafe_code)] // the one place for it: the mapped region and the ring

pub mod broadcast;
pub mod notify;
pub(crate) mod region;
pub(crate) mod ring;
mod wait_word;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use crate::auth::Key;
use anyhow::{Context, Result};
use rustix::thread::futex;
use rustix::time::Timespec;

use self::notify::{EventFds, Events, Notify};
use self::region::Region;
use self::ring::{Consumer, Producer, WaitEnd, WORD_BYTES};
use super::endpoint::ShmEndpoint;
use super::listener::{self, Listener};
use super::wait::{SpinThenWait, Step};
use super::{Endpoint, Transport, TransportError, TransportResult, WaitStrategy};
use crate::wire::{Header, HEADER_BYTES};

/// How often a spinning waiter checks that the peer is alive.
const SPIN_CHECK: Duration = Duration::from_millis(1);
/// The longest single futex sleep; then liveness and the timeout are checked.
const SLEEP_SLICE_NS: i64 = 20_000_000;

/// The creator's side before the peer has attached.
pub struct ShmListener {
    region: Region,
    liveness: Listener,
    endpoint: ShmEndpoint,
    /// The memfd to hand over, for a memfd region.
    memfd: Option<OwnedFd>,
    /// The eventfds to hand over, with `--notify eventfd`.
    events: Option<EventFds>,
}

impl ShmListener {
    /// Creates the region for messages of `size_bytes` in the file `mapping`, or with none in
    /// a sealed memfd to be sent over the socket, and listens on the `liveness` socket.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        mapping: Option<&Path>,
        liveness: &Path,
        size_bytes: usize,
        slot_count: usize,
        copy: bool,
        notify: Notify,
        mode: u32,
    ) -> Result<Self> {
        let (region, memfd) = match mapping {
            Some(path) => (Region::create(path, size_bytes, slot_count, mode)?, None),
            None => {
                let (region, fd) = Region::create_memfd(size_bytes, slot_count)?;
                (region, Some(fd))
            }
        };
        let liveness_listener = Listener::bind_unix(liveness, mode)?;
        let endpoint = ShmEndpoint {
            mapping: mapping.map(Path::to_path_buf).unwrap_or_default(),
            liveness: liveness.to_path_buf(),
            slot_count,
            copy,
            memfd: memfd.is_some(),
            eventfd: notify == Notify::Eventfd,
        };
        let events = (notify == Notify::Eventfd).then(EventFds::create).transpose()?;
        Ok(ShmListener { region, liveness: liveness_listener, endpoint, memfd, events })
    }

    pub fn endpoint(&self) -> &ShmEndpoint {
        &self.endpoint
    }

    pub fn liveness_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.liveness.fd()
    }

    /// Waits for the peer to connect the liveness socket; the peer maps the file first.
    pub fn accept(
        self,
        size_bytes: usize,
        wait: WaitStrategy,
        timeout: Duration,
        key: &Key,
    ) -> Result<ShmTransport> {
        use std::os::fd::AsFd;
        let fd = self.liveness.accept_proven(timeout, key)?;
        drop(self.liveness); // its socket file is no longer needed
                             // What the attacher needs besides the socket: the memfd, then the eventfds.
        let mut handed = Vec::new();
        handed.extend(self.memfd.as_ref().map(|m| m.as_fd()));
        handed.extend(self.events.iter().flat_map(EventFds::borrowed));
        if !handed.is_empty() {
            listener::send_fds(&fd, &handed, &handed_what(self.endpoint.memfd, self.endpoint.eventfd))?;
        }
        let events = self.events.map(|e| e.for_side(true));
        Ok(ShmTransport::new(self.region, fd, size_bytes, wait, timeout, self.endpoint.copy, events))
    }
}

/// Attaches to a creator's mapping and connects its liveness socket.
pub fn connect(
    ep: &ShmEndpoint,
    size_bytes: usize,
    wait: WaitStrategy,
    timeout: Duration,
    key: &Key,
) -> Result<ShmTransport> {
    let live = || {
        listener::connect_proven(&Endpoint::Unix(ep.liveness.clone()), timeout, key)
            .with_context(|| format!("connecting the liveness socket {}", ep.liveness.display()))
    };
    // A mapping file is attached before connecting (the creator's accept means "attached").
    let (file_region, fd) = match ep.memfd {
        false => (Some(Region::attach(&ep.mapping, size_bytes, ep.slot_count, timeout)?), live()?),
        true => (None, live()?),
    };
    let count = usize::from(ep.memfd) + if ep.eventfd { EventFds::COUNT } else { 0 };
    let mut handed = match count {
        0 => Vec::new(),
        n => listener::recv_fds(&fd, n, &handed_what(ep.memfd, ep.eventfd), timeout)?,
    };
    let region = match file_region {
        Some(r) => r,
        None => Region::attach_memfd(handed.remove(0), size_bytes, ep.slot_count, timeout)?,
    };
    let events = ep.eventfd.then(|| EventFds::received(handed)).transpose()?.map(|e| e.for_side(false));
    Ok(ShmTransport::new(region, fd, size_bytes, wait, timeout, ep.copy, events))
}

/// What travels over the liveness socket, for error messages.
fn handed_what(memfd: bool, eventfd: bool) -> String {
    match (memfd, eventfd) {
        (true, true) => "memfd and eventfds",
        (true, false) => "memfd",
        _ => "eventfds",
    }
    .to_string()
}

/// One side's two ring ends, and what it needs to wait on them.
pub struct ShmTransport {
    tx: Producer,
    rx: Consumer,
    size: usize,
    wait: WaitStrategy,
    timeout_ns: u64,
    liveness: OwnedFd,
    /// Private buffers for `--copy` (send, receive).
    copy: Option<(Vec<u8>, Vec<u8>)>,
    /// With `--notify eventfd`: what sleepers poll and wakers signal instead of the futexes.
    events: Option<Events>,
}

impl ShmTransport {
    fn new(
        mut region: Region,
        liveness: OwnedFd,
        size: usize,
        wait: WaitStrategy,
        timeout: Duration,
        copy: bool,
        events: Option<Events>,
    ) -> ShmTransport {
        region.prefault_tx();
        // The handles keep the mapping alive between them.
        let (tx, rx) = region.split(wait != WaitStrategy::Spin);
        ShmTransport {
            tx,
            rx,
            size,
            wait,
            timeout_ns: timeout.as_nanos() as u64,
            liveness,
            copy: copy.then(|| (vec![0; size], vec![0; size])),
            events,
        }
    }

    fn wake_consumer(&self) {
        wake_consumer(&self.tx, &self.events);
    }

    fn wake_producer(&self) {
        wake_producer(&self.rx, &self.events);
    }
}

/// Wakes the consumer of our outgoing ring `tx` (it announced that it sleeps).
#[cold]
fn wake_consumer(tx: &Producer, events: &Option<Events>) {
    match events {
        None => tx.wake_consumer(),
        Some(e) => notify::signal(&e.tx_data),
    }
}

/// Wakes the producer of our incoming ring `rx` (it announced that it sleeps).
#[cold]
fn wake_producer(rx: &Consumer, events: &Option<Events>) {
    match events {
        None => rx.wake_producer(),
        Some(e) => notify::signal(&e.rx_space),
    }
}

/// What a waiter needs besides its ring end: how long, how, and what to sleep on.
#[derive(Clone, Copy)]
struct WaitCtx<'a> {
    wait: WaitStrategy,
    timeout_ns: u64,
    liveness: BorrowedFd<'a>,
    /// The eventfd to sleep on; the end's futex word when `None`.
    sleep_on: Option<BorrowedFd<'a>>,
}

impl<'a> WaitCtx<'a> {
    fn new(
        wait: WaitStrategy,
        timeout_ns: u64,
        liveness: &'a OwnedFd,
        sleep_on: Option<BorrowedFd<'a>>,
    ) -> Self {
        WaitCtx { wait, timeout_ns, liveness: liveness.as_fd(), sleep_on }
    }
}

/// Waits until `end` is ready, as `cx.wait` says; a gone peer or the timeout ends the wait.
/// Callers check `end.ready()` first: the fast path builds no context.
#[inline(never)]
fn wait_slow<E: WaitEnd>(end: &mut E, cx: WaitCtx<'_>) -> TransportResult<()> {
    let mut w = SpinThenWait::new(cx.wait, Duration::from_nanos(cx.timeout_ns)).checking_every(SPIN_CHECK);
    // Spin (spin, hybrid) until ready, the peer is gone, the limit passes, or it is time to sleep.
    loop {
        if end.ready() {
            return Ok(());
        }
        match w.step() {
            Step::Again => {}
            Step::Check => {
                if peer_gone_or_late(end, cx.liveness, &mut w)? {
                    return Ok(());
                }
            }
            Step::Sleep(_) => break,
            Step::Elapsed => return peer_gone_or_late(end, cx.liveness, &mut w).map(|_| ()),
        }
    }
    // Sleep in slices, checking liveness and the limit after each.
    loop {
        if let Some(seen) = end.prepare_sleep() {
            match cx.sleep_on {
                None => {
                    let slice = Timespec { tv_sec: 0, tv_nsec: SLEEP_SLICE_NS };
                    // Woken, value already changed (EAGAIN), timed out or interrupted: all mean
                    // "look again"; a shared futex, since the waker is another process.
                    let _ = futex::wait(end.futex(), futex::Flags::empty(), seen, Some(&slice));
                }
                Some(efd) => {
                    // The liveness socket turns readable when the peer dies: that ends the
                    // sleep too. A signal before the poll is kept in the counter.
                    let slice = Duration::from_nanos(SLEEP_SLICE_NS as u64);
                    let _ = crate::sys::wait_readable_any([efd, cx.liveness], slice);
                    notify::drain(efd);
                }
            }
            end.done_sleeping();
        }
        if end.ready() || peer_gone_or_late(end, cx.liveness, &mut w)? {
            return Ok(());
        }
    }
}

/// Ends a wait whose peer is gone (`PeerClosed`) or that lasted past its limit (`Timeout`);
/// `Ok(true)` when the end turned ready meanwhile. A peer that published and then exited still
/// counts as ready: its data was written before its socket closed.
#[cold]
fn peer_gone_or_late<E: WaitEnd>(
    end: &mut E,
    liveness: BorrowedFd<'_>,
    w: &mut SpinThenWait,
) -> TransportResult<bool> {
    if crate::sys::wait_readable(liveness, Duration::ZERO)? {
        return if end.ready() { Ok(true) } else { Err(TransportError::PeerClosed) };
    }
    if w.waited_ns() >= w.limit().as_nanos() as u64 {
        return if end.ready() { Ok(true) } else { Err(TransportError::Timeout(w.limit())) };
    }
    Ok(false)
}

impl ShmTransport {
    #[inline(always)]
    fn wait_space(&mut self) -> TransportResult<()> {
        if self.tx.has_space_to_write() {
            return Ok(());
        }
        let sleep_on = self.events.as_ref().map(|e| e.tx_space.as_fd());
        wait_slow(&mut self.tx, WaitCtx::new(self.wait, self.timeout_ns, &self.liveness, sleep_on))
    }

    #[inline(always)]
    fn wait_data(&mut self) -> TransportResult<()> {
        if self.rx.ready() {
            return Ok(());
        }
        let sleep_on = self.events.as_ref().map(|e| e.rx_data.as_fd());
        wait_slow(&mut self.rx, WaitCtx::new(self.wait, self.timeout_ns, &self.liveness, sleep_on))
    }
}

impl Transport for ShmTransport {
    fn readable_fd(&self) -> Option<BorrowedFd<'_>> {
        self.events.as_ref().map(|e| e.rx_data.as_fd())
    }

    fn liveness_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.liveness.as_fd())
    }

    #[inline]
    fn message_waiting(&mut self) -> bool {
        self.rx.ready()
    }

    fn before_sleep(&mut self) -> bool {
        self.rx.prepare_sleep().is_none()
    }

    fn after_sleep(&mut self) {
        self.rx.done_sleeping();
        if let Some(e) = &self.events {
            notify::drain(e.rx_data.as_fd());
        }
    }

    #[inline]
    fn send_buf(&mut self) -> TransportResult<&mut [u8]> {
        self.wait_space()?;
        Ok(match &mut self.copy {
            Some((tx, _)) => &mut tx[HEADER_BYTES..],
            // The body is the message after the slot's word: `send_ns`, then the payload.
            None => &mut self.tx.body(self.size)[HEADER_BYTES - WORD_BYTES..],
        })
    }

    #[inline]
    fn send(&mut self, h: Header) -> TransportResult<()> {
        let body = self.tx.body(self.size);
        match &mut self.copy {
            Some((tx, _)) => {
                h.write(tx);
                body.copy_from_slice(&tx[WORD_BYTES..]);
            }
            None => body[..8].copy_from_slice(&h.send_ns.to_le_bytes()),
        }
        // The header's `seq` is the slot's word: stored last, it publishes the message.
        if self.tx.publish(h.seq) {
            self.wake_consumer();
        }
        Ok(())
    }

    #[inline]
    fn recv(&mut self) -> TransportResult<&[u8]> {
        self.wait_data()?;
        Ok(match &mut self.copy {
            Some((_, rx)) => {
                rx.copy_from_slice(self.rx.slot(self.size));
                if self.rx.release() {
                    wake_producer(&self.rx, &self.events);
                }
                rx
            }
            None => self.rx.slot(self.size),
        })
    }

    #[inline]
    fn release(&mut self) {
        if self.copy.is_none() && self.rx.release() {
            self.wake_producer();
        }
    }

    #[inline]
    fn echo(&mut self) -> TransportResult<Header> {
        self.wait_data()?;
        self.wait_space()?;
        let header = match &mut self.copy {
            Some((_, buf)) => {
                buf.copy_from_slice(self.rx.slot(self.size));
                self.tx.body(self.size).copy_from_slice(&buf[WORD_BYTES..]);
                Header::read(buf)
            }
            None => {
                let msg = self.rx.slot(self.size);
                self.tx.body(self.size).copy_from_slice(&msg[WORD_BYTES..]);
                Header::read(msg)
            }
        };
        if self.tx.publish(header.seq) {
            self.wake_consumer();
        }
        if self.rx.release() {
            self.wake_producer();
        }
        Ok(header)
    }
}
