//! iceoryx2 as a transport (`--transport iceoryx2`, built with `--features iceoryx2`): its
//! zero-copy publish-subscribe between the two processes, one service per direction, as the
//! anchor our own ring is measured against in the same run, placement and clocks.
//!
//! - Messages are byte slices of the configured size, loaned from the publisher's shared
//!   memory (`loan_slice_uninit`), written in place and sent; the subscriber reads the sample in
//!   place and releases it. An echo copies the received sample into a loaned one, as our ring's
//!   echo copies a slot into a slot.
//! - The subscriber buffer has the ring's slot count, no history and no overflow: a full buffer
//!   holds the publisher back (a backpressure handler that gives up when the peer is gone or
//!   the timeout passed, so a send never hangs).
//! - `--wait spin` polls `receive`; `block` and `hybrid` add an event service per direction,
//!   notified after each send, and sleep on its listener.
//! - Everything iceoryx2 keeps on disk lives in a directory of the creator's in the socket
//!   directory (`ipcbench-<pid>-iox2`), and its shared memory is named with a prefix of the
//!   creator's pid, so a run removes both, also on Ctrl-C, and a later run removes what a
//!   crashed one left. A Unix liveness socket, as the shm ring has, tells a waiter at once that
//!   its peer is gone. Crossing a container needs the socket directory and `/dev/shm` shared.
//! - A fan-out's publisher ([`fan`]) has one data service with N subscribers, and one
//!   acknowledgement service per subscriber; each subscriber is this module's ordinary peer.

#![allow(unsafe_code)] // a loaned sample is lent out as bytes, and the ports move between threads

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::auth::Key;
use anyhow::{Context, Result};
use iceoryx2::port::listener::Listener as EventListener;
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::port::BackpressureAction;
use iceoryx2::prelude::*;
use iceoryx2::sample::Sample;
use iceoryx2::sample_mut_uninit::SampleMutUninit;

use super::endpoint::Iox2Endpoint;
use super::listener::{self, Listener};
use super::wait::{SpinThenWait, Step};
use super::{Endpoint, Transport, TransportError, TransportResult, WaitStrategy};
use crate::cleanup;
use crate::wire::{Header, HEADER_BYTES};

mod fan;
mod services;
pub use fan::{Iox2FanListener, Iox2FanOut};
use services::{event, event_listener, node, notifier, publisher, pubsub, subscriber};

type Pub = Publisher<ipc::Service, [u8], ()>;
type Sub = Subscriber<ipc::Service, [u8], ()>;
type Loan = SampleMutUninit<ipc::Service, [MaybeUninit<u8>], ()>;

/// How often a spinning waiter checks that the peer is alive.
const SPIN_CHECK: Duration = Duration::from_millis(1);
/// The longest single sleep on an event listener; then liveness and the timeout are checked.
const SLEEP_SLICE: Duration = Duration::from_millis(20);

/// The directory iceoryx2 keeps its service and node files in, for the creator `pid`.
pub fn root_dir(socket_dir: &Path, pid: u32) -> PathBuf {
    socket_dir.join(format!("ipcbench-{pid}-iox2"))
}

/// The prefix of every shared-memory object iceoryx2 makes for the creator `pid`.
pub fn shm_prefix(pid: u32) -> String {
    format!("ipcbench_{pid}_")
}

type PubSubService = iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, [u8], ()>;
type EventService = iceoryx2::service::port_factory::event::PortFactory<ipc::Service>;

/// One side's node and ports. Everything iceoryx2 shares between them (its `Rc`s) is owned here.
struct Ports {
    tx: Pub,
    rx: Sub,
    /// With sleeping waits: the notifier of the peer's listener, and ours.
    events: Option<(Notifier<ipc::Service>, EventListener<ipc::Service>)>,
    _node: Node<ipc::Service>,
}

fn open_ports(ep: &Iox2Endpoint, creator: bool, live: LiveFds, timeout: Duration) -> Result<Ports> {
    let node = node(ep)?;
    let (tx_name, rx_name) =
        if creator { (&ep.to_peer, &ep.from_peer) } else { (&ep.from_peer, &ep.to_peer) };
    let (tx_service, rx_service) =
        (pubsub(&node, tx_name, ep.slots, 1, creator)?, pubsub(&node, rx_name, ep.slots, 1, creator)?);
    // A full buffer with the peer gone: give up.
    let tx = publisher(
        &tx_service,
        tx_name,
        ep.size_bytes,
        live,
        BackpressureAction::DiscardDataAndFail,
        timeout,
    )?;
    let rx = subscriber(&rx_service, rx_name)?;
    let events = if ep.events {
        let (tx_event, rx_event) = (event(&node, tx_name, 1, creator)?, event(&node, rx_name, 1, creator)?);
        Some((notifier(&tx_event)?, event_listener(&rx_event)?))
    } else {
        None
    };
    Ok(Ports { tx, rx, events, _node: node })
}

fn peer_gone_raw(fd: i32) -> bool {
    // SAFETY: `fd` is a liveness socket, owned by the transport whose publisher calls this;
    // the publisher is dropped before the socket (field order in `Iox2Transport` and
    // `Iox2FanOut`).
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    crate::sys::wait_readable(fd, Duration::ZERO).unwrap_or(true)
}

/// The creator's side before the peer has attached: its services and ports exist (the peer
/// opens them), the peer's ports not yet.
pub struct Iox2Listener {
    endpoint: Iox2Endpoint,
    liveness: Listener,
    ports: Ports,
    live_fd: LiveFds,
}

impl Iox2Listener {
    /// Makes the services `<name>-i` and `<name>-p` (and their events, for sleeping waits),
    /// this side's ports, and the liveness socket.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        socket_dir: &Path,
        name: &str,
        liveness: &Path,
        size_bytes: usize,
        slots: usize,
        wait: WaitStrategy,
        timeout: Duration,
        mode: u32,
    ) -> Result<Self> {
        let pid = std::process::id();
        let root = root_dir(socket_dir, pid);
        cleanup::register_iox2(&root, &shm_prefix(pid));
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        // iceoryx2 makes its files and shared memory for their owner only (mode 0600): the
        // peer must run as the same user, whatever this directory's mode.
        let endpoint = Iox2Endpoint {
            root,
            prefix: shm_prefix(pid),
            to_peer: format!("{name}-i"),
            from_peer: format!("{name}-p"),
            liveness: liveness.to_path_buf(),
            size_bytes,
            slots,
            events: wait != WaitStrategy::Spin,
        };
        let live_fd = LiveFds::new(1);
        let ports = open_ports(&endpoint, true, live_fd.clone(), timeout)?;
        let liveness = Listener::bind_unix(liveness, mode)?;
        Ok(Iox2Listener { endpoint, liveness, ports, live_fd })
    }

    pub fn endpoint(&self) -> &Iox2Endpoint {
        &self.endpoint
    }

    pub fn liveness_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.liveness.fd()
    }

    /// Takes the peer's liveness connection and waits for its word that its ports are open
    /// (before that, a message would find no subscriber).
    pub fn accept(self, wait: WaitStrategy, timeout: Duration, key: &Key) -> Result<Iox2Transport> {
        let fd = self.liveness.accept_proven(timeout, key)?;
        drop(self.liveness);
        if !crate::sys::wait_readable(fd.as_fd(), timeout)? {
            anyhow::bail!("the peer opened no iceoryx2 ports within {timeout:?}");
        }
        let mut byte = [0u8; 1];
        let got = rustix::net::recv(&fd, &mut byte, rustix::net::RecvFlags::empty())
            .context("reading the peer's word on the liveness socket")?;
        if got.0 != 1 || byte[0] != READY {
            anyhow::bail!("the peer closed its liveness socket before opening its iceoryx2 ports");
        }
        self.live_fd.set(0, &fd);
        Iox2Transport::new(self.ports, fd, self.endpoint.size_bytes, wait, timeout)
    }
}

const READY: u8 = b'R';

/// The liveness sockets' descriptors as a backpressure handler sees them (-1 until connected):
/// one for a pair, one per subscriber for a fan-out's publisher.
#[derive(Clone)]
struct LiveFds(std::sync::Arc<[std::sync::atomic::AtomicI32]>);

impl LiveFds {
    fn new(n: usize) -> LiveFds {
        LiveFds((0..n).map(|_| std::sync::atomic::AtomicI32::new(0)).collect())
    }

    fn set(&self, i: usize, fd: &OwnedFd) {
        // Relaxed: read on this same thread by the publisher's handler.
        self.0[i].store(fd.as_raw_fd() + 1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether any connected peer is gone.
    fn any_gone(&self) -> bool {
        self.0.iter().any(|fd| match fd.load(std::sync::atomic::Ordering::Relaxed) - 1 {
            -1 => false,
            fd => peer_gone_raw(fd),
        })
    }
}

/// Connects the liveness socket, opens the creator's services, and says so.
pub fn connect(ep: &Iox2Endpoint, wait: WaitStrategy, timeout: Duration, key: &Key) -> Result<Iox2Transport> {
    let fd = listener::connect_proven(&Endpoint::Unix(ep.liveness.clone()), timeout, key)
        .with_context(|| format!("connecting the liveness socket {}", ep.liveness.display()))?;
    let live_fd = LiveFds::new(1);
    live_fd.set(0, &fd);
    let ports = open_ports(ep, false, live_fd, timeout)?;
    rustix::net::send(&fd, &[READY], rustix::net::SendFlags::NOSIGNAL)
        .context("telling the creator we are ready")?;
    Iox2Transport::new(ports, fd, ep.size_bytes, wait, timeout)
}

/// One side of an iceoryx2 channel.
pub struct Iox2Transport {
    // Fields drop in this order: samples before their ports, the ports (whose backpressure
    // handler polls `liveness`) before the socket.
    loan: Option<Loan>,
    sample: Option<Sample<ipc::Service, [u8], ()>>,
    ports: Ports,
    size: usize,
    wait: WaitStrategy,
    timeout: Duration,
    liveness: OwnedFd,
}

// SAFETY: iceoryx2's ipc ports share state through `Rc`s among the node, services, ports and
// samples of one side, and all of them are owned by this one value (nothing is cloned out of
// it), so moving the value to another thread moves every holder of those `Rc`s together; no
// two threads ever touch them.
unsafe impl Send for Iox2Transport {}

impl Iox2Transport {
    fn new(
        ports: Ports,
        liveness: OwnedFd,
        size: usize,
        wait: WaitStrategy,
        timeout: Duration,
    ) -> Result<Self> {
        Ok(Iox2Transport { ports, loan: None, sample: None, size, wait, timeout, liveness })
    }

    /// Waits for a sample, as the wait strategy says.
    fn next_sample(&mut self) -> TransportResult<Sample<ipc::Service, [u8], ()>> {
        let listener = self.ports.events.as_ref().map(|(_, l)| l);
        next_sample(&self.ports.rx, listener, self.liveness.as_fd(), self.wait, self.timeout)
    }

    fn publish(
        &mut self,
        sample: iceoryx2::sample_mut::SampleMut<ipc::Service, [u8], ()>,
    ) -> TransportResult<()> {
        sample.send().map_err(|e| {
            if crate::sys::wait_readable(self.liveness.as_fd(), Duration::ZERO).unwrap_or(true) {
                TransportError::PeerClosed
            } else {
                match e {
                    // The backpressure handler gave up: the peer took nothing for the timeout.
                    iceoryx2::port::SendError::UnableToDeliver => TransportError::Timeout(self.timeout),
                    e => io_err(format!("iceoryx2 send: {e:?}")),
                }
            }
        })?;
        if let Some((notifier, _)) = &self.ports.events {
            notifier.notify().map_err(|e| io_err(format!("iceoryx2 notify: {e:?}")))?;
        }
        Ok(())
    }

    fn loan(&mut self) -> TransportResult<Loan> {
        self.ports.tx.loan_slice_uninit(self.size).map_err(|e| io_err(format!("iceoryx2 loan: {e:?}")))
    }
}

/// The next sample on `rx`, waiting as `wait` says (sleeping on `listener`, the event of its
/// service, when there is one); the peer behind `liveness` being gone ends the wait.
#[inline]
fn next_sample(
    rx: &Sub,
    listener: Option<&EventListener<ipc::Service>>,
    liveness: BorrowedFd<'_>,
    wait: WaitStrategy,
    timeout: Duration,
) -> TransportResult<Sample<ipc::Service, [u8], ()>> {
    if let Some(s) = rx.receive().map_err(|e| io_err(format!("iceoryx2 receive: {e:?}")))? {
        return Ok(s);
    }
    next_sample_slow(rx, listener, liveness, wait, timeout)
}

#[inline(never)]
fn next_sample_slow(
    rx: &Sub,
    listener: Option<&EventListener<ipc::Service>>,
    liveness: BorrowedFd<'_>,
    wait: WaitStrategy,
    timeout: Duration,
) -> TransportResult<Sample<ipc::Service, [u8], ()>> {
    let mut w = SpinThenWait::new(wait, timeout).checking_every(SPIN_CHECK);
    loop {
        if let Some(s) = rx.receive().map_err(|e| io_err(format!("iceoryx2 receive: {e:?}")))? {
            return Ok(s);
        }
        match w.step() {
            Step::Again => {}
            Step::Check => check_peer(rx, liveness, &mut w)?,
            Step::Sleep(_) => {
                if let Some(listener) = listener {
                    listener
                        .timed_wait(|_| {}, SLEEP_SLICE)
                        .map_err(|e| io_err(format!("iceoryx2 listener: {e:?}")))?;
                }
                check_peer(rx, liveness, &mut w)?;
            }
            Step::Elapsed => {
                check_peer(rx, liveness, &mut w)?;
                return Err(TransportError::Timeout(w.limit()));
            }
        }
    }
}

#[cold]
fn check_peer(rx: &Sub, liveness: BorrowedFd<'_>, w: &mut SpinThenWait) -> TransportResult<()> {
    if crate::sys::wait_readable(liveness, Duration::ZERO)? {
        // A peer that sent and then exited: its sample is there to take.
        if rx.has_samples().unwrap_or(false) {
            return Ok(());
        }
        return Err(TransportError::PeerClosed);
    }
    if w.waited_ns() >= w.limit().as_nanos() as u64 {
        return Err(TransportError::Timeout(w.limit()));
    }
    Ok(())
}

fn io_err(text: String) -> TransportError {
    TransportError::Io(std::io::Error::other(text))
}

/// The bytes of a loaned sample, as `u8`.
fn loaned_bytes(loan: &mut Loan) -> &mut [u8] {
    let payload: &mut [MaybeUninit<u8>] = loan.payload_mut();
    // SAFETY: the payload lies in a shared-memory segment that the kernel zero-filled when it
    // was created and that only ever holds bytes written since, so every byte is initialised;
    // `MaybeUninit<u8>` and `u8` have the same layout.
    unsafe { &mut *(payload as *mut [MaybeUninit<u8>] as *mut [u8]) }
}

impl Transport for Iox2Transport {
    fn send_buf(&mut self) -> TransportResult<&mut [u8]> {
        if self.loan.is_none() {
            self.loan = Some(self.loan()?);
        }
        Ok(&mut loaned_bytes(self.loan.as_mut().expect("loaned above"))[HEADER_BYTES..])
    }

    fn send(&mut self, h: Header) -> TransportResult<()> {
        let mut loan = self.loan.take().expect("send_buf before send");
        h.write(loaned_bytes(&mut loan));
        // SAFETY: every byte is initialised (see `loaned_bytes`).
        let sample = unsafe { loan.assume_init() };
        self.publish(sample)
    }

    fn recv(&mut self) -> TransportResult<&[u8]> {
        self.sample = None;
        let s = self.next_sample()?;
        Ok(self.sample.insert(s).payload())
    }

    fn release(&mut self) {
        self.sample = None;
    }

    fn echo(&mut self) -> TransportResult<Header> {
        let s = self.next_sample()?;
        let mut loan = self.loan()?;
        let out = loaned_bytes(&mut loan);
        out.copy_from_slice(&s.payload()[..self.size]);
        let header = Header::read(out);
        drop(s);
        // SAFETY: every byte was just written.
        self.publish(unsafe { loan.assume_init() })?;
        Ok(header)
    }
}
