//! The change-point detection on synthetic histories at `history check`'s defaults, with the
//! figures `tools/history_power.sh` prints (docs/history.md): few false positives on flat
//! series, no change point from one-commit spikes, and a +5% step found.

#[path = "common/synthetic.rs"]
mod synthetic;

use ipcbench::history::edivisive::Settings;
use synthetic::figures;

const DEFAULTS: Settings = Settings { window: 50, p_value: 0.001, min_magnitude: 0.04, min_segment: 2 };

#[test]
fn flat_series_rarely_show_a_change_point_spikes_never_do_and_a_five_percent_step_is_found() {
    let f = figures(1000, &DEFAULTS, 21);
    assert_eq!(f.n, 1000);
    // Issue 21: at most 5% of flat series with any change point.
    assert!(f.false_positives <= 50, "{f:?}");
    // Two one-commit +30% spikes add nothing to the flat series' rate.
    assert!(f.spikes_flagged <= f.false_positives, "{f:?}");
    // A +5% step at 2.5% noise is a 2-sigma step: even an oracle that knows both levels places
    // it exactly in about 64% of series with 5 commits after it (87% within one commit), so the
    // issue's 90% at the exact commit cannot be met; these are the figures this method reaches.
    assert!(f.step_at >= 450, "{f:?}");
    assert!(f.step_near >= 630, "{f:?}");
}

#[test]
fn with_one_commit_segments_allowed_spikes_do_show_as_change_points() {
    let otava = Settings { min_segment: 1, ..DEFAULTS };
    let f = figures(300, &otava, 21);
    let g = figures(300, &DEFAULTS, 21);
    assert!(f.spikes_flagged > g.spikes_flagged, "{f:?} against {g:?}");
}
