//! Two threads (pinned to CPUs 0 and 1) ping-pong messages through the shared-memory
//! transport directly, without the harness's loop: the transport's own round-trip cost.
//!
//!   cargo run --release --example shm_pingpong [SIZE] [COUNT]     (SLOTS=n: slots per ring)

use std::time::Duration;

use ipcbench::measure::clock::now_ns;
use ipcbench::transport::shm::{connect, ShmListener};
use ipcbench::transport::{Transport, WaitStrategy};
use ipcbench::wire::Header;

fn main() {
    let mut args = std::env::args().skip(1);
    let size: usize = args.next().map_or(64, |s| s.parse().unwrap());
    let count: usize = args.next().map_or(1_000_000, |s| s.parse().unwrap());
    let dir = tempfile::tempdir_in("/dev/shm").unwrap();
    let t = Duration::from_secs(5);
    let l = ShmListener::create(
        Some(&dir.path().join("m.shm")),
        &dir.path().join("l.sock"),
        size,
        std::env::var("SLOTS").map_or(2, |s| s.parse().unwrap()),
        false,
        ipcbench::transport::shm::notify::Notify::Futex,
        0o600,
    )
    .unwrap();
    let ep = l.endpoint().clone();
    let key = ipcbench::auth::Key::random().unwrap();
    let k = key.clone();
    let echo = std::thread::spawn(move || {
        ipcbench::sys::pin_current_thread(1).unwrap();
        let mut c = connect(&ep, size, WaitStrategy::Spin, t, &k).unwrap();
        for _ in 0..count {
            c.echo().unwrap();
        }
    });
    ipcbench::sys::pin_current_thread(0).unwrap();
    let mut s = l.accept(size, WaitStrategy::Spin, t, &key).unwrap();
    let mut lat = Vec::with_capacity(count);
    for seq in 0..count as u64 {
        let t0 = now_ns();
        s.send_buf().unwrap();
        s.send(Header { seq, send_ns: t0 }).unwrap();
        let h = Header::read(s.recv().unwrap());
        s.release();
        lat.push(now_ns() - t0);
        assert_eq!(h.seq, seq);
    }
    echo.join().unwrap();
    lat.sort_unstable();
    println!("size {size}: p50 {} ns, p99 {} ns", lat[count / 2], lat[count * 99 / 100]);
}
