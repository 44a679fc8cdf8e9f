//! Every decoder that reads bytes from another process, fed arbitrary input: the control
//! protocol's frames, length-prefixed and JSON-lines stream frames, the peer's histogram and
//! sample blocks, and a shared-memory mapping file. Each must answer with a value or an error:
//! never a panic, never a hang (the writer closes, so EOF ends every wait), never an allocation
//! beyond what the input holds. Bounded case counts keep this inside CI's budget.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use ipcbench::control::{Channel, ControlError};
use ipcbench::measure::histogram::LatencyHistogram;
use ipcbench::transport::framing::{reply_seq, Framing};
use ipcbench::transport::{SocketTransport, Transport, TransportError, WaitStrategy};
use ipcbench::wire::block;
use proptest::prelude::*;

/// Arbitrary bytes, biased towards inputs that get past the first checks: a plausible frame
/// header or JSON text in front of noise.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        (any::<u32>(), 1u8..=2, proptest::collection::vec(any::<u8>(), 0..256)).prop_map(
            |(len, kind, rest)| {
                let mut v = len.to_le_bytes().to_vec();
                v.push(kind);
                v.extend(rest);
                v
            }
        ),
        "[ -~]{0,200}".prop_map(|s| {
            let body = s.into_bytes();
            let mut v = (body.len() as u32).to_le_bytes().to_vec();
            v.push(1);
            v.extend(body);
            v
        }),
    ]
}

/// Writes `bytes` into one end of a socket pair and closes it; the other end.
fn fed(bytes: &[u8]) -> UnixStream {
    let (mut w, r) = UnixStream::pair().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            let _ = w.write_all(bytes);
        });
    });
    drop(w);
    r
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn control_frames_from_arbitrary_bytes_decode_or_fail_never_panic_or_hang(bytes in hostile_bytes()) {
        let r = fed(&bytes);
        let tx = r.try_clone().unwrap();
        let mut ch = Channel::new(r.into(), tx.into(), "peer", Duration::from_secs(2));
        let start = Instant::now();
        // Read messages and blocks alternately until the stream gives out: every outcome is
        // a value or an error, and EOF arrives within a read.
        for i in 0..8 {
            let outcome = if i % 2 == 0 { ch.recv("anything").map(|_| ()) } else { ch.recv_block("a block").map(|_| ()) };
            match outcome {
                Ok(()) => {}
                Err(ControlError::Closed(_)) => break,
                Err(_) => {}
            }
        }
        prop_assert!(start.elapsed() < Duration::from_secs(2), "a closed stream ends the wait");
    }

    #[test]
    fn stream_frames_from_arbitrary_bytes_decode_or_fail(bytes in hostile_bytes(), json in any::<bool>()) {
        let framing = if json { Framing::JsonLines } else { Framing::LengthPrefixed };
        let size = 256;
        let r = fed(&bytes);
        let mut t = SocketTransport::new(r.into(), size, WaitStrategy::Block, Duration::from_secs(2))
            .unwrap()
            .framed(framing, true, "seq");
        for _ in 0..64 {
            match t.recv() {
                Ok(frame) => prop_assert!(frame.len() <= size + 4),
                Err(TransportError::Malformed(_)) => continue,
                Err(TransportError::PeerClosed) | Err(TransportError::Io(_)) => break,
                Err(e) => prop_assert!(false, "unexpected {e:?}"),
            }
            t.release();
        }
    }

    #[test]
    fn json_replies_from_arbitrary_text_give_a_sequence_number_or_an_error(line in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = reply_seq(&line, "seq");
    }

    #[test]
    fn peer_blocks_from_arbitrary_bytes_decode_or_fail(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        // At most one sample per byte, an error only as the last item, and it says where.
        let items: Vec<_> = block::decode(&bytes).collect();
        prop_assert!(items.len() <= bytes.len());
        for (i, item) in items.iter().enumerate() {
            if let Err(e) = item {
                prop_assert_eq!(i, items.len() - 1);
                prop_assert!(e.at < bytes.len());
            }
        }
        let _ = LatencyHistogram::from_bytes(&bytes);
    }

    #[test]
    fn peer_histograms_mutated_from_real_ones_decode_or_fail(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let mut h = LatencyHistogram::new();
        for v in [1u64, 100, 5_000, 70_000, 3_000_000] {
            h.record(v);
        }
        let mut bytes = h.to_bytes();
        for (at, v) in edits {
            let i = at % bytes.len();
            bytes[i] = v;
        }
        bytes.truncate(1 + cut % bytes.len());
        // Whatever decodes is a histogram that survives its own encoding unchanged.
        if let Ok(d) = LatencyHistogram::from_bytes(&bytes) {
            let again = LatencyHistogram::from_bytes(&d.to_bytes()).unwrap();
            prop_assert_eq!(again.len(), d.len());
            prop_assert_eq!(again.value_at_quantile(0.5), d.value_at_quantile(0.5));
        }
    }

    #[test]
    fn a_mapping_file_of_arbitrary_bytes_is_refused_not_misread(
        header in proptest::collection::vec(any::<u8>(), 0..160),
        pages in 0usize..4,
        ready in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hostile.shm");
        let mut bytes = header.clone();
        bytes.resize((pages * 4096).max(header.len()), 0);
        if ready && bytes.len() >= 16 {
            bytes[..8].copy_from_slice(b"IPCBSHM\0"); // get past the magic and the ready wait
            bytes[12..16].copy_from_slice(&1u32.to_le_bytes());
        }
        std::fs::write(&path, &bytes).unwrap();
        let ep = ipcbench::transport::endpoint::ShmEndpoint {
            mapping: path.clone(),
            liveness: dir.path().join("none.sock"),
            slot_count: 2,
            copy: false,
            memfd: false,
            eventfd: false,
        };
        let outcome = ipcbench::transport::shm::connect(&ep, 64, WaitStrategy::Spin, Duration::from_millis(5), &ipcbench::auth::Key::random().unwrap());
        prop_assert!(outcome.is_err(), "a file no creator made is never attached");
    }
}

#[test]
fn a_frame_announcing_a_gigabyte_allocates_only_what_arrives() {
    // 5 bytes announce a 1 GiB block, then 10 bytes and EOF: the read fails on EOF having
    // grown its buffer to one chunk at most, not to a gigabyte.
    let mut bytes = ((1u32 << 30) - 1).to_le_bytes().to_vec();
    bytes.push(2);
    bytes.extend([0u8; 10]);
    let r = fed(&bytes);
    let tx = r.try_clone().unwrap();
    let mut ch = Channel::new(r.into(), tx.into(), "peer", Duration::from_secs(2));
    let before = peak_virtual_kib();
    assert!(matches!(ch.recv_block("a block"), Err(ControlError::Closed(_))));
    // The peak of virtual memory: a gigabyte buffer would raise it by 1 GiB even though the
    // kernel never backs its untouched pages (other tests' threads add a few MiB at most).
    let grown = peak_virtual_kib().saturating_sub(before);
    assert!(grown < 256 << 10, "peak virtual memory grew by {grown} KiB");
}

/// This process's peak virtual memory, KiB.
fn peak_virtual_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmPeak:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The committed inputs of a fuzz target under `dir` (`fuzz/seeds`, or a folder of crashes).
fn fuzz_inputs(dir: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return vec![] };
    let mut out: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn every_fuzz_target_has_the_seeds_the_generator_makes_and_runs_them_without_a_panic() {
    use ipcbench::fuzzing::{seeds, TARGETS};
    for (target, run) in TARGETS {
        let committed = fuzz_inputs("fuzz/seeds", target);
        let mut made: Vec<String> =
            seeds::all().into_iter().filter(|s| s.target == *target).map(|s| s.name).collect();
        made.sort();
        let names: Vec<String> = committed.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(names, made, "fuzz/seeds/{target} is not what `cargo run --example fuzz_seeds` writes");
        for (_, bytes) in &committed {
            run(bytes);
        }
    }
}

/// The one committed input the fuzzer found for `target`, under `tests/data/fuzz/`.
fn found(target: &str, name: &str) -> Vec<u8> {
    let inputs = fuzz_inputs("tests/data/fuzz", target);
    inputs.into_iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {target}/{name}")).1
}

#[test]
fn every_input_the_fuzzer_found_runs_through_its_target_without_a_panic() {
    for (target, run) in ipcbench::fuzzing::TARGETS {
        for (name, bytes) in fuzz_inputs("tests/data/fuzz", target) {
            eprintln!("{target}/{name}");
            run(&bytes);
        }
    }
}

#[test]
fn interval_slices_from_a_peer_out_of_order_are_refused_not_an_overflow() {
    // Found by the peer_blocks target: the second slice started before the first, and the
    // merge measured it from the first ("attempt to subtract with overflow"; a wrapped offset
    // in a release build).
    ipcbench::fuzzing::peer_blocks(&found("peer_blocks", "slices-out-of-order"));
    use ipcbench::measure::intervals::{decode, encode, IntervalRecorder};
    let mut r = IntervalRecorder::new(1_000, 1_000, 3_000);
    for at in [1_100, 2_100, 3_100] {
        r.record(at, 50);
    }
    let (_, mut slices) = r.finish(3_500);
    assert_eq!(decode(&encode(&slices)).unwrap().len(), 3, "slices in order read back");
    slices.swap(0, 2);
    let err = decode(&encode(&slices)).unwrap_err().to_string();
    assert!(err.contains("slice 1 starts (2000) before the one before it (3000)"), "{err}");
}

#[test]
fn a_peer_histogram_announcing_gigabytes_it_does_not_hold_is_refused_before_any_allocation() {
    // Found by the interval_log target: 45 bytes whose V2 header announced a 2 GiB payload,
    // which HdrHistogram's decoder allocated before reading any of it (out of memory).
    let before = peak_virtual_kib();
    ipcbench::fuzzing::interval_log(&found("interval_log", "histogram-announcing-2GiB"));
    let mut blob = LatencyHistogram::new().to_bytes();
    blob[4..8].copy_from_slice(&0x8000_0005u32.to_be_bytes());
    let err = LatencyHistogram::from_bytes(&blob).unwrap_err().to_string();
    assert!(err.contains("announces 2147483653 payload bytes and holds"), "{err}");
    let grown = peak_virtual_kib().saturating_sub(before);
    assert!(grown < 256 << 10, "peak virtual memory grew by {grown} KiB");
    // A compressed blob hides its payload's length: refused too. A real one still decodes.
    let mut compressed = LatencyHistogram::new().to_bytes();
    compressed[..4].copy_from_slice(&0x1c84_9314u32.to_be_bytes());
    assert!(LatencyHistogram::from_bytes(&compressed).is_err());
    let mut h = LatencyHistogram::new();
    h.record(1_234);
    assert_eq!(LatencyHistogram::from_bytes(&h.to_bytes()).unwrap().len(), 1);
}

#[test]
fn a_peer_histogram_with_a_zero_run_of_two_to_the_63_is_refused_not_a_panic() {
    // Found by the interval_log target: a count encoded as u64::MAX (ZigZag for i64::MIN),
    // which HdrHistogram's decoder negates ("attempt to negate with overflow" wherever overflow
    // is checked, as in this test build).
    ipcbench::fuzzing::interval_log(&found("interval_log", "zero-run-of-2-pow-63"));
    let mut h = LatencyHistogram::new();
    h.record(1_000);
    let mut blob = h.to_bytes();
    let payload = u32::from_be_bytes(blob[4..8].try_into().unwrap()) + 9;
    blob[4..8].copy_from_slice(&payload.to_be_bytes());
    blob.extend([0xff; 9]);
    let err = LatencyHistogram::from_bytes(&blob).unwrap_err().to_string();
    assert!(err.contains("a run of 2^63 zero counts"), "{err}");
}

#[test]
fn a_cpu_list_range_from_the_largest_number_is_capped_not_an_overflow() {
    // Found by the values target: "18446744073709551615-0" overflowed the cap on a range's
    // length (a + 4096).
    ipcbench::fuzzing::values(&found("values", "cpu-range-from-usize-max"));
    use ipcbench::measure::topology::parse_cpu_list;
    assert!(parse_cpu_list("18446744073709551615-0").is_empty());
    assert_eq!(parse_cpu_list("18446744073709551615-18446744073709551615"), [usize::MAX]);
    assert_eq!(
        parse_cpu_list("18446744073709551614-18446744073709551615,3"),
        [usize::MAX - 1, usize::MAX, 3]
    );
}
