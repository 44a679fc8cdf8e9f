//! One way: the initiator stamps and sends; the peer records receive − send on the shared
//! monotonic clock. Closed loop by default (each message is acknowledged, untimed, before the
//! next leaves, so no queue builds up); open loop with `--rate`.

use super::drive::{consume, drive, Reply, SeqCheck};
use super::samples::{expected_recording_ns, SampleBuf};
use super::{Params, Progress, SideResult};
use crate::measure::clock::now_ns;
use crate::measure::cpu::CpuUse;
use crate::measure::intervals::IntervalRecorder;
use crate::measure::sample_pool::SamplePool;
use crate::transport::{Transport, TransportError, TransportResult};
use crate::wire::{check_pattern, Header, Sample, HEADER_BYTES, STOP_SEQ};

/// Loss timeouts in a row after which a datagram receiver takes the stream as ended.
pub const SILENCE_ENDS_STREAM: u32 = 10;

/// Whether the receiver acknowledges each message (closed-loop one-way, fan-out, fan-in).
pub fn acked(p: &Params) -> bool {
    matches!(p.pattern, super::Pattern::OneWay | super::Pattern::FanOut | super::Pattern::FanIn)
        && p.rate_per_s.is_none()
}

/// The initiator's side.
pub fn send<T: Transport>(t: &mut T, p: &Params, progress: &Progress) -> TransportResult<SideResult> {
    drive(t, p, if acked(p) { Reply::Ack } else { Reply::Nothing }, progress, None)
}

/// The receiving peer's side (one-way and throughput): record every message until the stop,
/// each into `samples` when given.
pub fn receive<T: Transport>(
    t: &mut T,
    p: &Params,
    samples: Option<&SamplePool>,
) -> TransportResult<SideResult> {
    let ack = acked(p);
    let touch = p.pattern == super::Pattern::Throughput;
    let mut r = SideResult::default();
    let mut samples = SampleBuf::new(samples);
    let mut order = SeqCheck { expected: 0 };
    r.start_ns = now_ns();
    // Loss timeouts in a row: on a lossy transport, a stream that fell silent after data ended
    // with its stop messages lost too (a full receive buffer drops those as well).
    let mut silent = 0u32;
    // CPU use counts over the recorded messages (warm-up excluded, as on the initiator). The
    // reading is taken right after the last warm-up message, while the initiator sets up its
    // recording, so that no recorded message waits for it.
    let mut cpu_start = (p.warmup == 0).then(CpuUse::of_this_thread);
    let mut rec = IntervalRecorder::new(r.start_ns, p.interval_ns, expected_recording_ns(p, 0));
    loop {
        let rx = match t.recv() {
            Ok(rx) => {
                silent = 0;
                rx
            }
            Err(TransportError::Lost) => {
                silent += 1;
                if r.received > 0 && silent >= SILENCE_ENDS_STREAM {
                    break;
                }
                continue;
            }
            Err(TransportError::Malformed(_)) => {
                r.corrupt += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        let recv_ns = now_ns();
        let h = Header::read(rx);
        let intact = if p.verify {
            h.seq == STOP_SEQ || check_pattern(h.seq, &rx[HEADER_BYTES..])
        } else {
            if touch {
                consume(&rx[HEADER_BYTES..]);
            }
            true
        };
        t.release();
        if ack {
            t.send_buf()?;
            t.send(Header { seq: h.seq, send_ns: recv_ns })?;
        }
        if h.seq == STOP_SEQ {
            break;
        }
        r.out_of_order += u64::from(order.out_of_order(h.seq));
        // The last warm-up message (or, should a datagram have lost it, the first recorded one).
        if cpu_start.is_none() && h.seq + 1 >= p.warmup {
            cpu_start = Some(CpuUse::of_this_thread());
        }
        if h.seq >= p.warmup {
            if r.received == 0 {
                rec.restart(recv_ns);
            }
            r.received += 1;
            r.corrupt += u64::from(!intact);
            rec.record(recv_ns, recv_ns.saturating_sub(h.send_ns));
            samples.push(Sample { seq: h.seq, send_ns: h.send_ns, recv_ns });
            if r.first_recv_ns == 0 {
                r.first_recv_ns = recv_ns;
            }
            r.last_recv_ns = recv_ns;
        }
    }
    r.end_ns = now_ns();
    (r.histogram, r.intervals) = rec.finish(r.last_recv_ns.max(r.start_ns));
    r.cpu = cpu_start.map_or_else(CpuUse::default, |s| CpuUse::of_this_thread().since(&s));
    r.samples_dropped = samples.finish();
    Ok(r)
}
