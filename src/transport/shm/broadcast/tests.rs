//! Unit tests of the broadcast ring: a writer and reader threads in one process over a real
//! mapping file (the cross-process runs are in `tests/fan_out.rs`).

use super::*;
use std::time::Instant;

use crate::transport::{Transport, TransportError};
use crate::wire::{check_pattern, fill_pattern, Header, HEADER_BYTES, STOP_SEQ};

const TIMEOUT: Duration = Duration::from_secs(10);

/// One data key for every connection of this test process (both ends hold it).
fn key() -> crate::auth::Key {
    static KEY: std::sync::OnceLock<crate::auth::Key> = std::sync::OnceLock::new();
    KEY.get_or_init(|| crate::auth::Key::random().unwrap()).clone()
}

fn ring(dir: &Path, size: usize, slots: usize, readers: usize) -> BroadcastListener {
    BroadcastListener::create(Some(&dir.join("ring.shm")), &dir.join("live"), size, slots, readers, 0o600)
        .unwrap()
}

/// A reader thread: reads until the stop, checking order and payload; acknowledges every
/// message when `ack`, else only the stop. `stall` sleeps now and then (a slow reader).
fn reader(
    ep: BroadcastEndpoint,
    size: usize,
    wait: WaitStrategy,
    ack: bool,
    stall: bool,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut r = connect(&ep, size, wait, TIMEOUT, &key()).unwrap();
        let mut expected = 0u64;
        loop {
            let rx = r.recv().unwrap();
            let h = Header::read(rx);
            if h.seq != STOP_SEQ {
                assert_eq!(h.seq, expected, "reader {}: in order", ep.index);
                assert!(
                    check_pattern(h.seq, &rx[HEADER_BYTES..]),
                    "reader {}: message {} intact",
                    ep.index,
                    h.seq
                );
            }
            r.release();
            if ack || h.seq == STOP_SEQ {
                r.send_buf().unwrap();
                r.send(Header { seq: h.seq, send_ns: 7 }).unwrap();
            }
            if h.seq == STOP_SEQ {
                return expected;
            }
            expected += 1;
            if stall && expected % 97 == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    })
}

fn publish(w: &mut BroadcastWriter, seq: u64) {
    let buf = w.slot().unwrap();
    Header { seq, send_ns: 1 }.write(buf);
    if seq != STOP_SEQ {
        fill_pattern(seq, &mut buf[HEADER_BYTES..]);
    }
    w.publish();
}

#[test]
fn every_reader_sees_every_message_in_order_and_acknowledges_it() {
    // Spinning threads beyond the machine's CPUs would take turns through the scheduler: one
    // spinning reader, three sleeping ones.
    for (wait, n) in [(WaitStrategy::Spin, 1), (WaitStrategy::Block, 3), (WaitStrategy::Hybrid, 3)] {
        let dir = tempfile::tempdir().unwrap();
        let l = ring(dir.path(), 200, 2, n);
        let readers: Vec<_> =
            l.endpoints().iter().cloned().map(|ep| reader(ep, 200, wait, true, false)).collect();
        let mut w = l.accept(200, wait, TIMEOUT, &vec![key(); MAX_READERS]).unwrap();
        for seq in 0..2000 {
            publish(&mut w, seq);
            for i in 0..n {
                let h = w.ack(i).unwrap();
                assert_eq!((h.seq, h.send_ns), (seq, 7), "{wait:?}: reader {i}'s acknowledgement");
            }
        }
        publish(&mut w, STOP_SEQ);
        for i in 0..n {
            assert_eq!(w.ack(i).unwrap().seq, STOP_SEQ);
        }
        for r in readers {
            assert_eq!(r.join().unwrap(), 2000, "{wait:?}");
        }
        drop(w);
        assert!(!dir.path().join("ring.shm").exists(), "the writer removes its mapping");
    }
}

#[test]
fn the_writer_waits_for_the_slowest_reader_and_never_overwrites_an_unread_slot() {
    for wait in [WaitStrategy::Hybrid, WaitStrategy::Block] {
        let dir = tempfile::tempdir().unwrap();
        let l = ring(dir.path(), 4096, 4, 3);
        let eps = l.endpoints().to_vec();
        // Reader 1 stalls now and then: the other two and the writer must wait for it.
        let readers: Vec<_> = eps
            .into_iter()
            .map(|ep| {
                let stall = ep.index == 1;
                reader(ep, 4096, wait, false, stall)
            })
            .collect();
        let mut w = l.accept(4096, wait, TIMEOUT, &vec![key(); MAX_READERS]).unwrap();
        for seq in 0..5000 {
            publish(&mut w, seq);
        }
        publish(&mut w, STOP_SEQ);
        for i in 0..3 {
            assert_eq!(w.ack(i).unwrap().seq, STOP_SEQ, "{wait:?}");
        }
        for r in readers {
            assert_eq!(r.join().unwrap(), 5000, "{wait:?}: no message lost or overwritten");
        }
    }
}

#[test]
fn a_reader_that_dies_ends_the_writers_wait_for_it_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let l = ring(dir.path(), 64, 2, 2);
    let eps = l.endpoints().to_vec();
    let alive = reader(eps[0].clone(), 64, WaitStrategy::Block, true, false);
    let dead = std::thread::spawn({
        let ep = eps[1].clone();
        move || drop(connect(&ep, 64, WaitStrategy::Block, TIMEOUT, &key()).unwrap())
    });
    let mut w = l.accept(64, WaitStrategy::Block, TIMEOUT, &vec![key(); MAX_READERS]).unwrap();
    dead.join().unwrap();
    publish(&mut w, 0);
    assert_eq!(w.ack(0).unwrap().seq, 0);
    let start = Instant::now();
    match w.ack(1) {
        Err(TransportError::PeerClosed) => {}
        other => panic!("expected PeerClosed for the dead reader, got {other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());
    publish(&mut w, STOP_SEQ);
    assert_eq!(w.ack(0).unwrap().seq, STOP_SEQ);
    assert_eq!(alive.join().unwrap(), 1);
}

#[test]
fn a_reader_index_attaches_once_and_a_wrong_geometry_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let l = ring(dir.path(), 64, 2, 2);
    let ep = l.endpoints()[0].clone();
    let attach = std::thread::spawn(move || connect(&ep, 64, WaitStrategy::Spin, TIMEOUT, &key()));
    let _live = l.liveness[0].accept_proven(TIMEOUT, &key()).unwrap();
    let first = attach.join().unwrap().unwrap();
    let ep = l.endpoints()[0].clone();
    let again = connect(&ep, 64, WaitStrategy::Spin, TIMEOUT, &key()).err().unwrap().to_string();
    assert!(again.contains("reader 0") && again.contains("already attached"), "{again}");
    let bigger =
        connect(&l.endpoints()[1], 4096, WaitStrategy::Spin, TIMEOUT, &key()).err().unwrap().to_string();
    assert!(bigger.contains("bytes"), "{bigger}");
    let stranger = BroadcastEndpoint { index: 5, ..l.endpoints()[1].clone() };
    let err = connect(&stranger, 64, WaitStrategy::Spin, TIMEOUT, &key()).err().unwrap().to_string();
    assert!(err.contains("reader 5 of 2"), "{err}");
    drop(first);
}
