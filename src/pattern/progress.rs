//! A progress counter the timed loop updates cheaply and a display thread reads.

use std::sync::atomic::{AtomicU64, Ordering};

/// Shared progress counter: messages done, stored every 1,024 messages (one relaxed store).
#[derive(Debug, Default)]
pub struct Progress(AtomicU64);

impl Progress {
    #[inline(always)]
    pub(super) fn tick(&self, done: u64) {
        if done & 1023 == 0 {
            // Relaxed: a display hint only; no other memory is published through it.
            self.0.store(done, Ordering::Relaxed);
        }
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
