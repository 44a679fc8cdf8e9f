//! The publisher's side of a fan-out: one channel to N subscribers, each mechanism's natural
//! way. The rings write each message once into a broadcast ring that every subscriber reads in
//! place ([`super::shm::broadcast`]); iceoryx2 has its own publish-subscribe with N
//! subscribers on one service (`super::iox2::Iox2FanOut`, under its feature); every other
//! transport has one channel per subscriber, and the publisher writes N copies through it.
//!
//! Subscribers are ordinary peers: each connects to its own endpoint and takes the receiving
//! side of an acknowledged one-way run, so nothing on their side knows it is one of N.

use std::os::fd::BorrowedFd;
use std::time::Duration;

use anyhow::Result;

#[cfg(feature = "iceoryx2")]
use super::iox2::{Iox2FanListener, Iox2FanOut};
use super::shm::broadcast::{BroadcastListener, BroadcastWriter};
#[cfg(feature = "zeromq")]
use super::zeromq::{ZmqFanListener, ZmqFanOut};
use super::{
    ChannelOptions, ChannelSpec, Connection, DataListener, Endpoint, TransportError, TransportKind,
    TransportResult,
};
use crate::wire::{Header, HEADER_BYTES};

/// How a fan-out reaches its subscribers, for the result.
pub fn mechanism(kind: TransportKind) -> &'static str {
    if kind.is_ring() {
        "broadcast ring (written once, read in place by every subscriber)"
    } else if kind == TransportKind::Iceoryx2 {
        "iceoryx2 publish-subscribe (one service, loaned and written once, read in place by every subscriber)"
    } else if kind.is_zeromq() {
        "zeromq publish-subscribe (one XPUB, copied once into a message every subscriber's queue shares)"
    } else {
        "one channel per subscriber (the publisher writes every copy)"
    }
}

/// The publisher's channels before the subscribers have connected.
pub enum FanListener {
    Broadcast(BroadcastListener),
    #[cfg(feature = "iceoryx2")]
    Iox2(Box<Iox2FanListener>),
    #[cfg(feature = "zeromq")]
    Zmq(Box<ZmqFanListener>),
    Each(Vec<DataListener>),
}

impl FanListener {
    /// Makes the channels of test `test_id` for `subscribers` subscribers.
    pub fn open(
        kind: TransportKind,
        o: &ChannelOptions,
        test_id: u32,
        subscribers: u32,
        spec: &ChannelSpec,
    ) -> Result<FanListener> {
        if kind.is_ring() {
            let name = format!("ipcbench-{}-{test_id}-fan", std::process::id());
            let mapping = o.shm_dir.join(format!("{name}.shm"));
            return Ok(FanListener::Broadcast(BroadcastListener::create(
                (kind == TransportKind::Shm).then_some(mapping.as_path()),
                &o.socket_dir.join(&name),
                spec.size_bytes,
                spec.shm_slots,
                subscribers as usize,
                o.file_mode,
            )?));
        }
        #[cfg(feature = "iceoryx2")]
        if kind == TransportKind::Iceoryx2 {
            return Ok(FanListener::Iox2(Box::new(Iox2FanListener::create(
                &o.socket_dir,
                &format!("ipcbench-{}-{test_id}-fan", std::process::id()),
                subscribers as usize,
                spec.size_bytes,
                spec.shm_slots,
                spec.wait,
                o.timeout,
                o.file_mode,
            )?)));
        }
        #[cfg(feature = "zeromq")]
        if kind.is_zeromq() {
            return Ok(FanListener::Zmq(Box::new(ZmqFanListener::create(
                kind == TransportKind::ZeromqTcp,
                &o.socket_dir,
                o.data_ip,
                &format!("ipcbench-{}-{test_id}-fan", std::process::id()),
                subscribers as usize,
                o.file_mode,
            )?)));
        }
        let each = (0..subscribers)
            .map(|i| DataListener::open(kind, o, test_id, i, spec))
            .collect::<Result<Vec<_>>>()?;
        Ok(FanListener::Each(each))
    }

    /// Subscriber `i`'s endpoint, for each subscriber.
    pub fn endpoints(&self) -> Result<Vec<Endpoint>> {
        match self {
            FanListener::Broadcast(b) => Ok(b.endpoints().iter().cloned().map(Endpoint::Broadcast).collect()),
            #[cfg(feature = "iceoryx2")]
            FanListener::Iox2(x) => Ok(x.endpoints().iter().cloned().map(Endpoint::Iox2).collect()),
            #[cfg(feature = "zeromq")]
            FanListener::Zmq(x) => Ok(x.endpoints().iter().cloned().map(Endpoint::Zmq).collect()),
            FanListener::Each(v) => v.iter().map(DataListener::endpoint).collect(),
        }
    }

    /// Readable once subscriber `i` has connected.
    pub fn fd(&self, i: usize) -> BorrowedFd<'_> {
        match self {
            FanListener::Broadcast(b) => b.liveness_fd(i),
            #[cfg(feature = "iceoryx2")]
            FanListener::Iox2(x) => x.liveness_fd(i),
            #[cfg(feature = "zeromq")]
            FanListener::Zmq(x) => x.liveness_fd(i),
            FanListener::Each(v) => v[i].fd(),
        }
    }

    /// Slots of the broadcast ring.
    pub fn shm_slots(&self) -> Option<usize> {
        match self {
            FanListener::Broadcast(b) => b.endpoints().first().map(|e| e.slot_count),
            _ => None,
        }
    }

    /// Accepts every subscriber, subscriber `i` proving `keys[i]` (socket files are removed).
    pub fn accept(self, spec: &ChannelSpec, timeout: Duration, keys: &[crate::auth::Key]) -> Result<FanOut> {
        Ok(match self {
            FanListener::Broadcast(b) => {
                FanOut::Broadcast(b.accept(spec.size_bytes, spec.wait, timeout, keys)?)
            }
            #[cfg(feature = "iceoryx2")]
            FanListener::Iox2(x) => {
                FanOut::Iox2(Box::new(x.accept(spec.size_bytes, spec.wait, timeout, keys)?))
            }
            #[cfg(feature = "zeromq")]
            FanListener::Zmq(x) => {
                FanOut::Zmq(Box::new(x.accept(spec.size_bytes, spec.wait, timeout, keys)?))
            }
            FanListener::Each(v) => FanOut::Each(
                v.into_iter()
                    .zip(keys)
                    .map(|(l, k)| l.accept(spec, timeout, k))
                    .collect::<Result<Vec<_>>>()?,
            ),
        })
    }
}

/// The publisher's connected channels.
pub enum FanOut {
    Broadcast(BroadcastWriter),
    #[cfg(feature = "iceoryx2")]
    Iox2(Box<Iox2FanOut>),
    #[cfg(feature = "zeromq")]
    Zmq(Box<ZmqFanOut>),
    Each(Vec<Connection>),
}

impl FanOut {
    pub fn subscribers(&self) -> usize {
        match self {
            FanOut::Broadcast(b) => b.readers(),
            #[cfg(feature = "iceoryx2")]
            FanOut::Iox2(x) => x.subscribers(),
            #[cfg(feature = "zeromq")]
            FanOut::Zmq(x) => x.subscribers(),
            FanOut::Each(v) => v.len(),
        }
    }

    /// Hands the message with header `h` to every subscriber: `fill` writes its payload (the
    /// bytes after the header) into each buffer it is given (once for the ring, once per copy
    /// otherwise). A failure names the subscriber whose channel failed, when one did.
    #[inline]
    pub fn publish(
        &mut self,
        h: Header,
        fill: impl FnMut(&mut [u8]),
    ) -> Result<(), (Option<usize>, TransportError)> {
        self.publish_except(None, h, fill)
    }

    /// [`publish`](Self::publish) to every subscriber but `skip` (one whose channel failed;
    /// a ring and iceoryx2 write one sample for all, so they write that once regardless).
    #[inline]
    pub fn publish_except(
        &mut self,
        skip: Option<usize>,
        h: Header,
        mut fill: impl FnMut(&mut [u8]),
    ) -> Result<(), (Option<usize>, TransportError)> {
        let mut whole = |buf: &mut [u8]| {
            h.write(buf);
            fill(&mut buf[HEADER_BYTES..]);
        };
        match self {
            FanOut::Broadcast(b) => {
                // After a reader died, its unreleased slot may hold the ring back for good.
                if let (Some(i), false) = (skip, b.has_space()) {
                    return Err((Some(i), TransportError::PeerClosed));
                }
                whole(b.slot().map_err(|e| (None, e))?);
                b.publish();
                Ok(())
            }
            // A dead subscriber's full buffer does not hold iceoryx2 back (see its module doc).
            #[cfg(feature = "iceoryx2")]
            FanOut::Iox2(x) => x.publish(whole),
            // One message for all, as iceoryx2; a dead subscriber's queue holds nothing back.
            #[cfg(feature = "zeromq")]
            FanOut::Zmq(x) => x.publish(whole),
            FanOut::Each(v) => {
                for (i, c) in v.iter_mut().enumerate().filter(|(i, _)| Some(*i) != skip) {
                    let sent: TransportResult<()> = crate::with_transport!(c, t => {
                        match super::Transport::send_buf(t) {
                            Ok(buf) => {
                                fill(buf);
                                super::Transport::send(t, h)
                            }
                            Err(e) => Err(e),
                        }
                    });
                    sent.map_err(|e| (Some(i), e))?;
                }
                Ok(())
            }
        }
    }

    /// Waits for subscriber `i`'s acknowledgement of the last message: its header carries the
    /// message's `seq` and, in `send_ns`, the subscriber's clock at arrival.
    #[inline]
    pub fn ack(&mut self, i: usize) -> TransportResult<Header> {
        match self {
            FanOut::Broadcast(b) => b.ack(i),
            #[cfg(feature = "iceoryx2")]
            FanOut::Iox2(x) => x.ack(i),
            #[cfg(feature = "zeromq")]
            FanOut::Zmq(x) => x.ack(i),
            FanOut::Each(v) => crate::with_transport!(&mut v[i], t => {
                let h = Header::read(super::Transport::recv(t)?);
                super::Transport::release(t);
                Ok(h)
            }),
        }
    }
}
