//! Criterion benches: a round trip over each transport at 64 B, 4 KiB and 64 KiB (both ends
//! in this process, one echo thread, blocking waits for sockets and spinning for shm), the
//! shared-memory ring alone (lend, write, publish, read, release on one thread), and the
//! harness's own per-message work (stamping a header, recording a latency).
//! Quick mode for CI: `cargo bench --bench transports -- --quick`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use ipcbench::measure::clock::{self, now_ns, ClockChoice, ClockSource};
use ipcbench::measure::histogram::LatencyHistogram;
use ipcbench::transport::listener::connect;
use ipcbench::transport::shm::notify::Notify;
use ipcbench::transport::shm::{self, ShmListener};
use ipcbench::transport::{Listener, SocketTransport, Transport, WaitStrategy};
use ipcbench::wire::{Header, STOP_SEQ};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A connected pair with an echo thread on one end; returns the other end and the thread.
fn echo_pair(
    kind: &str,
    size: usize,
    dir: &std::path::Path,
) -> (SocketTransport, std::thread::JoinHandle<()>) {
    let listener = match kind {
        "uds" => Listener::bind_unix(&dir.join(format!("bench-{size}.sock")), 0o600).unwrap(),
        _ => Listener::bind_tcp_loopback().unwrap(),
    };
    let ep = listener.endpoint().unwrap();
    let echo = std::thread::spawn(move || {
        let fd = connect(&ep, TIMEOUT).unwrap();
        let mut t = SocketTransport::new(fd, size, WaitStrategy::Block, TIMEOUT).unwrap();
        while t.echo().unwrap().seq != STOP_SEQ {}
    });
    let fd = listener.accept(TIMEOUT).unwrap();
    (SocketTransport::new(fd, size, WaitStrategy::Block, TIMEOUT).unwrap(), echo)
}

/// A shared-memory pair with an echo thread (spinning waits) on one end.
fn shm_echo_pair(size: usize, dir: &std::path::Path) -> (shm::ShmTransport, std::thread::JoinHandle<()>) {
    let l = ShmListener::create(
        Some(&dir.join(format!("bench-{size}.shm"))),
        &dir.join("live.sock"),
        size,
        2,
        false,
        Notify::Futex,
        0o600,
    )
    .unwrap();
    let ep = l.endpoint().clone();
    let key = ipcbench::auth::Key::random().unwrap();
    let k = key.clone();
    let echo = std::thread::spawn(move || {
        let mut t = shm::connect(&ep, size, WaitStrategy::Spin, TIMEOUT, &k).unwrap();
        while t.echo().unwrap().seq != STOP_SEQ {}
    });
    (l.accept(size, WaitStrategy::Spin, TIMEOUT, &key).unwrap(), echo)
}

fn ping<T: Transport>(t: &mut T, seq: u64) {
    t.send_buf().unwrap();
    t.send(Header { seq, send_ns: now_ns() }).unwrap();
    black_box(Header::read(t.recv().unwrap()));
    t.release();
}

fn stop<T: Transport>(t: &mut T, echo: std::thread::JoinHandle<()>) {
    t.send_buf().unwrap();
    t.send(Header { seq: STOP_SEQ, send_ns: 0 }).unwrap();
    echo.join().unwrap();
}

fn round_trip(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("round_trip");
    for size in [64usize, 4096, 65536] {
        group.throughput(Throughput::Bytes(2 * size as u64));
        for kind in ["uds", "tcp"] {
            let (mut t, echo) = echo_pair(kind, size, dir.path());
            let mut seq = 0u64;
            group.bench_with_input(BenchmarkId::new(kind, size), &size, |b, _| {
                b.iter(|| {
                    ping(&mut t, seq);
                    seq += 1;
                })
            });
            stop(&mut t, echo);
        }
        let (mut t, echo) = shm_echo_pair(size, dir.path());
        let mut seq = 0u64;
        group.bench_with_input(BenchmarkId::new("shm", size), &size, |b, _| {
            b.iter(|| {
                ping(&mut t, seq);
                seq += 1;
            })
        });
        stop(&mut t, echo);
    }
    group.finish();
}

/// The ring alone, one thread, one direction: lend a slot, write a header, publish; read it in
/// place, release. Both ends of one mapping in this thread, through the public transport API,
/// spinning (so no wait is ever taken: the ring is never full or empty when asked).
fn shm_ring(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("shm_ring");
    for size in [64usize, 4096] {
        let (mapping, liveness) =
            (dir.path().join(format!("ring-{size}.shm")), dir.path().join(format!("ring-{size}.sock")));
        let l =
            ShmListener::create(Some(&mapping), &liveness, size, 64, false, Notify::Futex, 0o600).unwrap();
        // The attacher answers the creator's challenge, so it connects on its own thread.
        let key = ipcbench::auth::Key::random().unwrap();
        let (ep, k) = (l.endpoint().clone(), key.clone());
        let attach = std::thread::spawn(move || shm::connect(&ep, size, WaitStrategy::Spin, TIMEOUT, &k));
        let mut tx = l.accept(size, WaitStrategy::Spin, TIMEOUT, &key).unwrap();
        let mut rx = attach.join().unwrap().unwrap();
        group.throughput(Throughput::Elements(1));
        let mut seq = 0u64;
        group.bench_with_input(BenchmarkId::new("lend_write_publish_read_release", size), &size, |b, _| {
            b.iter(|| {
                tx.send_buf().unwrap();
                tx.send(Header { seq, send_ns: 0 }).unwrap();
                black_box(Header::read(rx.recv().unwrap()));
                rx.release();
                seq += 1;
            })
        });
    }
    group.finish();
}

fn harness_hot_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("harness");
    let mut h = LatencyHistogram::new();
    let mut v = 1u64;
    group.bench_function("record_latency", |b| {
        b.iter(|| {
            v = v.wrapping_mul(6364136223846793005).wrapping_add(1) >> 44;
            h.record(black_box(v));
        })
    });
    let mut buf = vec![0u8; 64];
    group.bench_function("stamp_header", |b| {
        b.iter(|| Header { seq: black_box(7), send_ns: now_ns() }.write(black_box(&mut buf)))
    });
    group.bench_function("clock_read", |b| b.iter(now_ns));
    // The same call with the TSC installed (where it is safe), then CLOCK_MONOTONIC again for
    // whatever runs next.
    if let Ok(ClockSource::Tsc) = ClockChoice::Auto.resolve() {
        clock::start(ClockSource::Tsc).unwrap();
        group.bench_function("clock_read_tsc", |b| b.iter(now_ns));
        clock::install(None);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = round_trip, shm_ring, harness_hot_path
}
criterion_main!(benches);
