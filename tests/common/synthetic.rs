//! Synthetic histories for the change-point detection's figures (`tests/history.rs` and
//! `examples/history_power.rs`, run by `tools/history_power.sh`): Gaussian noise around a
//! level, from a seeded generator, so every run of the figures gives the same numbers.

use ipcbench::history::edivisive::{change_points, Settings};

/// SplitMix64: small, seedable, and good enough for noise.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// `len` points around 100 with a coefficient of variation `cv`, times `factor(i)` at point i.
pub fn series(rng: &mut Rng, len: usize, cv: f64, factor: impl Fn(usize) -> f64) -> Vec<f64> {
    (0..len).map(|i| 100.0 * factor(i) * (1.0 + cv * rng.normal())).collect()
}

/// The three figures of issue 21, each over `n` series at 2.5% CV.
#[derive(Debug)]
pub struct Figures {
    pub n: usize,
    /// Flat series of 100 commits with any change point.
    pub false_positives: usize,
    /// Flat series of 100 commits with +30% spikes at commits 30 and 70, with any change point.
    pub spikes_flagged: usize,
    /// 65 commits with a +5% step at commit 60: found at 60, found within one commit, any change
    /// point at all.
    pub step_at: usize,
    pub step_near: usize,
    pub step_any: usize,
}

pub fn figures(n: usize, settings: &Settings, seed: u64) -> Figures {
    let mut rng = Rng::new(seed);
    let cv = 0.025;
    let mut f = Figures { n, false_positives: 0, spikes_flagged: 0, step_at: 0, step_near: 0, step_any: 0 };
    for _ in 0..n {
        let flat = series(&mut rng, 100, cv, |_| 1.0);
        f.false_positives += usize::from(!change_points(&flat, settings).is_empty());
        let spiky = series(&mut rng, 100, cv, |i| if i == 30 || i == 70 { 1.3 } else { 1.0 });
        f.spikes_flagged += usize::from(!change_points(&spiky, settings).is_empty());
        let step = series(&mut rng, 65, cv, |i| if i >= 60 { 1.05 } else { 1.0 });
        let found: Vec<usize> = change_points(&step, settings).iter().map(|c| c.index).collect();
        f.step_at += usize::from(found.contains(&60));
        f.step_near += usize::from(found.iter().any(|&i| i.abs_diff(60) <= 1));
        f.step_any += usize::from(!found.is_empty());
    }
    f
}
