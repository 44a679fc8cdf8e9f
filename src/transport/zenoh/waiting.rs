//! A zenoh side waiting: for a sample (as the wait strategy says, noticing a peer that has
//! gone while letting its last messages in) or for a free shared-memory buffer.

use ::zenoh::sample::Sample;

use super::{io_err, ZenohTransport, DRAIN, SLEEP_SLICE, SPIN_CHECK};
use crate::transport::wait::{SpinThenWait, Step};
use crate::transport::{TransportError, TransportResult};

impl ZenohTransport {
    #[inline(never)]
    pub(super) fn next_sample_slow(&mut self) -> TransportResult<Sample> {
        let mut w = SpinThenWait::new(self.wait, self.timeout).checking_every(SPIN_CHECK);
        loop {
            if let Some(s) = self.ports.rx.try_recv().map_err(|e| io_err(format!("zenoh subscriber: {e}")))? {
                return Ok(s);
            }
            match w.step() {
                Step::Again => {}
                Step::Check => {
                    if let Some(s) = self.check_peer(&mut w)? {
                        return Ok(s);
                    }
                }
                Step::Sleep(left) => {
                    let slice = left.min(SLEEP_SLICE);
                    match self.ports.rx.recv_timeout(slice) {
                        Ok(Some(s)) => return Ok(s),
                        Ok(None) => {
                            if let Some(s) = self.check_peer(&mut w)? {
                                return Ok(s);
                            }
                        }
                        Err(e) => return Err(io_err(format!("zenoh subscriber: {e}"))),
                    }
                }
                Step::Elapsed => {
                    if let Some(s) = self.check_peer(&mut w)? {
                        return Ok(s);
                    }
                    return Err(TransportError::Timeout(w.limit()));
                }
            }
        }
    }

    /// Whether the wait may go on: an error once the peer is gone or the limit has passed.
    /// A peer that sent its last messages and closed (its session flushes them first) may
    /// have some still on their way through zenoh's receiving thread: they are waited for, up
    /// to [`DRAIN`], and the first is returned.
    #[cold]
    fn check_peer(&self, w: &mut SpinThenWait) -> TransportResult<Option<Sample>> {
        if self.peer_gone() {
            return match self.ports.rx.recv_timeout(DRAIN) {
                Ok(Some(s)) => Ok(Some(s)),
                _ => Err(TransportError::PeerClosed),
            };
        }
        if w.waited_ns() >= w.limit().as_nanos() as u64 {
            return Err(TransportError::Timeout(w.limit()));
        }
        Ok(None)
    }

    /// [`check_peer`](Self::check_peer) for a sender waiting for a buffer.
    pub(super) fn check_alive(&self, w: &mut SpinThenWait) -> TransportResult<()> {
        if self.peer_gone() {
            return Err(TransportError::PeerClosed);
        }
        if w.waited_ns() >= w.limit().as_nanos() as u64 {
            return Err(TransportError::Timeout(w.limit()));
        }
        Ok(())
    }
}
