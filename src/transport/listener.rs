//! Listening for and connecting stream sockets (Unix and TCP loopback), and removing the
//! socket and mapping files that crashed runs left behind.

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::Endpoint;
use crate::auth::Key;
use crate::cleanup;
use crate::sys;

/// A listening socket. A Unix socket file is removed when the listener is dropped.
pub enum Listener {
    Unix { listener: UnixListener, path: PathBuf },
    Tcp(TcpListener),
}

impl Listener {
    /// Listens on a Unix socket at `path`.
    ///
    /// A socket file left by a crashed run (nobody accepts on it) is replaced; a live socket, a
    /// symlink or any other kind of file at `path` is an error and is left alone.
    ///
    /// The socket file gets `mode` (0600, or 0660 to share it with the socket directory's
    /// group, e.g. a container's user).
    pub fn bind_unix(path: &Path, mode: u32) -> Result<Listener> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
                Ok(_) => bail!("{} is in use by another running process", path.display()),
                Err(_) => {
                    eprintln!("note: removed stale socket {} left by an earlier run", path.display());
                    std::fs::remove_file(path)
                        .with_context(|| format!("removing stale socket {}", path.display()))?;
                }
            },
            Ok(_) => bail!("{} exists and is not a socket; refusing to replace it", path.display()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("checking {}", path.display())),
        }
        let listener =
            UnixListener::bind(path).with_context(|| format!("binding Unix socket {}", path.display()))?;
        cleanup::register_file(path);
        // Connecting needs write permission on the socket file: only the owner (and the group
        // with 0660) may. Until now it had the umask's mode, which never grants others write.
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .with_context(|| format!("setting mode {mode:o} on {}", path.display()))?;
        Ok(Listener::Unix { listener, path: path.to_path_buf() })
    }

    /// Listens on an ephemeral TCP port of 127.0.0.1.
    pub fn bind_tcp_loopback() -> Result<Listener> {
        Listener::bind_tcp((Ipv4Addr::LOCALHOST, 0).into())
    }

    /// Listens on TCP `addr` (port 0: an ephemeral one).
    pub fn bind_tcp(addr: std::net::SocketAddr) -> Result<Listener> {
        let l = TcpListener::bind(addr).with_context(|| format!("binding TCP on {addr}"))?;
        Ok(Listener::Tcp(l))
    }

    pub fn endpoint(&self) -> Result<Endpoint> {
        Ok(match self {
            Listener::Unix { path, .. } => Endpoint::Unix(path.clone()),
            Listener::Tcp(l) => Endpoint::Tcp(l.local_addr()?),
        })
    }

    /// The listening fd, to wait on it together with other fds.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Listener::Unix { listener, .. } => listener.as_fd(),
            Listener::Tcp(l) => l.as_fd(),
        }
    }

    /// Accepts one connection, waiting at most `timeout`.
    pub fn accept(&self, timeout: Duration) -> Result<OwnedFd> {
        if !sys::wait_readable(self.fd(), timeout)? {
            bail!("the peer did not connect to {} within {timeout:?}", self.endpoint()?);
        }
        self.accept_now()
    }

    fn accept_now(&self) -> Result<OwnedFd> {
        Ok(match self {
            Listener::Unix { listener, .. } => listener.accept()?.0.into(),
            Listener::Tcp(l) => {
                let (s, _) = l.accept()?;
                s.set_nodelay(true)?;
                s.into()
            }
        })
    }

    /// Accepts the connection that answers the challenge of `key` ([`crate::auth`]), waiting
    /// at most `timeout` in all. One that fails is dropped with a one-line note on stderr,
    /// and the accept goes on: a stranger that connects first cannot take the peer's place.
    pub fn accept_proven(&self, timeout: Duration, key: &Key) -> Result<OwnedFd> {
        let deadline = Instant::now() + timeout;
        let mut refused = 0u32;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !sys::wait_readable(self.fd(), left)? {
                let why = if refused > 0 {
                    format!(" (refused {refused} connection(s) that failed the challenge)")
                } else {
                    String::new()
                };
                bail!("the peer did not connect to {} within {timeout:?}{why}", self.endpoint()?);
            }
            let fd = self.accept_now()?;
            let wait = crate::auth::PROOF_WAIT.min(deadline.saturating_duration_since(Instant::now()));
            match crate::auth::challenge(&fd, key, wait) {
                Ok(()) => return Ok(fd),
                Err(e) => {
                    refused += 1;
                    let from = match self {
                        Listener::Tcp(_) => rustix::net::getpeername(&fd)
                            .ok()
                            .flatten()
                            .and_then(|a| std::net::SocketAddr::try_from(a).ok())
                            .map(|a| format!(" from {a}"))
                            .unwrap_or_default(),
                        Listener::Unix { .. } => String::new(),
                    };
                    eprintln!("note: refused a connection to {}{from}: {e:#}", self.endpoint()?);
                }
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix { path, .. } = self {
            cleanup::remove_file(path);
        }
    }
}

/// Removes data sockets and mapping files in `dir` left by ipcbench processes that no longer
/// exist (a crash or a SIGKILL skips cleanup), saying so on stderr. Files of live processes,
/// and anything not named `ipcbench-<pid>-<n>.sock|.shm|.fifo-i|.fifo-p`, are left alone.
pub fn remove_stale_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("ipcbench-"))
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if pid <= 0 || sys::process_exists(pid as u32) {
            continue;
        }
        let Ok(kind) = entry.file_type() else { continue };
        let path = entry.path();
        let ext = path.extension().and_then(|e| e.to_str());
        let stale_socket = kind.is_socket() && ext == Some("sock") && UnixStream::connect(&path).is_err();
        let stale_mapping = kind.is_file() && ext == Some("shm");
        let stale_fifo = kind.is_fifo() && matches!(ext, Some("fifo-i" | "fifo-p"));
        // zenoh's Unix socket listener keeps a lock file beside its socket.
        let stale_lock = kind.is_file() && ext == Some("lock");
        if kind.is_dir() && name.to_str().is_some_and(|n| n.ends_with("-iox2")) {
            eprintln!("note: removed stale {} left by an earlier run", path.display());
            crate::cleanup::remove_iox2(&path, &format!("ipcbench_{pid}_"));
            continue;
        }
        if stale_socket || stale_mapping || stale_fifo || stale_lock {
            eprintln!("note: removed stale {} left by an earlier run", path.display());
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Connects to `endpoint`, retrying until `timeout` while it is not there yet.
pub fn connect(endpoint: &Endpoint, timeout: Duration) -> Result<OwnedFd> {
    let deadline = Instant::now() + timeout;
    let mut backoff = Duration::from_millis(1);
    loop {
        let attempt: io::Result<OwnedFd> = match endpoint {
            Endpoint::Unix(p) => UnixStream::connect(p).map(Into::into),
            Endpoint::Tcp(a) => TcpStream::connect(a).and_then(|s| {
                s.set_nodelay(true)?;
                Ok(s.into())
            }),
            Endpoint::Shm(_)
            | Endpoint::Dgram(_)
            | Endpoint::Mqueue(_)
            | Endpoint::Pipe(_)
            | Endpoint::Iox2(_)
            | Endpoint::Zmq(_)
            | Endpoint::Zenoh(_)
            | Endpoint::Broadcast(_) => {
                bail!("{endpoint} is not a stream socket")
            }
        };
        match attempt {
            Ok(fd) => return Ok(fd),
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| format!("connecting to {endpoint} for {timeout:?}"))
            }
            Err(_) => {
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(100));
            }
        }
    }
}

/// [`connect`], then answers the listener's challenge with `key` ([`crate::auth`]).
pub fn connect_proven(endpoint: &Endpoint, timeout: Duration, key: &Key) -> Result<OwnedFd> {
    let fd = connect(endpoint, timeout)?;
    crate::auth::answer(&fd, key, timeout).with_context(|| format!("proving this session to {endpoint}"))?;
    Ok(fd)
}

/// The most descriptors one [`send_fds`] carries.
pub const MAX_FDS: usize = 5;

/// Sends `fds` (`what` names them in errors) over the connected Unix socket `sock`
/// (`SCM_RIGHTS`, with one byte of payload).
pub fn send_fds(sock: &OwnedFd, fds: &[std::os::fd::BorrowedFd<'_>], what: &str) -> Result<()> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if fds.len() > MAX_FDS || !control.push(SendAncillaryMessage::ScmRights(fds)) {
        bail!("no room for {} descriptors in the control message", fds.len());
    }
    rustix::net::sendmsg(sock, &[std::io::IoSlice::new(b"F")], &mut control, SendFlags::NOSIGNAL)
        .with_context(|| format!("sending the {what} to the peer"))?;
    Ok(())
}

/// Receives the `count` descriptors (`what` names them in errors) sent with [`send_fds`] over
/// `sock`, waiting up to `timeout`.
pub fn recv_fds(sock: &OwnedFd, count: usize, what: &str, timeout: Duration) -> Result<Vec<OwnedFd>> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    if !crate::sys::wait_readable(sock.as_fd(), timeout)? {
        bail!("the creator sent no {what} within {timeout:?}");
    }
    let mut byte = [0u8; 1];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        sock,
        &mut [std::io::IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .with_context(|| format!("receiving the {what}"))?;
    if got.bytes == 0 {
        bail!("the creator closed the socket before sending its {what}");
    }
    if got.flags.contains(rustix::net::ReturnFlags::CTRUNC) {
        bail!("the creator sent more descriptors than the {what}");
    }
    let mut fds = Vec::with_capacity(count);
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = msg {
            fds.extend(received);
        }
    }
    if fds.len() != count {
        bail!("the creator sent {} descriptors, not the {count} of its {what}", fds.len());
    }
    Ok(fds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_socket_file_is_replaced_but_a_live_one_or_a_regular_file_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        drop(UnixListener::bind(&path).unwrap()); // leaves the file behind, like a crash
        assert!(path.exists());
        let live = Listener::bind_unix(&path, 0o600).unwrap();
        let err = Listener::bind_unix(&path, 0o600).err().unwrap();
        assert!(err.to_string().contains("in use"), "{err}");
        drop(live);
        assert!(!path.exists(), "listener removes its socket file");
        std::fs::write(&path, b"data").unwrap();
        let err = Listener::bind_unix(&path, 0o600).err().unwrap();
        assert!(err.to_string().contains("not a socket"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
    }
}
