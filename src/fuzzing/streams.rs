//! The stream framings a peer or an external service sends: length-prefixed frames and JSON
//! lines, read by a real [`SocketTransport`] from a socket pair.

use std::time::Duration;

use crate::transport::framing::Framing;
use crate::transport::{SocketTransport, Transport, TransportError, WaitStrategy};
use crate::wire::{Header, HEADER_BYTES};

/// The first byte chooses the framing (bit 0), the wait (bit 1), the field a reply's sequence
/// number is in (bit 2: `seq` or `id`) and the message size (the rest: 16 to 1024 bytes, at
/// least 160 for JSON lines); the other bytes are the stream, then end of file. Every frame
/// read holds a header and no more than a message, and the stream ends with an error, never
/// a hang.
pub fn stream_frames(data: &[u8]) {
    let Some((&mode, stream)) = data.split_first() else { return };
    let framing = if mode & 1 == 0 { Framing::LengthPrefixed } else { Framing::JsonLines };
    let wait = if mode & 2 == 0 { WaitStrategy::Block } else { WaitStrategy::Spin };
    let field = if mode & 4 == 0 { "seq" } else { "id" };
    let least =
        if framing == Framing::JsonLines { crate::transport::framing::JSON_MIN_BYTES } else { HEADER_BYTES };
    let size = (usize::from(mode >> 3) * 32).clamp(least, 1024);
    let rx = super::fed(stream);
    let mut t = SocketTransport::new(rx.into(), size, wait, Duration::from_secs(10))
        .expect("a socket transport on a socket pair")
        .framed(framing, true, field);
    loop {
        match t.recv() {
            Ok(frame) => {
                assert!((HEADER_BYTES..=size).contains(&frame.len()), "a {}-byte frame", frame.len());
                let _ = Header::read(frame);
            }
            // A bad line is skipped, as the initiator counts it and reads on.
            Err(TransportError::Malformed(_)) => {}
            Err(TransportError::Timeout(_)) => panic!("a stream that ended was waited on until the timeout"),
            Err(_) => return,
        }
        t.release();
    }
}
