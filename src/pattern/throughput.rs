//! Throughput: the initiator streams messages as fast as the transport lets it (or at `--rate`);
//! the peer counts them and reports messages/s and bytes/s as it saw them arrive.

use super::{one_way, Params, Progress, SideResult};
use crate::measure::sample_pool::SamplePool;
use crate::transport::{Transport, TransportResult};

/// The initiator's side: stream without waiting for replies.
pub fn send<T: Transport>(t: &mut T, p: &Params, progress: &Progress) -> TransportResult<SideResult> {
    one_way::send(t, p, progress)
}

/// The receiving peer's side; every arrival goes into `samples` when given.
pub fn receive<T: Transport>(
    t: &mut T,
    p: &Params,
    samples: Option<&SamplePool>,
) -> TransportResult<SideResult> {
    one_way::receive(t, p, samples)
}

/// Messages per second from the receiver's first to last recorded arrival.
pub fn messages_per_s(received: u64, first_recv_ns: u64, last_recv_ns: u64) -> f64 {
    if received < 2 || last_recv_ns <= first_recv_ns {
        return 0.0;
    }
    (received - 1) as f64 * 1e9 / (last_recv_ns - first_recv_ns) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_counts_intervals_between_arrivals() {
        // 11 arrivals spanning 1 ms are 10 intervals: 10,000 messages/s.
        assert_eq!(messages_per_s(11, 5_000_000, 6_000_000), 10_000.0);
        assert_eq!(messages_per_s(1, 5, 5), 0.0);
    }
}
