//! Where a data channel is: the address the initiator creates and the peer is told over the
//! control channel. Paths travel relative to the socket directory, since the peer may see that
//! directory elsewhere (a bind mount into a container). Pure data: depends on no transport.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

pub use super::shm::broadcast::BroadcastEndpoint;

/// What the peer needs to attach: both paths and the ring geometry to validate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShmEndpoint {
    pub mapping: PathBuf,
    pub liveness: PathBuf,
    pub slot_count: usize,
    /// `--copy`: one explicit copy on each side.
    pub copy: bool,
    /// The region is a memfd the creator sends over the liveness socket (`mapping` is empty).
    #[serde(default)]
    pub memfd: bool,
    /// Sleepers are woken through eventfds the creator sends over the liveness socket, not the
    /// futex words of the mapping (`--notify eventfd`).
    #[serde(default)]
    pub eventfd: bool,
}

/// Where an iceoryx2 channel is: iceoryx2's directory and shared-memory prefix, its two
/// publish-subscribe services, and the liveness socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Iox2Endpoint {
    pub root: PathBuf,
    pub prefix: String,
    /// The service the creator publishes on.
    pub to_peer: String,
    /// The service the peer publishes on.
    pub from_peer: String,
    pub liveness: PathBuf,
    pub size_bytes: usize,
    /// Subscriber buffer size.
    pub slots: usize,
    /// Sleeping waits: an event service per direction.
    pub events: bool,
}

/// Where a zeromq socket is bound: an `ipc://` socket file or a `tcp://` address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ZmqAddr {
    Ipc(PathBuf),
    Tcp(SocketAddr),
}

/// Where a zeromq channel is: the creator's socket, and the liveness socket that proves the
/// peer's session and tells either side the other is gone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZmqEndpoint {
    /// The creator's `PAIR`, or a fan-out publisher's `XPUB`.
    pub data: ZmqAddr,
    /// A fan-out subscriber's acknowledgement `PAIR` (bound by the publisher); `None` for a pair.
    pub ack: Option<ZmqAddr>,
    pub liveness: PathBuf,
}

impl ZmqAddr {
    fn map_path(self, f: impl Fn(PathBuf) -> Result<PathBuf>) -> Result<ZmqAddr> {
        Ok(match self {
            ZmqAddr::Ipc(p) => ZmqAddr::Ipc(f(p)?),
            a => a,
        })
    }
}

impl ZmqEndpoint {
    fn map_paths(self, f: impl Fn(PathBuf) -> Result<PathBuf>) -> Result<ZmqEndpoint> {
        Ok(ZmqEndpoint {
            data: self.data.map_path(&f)?,
            ack: self.ack.map(|a| a.map_path(&f)).transpose()?,
            liveness: f(self.liveness)?,
        })
    }
}

/// Where a zenoh channel is: the locator the creator's session listens on, the key expressions
/// each side publishes on, and the liveness socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZenohEndpoint {
    /// A Unix socket in the socket directory (`unixsock-stream/<path>`); `None` over TCP.
    pub socket: Option<PathBuf>,
    /// The TCP address the creator listens on, over TCP.
    pub tcp: Option<SocketAddr>,
    /// The key expression the creator publishes on.
    pub to_peer: String,
    /// The key expression the peer publishes on.
    pub from_peer: String,
    pub liveness: PathBuf,
    pub size_bytes: usize,
    /// Subscriber queue length (and shared-memory buffers in flight).
    pub slots: usize,
    /// Payloads travel in zenoh's shared memory (`zenoh-shm`).
    pub shm: bool,
}

/// Where a datagram socket is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DgramAddr {
    Udp(SocketAddr),
    Unix(PathBuf),
}

/// Where the receiving side of a data channel listens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(SocketAddr),
    Shm(ShmEndpoint),
    Dgram(DgramAddr),
    Mqueue(super::mqueue::MqEndpoint),
    Pipe(super::pipe::PipeEndpoint),
    Iox2(Iox2Endpoint),
    Zmq(ZmqEndpoint),
    Zenoh(ZenohEndpoint),
    /// One reader of a fan-out broadcast ring.
    Broadcast(BroadcastEndpoint),
}

impl Endpoint {
    /// Parses `tcp://HOST:PORT` or `unix:///path` (`flag` names the option in errors). Only
    /// the address given is ever contacted.
    pub fn from_url(url: &str, flag: &str) -> Result<Endpoint> {
        if let Some(rest) = url.strip_prefix("tcp://") {
            use std::net::ToSocketAddrs;
            let addr = rest
                .to_socket_addrs()
                .map_err(|e| anyhow::anyhow!("{flag} {url}: {e}"))?
                .next()
                .ok_or_else(|| anyhow::anyhow!("{flag} {url}: no address"))?;
            return Ok(Endpoint::Tcp(addr));
        }
        if let Some(path) = url.strip_prefix("unix://") {
            if !path.starts_with('/') {
                bail!("{flag} {url}: give an absolute path, unix:///path/to.sock");
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        bail!("{flag} '{url}' is not tcp://HOST:PORT or unix:///path")
    }

    /// The endpoint as the peer should be told it: paths inside `dir` (the socket directory)
    /// become relative, since the peer may see that directory elsewhere (a bind mount).
    pub fn relative_to(self, dir: &Path) -> Endpoint {
        let rel = |p: PathBuf| p.strip_prefix(dir).map(Path::to_path_buf).unwrap_or(p);
        match self {
            Endpoint::Unix(p) => Endpoint::Unix(rel(p)),
            Endpoint::Tcp(a) => Endpoint::Tcp(a),
            Endpoint::Shm(s) => {
                Endpoint::Shm(ShmEndpoint { mapping: rel(s.mapping), liveness: rel(s.liveness), ..s })
            }
            Endpoint::Dgram(DgramAddr::Unix(p)) => Endpoint::Dgram(DgramAddr::Unix(rel(p))),
            Endpoint::Dgram(a) => Endpoint::Dgram(a),
            Endpoint::Mqueue(m) => {
                Endpoint::Mqueue(super::mqueue::MqEndpoint { liveness: rel(m.liveness), ..m })
            }
            Endpoint::Pipe(p) => Endpoint::Pipe(super::pipe::PipeEndpoint {
                to_peer: rel(p.to_peer),
                from_peer: rel(p.from_peer),
            }),
            Endpoint::Iox2(x) => {
                Endpoint::Iox2(Iox2Endpoint { root: rel(x.root), liveness: rel(x.liveness), ..x })
            }
            Endpoint::Zmq(z) => {
                Endpoint::Zmq(z.map_paths(|p| Ok(rel(p))).expect("relative paths cannot fail"))
            }
            Endpoint::Zenoh(z) => {
                Endpoint::Zenoh(ZenohEndpoint { socket: z.socket.map(rel), liveness: rel(z.liveness), ..z })
            }
            Endpoint::Broadcast(b) => Endpoint::Broadcast(BroadcastEndpoint {
                mapping: rel(b.mapping),
                liveness: rel(b.liveness),
                ..b
            }),
        }
    }

    /// The endpoint as this side sees it: relative paths are inside `dir`, this side's socket
    /// directory. Paths may not climb out of it.
    pub fn resolve(self, dir: &Path) -> Result<Endpoint> {
        let abs = |p: PathBuf| -> Result<PathBuf> {
            if p.is_absolute() {
                return Ok(p);
            }
            if p.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
                bail!("endpoint path {} leaves the socket directory", p.display());
            }
            Ok(dir.join(p))
        };
        Ok(match self {
            Endpoint::Unix(p) => Endpoint::Unix(abs(p)?),
            Endpoint::Tcp(a) => Endpoint::Tcp(a),
            Endpoint::Shm(s) => {
                Endpoint::Shm(ShmEndpoint { mapping: abs(s.mapping)?, liveness: abs(s.liveness)?, ..s })
            }
            Endpoint::Dgram(DgramAddr::Unix(p)) => Endpoint::Dgram(DgramAddr::Unix(abs(p)?)),
            Endpoint::Dgram(a) => Endpoint::Dgram(a),
            Endpoint::Mqueue(m) => {
                let name_ok = |n: &str| n.starts_with("/ipcbench-") && !n[1..].contains('/');
                if !name_ok(&m.to_peer) || !name_ok(&m.from_peer) {
                    bail!("message queue names {} and {} are not ipcbench's", m.to_peer, m.from_peer);
                }
                Endpoint::Mqueue(super::mqueue::MqEndpoint { liveness: abs(m.liveness)?, ..m })
            }
            Endpoint::Pipe(p) => Endpoint::Pipe(super::pipe::PipeEndpoint {
                to_peer: abs(p.to_peer)?,
                from_peer: abs(p.from_peer)?,
            }),
            Endpoint::Iox2(x) => {
                let ours = |n: &str| n.starts_with("ipcbench-") && !n.contains('/');
                if !x.prefix.starts_with("ipcbench_") || !ours(&x.to_peer) || !ours(&x.from_peer) {
                    bail!(
                        "iceoryx2 names {}, {} and {} are not ipcbench's",
                        x.prefix,
                        x.to_peer,
                        x.from_peer
                    );
                }
                Endpoint::Iox2(Iox2Endpoint { root: abs(x.root)?, liveness: abs(x.liveness)?, ..x })
            }
            Endpoint::Zmq(z) => Endpoint::Zmq(z.map_paths(abs)?),
            Endpoint::Zenoh(z) => {
                let ours = |n: &str| n.starts_with("ipcbench/") && !n.contains(['*', '$', '?', '#']);
                if !ours(&z.to_peer) || !ours(&z.from_peer) {
                    bail!("zenoh key expressions {} and {} are not ipcbench's", z.to_peer, z.from_peer);
                }
                Endpoint::Zenoh(ZenohEndpoint {
                    socket: z.socket.map(abs).transpose()?,
                    liveness: abs(z.liveness)?,
                    ..z
                })
            }
            Endpoint::Broadcast(b) => Endpoint::Broadcast(BroadcastEndpoint {
                mapping: abs(b.mapping)?,
                liveness: abs(b.liveness)?,
                ..b
            }),
        })
    }
}

impl Endpoint {
    /// The files this endpoint names (sockets, mappings, FIFOs, liveness sockets), which the
    /// side that created them removes when the test ends.
    pub fn files(&self) -> Vec<&Path> {
        match self {
            Endpoint::Unix(p) | Endpoint::Dgram(DgramAddr::Unix(p)) => vec![p],
            Endpoint::Tcp(_) | Endpoint::Dgram(DgramAddr::Udp(_)) => vec![],
            Endpoint::Shm(s) => vec![&s.mapping, &s.liveness],
            Endpoint::Mqueue(m) => vec![&m.liveness],
            Endpoint::Pipe(p) => vec![&p.to_peer, &p.from_peer],
            Endpoint::Iox2(x) => vec![&x.liveness],
            Endpoint::Zmq(z) => {
                let ipc = [Some(&z.data), z.ack.as_ref()].into_iter().flatten().filter_map(|a| match a {
                    ZmqAddr::Ipc(p) => Some(p.as_path()),
                    ZmqAddr::Tcp(_) => None,
                });
                ipc.chain([z.liveness.as_path()]).collect()
            }
            Endpoint::Zenoh(z) => {
                z.socket.iter().map(PathBuf::as_path).chain([z.liveness.as_path()]).collect()
            }
            Endpoint::Broadcast(b) => vec![&b.mapping, &b.liveness],
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
            Endpoint::Shm(s) if s.memfd => write!(f, "memfd://{}", s.liveness.display()),
            Endpoint::Shm(s) => write!(f, "shm://{}", s.mapping.display()),
            Endpoint::Dgram(DgramAddr::Udp(a)) => write!(f, "udp://{a}"),
            Endpoint::Dgram(DgramAddr::Unix(p)) => write!(f, "unixgram://{}", p.display()),
            Endpoint::Mqueue(m) => write!(f, "mqueue://{}", m.to_peer),
            Endpoint::Pipe(p) => write!(f, "fifo://{}", p.to_peer.display()),
            Endpoint::Iox2(x) => write!(f, "iceoryx2://{}", x.to_peer),
            Endpoint::Zmq(z) => match &z.data {
                ZmqAddr::Ipc(p) => write!(f, "zeromq ipc://{}", p.display()),
                ZmqAddr::Tcp(a) => write!(f, "zeromq tcp://{a}"),
            },
            Endpoint::Zenoh(z) => match (&z.socket, z.tcp) {
                (Some(p), _) => write!(f, "zenoh unixsock-stream/{}", p.display()),
                (None, Some(a)) => write!(f, "zenoh tcp/{a}"),
                (None, None) => write!(f, "zenoh (no locator)"),
            },
            Endpoint::Broadcast(b) if b.memfd => {
                write!(f, "memfd broadcast reader {} of {} via {}", b.index, b.readers, b.liveness.display())
            }
            Endpoint::Broadcast(b) => {
                write!(f, "shm broadcast reader {} of {} at {}", b.index, b.readers, b.mapping.display())
            }
        }
    }
}
