//! Latency histograms: HdrHistogram at nanosecond resolution, 3 significant digits.
//!
//! Recording is a few nanoseconds and never allocates (the bucket array is sized once for
//! 1 ns .. 1 hour). Histograms from several workers are merged bucket by bucket with [`add`],
//! never summarised by picking one. Values beyond the range are clamped to the top bucket and
//! counted in [`LatencyHistogram::clamped`], so a pathological stall is visible, not dropped.
//!
//! [`add`]: LatencyHistogram::add

use anyhow::{Context, Result};
use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// The largest latency tracked exactly: one hour.
pub const MAX_TRACKABLE_NS: u64 = 3_600_000_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

/// A latency histogram in nanoseconds.
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    inner: Histogram<u64>,
    clamped: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    pub fn new() -> Self {
        let inner = Histogram::new_with_bounds(1, MAX_TRACKABLE_NS, SIGNIFICANT_DIGITS)
            .expect("static histogram bounds are valid");
        Self { inner, clamped: 0 }
    }

    /// Records one latency. Zero (two reads within one clock tick) is recorded as 1 ns.
    #[inline(always)]
    pub fn record(&mut self, latency_ns: u64) {
        let v = latency_ns.clamp(1, MAX_TRACKABLE_NS);
        if v != latency_ns && latency_ns != 0 {
            self.clamped += 1;
        }
        // Cannot fail: v is within the bounds the histogram was created with.
        let _ = self.inner.record(v);
    }

    /// Adds every sample of `other` into `self`.
    pub fn add(&mut self, other: &LatencyHistogram) {
        // Cannot fail: both histograms have identical bounds.
        let _ = self.inner.add(&other.inner);
        self.clamped += other.clamped;
    }

    pub fn len(&self) -> u64 {
        self.inner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// The same histogram, saying that `n` of its samples were clamped (the count travels beside
    /// the V2 encoding, which has no field for it).
    pub fn with_clamped(mut self, n: u64) -> Self {
        self.clamped = n;
        self
    }

    /// The value at quantile `q` (0..=1): the smallest recorded value that at least `q` of all
    /// samples are less than or equal to, to 3 significant digits.
    pub fn value_at_quantile(&self, q: f64) -> u64 {
        self.inner.value_at_quantile(q)
    }

    /// Points of the cumulative distribution, (latency ns, fraction of samples at or below),
    /// at fine steps and denser in the tail, for plotting.
    pub fn cdf_points(&self) -> Vec<(u64, f64)> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut qs: Vec<f64> = (0..=990).map(|i| i as f64 / 1000.0).collect();
        qs.extend((1..=90).map(|i| 0.99 + i as f64 / 10_000.0));
        qs.extend((1..=100).map(|i| 0.999 + i as f64 / 100_000.0));
        let mut pts: Vec<(u64, f64)> = qs.into_iter().map(|q| (self.inner.value_at_quantile(q), q)).collect();
        pts.dedup_by_key(|p| p.0);
        pts
    }

    /// Samples in each bin `[edges[i], edges[i + 1])`, for a histogram chart.
    pub fn counts_between(&self, edges: &[u64]) -> Vec<u64> {
        edges.windows(2).map(|w| self.inner.count_between(w[0], w[1].saturating_sub(1).max(w[0]))).collect()
    }

    /// The summary statistics of the recorded samples.
    pub fn stats(&self) -> LatencyStats {
        let h = &self.inner;
        LatencyStats {
            samples: h.len(),
            min: h.min(),
            mean: h.mean().round() as u64,
            stddev: h.stdev().round() as u64,
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            p99_99: h.value_at_quantile(0.9999),
            max: h.max(),
            clamped_samples: self.clamped,
        }
    }

    /// The HdrHistogram itself, for its writers (the interval log).
    pub fn inner(&self) -> &Histogram<u64> {
        &self.inner
    }

    /// The histogram in HdrHistogram's V2 wire format (portable across implementations).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        V2Serializer::new().serialize(&self.inner, &mut out).expect("serializing to a Vec cannot fail");
        out
    }

    /// Reads [`to_bytes`](Self::to_bytes)' encoding, from another process or a result file.
    /// The header is checked first: HdrHistogram's decoder allocates whatever payload length
    /// the header announces before it reads a byte of it (a 45-byte blob announcing 2 GiB made
    /// it allocate 2 GiB), and a compressed blob hides its real length, so only an
    /// uncompressed V2 blob holding its whole payload is decoded.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        check_v2_header(bytes)?;
        let inner: Histogram<u64> = Deserializer::new()
            .deserialize(&mut &bytes[..])
            .map_err(|e| anyhow::anyhow!("{e:?}"))
            .context("decoding an HdrHistogram V2 blob")?;
        let mut h = Self::new();
        h.inner.add(&inner).map_err(|e| anyhow::anyhow!("{e:?}")).context("histogram bounds do not fit")?;
        Ok(h)
    }

    /// [`to_bytes`](Self::to_bytes) as base64, for the JSON summary.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.to_bytes())
    }

    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .context("histogram is not valid base64")?;
        Self::from_bytes(&bytes)
    }
}

/// The V2 encoding's first word (HdrHistogram's `V2_COOKIE`), big-endian.
const V2_COOKIE: u32 = 0x1c84_9313;
/// The V2 header: cookie, payload length, normalizing offset and digits (u32 each), lowest,
/// highest (u64) and the integer-to-double ratio (f64); the payload follows.
const V2_HEADER_BYTES: usize = 40;

/// Refuses a blob that is not an uncompressed V2 histogram holding all the payload it announces.
fn check_v2_header(bytes: &[u8]) -> Result<()> {
    let word = |at: usize| bytes.get(at..at + 4).map(|w| u32::from_be_bytes(w.try_into().expect("4 bytes")));
    if word(0) != Some(V2_COOKIE) || bytes.len() < V2_HEADER_BYTES {
        anyhow::bail!("not an HdrHistogram V2 blob ({} bytes without its header)", bytes.len());
    }
    let payload = word(4).expect("within the header") as usize;
    let held = bytes.len() - V2_HEADER_BYTES;
    if payload > held {
        anyhow::bail!("an HdrHistogram V2 blob announces {payload} payload bytes and holds {held}");
    }
    check_v2_counts(&bytes[V2_HEADER_BYTES..V2_HEADER_BYTES + payload])
}

/// Refuses the one count HdrHistogram 7.6's decoder cannot take: the payload is a run of
/// ZigZag LEB128 numbers (at most 9 bytes, the 9th taken whole), a negative one a run of
/// zeros, and the decoder negates it, which overflows for `i64::MIN` (the encoding `u64::MAX`):
/// a panic in builds that check overflow (tests, debug builds), found by fuzzing.
fn check_v2_counts(mut payload: &[u8]) -> Result<()> {
    while !payload.is_empty() {
        let (mut value, mut used) = (0u64, 0);
        for (i, &b) in payload.iter().take(9).enumerate() {
            used = i + 1;
            if i == 8 {
                value |= u64::from(b) << 56;
                break;
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                break;
            }
        }
        if value == u64::MAX {
            anyhow::bail!("an HdrHistogram V2 blob holds a run of 2^63 zero counts");
        }
        payload = &payload[used..];
    }
    Ok(())
}

/// Latency statistics in nanoseconds. Percentiles come from the histogram (3 significant digits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Number of recorded samples (warm-up excluded).
    pub samples: u64,
    /// Smallest sample.
    pub min: u64,
    /// Arithmetic mean, rounded to the nearest ns.
    pub mean: u64,
    /// Population standard deviation, rounded to the nearest ns.
    pub stddev: u64,
    /// Median.
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// 99.99th percentile.
    pub p99_99: u64,
    /// Largest sample.
    pub max: u64,
    /// Samples above the trackable range (one hour), counted at its top: a stall the
    /// histogram could not hold. Non-zero means `max` and the top percentiles are lower bounds.
    #[serde(default)]
    pub clamped_samples: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nearest-rank percentile on sorted data: the smallest value with at least q of samples <= it.
    fn exact_quantile(sorted: &[u64], q: f64) -> u64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted[rank - 1]
    }

    fn within_precision(got: u64, want: u64) -> bool {
        // 3 significant digits: bucket width is at most 1/1024 of the value.
        got.abs_diff(want) as f64 <= want as f64 / 1000.0 + 1.0
    }

    fn known_data() -> Vec<u64> {
        // A skewed, heavy-tailed sample: a deterministic LCG so the test is repeatable.
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        (0..100_000)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let u = (x >> 33) as f64 / (1u64 << 31) as f64;
                (1_000.0 / (1.0 - u * 0.999)) as u64
            })
            .collect()
    }

    #[test]
    fn percentiles_match_an_exact_nearest_rank_computation() {
        let data = known_data();
        let mut h = LatencyHistogram::new();
        data.iter().for_each(|&v| h.record(v));
        let mut sorted = data.clone();
        sorted.sort_unstable();
        for q in [0.5, 0.9, 0.99, 0.999, 0.9999] {
            let (got, want) = (h.value_at_quantile(q), exact_quantile(&sorted, q));
            assert!(within_precision(got, want), "q={q}: hdr {got} exact {want}");
        }
        let s = h.stats();
        assert!(within_precision(s.min, sorted[0]));
        assert!(within_precision(s.max, *sorted.last().unwrap()));
        let mean = data.iter().sum::<u64>() as f64 / data.len() as f64;
        assert!((s.mean as f64 - mean).abs() / mean < 0.001, "mean {} vs {mean}", s.mean);
        let var = data.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / data.len() as f64;
        let sd = var.sqrt();
        assert!((s.stddev as f64 - sd).abs() / sd < 0.01, "stddev {} vs {sd}", s.stddev);
        assert_eq!(s.samples, data.len() as u64);
    }

    #[test]
    fn merged_histograms_equal_one_histogram_of_all_samples() {
        let data = known_data();
        let (a, b) = data.split_at(30_000);
        let (mut ha, mut hb, mut all) =
            (LatencyHistogram::new(), LatencyHistogram::new(), LatencyHistogram::new());
        a.iter().for_each(|&v| ha.record(v));
        b.iter().for_each(|&v| hb.record(v));
        data.iter().for_each(|&v| all.record(v));
        ha.add(&hb);
        assert_eq!(ha.stats(), all.stats());
        // Merging is not "pick one": the merged median differs from either part's when parts differ.
        let mut low = LatencyHistogram::new();
        let mut high = LatencyHistogram::new();
        (0..1000).for_each(|_| low.record(100));
        (0..3000).for_each(|_| high.record(10_000));
        low.add(&high);
        assert!(within_precision(low.stats().p50, 10_000));
        assert!(within_precision(low.value_at_quantile(0.25), 100));
    }

    #[test]
    fn histogram_survives_a_round_trip_through_base64() {
        let mut h = LatencyHistogram::new();
        known_data().iter().for_each(|&v| h.record(v));
        let back = LatencyHistogram::from_base64(&h.to_base64()).unwrap();
        assert_eq!(back.stats(), h.stats());
    }

    #[test]
    fn out_of_range_samples_are_clamped_and_counted() {
        let mut h = LatencyHistogram::new();
        h.record(0);
        h.record(u64::MAX);
        assert_eq!(h.len(), 2);
        assert_eq!(h.clamped(), 1);
        assert_eq!(h.stats().min, 1);
    }

    #[test]
    fn garbage_is_not_a_histogram() {
        assert!(LatencyHistogram::from_base64("bm90IGEgaGlzdG9ncmFt").is_err());
        assert!(LatencyHistogram::from_base64("%%%").is_err());
    }
}
