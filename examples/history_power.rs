//! The change-point detection's figures on synthetic histories (issue 21), printed as a table:
//! false positives over flat series, spikes flagged, a +5% step found. Run by
//! `tools/history_power.sh`.
//!
//!   history_power [SERIES] [P-VALUE] [MIN-MAGNITUDE] [WINDOW] [MIN-SEGMENT] [SEED]

#[path = "../tests/common/synthetic.rs"]
mod synthetic;

use ipcbench::history::edivisive::Settings;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    let n: usize = arg(0, "1000").parse().expect("SERIES");
    let settings = Settings {
        p_value: arg(1, "0.001").parse().expect("P-VALUE"),
        min_magnitude: arg(2, "0.04").parse().expect("MIN-MAGNITUDE"),
        window: arg(3, "50").parse().expect("WINDOW"),
        min_segment: arg(4, "2").parse().expect("MIN-SEGMENT"),
    };
    let seed: u64 = arg(5, "21").parse().expect("SEED");
    let f = synthetic::figures(n, &settings, seed);
    let pct = |k: usize| format!("{:.1}%", 100.0 * k as f64 / f.n as f64);
    println!(
        "{n} series per row, 2.5% CV; p < {}, magnitude over {}%, windows of {}, segments of {}+, seed {seed}",
        settings.p_value,
        settings.min_magnitude * 100.0,
        settings.window,
        settings.min_segment
    );
    println!(
        "flat, 100 commits: any change point          {:>6}  (target at most 5%)",
        pct(f.false_positives)
    );
    println!("two +30% one-commit spikes: any change point {:>6}  (target none)", pct(f.spikes_flagged));
    println!("+5% step at commit 60 of 65: found at 60     {:>6}  (target at least 90%)", pct(f.step_at));
    println!("                             within 1 commit {:>6}", pct(f.step_near));
    println!("                             any change point{:>6}", pct(f.step_any));
}
