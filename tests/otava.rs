//! Our change points are Apache Otava's: every case of Otava's own tests (tests/data/otava.json:
//! the series and the indices Otava's tests assert) gives the same indices here.

use ipcbench::history::edivisive::{change_points, divisive, Settings};

fn fixtures() -> serde_json::Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/otava.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn numbers(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn indices(v: &serde_json::Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

#[test]
fn every_windowed_case_of_otavas_tests_gives_otavas_indices() {
    let f = fixtures();
    let mut failed = Vec::new();
    for case in f["windowed"].as_array().unwrap() {
        let series = numbers(&f["series"][case["series"].as_str().unwrap()]);
        let settings = Settings {
            window: case["window"].as_u64().unwrap() as usize,
            p_value: case["p_value"].as_f64().unwrap(),
            min_magnitude: case["min_magnitude"].as_f64().unwrap(),
            // Otava has no minimum segment: 1 turns ours off.
            min_segment: 1,
        };
        let got: Vec<usize> = change_points(&series, &settings).iter().map(|c| c.index).collect();
        let want = indices(&case["expected"]);
        if got != want {
            failed.push(format!("{}: got {got:?}, Otava {want:?}", case["name"]));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn one_divisive_pass_over_otavas_small_sequence_splits_where_otava_does() {
    let f = fixtures();
    for case in f["whole"].as_array().unwrap() {
        let series = numbers(&f["series"][case["series"].as_str().unwrap()]);
        let got = divisive(&series, case["p_value"].as_f64().unwrap());
        assert_eq!(got, indices(&case["expected"]), "{}", case["name"]);
    }
}
