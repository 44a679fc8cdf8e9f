//! Pipes: two named FIFOs in the socket directory, one per direction (`<name>.fifo-i` toward
//! the peer, `<name>.fifo-p` back), so the same transport serves `run` and a client in a
//! container that sees the directory through a bind mount. Messages are raw, fixed-size, read
//! and written in full as a hand-written pipe ping-pong does.
//!
//! Opening FIFOs blocks or fails until the other end is there, so the order is fixed:
//! - the creator makes both FIFOs (mode of the socket directory's files) and opens its read
//!   end of `-p` and a read-write descriptor of `-i` (so the peer never reads end-of-file from
//!   `-i` before the creator's writer exists);
//! - the peer opens its read end of `-i`, its write end of `-p`, and writes one hello byte;
//! - the creator sees the hello (that is the "connect"), opens its write end of `-i`, drops the
//!   read-write descriptor and removes both files.
//!
//! Every descriptor is non-blocking: a spin wait retries, a blocking or hybrid wait sleeps in
//! poll(2) with the run's timeout, so a stalled peer is a timeout, never a hang; a dead peer is
//! end-of-file on a read or `EPIPE` on a write, at once.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rustix::fs::{Mode, OFlags};
use serde::{Deserialize, Serialize};

use super::stream_io::{read_full, write_full, Waits};
use super::{Transport, TransportResult, WaitStrategy};
use crate::auth::Key;
use crate::cleanup;
use crate::wire::{Header, HEADER_BYTES};

const HELLO: u8 = b'H';
/// What a pipe peer's proof answers: a FIFO carries nothing back before the hello, so the
/// challenge is fixed; the data key is this test's alone, and the proof never leaves the machine.
const FIFO_CHALLENGE: &[u8] = b"ipcbench-fifo";

/// The two FIFOs of a channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipeEndpoint {
    /// The FIFO the creator writes.
    pub to_peer: PathBuf,
    /// The FIFO the peer writes.
    pub from_peer: PathBuf,
}

fn open(path: &Path, flags: OFlags) -> Result<OwnedFd> {
    rustix::fs::open(path, flags | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOFOLLOW, Mode::empty())
        .with_context(|| format!("opening FIFO {}", path.display()))
}

/// Sets a pipe's buffer to at least `bytes`; a refusal names the limit that refused it.
fn set_buffer(fd: &OwnedFd, bytes: usize) -> Result<usize> {
    rustix::pipe::fcntl_setpipe_size(fd, bytes).map_err(|e| {
        let limit = std::fs::read_to_string("/proc/sys/fs/pipe-max-size").unwrap_or_default();
        let limit = limit.trim();
        match e {
            rustix::io::Errno::PERM => anyhow::anyhow!(
                "--pipe-size {bytes} is more than an unprivileged pipe may have (fs.pipe-max-size is {limit}; raise it with sysctl -w fs.pipe-max-size={bytes})"
            ),
            rustix::io::Errno::NOMEM | rustix::io::Errno::INVAL => anyhow::anyhow!(
                "--pipe-size {bytes} was refused by the kernel ({e}; fs.pipe-max-size is {limit})"
            ),
            e => anyhow::anyhow!("F_SETPIPE_SZ {bytes} on a FIFO: {e}"),
        }
    })
}

fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

/// The creator's side before the peer has connected.
pub struct PipeListener {
    endpoint: PipeEndpoint,
    /// Read end of `from_peer`: readable once the peer's hello arrives.
    rx: OwnedFd,
    /// A read-write descriptor of `to_peer`, held until the real write end is open.
    _hold: OwnedFd,
    /// Each FIFO's buffer as the kernel set it (`F_GETPIPE_SZ`).
    buffer_bytes: usize,
}

impl PipeListener {
    /// Makes both FIFOs as `<base>.fifo-i` and `<base>.fifo-p` with `mode`, each with a buffer
    /// of `buffer_bytes` (`F_SETPIPE_SZ`; the kernel rounds up to a power of two pages) or the
    /// kernel's default.
    pub fn create(base: &Path, mode: u32, buffer_bytes: Option<usize>) -> Result<PipeListener> {
        let name = |end: &str| PathBuf::from(format!("{}.fifo-{end}", base.display()));
        let endpoint = PipeEndpoint { to_peer: name("i"), from_peer: name("p") };
        for p in [&endpoint.to_peer, &endpoint.from_peer] {
            rustix::fs::mkfifoat(rustix::fs::CWD, p, Mode::from_raw_mode(mode))
                .with_context(|| format!("making FIFO {}", p.display()))?;
            cleanup::register_file(p);
            // The umask may have taken bits away; set exactly `mode`.
            rustix::fs::chmod(p, Mode::from_raw_mode(mode))
                .with_context(|| format!("chmod {}", p.display()))?;
        }
        let opened = (|| {
            let rx = open(&endpoint.from_peer, OFlags::RDONLY)?;
            let hold = open(&endpoint.to_peer, OFlags::RDWR)?;
            // A FIFO's buffer belongs to the pipe, not to a descriptor: set it from either end.
            let mut got = Vec::with_capacity(2);
            for fd in [&rx, &hold] {
                got.push(match buffer_bytes {
                    Some(n) => set_buffer(fd, n)?,
                    None => rustix::pipe::fcntl_getpipe_size(fd).context("F_GETPIPE_SZ on a FIFO")?,
                });
            }
            Ok::<_, anyhow::Error>((rx, hold, got[0].min(got[1])))
        })();
        match opened {
            Ok((rx, hold, buffer_bytes)) => Ok(PipeListener { endpoint, rx, _hold: hold, buffer_bytes }),
            Err(e) => {
                cleanup::remove_file(&endpoint.to_peer);
                cleanup::remove_file(&endpoint.from_peer);
                Err(e)
            }
        }
    }

    pub fn endpoint(&self) -> &PipeEndpoint {
        &self.endpoint
    }

    /// Each FIFO's buffer, in bytes.
    pub fn buffer_bytes(&self) -> usize {
        self.buffer_bytes
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.rx.as_fd()
    }

    /// Takes the peer's hello and its proof, opens the write end and removes both files.
    ///
    /// A FIFO cannot tell its writers apart or drop one: bytes from anyone but this session's
    /// peer fail the run (the files have the socket directory's mode, so only its owner, or
    /// group, can open them).
    pub fn accept(
        self,
        size: usize,
        wait: WaitStrategy,
        timeout: Duration,
        key: &Key,
    ) -> Result<PipeTransport> {
        let mut hello = [0u8; 1 + crate::auth::TAG_BYTES];
        read_full(&self.rx, &mut hello, Waits::polled(WaitStrategy::Block, timeout))
            .context("waiting for the peer's hello on its FIFO")?;
        if hello[0] != HELLO {
            bail!(
                "the first byte on FIFO {} is {:#04x}, not the peer's hello",
                self.endpoint.from_peer.display(),
                hello[0]
            );
        }
        if !key.check_answer(FIFO_CHALLENGE, &hello[1..]) {
            bail!(
                "FIFO {} was written by a process that is not this session's peer (a wrong proof)",
                self.endpoint.from_peer.display()
            );
        }
        let tx = open(&self.endpoint.to_peer, OFlags::WRONLY)?;
        let rx = self.rx.try_clone().context("duplicating the FIFO's read end")?;
        drop(self); // closes the read-write hold of `to_peer`, removes both files
        Ok(PipeTransport::new(rx, tx, size, wait, timeout))
    }
}

impl Drop for PipeListener {
    fn drop(&mut self) {
        cleanup::remove_file(&self.endpoint.to_peer);
        cleanup::remove_file(&self.endpoint.from_peer);
    }
}

/// The peer's side: opens its ends (refusing anything that is not a FIFO) and says hello.
pub fn connect(
    ep: &PipeEndpoint,
    size: usize,
    wait: WaitStrategy,
    timeout: Duration,
    key: &Key,
) -> Result<PipeTransport> {
    for p in [&ep.to_peer, &ep.from_peer] {
        if !is_fifo(p) {
            bail!("{} is not a FIFO", p.display());
        }
    }
    let rx = open(&ep.to_peer, OFlags::RDONLY)?;
    let tx = open(&ep.from_peer, OFlags::WRONLY)?;
    let mut hello = [HELLO; 1 + crate::auth::TAG_BYTES];
    hello[1..].copy_from_slice(&key.answer(FIFO_CHALLENGE));
    write_full(&tx, &hello, Waits::polled(wait, timeout)).context("saying hello on the FIFO")?;
    Ok(PipeTransport::new(rx, tx, size, wait, timeout))
}

/// One side's two FIFO ends.
pub struct PipeTransport {
    rx: OwnedFd,
    tx: OwnedFd,
    rbuf: Vec<u8>,
    tbuf: Vec<u8>,
    waits: Waits,
}

impl PipeTransport {
    fn new(rx: OwnedFd, tx: OwnedFd, size: usize, wait: WaitStrategy, timeout: Duration) -> Self {
        PipeTransport {
            rx,
            tx,
            rbuf: vec![0; size],
            tbuf: vec![0; size],
            waits: Waits::polled(wait, timeout),
        }
    }
}

impl Transport for PipeTransport {
    fn readable_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        Some(self.rx.as_fd())
    }

    fn send_buf(&mut self) -> TransportResult<&mut [u8]> {
        Ok(&mut self.tbuf[HEADER_BYTES..])
    }

    fn send(&mut self, h: Header) -> TransportResult<()> {
        h.write(&mut self.tbuf);
        write_full(&self.tx, &self.tbuf, self.waits)
    }

    fn recv(&mut self) -> TransportResult<&[u8]> {
        read_full(&self.rx, &mut self.rbuf, self.waits)?;
        Ok(&self.rbuf)
    }

    fn release(&mut self) {}

    fn echo(&mut self) -> TransportResult<Header> {
        read_full(&self.rx, &mut self.rbuf, self.waits)?;
        write_full(&self.tx, &self.rbuf, self.waits)?;
        Ok(Header::read(&self.rbuf))
    }
}
