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
        let outcome = ipcbench::transport::shm::connect(&ep, 64, WaitStrategy::Spin, Duration::from_millis(5));
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
