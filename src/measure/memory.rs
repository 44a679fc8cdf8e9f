//! A process's peak resident memory, from `getrusage(RUSAGE_SELF)`: `ru_maxrss`, the largest
//! resident set the process has had since it started (the kernel counts it in KiB). Read at the
//! end of every run, never inside a timed loop; it only grows, so a run's figure is the peak up
//! to and including that run.

use serde::{Deserialize, Serialize};

/// Each side's peak resident memory as a run ended (`max_rss_bytes` of a result).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxRss {
    /// The initiator's process (`ipcbench run` or `ipcbench host`), bytes.
    pub initiator: u64,
    /// The peer's process, bytes; with several peers (fan-out, fan-in, many-clients) the
    /// largest of them. Absent against an external service (`--connect`) or a peer too old to
    /// report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<u64>,
}

/// This process's peak resident memory in bytes so far; 0 where the kernel cannot say.
pub fn max_rss_bytes() -> u64 {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_SELF).map_or(0, |u| u64::try_from(u.max_rss()).unwrap_or(0) * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_peak_is_at_least_what_this_process_holds_now() {
        // 16 MiB touched page by page is resident, so the peak is at least that.
        let held = vec![1u8; 16 << 20];
        let peak = super::max_rss_bytes();
        assert!(peak >= held.len() as u64, "{peak}");
        assert_eq!(peak % 1024, 0, "counted in KiB");
        drop(held);
        assert!(super::max_rss_bytes() >= peak, "a peak never shrinks");
    }
}
