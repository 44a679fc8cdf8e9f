//! The lines under the table: what its columns mean and where the two sides ran.

use super::floor_ratio;
use crate::analysis::summary::Summary;

/// What the columns are and where the sides ran.
pub(super) fn legend(summary: &Summary, repeated: bool) -> String {
    let first = &summary.runs[0];
    let mut out = String::new();
    if repeated {
        out.push_str(
            "p50..max, msg/s, cpu/msg: the median over a row's runs; spread: (max - min) / median of p50 \
             (of MB/s for throughput) over them; --each shows every run\n",
        );
    }
    let external =
        summary.runs.iter().any(|r| r.external_service.is_some() || r.cpu.is_some_and(|c| c.peer.is_none()));
    let p = &first.placement;
    let swept: Vec<String> =
        summary.cpu_pairs.iter().map(|p| format!("{}:{}", p.initiator_cpu, p.peer_cpu)).collect();
    let place = match (p.initiator_cpu, p.peer_cpu) {
        _ if !swept.is_empty() => format!("CPU pairs swept: {}", swept.join(", ")),
        (Some(a), Some(b)) => format!("pinned: initiator on CPU {a}, peer on CPU {b}"),
        _ if external => format!("unpinned (this side seen on CPU {}; the service's CPU is not known)", p.initiator_cpu_observed),
        _ if p.initiator_cpu_observed == p.peer_cpu_observed => format!(
            "unpinned, and both sides were seen on CPU {}: sharing one core costs them (pin them apart with --pin A,B)",
            p.initiator_cpu_observed
        ),
        _ => format!(
            "unpinned (the scheduler may move them; seen on CPU {} and CPU {})",
            p.initiator_cpu_observed, p.peer_cpu_observed
        ),
    };
    let mut cpu = if external {
        "cpu/msg, csw/msg: this side's CPU time and sleeps per message (the service's are not measured)"
    } else {
        "cpu/msg, csw/msg: both sides' CPU time and sleeps (voluntary context switches) per message"
    }
    .to_string();
    if summary.runs.iter().any(|r| r.library.is_some()) {
        cpu += " on the timed threads; process cpu/msg: every thread, the library's own too";
    }
    let clock = summary.environment.clock.as_ref().map(|c| c.source).unwrap_or_default();
    out.push_str(&format!(
        "{place}; latency includes one clock read of ~{} ns ({clock}); {cpu}\n",
        summary.environment.clock_read_overhead_ns
    ));
    if let Some(line) = floor_legend(summary, repeated) {
        out.push_str(&line);
    }
    if let Some(f) = summary.runs.iter().find_map(|r| r.fan_out.as_ref()) {
        let pins: Vec<String> =
            f.per_subscriber.iter().filter_map(|s| s.cpu).map(|c| c.to_string()).collect();
        let placed = if pins.is_empty() {
            String::new()
        } else {
            format!("; subscribers pinned to CPUs {}", pins.join(","))
        };
        out.push_str(&format!(
            "fan-out: p50..max over every subscriber's arrival - send; all-delivered: send to the last \
             subscriber's arrival; publish: handing one message to every subscriber; cpu/msg counts the \
             publisher and all subscribers per message published{placed}\n"
        ));
    }
    if summary.runs.iter().any(|r| r.many.is_some()) {
        out.push_str(
            "fan-in: p50..max over every publisher's arrival - send at the one subscriber thread; many-clients: \
             over every client's round trip to the one server thread; fairness: the slowest peer's rate over the \
             fastest's (1.00 is fair); server cpu/msg: the serving thread's CPU per message it served\n",
        );
    }
    out
}

/// What `×floor` means, with the floors it was measured against (their range says whether
/// the machine changed speed between runs); `None` without the column.
fn floor_legend(summary: &Summary, repeated: bool) -> Option<String> {
    let floors: Vec<u64> = summary
        .runs
        .iter()
        .filter(|r| floor_ratio(r).is_some())
        .filter_map(|r| r.floor.map(|f| f.cache_line_round_trip_ns))
        .collect();
    let (least, most) = (floors.iter().min()?, floors.iter().max()?);
    let range = if least == most { format!("{least} ns") } else { format!("{least} to {most} ns") };
    let over = if repeated { ", the median of each run against its own floor" } else { "" };
    Some(format!(
        "×floor: a ring round trip's p50 over the cache-line round trip between the same two CPUs, \
         measured right before each run ({range} here{over}); 1.00 is what the hardware allows\n"
    ))
}
