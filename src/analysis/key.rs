//! The one identity of "the same configuration": two runs with equal [`ConfigKey`]s are
//! repetitions of each other and may be merged or compared; runs with different keys never are.
//! `compare`, `report`, the dashboards and the table's "fastest" line all group by this key.
//!
//! The key is everything that changes what is measured: transport, framing, pattern, size, wait
//! strategy, requested pinning, rate, concurrency, `--verify`, the shm ring (slots, filesystem,
//! copy, notification), the pipe buffer, the external service, the peer counts and the clock.
//! It is ordered (pattern, size, then the rest) and displays as a label.

use std::fmt;

use super::summary::RunResult;
pub use super::summary::{ConfigKey, SeriesKey, ShmKey, DEFAULT_PIPE_BUFFER_BYTES};
use crate::format::format_bytes;
use crate::measure::clock::ClockSource;
use crate::pattern::Pattern;
use crate::transport::framing::Framing;
use crate::transport::shm::notify::Notify;
use crate::transport::TransportKind;

impl ConfigKey {
    pub fn of(r: &RunResult) -> ConfigKey {
        let pin = match (r.placement.initiator_cpu, r.placement.peer_cpu) {
            (Some(a), Some(b)) => Some((a, b)),
            _ => None,
        };
        ConfigKey {
            pattern: r.pattern,
            size_bytes: r.size_bytes,
            series: SeriesKey {
                transport: r.transport,
                framing: r.framing,
                wait: r.wait,
                pin,
                rate_per_s: r.rate_per_s,
                concurrency: r.concurrency,
                verify: r.verify,
                shm: r.shm_slots.map(|slots| ShmKey {
                    slots,
                    filesystem: r.shm_filesystem.clone(),
                    copy: r.extra_copy,
                    notify: r.ring_notify.unwrap_or_default(),
                }),
                pipe_buffer_bytes: r.pipe_buffer_bytes.filter(|&b| b != DEFAULT_PIPE_BUFFER_BYTES),
                external_service: r.external_service.clone(),
                library: r.library.clone(),
                subscribers: r.fan_out.as_ref().map(|f| f.subscribers),
                publishers: r.many.as_ref().filter(|_| r.pattern == Pattern::FanIn).map(|m| m.peers),
                clients: r.many.as_ref().filter(|_| r.pattern == Pattern::ManyClients).map(|m| m.peers),
                clock: r.clock,
            },
        }
    }
}

impl ShmKey {
    /// `slots 2 on tmpfs copy eventfd`: the slots, and what is not the default.
    fn describe(&self) -> String {
        let mut t = format!("slots {}", self.slots);
        if let Some(fs) = &self.filesystem {
            t += &format!(" on {fs}");
        }
        if self.copy {
            t += " copy";
        }
        if self.notify != Notify::Futex {
            t += &format!(" {}", self.notify);
        }
        t
    }
}

impl SeriesKey {
    /// The label's parts after the transport (framing, wait, pin, rate, pairs, verify, shm,
    /// pipe buffer, service, subscribers, publishers, clients, clock, library), in that order;
    /// empty for a default that needs no mention.
    fn details(&self) -> [String; 14] {
        let shm = self.shm.as_ref().map(ShmKey::describe);
        [
            if self.framing == Framing::Raw { String::new() } else { self.framing.to_string() },
            self.wait.to_string(),
            self.pin.map(|(a, b)| format!("pin {a},{b}")).unwrap_or_default(),
            self.rate_per_s.map(|r| format!("rate {r}/s")).unwrap_or_default(),
            if self.concurrency > 1 { format!("x{} pairs", self.concurrency) } else { String::new() },
            if self.verify { "verify".into() } else { String::new() },
            shm.unwrap_or_default(),
            self.pipe_buffer_bytes.map(|b| format!("buffer {}", format_bytes(b as u64))).unwrap_or_default(),
            self.external_service.as_ref().map(|s| format!("against {s}")).unwrap_or_default(),
            self.subscribers
                .map(|n| format!("to {n} subscriber{}", if n == 1 { "" } else { "s" }))
                .unwrap_or_default(),
            self.publishers
                .map(|n| format!("from {n} publisher{}", if n == 1 { "" } else { "s" }))
                .unwrap_or_default(),
            self.clients.map(|n| format!("{n} client{}", if n == 1 { "" } else { "s" })).unwrap_or_default(),
            if self.clock == ClockSource::Monotonic {
                String::new()
            } else {
                format!("clock {}", self.clock)
            },
            self.library.clone().unwrap_or_default(),
        ]
    }

    /// Every dimension besides the transport as a named table column, each with its value
    /// written out even where it is the default (a column that varies shows every row's value):
    /// framing, wait, pin, rate, pairs, verify, shm ring, pipe buffer, service, subscribers,
    /// publishers, clients, clock, library.
    pub fn dimensions(&self) -> [(&'static str, String); 14] {
        let shm = self.shm.as_ref().map_or_else(|| "-".to_string(), ShmKey::describe);
        [
            ("framing", self.framing.to_string()),
            ("wait", self.wait.to_string()),
            ("pin", self.pin.map_or_else(|| "none".into(), |(a, b)| format!("{a},{b}"))),
            (
                "offered",
                self.rate_per_s.map_or_else(
                    || "closed loop".into(),
                    |r| format!("{}/s", crate::format::format_rate(r as f64)),
                ),
            ),
            ("pairs", self.concurrency.to_string()),
            ("verify", if self.verify { "yes".into() } else { "no".into() }),
            ("shm ring", shm),
            (
                "pipe buffer",
                if self.transport == TransportKind::Pipe {
                    format_bytes(self.pipe_buffer_bytes.unwrap_or(DEFAULT_PIPE_BUFFER_BYTES) as u64)
                } else {
                    "-".into()
                },
            ),
            ("service", self.external_service.clone().unwrap_or_else(|| "-".into())),
            ("subscribers", self.subscribers.map_or_else(|| "-".into(), |n| n.to_string())),
            ("publishers", self.publishers.map_or_else(|| "-".into(), |n| n.to_string())),
            ("clients", self.clients.map_or_else(|| "-".into(), |n| n.to_string())),
            ("clock", self.clock.to_string()),
            ("library", self.library.clone().unwrap_or_else(|| "-".into())),
        ]
    }

    /// A short label among `all` series: the transport, and only the details that differ
    /// between the series (a legend need not repeat what every curve shares).
    pub fn label_among(&self, all: &[&SeriesKey]) -> String {
        let mine = self.details();
        let others: Vec<_> = all.iter().map(|k| k.details()).collect();
        let mut s = self.transport.to_string();
        for (i, text) in mine.iter().enumerate() {
            if !text.is_empty() && others.iter().any(|o| o[i] != *text) {
                s.push(' ');
                s.push_str(text);
            }
        }
        s
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.transport.to_string())?;
        for text in self.details().iter().filter(|t| !t.is_empty()) {
            write!(f, " {text}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ConfigKey {
    /// `uds round-trip 64 B spin pin 0,1 x4 pairs verify`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.series.transport, self.pattern, format_bytes(self.size_bytes as u64))?;
        for text in self.series.details().iter().filter(|t| !t.is_empty()) {
            write!(f, " {text}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures::run;
    use crate::pattern::Pattern;

    #[test]
    fn runs_of_two_versions_of_a_library_are_different_configurations_named_so() {
        let old = RunResult {
            library: Some("zenoh 1.10.2".into()),
            ..run(TransportKind::Uds, Pattern::RoundTrip, 1000)
        };
        let new = RunResult { library: Some("zenoh 1.11.0".into()), ..old.clone() };
        assert_ne!(ConfigKey::of(&old), ConfigKey::of(&new));
        assert!(ConfigKey::of(&new).to_string().ends_with(" zenoh 1.11.0"), "{}", ConfigKey::of(&new));
        let none = run(TransportKind::Uds, Pattern::RoundTrip, 1000);
        assert!(!ConfigKey::of(&none).to_string().contains("zenoh"), "no library, no mention");
    }

    #[test]
    fn runs_differing_in_concurrency_verify_or_framing_are_different_configurations() {
        let base = run(TransportKind::Uds, Pattern::RoundTrip, 1000);
        let mut pairs = base.clone();
        pairs.concurrency = 4;
        let mut verified = base.clone();
        verified.verify = true;
        let mut json = base.clone();
        json.framing = Framing::JsonLines;
        let keys: Vec<ConfigKey> =
            [&base, &pairs, &verified, &json].iter().map(|r| ConfigKey::of(r)).collect();
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
                assert_ne!(a.to_string(), b.to_string(), "labels differ too");
            }
        }
        assert_eq!(keys[0].to_string(), "uds round-trip 64 B spin pin 0,1");
        assert_eq!(keys[1].to_string(), "uds round-trip 64 B spin pin 0,1 x4 pairs");
        assert_eq!(keys[2].to_string(), "uds round-trip 64 B spin pin 0,1 verify");
        assert_eq!(keys[3].to_string(), "uds round-trip 64 B json-lines spin pin 0,1");
        let mut again = base.clone();
        again.repetition = 3;
        again.latency_ns.as_mut().unwrap().p50 = 5;
        assert_eq!(ConfigKey::of(&again), keys[0], "repetitions and results are not part of the key");
    }

    #[test]
    fn a_pipe_at_the_default_buffer_is_the_configuration_older_results_name_and_1_mib_is_another() {
        let old = run(TransportKind::Pipe, Pattern::RoundTrip, 1000);
        let mut default = old.clone();
        default.pipe_buffer_bytes = Some(DEFAULT_PIPE_BUFFER_BYTES);
        let mut big = old.clone();
        big.pipe_buffer_bytes = Some(1 << 20);
        assert_eq!(ConfigKey::of(&old), ConfigKey::of(&default));
        assert_ne!(ConfigKey::of(&old), ConfigKey::of(&big));
        assert_eq!(ConfigKey::of(&default).to_string(), "pipe round-trip 64 B spin pin 0,1");
        assert!(ConfigKey::of(&big).to_string().ends_with("buffer 1 MiB"), "{}", ConfigKey::of(&big));
    }

    #[test]
    fn runs_on_different_clocks_are_different_configurations_and_the_tsc_says_so() {
        let monotonic = run(TransportKind::Uds, Pattern::RoundTrip, 1000);
        let tsc = RunResult { clock: ClockSource::Tsc, ..monotonic.clone() };
        assert_ne!(ConfigKey::of(&monotonic), ConfigKey::of(&tsc));
        assert_eq!(ConfigKey::of(&monotonic).to_string(), "uds round-trip 64 B spin pin 0,1");
        assert_eq!(ConfigKey::of(&tsc).to_string(), "uds round-trip 64 B spin pin 0,1 clock tsc");
        let key = serde_json::to_value(ConfigKey::of(&monotonic)).unwrap();
        assert!(key["series"].get("clock").is_none(), "monotonic keys stay as older results wrote them");
        let old: RunResult = serde_json::from_value({
            let mut v = serde_json::to_value(&monotonic).unwrap();
            v.as_object_mut().unwrap().remove("clock");
            v
        })
        .unwrap();
        assert_eq!(old.clock, ClockSource::Monotonic, "a result that does not say was monotonic");
    }

    #[test]
    fn a_legend_names_only_what_differs_between_curves() {
        let uds = ConfigKey::of(&run(TransportKind::Uds, Pattern::RoundTrip, 1)).series;
        let tcp = ConfigKey::of(&run(TransportKind::Tcp, Pattern::RoundTrip, 1)).series;
        let mut json = uds.clone();
        json.framing = Framing::JsonLines;
        let all = [&uds, &tcp, &json];
        assert_eq!(uds.label_among(&all), "uds");
        assert_eq!(tcp.label_among(&all), "tcp");
        assert_eq!(json.label_among(&all), "uds json-lines");
    }
}
