//! The control protocol between the initiator (`ipcbench run`, later `ipcbench host`) and its
//! peer (the hidden `ipcbench peer`, later `ipcbench client` in a container).
//!
//! A byte stream (a pipe pair or a Unix socket) carries frames:
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | payload length `n`, u32 little-endian |
//! | 4 | kind: 1 = a JSON [`Message`], 2 = a binary block |
//! | 5..5+n | payload |
//!
//! Both sides open with [`Message::Hello`] carrying [`MAGIC`] and [`PROTOCOL_VERSION`]; a
//! mismatch ends the session naming both versions. Binary blocks follow only the message that
//! announces them (`Done`: the HdrHistogram, then the samples). Every read has a timeout.

pub mod coordinator;
mod external;
mod fanout;
pub mod peer;
mod peer_process;
mod progress;

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use serde::{Deserialize, Serialize};

use crate::measure::env::Environment;
use crate::pattern::{Params, SideReport};
use crate::transport::{ChannelSpec, Endpoint, TransportKind};

/// The name of the control socket in the socket directory.
pub const CONTROL_SOCKET: &str = "ipcbench.ctl";

/// Opens every session; anything else in its place is not an ipcbench peer.
pub const MAGIC: &str = "ipcbench-control";
/// Bumped on any change to [`Message`] or the framing (2: the channel spec in `Prepare`, the
/// wait strategy per test, the clamped-sample count in `Done`).
pub const PROTOCOL_VERSION: u32 = 2;
/// The largest JSON message accepted.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// The largest binary block accepted (samples of a long run).
pub const MAX_BLOCK_BYTES: usize = 1 << 30;

/// How much of a frame's payload is read (and allocated) at a time.
const READ_CHUNK_BYTES: usize = 1 << 20;

const KIND_JSON: u8 = 1;
const KIND_BLOCK: u8 = 2;

/// A control message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Message {
    /// First message each way.
    Hello {
        magic: String,
        protocol_version: u32,
        ipcbench_version: String,
        /// The sender's `CLOCK_MONOTONIC` when it sent this.
        clock_ns: u64,
        environment: Environment,
    },
    /// Initiator to peer, once: how the peer runs.
    Plan {
        /// CPU to pin the peer to.
        pin_cpu: Option<usize>,
        timeout_ms: u64,
    },
    /// Initiator to peer: read your `CLOCK_MONOTONIC` now (the clock check).
    ClockProbe,
    /// Peer to initiator: its `CLOCK_MONOTONIC` when it answered the probe.
    ClockReply { peer_ns: u64 },
    /// Initiator to peer: connect to every endpoint (one per concurrent pair; paths relative to
    /// the socket directory) as `channel` says, and take the peer's part of `params` on each.
    Prepare {
        test_id: u32,
        transport: TransportKind,
        endpoints: Vec<Endpoint>,
        channel: ChannelSpec,
        params: Params,
    },
    /// Peer to initiator: connected and in its loop (the start barrier).
    Ready { test_id: u32 },
    /// Peer to initiator: its part is over. Followed by two blocks: its histogram (HdrHistogram
    /// V2, empty when it recorded none) and its samples (24 bytes each, empty unless kept).
    Done { test_id: u32, report: SideReport },
    /// Either way: the sender gives up, saying why.
    Error { message: String },
    /// Initiator to peer: no more tests.
    Bye,
}

impl Message {
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello { .. } => "hello",
            Message::Plan { .. } => "plan",
            Message::ClockProbe => "clock-probe",
            Message::ClockReply { .. } => "clock-reply",
            Message::Prepare { .. } => "prepare",
            Message::Ready { .. } => "ready",
            Message::Done { .. } => "done",
            Message::Error { .. } => "error",
            Message::Bye => "bye",
        }
    }

    pub fn hello() -> Message {
        Message::Hello {
            magic: MAGIC.into(),
            protocol_version: PROTOCOL_VERSION,
            ipcbench_version: env!("CARGO_PKG_VERSION").into(),
            clock_ns: crate::measure::clock::now_ns(),
            environment: Environment::detect(),
        }
    }
}

/// What went wrong on the control channel.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the {0} closed the control channel")]
    Closed(&'static str),
    #[error("no message from the {who} within {timeout:?} while waiting for {waiting_for}")]
    Timeout { who: &'static str, timeout: Duration, waiting_for: &'static str },
    #[error("malformed control frame from the {who}: {detail}")]
    Malformed { who: &'static str, detail: String },
    #[error("control frame of {len} bytes from the {who} exceeds the {max}-byte limit")]
    Oversized { who: &'static str, len: usize, max: usize },
    #[error("the {who} speaks control protocol version {theirs}; this ipcbench {ours} speaks version {PROTOCOL_VERSION}")]
    VersionMismatch { who: &'static str, theirs: u32, ours: &'static str },
    #[error("the {who} is not an ipcbench peer (bad magic {magic:?})")]
    BadMagic { who: &'static str, magic: String },
    #[error("expected a {expected} message from the {who}, got {got}")]
    Unexpected { who: &'static str, expected: &'static str, got: String },
    #[error("the {who} failed: {message}")]
    Remote { who: &'static str, message: String },
    #[error("control channel I/O: {0}")]
    Io(#[from] io::Error),
}

/// One end of a control channel.
pub struct Channel {
    rx: OwnedFd,
    tx: OwnedFd,
    /// Who is at the other end, for error messages ("peer", "host").
    who: &'static str,
    pub timeout: Duration,
}

impl Channel {
    pub fn new(rx: OwnedFd, tx: OwnedFd, who: &'static str, timeout: Duration) -> Channel {
        Channel { rx, tx, who, timeout }
    }

    pub fn rx_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.rx.as_fd()
    }

    fn write_frame(&mut self, kind: u8, payload: &[u8]) -> Result<(), ControlError> {
        let mut head = [0u8; 5];
        head[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        head[4] = kind;
        write_all(&self.tx, &head).and_then(|_| write_all(&self.tx, payload)).map_err(|e| {
            if e.kind() == io::ErrorKind::BrokenPipe {
                ControlError::Closed(self.who)
            } else {
                ControlError::Io(e)
            }
        })
    }

    pub fn send(&mut self, msg: &Message) -> Result<(), ControlError> {
        let json = serde_json::to_vec(msg).expect("control messages always serialize");
        self.write_frame(KIND_JSON, &json)
    }

    pub fn send_block(&mut self, block: &[u8]) -> Result<(), ControlError> {
        self.write_frame(KIND_BLOCK, block)
    }

    fn read_frame(
        &mut self,
        waiting_for: &'static str,
        timeout: Duration,
    ) -> Result<(u8, Vec<u8>), ControlError> {
        let deadline = Instant::now() + timeout;
        let mut head = [0u8; 5];
        self.read_exact(&mut head, deadline, waiting_for, timeout)?;
        let len = u32::from_le_bytes(head[..4].try_into().unwrap()) as usize;
        let kind = head[4];
        let max = match kind {
            KIND_JSON => MAX_MESSAGE_BYTES,
            KIND_BLOCK => MAX_BLOCK_BYTES,
            k => {
                return Err(ControlError::Malformed {
                    who: self.who,
                    detail: format!("unknown frame kind {k}"),
                })
            }
        };
        if len > max {
            return Err(ControlError::Oversized { who: self.who, len, max });
        }
        // Grown as bytes arrive, never to the announced length up front: a header that claims
        // a gigabyte costs memory only for the bytes that really follow it.
        let mut payload = Vec::new();
        while payload.len() < len {
            let at = payload.len();
            payload.resize(at + (len - at).min(READ_CHUNK_BYTES), 0);
            self.read_exact(&mut payload[at..], deadline, waiting_for, timeout)?;
        }
        Ok((kind, payload))
    }

    fn read_exact(
        &mut self,
        buf: &mut [u8],
        deadline: Instant,
        waiting_for: &'static str,
        timeout: Duration,
    ) -> Result<(), ControlError> {
        let mut off = 0;
        while off < buf.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !crate::sys::wait_readable(self.rx.as_fd(), left)? {
                return Err(ControlError::Timeout { who: self.who, timeout, waiting_for });
            }
            match rustix::io::read(&self.rx, &mut buf[off..]) {
                Ok(0) => return Err(ControlError::Closed(self.who)),
                Ok(n) => off += n,
                Err(Errno::INTR) | Err(Errno::AGAIN) => {}
                Err(Errno::CONNRESET) => return Err(ControlError::Closed(self.who)),
                Err(e) => return Err(ControlError::Io(e.into())),
            }
        }
        Ok(())
    }

    /// Receives the next message, waiting at most `timeout`. A peer's `Error` message becomes
    /// [`ControlError::Remote`].
    pub fn recv_within(
        &mut self,
        waiting_for: &'static str,
        timeout: Duration,
    ) -> Result<Message, ControlError> {
        let (kind, payload) = self.read_frame(waiting_for, timeout)?;
        if kind != KIND_JSON {
            return Err(ControlError::Malformed {
                who: self.who,
                detail: format!("binary block where {waiting_for} was due"),
            });
        }
        let msg: Message = serde_json::from_slice(&payload).map_err(|e| ControlError::Malformed {
            who: self.who,
            detail: format!("{e} in {:?}", String::from_utf8_lossy(&payload[..payload.len().min(120)])),
        })?;
        match msg {
            Message::Error { message } => Err(ControlError::Remote { who: self.who, message }),
            m => Ok(m),
        }
    }

    pub fn recv(&mut self, waiting_for: &'static str) -> Result<Message, ControlError> {
        self.recv_within(waiting_for, self.timeout)
    }

    pub fn recv_block(&mut self, waiting_for: &'static str) -> Result<Vec<u8>, ControlError> {
        let (kind, payload) = self.read_frame(waiting_for, self.timeout)?;
        if kind != KIND_BLOCK {
            return Err(ControlError::Malformed {
                who: self.who,
                detail: format!("a message where the {waiting_for} block was due"),
            });
        }
        Ok(payload)
    }

    /// Sends our hello and checks theirs; returns their hello.
    pub fn handshake(&mut self) -> Result<Message, ControlError> {
        self.handshake_within(self.timeout)
    }

    /// [`handshake`](Self::handshake), waiting at most `timeout` for their hello.
    pub fn handshake_within(&mut self, timeout: Duration) -> Result<Message, ControlError> {
        self.send(&Message::hello())?;
        let theirs = self.recv_within("hello", timeout)?;
        match &theirs {
            Message::Hello { magic, protocol_version, .. } => {
                if magic != MAGIC {
                    return Err(ControlError::BadMagic { who: self.who, magic: magic.clone() });
                }
                if *protocol_version != PROTOCOL_VERSION {
                    return Err(ControlError::VersionMismatch {
                        who: self.who,
                        theirs: *protocol_version,
                        ours: env!("CARGO_PKG_VERSION"),
                    });
                }
                Ok(theirs)
            }
            other => {
                Err(ControlError::Unexpected { who: self.who, expected: "hello", got: other.kind().into() })
            }
        }
    }
}

fn write_all(fd: &OwnedFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match rustix::io::write(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn pair() -> (Channel, Channel) {
        let (a, b) = UnixStream::pair().unwrap();
        let t = Duration::from_millis(500);
        let a2 = a.try_clone().unwrap();
        let b2 = b.try_clone().unwrap();
        (Channel::new(a.into(), a2.into(), "peer", t), Channel::new(b.into(), b2.into(), "host", t))
    }

    #[test]
    fn messages_and_blocks_cross_intact() {
        let (mut a, mut b) = pair();
        let msg = Message::Ready { test_id: 7 };
        a.send(&msg).unwrap();
        a.send_block(&[1, 2, 3]).unwrap();
        assert_eq!(b.recv("ready").unwrap(), msg);
        assert_eq!(b.recv_block("histogram").unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn handshake_refuses_another_protocol_version_naming_both() {
        let (mut a, b) = pair();
        let mut hello = Message::hello();
        if let Message::Hello { protocol_version, .. } = &mut hello {
            *protocol_version = 99;
        }
        let mut b = b;
        b.send(&hello).unwrap();
        let err = a.handshake().unwrap_err().to_string();
        assert!(err.contains("version 99") && err.contains(&format!("version {PROTOCOL_VERSION}")), "{err}");
    }

    #[test]
    fn garbage_oversized_and_unknown_frames_are_named() {
        let (mut a, b) = pair();
        write_all(&b.tx, &[3, 0, 0, 0, KIND_JSON, b'{', b'x', b'}']).unwrap();
        assert!(matches!(a.recv("hello"), Err(ControlError::Malformed { .. })));
        write_all(&b.tx, &[0xff, 0xff, 0xff, 0x7f, KIND_JSON]).unwrap();
        assert!(matches!(a.recv("hello"), Err(ControlError::Oversized { .. })));
        let (mut a, b) = pair();
        write_all(&b.tx, &[0, 0, 0, 0, 9]).unwrap();
        let err = a.recv("hello").unwrap_err().to_string();
        assert!(err.contains("unknown frame kind 9"), "{err}");
        let (mut a, b) = pair();
        let unknown = br#"{"type":"launch-missiles"}"#;
        let mut frame = (unknown.len() as u32).to_le_bytes().to_vec();
        frame.push(KIND_JSON);
        frame.extend_from_slice(unknown);
        write_all(&b.tx, &frame).unwrap();
        let err = a.recv("ready").unwrap_err().to_string();
        assert!(err.contains("launch-missiles"), "{err}");
    }

    #[test]
    fn silence_is_a_timeout_and_a_closed_end_is_closed() {
        let (mut a, b) = pair();
        let start = Instant::now();
        assert!(matches!(a.recv("ready"), Err(ControlError::Timeout { .. })));
        assert!(start.elapsed() < Duration::from_secs(5));
        drop(b);
        assert!(matches!(a.recv("ready"), Err(ControlError::Closed("peer"))));
    }

    #[test]
    fn a_peer_error_message_becomes_a_remote_error() {
        let (mut a, mut b) = pair();
        b.send(&Message::Error { message: "cannot pin to CPU 9".into() }).unwrap();
        let err = a.recv("ready").unwrap_err().to_string();
        assert_eq!(err, "the peer failed: cannot pin to CPU 9");
    }
}
