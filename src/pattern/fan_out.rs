//! Fan-out: one publisher, N subscribers, every message delivered to every subscriber.
//!
//! Closed loop: the publisher stamps message `k`, hands it to every subscriber (once into a
//! broadcast ring, or N copies, one per channel), then waits for every subscriber's
//! acknowledgement before the next message, so no queue builds up. Each acknowledgement
//! carries the subscriber's `CLOCK_MONOTONIC` at arrival (the clock check has shown that both
//! read one clock), so the publisher records, per message:
//! - each subscriber's one-way latency (arrival − send), in a histogram per subscriber and
//!   merged;
//! - the *all-delivered* latency: the last subscriber's arrival − send;
//! - the publish time: how long handing the message to all N took (the N writes of a socket
//!   publisher; one store into the ring).
//!
//! The subscribers run the receiving side of an acknowledged one-way run
//! ([`super::one_way::receive`]): they check `--verify`, order and count, as one-way does.

use super::drive::{fill, Payload};
use super::samples::{expected_recording_ns, SampleBuf};
use super::{Params, Progress, SideResult, Stop};
use crate::measure::clock::now_ns;
use crate::measure::cpu::CpuUse;
use crate::measure::histogram::LatencyHistogram;
use crate::measure::intervals::IntervalRecorder;
use crate::measure::sample_pool::SamplePool;
use crate::transport::fan::FanOut;
use crate::transport::TransportError;
use crate::wire::{Header, Sample, STOP_SEQ};

/// What the publisher measured.
#[derive(Debug, Default)]
pub struct FanResult {
    /// Every subscriber's latencies merged (in `side.histogram`), the counts, the CPU.
    pub side: SideResult,
    /// Subscriber `i`'s one-way latencies.
    pub per_subscriber: Vec<LatencyHistogram>,
    /// Send to the last subscriber's arrival, per message.
    pub all_delivered: LatencyHistogram,
    /// Handing a message to every subscriber, per message.
    pub publish: LatencyHistogram,
    /// Acknowledgements per subscriber that named another message than the one sent.
    pub wrong_acks: Vec<u64>,
    /// A subscriber whose channel failed mid-run: the run ended there, the others were stopped
    /// and their results kept.
    pub failed: Option<FanError>,
}

/// A fan-out failure, naming the subscriber whose channel failed when one did.
#[derive(Debug, thiserror::Error)]
#[error("{}{error}", match .subscriber { Some(i) => format!("subscriber {i}: "), None => String::new() })]
pub struct FanError {
    pub subscriber: Option<usize>,
    pub error: TransportError,
}

/// The publisher's side of a fan-out run; each message's all-delivered time goes into
/// `samples` when given.
pub fn publish(
    f: &mut FanOut,
    p: &Params,
    progress: &Progress,
    samples: Option<&SamplePool>,
) -> Result<FanResult, FanError> {
    let n = f.subscribers();
    let mut out = FanResult {
        per_subscriber: vec![LatencyHistogram::new(); n],
        wrong_acks: vec![0; n],
        ..Default::default()
    };
    let payload = Payload::of(p);
    let mut samples = SampleBuf::new(samples);
    let mut rec = IntervalRecorder::new(0, p.interval_ns, 0);
    let warmup_start = now_ns();
    let mut deadline = u64::MAX;
    let mut cpu_start = CpuUse::default();
    let r = &mut out.side;
    let mut seq: u64 = 0;
    loop {
        if seq == p.warmup {
            let warmup_ns = now_ns() - warmup_start;
            rec = IntervalRecorder::new(0, p.interval_ns, expected_recording_ns(p, warmup_ns));
            cpu_start = CpuUse::of_this_thread();
            r.start_ns = now_ns();
            rec.restart(r.start_ns);
            if let Stop::DurationNs(d) = p.stop {
                deadline = r.start_ns.saturating_add(d);
            }
        }
        let recorded = seq >= p.warmup;
        let send_ns = now_ns();
        if recorded && p.done(seq - p.warmup, r.start_ns, send_ns, deadline) {
            break;
        }
        if let Err((subscriber, error)) = f.publish(Header { seq, send_ns }, |buf| fill(buf, seq, payload)) {
            out.failed = Some(FanError { subscriber, error });
            break;
        }
        let published_ns = now_ns();
        let mut last_ns = 0;
        for i in 0..n {
            let h = match f.ack(i) {
                Ok(h) => h,
                Err(error) => {
                    out.failed = Some(FanError { subscriber: Some(i), error });
                    break;
                }
            };
            if !recorded {
                continue;
            }
            out.wrong_acks[i] += u64::from(h.seq != seq);
            let latency = h.send_ns.saturating_sub(send_ns);
            out.per_subscriber[i].record(latency);
            rec.record(h.send_ns, latency);
            last_ns = last_ns.max(h.send_ns);
        }
        if out.failed.is_some() {
            break;
        }
        if recorded {
            r.sent += 1;
            out.all_delivered.record(last_ns.saturating_sub(send_ns));
            out.publish.record(published_ns - send_ns);
            samples.push(Sample { seq, send_ns, recv_ns: last_ns });
            if r.first_recv_ns == 0 {
                r.first_recv_ns = last_ns;
            }
            r.last_recv_ns = last_ns;
        }
        seq += 1;
        progress.tick(seq);
    }
    r.end_ns = now_ns();
    r.cpu = CpuUse::of_this_thread().since(&cpu_start);
    (r.histogram, r.intervals) = rec.finish(r.end_ns);
    r.received = r.histogram.len();
    r.samples_dropped = samples.finish();
    // The stop: every subscriber acknowledges it, so each has seen every message before. After
    // a failure the others are stopped too, so that their results can be kept; an unknown
    // failure (not one subscriber's) ends the run as it is.
    let skip = match &out.failed {
        Some(FanError { subscriber: None, .. }) => return Err(out.failed.take().expect("a failure")),
        Some(FanError { subscriber: Some(i), .. }) => Some(*i),
        None => None,
    };
    if let Err((subscriber, error)) =
        f.publish_except(skip, Header { seq: STOP_SEQ, send_ns: now_ns() }, |_| {})
    {
        return Err(out.failed.take().unwrap_or(FanError { subscriber, error }));
    }
    for i in (0..n).filter(|&i| Some(i) != skip) {
        loop {
            match f.ack(i) {
                Ok(h) if h.seq == STOP_SEQ => break,
                Ok(_) => {}
                Err(error) => {
                    return Err(out.failed.take().unwrap_or(FanError { subscriber: Some(i), error }))
                }
            }
        }
    }
    Ok(out)
}
