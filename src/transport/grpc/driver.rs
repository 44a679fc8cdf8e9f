//! One side's tokio runtime, driven by the thread that calls the transport: a current-thread
//! runtime starts no thread of its own, so tonic, hyper and h2 run on the pattern's (pinned)
//! thread, only while it waits in [`Driver::run`], and nothing is left running once it is
//! dropped.
//!
//! How it waits (`--wait`):
//! - `block`: tokio's own way, sleeping in `epoll_wait` until a socket is ready;
//! - `spin`: the runtime is polled in a busy loop: after each poll of the awaited future the
//!   driving future yields, and tokio, with a yielded task pending, polls its sockets with a
//!   zero timeout (`epoll_wait(.., 0)`) instead of sleeping, so the thread never sleeps;
//! - `hybrid`: spins for [`HYBRID_SPIN_NS`] of a wait, then sleeps as `block` does.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::transport::wait::HYBRID_SPIN_NS;
use crate::transport::{TransportError, TransportResult, WaitStrategy};

pub struct Driver {
    rt: tokio::runtime::Runtime,
    wait: WaitStrategy,
    timeout: Duration,
}

impl Driver {
    pub fn new(wait: WaitStrategy, timeout: Duration) -> std::io::Result<Driver> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
        Ok(Driver { rt, wait, timeout })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Enters the runtime (to make its sockets and spawn its tasks).
    pub fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.rt.enter()
    }

    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.rt.spawn(fut)
    }

    /// Drives the runtime until `fut` is done, waiting as the wait strategy says, for at most
    /// the timeout.
    pub fn run<F: Future>(&self, fut: F) -> TransportResult<F::Output> {
        self.run_within(self.timeout, fut)
    }

    /// [`run`](Self::run) with a limit of `limit`.
    pub fn run_within<F: Future>(&self, limit: Duration, fut: F) -> TransportResult<F::Output> {
        let spin_ns = match self.wait {
            WaitStrategy::Block => None,
            WaitStrategy::Spin => Some(u64::MAX),
            WaitStrategy::Hybrid => Some(HYBRID_SPIN_NS),
        };
        // The timer is made inside the runtime, which it needs.
        self.rt
            .block_on(async move {
                tokio::time::timeout(limit, async move {
                    match spin_ns {
                        None => fut.await,
                        Some(ns) => spin(fut, Duration::from_nanos(ns)).await,
                    }
                })
                .await
            })
            .map_err(|_| TransportError::Timeout(limit))
    }
}

/// Awaits `fut` by polling it and yielding in turn for up to `budget`, then by sleeping.
async fn spin<F: Future>(fut: F, budget: Duration) -> F::Output {
    let mut fut = pin!(fut);
    let start = Instant::now();
    loop {
        if let Poll::Ready(v) = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
            return v;
        }
        // A clock read is small beside the zero-timeout epoll_wait of every turn.
        if start.elapsed() >= budget {
            return fut.await;
        }
        tokio::task::yield_now().await;
    }
}
