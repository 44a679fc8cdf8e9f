//! The matrix of one invocation: every (transport, framing, wait, pattern, size, placement,
//! peer count, rate, repetition) in run order, each named for progress lines and errors.
//! A `--rates auto` climb ends where its load curve saturates ([`Climbs`]).

use crate::analysis::summary::Summary;
use crate::config::RunConfig;
use crate::export::RunLabel;
use crate::format::format_rate;
use crate::pattern::{Params, Pattern};
use crate::transport::framing::Framing;
use crate::transport::{ChannelSpec, TransportKind};

/// Whether a pattern compares two processes' clock readings (one-way, fan-out).
pub(super) fn needs_one_clock(p: Pattern) -> bool {
    matches!(p, Pattern::OneWay | Pattern::FanOut | Pattern::FanIn)
}

/// One cell of the matrix: what to run and how to name it.
pub(super) struct Test {
    pub(super) id: u32,
    pub(super) transport: TransportKind,
    pub(super) channel: ChannelSpec,
    pub(super) params: Params,
    pub(super) repetition: u32,
    pub(super) label: String,
    /// (initiator, peer) CPUs.
    pub(super) pin: Option<(usize, usize)>,
    /// With `--rates auto`: the configuration this rate is a step of (its climb stops after
    /// the first rate it does not sustain).
    pub(super) climb: Option<usize>,
    /// Fan-out: how many subscribers.
    pub(super) subscribers: Option<u32>,
}

impl Test {
    /// What every stream line of this test's run names.
    pub(super) fn stream_label(&self) -> RunLabel {
        RunLabel {
            transport: self.transport,
            pattern: self.params.pattern,
            framing: self.channel.framing,
            size_bytes: self.channel.size_bytes,
            repetition: self.repetition,
        }
    }
}

/// Every test of the matrix in run order (one-way left out when the clocks differ).
pub(super) fn tests(cfg: &RunConfig, skip_one_way: bool) -> Vec<Test> {
    let mut out = Vec::new();
    let sweep_waits = cfg.waits.len() > 1;
    let mut configurations = 0;
    for &transport in &cfg.transports {
        for &framing in &cfg.framings {
            for &wait in &cfg.waits {
                for &pattern in cfg.patterns.iter().filter(|&&p| !(skip_one_way && needs_one_clock(p))) {
                    let fans = cfg.groups.counts(pattern);
                    for ((&size_bytes, &pin), subscribers) in cfg
                        .sizes
                        .iter()
                        .filter(|&&s| cfg.runs(transport, framing, s))
                        .flat_map(|s| cfg.pins.iter().map(move |p| (s, p)))
                        .flat_map(|sp| fans.iter().map(move |&n| (sp, n)))
                    {
                        configurations += 1;
                        for &rate in &cfg.rates {
                            let framed =
                                if framing == Framing::Raw { String::new() } else { format!(" {framing}") };
                            let waiting = if sweep_waits { format!(", {wait} waits") } else { String::new() };
                            let offered = match rate {
                                Some(r) if cfg.rates.len() > 1 => {
                                    format!(", offered {}/s", format_rate(r as f64))
                                }
                                _ => String::new(),
                            };
                            let placed = match pin {
                                Some((a, b)) if cfg.pair_sweep => format!(", CPUs {a}:{b}"),
                                _ => String::new(),
                            };
                            let to =
                                subscribers.map(|n| format!(" to {n} subscriber(s)")).unwrap_or_default();
                            let label = format!(
                                "{pattern} over {transport} with {size_bytes} B{framed} messages{to}{waiting}{placed}{offered}"
                            );
                            for repetition in 0..cfg.repeat {
                                out.push(Test {
                                    id: out.len() as u32,
                                    transport,
                                    channel: cfg.channel(size_bytes, framing, wait, pattern),
                                    params: cfg.params(pattern, rate, wait),
                                    repetition,
                                    pin,
                                    label: label.clone(),
                                    climb: cfg.auto_rates.then_some(configurations),
                                    subscribers,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// The configurations of a `--rates auto` sweep whose climb is over: judged, after the last
/// repetition of each rate, by the load curve itself (medians over repetitions, the same
/// criterion as the knee), so the climb stops exactly where the curve saturates.
#[derive(Default)]
pub(super) struct Climbs {
    stopped: std::collections::HashSet<usize>,
}

impl Climbs {
    /// Whether `test` belongs to a climb that is over.
    pub(super) fn skips(&self, test: &Test) -> bool {
        test.climb.is_some_and(|c| self.stopped.contains(&c))
    }

    /// After `run` (of `test`) joined `summary`: ends the climb once its curve saturates.
    pub(super) fn step(&mut self, test: &Test, repeat: u32, summary: &Summary) {
        let (Some(climb), Some(run)) = (test.climb, summary.runs.last()) else { return };
        if test.repetition + 1 < repeat {
            return;
        }
        let mut config = crate::analysis::key::ConfigKey::of(run);
        config.series.rate_per_s = None;
        if summary.load_curves.iter().any(|c| c.config == config && c.saturated) {
            self.stopped.insert(climb);
        }
    }
}
