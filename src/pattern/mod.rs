//! Measurement patterns, generic over [`Transport`]: each is a pair of loops, one per process.
//!
//! | pattern | initiator (parent / host) | peer | latency recorded by |
//! |---|---|---|---|
//! | round-trip | stamps, sends, waits for the echo | echoes every message | initiator: echo − send |
//! | one-way | stamps, sends, waits for an untimed ack | stamps on receipt, acks | peer: receive − send |
//! | throughput | streams as fast as the transport allows | counts | peer (messages/s, bytes/s) |
//!
//! With `--rate` the initiator is open-loop: message `k` is *meant* to leave at
//! `start + k / rate`, its header carries that intended time, and latency counts from it, so a
//! stall delays the schedule and shows up in the tail instead of being hidden (coordinated
//! omission, as wrk2 corrects it). One-way then sends without waiting for acks.
//!
//! Nothing in a timed loop allocates, formats or logs: samples go to buffers sized and
//! pre-faulted before the clock starts.

pub mod one_way;
pub mod round_trip;
pub mod throughput;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::measure::clock::now_ns;
use crate::measure::histogram::LatencyHistogram;
use crate::transport::{Header, Transport, TransportError, TransportResult, HEADER_BYTES, STOP_SEQ};

/// The initiator's part of `p.pattern`.
pub fn initiate<T: Transport>(t: &mut T, p: &Params, progress: &Progress) -> TransportResult<SideResult> {
    match p.pattern {
        Pattern::RoundTrip => round_trip::initiate(t, p, progress),
        Pattern::OneWay => one_way::send(t, p, progress),
        Pattern::Throughput => throughput::send(t, p, progress),
    }
}

/// The peer's part of `p.pattern`.
pub fn take_part<T: Transport>(t: &mut T, p: &Params) -> TransportResult<SideResult> {
    match p.pattern {
        Pattern::RoundTrip => round_trip::respond(t, p),
        Pattern::OneWay => one_way::receive(t, p),
        Pattern::Throughput => throughput::receive(t, p),
    }
}

/// Which measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    RoundTrip,
    OneWay,
    Throughput,
}

impl Pattern {
    pub const ALL: &'static [Pattern] = &[Pattern::RoundTrip, Pattern::OneWay, Pattern::Throughput];

    pub fn name(self) -> &'static str {
        match self {
            Pattern::RoundTrip => "round-trip",
            Pattern::OneWay => "one-way",
            Pattern::Throughput => "throughput",
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Pattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Pattern::ALL.iter().copied().find(|p| p.name() == s).ok_or_else(|| {
            format!("unknown pattern '{s}' (expected one of: round-trip, one-way, throughput, all)")
        })
    }
}

/// When a run ends (after its warm-up).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stop {
    /// After this many recorded messages.
    Count(u64),
    /// After this many nanoseconds of recording.
    DurationNs(u64),
}

/// Everything both loops of one run need to know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    pub pattern: Pattern,
    /// Message size including the header.
    pub size_bytes: usize,
    pub stop: Stop,
    /// Messages sent before recording starts.
    pub warmup: u64,
    /// Open-loop send rate; `None` is closed loop.
    pub rate_per_s: Option<u64>,
    /// Fill and check the payload pattern.
    pub verify: bool,
    /// Keep every sample for the per-message streams.
    pub keep_samples: bool,
    /// Wire format on stream transports.
    #[serde(default)]
    pub framing: crate::transport::framing::Framing,
    /// How long a datagram receiver waits for one message before counting it lost.
    #[serde(default = "default_loss_timeout_ms")]
    pub loss_timeout_ms: u64,
}

fn default_loss_timeout_ms() -> u64 {
    100
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
    pub const BYTES: usize = 24;

    pub fn latency_ns(&self) -> u64 {
        self.recv_ns.saturating_sub(self.send_ns)
    }

    pub fn encode_all(samples: &[Sample]) -> Vec<u8> {
        let mut out = Vec::with_capacity(samples.len() * Self::BYTES);
        for s in samples {
            out.extend_from_slice(&s.seq.to_le_bytes());
            out.extend_from_slice(&s.send_ns.to_le_bytes());
            out.extend_from_slice(&s.recv_ns.to_le_bytes());
        }
        out
    }

    pub fn decode_all(bytes: &[u8]) -> anyhow::Result<Vec<Sample>> {
        anyhow::ensure!(
            bytes.len() % Self::BYTES == 0,
            "sample block of {} bytes is not a whole number of {}-byte samples",
            bytes.len(),
            Self::BYTES
        );
        let word = |c: &[u8], i: usize| u64::from_le_bytes(c[i * 8..i * 8 + 8].try_into().unwrap());
        Ok(bytes
            .chunks_exact(Self::BYTES)
            .map(|c| Sample { seq: word(c, 0), send_ns: word(c, 1), recv_ns: word(c, 2) })
            .collect())
    }
}

/// What one side measured.
#[derive(Clone, Debug, Default)]
pub struct SideResult {
    /// Latencies of recorded messages (empty on a side that does not record).
    pub histogram: LatencyHistogram,
    /// Messages sent, warm-up and stop message excluded.
    pub sent: u64,
    /// Messages received, warm-up and stop message excluded.
    pub received: u64,
    /// Messages whose sequence number was not the one expected.
    pub out_of_order: u64,
    /// Messages whose payload failed `--verify`, or echoes of another message.
    pub corrupt: u64,
    /// Receive time of the first and last recorded message (0 when none).
    pub first_recv_ns: u64,
    pub last_recv_ns: u64,
    /// Start and end of the recorded phase on this side.
    pub start_ns: u64,
    pub end_ns: u64,
    /// Every recorded message, when samples are kept.
    pub samples: Vec<Sample>,
}

impl SideResult {
    /// Adds the results of another concurrent pair to these.
    pub fn absorb(&mut self, o: SideResult) {
        self.histogram.add(&o.histogram);
        self.sent += o.sent;
        self.received += o.received;
        self.out_of_order += o.out_of_order;
        self.corrupt += o.corrupt;
        let earliest = |a: u64, b: u64| {
            if a == 0 {
                b
            } else if b == 0 {
                a
            } else {
                a.min(b)
            }
        };
        self.first_recv_ns = earliest(self.first_recv_ns, o.first_recv_ns);
        self.last_recv_ns = self.last_recv_ns.max(o.last_recv_ns);
        self.start_ns = earliest(self.start_ns, o.start_ns);
        self.end_ns = self.end_ns.max(o.end_ns);
        self.samples.extend(o.samples);
    }
}

/// Shared progress counter: messages done, stored every 1,024 messages (one relaxed store).
#[derive(Debug, Default)]
pub struct Progress(AtomicU64);

impl Progress {
    #[inline(always)]
    fn tick(&self, done: u64) {
        if done & 1023 == 0 {
            // Relaxed: a display hint only; no other memory is published through it.
            self.0.store(done, Ordering::Relaxed);
        }
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Sample storage sized and pre-faulted before the clock starts.
struct SampleBuf {
    keep: bool,
    v: Vec<Sample>,
}

impl SampleBuf {
    fn new(keep: bool) -> Self {
        SampleBuf { keep, v: Vec::new() }
    }

    /// Makes room for `n` samples and touches every page, so recording never faults or grows.
    fn prepare(&mut self, n: u64) {
        if self.keep {
            let n = n.min(1 << 28) as usize;
            self.v.resize(n, Sample::default());
            self.v.clear();
        }
    }

    #[inline(always)]
    fn push(&mut self, s: Sample) {
        if self.keep {
            self.v.push(s);
        }
    }
}

/// How many samples a run will record: exact for a count, estimated from the warm-up rate
/// (plus half again) for a duration.
fn expected_samples(p: &Params, warmup_ns: u64) -> u64 {
    match p.stop {
        Stop::Count(n) => n,
        Stop::DurationNs(d) => {
            let per_s = match (p.rate_per_s, p.warmup) {
                (Some(r), _) => r,
                (None, w) if w > 0 && warmup_ns > 0 => w * 1_000_000_000 / warmup_ns,
                _ => 1_000_000,
            };
            (per_s as u128 * d as u128 / 1_000_000_000 * 3 / 2) as u64 + 1024
        }
    }
}

/// The send schedule: closed loop (send now) or open loop at a fixed rate.
struct Pacer {
    interval_ns: Option<u64>,
    start_ns: u64,
}

impl Pacer {
    fn new(rate_per_s: Option<u64>) -> Self {
        Pacer { interval_ns: rate_per_s.map(|r| (1_000_000_000 / r).max(1)), start_ns: now_ns() }
    }

    /// Waits until message `k` is due and returns its send time: now in closed loop, the
    /// intended time in open loop (already past when the run is behind schedule).
    #[inline(always)]
    fn next(&self, k: u64) -> u64 {
        match self.interval_ns {
            None => now_ns(),
            Some(iv) => {
                let due = self.start_ns + k * iv;
                loop {
                    let now = now_ns();
                    if now >= due {
                        return due;
                    }
                    if due - now > 200_000 {
                        std::thread::sleep(std::time::Duration::from_nanos(due - now - 100_000));
                    } else {
                        std::hint::spin_loop();
                    }
                }
            }
        }
    }
}

/// What the sender writes into a message besides the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Payload {
    /// Nothing: latency patterns measure moving the message, not producing it.
    Untouched,
    /// Every byte (throughput: a transport cannot look fast by not moving data).
    Filled,
    /// The `--verify` pattern.
    Pattern,
}

impl Payload {
    fn of(p: &Params) -> Payload {
        match (p.verify, p.pattern) {
            (true, _) => Payload::Pattern,
            (false, Pattern::Throughput) => Payload::Filled,
            (false, _) => Payload::Untouched,
        }
    }
}

/// Writes the header and the payload of message `seq` into `buf`.
#[inline(always)]
fn stamp(buf: &mut [u8], seq: u64, send_ns: u64, payload: Payload) {
    Header { seq, send_ns }.write(buf);
    match payload {
        Payload::Untouched => {}
        Payload::Filled => buf[HEADER_BYTES..].fill(seq as u8),
        Payload::Pattern => crate::transport::fill_pattern(seq, &mut buf[HEADER_BYTES..]),
    }
}

/// Reads every payload byte (throughput's receiver), so that the data really moved.
#[inline(always)]
fn consume(payload: &[u8]) -> u64 {
    let mut words = payload.chunks_exact(8);
    let sum =
        words.by_ref().fold(0u64, |a, w| a.wrapping_add(u64::from_ne_bytes(w.try_into().expect("8 bytes"))));
    std::hint::black_box(words.remainder().iter().fold(sum, |a, &b| a.wrapping_add(u64::from(b))))
}

/// Sends the stop message `times` times (the receiver stops at the first that arrives).
fn send_stop<T: Transport>(t: &mut T, times: u32) -> TransportResult<()> {
    for i in 0..times {
        let buf = t.send_buf()?;
        Header { seq: STOP_SEQ, send_ns: now_ns() }.write(buf);
        match t.send() {
            Ok(()) => {}
            // A datagram peer that stopped at an earlier copy has closed its socket: done.
            Err(TransportError::PeerClosed) if i > 0 => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Waits for the peer's answer to the stop message; on a lossy transport the stop is sent
/// again when nothing comes back within the loss timeout (up to 20 times).
fn await_stop_answer<T: Transport>(t: &mut T) -> TransportResult<()> {
    let lossy = t.lossy();
    for _ in 0..20 {
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
    Err(TransportError::Timeout(std::time::Duration::from_secs(0)))
}

/// Tracks the sequence numbers a receiver sees.
struct SeqCheck {
    expected: u64,
}

impl SeqCheck {
    /// Whether `seq` is out of order: earlier than one already seen (late or duplicated). A
    /// jump forward is a gap (messages lost), counted as `sent - received`, not here.
    #[inline(always)]
    fn out_of_order(&mut self, seq: u64) -> bool {
        let late = seq < self.expected;
        self.expected = self.expected.max(seq.wrapping_add(1));
        late
    }
}

#[cfg(test)]
mod tests {
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
            Ok(&mut self.tx)
        }
        fn send(&mut self) -> TransportResult<()> {
            self.sends += 1;
            let h = Header::read(&self.tx);
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
            size_bytes: 64,
            stop: Stop::Count(100),
            warmup: 0,
            rate_per_s: None,
            verify: false,
            keep_samples: false,
            framing: Default::default(),
            loss_timeout_ms: 1,
        };
        let r = round_trip::initiate(&mut t, &p, &Progress::default()).unwrap();
        assert_eq!(r.sent, 100);
        assert_eq!(r.received, 75, "every 4th reply lost");
        assert_eq!(r.histogram.len(), 75);
        assert_eq!(r.corrupt, 0, "late replies are not mistaken for the current one");
        assert!(r.out_of_order >= 20, "late replies are seen and skipped: {}", r.out_of_order);
    }

    #[test]
    fn a_gap_is_loss_and_a_step_back_is_out_of_order() {
        let mut c = SeqCheck { expected: 0 };
        let seen: Vec<bool> = [0, 1, 3, 2, 4, 4].iter().map(|&s| c.out_of_order(s)).collect();
        assert_eq!(seen, [false, false, false, true, false, true]);
    }

    #[test]
    fn samples_survive_encoding() {
        let s =
            vec![Sample { seq: 1, send_ns: 2, recv_ns: 3 }, Sample { seq: u64::MAX, send_ns: 5, recv_ns: 9 }];
        assert_eq!(Sample::decode_all(&Sample::encode_all(&s)).unwrap(), s);
        assert!(Sample::decode_all(&[0u8; 25]).is_err());
    }

    #[test]
    fn open_loop_pacer_returns_intended_times_even_when_behind() {
        let p = Pacer::new(Some(1_000_000)); // 1 µs apart
        std::thread::sleep(std::time::Duration::from_millis(5));
        // Far behind schedule: the intended time is returned, not now.
        assert_eq!(p.next(3), p.start_ns + 3_000);
        let t = p.next(20_000); // 20 ms after start: must wait
        assert_eq!(t, p.start_ns + 20_000_000);
        assert!(now_ns() >= t);
    }

    #[test]
    fn duration_runs_preallocate_from_the_warmup_rate() {
        let p = Params {
            pattern: Pattern::RoundTrip,
            size_bytes: 64,
            stop: Stop::DurationNs(2_000_000_000),
            warmup: 1000,
            rate_per_s: None,
            verify: false,
            keep_samples: true,
            framing: Default::default(),
            loss_timeout_ms: 100,
        };
        // 1000 warm-up messages in 1 ms = 1M/s; 2 s -> 2M, plus half again.
        assert_eq!(expected_samples(&p, 1_000_000), 3_000_000 + 1024);
        assert_eq!(expected_samples(&Params { stop: Stop::Count(77), ..p }, 0), 77);
    }
}

/// What the initiator waits for after each send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reply {
    /// The echo of the message: its arrival is the recorded round trip.
    Echo,
    /// An untimed acknowledgement that paces a closed-loop one-way run.
    Ack,
    /// Nothing: open loop or streaming.
    Nothing,
}

/// The initiator's loop for every pattern: warm-up, then recorded messages until the stop
/// condition, then the stop message.
fn drive<T: Transport>(
    t: &mut T,
    p: &Params,
    reply: Reply,
    progress: &Progress,
) -> TransportResult<SideResult> {
    let mut r = SideResult::default();
    let mut samples = SampleBuf::new(p.keep_samples && reply == Reply::Echo);
    let payload = Payload::of(p);
    let lossy = t.lossy();
    let pacer = Pacer::new(p.rate_per_s);
    let warmup_start = now_ns();
    let mut deadline = u64::MAX;
    let mut seq: u64 = 0;
    loop {
        if seq == p.warmup {
            // Recording starts: size the sample buffer (untimed), then start the clock.
            samples.prepare(expected_samples(p, now_ns() - warmup_start));
            r.start_ns = now_ns();
            if let Stop::DurationNs(d) = p.stop {
                deadline = r.start_ns.saturating_add(d);
            }
        }
        let recorded = seq >= p.warmup;
        let send_ns = pacer.next(seq);
        if recorded {
            match p.stop {
                Stop::Count(n) if seq - p.warmup >= n => break,
                Stop::DurationNs(_) if send_ns >= deadline => break,
                _ => {}
            }
        }
        stamp(t.send_buf()?, seq, send_ns, payload);
        t.send()?;
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
                        let intact = h.seq == seq
                            && (!p.verify || crate::transport::check_pattern(seq, &rx[HEADER_BYTES..]));
                        t.release();
                        let recv_ns = now_ns();
                        if recorded {
                            r.received += 1;
                            r.corrupt += u64::from(!intact);
                            r.histogram.record(recv_ns - send_ns);
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
    // Unanswered on a lossy transport: send it a few times, one is bound to arrive.
    send_stop(t, if lossy && reply == Reply::Nothing { 3 } else { 1 })?;
    if reply != Reply::Nothing {
        // The peer answers the stop message too: once it has, it has seen every message.
        await_stop_answer(t)?;
    }
    r.samples = samples.v;
    Ok(r)
}
