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
//! announces them (`Done`: the HdrHistogram, then the interval histograms), except the peer's
//! sample blocks, which it streams between `Ready` and `Done` when it is the side that keeps
//! samples ([`sample_stream`]). Every read has a timeout.

mod channel;
mod clock_sync;
pub mod coordinator;
mod external;
mod fan_run;
mod fanout;
mod floors;
mod many_run;
mod matrix;
pub mod peer;
mod peer_process;
mod progress;
mod sample_stream;
pub mod token;

use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use channel::Channel;
pub(crate) use channel::{decode_message, parse_head, KIND_BLOCK, KIND_JSON};

use crate::measure::env::Environment;
use crate::pattern::{Params, SideReport};
use crate::transport::{ChannelSpec, Endpoint, TransportKind};

/// The name of the control socket in the socket directory.
pub const CONTROL_SOCKET: &str = "ipcbench.ctl";

/// Opens every session; anything else in its place is not an ipcbench peer.
pub const MAGIC: &str = "ipcbench-control";
/// Bumped on any change to [`Message`] or the framing (2: the channel spec in `Prepare`, the
/// wait strategy per test, the clamped-sample count in `Done`; 3: the interval block after
/// `Done`, the peer's CPU per test in `Prepare`; 4: eventfds with a ring's endpoint, the
/// io_uring and iceoryx2 transports: a version-3 peer would ignore the eventfds and wait on a
/// futex nobody wakes; 5: `Clock` and `ClockReady` before the clock check: a version-4 peer
/// would stamp with `CLOCK_MONOTONIC` while the initiator reads the TSC; 6: nonces,
/// `Challenge` and `Proof` instead of a token in the hello, and the challenge on every data
/// connection, see [`crate::auth`]; 7: the peer's samples stream as compact blocks between
/// `Ready` and `Done` instead of one block after it, `Plan` places the peer's sample writer,
/// `Done` counts dropped samples: a version-6 peer would send a third block after `Done` that
/// nobody reads; 8: a side's CPU use carries its whole process's CPU time: a version-7 peer
/// would report none, and a library's own threads would go uncounted).
pub const PROTOCOL_VERSION: u32 = 8;
/// The largest JSON message accepted.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// The largest binary block accepted (samples of a long run).
pub const MAX_BLOCK_BYTES: usize = 1 << 30;

/// A control message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Message {
    /// First message each way.
    Hello {
        magic: String,
        protocol_version: u32,
        ipcbench_version: String,
        /// The sender's clock ([`crate::measure::clock::now_ns`]) when it sent this.
        clock_ns: u64,
        environment: Box<Environment>,
        /// The sender's fresh nonce, 32 hex digits (the peer's; the initiator's travels in
        /// `Challenge`). Defaulted so that an older peer's hello parses and fails on its version.
        #[serde(default)]
        nonce: String,
        /// The initiator's tag over both nonces ([`crate::auth`]), in the initiator's hello.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tag: Option<String>,
    },
    /// Initiator to peer, after the peer's hello: the initiator's nonce, and whether it holds a
    /// token the peer must prove.
    Challenge { nonce: String, token_required: bool },
    /// Peer to initiator: its tag over both nonces, `None` when it holds no token.
    Proof {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tag: Option<String>,
    },
    /// Initiator to peer, once: how the peer runs.
    Plan {
        /// CPU to pin the peer to.
        pin_cpu: Option<usize>,
        timeout_ms: u64,
        /// CPU for the thread that sends the peer's samples during a run (absent: any CPU the
        /// peer may use).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        writer_cpu: Option<usize>,
    },
    /// Initiator to peer, before the clock check: stamp with this clock, the TSC converted by
    /// the initiator's calibration (so that both sides' stamps are on one scale), or
    /// `CLOCK_MONOTONIC` when `tsc` is absent.
    Clock {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tsc: Option<crate::measure::clock::Calibration>,
    },
    /// Peer to initiator: the clock is in use, or why the peer cannot read it.
    ClockReady {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refused: Option<String>,
    },
    /// Initiator to peer: read your clock now (the clock check).
    ClockProbe,
    /// Peer to initiator: its clock when it answered the probe.
    ClockReply { peer_ns: u64 },
    /// Initiator to peer: connect to every endpoint (one per concurrent pair; paths relative to
    /// the socket directory) as `channel` says, and take the peer's part of `params` on each.
    Prepare {
        test_id: u32,
        transport: TransportKind,
        endpoints: Vec<Endpoint>,
        channel: ChannelSpec,
        params: Params,
        /// CPU to pin the peer's threads to for this test (`--pin-pairs`), instead of the plan's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pin_cpu: Option<usize>,
    },
    /// Peer to initiator: connected and in its loop (the start barrier). When the peer keeps the
    /// samples (`keep_samples`, a one-way or throughput run), binary blocks of them follow
    /// during the run, each at most [`crate::measure::sample_pool::BLOCK_BYTES`] of
    /// [`crate::wire::block`] encoding, until `Done` (or `Error`).
    Ready { test_id: u32 },
    /// Peer to initiator: its part is over. Followed by two blocks: its histogram (HdrHistogram
    /// V2, empty when it recorded none) and its interval histograms
    /// ([`crate::measure::intervals::encode`]).
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
            Message::Challenge { .. } => "challenge",
            Message::Proof { .. } => "proof",
            Message::Plan { .. } => "plan",
            Message::Clock { .. } => "clock",
            Message::ClockReady { .. } => "clock-ready",
            Message::ClockProbe => "clock-probe",
            Message::ClockReply { .. } => "clock-reply",
            Message::Prepare { .. } => "prepare",
            Message::Ready { .. } => "ready",
            Message::Done { .. } => "done",
            Message::Error { .. } => "error",
            Message::Bye => "bye",
        }
    }

    /// This side's hello with its `nonce` and, from the initiator, its `tag`.
    pub fn hello(nonce: &crate::auth::Nonce, tag: Option<String>) -> Message {
        Message::Hello {
            magic: MAGIC.into(),
            protocol_version: PROTOCOL_VERSION,
            ipcbench_version: env!("CARGO_PKG_VERSION").into(),
            clock_ns: crate::measure::clock::now_ns(),
            environment: Box::new(Environment::detect()),
            nonce: crate::auth::to_hex(nonce),
            tag,
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
    #[error("the {who} presented no token; this host needs one (--token-file or IPCBENCH_TOKEN)")]
    TokenMissing { who: &'static str },
    #[error("the {who} presented a wrong token")]
    TokenWrong { who: &'static str },
    #[error(
        "the {who} needs a token: give the same one to both sides (--token-file FILE or IPCBENCH_TOKEN)"
    )]
    TokenNeeded { who: &'static str },
    #[error("the {who} asks for no token, but this side has one: give both the same (--token-file or IPCBENCH_TOKEN), or neither")]
    TokenUnexpected { who: &'static str },
    #[error("the {who} could not prove it holds this token: the two tokens differ, or this is not the {who} you meant")]
    ProofWrong { who: &'static str },
    #[error("expected a {expected} message from the {who}, got {got}")]
    Unexpected { who: &'static str, expected: &'static str, got: String },
    #[error("the {who} failed: {message}")]
    Remote { who: &'static str, message: String },
    #[error("control channel I/O: {0}")]
    Io(#[from] io::Error),
}
