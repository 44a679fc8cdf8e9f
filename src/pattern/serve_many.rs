//! The server's side of fan-in and many-clients: one thread serving N channels
//! ([`ServeSet`]) until every peer has sent its stop.
//!
//! - fan-in: each publisher sends closed loop; the server stamps each arrival, records arrival
//!   − send for that publisher, and acknowledges (so a publisher's next message waits for it).
//! - many-clients: each client does round trips; the server echoes each message (the clients
//!   record their round trips) and counts its CPU per request.

use super::drive::SeqCheck;
use super::{Params, Pattern, SideResult};
use crate::measure::clock::now_ns;
use crate::measure::cpu::CpuUse;
use crate::measure::histogram::LatencyHistogram;
use crate::measure::intervals::IntervalRecorder;
use crate::transport::serve::ServeSet;
use crate::transport::{Transport, TransportError, TransportResult};
use crate::wire::{check_pattern, Header, HEADER_BYTES, STOP_SEQ};

/// What the server saw of one peer.
#[derive(Debug, Default)]
pub struct PeerCounts {
    /// fan-in: that publisher's arrival - send.
    pub histogram: LatencyHistogram,
    /// Recorded messages served (warm-up and stop excluded).
    pub received: u64,
    pub out_of_order: u64,
    pub corrupt: u64,
    pub first_recv_ns: u64,
    pub last_recv_ns: u64,
}

/// What the server measured.
#[derive(Debug, Default)]
pub struct ServeResult {
    /// The server thread's CPU, recorded messages served, and (fan-in) every publisher's
    /// latencies merged.
    pub side: SideResult,
    pub per_peer: Vec<PeerCounts>,
}

/// Serves every channel of `set` until each peer has sent its stop. A failure names the
/// channel whose peer failed, when one did.
pub fn serve(set: &mut ServeSet, p: &Params) -> Result<ServeResult, (Option<usize>, TransportError)> {
    let n = set.conns.len();
    let echo = p.pattern == Pattern::ManyClients;
    let mut out =
        ServeResult { per_peer: (0..n).map(|_| PeerCounts::default()).collect(), ..Default::default() };
    let mut order: Vec<SeqCheck> = (0..n).map(|_| SeqCheck { expected: 0 }).collect();
    let mut rec = IntervalRecorder::new(0, p.interval_ns, 0);
    let mut cpu_start: Option<CpuUse> = None;
    let r = &mut out.side;
    r.start_ns = now_ns();
    while !set.all_retired() {
        let i = set.next_ready()?;
        let fail = |e| (Some(i), e);
        let (h, recv_ns, intact) = crate::with_transport!(&mut set.conns[i], t => {
            if echo {
                served_echo(t).map_err(fail)?
            } else {
                served_ack(t, p.verify).map_err(fail)?
            }
        });
        if h.seq == STOP_SEQ {
            set.retire(i);
            continue;
        }
        let c = &mut out.per_peer[i];
        c.out_of_order += u64::from(order[i].out_of_order(h.seq));
        if h.seq < p.warmup {
            continue;
        }
        if cpu_start.is_none() {
            // Recording starts with the first recorded message of any peer.
            cpu_start = Some(CpuUse::of_this_thread());
            r.start_ns = recv_ns;
            rec = IntervalRecorder::new(recv_ns, p.interval_ns, 0);
        }
        c.received += 1;
        c.corrupt += u64::from(!intact);
        if c.first_recv_ns == 0 {
            c.first_recv_ns = recv_ns;
        }
        c.last_recv_ns = recv_ns;
        r.received += 1;
        if !echo {
            let latency = recv_ns.saturating_sub(h.send_ns);
            c.histogram.record(latency);
            rec.record(recv_ns, latency);
        }
    }
    r.end_ns = now_ns();
    r.cpu = cpu_start.map_or_else(CpuUse::default, |s| CpuUse::of_this_thread().since(&s));
    r.sent = r.received;
    r.first_recv_ns = out.per_peer.iter().map(|c| c.first_recv_ns).filter(|&t| t > 0).min().unwrap_or(0);
    r.last_recv_ns = out.per_peer.iter().map(|c| c.last_recv_ns).max().unwrap_or(0);
    (r.histogram, r.intervals) = rec.finish(r.last_recv_ns.max(r.start_ns));
    Ok(out)
}

/// Echoes one message: its header, when it came (after the echo), intact (the client checks).
#[inline]
fn served_echo<T: Transport>(t: &mut T) -> TransportResult<(Header, u64, bool)> {
    let h = t.echo()?;
    Ok((h, now_ns(), true))
}

/// Receives one message, stamps its arrival, checks it, acknowledges it.
#[inline]
fn served_ack<T: Transport>(t: &mut T, verify: bool) -> TransportResult<(Header, u64, bool)> {
    let rx = t.recv()?;
    let recv_ns = now_ns();
    let h = Header::read(rx);
    let intact = !verify || h.seq == STOP_SEQ || check_pattern(h.seq, &rx[HEADER_BYTES..]);
    t.release();
    t.send_buf()?;
    t.send(Header { seq: h.seq, send_ns: recv_ns })?;
    Ok((h, recv_ns, intact))
}
