//! One end of a control channel: the frames of the protocol (see the module above) on a byte
//! stream, every read with a timeout, and the hello on each side.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::io::Errno;

use super::{ControlError, Message, MAGIC, MAX_BLOCK_BYTES, MAX_MESSAGE_BYTES, PROTOCOL_VERSION};

/// How much of a frame's payload is read (and allocated) at a time.
const READ_CHUNK_BYTES: usize = 1 << 20;

pub(crate) const KIND_JSON: u8 = 1;
pub(crate) const KIND_BLOCK: u8 = 2;

/// The kind and payload length a frame's 5-byte head announces, checked against the kind's
/// limit. Pure, so that a frame can be checked (and fuzzed) from bytes alone.
pub(crate) fn parse_head(head: [u8; 5], who: &'static str) -> Result<(u8, usize), ControlError> {
    let len = u32::from_le_bytes(head[..4].try_into().unwrap()) as usize;
    let kind = head[4];
    let max = match kind {
        KIND_JSON => MAX_MESSAGE_BYTES,
        KIND_BLOCK => MAX_BLOCK_BYTES,
        k => return Err(ControlError::Malformed { who, detail: format!("unknown frame kind {k}") }),
    };
    if len > max {
        return Err(ControlError::Oversized { who, len, max });
    }
    Ok((kind, len))
}

/// A JSON frame's payload as a message; a peer's `Error` message becomes
/// [`ControlError::Remote`].
pub(crate) fn decode_message(payload: &[u8], who: &'static str) -> Result<Message, ControlError> {
    let msg: Message = serde_json::from_slice(payload).map_err(|e| ControlError::Malformed {
        who,
        detail: format!("{e} in {:?}", String::from_utf8_lossy(&payload[..payload.len().min(120)])),
    })?;
    match msg {
        Message::Error { message } => Err(ControlError::Remote { who, message }),
        m => Ok(m),
    }
}

/// One end of a control channel.
pub struct Channel {
    rx: OwnedFd,
    tx: OwnedFd,
    /// Who is at the other end, for error messages ("peer", "host").
    who: &'static str,
    pub timeout: Duration,
    /// The token this side proves it holds (the peer's side).
    token: Option<String>,
    /// The session key, once the handshake is done.
    session: Option<crate::auth::Key>,
}

impl Channel {
    pub fn new(rx: OwnedFd, tx: OwnedFd, who: &'static str, timeout: Duration) -> Channel {
        Channel { rx, tx, who, timeout, token: None, session: None }
    }

    /// Proves `token` in the handshake (the peer's side).
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
        let (kind, len) = parse_head(head, self.who)?;
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
        decode_message(&payload, self.who)
    }

    /// Receives the next frame: a message (`Some`), or a binary block, read into `block`
    /// (`None`). A peer's `Error` message becomes [`ControlError::Remote`].
    pub fn recv_message_or_block(
        &mut self,
        waiting_for: &'static str,
        block: &mut Vec<u8>,
    ) -> Result<Option<Message>, ControlError> {
        match self.read_frame_into(waiting_for, self.timeout, block)? {
            KIND_JSON => decode_message(block, self.who).map(Some),
            _ => Ok(None),
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

    /// The peer's side of the session handshake ([`crate::auth`]): our hello with a fresh
    /// nonce, the initiator's challenge, our tag (when we hold a token), then the initiator's
    /// hello, its version and tag checked. Returns the initiator's hello; afterwards
    /// [`data_key`](Self::data_key) works.
    pub fn join_session(&mut self) -> Result<Message, ControlError> {
        let mine = crate::auth::nonce()?;
        self.send(&Message::hello(&mine, None))?;
        let (theirs, token_required) = match self.recv("challenge")? {
            Message::Challenge { nonce, token_required } => (self.nonce_from(&nonce)?, token_required),
            // An initiator of another version answers with its hello: name the versions.
            hello @ Message::Hello { .. } => {
                self.check_hello(&hello)?;
                return Err(self.unexpected("challenge", &hello));
            }
            other => return Err(self.unexpected("challenge", &other)),
        };
        let nonces = crate::auth::Nonces { initiator: theirs, peer: mine };
        let token = self.token.clone();
        if token.is_some() && !token_required {
            return Err(ControlError::TokenUnexpected { who: self.who });
        }
        self.send(&Message::Proof {
            tag: token.as_deref().map(|t| crate::auth::to_hex(&nonces.peer_tag(Some(t)))),
        })?;
        if token.is_none() && token_required {
            return Err(ControlError::TokenNeeded { who: self.who });
        }
        let hello = self.recv("hello")?;
        self.check_hello(&hello)?;
        let Message::Hello { tag, .. } = &hello else { unreachable!("checked above") };
        let proven = tag.as_deref().and_then(crate::auth::from_hex::<{ crate::auth::TAG_BYTES }>);
        if !proven.is_some_and(|t| nonces.check_initiator_tag(token.as_deref(), &t)) {
            return Err(ControlError::ProofWrong { who: self.who });
        }
        self.session = Some(nonces.session_key(token.as_deref()));
        Ok(hello)
    }

    /// The initiator's side: the peer's hello first (within `timeout`), checked; our
    /// challenge; the peer's tag checked against `expected` (the token, if this side needs
    /// one); and only then our hello, so that a connection that fails learns nothing about
    /// this machine. Returns the peer's hello.
    pub fn initiate_session(
        &mut self,
        timeout: Duration,
        expected: Option<&str>,
    ) -> Result<Message, ControlError> {
        let hello = self.recv_within("hello", timeout)?;
        self.check_hello(&hello)?;
        let Message::Hello { nonce, .. } = &hello else { unreachable!("checked above") };
        let peer = self.nonce_from(nonce)?;
        let mine = crate::auth::nonce()?;
        self.send(&Message::Challenge {
            nonce: crate::auth::to_hex(&mine),
            token_required: expected.is_some(),
        })?;
        let nonces = crate::auth::Nonces { initiator: mine, peer };
        match (expected, self.recv_within("proof", timeout)?) {
            (None, Message::Proof { tag: None }) => {}
            (None, Message::Proof { tag: Some(_) }) => {
                return Err(ControlError::Malformed {
                    who: self.who,
                    detail: "a token's tag, though no token was asked for".into(),
                })
            }
            (Some(_), Message::Proof { tag: None }) => {
                return Err(ControlError::TokenMissing { who: self.who })
            }
            (Some(token), Message::Proof { tag: Some(tag) }) => {
                let tag = crate::auth::from_hex::<{ crate::auth::TAG_BYTES }>(&tag);
                if !tag.is_some_and(|t| nonces.check_peer_tag(Some(token), &t)) {
                    return Err(ControlError::TokenWrong { who: self.who });
                }
            }
            (_, other) => return Err(self.unexpected("proof", &other)),
        }
        let tag = crate::auth::to_hex(&nonces.initiator_tag(expected));
        self.send(&Message::hello(&mine, Some(tag)))?;
        self.session = Some(nonces.session_key(expected));
        Ok(hello)
    }

    /// The key of data connection `pair` of test `test_id`, from this session's key.
    pub fn data_key(&self, test_id: u32, pair: u32) -> crate::auth::Key {
        self.session.as_ref().expect("data keys follow the session handshake").data(test_id, pair)
    }

    fn nonce_from(&self, hex: &str) -> Result<crate::auth::Nonce, ControlError> {
        crate::auth::from_hex(hex).ok_or_else(|| ControlError::Malformed {
            who: self.who,
            detail: format!(
                "a nonce of {} characters, not {} hex digits",
                hex.len(),
                2 * crate::auth::NONCE_BYTES
            ),
        })
    }

    fn unexpected(&self, expected: &'static str, got: &Message) -> ControlError {
        ControlError::Unexpected { who: self.who, expected, got: got.kind().into() }
    }

    fn check_hello(&self, theirs: &Message) -> Result<(), ControlError> {
        match theirs {
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
                Ok(())
            }
            other => Err(self.unexpected("hello", other)),
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
#[path = "channel_tests.rs"]
mod tests;
