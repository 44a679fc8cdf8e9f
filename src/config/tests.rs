//! Unit tests of the run configuration.

use super::*;

#[test]
fn all_expands_and_duplicates_collapse() {
    let all = TransportKind::all();
    let v = OrAll::expand(&[OrAll::One(TransportKind::Uds), OrAll::Default], TransportKind::DEFAULT, &all);
    assert_eq!(v, vec![TransportKind::Uds, TransportKind::Tcp, TransportKind::Shm]);
    assert_eq!(
        OrAll::expand(&[OrAll::One(TransportKind::Udp)], TransportKind::DEFAULT, &all),
        vec![TransportKind::Udp]
    );
    let every = OrAll::expand(&[OrAll::All], TransportKind::DEFAULT, &all);
    assert!(every.len() >= 10, "all is every mechanism this build has: {every:?}");
    assert_eq!(every.contains(&TransportKind::Iceoryx2), cfg!(feature = "iceoryx2"));
}

fn args(extra: &[&str], dir: &std::path::Path) -> RunArgs {
    let mut argv = vec!["ipcbench", "run", "--out", "-", "--socket-dir", dir.to_str().unwrap()];
    argv.extend_from_slice(extra);
    match <crate::cli::Cli as clap::Parser>::parse_from(argv).command {
        Some(crate::cli::Command::Run(a)) => *a,
        _ => unreachable!(),
    }
}

#[test]
fn json_lines_against_a_service_runs_the_default_sizes_it_can_carry() {
    let dir = tempfile::tempdir().unwrap();
    let a = args(&["--connect", "tcp://127.0.0.1:9", "--framing", "json-lines"], dir.path());
    let cfg = RunConfig::from_args(&a).unwrap();
    assert!(!cfg.runs(TransportKind::Tcp, Framing::JsonLines, 64), "64 B is below json-lines' minimum");
    assert!(cfg.runs(TransportKind::Tcp, Framing::JsonLines, 1024));
    assert!(cfg.skipped[0].note().contains("json-lines needs at least 160 bytes"), "{:?}", cfg.skipped);
    // Asked for outright, the same size is refused.
    let a = args(&["--connect", "tcp://127.0.0.1:9", "--framing", "json-lines", "-s", "64"], dir.path());
    let err = RunConfig::from_args(&a).unwrap_err().to_string();
    assert!(err.contains("needs --size of at least 160"), "{err}");
}

#[test]
fn shm_slots_default_to_two_for_latency_and_about_4_mib_for_throughput() {
    assert_eq!(slot_policy(None, 64, Pattern::RoundTrip), 2);
    assert_eq!(slot_policy(None, 64, Pattern::Throughput), 64);
    assert_eq!(slot_policy(None, 1 << 20, Pattern::Throughput), 4);
    assert_eq!(slot_policy(None, 256 << 10, Pattern::Throughput), 16);
    assert_eq!(slot_policy(Some(7), 64, Pattern::Throughput), 7);
}
