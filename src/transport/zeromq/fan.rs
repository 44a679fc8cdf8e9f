//! A fan-out's publisher over zeromq: its publish-subscribe, one `XPUB` with N `SUB`s.
//!
//! - **Data**: the publisher binds one `XPUB` (`ZMQ_XPUB_VERBOSE`, so that it sees every
//!   subscription); each subscriber connects a `SUB` subscribed to everything. A message is
//!   copied once into a libzmq message, which libzmq queues to every subscriber by reference
//!   (no copy per subscriber); each subscriber's I/O thread still writes it to its own socket.
//! - **Subscriptions**: a `SUB` that has connected may not have told the publisher yet (the
//!   "slow joiner"), and a message sent before that never reaches it; the publisher waits for
//!   all N subscriptions before the first message.
//! - **Backpressure**: `PUB` drops a message for a subscriber whose queue is full (its
//!   high-water mark, 1000 messages). Closed loop, a live subscriber's queue never fills.
//! - **Acknowledgements**: a `PAIR` per subscriber, which the publisher binds; waiting for
//!   subscriber `i` reads only its socket. **Liveness**: a Unix socket per subscriber.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result};

use super::{accept_ready, addr, bind, peer_gone, recv_wait, send_wait, socket, zio, BoundFiles, Msg};
use crate::auth::Key;
use crate::transport::endpoint::ZmqEndpoint;
use crate::transport::listener::Listener;
use crate::transport::{TransportError, TransportResult, WaitStrategy};
use crate::wire::Header;

/// The publisher before its subscribers have connected: its sockets bound.
pub struct ZmqFanListener {
    endpoints: Vec<ZmqEndpoint>,
    liveness: Vec<Listener>,
    xpub: zmq::Socket,
    acks: Vec<zmq::Socket>,
    // The context closes before the files are removed (as in `super::ZmqTransport`).
    ctx: zmq::Context,
    files: BoundFiles,
}

impl ZmqFanListener {
    /// Binds the `XPUB` (`<name>-zmq.sock` in `socket_dir`, or TCP on `ip`), an
    /// acknowledgement `PAIR` per subscriber (`<name>-<i>-ack-zmq.sock`) and a liveness socket
    /// per subscriber (`<name>-<i>.sock`).
    pub fn create(
        tcp: bool,
        socket_dir: &Path,
        ip: std::net::IpAddr,
        name: &str,
        subscribers: usize,
        mode: u32,
    ) -> Result<Self> {
        let ctx = zmq::Context::new();
        let xpub = socket(&ctx, zmq::XPUB)?;
        xpub.set_xpub_verbose(true)?;
        let data = bind(&xpub, addr(tcp, &socket_dir.join(format!("{name}-zmq.sock")), ip), mode)?;
        let (mut endpoints, mut liveness, mut acks) = (Vec::new(), Vec::new(), Vec::new());
        let mut bound = vec![data.clone()];
        for i in 0..subscribers {
            let ack_socket = socket(&ctx, zmq::PAIR)?;
            let ack =
                bind(&ack_socket, addr(tcp, &socket_dir.join(format!("{name}-{i}-ack-zmq.sock")), ip), mode)?;
            let live = socket_dir.join(format!("{name}-{i}.sock"));
            liveness.push(Listener::bind_unix(&live, mode)?);
            acks.push(ack_socket);
            bound.push(ack.clone());
            endpoints.push(ZmqEndpoint { data: data.clone(), ack: Some(ack), liveness: live });
        }
        let files = BoundFiles::of(&bound.iter().collect::<Vec<_>>());
        Ok(ZmqFanListener { endpoints, liveness, xpub, acks, files, ctx })
    }

    /// Subscriber `i`'s endpoint, for each subscriber.
    pub fn endpoints(&self) -> &[ZmqEndpoint] {
        &self.endpoints
    }

    /// Readable once subscriber `i` has connected its liveness socket.
    pub fn liveness_fd(&self, i: usize) -> BorrowedFd<'_> {
        self.liveness[i].fd()
    }

    /// Takes every subscriber's proven liveness connection and its word that it connected,
    /// then waits until the publisher has seen all their subscriptions.
    pub fn accept(
        self,
        size: usize,
        wait: WaitStrategy,
        timeout: Duration,
        keys: &[Key],
    ) -> Result<ZmqFanOut> {
        let mut fds = Vec::with_capacity(self.liveness.len());
        for ((i, l), key) in self.liveness.iter().enumerate().zip(keys) {
            fds.push(accept_ready(l, timeout, key, &format!("subscriber {i}"))?);
        }
        drop(self.liveness);
        let deadline = std::time::Instant::now() + timeout;
        let mut subscribed = 0;
        while subscribed < fds.len() {
            // A subscription is one message: 1, then the (empty) topic.
            match self.xpub.recv_bytes(0) {
                Ok(m) if m.first() == Some(&1) => subscribed += 1,
                Ok(_) => {}
                Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => {}
                Err(e) => return Err(e).context("waiting for the zeromq subscriptions"),
            }
            if subscribed < fds.len() && std::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "{subscribed} of {} zeromq subscriptions reached the publisher within {timeout:?}",
                    fds.len()
                );
            }
        }
        Ok(ZmqFanOut {
            out: vec![0; size],
            pending: None,
            inbox: Msg::new(),
            xpub: self.xpub,
            acks: self.acks,
            liveness: fds,
            wait,
            timeout,
            _ctx: self.ctx,
            _files: self.files,
        })
    }
}

/// The publisher of a fan-out over zeromq, every subscriber subscribed.
pub struct ZmqFanOut {
    // Fields drop in this order: messages, sockets, the context, the files (see `super`).
    out: Vec<u8>,
    pending: Option<Msg>,
    inbox: Msg,
    xpub: zmq::Socket,
    acks: Vec<zmq::Socket>,
    liveness: Vec<OwnedFd>,
    wait: WaitStrategy,
    timeout: Duration,
    _ctx: zmq::Context,
    _files: BoundFiles,
}

impl ZmqFanOut {
    pub fn subscribers(&self) -> usize {
        self.liveness.len()
    }

    /// The first subscriber whose liveness socket says it is gone.
    fn first_gone(&self) -> Option<usize> {
        self.liveness
            .iter()
            .position(|fd| crate::sys::wait_readable(fd.as_fd(), Duration::ZERO).unwrap_or(true))
    }

    /// Lets `fill` write the whole message and publishes it to every subscriber. A failure
    /// names the subscriber that is gone, when one is.
    #[inline]
    pub fn publish(&mut self, fill: impl FnOnce(&mut [u8])) -> Result<(), (Option<usize>, TransportError)> {
        fill(&mut self.out);
        let msg = Msg::copy_of(&self.out).map_err(|e| (None, zio("message", e)))?;
        let msg = self.pending.insert(msg);
        let live = &self.liveness;
        let gone = || Ok(live.iter().any(|fd| peer_gone(fd.as_fd()).unwrap_or(true)));
        let sent = send_wait(&mut self.xpub, msg, gone, self.wait, self.timeout);
        self.pending = None;
        sent.map_err(|e| (self.first_gone(), e))
    }

    /// Waits for subscriber `i`'s next acknowledgement: the message's `seq` and, in `send_ns`,
    /// the subscriber's clock at arrival.
    #[inline]
    pub fn ack(&mut self, i: usize) -> TransportResult<Header> {
        let live = self.liveness[i].as_fd();
        recv_wait(&mut self.acks[i], &mut self.inbox, || peer_gone(live), self.wait, self.timeout)?;
        let bytes = self.inbox.bytes();
        if bytes.len() < crate::wire::HEADER_BYTES {
            return Err(TransportError::Malformed(format!("a {}-byte zeromq acknowledgement", bytes.len())));
        }
        Ok(Header::read(bytes))
    }
}
