//! The per-message path of the harness, run a fixed number of times on one thread, for
//! instruction counting under callgrind (`tools/instructions.sh`): deterministic, unlike time.
//!
//!   instructions N
//!
//! Each iteration is one round trip through the shared-memory transport with both ends in this
//! thread (lend a slot, stamp the header, publish; the echo side copies it back; receive and
//! release), plus what the harness does per message: a histogram record and a sample push.
//! Latencies are synthetic (from the sequence number) so that every run executes the same
//! instructions; the clock is not read in the loop.

use std::time::Duration;

use ipcbench::measure::histogram::LatencyHistogram;
use ipcbench::transport::shm::{connect, ShmListener};
use ipcbench::transport::{Transport, WaitStrategy};
use ipcbench::wire::Header;
use ipcbench::wire::Sample;

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).expect("usage: instructions N");
    let dir = tempfile::tempdir().expect("temporary directory");
    let size = 64;
    let l = ShmListener::create(
        Some(&dir.path().join("i.shm")),
        &dir.path().join("i.sock"),
        size,
        2,
        false,
        ipcbench::transport::shm::notify::Notify::Futex,
        0o600,
    )
    .expect("create mapping");
    // The attacher answers the creator's challenge, so it connects on its own thread.
    let key = ipcbench::auth::Key::random().expect("a key");
    let (ep, k) = (l.endpoint().clone(), key.clone());
    let attach =
        std::thread::spawn(move || connect(&ep, size, WaitStrategy::Spin, Duration::from_secs(5), &k));
    let mut a = l.accept(size, WaitStrategy::Spin, Duration::from_secs(5), &key).expect("accept");
    let mut b = attach.join().expect("attach thread").expect("attach");
    let mut hist = LatencyHistogram::new();
    let mut samples = Vec::with_capacity(n as usize);
    for seq in 0..n {
        let send_ns = 1_000_000 + seq * 7;
        a.send_buf().unwrap();
        a.send(Header { seq, send_ns }).unwrap();
        b.echo().unwrap();
        let h = Header::read(a.recv().unwrap());
        a.release();
        let recv_ns = h.send_ns + 150 + (seq % 97);
        hist.record(recv_ns - send_ns);
        samples.push(Sample { seq, send_ns, recv_ns });
    }
    assert_eq!(hist.len(), n);
    std::hint::black_box(&samples);
}
