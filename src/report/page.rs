//! The report's HTML page: the comparison of several files, the charts, and each file's
//! environment and runs.

use std::fmt::Write as _;

use serde_json::Value;

use super::{Chart, Input};
use crate::analysis::compare;
use crate::analysis::key::ConfigKey;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An environment value as HTML that wraps within the page: a nested object (the machine
/// fingerprint) as one `key: value` line each, unknown where it is null, and a list as
/// comma-separated items. Before, both were one unbreakable line of JSON wider than the page.
fn env_value(v: &Value) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            a.iter().map(|v| v.to_string().trim_matches('"').to_string()).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    };
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| esc(&format!("{k}: {}", if v.is_null() { "unknown".into() } else { text(v) })))
            .collect::<Vec<_>>()
            .join("<br>\n"),
        other => esc(&text(other)),
    }
}

/// The whole report as one HTML document.
pub fn html(inputs: &[Input], charts: &[Chart]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>ipcbench report</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 2em; color: #222; }}\n\
         table {{ border-collapse: collapse; margin: 1em 0; max-width: 100%; }}\n\
         td, th {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; font-size: 0.9em; }}\n\
         td {{ overflow-wrap: anywhere; }}\n\
         figure {{ margin: 1em 0; }}\n\
         code {{ background: #f4f4f4; padding: 0.1em 0.3em; }}\n\
         </style>\n</head>\n<body>\n<h1>ipcbench report</h1>\n"
    );
    let _ = writeln!(
        h,
        "<p>Result files: {}</p>",
        inputs.iter().map(|i| format!("<code>{}</code>", esc(&i.name))).collect::<Vec<_>>().join(", ")
    );

    // Files that share nothing with the first: their "only in" lists go after the charts.
    let mut unshared = Vec::new();
    if inputs.len() > 1 {
        let base = &inputs[0];
        let comparisons: Vec<(&Input, compare::Comparison)> = inputs[1..]
            .iter()
            .map(|other| (other, compare::compare(&base.summary, &other.summary, &Default::default())))
            .collect();
        let comparable = |c: &compare::Comparison| c.rows.iter().any(|(_, changes)| !changes.is_empty());
        let section = comparisons.iter().any(|(_, c)| comparable(c));
        if section {
            let _ = writeln!(h, "<h2>Relative changes against {}</h2>", esc(&base.name));
        }
        for (other, c) in comparisons {
            if !comparable(&c) {
                let what = if c.rows.is_empty() {
                    "share no configuration".to_string()
                } else {
                    "share configurations, but none with a metric measured in both".to_string()
                };
                if section {
                    let _ = writeln!(h, "<h3>{}</h3>", esc(&other.name));
                }
                let _ = writeln!(
                    h,
                    "<p>{} and {} {what}: nothing to compare.</p>",
                    esc(&base.name),
                    esc(&other.name)
                );
                unshared.push((other, c));
                continue;
            }
            changes_table(&mut h, base, other, &c);
            only_in(&mut h, base, other, &c);
        }
    }

    let _ = writeln!(h, "<h2>Charts</h2>");
    for c in charts {
        let _ =
            writeln!(h, "<figure id=\"{}\" aria-label=\"{}\">\n{}\n</figure>", c.slug, esc(&c.title), c.svg);
    }
    if !unshared.is_empty() {
        let _ = writeln!(h, "<h2>Configurations not compared</h2>");
    }
    for (other, c) in &unshared {
        only_in(&mut h, &inputs[0], other, c);
    }

    let _ = writeln!(h, "<h2>Environments and options</h2>");
    for i in inputs {
        let s = &i.summary;
        let _ = writeln!(
            h,
            "<h3>{}</h3>\n<p>Started {}; command: <code>{}</code></p>",
            esc(&i.name),
            esc(&s.started_at),
            esc(&s.command.join(" "))
        );
        if let Some(e) = &s.error {
            let _ = writeln!(h, "<p><strong>Stopped early:</strong> {}</p>", esc(e));
        }
        // (name, value as HTML)
        let mut rows: Vec<(String, String)> = Vec::new();
        for (side, env) in [("initiator", Some(&s.environment)), ("peer", s.peer_environment.as_ref())] {
            if let Some(env) = env {
                if let Ok(Value::Object(m)) = serde_json::to_value(env) {
                    for (k, v) in m {
                        rows.push((format!("{side}.{k}"), env_value(&v)));
                    }
                }
            }
        }
        if let Some(c) = &s.clock_check {
            rows.push(("clock_check.same_clock".into(), c.same_clock.to_string()));
        }
        let _ = writeln!(h, "<table>");
        for (k, v) in rows {
            let _ = writeln!(h, "<tr><th>{}</th><td>{v}</td></tr>", esc(&k));
        }
        let _ = writeln!(h, "</table>\n<table>\n<tr><th>configuration</th><th>repetition</th><th>warm-up</th><th>placement (requested / observed)</th><th>count</th></tr>");
        for r in &s.runs {
            let p = &r.placement;
            let req = match (p.initiator_cpu, p.peer_cpu) {
                (Some(a), Some(b)) => format!("{a},{b}"),
                _ => "unpinned".into(),
            };
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} / {},{}</td><td>{}</td></tr>",
                esc(&ConfigKey::of(r).to_string()),
                r.repetition,
                r.warmup,
                req,
                p.initiator_cpu_observed,
                p.peer_cpu_observed,
                r.integrity.received
            );
        }
        let _ = writeln!(h, "</table>");
    }
    h.push_str("</body>\n</html>\n");
    h
}

/// The relative changes of the configurations `other` shares with `base`, one row a metric, in
/// the words `compare` and `ab` use; nothing is gated in a report, so there is no verdict.
fn changes_table(h: &mut String, base: &Input, other: &Input, c: &compare::Comparison) {
    let _ = writeln!(
        h,
        "<h3>{}</h3>\n<p>change: {}; slower and faster in time per message (p50, p99) or per byte (throughput)</p>\n<table>\n<tr><th>configuration</th><th>metric</th><th>{}</th><th>{}</th><th>change</th><th>95% interval</th></tr>",
        esc(&other.name),
        compare::UNPAIRED_STATISTIC,
        esc(&base.name),
        esc(&other.name)
    );
    for (key, changes) in &c.rows {
        for ch in changes {
            let fmt = |v: f64| ch.metric.format(v);
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&key.to_string()),
                ch.metric,
                fmt(ch.old),
                fmt(ch.new),
                ch.change_text(),
                ch.interval_text(),
            );
        }
    }
    let _ = writeln!(h, "</table>");
}

/// The configurations in only one of `base` and `other`, collapsed: a list that can run to
/// dozens of lines is there to look up, not to read before the charts.
fn only_in(h: &mut String, base: &Input, other: &Input, c: &compare::Comparison) {
    let sides = [(base, &c.only_in_baseline), (other, &c.only_in_current)];
    let counts: Vec<String> = sides
        .iter()
        .filter(|(_, keys)| !keys.is_empty())
        .map(|(i, keys)| format!("{} in {}", keys.len(), i.name))
        .collect();
    if counts.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<details>\n<summary>Configurations in one file only ({})</summary>\n<ul>",
        esc(&counts.join(", "))
    );
    for (input, keys) in sides {
        for key in keys {
            let _ = writeln!(h, "<li>{}</li>", esc(&format!("only in {}: {key}", input.name)));
        }
    }
    let _ = writeln!(h, "</ul>\n</details>");
}
