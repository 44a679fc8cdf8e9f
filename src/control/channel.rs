//! One end of a control channel: the frames of the protocol (see the module above) on a byte
//! stream, every read with a timeout, and the hello on each side.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::io::Errno;

use super::{ControlError, Message, MAGIC, MAX_BLOCK_BYTES, MAX_MESSAGE_BYTES, PROTOCOL_VERSION};

/// How much of a frame's payload is read (and allocated) at a time.
const READ_CHUNK_BYTES: usize = 1 << 20;

const KIND_JSON: u8 = 1;
const KIND_BLOCK: u8 = 2;

/// One end of a control channel.
pub struct Channel {
    rx: OwnedFd,
    tx: OwnedFd,
    /// Who is at the other end, for error messages ("peer", "host").
    who: &'static str,
    pub timeout: Duration,
    /// The token this side presents in its hello.
    token: Option<String>,
}

impl Channel {
    pub fn new(rx: OwnedFd, tx: OwnedFd, who: &'static str, timeout: Duration) -> Channel {
        Channel { rx, tx, who, timeout, token: None }
    }

    /// Presents `token` in this side's hello.
    pub fn with_token(mut self, token: Option<String>) -> Channel {
        self.token = token;
        self
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
        let mut payload = Vec::new();
        let kind = self.read_frame_into(waiting_for, timeout, &mut payload)?;
        Ok((kind, payload))
    }

    /// Reads one frame's payload into `payload` (replacing what it held); returns its kind.
    fn read_frame_into(
        &mut self,
        waiting_for: &'static str,
        timeout: Duration,
        payload: &mut Vec<u8>,
    ) -> Result<u8, ControlError> {
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
        payload.clear();
        while payload.len() < len {
            let at = payload.len();
            payload.resize(at + (len - at).min(READ_CHUNK_BYTES), 0);
            self.read_exact(&mut payload[at..], deadline, waiting_for, timeout)?;
        }
        Ok(kind)
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
        self.decode(&payload)
    }

    /// Receives the next frame: a message (`Some`), or a binary block, read into `block`
    /// (`None`). A peer's `Error` message becomes [`ControlError::Remote`].
    pub fn recv_message_or_block(
        &mut self,
        waiting_for: &'static str,
        block: &mut Vec<u8>,
    ) -> Result<Option<Message>, ControlError> {
        match self.read_frame_into(waiting_for, self.timeout, block)? {
            KIND_JSON => self.decode(block).map(Some),
            _ => Ok(None),
        }
    }

    fn decode(&self, payload: &[u8]) -> Result<Message, ControlError> {
        let msg: Message = serde_json::from_slice(payload).map_err(|e| ControlError::Malformed {
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
        self.send(&Message::hello(self.token.as_deref()))?;
        let theirs = self.recv_within("hello", timeout)?;
        self.check_hello(theirs, None)
    }

    /// The host's side of the hello: theirs first (within `timeout`), checked, with the token
    /// when `expected` names one, and only then ours, so a connection that fails learns
    /// nothing about this machine.
    pub fn accept_hello(
        &mut self,
        timeout: Duration,
        expected: Option<&str>,
    ) -> Result<Message, ControlError> {
        let theirs = self.recv_within("hello", timeout)?;
        let theirs = self.check_hello(theirs, expected)?;
        self.send(&Message::hello(None))?;
        Ok(theirs)
    }

    fn check_hello(&self, theirs: Message, expected_token: Option<&str>) -> Result<Message, ControlError> {
        match &theirs {
            Message::Hello { magic, protocol_version, token, .. } => {
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
                match (expected_token, token) {
                    (None, _) => {}
                    (Some(_), None) => return Err(ControlError::TokenMissing { who: self.who }),
                    (Some(e), Some(t)) if !super::token::matches(e, t) => {
                        return Err(ControlError::TokenWrong { who: self.who })
                    }
                    (Some(_), Some(_)) => {}
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
        let mut hello = Message::hello(None);
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
