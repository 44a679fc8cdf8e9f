//! Round trip: the initiator stamps and sends, the peer echoes the whole message, the initiator
//! records echo arrival − send.

use super::drive::{drive, Reply, SeqCheck};
use super::{Params, Progress, SideResult};
use crate::measure::clock::now_ns;
use crate::measure::cpu::CpuUse;
use crate::measure::sample_pool::SamplePool;
use crate::transport::{Transport, TransportError, TransportResult};
use crate::wire::STOP_SEQ;

/// The initiator's side; every recorded round trip goes into `samples` when given.
pub fn initiate<T: Transport>(
    t: &mut T,
    p: &Params,
    progress: &Progress,
    samples: Option<&SamplePool>,
) -> TransportResult<SideResult> {
    drive(t, p, Reply::Echo, progress, samples)
}

/// The peer's side: echo every message until (and including) the stop message.
pub fn respond<T: Transport>(t: &mut T, p: &Params) -> TransportResult<SideResult> {
    let mut r = SideResult { start_ns: now_ns(), ..Default::default() };
    let mut order = SeqCheck { expected: 0 };
    // CPU use counts over the recorded messages (warm-up excluded, as on the initiator). The
    // reading is taken right after the last warm-up message, while the initiator sets up its
    // recording, so that no recorded message waits for it.
    let mut cpu_start = (p.warmup == 0).then(CpuUse::of_this_thread);
    loop {
        let h = match t.echo() {
            Ok(h) => h,
            // Nothing within the loss timeout (datagrams): keep waiting; the transport ends
            // the wait with Timeout after --timeout-s of silence.
            Err(TransportError::Lost) => continue,
            Err(TransportError::Malformed(_)) => {
                r.corrupt += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        if h.seq == STOP_SEQ {
            break;
        }
        r.out_of_order += u64::from(order.out_of_order(h.seq));
        // The last warm-up message (or, should a datagram have lost it, the first recorded one).
        if cpu_start.is_none() && h.seq + 1 >= p.warmup {
            cpu_start = Some(CpuUse::of_this_thread());
        }
        if h.seq >= p.warmup {
            r.received += 1;
            r.sent += 1;
        }
    }
    r.end_ns = now_ns();
    r.cpu = cpu_start.map_or_else(CpuUse::default, |s| CpuUse::of_this_thread().since(&s));
    Ok(r)
}
