//! Both sides' measurements of one run as one [`RunResult`]: which side's histogram is the
//! latency, which side's arrivals make the rate, and what the two counts say about integrity.

use super::summary::{
    FanOutResult, Integrity, IntervalSpread, IntervalStats, ManyResult, PeerFigures, Placement, RunResult,
    SubscriberResult, Throughput,
};
use crate::measure::cpu::{CpuCost, SideCpu};
use crate::measure::histogram::LatencyHistogram;
use crate::measure::intervals::IntervalHistogram;
use crate::measure::memory::MaxRss;
use crate::pattern::fan_out::FanResult;
use crate::pattern::serve_many::ServeResult;
use crate::pattern::{throughput, Params, Pattern, SideReport, SideResult};
use crate::transport::{ChannelSpec, TransportKind};
use crate::wire::Sample;

/// What the peer sent back for one run: its counts, its histogram and its samples.
#[derive(Debug, Default)]
pub struct PeerSide {
    pub report: SideReport,
    pub histogram: Option<LatencyHistogram>,
    pub samples: Vec<Sample>,
    /// Its interval histograms.
    pub intervals: Vec<IntervalHistogram>,
    /// Whether an ipcbench peer reported at all (`false`: an external service, `--connect`).
    pub present: bool,
}

/// What was run: the configuration half of a result.
#[derive(Clone, Debug)]
pub struct RunSetup<'a> {
    pub transport: TransportKind,
    pub channel: &'a ChannelSpec,
    pub params: &'a Params,
    pub repetition: u32,
    pub placement: Placement,
    pub concurrency: u32,
}

/// What a run recorded beyond its summary: for the per-message streams and the interval log.
#[derive(Debug, Default)]
pub struct RunDetail {
    /// Every recorded message of the recording side, when kept.
    pub samples: Vec<Sample>,
    /// The recording side's interval histograms.
    pub intervals: Vec<IntervalHistogram>,
}

/// Both sides of one run as its result, and the samples and slices of the side that recorded
/// latency.
pub fn merge(setup: RunSetup<'_>, mine: SideResult, peer: PeerSide) -> (RunResult, RunDetail) {
    let p = setup.params;
    let (source, hist, samples, intervals, received, duration_ns) = match p.pattern {
        Pattern::RoundTrip | Pattern::FanOut | Pattern::FanIn | Pattern::ManyClients => (
            match p.pattern {
                Pattern::FanOut => "publisher",
                Pattern::FanIn => "subscriber",
                Pattern::ManyClients => "clients",
                _ => "initiator",
            },
            Some(mine.histogram),
            mine.samples,
            mine.intervals,
            mine.received,
            mine.end_ns.saturating_sub(mine.start_ns),
        ),
        Pattern::OneWay | Pattern::Throughput => (
            if p.pattern == Pattern::OneWay { "peer" } else { "none" },
            if p.pattern == Pattern::OneWay {
                peer.histogram.map(|h| h.with_clamped(peer.report.clamped_samples))
            } else {
                None
            },
            peer.samples,
            peer.intervals,
            peer.report.received,
            peer.report.last_recv_ns.saturating_sub(peer.report.first_recv_ns),
        ),
    };
    let messages_per_s = match p.pattern {
        // Open loop: the rate between the first and last arrival, as a receiver sees it (the
        // recorded phase starts up to one send interval before its first message is due).
        Pattern::RoundTrip if p.rate_per_s.is_some() => {
            throughput::messages_per_s(received, mine.first_recv_ns, mine.last_recv_ns)
        }
        Pattern::RoundTrip if duration_ns > 0 => received as f64 * 1e9 / duration_ns as f64,
        Pattern::FanOut if duration_ns > 0 => mine.sent as f64 * 1e9 / duration_ns as f64,
        Pattern::RoundTrip | Pattern::FanOut => 0.0,
        Pattern::FanIn | Pattern::ManyClients => {
            throughput::messages_per_s(received, mine.first_recv_ns, mine.last_recv_ns)
        }
        _ => throughput::messages_per_s(received, peer.report.first_recv_ns, peer.report.last_recv_ns),
    };
    let hist = hist.filter(|h| !h.is_empty());
    let size_bytes = setup.channel.size_bytes;
    // An external service reports nothing: no peer side then.
    let peer_cpu = peer.present.then(|| SideCpu::new(peer.report.cpu, peer.report.received));
    let cpu = CpuCost { initiator: SideCpu::new(mine.cpu, mine.sent), peer: peer_cpu };
    let run = RunResult {
        transport: setup.transport,
        pattern: p.pattern,
        size_bytes,
        repetition: setup.repetition,
        warmup: p.warmup,
        wait: setup.channel.wait,
        placement: setup.placement,
        rate_per_s: p.rate_per_s,
        verify: p.verify,
        shm_slots: None,
        shm_filesystem: None,
        extra_copy: false,
        ring_notify: None,
        floor: None,
        pipe_buffer_bytes: None,
        // The process's one clock, installed before any run.
        clock: crate::measure::clock::in_use(),
        concurrency: setup.concurrency,
        duration_ns,
        latency_source: if hist.is_some() { source } else { "none" }.into(),
        latency_ns: hist.as_ref().map(|h| h.stats()),
        histogram_v2: hist.as_ref().map(|h| h.to_base64()),
        throughput: Throughput { messages_per_s, bytes_per_s: messages_per_s * size_bytes as f64 },
        integrity: Integrity {
            sent: mine.sent,
            received,
            lost: mine.sent.saturating_sub(received),
            out_of_order: peer.report.out_of_order + mine.out_of_order,
            corrupt: peer.report.corrupt + mine.corrupt,
        },
        framing: setup.channel.framing,
        external_service: None,
        library: setup.transport.library(),
        cpu: Some(cpu),
        // Read now, as the run's sides are merged on the initiator: the end of the run.
        max_rss_bytes: Some(MaxRss {
            initiator: crate::measure::memory::max_rss_bytes(),
            peer: Some(peer.report.max_rss_bytes).filter(|&b| peer.present && b > 0),
        }),
        interval_spread: None,
        // `sent` sums every pair: a count is per pair, and only throughput runs are extended.
        extended_to_min_time: p.pattern == Pattern::Throughput
            && matches!(p.stop, crate::pattern::Stop::Count(n) if mine.sent > n * u64::from(setup.concurrency)),
        intervals: interval_stats(&intervals, p.pattern != Pattern::Throughput),
        fan_out: None,
        many: None,
    };
    let run = RunResult { interval_spread: IntervalSpread::of(&run.intervals, p.interval_ns), ..run };
    (run, RunDetail { samples, intervals })
}

/// A fan-out run: the publisher's measurements and every subscriber's report, in index order
/// (`pins[i]`: the CPU subscriber `i` was pinned to).
pub fn merge_fan_out(
    setup: RunSetup<'_>,
    mine: FanResult,
    subscribers: Vec<PeerSide>,
    pins: &[Option<usize>],
    mechanism: &str,
) -> (RunResult, RunDetail) {
    let n = subscribers.len() as u64;
    let published = mine.side.sent;
    let mut peers = PeerSide { present: true, ..Default::default() };
    let mut per_subscriber = Vec::with_capacity(subscribers.len());
    for (i, s) in subscribers.iter().enumerate() {
        let r = &s.report;
        let wrong = mine.wrong_acks.get(i).copied().unwrap_or(0);
        per_subscriber.push(SubscriberResult {
            index: i as u32,
            latency_ns: mine.per_subscriber.get(i).filter(|h| !h.is_empty()).map(|h| h.stats()),
            received: r.received,
            out_of_order: r.out_of_order,
            corrupt: r.corrupt + wrong,
            cpu: pins.get(i).copied().flatten(),
            cpu_observed: r.cpu_observed,
            cpu_use: SideCpu::new(r.cpu, r.received),
        });
        peers.report.received += r.received;
        peers.report.out_of_order += r.out_of_order;
        peers.report.corrupt += r.corrupt + wrong;
        peers.report.cpu.add(&r.cpu);
        peers.report.max_rss_bytes = peers.report.max_rss_bytes.max(r.max_rss_bytes);
    }
    let all = (!mine.all_delivered.is_empty()).then_some(&mine.all_delivered);
    let fan = FanOutResult {
        subscribers: n as u32,
        mechanism: mechanism.to_string(),
        all_delivered_ns: all.map(|h| h.stats()),
        all_delivered_histogram_v2: all.map(|h| h.to_base64()),
        publish_ns: (!mine.publish.is_empty()).then(|| mine.publish.stats()),
        per_subscriber,
        failed: None,
    };
    let subscriber_cpu = peers.report.cpu;
    let (mut run, detail) = merge(setup, mine.side, peers);
    // Every message goes to every subscriber: N deliveries per message published.
    run.integrity.sent = published * n;
    run.integrity.received = fan.per_subscriber.iter().map(|s| s.received).sum();
    run.integrity.lost = run.integrity.sent.saturating_sub(run.integrity.received);
    if let Some(cpu) = run.cpu.as_mut() {
        // All subscribers' CPU per message published.
        cpu.peer = Some(SideCpu::new(subscriber_cpu, published));
    }
    run.fan_out = Some(fan);
    (run, detail)
}

/// A fan-in or many-clients run: the server's measurements and every peer's report, in
/// index order (`pins[i]`: the CPU peer `i` was pinned to). Fan-in's latencies are the
/// server's, per publisher; many-clients' are the clients' own round trips.
pub fn merge_many(
    setup: RunSetup<'_>,
    mine: ServeResult,
    peers: Vec<PeerSide>,
    pins: &[Option<usize>],
) -> (RunResult, RunDetail) {
    let clients = setup.params.pattern == Pattern::ManyClients;
    let mut merged = LatencyHistogram::new();
    let mut peer_cpu = crate::measure::cpu::CpuUse::default();
    let mut per_peer = Vec::with_capacity(peers.len());
    let (mut out_of_order, mut corrupt) = (0, 0);
    for (i, (side, counts)) in peers.iter().zip(&mine.per_peer).enumerate() {
        let r = &side.report;
        let hist =
            if clients { side.histogram.clone().unwrap_or_default() } else { counts.histogram.clone() };
        merged.add(&hist);
        peer_cpu.add(&r.cpu);
        let (first, last) = if clients {
            (r.first_recv_ns, r.last_recv_ns)
        } else {
            (counts.first_recv_ns, counts.last_recv_ns)
        };
        let received = if clients { r.received } else { counts.received };
        out_of_order += counts.out_of_order + r.out_of_order;
        corrupt += counts.corrupt + r.corrupt;
        per_peer.push(PeerFigures {
            index: i as u32,
            latency_ns: (!hist.is_empty()).then(|| hist.stats()),
            received,
            messages_per_s: throughput::messages_per_s(received, first, last),
            out_of_order: counts.out_of_order + r.out_of_order,
            corrupt: counts.corrupt + r.corrupt,
            cpu: pins.get(i).copied().flatten(),
            cpu_observed: r.cpu_observed,
            cpu_use: SideCpu::new(r.cpu, r.sent),
        });
    }
    let rates: Vec<f64> = per_peer.iter().map(|p| p.messages_per_s).collect();
    let fastest = rates.iter().copied().fold(0.0, f64::max);
    let slowest = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let served = mine.side.received;
    let server_cpu = SideCpu::new(mine.side.cpu, served);
    let sent: u64 = peers.iter().map(|s| s.report.sent).sum();
    let many = ManyResult {
        peers: peers.len() as u32,
        per_peer,
        fairness: if fastest > 0.0 { slowest / fastest } else { 0.0 },
        server_cpu_ns_per_message: server_cpu.cpu_ns_per_message,
        failed: None,
    };
    let mut side = mine.side;
    side.histogram = merged;
    let mut peer = PeerSide { present: true, ..Default::default() };
    peer.report.max_rss_bytes = peers.iter().map(|p| p.report.max_rss_bytes).max().unwrap_or(0);
    let (mut run, detail) = merge(setup, side, peer);
    run.integrity.sent = sent;
    run.integrity.received = served;
    run.integrity.lost = sent.saturating_sub(served);
    run.integrity.out_of_order = out_of_order;
    run.integrity.corrupt = corrupt;
    if let Some(cpu) = run.cpu.as_mut() {
        cpu.initiator = server_cpu;
        cpu.peer = Some(SideCpu::new(peer_cpu, served));
    }
    run.many = Some(many);
    (run, detail)
}

/// Each slice's count and rate, and its latency percentiles when the run measures latency.
pub fn interval_stats(intervals: &[IntervalHistogram], latency: bool) -> Vec<IntervalStats> {
    let origin = intervals.first().map_or(0, |i| i.start_ns);
    intervals
        .iter()
        .map(|i| {
            let h = &i.histogram;
            let q = |q: f64| (latency && !h.is_empty()).then(|| h.value_at_quantile(q));
            IntervalStats {
                start_offset_ns: i.start_ns - origin,
                duration_ns: i.end_ns - i.start_ns,
                messages: h.len(),
                messages_per_s: i.messages_per_s(),
                p50_ns: q(0.5),
                p99_ns: q(0.99),
                max_ns: q(1.0),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::histogram::MAX_TRACKABLE_NS;
    use crate::pattern::Stop;
    use crate::transport::WaitStrategy;

    fn setup<'a>(channel: &'a ChannelSpec, params: &'a Params) -> RunSetup<'a> {
        RunSetup {
            transport: TransportKind::Uds,
            channel,
            params,
            repetition: 0,
            placement: Placement {
                initiator_cpu: None,
                peer_cpu: None,
                initiator_cpu_observed: 0,
                peer_cpu_observed: 1,
            },
            concurrency: 2,
        }
    }

    fn spec() -> ChannelSpec {
        ChannelSpec {
            size_bytes: 64,
            wait: WaitStrategy::Spin,
            framing: Default::default(),
            loss_timeout_ms: 100,
            shm_slots: 2,
        }
    }

    fn params(pattern: Pattern) -> Params {
        Params {
            pattern,
            stop: Stop::Count(3),
            warmup: 0,
            rate_per_s: None,
            verify: false,
            keep_samples: false,
            interval_ns: 1_000_000,
            min_duration_ns: 0,
            spin_pacing: false,
        }
    }

    #[test]
    fn a_wait_the_histogram_could_not_hold_is_counted_in_the_summary() {
        // Round trip: the initiator's histogram.
        let mut mine = SideResult::default();
        for v in [100, 200, MAX_TRACKABLE_NS * 2] {
            mine.histogram.record(v);
        }
        mine.sent = 3;
        mine.received = 3;
        let (channel, p) = (spec(), params(Pattern::RoundTrip));
        let (run, _) = merge(setup(&channel, &p), mine, PeerSide::default());
        assert_eq!(run.latency_ns.unwrap().clamped_samples, 1);
        assert_eq!(run.concurrency, 2);
        assert_eq!(run.wait, WaitStrategy::Spin);

        // One way: the peer's histogram arrives encoded, its clamped count beside it.
        let mut peer_hist = LatencyHistogram::new();
        for v in [100, MAX_TRACKABLE_NS + 1, MAX_TRACKABLE_NS + 2] {
            peer_hist.record(v);
        }
        let encoded = LatencyHistogram::from_bytes(&peer_hist.to_bytes()).unwrap();
        assert_eq!(encoded.clamped(), 0, "the V2 encoding drops the count");
        let peer = PeerSide {
            report: SideReport { received: 3, clamped_samples: peer_hist.clamped(), ..Default::default() },
            histogram: Some(encoded),
            samples: vec![],
            intervals: vec![],
            present: true,
        };
        let p = params(Pattern::OneWay);
        let (run, _) = merge(setup(&channel, &p), SideResult { sent: 3, ..Default::default() }, peer);
        assert_eq!(run.latency_source, "peer");
        assert_eq!(run.latency_ns.unwrap().clamped_samples, 2);
    }

    #[test]
    fn loss_is_sent_minus_received_on_the_recording_side() {
        let (channel, p) = (spec(), params(Pattern::Throughput));
        let peer = PeerSide {
            report: SideReport {
                received: 90,
                first_recv_ns: 0,
                last_recv_ns: 1_000_000,
                ..Default::default()
            },
            ..Default::default()
        };
        let (run, _) = merge(setup(&channel, &p), SideResult { sent: 100, ..Default::default() }, peer);
        assert_eq!(run.integrity.lost, 10);
        assert!(run.latency_ns.is_none());
        assert_eq!(run.throughput.messages_per_s, 89.0 * 1e9 / 1e6);
    }
}
