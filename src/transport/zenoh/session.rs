//! The zenoh building blocks both sides share: the session configuration (peer mode, no
//! scouting, one explicit endpoint), the publisher and subscriber made with the options
//! ipcbench uses, the wait for the other side's subscriber, and the shared-memory provider.

use std::path::Path;
use std::time::{Duration, Instant};

use ::zenoh::handlers::{FifoChannel, FifoChannelHandler};
use ::zenoh::pubsub::{Publisher, Subscriber};
use ::zenoh::qos::CongestionControl;
use ::zenoh::sample::Sample;
use ::zenoh::shm::{PosixShmProviderBackend, ShmProvider, ShmProviderBuilder};
use ::zenoh::{Config, Session, Wait};
use anyhow::{anyhow, bail, Context, Result};

pub(super) type Sub = Subscriber<FifoChannelHandler<Sample>>;
pub(super) type Provider = ShmProvider<PosixShmProviderBackend>;

/// Where a creator's session listens, before it knows its TCP port.
pub(super) enum Listen<'a> {
    Unix(&'a Path),
    /// TCP on this address, port 0: the kernel picks the port, read back from the session.
    Tcp(std::net::IpAddr),
}

fn set(config: &mut Config, key: &str, json5: &str) -> Result<()> {
    config.insert_json5(key, json5).map_err(|e| anyhow!("zenoh configuration {key} = {json5}: {e}"))
}

/// A session in peer mode that finds no one by itself (multicast and gossip scouting off):
/// the creator listens on `listen`, the peer connects to the locator it was told. Its shared
/// memory is on only for `zenoh-shm`, and then only for the buffers we allocate (zenoh's own
/// copying of large messages into shared memory stays off).
pub(super) fn open(
    listen: Option<Listen<'_>>,
    connect: Option<&str>,
    shm: bool,
    timeout: Duration,
) -> Result<Session> {
    let mut c = Config::default();
    set(&mut c, "mode", r#""peer""#)?;
    set(&mut c, "scouting/multicast/enabled", "false")?;
    set(&mut c, "scouting/gossip/enabled", "false")?;
    set(&mut c, "timestamping/enabled", "false")?;
    set(&mut c, "transport/shared_memory/enabled", if shm { "true" } else { "false" })?;
    if shm {
        set(&mut c, "transport/shared_memory/transport_optimization/enabled", "false")?;
    }
    let locator = match listen {
        Some(Listen::Unix(p)) => Some(format!("unixsock-stream/{}", p.display())),
        Some(Listen::Tcp(ip)) => Some(format!("tcp/{}", std::net::SocketAddr::new(ip, 0))),
        None => None,
    };
    let listen_json = locator.iter().map(|l| format!("{l:?}")).collect::<Vec<_>>().join(",");
    set(&mut c, "listen/endpoints", &format!("[{listen_json}]"))?;
    let connect_json = connect.map(|l| format!("{l:?}")).unwrap_or_default();
    set(&mut c, "connect/endpoints", &format!("[{connect_json}]"))?;
    if connect.is_some() {
        let ms = timeout.as_millis().min(i64::MAX as u128);
        set(&mut c, "connect/timeout_ms", &ms.to_string())?;
        set(&mut c, "connect/exit_on_failure", "true")?;
    }
    let what = locator.as_deref().or(connect).unwrap_or("nowhere");
    // zenoh's runtimes start with the first session: on any CPU the process started with.
    crate::sys::with_start_cpus(|| ::zenoh::open(c).wait())
        .map_err(|e| anyhow!("opening a zenoh session on {what}: {e}"))
}

/// The TCP address a session listens on.
pub(super) fn tcp_address(session: &Session) -> Result<std::net::SocketAddr> {
    let locators = session.info().locators().wait();
    locators
        .iter()
        .find(|l| l.protocol().as_str() == "tcp")
        .and_then(|l| l.address().as_str().parse().ok())
        .ok_or_else(|| anyhow!("the zenoh session listens on no TCP address ({locators:?})"))
}

/// A publisher on `key` that never drops: a full queue holds the sender back (zenoh closes a
/// link that stays blocked longer than its `wait_before_close`), and every message leaves at
/// once instead of waiting to be batched (`express`, as zenoh's own latency examples do).
pub(super) fn publisher(session: &Session, key: &str) -> Result<Publisher<'static>> {
    session
        .declare_publisher(key.to_string())
        .congestion_control(CongestionControl::Block)
        .express(true)
        .wait()
        .map_err(|e| anyhow!("declaring a zenoh publisher on {key}: {e}"))
}

/// A subscriber on `key` whose samples wait in a FIFO of `slots` (a full FIFO holds zenoh's
/// receiving thread back, so nothing is dropped).
pub(super) fn subscriber(session: &Session, key: &str, slots: usize) -> Result<Sub> {
    session
        .declare_subscriber(key.to_string())
        .with(FifoChannel::new(slots.max(1)))
        .wait()
        .map_err(|e| anyhow!("declaring a zenoh subscriber on {key}: {e}"))
}

/// Waits until `tx` has a matching subscriber (the other side's declaration has arrived):
/// before that, a message would be dropped for want of a subscriber.
pub(super) fn wait_matched(tx: &Publisher<'_>, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = tx.matching_status().wait().map_err(|e| anyhow!("zenoh matching status: {e}"))?;
        if status.matching() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("no zenoh subscriber on {} within {timeout:?}", tx.key_expr());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A shared-memory provider with room for `slots` messages of `size_bytes` in flight and a few
/// more (the subscriber's FIFO plus what zenoh holds while it moves them), as far as a quarter
/// of `ulimit -l` allows: zenoh `mlock`s its segments, and each side has one besides zenoh's
/// own. A sender that finds every buffer in use waits for one (`alloc`).
pub(super) fn provider(size_bytes: usize, slots: usize) -> Result<Provider> {
    let message = size_bytes.next_multiple_of(64);
    let limit = rustix::process::getrlimit(rustix::process::Resource::Memlock).current.unwrap_or(u64::MAX);
    let room = usize::try_from(limit / 4).unwrap_or(usize::MAX);
    let least = message * 4;
    if least > room {
        bail!(
            "zenoh-shm needs at least a {least}-byte segment for messages of {size_bytes} B, locked in memory, \
             more than a quarter of the limit of {limit} bytes (ulimit -l): a smaller --size or a higher limit"
        );
    }
    let bytes = (message * (slots + 8)).min(room).max(least).max(64 * 1024);
    ShmProviderBuilder::default_backend(bytes)
        .wait()
        .map_err(|e| anyhow!("making a {bytes}-byte zenoh shared-memory provider: {e}"))
        .context("zenoh-shm")
}
