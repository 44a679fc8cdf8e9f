//! The seed corpus of every target: real inputs, made by ipcbench's own encoders, that take
//! the fuzzer past each decoder's first checks. `cargo run --example fuzz_seeds` writes them
//! to `fuzz/seeds/<target>/`, where they are committed.

use std::path::PathBuf;

use crate::control::{Message, KIND_BLOCK, KIND_JSON};
use crate::measure::clock::Calibration;
use crate::measure::histogram::LatencyHistogram;
use crate::measure::intervals::{self, IntervalRecorder};
use crate::pattern::{Params, Pattern, SideReport, Stop};
use crate::transport::endpoint::ShmEndpoint;
use crate::transport::framing::encode_json_line;
use crate::transport::{ChannelSpec, Endpoint, TransportKind, WaitStrategy};
use crate::wire::block::{Encoder, MAX_SAMPLE_BYTES};
use crate::wire::{Header, Sample};

/// One seed: its target, its file name and its bytes.
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Every target's seeds.
pub fn all() -> Vec<Seed> {
    let mut out = Vec::new();
    let mut add = |target, name: &str, bytes| out.push(Seed { target, name: name.to_string(), bytes });
    for (name, msg) in messages() {
        add("control_frames", name, frame(KIND_JSON, &json(&msg)));
    }
    let session: Vec<u8> = messages().iter().flat_map(|(_, m)| frame(KIND_JSON, &json(m))).collect();
    add("control_frames", "session", session);
    add("control_frames", "block", frame(KIND_BLOCK, &histogram().to_bytes()));
    // A hello, then the proof that follows the host's challenge (a tag made for another
    // challenge: the host's nonce is fresh every time, so no seed can hold a right one).
    let hello_then = |tag: Option<&str>| {
        [
            frame(KIND_JSON, &json(&hello())),
            frame(KIND_JSON, &json(&Message::Proof { tag: tag.map(str::to_string) })),
        ]
        .concat()
    };
    let old_tag = "5a".repeat(32);
    add("hello", "no-token-asked", [vec![0], hello_then(None)].concat());
    add("hello", "a-tag-for-another-challenge", [vec![1], hello_then(Some(&old_tag))].concat());
    add("hello", "a-tag-that-is-no-hex", [vec![1], hello_then(Some("not-hex"))].concat());
    add("hello", "missing-token", [vec![1], hello_then(None)].concat());
    add("hello", "not-a-hello", [vec![0], frame(KIND_JSON, &json(&Message::Bye))].concat());
    for (name, mode, bytes) in stream_seeds() {
        add("stream_frames", name, [vec![mode], bytes].concat());
    }
    add("peer_blocks", "done-and-blocks", peer_blocks());
    add("interval_log", "slices", intervals::encode(&slices()));
    add("interval_log", "one-slice", intervals::encode(&slices()[..1]));
    for (name, text) in [("result-v1", RESULT_V1), ("load-sweep", LOAD_SWEEP)] {
        add("result_file", name, text.as_bytes().to_vec());
    }
    for (pick, value) in VALUES.iter().enumerate() {
        add("values", &format!("flag-{pick:02}"), [vec![pick as u8], value.as_bytes().to_vec()].concat());
    }
    for (name, pick, size, slots) in [("64B-1-slot", 0u8, 64, 1), ("128B-8-slots", 1 | 3 << 2, 128, 8)] {
        add("shm_header", name, [vec![pick], mapping(size, slots)].concat());
    }
    out
}

const RESULT_V1: &str = include_str!("../../tests/data/result-v1.json");
const LOAD_SWEEP: &str = include_str!("../../tests/data/load-sweep.json");

/// A value each line of `inputs::FLAGS` accepts, in its order.
const VALUES: &[&str] = &[
    "64,4KiB,1MB",
    "100000",
    "500ms",
    "0s",
    "1000",
    "0,1",
    "1,2,4",
    "0:1,all",
    "10k",
    "1k,2M,auto",
    "50us",
    "10ms",
    "250",
    "4",
    "1024",
    "64KiB",
    "uds,shm,default",
    "round-trip,all",
    "spin,block",
    "p50=5%,p99=20%,throughput=10%",
    "5%",
    "0.001",
    "4%",
];

fn json(msg: &Message) -> Vec<u8> {
    serde_json::to_vec(msg).expect("control messages serialize")
}

/// A control frame: length, kind, payload (see `control`).
fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_le_bytes().to_vec();
    out.push(kind);
    out.extend_from_slice(payload);
    out
}

/// This machine's hello, with its host name and clock left out of the seed.
fn hello() -> Message {
    let mut v = serde_json::to_value(Message::hello(&[0x11; 16], None)).expect("a hello serializes");
    v["clock_ns"] = 0.into();
    v["environment"]["hostname"] = "seed-host".into();
    serde_json::from_value(v).expect("a hello reads back")
}

fn histogram() -> LatencyHistogram {
    let mut h = LatencyHistogram::new();
    for v in [90, 100, 120, 150, 400, 7_000, 2_000_000] {
        h.record(v);
    }
    h
}

/// Three slices of a recorded phase, one of them a silence.
fn slices() -> Vec<intervals::IntervalHistogram> {
    let mut r = IntervalRecorder::new(1_000_000, 1_000_000, 4_000_000);
    for (at, latency) in [(1_000_100, 120), (1_500_000, 130), (2_000_001, 4_000), (4_200_000, 90)] {
        r.record(at, latency);
    }
    r.finish(4_500_000).1
}

fn messages() -> Vec<(&'static str, Message)> {
    let spec = ChannelSpec {
        size_bytes: 64,
        wait: WaitStrategy::Spin,
        framing: Default::default(),
        loss_timeout_ms: 100,
        shm_slots: 2,
    };
    let params = Params {
        pattern: Pattern::RoundTrip,
        stop: Stop::Count(1000),
        warmup: 10,
        rate_per_s: Some(10_000),
        verify: true,
        keep_samples: true,
        interval_ns: 100_000_000,
        min_duration_ns: 0,
        spin_pacing: false,
    };
    let shm = ShmEndpoint {
        mapping: PathBuf::from("shm-0.map"),
        liveness: PathBuf::from("shm-0.sock"),
        slot_count: 2,
        copy: false,
        memfd: false,
        eventfd: false,
    };
    let endpoints = vec![Endpoint::Unix(PathBuf::from("data-0.sock")), Endpoint::Shm(shm)];
    vec![
        ("hello", hello()),
        ("plan", Message::Plan { pin_cpu: Some(1), timeout_ms: 10_000, writer_cpu: None }),
        (
            "clock-tsc",
            Message::Clock { tsc: Some(Calibration { tsc0: 1 << 40, mono0_ns: 5_000, mult: 1 << 31 }) },
        ),
        ("clock-ready", Message::ClockReady { refused: Some("no invariant TSC".into()) }),
        ("clock-probe", Message::ClockProbe),
        ("clock-reply", Message::ClockReply { peer_ns: 123_456_789 }),
        (
            "prepare",
            Message::Prepare {
                test_id: 3,
                transport: TransportKind::Shm,
                endpoints,
                channel: spec,
                params,
                pin_cpu: Some(0),
            },
        ),
        ("ready", Message::Ready { test_id: 3 }),
        ("done", Message::Done { test_id: 3, report: report() }),
        ("error", Message::Error { message: "cannot pin to CPU 9".into() }),
        ("bye", Message::Bye),
    ]
}

fn report() -> SideReport {
    SideReport {
        sent: 1000,
        received: 998,
        out_of_order: 1,
        corrupt: 1,
        first_recv_ns: 1_000_100,
        last_recv_ns: 4_200_000,
        start_ns: 1_000_000,
        end_ns: 4_500_000,
        cpu_observed: 1,
        clamped_samples: 2,
        cpu: Default::default(),
        max_rss_bytes: 12 << 20,
        samples_dropped: 0,
    }
}

/// A compact sample block, then `Done`, then the histogram and interval blocks, as a peer
/// sends them.
fn peer_blocks() -> Vec<u8> {
    let mut encoder = Encoder::new();
    let mut samples = Vec::new();
    for i in 0..4 {
        let mut out = [0u8; MAX_SAMPLE_BYTES];
        let s = Sample { seq: i, send_ns: 1_000_000 + i * 500, recv_ns: 1_000_120 + i * 500 };
        let n = encoder.encode(s, &mut out);
        samples.extend_from_slice(&out[..n]);
    }
    [
        frame(KIND_BLOCK, &samples),
        frame(KIND_JSON, &json(&Message::Done { test_id: 0, report: report() })),
        frame(KIND_BLOCK, &histogram().to_bytes()),
        frame(KIND_BLOCK, &intervals::encode(&slices())),
    ]
    .concat()
}

/// Streams of each framing, with the mode byte `streams::stream_frames` reads.
fn stream_seeds() -> Vec<(&'static str, u8, Vec<u8>)> {
    let mut msg = vec![0u8; 64];
    Header { seq: 7, send_ns: 1_000 }.write(&mut msg);
    let lp: Vec<u8> = [(64u32).to_le_bytes().to_vec(), msg].concat().repeat(2);
    let mut line = Vec::new();
    encode_json_line(&mut line, "echo", 7, 1_000, "peer", "initiator", 192).expect("192 bytes hold a line");
    let id_line = br#"{"type":"echo","id":42,"send_ns":9}"#.iter().chain(b"\n").copied().collect();
    vec![
        ("length-prefixed-block", 2 << 3, lp.clone()),
        ("length-prefixed-spin", 2 << 3 | 2, lp),
        ("json-lines", 6 << 3 | 1, line.repeat(2)),
        ("json-lines-id-field", 6 << 3 | 1 | 4, id_line),
    ]
}

/// The bytes of a mapping file a creator made for `size_bytes` messages in rings of `slots`.
fn mapping(size_bytes: usize, slots: usize) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("seed.shm");
    let _region = crate::transport::shm::region::Region::create(&path, size_bytes, slots, 0o600)
        .expect("a mapping file");
    std::fs::read(&path).expect("the mapping file reads")
}
