//! Who may join a session, and who may connect to its data channels.
//!
//! **The control channel** proves knowledge of the token without sending it. The peer opens
//! with a fresh nonce `Np` in its hello; the initiator answers with its own `Ni`; the peer
//! sends `HMAC(token, "peer" ‖ Ni ‖ Np)` and the initiator, once that checks out,
//! `HMAC(token, "initiator" ‖ Ni ‖ Np)` in its hello. Each side checks the other's tag in
//! constant time. A captured exchange is worthless: the next initiator draws another `Ni`, so
//! an old peer tag never matches. Without a token the key is empty: the exchange then proves
//! nothing (the channel is a pipe or a Unix socket only this user may open) but still yields
//! the session key.
//!
//! **The session key** is `HMAC(token, "session" ‖ Ni ‖ Np)`: both sides compute it, it never
//! travels. Each data connection's key is `HMAC(session, "data" ‖ test id ‖ pair)`.
//!
//! **A data connection** is challenged once, before its first message: the accepting side
//! sends [`DATA_MAGIC`] and a fresh 16-byte challenge, the connecting side answers with the
//! 32-byte `HMAC(data key, "data-proof" ‖ challenge)`. A connection that fails is dropped and
//! the accept goes on until its deadline. Datagram channels do the same with shorter frames
//! (see [`crate::transport::dgram`]). Nothing is checked per message.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hmac::{Hmac, Mac};
use rustix::io::Errno;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of a nonce or a data-channel challenge.
pub const NONCE_BYTES: usize = 16;
/// Bytes of an HMAC-SHA256 tag.
pub const TAG_BYTES: usize = 32;
/// What an accepting data socket sends before its challenge: a peer that reads anything else
/// is not talking to ipcbench.
pub const DATA_MAGIC: &[u8; 16] = b"ipcbench-data-1\n";
/// How long an accepting side waits for one connection's proof before dropping it and
/// accepting the next (a stranger that connects and says nothing costs at most this).
pub const PROOF_WAIT: Duration = Duration::from_secs(2);

/// A fresh nonce.
pub type Nonce = [u8; NONCE_BYTES];

/// Fresh random bytes from the kernel.
pub fn nonce() -> std::io::Result<Nonce> {
    let mut n = [0u8; NONCE_BYTES];
    let mut got = 0;
    while got < n.len() {
        match rustix::rand::getrandom(&mut n[got..], rustix::rand::GetRandomFlags::empty()) {
            Ok(k) => got += k,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(n)
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    for p in parts {
        m.update(p);
    }
    m
}

fn tag(key: &[u8], parts: &[&[u8]]) -> [u8; TAG_BYTES] {
    hmac(key, parts).finalize().into_bytes().into()
}

/// Whether `given` is the tag of `parts` under `key` (constant time in where they differ).
fn verify(key: &[u8], parts: &[&[u8]], given: &[u8]) -> bool {
    hmac(key, parts).verify_slice(given).is_ok()
}

/// A secret key. It prints as `Key(..)`: no key reaches a log by way of `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; TAG_BYTES]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// The two nonces of one session's handshake.
#[derive(Clone, Copy, Debug)]
pub struct Nonces {
    pub initiator: Nonce,
    pub peer: Nonce,
}

impl Nonces {
    fn key(token: Option<&str>) -> &[u8] {
        token.map(str::as_bytes).unwrap_or_default()
    }

    /// The peer's tag: what it sends to prove it holds `token`.
    pub fn peer_tag(&self, token: Option<&str>) -> [u8; TAG_BYTES] {
        tag(Self::key(token), &[b"ipcbench-peer", &self.initiator, &self.peer])
    }

    /// Whether `given` is the peer's tag for `token`.
    pub fn check_peer_tag(&self, token: Option<&str>, given: &[u8]) -> bool {
        verify(Self::key(token), &[b"ipcbench-peer", &self.initiator, &self.peer], given)
    }

    /// The initiator's tag (a different label: the peer's tag cannot be reflected back).
    pub fn initiator_tag(&self, token: Option<&str>) -> [u8; TAG_BYTES] {
        tag(Self::key(token), &[b"ipcbench-initiator", &self.initiator, &self.peer])
    }

    pub fn check_initiator_tag(&self, token: Option<&str>, given: &[u8]) -> bool {
        verify(Self::key(token), &[b"ipcbench-initiator", &self.initiator, &self.peer], given)
    }

    /// The session key both sides derive; it never travels.
    pub fn session_key(&self, token: Option<&str>) -> Key {
        Key(tag(Self::key(token), &[b"ipcbench-session", &self.initiator, &self.peer]))
    }
}

impl Key {
    /// The key of data connection `pair` of test `test_id`.
    pub fn data(&self, test_id: u32, pair: u32) -> Key {
        Key(tag(&self.0, &[b"ipcbench-data", &test_id.to_le_bytes(), &pair.to_le_bytes()]))
    }

    /// The answer to a data-channel challenge.
    pub fn answer(&self, challenge: &[u8]) -> [u8; TAG_BYTES] {
        tag(&self.0, &[b"ipcbench-data-proof", challenge])
    }

    /// Whether `given` answers `challenge`.
    pub fn check_answer(&self, challenge: &[u8], given: &[u8]) -> bool {
        verify(&self.0, &[b"ipcbench-data-proof", challenge], given)
    }

    /// A fresh random key.
    pub fn random() -> std::io::Result<Key> {
        let (a, b) = (nonce()?, nonce()?);
        let mut k = [0u8; TAG_BYTES];
        k[..NONCE_BYTES].copy_from_slice(&a);
        k[NONCE_BYTES..].copy_from_slice(&b);
        Ok(Key(k))
    }
}

/// Hex digits of `bytes` (nonces and tags travel as hex in JSON messages).
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of `hex`, exactly `N` of them, or `None`.
pub fn from_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    let h = hex.as_bytes();
    if h.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = digit(h[2 * i])? << 4 | digit(h[2 * i + 1])?;
    }
    Some(out)
}

/// Reads exactly `buf.len()` bytes from a blocking or non-blocking stream socket by
/// `deadline`; `Ok(false)` when the deadline passed or the other end closed first.
fn read_by(fd: &OwnedFd, buf: &mut [u8], deadline: Instant) -> Result<bool> {
    let mut off = 0;
    while off < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !crate::sys::wait_readable(fd.as_fd(), left)? {
            return Ok(false);
        }
        match rustix::io::read(fd, &mut buf[off..]) {
            Ok(0) => return Ok(false),
            Ok(n) => off += n,
            Err(Errno::INTR | Errno::AGAIN) => {}
            Err(Errno::CONNRESET) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

fn write_all(fd: &OwnedFd, mut buf: &[u8]) -> Result<()> {
    while !buf.is_empty() {
        match rustix::net::send(fd, buf, rustix::net::SendFlags::NOSIGNAL) {
            Ok(n) => buf = &buf[n..],
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => {
                crate::sys::wait_ready(
                    fd.as_fd(),
                    rustix::event::PollFlags::OUT,
                    Duration::from_millis(100),
                )?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The accepting side of a freshly accepted data connection: challenges it and waits up to
/// `wait` for the answer. `Err` says why the connection does not belong (drop it).
pub fn challenge(fd: &OwnedFd, key: &Key, wait: Duration) -> Result<()> {
    let c = nonce()?;
    let mut hello = [0u8; DATA_MAGIC.len() + NONCE_BYTES];
    hello[..DATA_MAGIC.len()].copy_from_slice(DATA_MAGIC);
    hello[DATA_MAGIC.len()..].copy_from_slice(&c);
    write_all(fd, &hello).context("sending the challenge")?;
    let mut answer = [0u8; TAG_BYTES];
    if !read_by(fd, &mut answer, Instant::now() + wait)? {
        bail!("no answer to the challenge within {wait:?}");
    }
    if !key.check_answer(&c, &answer) {
        bail!("a wrong answer to the challenge (not this session's peer)");
    }
    Ok(())
}

/// The connecting side: reads the challenge (within `timeout`) and answers it.
pub fn answer(fd: &OwnedFd, key: &Key, timeout: Duration) -> Result<()> {
    let mut hello = [0u8; DATA_MAGIC.len() + NONCE_BYTES];
    if !read_by(fd, &mut hello, Instant::now() + timeout)? {
        bail!("the data channel sent no challenge within {timeout:?} (another process may have been let in instead)");
    }
    if &hello[..DATA_MAGIC.len()] != DATA_MAGIC {
        bail!(
            "the data channel is not ipcbench's: it opened with {:?}",
            String::from_utf8_lossy(&hello[..DATA_MAGIC.len()])
        );
    }
    write_all(fd, &key.answer(&hello[DATA_MAGIC.len()..])).context("answering the data channel's challenge")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn nonces() -> Nonces {
        Nonces { initiator: nonce().unwrap(), peer: nonce().unwrap() }
    }

    #[test]
    fn tags_check_only_with_the_same_token_and_nonces() {
        let n = nonces();
        let t = n.peer_tag(Some("right"));
        assert!(n.check_peer_tag(Some("right"), &t));
        assert!(!n.check_peer_tag(Some("wrong"), &t));
        assert!(!n.check_peer_tag(None, &t));
        // A replay: the same peer nonce, the initiator's next nonce.
        let replayed = Nonces { initiator: nonce().unwrap(), ..n };
        assert!(!replayed.check_peer_tag(Some("right"), &t));
        // A reflected tag: the initiator's tag is not the peer's.
        assert!(!n.check_peer_tag(Some("right"), &n.initiator_tag(Some("right"))));
        assert!(n.check_initiator_tag(Some("right"), &n.initiator_tag(Some("right"))));
        assert!(!n.check_peer_tag(Some("right"), &t[..31]), "a short tag is refused");
    }

    #[test]
    fn session_and_data_keys_differ_per_session_test_and_pair_and_do_not_print() {
        let (a, b) = (nonces(), nonces());
        let s = a.session_key(Some("t"));
        assert_eq!(s, a.session_key(Some("t")));
        assert_ne!(s, b.session_key(Some("t")));
        assert_ne!(s, a.session_key(None));
        assert_ne!(s.data(1, 0), s.data(1, 1));
        assert_ne!(s.data(1, 0), s.data(2, 0));
        assert_eq!(format!("{s:?}"), "Key(..)");
    }

    #[test]
    fn hex_round_trips_and_refuses_wrong_lengths_and_digits() {
        let n = nonce().unwrap();
        assert_eq!(from_hex::<16>(&to_hex(&n)), Some(n));
        assert_eq!(from_hex::<16>("00"), None);
        assert_eq!(from_hex::<1>("zz"), None);
        assert_eq!(from_hex::<1>("é"), None);
    }

    #[test]
    fn a_data_connection_with_the_key_passes_and_one_without_is_refused() {
        let key = nonces().session_key(None).data(3, 0);
        let (a, b) = UnixStream::pair().unwrap();
        let (a, b): (OwnedFd, OwnedFd) = (a.into(), b.into());
        let k2 = key.clone();
        let peer = std::thread::spawn(move || answer(&b, &k2, Duration::from_secs(5)));
        challenge(&a, &key, Duration::from_secs(5)).unwrap();
        peer.join().unwrap().unwrap();

        let wrong = nonces().session_key(None).data(3, 0);
        let (a, b) = UnixStream::pair().unwrap();
        let (a, b): (OwnedFd, OwnedFd) = (a.into(), b.into());
        let peer = std::thread::spawn(move || answer(&b, &wrong, Duration::from_secs(5)));
        let err = challenge(&a, &key, Duration::from_secs(5)).unwrap_err().to_string();
        assert!(err.contains("wrong answer"), "{err}");
        peer.join().unwrap().unwrap();

        // Silence is dropped after the wait; a peer reading something else says so.
        let (a, _b) = UnixStream::pair().unwrap();
        let err = challenge(&a.into(), &key, Duration::from_millis(50)).unwrap_err().to_string();
        assert!(err.contains("no answer"), "{err}");
        let (a, b) = UnixStream::pair().unwrap();
        std::io::Write::write_all(&mut &b, b"HTTP/1.1 200 OK\r\nServer: not-ipcbench\r\n\r\n").unwrap();
        let err = answer(&a.into(), &key, Duration::from_secs(1)).unwrap_err().to_string();
        assert!(err.contains("not ipcbench's"), "{err}");
    }
}
