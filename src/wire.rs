//! The shared vocabulary of both processes' data paths, below transports and patterns alike:
//! the message header, the stop sequence number, the `--verify` payload pattern, and the
//! per-message sample with its compact encoding ([`block`]), kept during a run and sent from
//! the peer over the control channel.
//!
//! Nothing here depends on any other module of the crate.

/// Bytes taken by the [`Header`] at the start of every message: the smallest message size.
pub const HEADER_BYTES: usize = 16;

pub mod block;

/// The sequence number that tells the receiver the run is over.
pub const STOP_SEQ: u64 = u64::MAX;

/// The one sequence number never sent: a shared-memory ring slot whose first word holds it is
/// free (see `transport::shm::ring`).
pub const EMPTY_SEQ: u64 = u64::MAX - 1;

/// The header every message carries, little-endian at offset 0.
///
/// | bytes | field |
/// |---|---|
/// | 0..8 | `seq`: 0, 1, 2, ... in send order; [`STOP_SEQ`] ends the run |
/// | 8..16 | `send_ns`: `CLOCK_MONOTONIC` when sent (with `--rate`: when it was *meant* to be sent) |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub seq: u64,
    pub send_ns: u64,
}

impl Header {
    #[inline(always)]
    pub fn write(&self, buf: &mut [u8]) {
        buf[0..8].copy_from_slice(&self.seq.to_le_bytes());
        buf[8..16].copy_from_slice(&self.send_ns.to_le_bytes());
    }

    #[inline(always)]
    pub fn read(buf: &[u8]) -> Header {
        let seq = u64::from_le_bytes(buf[0..8].try_into().expect("8 bytes"));
        let send_ns = u64::from_le_bytes(buf[8..16].try_into().expect("8 bytes"));
        Header { seq, send_ns }
    }
}

/// Two periods of the byte sequence 0, 1, ..., 255: any 256-byte window of the pattern.
static PATTERN_TABLE: [u8; 512] = {
    let mut t = [0u8; 512];
    let mut i = 0;
    while i < 512 {
        t[i] = i as u8;
        i += 1;
    }
    t
};

/// The payload pattern `--verify` writes and checks: byte `i` of message `seq` is `seq + i`
/// (mod 256). Written and compared 256 bytes at a time, at memcpy speed.
#[inline]
pub fn fill_pattern(seq: u64, payload: &mut [u8]) {
    let window = &PATTERN_TABLE[seq as u8 as usize..][..256];
    for chunk in payload.chunks_mut(256) {
        chunk.copy_from_slice(&window[..chunk.len()]);
    }
}

/// Whether `payload` holds the pattern [`fill_pattern`] writes for `seq`.
#[inline]
pub fn check_pattern(seq: u64, payload: &[u8]) -> bool {
    let window = &PATTERN_TABLE[seq as u8 as usize..][..256];
    payload.chunks(256).all(|chunk| chunk == &window[..chunk.len()])
}

/// One recorded message, for the per-message streams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    pub seq: u64,
    /// When it was sent (intended send time with `--rate`), ns on `CLOCK_MONOTONIC`.
    pub send_ns: u64,
    /// When its echo (round-trip) or itself (one-way, throughput) arrived.
    pub recv_ns: u64,
}

impl Sample {
    pub fn latency_ns(&self) -> u64 {
        self.recv_ns.saturating_sub(self.send_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_through_bytes() {
        let mut buf = [0u8; 64];
        let h = Header { seq: 0x0102_0304_0506_0708, send_ns: u64::MAX - 7 };
        h.write(&mut buf);
        assert_eq!(Header::read(&buf), h);
        assert_eq!(buf[0], 0x08, "little-endian");
    }

    #[test]
    fn pattern_check_catches_a_flipped_byte_and_a_wrong_sequence() {
        let mut p = vec![0u8; 300];
        fill_pattern(7, &mut p);
        assert!(p.iter().enumerate().all(|(i, &b)| b == 7u8.wrapping_add(i as u8)), "byte i is seq + i");
        assert!(check_pattern(7, &p));
        assert!(!check_pattern(8, &p));
        p[299] ^= 1;
        assert!(!check_pattern(7, &p));
    }
}
