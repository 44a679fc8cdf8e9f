//! How a sleeping ring end is woken (`--notify`): a futex word in the shared mapping (the
//! default), or eventfds. An eventfd is a descriptor, so a service can sleep on its ring and
//! its sockets in one poll or epoll; here the sleeper polls it together with the liveness
//! socket, so a dead peer ends the sleep at once. Both follow the same flag protocol in
//! [`super::ring`]: a producer signals only when the consumer announced that it sleeps (and
//! the other way round), and the sleeper re-checks its condition after announcing, so no wake-up
//! is lost; an eventfd's counter also keeps a signal that came before the sleep.
//!
//! The creator makes four eventfds, per ring one the consumer sleeps on waiting for data and
//! one the producer sleeps on waiting for space, and sends them to the attacher over the
//! liveness socket (`SCM_RIGHTS`), so they cross a container boundary as the socket does.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use anyhow::{bail, Context, Result};
use rustix::event::EventfdFlags;
use serde::{Deserialize, Serialize};

/// How a sleeping ring waiter is woken.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Notify {
    /// A futex word in the mapping: `futex_wait` / `futex_wake`.
    #[default]
    Futex,
    /// Eventfds sent over the liveness socket: `poll` / `write`.
    Eventfd,
}

impl std::fmt::Display for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Notify::Futex => "futex",
            Notify::Eventfd => "eventfd",
        })
    }
}

/// The four eventfds of a channel, in the order they travel: ring 0's data and space, then
/// ring 1's (ring 0 carries creator -> attacher).
pub struct EventFds([OwnedFd; 4]);

impl EventFds {
    pub const COUNT: usize = 4;

    pub fn create() -> Result<EventFds> {
        let make = || {
            rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
                .context("making an eventfd")
        };
        Ok(EventFds([make()?, make()?, make()?, make()?]))
    }

    /// Takes the descriptors the creator sent, refusing anything that is not an eventfd.
    pub fn received(fds: Vec<OwnedFd>) -> Result<EventFds> {
        let Ok(fds) = <[OwnedFd; 4]>::try_from(fds) else {
            bail!("the creator sent the wrong number of eventfds");
        };
        for fd in &fds {
            if !is_eventfd(fd.as_fd()) {
                bail!("a descriptor the creator sent as an eventfd is something else");
            }
        }
        Ok(EventFds(fds))
    }

    pub fn borrowed(&self) -> [BorrowedFd<'_>; 4] {
        [self.0[0].as_fd(), self.0[1].as_fd(), self.0[2].as_fd(), self.0[3].as_fd()]
    }

    /// This side's view: the creator produces into ring 0, the attacher into ring 1.
    pub fn for_side(self, creator: bool) -> Events {
        let [d0, s0, d1, s1] = self.0;
        let ((tx_data, tx_space), (rx_data, rx_space)) =
            if creator { ((d0, s0), (d1, s1)) } else { ((d1, s1), (d0, s0)) };
        Events { tx_data, tx_space, rx_data, rx_space }
    }
}

fn is_eventfd(fd: BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .is_ok_and(|p| p.as_os_str() == "anon_inode:[eventfd]")
}

/// One side's eventfds: what it signals and what it sleeps on.
pub struct Events {
    /// Signalled after publishing into our outgoing ring, when its consumer sleeps.
    pub tx_data: OwnedFd,
    /// Slept on while our outgoing ring is full.
    pub tx_space: OwnedFd,
    /// Slept on while our incoming ring is empty.
    pub rx_data: OwnedFd,
    /// Signalled after releasing a slot of our incoming ring, when its producer sleeps.
    pub rx_space: OwnedFd,
}

/// Adds one to the counter: wakes a poller of `fd`.
pub fn signal(fd: &OwnedFd) {
    // A full counter (2^64 - 2 signals unread) is the only failure: the sleeper is awake anyway.
    let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
}

/// Resets the counter after a wake-up (a counter of 0 is EAGAIN: nothing to reset).
pub fn drain(fd: BorrowedFd<'_>) {
    let mut buf = [0u8; 8];
    let _ = rustix::io::read(fd, &mut buf);
}
