//! The initiator's loop that every pattern shares (warm-up, recorded messages, stop), what the
//! sender writes into a message, and the stop handshake.

use super::pacer::Pacer;
use super::samples::{expected_recording_ns, SampleBuf};
use super::{Params, Pattern, Progress, SideResult, Stop};
use crate::measure::clock::now_ns;
use crate::measure::cpu::CpuUse;
use crate::measure::intervals::IntervalRecorder;
use crate::measure::sample_pool::SamplePool;
use crate::transport::{Transport, TransportError, TransportResult};
use crate::wire::{check_pattern, fill_pattern, Header, Sample, HEADER_BYTES, STOP_SEQ};

/// What the sender writes into a message besides the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Payload {
    /// Nothing: latency patterns measure moving the message, not producing it.
    Untouched,
    /// Every byte (throughput: a transport cannot look fast by not moving data).
    Filled,
    /// The `--verify` pattern.
    Pattern,
}

impl Payload {
    pub(super) fn of(p: &Params) -> Payload {
        match (p.verify, p.pattern) {
            (true, _) => Payload::Pattern,
            (false, Pattern::Throughput) => Payload::Filled,
            (false, _) => Payload::Untouched,
        }
    }
}

/// Writes the payload of message `seq` into `buf` (the bytes after its header).
#[inline(always)]
pub(super) fn fill(buf: &mut [u8], seq: u64, payload: Payload) {
    match payload {
        Payload::Untouched => {}
        Payload::Filled => buf.fill(seq as u8),
        Payload::Pattern => fill_pattern(seq, buf),
    }
}

/// Reads every payload byte (throughput's receiver), so that the data really moved.
#[inline(always)]
pub(super) fn consume(payload: &[u8]) -> u64 {
    let mut words = payload.chunks_exact(8);
    let sum =
        words.by_ref().fold(0u64, |a, w| a.wrapping_add(u64::from_ne_bytes(w.try_into().expect("8 bytes"))));
    std::hint::black_box(words.remainder().iter().fold(sum, |a, &b| a.wrapping_add(u64::from(b))))
}

/// Sends the stop message `times` times (the receiver stops at the first that arrives).
fn send_stop<T: Transport>(t: &mut T, times: u32) -> TransportResult<()> {
    for i in 0..times {
        t.send_buf()?;
        match t.send(Header { seq: STOP_SEQ, send_ns: now_ns() }) {
            Ok(()) => {}
            // A datagram peer that stopped at an earlier copy has closed its socket: done.
            Err(TransportError::PeerClosed) if i > 0 => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// How often the stop is sent on a lossy transport before giving up on an answer.
const STOP_TRIES: u32 = 20;

/// Waits for the peer's answer to the stop message; on a lossy transport the stop is sent
/// again when nothing comes back within the loss timeout (up to [`STOP_TRIES`] times).
fn await_stop_answer<T: Transport>(t: &mut T) -> TransportResult<()> {
    let lossy = t.lossy();
    let start = now_ns();
    for _ in 0..STOP_TRIES {
        loop {
            match t.recv() {
                Ok(rx) => {
                    let done = Header::read(rx).seq == STOP_SEQ;
                    t.release();
                    if done {
                        return Ok(());
                    }
                }
                Err(TransportError::Lost) => break,
                // An answer arrived, just not one we can decode (a foreign service): done.
                Err(TransportError::Malformed(_)) => return Ok(()),
                // A datagram peer that answered an earlier copy of the stop and closed: done.
                Err(TransportError::PeerClosed) if lossy => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        send_stop(t, 1)?;
    }
    let waited = std::time::Duration::from_nanos(now_ns() - start);
    Err(TransportError::StopUnanswered { tries: STOP_TRIES, waited })
}

/// Tracks the sequence numbers a receiver sees.
pub(super) struct SeqCheck {
    pub(super) expected: u64,
}

impl SeqCheck {
    /// Whether `seq` is out of order: earlier than one already seen (late or duplicated). A
    /// jump forward is a gap (messages lost), counted as `sent - received`, not here.
    #[inline(always)]
    pub(super) fn out_of_order(&mut self, seq: u64) -> bool {
        let late = seq < self.expected;
        self.expected = self.expected.max(seq.wrapping_add(1));
        late
    }
}

/// What the initiator waits for after each send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reply {
    /// The echo of the message: its arrival is the recorded round trip.
    Echo,
    /// An untimed acknowledgement that paces a closed-loop one-way run.
    Ack,
    /// Nothing: open loop or streaming.
    Nothing,
}

/// The initiator's loop for every pattern: warm-up, then recorded messages until the stop
/// condition, then the stop message. Round trips record every echo into `samples` when given.
pub(super) fn drive<T: Transport>(
    t: &mut T,
    p: &Params,
    reply: Reply,
    progress: &Progress,
    samples: Option<&SamplePool>,
) -> TransportResult<SideResult> {
    let mut r = SideResult::default();
    let mut samples = SampleBuf::new(samples.filter(|_| reply == Reply::Echo));
    let payload = Payload::of(p);
    let lossy = t.lossy();
    // Interval histograms are made before the clock starts: with a rate,
    // before the send schedule starts too (made at the end of the warm-up, they would make
    // the first recorded messages late for their intended times); closed loop, at the end of
    // the warm-up, whose rate says how many are needed.
    let open_loop = p.rate_per_s.is_some();
    // Only round trips record latency on this side: the others need no histograms made ahead.
    let records = reply == Reply::Echo;
    let mut rec = IntervalRecorder::new(
        0,
        p.interval_ns,
        if open_loop && records { expected_recording_ns(p, 0) } else { 0 },
    );
    let pacer = Pacer::new(p.rate_per_s, p.spin_pacing);
    let warmup_start = now_ns();
    let mut deadline = u64::MAX;
    let mut cpu_start = CpuUse::default();
    let mut seq: u64 = 0;
    loop {
        if seq == p.warmup {
            // Recording starts: everything it needs is ready (untimed), then the clock starts.
            if !open_loop && records {
                let warmup_ns = now_ns() - warmup_start;
                rec = IntervalRecorder::new(0, p.interval_ns, expected_recording_ns(p, warmup_ns));
            }
            cpu_start = CpuUse::of_this_thread();
            r.start_ns = now_ns();
            rec.restart(r.start_ns);
            if let Stop::DurationNs(d) = p.stop {
                // Open loop: the schedule's `d` from the first recorded message's due time, so
                // that a warm-up ending late on a busy machine sends no extra messages (rate
                // x duration, exactly); closed loop: `d` from now.
                deadline = pacer.due(p.warmup).unwrap_or(r.start_ns).saturating_add(d);
            }
        }
        let recorded = seq >= p.warmup;
        let send_ns = pacer.next(seq);
        if recorded && p.done(seq - p.warmup, r.start_ns, send_ns, deadline) {
            break;
        }
        fill(t.send_buf()?, seq, payload);
        crate::measure::inject::delay(); // nothing, unless a test build asked for a slowdown
        t.send(Header { seq, send_ns })?;
        if recorded {
            r.sent += 1;
        }
        match reply {
            Reply::Nothing => {}
            Reply::Ack => match t.recv() {
                Ok(_) => t.release(),
                // A lost or garbled ack paces nothing; the receiver counted the message.
                Err(TransportError::Lost) | Err(TransportError::Malformed(_)) => {}
                Err(e) => return Err(e),
            },
            Reply::Echo => loop {
                match t.recv() {
                    Ok(rx) => {
                        let h = Header::read(rx);
                        if h.seq < seq && lossy {
                            // The late answer to an earlier message (counted lost then): skip it.
                            t.release();
                            r.out_of_order += u64::from(recorded);
                            continue;
                        }
                        let intact = h.seq == seq && (!p.verify || check_pattern(seq, &rx[HEADER_BYTES..]));
                        t.release();
                        let recv_ns = now_ns();
                        if recorded {
                            r.received += 1;
                            r.corrupt += u64::from(!intact);
                            rec.record(recv_ns, recv_ns - send_ns);
                            samples.push(Sample { seq, send_ns, recv_ns });
                            if r.first_recv_ns == 0 {
                                r.first_recv_ns = recv_ns;
                            }
                            r.last_recv_ns = recv_ns;
                        }
                        break;
                    }
                    // No answer within the loss timeout: lost (sent - received).
                    Err(TransportError::Lost) => break,
                    // An answer that does not decode: it came, but it is not the message.
                    Err(TransportError::Malformed(_)) => {
                        if recorded {
                            r.received += 1;
                            r.corrupt += 1;
                        }
                        break;
                    }
                    Err(e) => return Err(e),
                }
            },
        }
        seq += 1;
        progress.tick(seq);
    }
    r.end_ns = now_ns();
    r.cpu = CpuUse::of_this_thread().since(&cpu_start);
    (r.histogram, r.intervals) = rec.finish(r.end_ns);
    // Unanswered on a lossy transport: send it a few times, one is bound to arrive.
    send_stop(t, if lossy && reply == Reply::Nothing { 3 } else { 1 })?;
    if reply != Reply::Nothing {
        // The peer answers the stop message too: once it has, it has seen every message.
        await_stop_answer(t)?;
    }
    r.samples_dropped = samples.finish();
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::super::round_trip;
    use super::*;

    /// An echoing transport that loses every 4th reply and delivers it late, right before the
    /// next reply: what a lossy, reordering datagram path does.
    struct LossyEcho {
        tx: Vec<u8>,
        rx: Vec<u8>,
        queue: std::collections::VecDeque<Vec<u8>>,
        sends: u64,
        held: Option<Vec<u8>>,
    }

    impl Transport for LossyEcho {
        fn send_buf(&mut self) -> TransportResult<&mut [u8]> {
            Ok(&mut self.tx[HEADER_BYTES..])
        }
        fn send(&mut self, h: Header) -> TransportResult<()> {
            self.sends += 1;
            h.write(&mut self.tx);
            if h.seq != STOP_SEQ && self.sends % 4 == 0 {
                self.held = Some(self.tx.clone()); // lost now, arrives later
            } else {
                if let Some(late) = self.held.take() {
                    self.queue.push_back(late);
                }
                self.queue.push_back(self.tx.clone());
            }
            Ok(())
        }
        fn recv(&mut self) -> TransportResult<&[u8]> {
            match self.queue.pop_front() {
                Some(m) => {
                    self.rx = m;
                    Ok(&self.rx)
                }
                None => Err(TransportError::Lost),
            }
        }
        fn release(&mut self) {}
        fn echo(&mut self) -> TransportResult<Header> {
            unreachable!()
        }
        fn lossy(&self) -> bool {
            true
        }
    }

    #[test]
    fn lost_replies_are_counted_and_late_ones_skipped_never_waited_for() {
        let mut t =
            LossyEcho { tx: vec![0; 64], rx: vec![], queue: Default::default(), sends: 0, held: None };
        let p = Params {
            pattern: Pattern::RoundTrip,
            stop: Stop::Count(100),
            warmup: 0,
            rate_per_s: None,
            verify: false,
            keep_samples: false,
            interval_ns: 1_000_000,
            min_duration_ns: 0,
            spin_pacing: false,
        };
        let r = round_trip::initiate(&mut t, &p, &Progress::default(), None).unwrap();
        assert_eq!(r.sent, 100);
        assert_eq!(r.received, 75, "every 4th reply lost");
        assert_eq!(r.histogram.len(), 75);
        assert_eq!(r.corrupt, 0, "late replies are not mistaken for the current one");
        // Replies to seq 3, 7, ..., 95 arrive late, before the next reply, and are skipped; the
        // last late one (seq 99) arrives after the recorded phase, during the stop handshake.
        assert_eq!(r.out_of_order, 24, "late replies are seen and skipped");
    }

    /// A lossy transport where nothing ever arrives.
    struct BlackHole(Vec<u8>);

    impl Transport for BlackHole {
        fn send_buf(&mut self) -> TransportResult<&mut [u8]> {
            Ok(&mut self.0)
        }
        fn send(&mut self, _: Header) -> TransportResult<()> {
            Ok(())
        }
        fn recv(&mut self) -> TransportResult<&[u8]> {
            std::thread::sleep(std::time::Duration::from_millis(1));
            Err(TransportError::Lost)
        }
        fn release(&mut self) {}
        fn echo(&mut self) -> TransportResult<Header> {
            unreachable!()
        }
        fn lossy(&self) -> bool {
            true
        }
    }

    #[test]
    fn an_unanswered_stop_names_its_tries_and_the_time_it_waited() {
        let err = await_stop_answer(&mut BlackHole(vec![0; 64])).unwrap_err();
        match &err {
            TransportError::StopUnanswered { tries, waited } => {
                assert_eq!(*tries, STOP_TRIES);
                assert!(*waited >= std::time::Duration::from_millis(20), "{waited:?}");
            }
            other => panic!("expected StopUnanswered, got {other:?}"),
        }
        let text = err.to_string();
        assert!(!text.contains("0ns") && text.contains("20 times"), "{text}");
    }

    #[test]
    fn a_gap_is_loss_and_a_step_back_is_out_of_order() {
        let mut c = SeqCheck { expected: 0 };
        let seen: Vec<bool> = [0, 1, 3, 2, 4, 4].iter().map(|&s| c.out_of_order(s)).collect();
        assert_eq!(seen, [false, false, false, true, false, true]);
    }

    #[test]
    fn open_loop_pacer_returns_intended_times_even_when_behind() {
        let p = Pacer::new(Some(1_000_000), false); // 1 µs apart
        std::thread::sleep(std::time::Duration::from_millis(5));
        // Far behind schedule: the intended time is returned, not now.
        assert_eq!(p.next(3), p.start_ns + 3_000);
        let t = p.next(20_000); // 20 ms after start: must wait
        assert_eq!(t, p.start_ns + 20_000_000);
        assert!(now_ns() >= t);
    }
}
