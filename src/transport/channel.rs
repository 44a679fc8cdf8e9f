//! One run's data channel: where and how it is made (`ChannelOptions`, `ChannelSpec`), the
//! initiator's side before the peer connects (`DataListener`), the peer's `connect`, and the
//! connected channel of any kind (`Connection`, reached through `with_transport!`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::framing::Framing;
#[cfg(feature = "grpc")]
use super::grpc;
#[cfg(feature = "iceoryx2")]
use super::iox2;
#[cfg(feature = "zenoh")]
use super::zenoh;
#[cfg(feature = "zeromq")]
use super::zeromq;
use super::{
    dgram, listener, mqueue, pipe, shm, uring, Connection, Endpoint, Listener, SocketTransport,
    TransportKind, WaitStrategy,
};
use crate::auth::Key;

/// Where data channels are created, and how: the same for every run of an invocation.
#[derive(Clone, Debug)]
pub struct ChannelOptions {
    /// Socket files (UDS data sockets, shm liveness sockets).
    pub socket_dir: std::path::PathBuf,
    /// Shared-memory mapping files.
    pub shm_dir: std::path::PathBuf,
    /// One explicit copy per side on shm.
    pub copy: bool,
    /// How sleeping ring waiters are woken (`--notify`).
    pub notify: shm::notify::Notify,
    /// `--pipe-size`: each FIFO's buffer (the kernel's default when `None`).
    pub pipe_buffer_bytes: Option<usize>,
    /// Mode of the files made in these directories: 0600, or 0660 when the socket directory is
    /// shared with a group (a container's user).
    pub file_mode: u32,
    /// The run's timeout (`--timeout-s`), for waits inside a transport's setup.
    pub timeout: Duration,
    /// The address TCP and UDP data channels listen on: loopback, or across hosts the address
    /// the peer reached the control channel at.
    pub data_ip: std::net::IpAddr,
}

/// What one run's data channel is: everything a transport needs to know, decided by the
/// configuration and sent to the peer with the test. Transports take this, never pattern types.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSpec {
    /// Message size including the header.
    pub size_bytes: usize,
    /// How both sides wait for data.
    pub wait: WaitStrategy,
    /// Wire format on stream transports (`raw` elsewhere).
    pub framing: Framing,
    /// How long a datagram receiver waits for one message before counting it lost.
    pub loss_timeout_ms: u64,
    /// Slots per shared-memory ring (ignored by other transports).
    pub shm_slots: usize,
}

impl ChannelSpec {
    fn loss_timeout(&self) -> Duration {
        Duration::from_millis(self.loss_timeout_ms)
    }
}

/// The initiator's side of a data channel before the peer has connected.
pub enum DataListener {
    Socket(Listener),
    Uring(Listener),
    Shm(shm::ShmListener),
    Dgram(dgram::DgramListener),
    Mqueue(mqueue::MqListener),
    Pipe(pipe::PipeListener),
    #[cfg(feature = "iceoryx2")]
    Iox2(Box<iox2::Iox2Listener>),
    #[cfg(feature = "zeromq")]
    Zmq(Box<zeromq::ZmqListener>),
    /// The Unix socket a gRPC server (the peer) connects to.
    Grpc(Listener),
    #[cfg(feature = "zenoh")]
    Zenoh(Box<zenoh::ZenohListener>),
}

impl DataListener {
    /// Creates the channel for pair `pair` of test `test_id`: files are named
    /// `ipcbench-<pid>-<test_id>-<pair>.*`.
    pub fn open(
        kind: TransportKind,
        o: &ChannelOptions,
        test_id: u32,
        pair: u32,
        spec: &ChannelSpec,
    ) -> anyhow::Result<Self> {
        let name = format!("ipcbench-{}-{test_id}-{pair}", std::process::id());
        let sock = o.socket_dir.join(format!("{name}.sock"));
        Ok(match kind {
            TransportKind::Uds => DataListener::Socket(Listener::bind_unix(&sock, o.file_mode)?),
            TransportKind::Tcp => DataListener::Socket(Listener::bind_tcp((o.data_ip, 0).into())?),
            TransportKind::UdsUring => DataListener::Uring(Listener::bind_unix(&sock, o.file_mode)?),
            TransportKind::TcpUring => DataListener::Uring(Listener::bind_tcp((o.data_ip, 0).into())?),
            TransportKind::Shm | TransportKind::Memfd => {
                let mapping = o.shm_dir.join(format!("{name}.shm"));
                DataListener::Shm(shm::ShmListener::create(
                    (kind == TransportKind::Shm).then_some(mapping.as_path()),
                    &sock,
                    spec.size_bytes,
                    spec.shm_slots,
                    o.copy,
                    o.notify,
                    o.file_mode,
                )?)
            }
            TransportKind::Pipe => DataListener::Pipe(pipe::PipeListener::create(
                &o.socket_dir.join(&name),
                o.file_mode,
                o.pipe_buffer_bytes,
            )?),
            TransportKind::Mqueue => {
                DataListener::Mqueue(mqueue::MqListener::create(&name, &sock, spec.size_bytes, o.file_mode)?)
            }
            #[cfg(feature = "iceoryx2")]
            TransportKind::Iceoryx2 => DataListener::Iox2(Box::new(iox2::Iox2Listener::create(
                &o.socket_dir,
                &name,
                &sock,
                spec.size_bytes,
                spec.shm_slots,
                spec.wait,
                o.timeout,
                o.file_mode,
            )?)),
            #[cfg(not(feature = "iceoryx2"))]
            TransportKind::Iceoryx2 => {
                anyhow::bail!("{}", TransportKind::Iceoryx2.unavailable().unwrap_or_default())
            }
            #[cfg(feature = "zeromq")]
            TransportKind::Zeromq | TransportKind::ZeromqTcp => {
                let data = zeromq::addr(
                    kind == TransportKind::ZeromqTcp,
                    &o.socket_dir.join(format!("{name}-zmq.sock")),
                    o.data_ip,
                );
                DataListener::Zmq(Box::new(zeromq::ZmqListener::create(data, &sock, o.file_mode)?))
            }
            #[cfg(not(feature = "zeromq"))]
            TransportKind::Zeromq | TransportKind::ZeromqTcp => {
                anyhow::bail!("{}", kind.unavailable().unwrap_or_default())
            }
            TransportKind::GrpcUds => {
                if let Some(why) = kind.unavailable() {
                    anyhow::bail!("{why}");
                }
                DataListener::Grpc(Listener::bind_unix(&sock, o.file_mode)?)
            }
            #[cfg(feature = "zenoh")]
            TransportKind::Zenoh | TransportKind::ZenohTcp | TransportKind::ZenohShm => {
                DataListener::Zenoh(Box::new(zenoh::ZenohListener::create(
                    &o.socket_dir,
                    &name,
                    &sock,
                    (kind == TransportKind::ZenohTcp).then_some(o.data_ip),
                    kind == TransportKind::ZenohShm,
                    spec.size_bytes,
                    spec.shm_slots,
                    o.timeout,
                    o.file_mode,
                )?))
            }
            #[cfg(not(feature = "zenoh"))]
            TransportKind::Zenoh | TransportKind::ZenohTcp | TransportKind::ZenohShm => {
                anyhow::bail!("{}", kind.unavailable().unwrap_or_default())
            }
            TransportKind::Udp => DataListener::Dgram(dgram::DgramListener::bind_udp(o.data_ip)?),
            TransportKind::UdsDgram => {
                DataListener::Dgram(dgram::DgramListener::bind_unix(&sock, o.file_mode)?)
            }
        })
    }

    pub fn endpoint(&self) -> anyhow::Result<Endpoint> {
        match self {
            DataListener::Socket(l) | DataListener::Uring(l) | DataListener::Grpc(l) => l.endpoint(),
            DataListener::Shm(l) => Ok(Endpoint::Shm(l.endpoint().clone())),
            DataListener::Dgram(l) => Ok(Endpoint::Dgram(l.addr().clone())),
            DataListener::Mqueue(l) => Ok(Endpoint::Mqueue(l.endpoint().clone())),
            DataListener::Pipe(l) => Ok(Endpoint::Pipe(l.endpoint().clone())),
            #[cfg(feature = "iceoryx2")]
            DataListener::Iox2(l) => Ok(Endpoint::Iox2(l.endpoint().clone())),
            #[cfg(feature = "zeromq")]
            DataListener::Zmq(l) => Ok(Endpoint::Zmq(l.endpoint().clone())),
            #[cfg(feature = "zenoh")]
            DataListener::Zenoh(l) => Ok(Endpoint::Zenoh(l.endpoint().clone())),
        }
    }

    /// Slots per ring, for shared memory.
    pub fn shm_slots(&self) -> Option<usize> {
        match self {
            DataListener::Shm(l) => Some(l.endpoint().slot_count),
            _ => None,
        }
    }

    /// Each FIFO's buffer, for pipes.
    pub fn pipe_buffer_bytes(&self) -> Option<usize> {
        match self {
            DataListener::Pipe(l) => Some(l.buffer_bytes()),
            _ => None,
        }
    }

    /// The fd that becomes readable when the peer connects.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            DataListener::Socket(l) | DataListener::Uring(l) | DataListener::Grpc(l) => l.fd(),
            DataListener::Shm(l) => l.liveness_fd(),
            DataListener::Dgram(l) => l.fd(),
            DataListener::Mqueue(l) => l.liveness_fd(),
            DataListener::Pipe(l) => l.fd(),
            #[cfg(feature = "iceoryx2")]
            DataListener::Iox2(l) => l.liveness_fd(),
            #[cfg(feature = "zeromq")]
            DataListener::Zmq(l) => l.liveness_fd(),
            #[cfg(feature = "zenoh")]
            DataListener::Zenoh(l) => l.liveness_fd(),
        }
    }

    /// Accepts the peer that proves `key` ([`crate::auth`]); a listening socket file is
    /// removed.
    pub fn accept(self, spec: &ChannelSpec, timeout: Duration, key: &Key) -> anyhow::Result<Connection> {
        let (size, wait) = (spec.size_bytes, spec.wait);
        Ok(match self {
            DataListener::Socket(l) => {
                let fd = l.accept_proven(timeout, key)?;
                drop(l);
                Connection::Socket(SocketTransport::new(fd, size, wait, timeout)?.framed(
                    spec.framing,
                    true,
                    "seq",
                ))
            }
            DataListener::Uring(l) => {
                let fd = l.accept_proven(timeout, key)?;
                drop(l);
                Connection::Uring(Box::new(uring::UringTransport::new(fd, size, wait, timeout)?))
            }
            DataListener::Shm(l) => Connection::Shm(l.accept(size, wait, timeout, key)?),
            DataListener::Dgram(l) => {
                Connection::Dgram(l.accept(size, wait, timeout, spec.loss_timeout(), key)?)
            }
            DataListener::Mqueue(l) => Connection::Mqueue(l.accept(size, wait, timeout, key)?),
            DataListener::Pipe(l) => Connection::Pipe(l.accept(size, wait, timeout, key)?),
            #[cfg(feature = "iceoryx2")]
            DataListener::Iox2(l) => Connection::Iox2(Box::new(l.accept(wait, timeout, key)?)),
            #[cfg(feature = "zeromq")]
            DataListener::Zmq(l) => Connection::Zmq(Box::new(l.accept(size, wait, timeout, key)?)),
            DataListener::Grpc(l) => {
                let fd = l.accept_proven(timeout, key)?;
                drop(l);
                grpc_client(fd, size, wait, timeout)?
            }
            #[cfg(feature = "zenoh")]
            DataListener::Zenoh(l) => Connection::Zenoh(Box::new(l.accept(wait, timeout, key)?)),
        })
    }
}

/// The gRPC client over the socket its server connected to.
#[cfg(feature = "grpc")]
fn grpc_client(
    fd: std::os::fd::OwnedFd,
    size: usize,
    wait: WaitStrategy,
    timeout: Duration,
) -> anyhow::Result<Connection> {
    Ok(Connection::Grpc(Box::new(grpc::client(fd, size, wait, timeout)?)))
}

/// Never reached: a build without gRPC refuses the kind before it makes a listener.
#[cfg(not(feature = "grpc"))]
fn grpc_client(
    _: std::os::fd::OwnedFd,
    _: usize,
    _: WaitStrategy,
    _: Duration,
) -> anyhow::Result<Connection> {
    anyhow::bail!("{}", TransportKind::GrpcUds.unavailable().unwrap_or_default())
}

/// Connects the peer's side of a data channel of `kind`, proving `key` ([`crate::auth`]);
/// `socket_dir` holds the socket file a Unix datagram peer binds for itself.
pub fn connect(
    kind: TransportKind,
    ep: &Endpoint,
    spec: &ChannelSpec,
    timeout: Duration,
    socket_dir: &std::path::Path,
    key: &Key,
) -> anyhow::Result<Connection> {
    static OWN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let (size, wait) = (spec.size_bytes, spec.wait);
    Ok(match ep {
        Endpoint::Shm(s) => Connection::Shm(shm::connect(s, size, wait, timeout, key)?),
        Endpoint::Broadcast(b) => {
            Connection::Broadcast(shm::broadcast::connect(b, size, wait, timeout, key)?)
        }
        Endpoint::Mqueue(m) => Connection::Mqueue(mqueue::connect(m, size, wait, timeout, key)?),
        Endpoint::Pipe(p) => Connection::Pipe(pipe::connect(p, size, wait, timeout, key)?),
        #[cfg(feature = "iceoryx2")]
        Endpoint::Iox2(x) => Connection::Iox2(Box::new(iox2::connect(x, wait, timeout, key)?)),
        #[cfg(not(feature = "iceoryx2"))]
        Endpoint::Iox2(_) => anyhow::bail!("{}", TransportKind::Iceoryx2.unavailable().unwrap_or_default()),
        #[cfg(feature = "zeromq")]
        Endpoint::Zmq(z) => Connection::Zmq(Box::new(zeromq::connect(z, size, wait, timeout, key)?)),
        #[cfg(not(feature = "zeromq"))]
        Endpoint::Zmq(_) => anyhow::bail!("{}", TransportKind::Zeromq.unavailable().unwrap_or_default()),
        #[cfg(feature = "zenoh")]
        Endpoint::Zenoh(z) => Connection::Zenoh(Box::new(zenoh::connect(z, wait, timeout, key)?)),
        #[cfg(not(feature = "zenoh"))]
        Endpoint::Zenoh(_) => anyhow::bail!("{}", kind.unavailable().unwrap_or_default()),
        Endpoint::Dgram(a) => {
            // Relaxed: a counter for unique names, nothing is published through it.
            let n = OWN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let own = socket_dir.join(format!("ipcbench-{}-p{n}.sock", std::process::id()));
            let mode = crate::sys::shared_file_mode(socket_dir);
            Connection::Dgram(dgram::connect(
                a,
                Some((&own, mode)),
                size,
                wait,
                timeout,
                spec.loss_timeout(),
                key,
            )?)
        }
        #[cfg(feature = "grpc")]
        ep if kind == TransportKind::GrpcUds => {
            Connection::Grpc(Box::new(grpc::serve(ep, size, wait, timeout, key)?))
        }
        #[cfg(not(feature = "grpc"))]
        _ if kind == TransportKind::GrpcUds => {
            anyhow::bail!("{}", TransportKind::GrpcUds.unavailable().unwrap_or_default())
        }
        ep if kind.is_uring() => {
            let fd = listener::connect_proven(ep, timeout, key)?;
            Connection::Uring(Box::new(uring::UringTransport::new(fd, size, wait, timeout)?))
        }
        ep => {
            Connection::Socket(
                SocketTransport::new(listener::connect_proven(ep, timeout, key)?, size, wait, timeout)?
                    .framed(spec.framing, false, "seq"),
            )
        }
    })
}
