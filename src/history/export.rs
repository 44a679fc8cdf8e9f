//! `ipcbench history export --format csv`: a branch's history as the CSV Apache Otava reads
//! (`type: csv`, `time_column: time`, `attributes: [commit]`, the metric columns as its
//! `metrics`), so its detection can be checked against Otava's own. One row per commit, oldest
//! first; one column per series, holding the median of the commit's values (the value
//! `history check` analyses). Otava's CSV reader needs a number in every cell: where a series
//! has no value at a commit, the cell repeats its previous value (its first, before it has one),
//! as Otava fills gaps from its other sources; such a column is not quite the series `check`
//! analyses, which skips the commit.

use std::collections::BTreeMap;

use anyhow::Result;

use super::check::medians;
use super::store::BranchHistory;
use crate::analysis::stats::Metric;

/// A column name without spaces or commas: `uds-round-trip-64-b-block.p50`, the testbed first
/// when the history has several.
pub fn column_name(testbed: Option<&str>, configuration: &str, metric: Metric) -> String {
    let slug = |t: &str| -> String {
        let s: String =
            t.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
        s.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-")
    };
    match testbed {
        Some(t) => format!("{}.{}.{metric}", slug(t), slug(configuration)),
        None => format!("{}.{metric}", slug(configuration)),
    }
}

/// The CSV text of `history`'s series with a metric in `metrics`.
pub fn csv(history: &BranchHistory, metrics: &[Metric]) -> Result<String> {
    let series: Vec<_> = history.series.iter().filter(|s| metrics.contains(&s.metric)).collect();
    let several = series.windows(2).any(|w| w[0].testbed != w[1].testbed);
    let mut times: BTreeMap<&str, &str> = BTreeMap::new();
    let columns: Vec<BTreeMap<&str, f64>> = series
        .iter()
        .map(|s| {
            for p in &s.points {
                times.entry(&p.commit).or_insert(&p.time);
            }
            s.points.iter().map(|p| p.commit.as_str()).zip(medians(s)).collect()
        })
        .collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["time".to_string(), "commit".to_string()];
    header.extend(
        series
            .iter()
            .map(|s| column_name(several.then_some(s.testbed.as_str()), &s.config.to_string(), s.metric)),
    );
    w.write_record(&header)?;
    for commit in &history.commits {
        let mut row = vec![times.get(commit.as_str()).copied().unwrap_or("").to_string(), commit.clone()];
        row.extend(columns.iter().map(|c| {
            let filled = c.get(commit.as_str()).or_else(|| {
                let at = history.commits.iter().position(|x| x == commit).unwrap_or(0);
                let before = history.commits[..at].iter().rev().find_map(|x| c.get(x.as_str()));
                before.or_else(|| history.commits[at..].iter().find_map(|x| c.get(x.as_str())))
            });
            filled.map_or_else(String::new, |v| v.to_string())
        }));
        w.write_record(&row)?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}
