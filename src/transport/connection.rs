//! [`Connection`], a connected data channel of any kind, and the macros that reach the
//! transport inside it: the one place that lists every kind.

#[cfg(feature = "grpc")]
use super::grpc;
#[cfg(feature = "iceoryx2")]
use super::iox2;
#[cfg(feature = "zenoh")]
use super::zenoh;
#[cfg(feature = "zeromq")]
use super::zeromq;
use super::{dgram, mqueue, pipe, shm, uring, SocketTransport};

/// Runs `$body` with `$t` bound to the transport inside a [`Connection`], whatever its kind:
/// the one place that lists the kinds, so the code in `$body` is monomorphised per transport.
#[macro_export]
macro_rules! with_transport {
    ($conn:expr, $t:ident => $body:expr) => {
        match $conn {
            $crate::transport::Connection::Socket($t) => $body,
            $crate::transport::Connection::Shm($t) => $body,
            $crate::transport::Connection::Broadcast($t) => $body,
            $crate::transport::Connection::Dgram($t) => $body,
            $crate::transport::Connection::Mqueue($t) => $body,
            $crate::transport::Connection::Pipe($t) => $body,
            $crate::transport::Connection::Uring($t) => {
                let $t = &mut **$t;
                $body
            }
            #[cfg(feature = "iceoryx2")]
            $crate::transport::Connection::Iox2($t) => {
                let $t = &mut **$t;
                $body
            }
            #[cfg(feature = "zeromq")]
            $crate::transport::Connection::Zmq($t) => {
                let $t = &mut **$t;
                $body
            }
            #[cfg(feature = "grpc")]
            $crate::transport::Connection::Grpc($t) => {
                let $t = &mut **$t;
                $body
            }
            #[cfg(feature = "zenoh")]
            $crate::transport::Connection::Zenoh($t) => {
                let $t = &mut **$t;
                $body
            }
        }
    };
}

/// [`with_transport!`] for a shared borrow of a [`Connection`].
#[macro_export]
macro_rules! with_transport_ref {
    ($conn:expr, $t:ident => $body:expr) => {
        match $conn {
            $crate::transport::Connection::Socket($t) => $body,
            $crate::transport::Connection::Shm($t) => $body,
            $crate::transport::Connection::Broadcast($t) => $body,
            $crate::transport::Connection::Dgram($t) => $body,
            $crate::transport::Connection::Mqueue($t) => $body,
            $crate::transport::Connection::Pipe($t) => $body,
            $crate::transport::Connection::Uring($t) => {
                let $t = &**$t;
                $body
            }
            #[cfg(feature = "iceoryx2")]
            $crate::transport::Connection::Iox2($t) => {
                let $t = &**$t;
                $body
            }
            #[cfg(feature = "zeromq")]
            $crate::transport::Connection::Zmq($t) => {
                let $t = &**$t;
                $body
            }
            #[cfg(feature = "grpc")]
            $crate::transport::Connection::Grpc($t) => {
                let $t = &**$t;
                $body
            }
            #[cfg(feature = "zenoh")]
            $crate::transport::Connection::Zenoh($t) => {
                let $t = &**$t;
                $body
            }
        }
    };
}

/// A connected data channel of any kind. Callers reach the transport through
/// [`with_transport!`] and call code generic over [`Transport`](super::Transport), so the timed loops are
/// monomorphised: no dynamic dispatch per message.
pub enum Connection {
    Socket(SocketTransport),
    Shm(shm::ShmTransport),
    /// A reader of a fan-out broadcast ring (its `send` acknowledges).
    Broadcast(shm::broadcast::BroadcastReader),
    Dgram(dgram::DgramTransport),
    Mqueue(mqueue::MqTransport),
    Pipe(pipe::PipeTransport),
    Uring(Box<uring::UringTransport>),
    #[cfg(feature = "iceoryx2")]
    Iox2(Box<iox2::Iox2Transport>),
    #[cfg(feature = "zeromq")]
    Zmq(Box<zeromq::ZmqTransport>),
    #[cfg(feature = "grpc")]
    Grpc(Box<grpc::GrpcTransport>),
    #[cfg(feature = "zenoh")]
    Zenoh(Box<zenoh::ZenohTransport>),
}
