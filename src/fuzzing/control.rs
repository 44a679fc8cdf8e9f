//! The control channel's decoders: frames and messages, the hello a host checks, and the
//! blocks a peer sends after `Done` (histogram, samples, interval slices) as the coordinator
//! decodes and merges them.

use std::time::Duration;

use crate::analysis::merge::{merge, PeerSide, RunSetup};
use crate::analysis::summary::{Placement, RunResult};
use crate::control::{
    decode_message, parse_head, Channel, ControlError, Message, KIND_BLOCK, KIND_JSON, MAX_BLOCK_BYTES,
    MAX_MESSAGE_BYTES,
};
use crate::measure::histogram::LatencyHistogram;
use crate::measure::intervals;
use crate::pattern::{Params, Pattern, SideReport, SideResult, Stop};
use crate::transport::{ChannelSpec, TransportKind, WaitStrategy};
use crate::wire::block::decode;

/// The token the `hello` target's host expects when its first byte asks for one.
pub const HELLO_TOKEN: &str = "fuzz-token-0123456789abcdef";

/// The frames in `data` as a control channel reads them (5-byte head, then the payload),
/// ending at the first refused head or where the bytes run out (the channel's end of file).
fn frames(mut data: &[u8]) -> impl Iterator<Item = Result<(u8, &[u8]), ControlError>> {
    std::iter::from_fn(move || {
        let head: [u8; 5] = data.get(..5)?.try_into().expect("5 bytes");
        match parse_head(head, "peer") {
            Ok((kind, len)) => {
                let payload = data.get(5..5 + len)?;
                data = &data[5 + len..];
                Some(Ok((kind, payload)))
            }
            Err(e) => {
                data = &[];
                Some(Err(e))
            }
        }
    })
}

/// Control frames: every head is checked against its kind's limit, and every message that
/// decodes survives its own encoding (what the initiator logs or forwards of it stays readable).
pub fn control_frames(data: &[u8]) {
    for frame in frames(data) {
        let Ok((kind, payload)) = frame else { break };
        let max = if kind == KIND_JSON { MAX_MESSAGE_BYTES } else { MAX_BLOCK_BYTES };
        assert!(payload.len() <= max, "a {}-byte payload passed the {max}-byte limit", payload.len());
        if kind != KIND_JSON {
            continue;
        }
        if let Ok(msg) = decode_message(payload, "peer") {
            let again = serde_json::to_vec(&msg).expect("control messages always serialize");
            let back = decode_message(&again, "peer")
                .unwrap_or_else(|e| panic!("a decoded {} message does not decode again: {e}", msg.kind()));
            assert_eq!(back.kind(), msg.kind());
        }
    }
}

/// The hello a host checks, fed through a real [`Channel`]: the first byte says whether the
/// host expects a token ([`HELLO_TOKEN`]), the rest is what the stranger sends before it closes.
/// Whatever arrives, the answer is a hello or an error, and end of file is never a timeout.
pub fn hello(data: &[u8]) {
    let Some((&mode, stream)) = data.split_first() else { return };
    let rx = super::fed(stream);
    // Our hello goes to a socket that stays open until the end: nothing is read from it.
    let (tx, _kept) = std::os::unix::net::UnixStream::pair().expect("a socket pair");
    let timeout = Duration::from_secs(10);
    let mut ch = Channel::new(rx.into(), tx.into(), "client", timeout);
    let expected = (mode & 1 == 1).then_some(HELLO_TOKEN);
    match ch.initiate_session(timeout, expected) {
        Ok(theirs) => assert_eq!(theirs.kind(), "hello"),
        Err(ControlError::Timeout { .. }) => panic!("a stream that ended was waited on until the timeout"),
        Err(_) => {}
    }
}

/// What a peer sends for its part of a run, as the coordinator reads it (protocol 7): compact
/// sample blocks while the run goes on, then a `Done` message (when the first frame after the
/// blocks is no `Done`, an empty report stands in), then the histogram and interval blocks.
/// Every sample block must decode to samples or one error, never panic; what decodes is merged
/// into a result for each pattern whose figures come from the peer, and that result must be
/// one the summary can write and read back.
pub fn peer_blocks(data: &[u8]) {
    let mut frames = frames(data).map_while(Result::ok).peekable();
    while let Some((_, block)) = frames.next_if(|(k, _)| *k == KIND_BLOCK) {
        if let Some(Err(e)) = decode(block).find(Result::is_err) {
            assert!(e.at < block.len(), "a cut sample is named inside its block");
        }
    }
    let Some((_, done)) = frames.next() else { return };
    let report = match decode_message(done, "peer") {
        Ok(Message::Done { report, .. }) => report,
        _ => SideReport::default(),
    };
    let mut block = || frames.next().filter(|(k, _)| *k == KIND_BLOCK).map(|(_, p)| p);
    let (Some(hist), Some(slices)) = (block(), block()) else { return };
    let Ok(intervals) = intervals::decode(slices) else { return };
    let histogram = match hist {
        [] => None,
        bytes => match LatencyHistogram::from_bytes(bytes) {
            Ok(h) => Some(h),
            Err(_) => return,
        },
    };
    if let Some(h) = &histogram {
        let again = LatencyHistogram::from_bytes(&h.to_bytes()).expect("a decoded histogram decodes again");
        assert_eq!((again.len(), again.value_at_quantile(0.99)), (h.len(), h.value_at_quantile(0.99)));
    }
    for pattern in [Pattern::OneWay, Pattern::Throughput, Pattern::RoundTrip] {
        let peer = PeerSide {
            report: report.clone(),
            histogram: histogram.clone(),
            intervals: intervals.clone(),
            present: true,
        };
        let run = merged(pattern, peer);
        let text = serde_json::to_string(&run).expect("a result always serializes");
        serde_json::from_str::<RunResult>(&text).unwrap_or_else(|e| {
            panic!("a {pattern} result made from the peer's blocks does not read back: {e}")
        });
    }
}

/// The coordinator's merge of `peer` with a plausible initiator side (a few messages, one of
/// them out of order and one corrupt).
fn merged(pattern: Pattern, peer: PeerSide) -> RunResult {
    let channel = ChannelSpec {
        size_bytes: 64,
        wait: WaitStrategy::Block,
        framing: Default::default(),
        loss_timeout_ms: 100,
        shm_slots: 2,
    };
    let params = Params {
        pattern,
        stop: Stop::Count(10),
        warmup: 0,
        rate_per_s: None,
        verify: false,
        keep_samples: true,
        interval_ns: 1_000_000,
        min_duration_ns: 0,
        spin_pacing: false,
    };
    let setup = RunSetup {
        transport: TransportKind::Uds,
        channel: &channel,
        params: &params,
        repetition: 0,
        placement: Placement {
            initiator_cpu: None,
            peer_cpu: None,
            initiator_cpu_observed: 0,
            peer_cpu_observed: 1,
        },
        concurrency: 1,
    };
    let mut mine = SideResult { sent: 10, received: 10, out_of_order: 1, corrupt: 1, ..Default::default() };
    (mine.start_ns, mine.first_recv_ns, mine.last_recv_ns, mine.end_ns) = (1_000, 1_100, 9_000, 10_000);
    for latency_ns in [100, 200, 300] {
        mine.histogram.record(latency_ns);
    }
    merge(setup, mine, peer).0
}
