//! Compact sample blocks: how recorded [`Sample`]s are kept in memory during a run and sent
//! from the peer to the initiator while it goes on.
//!
//! A block is a run of encoded samples and nothing else (its length says where it ends). Each
//! sample is three LEB128 varints of zigzag-encoded differences, taken against the sample before
//! it in the block (the first against all zeros), so a block decodes on its own:
//!
//! | varint | value |
//! |---|---|
//! | 1 | `seq - previous seq - 1` (0 for consecutive messages: one byte) |
//! | 2 | `send_ns - previous send_ns` (the gap between messages: two or three bytes) |
//! | 3 | `recv_ns - send_ns` (the latency: two or three bytes) |
//!
//! Differences wrap (two's complement) and zigzag maps them to small unsigned numbers whatever
//! their sign, so every `u64` triple round-trips, and a typical sample takes 5 to 7 bytes
//! instead of 24. An encoder needs at most [`MAX_SAMPLE_BYTES`] free bytes for any sample.

use super::Sample;

/// The most bytes one sample can take: three varints of at most 10 bytes each.
pub const MAX_SAMPLE_BYTES: usize = 30;

/// A block that ends inside a sample.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("sample block of {len} bytes ends inside a sample at byte {at}")]
pub struct BadSampleBlock {
    pub len: usize,
    pub at: usize,
}

/// Encodes samples one after another into a caller's buffer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Encoder {
    prev: Sample,
}

impl Encoder {
    /// Starts a new block: the next sample is taken against zeros.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// Writes `s` at the start of `out` and returns how many bytes it took.
    ///
    /// # Panics
    /// If `out` is shorter than [`MAX_SAMPLE_BYTES`] (the caller keeps that much room).
    #[inline(always)]
    pub fn encode(&mut self, s: Sample, out: &mut [u8]) -> usize {
        let out = &mut out[..MAX_SAMPLE_BYTES];
        let mut n = put(out, 0, zigzag(s.seq.wrapping_sub(self.prev.seq).wrapping_sub(1)));
        n = put(out, n, zigzag(s.send_ns.wrapping_sub(self.prev.send_ns)));
        n = put(out, n, zigzag(s.recv_ns.wrapping_sub(s.send_ns)));
        self.prev = s;
        n
    }
}

/// The samples of one block, in order; a block cut inside a sample yields an error and stops.
pub fn decode(block: &[u8]) -> Decoder<'_> {
    Decoder { block, at: 0, prev: Sample::default() }
}

/// Iterator returned by [`decode`].
pub struct Decoder<'a> {
    block: &'a [u8],
    at: usize,
    prev: Sample,
}

impl Iterator for Decoder<'_> {
    type Item = Result<Sample, BadSampleBlock>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.block.len() {
            return None;
        }
        let start = self.at;
        let mut field = || {
            let v = take(self.block, &mut self.at);
            v.map(unzigzag).ok_or(BadSampleBlock { len: self.block.len(), at: start })
        };
        let s = (|| {
            let seq = self.prev.seq.wrapping_add(1).wrapping_add(field()?);
            let send_ns = self.prev.send_ns.wrapping_add(field()?);
            let recv_ns = send_ns.wrapping_add(field()?);
            Ok(Sample { seq, send_ns, recv_ns })
        })();
        match s {
            Ok(s) => {
                self.prev = s;
                Some(Ok(s))
            }
            Err(e) => {
                self.at = self.block.len(); // nothing more after a broken sample
                Some(Err(e))
            }
        }
    }
}

#[inline(always)]
fn zigzag(v: u64) -> u64 {
    (v << 1) ^ ((v as i64 >> 63) as u64)
}

#[inline(always)]
fn unzigzag(v: u64) -> u64 {
    (v >> 1) ^ (v & 1).wrapping_neg()
}

/// Writes `v` as LEB128 at `out[at..]`; returns the position after it.
#[inline(always)]
fn put(out: &mut [u8], mut at: usize, mut v: u64) -> usize {
    while v >= 0x80 {
        out[at] = v as u8 | 0x80;
        v >>= 7;
        at += 1;
    }
    out[at] = v as u8;
    at + 1
}

/// Reads one LEB128 value at `block[*at..]`, moving `at` past it; `None` if the block ends
/// first or the value runs past 64 bits.
fn take(block: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *block.get(*at)?;
        *at += 1;
        if shift == 63 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode_all(samples: &[Sample]) -> Vec<u8> {
        let mut e = Encoder::new();
        let mut out = Vec::new();
        let mut buf = [0u8; MAX_SAMPLE_BYTES];
        for &s in samples {
            let n = e.encode(s, &mut buf);
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    proptest! {
        #[test]
        fn any_samples_survive_a_block(raw in proptest::collection::vec(any::<(u64, u64, u64)>(), 0..64)) {
            let samples: Vec<Sample> =
                raw.iter().map(|&(seq, send_ns, recv_ns)| Sample { seq, send_ns, recv_ns }).collect();
            let block = encode_all(&samples);
            prop_assert!(block.len() <= samples.len() * MAX_SAMPLE_BYTES);
            let back: Vec<Sample> = decode(&block).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(back, samples);
        }

        #[test]
        fn a_block_cut_anywhere_inside_a_sample_is_an_error_never_a_wrong_sample(
            n in 1usize..20, cut in 0usize..200,
        ) {
            let samples: Vec<Sample> =
                (0..n as u64).map(|i| Sample { seq: i, send_ns: 1_000 + i * 431, recv_ns: 1_400 + i * 433 }).collect();
            let block = encode_all(&samples);
            let cut = cut % block.len();
            let got: Vec<_> = decode(&block[..cut]).collect();
            let whole = got.iter().filter(|r| r.is_ok()).count();
            prop_assert!(whole <= n);
            for (g, s) in got.iter().zip(&samples) {
                if let Ok(g) = g {
                    prop_assert_eq!(g, s);
                }
            }
        }
    }

    #[test]
    fn a_typical_run_takes_under_a_third_of_the_plain_size() {
        // A shm round trip: consecutive seqs, ~400 ns apart, ~380 ns latency.
        let samples: Vec<Sample> = (0..10_000u64)
            .map(|i| {
                let send_ns = 1_700_000_000_000 + i * 400 + (i * 7919) % 97;
                Sample { seq: 1_000 + i, send_ns, recv_ns: send_ns + 350 + (i * 104_729) % 80 }
            })
            .collect();
        let block = encode_all(&samples);
        assert!(block.len() < samples.len() * 6, "{} bytes per sample", block.len() as f64 / 1e4);
    }

    #[test]
    fn a_truncated_varint_names_where_its_sample_starts() {
        let block = encode_all(&[
            Sample { seq: 0, send_ns: 5, recv_ns: 9 },
            Sample { seq: 1, send_ns: 900, recv_ns: 1_300 },
        ]);
        let first = encode_all(&[Sample { seq: 0, send_ns: 5, recv_ns: 9 }]).len();
        let got: Vec<_> = decode(&block[..block.len() - 1]).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], Err(BadSampleBlock { len: block.len() - 1, at: first }));
        // A varint longer than 64 bits is refused too.
        assert!(decode(&[0xff; 11]).next().unwrap().is_err());
    }
}
