//! The one clock every timestamp comes from, in integer nanoseconds on the `CLOCK_MONOTONIC`
//! scale: `CLOCK_MONOTONIC` itself (through the vDSO, rustix), or the invariant TSC converted
//! to it ([`tsc`]), chosen once per process before any timed loop ([`ClockSource`]).
//!
//! Both processes of a run read the same clock, so a send stamp taken by one process and a
//! receive stamp taken by the other can be subtracted (one-way latency): with the TSC, the
//! initiator sends its [`Calibration`] to the peer, which converts its own readings with it.
//! [`ClockCheck`] verifies that the two agree. A read costs what [`read_overhead_ns`] measures,
//! once per run, so that users can see what it adds to every sample.

mod tsc;

use rustix::time::{clock_gettime, ClockId};
use serde::{Deserialize, Serialize};

pub use tsc::{judge as judge_tsc, unusable_because as tsc_unusable_because, Calibration};

/// The clock timestamps come from.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum ClockSource {
    /// `CLOCK_MONOTONIC` through the vDSO (clock_gettime).
    #[default]
    Monotonic,
    /// The invariant TSC (rdtscp), converted to `CLOCK_MONOTONIC` nanoseconds by a calibration
    /// taken at start.
    Tsc,
}

crate::display_as_value_name!(ClockSource, ClockChoice);

/// `--clock`: a clock, or `auto`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ClockChoice {
    /// tsc where it is safe (x86_64, constant_tsc and nonstop_tsc, the kernel's clocksource is
    /// tsc), else monotonic.
    #[default]
    Auto,
    /// CLOCK_MONOTONIC through the vDSO (clock_gettime).
    Monotonic,
    /// The invariant TSC (rdtscp) converted to CLOCK_MONOTONIC ns; refused where it is not safe.
    Tsc,
}

impl ClockChoice {
    /// The clock this choice means on this machine; an explicit `tsc` where the TSC is not safe
    /// is an error saying why.
    pub fn resolve(self) -> Result<ClockSource, String> {
        match (self, tsc::unusable_because()) {
            (ClockChoice::Monotonic, _) | (ClockChoice::Auto, Some(_)) => Ok(ClockSource::Monotonic),
            (ClockChoice::Tsc | ClockChoice::Auto, None) => Ok(ClockSource::Tsc),
            (ClockChoice::Tsc, Some(why)) => Err(format!("--clock tsc: {why} (use --clock monotonic)")),
        }
    }
}

impl ClockSource {
    /// How messages name it.
    pub fn name(self) -> &'static str {
        match self {
            ClockSource::Monotonic => "CLOCK_MONOTONIC",
            ClockSource::Tsc => "TSC clock",
        }
    }
}

/// Nanoseconds on the `CLOCK_MONOTONIC` scale from the clock in use.
///
/// The choice costs one load and a branch that always goes the same way in a process (the
/// clock is installed before any timed loop): [`read_overhead_ns`] through it is the same as
/// a direct read of either clock, within a nanosecond (docs/measuring.md, "The clock").
#[inline(always)]
pub fn now_ns() -> u64 {
    match tsc::installed() {
        None => monotonic_ns(),
        Some(cal) => cal.to_ns(tsc::ticks()),
    }
}

/// Nanoseconds on `CLOCK_MONOTONIC`, whatever clock is in use.
#[inline(always)]
pub fn monotonic_ns() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    // The monotonic clock is never negative; seconds fit u64 nanoseconds for 584 years of uptime.
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Makes every later [`now_ns`] (on every thread) read `CLOCK_MONOTONIC` (`None`) or the TSC
/// converted by `cal`. Call it before any timed loop starts, never during one.
pub fn install(cal: Option<Calibration>) {
    tsc::install(cal);
}

/// The clock [`now_ns`] reads.
pub fn in_use() -> ClockSource {
    if calibration().is_some() {
        ClockSource::Tsc
    } else {
        ClockSource::Monotonic
    }
}

/// The TSC conversion in use, if the TSC is the clock.
pub fn calibration() -> Option<Calibration> {
    tsc::installed().copied()
}

/// The initiator's start: installs `source`, calibrating the TSC against `CLOCK_MONOTONIC`
/// first (about [`tsc::CALIBRATION_WINDOW`]).
pub fn start(source: ClockSource) -> anyhow::Result<()> {
    let cal = match source {
        ClockSource::Monotonic => None,
        ClockSource::Tsc => Some(Calibration::measure().ok_or_else(|| {
            anyhow::anyhow!("calibrating the TSC: it did not advance with CLOCK_MONOTONIC")
        })?),
    };
    install(cal);
    Ok(())
}

/// A peer's side of the initiator's clock: installs the same conversion (`None`: monotonic) if
/// this machine can read the TSC, else says why not.
pub fn adopt(cal: Option<Calibration>) -> Result<(), String> {
    if cal.is_some() {
        if let Some(why) = tsc::unusable_because() {
            return Err(format!("this peer cannot read the initiator's TSC clock: {why}"));
        }
    }
    install(cal);
    Ok(())
}

/// The largest calibration drift (ppm, either way) taken as sane. `CLOCK_MONOTONIC` is steered
/// by NTP (at most 500 ppm, usually a few); a TSC conversion off by more than this over a run
/// has met a frequency change or a clock step, and its one-way figures are suspect.
pub const DRIFT_WARN_PPM: f64 = 100.0;

/// The clock in use as a result records it (the initiator's `environment.clock`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClockInfo {
    /// Where every timestamp came from (`--clock`, with `auto` resolved). The cost of one read is
    /// the environment's `clock_read_overhead_ns`.
    pub source: ClockSource,
    /// TSC ticks per second, from the calibration at start (tsc only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsc_hz: Option<u64>,
    /// The calibration checked at the end: how far the converted TSC had moved from
    /// `CLOCK_MONOTONIC`, in ppm of the time since the calibration; positive when the TSC ran
    /// ahead (tsc only; absent until the invocation ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_ppm: Option<f64>,
    /// Set when `drift_ppm` is beyond ±[`DRIFT_WARN_PPM`]: what the output warned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl ClockInfo {
    /// The clock in use, before its end check.
    pub fn current() -> ClockInfo {
        let cal = calibration();
        ClockInfo { source: in_use(), tsc_hz: cal.map(|c| c.ticks_per_s()), drift_ppm: None, warning: None }
    }

    /// Checks the calibration in use against `CLOCK_MONOTONIC` now, recording the drift and a
    /// warning beyond [`DRIFT_WARN_PPM`]; returns the warning.
    pub fn check_drift(&mut self) -> Option<&str> {
        let ppm = calibration()?.drift_ppm(tsc::pair())?;
        self.drift_ppm = Some((ppm * 1000.0).round() / 1000.0);
        self.warning = (ppm.abs() > DRIFT_WARN_PPM).then(|| {
            format!(
                "the TSC drifted {ppm:+.1} ppm from CLOCK_MONOTONIC during the run (more than ±{DRIFT_WARN_PPM} ppm): \
                 latencies may be off by that fraction; rerun with --clock monotonic to compare"
            )
        });
        self.warning.as_deref()
    }
}

/// Median cost of one [`now_ns`] call, from 101 batches of 1,000 back-to-back reads.
pub fn read_overhead_ns() -> u64 {
    const BATCH: u64 = 1_000;
    let mut per_read: Vec<u64> = (0..101)
        .map(|_| {
            let start = now_ns();
            let mut last = start;
            for _ in 0..BATCH {
                last = std::hint::black_box(now_ns());
            }
            (last - start) / BATCH
        })
        .collect();
    per_read.sort_unstable();
    per_read[per_read.len() / 2]
}

/// Whether the two sides read the same clock (the one in use: `CLOCK_MONOTONIC`, or the TSC
/// converted by the initiator's calibration): every peer reading taken between the initiator's
/// readings before and after it asked. A peer in another time namespace (an offset
/// `CLOCK_MONOTONIC`), on another machine or in a VM with its own TSC offset fails it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockCheck {
    /// The clocks are one kernel clock: one-way latency (receive - send) is meaningful.
    pub same_clock: bool,
    pub probes: u32,
    /// The largest distance of a peer reading outside its bracket, ns (0 when same).
    pub worst_outside_ns: u64,
    /// The shortest probe round trip, ns: the resolution of the check.
    pub best_round_trip_ns: u64,
}

impl ClockCheck {
    /// Judges probes of (initiator before, peer, initiator after).
    pub fn from_probes(probes: &[(u64, u64, u64)]) -> ClockCheck {
        let outside = |&(before, peer, after): &(u64, u64, u64)| {
            if peer < before {
                before - peer
            } else {
                peer.saturating_sub(after)
            }
        };
        let worst_outside_ns = probes.iter().map(outside).max().unwrap_or(u64::MAX);
        ClockCheck {
            same_clock: !probes.is_empty() && worst_outside_ns == 0,
            probes: probes.len() as u32,
            worst_outside_ns,
            best_round_trip_ns: probes.iter().map(|(b, _, a)| a - b).min().unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_never_goes_backwards() {
        let mut last = now_ns();
        for _ in 0..100_000 {
            let t = now_ns();
            assert!(t >= last, "clock went back from {last} to {t}");
            last = t;
        }
    }

    #[test]
    fn clock_read_overhead_is_below_a_millisecond() {
        // A broken clock source (a syscall per read on a bad VM is ~1 µs, still fine) would show here.
        assert!(read_overhead_ns() < 1_000_000);
    }

    #[test]
    fn clocks_match_only_when_every_reading_falls_inside_its_bracket() {
        let same = ClockCheck::from_probes(&[(100, 150, 200), (300, 300, 310)]);
        assert!(same.same_clock);
        assert_eq!(same.best_round_trip_ns, 10);
        let offset = ClockCheck::from_probes(&[(100, 150, 200), (300, 5_000, 310)]);
        assert!(!offset.same_clock);
        assert_eq!(offset.worst_outside_ns, 4_690);
        assert!(!ClockCheck::from_probes(&[]).same_clock);
    }
}
