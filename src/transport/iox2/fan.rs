//! A fan-out's publisher over iceoryx2: its own publish-subscribe with N subscribers on one
//! service, the anchor the broadcast ring is measured against.
//!
//! - **Data**: one service, one publisher, `max_subscribers = N`, each subscriber's buffer the
//!   ring's slot count, no history, no overflow. A message is loaned once from the publisher's
//!   segment, written once and sent; every subscriber reads that same sample in place.
//! - **Backpressure**: as the pair transport's, a full buffer holds the publisher back (retry);
//!   once a subscriber is gone (its liveness socket says so), a sample that finds a full buffer
//!   is dropped for that subscriber only and delivered to the others, so that the rest can be
//!   stopped and their results kept; the publisher names the dead one when it waits for its
//!   acknowledgement. Closed loop, a live subscriber's buffer is never full.
//! - **Acknowledgements**: one service per subscriber (one publisher, one subscriber), so that
//!   waiting for subscriber `i` reads only `i`'s queue, in order, with nothing to sort out. One
//!   ack service with N publishers would make every receive scan up to N connections and the
//!   publisher set aside acknowledgements meant for later waits.
//! - **Sleeping waits** (`block`, `hybrid`): one event service on the data service, notified
//!   after each send (iceoryx2 wakes every subscriber's listener), and one per acknowledgement
//!   service, which subscriber `i` notifies after its acknowledgement.
//! - **Liveness**: one Unix socket per subscriber, so a wait for subscriber `i` ends at once when
//!   `i` is gone, and the error names it.
//!
//! Every subscriber is an ordinary iceoryx2 peer ([`super::connect`] with its own
//! [`Iox2Endpoint`]): it subscribes to the data service and publishes on its own
//! acknowledgement service.

#![allow(unsafe_code)] // a loaned sample's bytes are taken as initialised, as in `super`

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use iceoryx2::port::listener::Listener as EventListener;
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::BackpressureAction;
use iceoryx2::prelude::*;

use super::{
    event, event_listener, io_err, loaned_bytes, next_sample, node, notifier, publisher, pubsub, root_dir,
    shm_prefix, subscriber, LiveFds, Pub, Sub, READY,
};
use crate::cleanup;
use crate::transport::endpoint::Iox2Endpoint;
use crate::transport::listener::Listener;
use crate::transport::{TransportError, TransportResult, WaitStrategy};
use crate::wire::Header;

/// The publisher's node and ports.
struct FanPorts {
    tx: Pub,
    /// Subscriber `i`'s acknowledgements.
    acks: Vec<Sub>,
    /// With sleeping waits: the notifier of the data service's event, and a listener per
    /// acknowledgement service.
    events: Option<(Notifier<ipc::Service>, Vec<EventListener<ipc::Service>>)>,
    _node: Node<ipc::Service>,
}

/// The publisher before its subscribers have attached: its services and ports exist.
pub struct Iox2FanListener {
    endpoints: Vec<Iox2Endpoint>,
    liveness: Vec<Listener>,
    ports: FanPorts,
    live: LiveFds,
}

impl Iox2FanListener {
    /// Makes the data service `name` and the acknowledgement services `<name>-ack<i>` (with
    /// their events, for sleeping waits), the publisher's ports, and a liveness socket per
    /// subscriber, `<name>-<i>.sock` in `socket_dir`.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        socket_dir: &Path,
        name: &str,
        subscribers: usize,
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
        let endpoints: Vec<Iox2Endpoint> = (0..subscribers)
            .map(|i| Iox2Endpoint {
                root: root.clone(),
                prefix: shm_prefix(pid),
                to_peer: name.to_string(),
                from_peer: format!("{name}-ack{i}"),
                liveness: socket_dir.join(format!("{name}-{i}.sock")),
                size_bytes,
                slots,
                events: wait != WaitStrategy::Spin,
            })
            .collect();
        let ep0 = endpoints.first().context("a fan-out needs a subscriber")?;
        let node = node(ep0)?;
        let live = LiveFds::new(subscribers);
        let data = pubsub(&node, name, slots, subscribers, true)?;
        // A dead subscriber's full buffer: drop the sample for it, deliver it to the others.
        let tx = publisher(&data, name, size_bytes, live.clone(), BackpressureAction::DiscardData, timeout)?;
        let mut acks = Vec::with_capacity(subscribers);
        for ep in &endpoints {
            acks.push(subscriber(&pubsub(&node, &ep.from_peer, slots, 1, true)?, &ep.from_peer)?);
        }
        let events = if ep0.events {
            let data_event = notifier(&event(&node, name, subscribers, true)?)?;
            let ack_events = endpoints
                .iter()
                .map(|ep| event_listener(&event(&node, &ep.from_peer, 1, true)?))
                .collect::<Result<Vec<_>>>()?;
            Some((data_event, ack_events))
        } else {
            None
        };
        let liveness =
            endpoints.iter().map(|ep| Listener::bind_unix(&ep.liveness, mode)).collect::<Result<Vec<_>>>()?;
        Ok(Iox2FanListener { endpoints, liveness, ports: FanPorts { tx, acks, events, _node: node }, live })
    }

    /// Subscriber `i`'s endpoint, for each subscriber.
    pub fn endpoints(&self) -> &[Iox2Endpoint] {
        &self.endpoints
    }

    /// Readable once subscriber `i` has connected its liveness socket.
    pub fn liveness_fd(&self, i: usize) -> std::os::fd::BorrowedFd<'_> {
        self.liveness[i].fd()
    }

    /// Takes every subscriber's liveness connection and waits for its word that its ports are
    /// open (before that, a message would miss it).
    pub fn accept(
        self,
        size_bytes: usize,
        wait: WaitStrategy,
        timeout: Duration,
        keys: &[crate::auth::Key],
    ) -> Result<Iox2FanOut> {
        let mut fds = Vec::with_capacity(self.liveness.len());
        for ((i, l), key) in self.liveness.into_iter().enumerate().zip(keys) {
            let fd = l.accept_proven(timeout, key).with_context(|| format!("subscriber {i}"))?;
            drop(l);
            if !crate::sys::wait_readable(fd.as_fd(), timeout)? {
                anyhow::bail!("subscriber {i} opened no iceoryx2 ports within {timeout:?}");
            }
            let mut byte = [0u8; 1];
            let got = rustix::net::recv(&fd, &mut byte, rustix::net::RecvFlags::empty())
                .with_context(|| format!("reading subscriber {i}'s word on its liveness socket"))?;
            if got.0 != 1 || byte[0] != READY {
                anyhow::bail!("subscriber {i} closed its liveness socket before opening its iceoryx2 ports");
            }
            self.live.set(i, &fd);
            fds.push(fd);
        }
        Ok(Iox2FanOut { ports: self.ports, size: size_bytes, wait, timeout, liveness: fds })
    }
}

/// The publisher of a fan-out over iceoryx2, every subscriber attached.
pub struct Iox2FanOut {
    // Fields drop in this order: the ports (whose backpressure handler polls `liveness`) before
    // the sockets.
    ports: FanPorts,
    size: usize,
    wait: WaitStrategy,
    timeout: Duration,
    liveness: Vec<OwnedFd>,
}

impl Iox2FanOut {
    pub fn subscribers(&self) -> usize {
        self.liveness.len()
    }

    /// The first subscriber whose liveness socket says it is gone.
    fn first_gone(&self) -> Option<usize> {
        self.liveness
            .iter()
            .position(|fd| crate::sys::wait_readable(fd.as_fd(), Duration::ZERO).unwrap_or(true))
    }

    /// Loans one sample, lets `fill` write it, and sends it to every subscriber, waking them.
    /// A failure names the subscriber that is gone, when one is.
    #[inline]
    pub fn publish(&mut self, fill: impl FnOnce(&mut [u8])) -> Result<(), (Option<usize>, TransportError)> {
        let mut loan = self
            .ports
            .tx
            .loan_slice_uninit(self.size)
            .map_err(|e| (None, io_err(format!("iceoryx2 loan: {e:?}"))))?;
        fill(loaned_bytes(&mut loan));
        // SAFETY: every byte is initialised (see `loaned_bytes`).
        let sample = unsafe { loan.assume_init() };
        if let Err(e) = sample.send() {
            return Err(match self.first_gone() {
                Some(i) => (Some(i), TransportError::PeerClosed),
                // The backpressure handler gave up: a subscriber took nothing for the timeout.
                None => match e {
                    iceoryx2::port::SendError::UnableToDeliver => {
                        (None, TransportError::Timeout(self.timeout))
                    }
                    e => (None, io_err(format!("iceoryx2 send: {e:?}"))),
                },
            });
        }
        if let Some((notifier, _)) = &self.ports.events {
            notifier.notify().map_err(|e| (None, io_err(format!("iceoryx2 notify: {e:?}"))))?;
        }
        Ok(())
    }

    /// Waits for subscriber `i`'s next acknowledgement: the message's `seq` and, in `send_ns`,
    /// the subscriber's clock at arrival.
    #[inline]
    pub fn ack(&mut self, i: usize) -> TransportResult<Header> {
        let listener = self.ports.events.as_ref().map(|(_, l)| &l[i]);
        let s =
            next_sample(&self.ports.acks[i], listener, self.liveness[i].as_fd(), self.wait, self.timeout)?;
        Ok(Header::read(s.payload()))
    }
}
