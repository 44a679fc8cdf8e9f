//! One side's part of a run on every concurrent pair at once: pair 0 on the calling thread (the
//! pinned one), the others on scoped threads that inherit its affinity; their results merged.
//! The initiator and the peer share this.

use crate::measure::sample_pool::SamplePool;
use crate::pattern::{self, Params, Progress, SideResult};
use crate::transport::{Connection, TransportError};

/// Runs `part(pair index, connection)` on every connection at once and merges the results; the
/// first error wins.
pub fn on_every_pair<F>(conns: &mut [Connection], part: F) -> Result<SideResult, TransportError>
where
    F: Fn(usize, &mut Connection) -> Result<SideResult, TransportError> + Sync,
{
    let (first, rest) = conns.split_first_mut().expect("at least one pair");
    let part = &part;
    std::thread::scope(|s| {
        let others: Vec<_> =
            rest.iter_mut().enumerate().map(|(i, c)| s.spawn(move || part(i + 1, c))).collect();
        let mine = part(0, first);
        others.into_iter().fold(mine, |acc, h| match (acc, h.join().expect("a pair's thread panicked")) {
            (Ok(mut a), Ok(b)) => {
                a.absorb(b);
                Ok(a)
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        })
    })
}

/// The initiator's part of `params` on one connection, its samples into `samples` if given.
pub fn initiate(
    conn: &mut Connection,
    params: &Params,
    progress: &Progress,
    samples: Option<&SamplePool>,
) -> Result<SideResult, TransportError> {
    crate::with_transport!(conn, t => pattern::initiate(t, params, progress, samples))
}

/// The peer's part of `params` on one connection, its samples into `samples` if given.
pub fn take_part(
    conn: &mut Connection,
    params: &Params,
    samples: Option<&SamplePool>,
) -> Result<SideResult, TransportError> {
    crate::with_transport!(conn, t => pattern::take_part(t, params, samples))
}
