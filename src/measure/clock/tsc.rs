//! The invariant time-stamp counter as a clock: whether this machine has one the kernel trusts,
//! one read of it, and its conversion to `CLOCK_MONOTONIC` nanoseconds.
//!
//! The conversion is the kernel's own scheme for its `tsc` clocksource, calibrated here instead of
//! read from the kernel: `ns = mono0 + ((ticks - tsc0) * mult) >> SHIFT`, one 64x64->128-bit
//! multiply and a shift per read, no division and no float. `mult` comes from two (TSC,
//! `CLOCK_MONOTONIC`) pairs taken [`CALIBRATION_WINDOW`] apart; each pair is the tightest of many
//! bracketed readings (`mono, tsc, mono`), so the pair's error is half the best bracket (tens of
//! ns), a few ppm of the window.

#![allow(unsafe_code)] // rdtscp, and the installed calibration behind one atomic pointer

use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The fixed-point position of [`Calibration::mult`]: ns per tick times 2^32. At 2-4 GHz a tick
/// is 0.25-0.5 ns, so `mult` has 31-32 significant bits: its rounding is below 0.001 ppm.
pub const SHIFT: u32 = 32;
/// Time between the two pairs of a calibration.
pub const CALIBRATION_WINDOW: Duration = Duration::from_millis(20);
/// Bracketed readings per pair; the tightest wins.
const PAIR_TRIES: usize = 64;

/// Ticks to `CLOCK_MONOTONIC` nanoseconds: the one conversion both processes of a run use (the
/// initiator measures it and sends it to its peers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calibration {
    /// The TSC at the anchor.
    pub tsc0: u64,
    /// `CLOCK_MONOTONIC` at the anchor, ns.
    pub mono0_ns: u64,
    /// Nanoseconds per tick, fixed point with [`SHIFT`] fractional bits.
    pub mult: u64,
}

/// A TSC reading and the `CLOCK_MONOTONIC` time it was taken at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair {
    pub ticks: u64,
    pub mono_ns: u64,
}

impl Calibration {
    /// The line through two pairs, anchored at the later one; `None` unless both clocks moved
    /// forward between them.
    pub fn from_pairs(a: Pair, b: Pair) -> Option<Calibration> {
        let ticks = b.ticks.checked_sub(a.ticks).filter(|&t| t > 0)?;
        let ns = b.mono_ns.checked_sub(a.mono_ns).filter(|&n| n > 0)?;
        let mult = ((ns as u128) << SHIFT) / ticks as u128;
        Some(Calibration { tsc0: b.ticks, mono0_ns: b.mono_ns, mult: u64::try_from(mult).ok()? })
    }

    /// `ticks` as `CLOCK_MONOTONIC` nanoseconds. A reading from before the anchor (another
    /// machine's counter, say) converts to the anchor: the clock check then sees it fall outside.
    #[inline(always)]
    pub fn to_ns(&self, ticks: u64) -> u64 {
        let delta = ticks.saturating_sub(self.tsc0);
        // 64 x 64 bits fits 128: no overflow for any delta; the shift brings it back to ns,
        // which fit u64 for centuries at any rate above 1 tick/ns * 2^-32.
        self.mono0_ns.wrapping_add(((delta as u128 * self.mult as u128) >> SHIFT) as u64)
    }

    /// Ticks per second.
    pub fn ticks_per_s(&self) -> u64 {
        ((1_000_000_000u128 << SHIFT) / self.mult.max(1) as u128) as u64
    }

    /// How far this conversion has drifted from `CLOCK_MONOTONIC` by the time of `now` (a fresh
    /// pair): the conversion's error there in ppm of the time since the anchor, positive when the
    /// converted TSC runs ahead. `None` when less than a millisecond has passed (too short to say).
    pub fn drift_ppm(&self, now: Pair) -> Option<f64> {
        let elapsed_ns = now.mono_ns.checked_sub(self.mono0_ns).filter(|&e| e >= 1_000_000)?;
        let error_ns = self.to_ns(now.ticks) as i128 - now.mono_ns as i128;
        Some(error_ns as f64 * 1e6 / elapsed_ns as f64)
    }

    /// Measures the conversion on this machine: a pair, [`CALIBRATION_WINDOW`] of sleep, a pair.
    pub fn measure() -> Option<Calibration> {
        let a = pair();
        std::thread::sleep(CALIBRATION_WINDOW);
        Calibration::from_pairs(a, pair())
    }
}

/// The conversion in use, or null for `CLOCK_MONOTONIC`. Every non-null value is a
/// `Box::leak`ed [`Calibration`], never freed and never written again (one per [`install`]: a
/// few per process).
static INSTALLED: AtomicPtr<Calibration> = AtomicPtr::new(std::ptr::null_mut());

/// The conversion in use, if the TSC is the clock.
#[inline(always)]
pub fn installed() -> Option<&'static Calibration> {
    // SYNC POINT: Acquire pairs with the Release store in `install`: a non-null pointer is a
    // fully written Calibration.
    let cal = INSTALLED.load(Ordering::Acquire);
    // SAFETY:
    // - a non-null `cal` was stored by `install` from `Box::leak`: valid for 'static, never freed;
    // - nothing writes through it after that store, so a shared reference is sound.
    unsafe { cal.as_ref() }
}

/// Makes `cal` the conversion in use (`None`: `CLOCK_MONOTONIC`). The one it replaces is leaked
/// (24 bytes), since a reader on another thread may still hold it.
pub fn install(cal: Option<Calibration>) {
    let ptr = cal.map_or(std::ptr::null_mut(), |c| Box::leak(Box::new(c)) as *mut Calibration);
    // SYNC POINT: Release pairs with the Acquire load in `installed`.
    INSTALLED.store(ptr, Ordering::Release);
}

/// The tightest of [`PAIR_TRIES`] bracketed readings (`mono, tsc, mono`), the TSC reading
/// matched to its bracket's middle.
pub fn pair() -> Pair {
    let mut best = (u64::MAX, Pair { ticks: 0, mono_ns: 0 });
    for _ in 0..PAIR_TRIES {
        let before = super::monotonic_ns();
        let ticks = ticks();
        let after = super::monotonic_ns();
        let width = after - before;
        if width < best.0 {
            best = (width, Pair { ticks, mono_ns: before + width / 2 });
        }
    }
    best.1
}

/// One read of the time-stamp counter. `rdtscp` waits until every earlier instruction has
/// executed (as the kernel's own `rdtsc_ordered` does), so a stamp taken after a receive is not
/// hoisted above it. Only meaningful where [`unusable_because`] is `None`.
#[inline(always)]
pub fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        let mut cpu_id = 0u32;
        // SAFETY:
        // - `__rdtscp` only reads the counter and IA32_TSC_AUX into `cpu_id`, a live local;
        // - the instruction exists wherever it is called for a timestamp: the clock is only
        //   installed after `unusable_because` found the `rdtscp` flag (without it this would
        //   fault, not misbehave silently).
        unsafe { core::arch::x86_64::__rdtscp(&mut cpu_id) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

/// Why the TSC cannot serve as this machine's clock, or `None` when it can: an x86_64 CPU whose
/// flags promise a counter that runs at one rate in every power state (`constant_tsc`,
/// `nonstop_tsc`) and can be read ordered (`rdtscp`), and a kernel that trusts it enough to keep
/// time with it (its current clocksource is `tsc`, so it found the counter synchronized across CPUs).
pub fn unusable_because() -> Option<String> {
    if !cfg!(target_arch = "x86_64") {
        return Some(format!("the TSC is read on x86_64 only, this is {}", std::env::consts::ARCH));
    }
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo");
    let clocksource = std::fs::read_to_string(CLOCKSOURCE);
    match (cpuinfo, clocksource) {
        (Err(e), _) => Some(format!("cannot read /proc/cpuinfo: {e}")),
        (_, Err(e)) => Some(format!("cannot read {CLOCKSOURCE}: {e}")),
        (Ok(cpuinfo), Ok(source)) => judge(&cpuinfo, &source).err(),
    }
}

/// Where the kernel names the clocksource it keeps time with.
pub const CLOCKSOURCE: &str = "/sys/devices/system/clocksource/clocksource0/current_clocksource";

/// The flags [`unusable_because`] requires.
pub const REQUIRED_FLAGS: [&str; 3] = ["constant_tsc", "nonstop_tsc", "rdtscp"];

/// Judges /proc/cpuinfo's text and the current clocksource's (see [`unusable_because`]).
pub fn judge(cpuinfo: &str, clocksource: &str) -> Result<(), String> {
    let flags = cpuinfo
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim() == "flags").map(|(_, v)| v))
        .ok_or("/proc/cpuinfo lists no CPU flags")?;
    let missing: Vec<&str> =
        REQUIRED_FLAGS.iter().copied().filter(|f| !flags.split_whitespace().any(|g| g == *f)).collect();
    if !missing.is_empty() {
        return Err(format!("the CPU flags lack {}", missing.join(", ")));
    }
    match clocksource.trim() {
        "tsc" => Ok(()),
        other => Err(format!("the kernel keeps time with the {other} clocksource, not tsc")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GHZ_3: u64 = (1u64 << SHIFT) / 3; // 1/3 ns per tick

    #[test]
    fn a_calibration_converts_ticks_on_the_line_through_its_two_pairs() {
        let a = Pair { ticks: 1_000_000, mono_ns: 5_000 };
        let b = Pair { ticks: 61_000_000, mono_ns: 20_005_000 }; // 3 ticks per ns
        let c = Calibration::from_pairs(a, b).unwrap();
        assert_eq!((c.tsc0, c.mono0_ns), (61_000_000, 20_005_000), "anchored at the later pair");
        assert_eq!(c.mult, (1u64 << SHIFT) / 3);
        assert_eq!(c.to_ns(b.ticks), b.mono_ns);
        assert_eq!(c.to_ns(b.ticks + 3_000), b.mono_ns + 999, "rounds down");
        assert_eq!(c.to_ns(b.ticks + 3_000_000_000), b.mono_ns + 999_999_999);
        assert_eq!(c.ticks_per_s(), 3_000_000_000, "the rate, rounded down");
    }

    #[test]
    fn conversion_neither_overflows_nor_goes_back_before_the_anchor() {
        let c = Calibration { tsc0: 1_000, mono0_ns: 7, mult: GHZ_3 };
        assert_eq!(c.to_ns(999), 7, "an earlier reading converts to the anchor");
        assert_eq!(c.to_ns(0), 7);
        // A century at 3 GHz: 9.5e18 ticks; the 128-bit product does not overflow.
        let century_ticks = 3 * 3_155_760_000_000_000_000u64;
        let ns = c.to_ns(c.tsc0 + century_ticks);
        assert!(ns.abs_diff(7 + 3_155_760_000_000_000_000) < 1_000_000_000, "{ns}");
    }

    #[test]
    fn a_calibration_needs_both_clocks_to_move_forward() {
        let a = Pair { ticks: 10, mono_ns: 10 };
        assert_eq!(Calibration::from_pairs(a, a), None);
        assert_eq!(Calibration::from_pairs(a, Pair { ticks: 5, mono_ns: 20 }), None);
        assert_eq!(Calibration::from_pairs(a, Pair { ticks: 20, mono_ns: 5 }), None);
    }

    #[test]
    fn drift_is_the_conversion_error_in_ppm_of_the_time_since_the_anchor() {
        let c = Calibration { tsc0: 0, mono0_ns: 0, mult: GHZ_3 * 3 + 1 }; // ~1 ns per tick
        let on_time = Pair { ticks: 1_000_000_000, mono_ns: 1_000_000_000 };
        assert!(c.drift_ppm(on_time).unwrap().abs() < 0.001);
        // The monotonic clock moved 50 us less in a second: the TSC runs 50 ppm ahead of it.
        let ahead = Pair { ticks: 1_000_000_000, mono_ns: 999_950_000 };
        let ppm = c.drift_ppm(ahead).unwrap();
        assert!((ppm - 50.0).abs() < 0.01, "{ppm}");
        assert_eq!(c.drift_ppm(Pair { ticks: 10, mono_ns: 999_999 }), None, "too soon to say");
    }

    #[test]
    fn the_tsc_is_usable_only_with_every_flag_and_the_tsc_clocksource() {
        let good = "processor\t: 0\nflags\t\t: fpu tsc rdtscp constant_tsc nonstop_tsc lm\nbugs\t\t:\n";
        assert_eq!(judge(good, "tsc\n"), Ok(()));
        let e = judge(good, "kvm-clock\n").unwrap_err();
        assert_eq!(e, "the kernel keeps time with the kvm-clock clocksource, not tsc");
        let old = "flags\t\t: fpu tsc rdtscp constant_tsc\n";
        assert_eq!(judge(old, "tsc").unwrap_err(), "the CPU flags lack nonstop_tsc");
        // `constant_tsc_x` is not `constant_tsc`; aarch64's cpuinfo says `Features`, not `flags`.
        assert_eq!(
            judge("flags : constant_tsc_x nonstop_tsc\n", "tsc").unwrap_err(),
            "the CPU flags lack constant_tsc, rdtscp"
        );
        assert_eq!(
            judge("Features\t: fp asimd\n", "arch_sys_counter").unwrap_err(),
            "/proc/cpuinfo lists no CPU flags"
        );
    }
}
