//! The change-point analysis of one series of 10,000 commits at `history check`'s defaults
//! (issue 21: under a second): flat noise, and noise with a step every 1,000 commits.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ipcbench::history::edivisive::{change_points, Settings};

/// Deterministic noise around 100 (2.5%, uniform; the analysis' cost depends on the length,
/// not on the distribution).
fn series(len: usize, steps: bool) -> Vec<f64> {
    let mut state: u64 = 21;
    (0..len)
        .map(|i| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            let level = if steps { 100.0 + 10.0 * (i / 1000) as f64 } else { 100.0 };
            level * (1.0 + 0.025 * (2.0 * u - 1.0) * 1.73)
        })
        .collect()
}

fn analyse(c: &mut Criterion) {
    let settings = Settings { window: 50, p_value: 0.001, min_magnitude: 0.04, min_segment: 2 };
    let mut g = c.benchmark_group("history");
    g.sample_size(10);
    for (name, steps) in [("10000_flat", false), ("10000_steps", true)] {
        let s = series(10_000, steps);
        g.bench_function(name, |b| b.iter(|| change_points(black_box(&s), &settings)));
    }
    g.finish();
}

criterion_group!(benches, analyse);
criterion_main!(benches);
