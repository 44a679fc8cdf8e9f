//! Unit tests of the run table.
use super::*;
use crate::analysis::fixtures::{run, summary};
use crate::transport::framing::Framing;
use crate::transport::{TransportKind, WaitStrategy};

/// The table's data lines (header first), without the lines below it.
fn lines(text: &str) -> Vec<&str> {
    text.lines()
        .take_while(|l| !l.starts_with("every row") && !l.starts_with("p50..max") && !l.starts_with("pinned"))
        .collect()
}

fn column<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let header = lines(text)[0];
    let cols: Vec<&str> = header.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    let i = cols.iter().position(|c| *c == name).unwrap_or_else(|| panic!("no column {name} in {header}"));
    lines(text)[1..]
        .iter()
        .map(|l| l.split("  ").map(str::trim).filter(|c| !c.is_empty()).nth(i).unwrap())
        .collect()
}

#[test]
fn a_framing_sweep_gets_a_framing_column_and_rows_that_differ() {
    let runs: Vec<RunResult> = [Framing::Raw, Framing::LengthPrefixed, Framing::JsonLines]
        .into_iter()
        .map(|f| RunResult { framing: f, ..run(TransportKind::Uds, Pattern::RoundTrip, 5000) })
        .collect();
    let text = render(&summary(runs), false);
    assert_eq!(column(&text, "framing"), ["raw", "length-prefixed", "json-lines"], "{text}");
    let rows = lines(&text);
    assert_eq!(rows.len(), 4);
    assert!(rows[1..].iter().all(|r| rows[1..].iter().filter(|o| *o == r).count() == 1), "{text}");
    assert!(text.contains("every row: spin waits\npinned: initiator on CPU 0, peer on CPU 1"), "{text}");
}

#[test]
fn repetitions_are_one_row_with_their_median_and_spread_unless_each() {
    let runs: Vec<RunResult> = [500, 546, 600]
        .iter()
        .enumerate()
        .map(|(i, &v)| RunResult { repetition: i as u32, ..run(TransportKind::Shm, Pattern::RoundTrip, v) })
        .chain([RunResult { repetition: 0, ..run(TransportKind::Uds, Pattern::RoundTrip, 4000) }])
        .collect();
    let s = summary(runs);
    let text = render(&s, false);
    assert_eq!(lines(&text).len(), 3, "one row per configuration: {text}");
    assert_eq!(column(&text, "runs"), ["1", "3"]);
    assert_eq!(column(&text, "p50 ns"), ["4,000", "546"]);
    assert_eq!(column(&text, "spread"), ["-", "18.3%"]);
    // The fastest line quotes the figure its row shows.
    assert_eq!(fastest(&s, false), ["* fastest round-trip at 64 B: shm (p50 546 ns)"]);
    let each = render(&s, true);
    assert_eq!(lines(&each).len(), 5);
    assert_eq!(column(&each, "rep"), ["0", "0", "1", "2"]);
    assert_eq!(
        fastest(&s, true),
        ["* fastest round-trip at 64 B: shm (p50 546 ns, the median of its 3 runs)"]
    );
}

#[test]
fn concurrency_shows_as_pairs_and_latency_columns_have_one_unit_in_the_header() {
    let mut two = run(TransportKind::Uds, Pattern::RoundTrip, 9759);
    two.concurrency = 2;
    two.integrity.received = 4000;
    let mut one = run(TransportKind::Uds, Pattern::RoundTrip, 15_000);
    one.integrity.received = 2000;
    one.latency_ns.as_mut().unwrap().max = 1_707_000;
    let text = render(&summary(vec![one, two]), false);
    assert_eq!(column(&text, "pairs"), ["1", "2"], "{text}");
    assert_eq!(column(&text, "messages"), ["2,000", "4,000"]);
    assert_eq!(column(&text, "p50 ns"), ["15,000", "9,759"]);
    assert_eq!(column(&text, "max µs"), ["1707.0", "0.0"]);
    assert!(
        !lines(&text)[1..].iter().any(|l| l.contains(" ns") || l.contains("µs")),
        "units only in headers: {text}"
    );
}

#[test]
fn fastest_is_named_only_among_rows_that_differ_in_transport() {
    let mut runs = Vec::new();
    for (t, spin, block) in [(TransportKind::Uds, 3000, 9000), (TransportKind::Shm, 200, 9500)] {
        runs.push(run(t, Pattern::RoundTrip, spin));
        runs.push(RunResult { wait: WaitStrategy::Block, ..run(t, Pattern::RoundTrip, block) });
    }
    let lines = fastest(&summary(runs), false);
    assert_eq!(
        lines,
        [
            "* fastest round-trip at 64 B, block: uds (p50 9,000 ns)",
            "* fastest round-trip at 64 B, spin: shm (p50 200 ns)"
        ]
    );
}

#[test]
fn against_an_external_service_the_table_claims_only_this_side() {
    let mut r = run(TransportKind::Tcp, Pattern::RoundTrip, 20_000);
    r.external_service = Some("tcp://127.0.0.1:7000".into());
    r.placement.initiator_cpu = None;
    r.placement.peer_cpu = None;
    let text = render(&summary(vec![r]), false);
    assert!(
        text.contains("this side's CPU time") && text.contains("the service's CPU is not known"),
        "{text}"
    );
    assert!(!text.contains("both sides"), "{text}");
}

#[test]
fn ring_round_trips_with_a_floor_get_a_ratio_column_and_a_legend_line_and_others_a_dash() {
    use crate::analysis::summary::RunFloor;
    let with_floor = |p50: u64, floor_ns: u64, repetition: u32| {
        let mut r = RunResult { repetition, ..run(TransportKind::Shm, Pattern::RoundTrip, p50) };
        r.floor = Some(RunFloor::of(&r, floor_ns));
        r
    };
    // Each run against its own floor: 300/150, 1200/600 and 330/150, median 2.00.
    let shm = [with_floor(300, 150, 0), with_floor(1200, 600, 1), with_floor(330, 150, 2)];
    let uds = RunResult { repetition: 0, ..run(TransportKind::Uds, Pattern::RoundTrip, 4000) };
    let text = render(&summary(shm.iter().cloned().chain([uds.clone()]).collect()), false);
    assert_eq!(column(&text, "×floor"), ["-", "2.00"], "{text}");
    assert!(
        text.contains(
            "×floor: a ring round trip's p50 over the cache-line round trip between the same two CPUs"
        ) && text.contains("(150 to 600 ns here, the median of each run against its own floor)"),
        "{text}"
    );
    // A one-way run carries its floor but no ratio; unpinned and socket runs carry neither:
    // no column, no legend.
    let mut one_way = run(TransportKind::Memfd, Pattern::OneWay, 400);
    one_way.floor = Some(RunFloor::of(&one_way, 150));
    assert_eq!(one_way.floor.unwrap().p50_to_floor, None);
    let text = render(&summary(vec![uds, one_way]), false);
    assert!(!text.contains("floor"), "{text}");
}

#[test]
fn runs_on_two_clocks_get_a_clock_column_and_one_clock_none() {
    let monotonic = run(TransportKind::Uds, Pattern::RoundTrip, 5000);
    let tsc = RunResult { clock: crate::measure::clock::ClockSource::Tsc, ..monotonic.clone() };
    let text = render(&summary(vec![monotonic.clone(), tsc]), false);
    assert_eq!(column(&text, "clock"), ["monotonic", "tsc"], "{text}");
    let text = render(&summary(vec![monotonic]), false);
    assert!(!text.contains("clock monotonic") && !text.lines().next().unwrap().contains("clock"), "{text}");
}

#[test]
fn a_run_whose_streams_missed_messages_gets_a_note_and_a_complete_one_none() {
    let complete = RunResult { samples_dropped: Some(0), ..run(TransportKind::Shm, Pattern::RoundTrip, 300) };
    let short = RunResult { samples_dropped: Some(4_321), ..run(TransportKind::Uds, Pattern::OneWay, 900) };
    let notes = super::super::notes::notes(&summary(vec![complete, short]));
    let dropped: Vec<&String> = notes.iter().filter(|l| l.contains("missing from the streams")).collect();
    assert_eq!(dropped.len(), 1, "{notes:?}");
    assert!(dropped[0].contains("4321 of its messages") && dropped[0].contains("uds"), "{notes:?}");
}
