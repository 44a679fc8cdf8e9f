//! One fan-out run: the publisher's channels up, every subscriber connected and ready, the
//! publisher's loop, every subscriber's report, all merged.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};

use super::coordinator::expect_ready;
use super::peer_process::Peer;
use super::progress::ProgressDisplay;
use super::{ControlError, Message};
use crate::analysis::merge::{merge_fan_out, PeerSide, RunDetail, RunSetup};
use crate::analysis::summary::{Placement, RunResult};
use crate::config::RunConfig;
use crate::measure::sample_pool::SamplePool;
use crate::pattern::{fan_out, Params, Progress};
use crate::transport::fan::{mechanism, FanListener};
use crate::transport::shm::notify::Notify;
use crate::transport::{ChannelOptions, ChannelSpec, TransportKind, WaitStrategy};

/// What one test of N peer processes is (fan-out, fan-in, many-clients).
pub struct FanTest<'a> {
    pub id: u32,
    pub transport: TransportKind,
    pub channel: &'a ChannelSpec,
    pub params: &'a Params,
    pub repetition: u32,
    pub label: &'a str,
    /// (publisher, subscriber 0) CPUs.
    pub pin: Option<(usize, usize)>,
    /// How many peer processes.
    pub subscribers: usize,
}

impl FanTest<'_> {
    /// Where each peer was pinned: `--pin`'s list, or the pair's peer CPU for peer 0.
    pub(super) fn pins(&self, cfg: &RunConfig) -> Vec<Option<usize>> {
        (0..self.subscribers)
            .map(|i| match (&cfg.groups.pins, self.pin) {
                (Some(p), _) => Some(p[i + 1]),
                (None, Some((_, b))) if i == 0 => Some(b),
                _ => None,
            })
            .collect()
    }

    /// What ran and where: ipcbench's own side seen on `cpu`, peer 0 on `first_peer_cpu`.
    pub(super) fn setup(&self, cpu: usize, first_peer_cpu: usize) -> RunSetup<'_> {
        RunSetup {
            transport: self.transport,
            channel: self.channel,
            params: self.params,
            repetition: self.repetition,
            placement: Placement {
                initiator_cpu: self.pin.map(|p| p.0),
                peer_cpu: self.pin.map(|p| p.1),
                initiator_cpu_observed: cpu,
                peer_cpu_observed: first_peer_cpu,
            },
            concurrency: 1,
        }
    }

    /// A ring's slots, filesystem and wake-up in `run` (nothing for other transports).
    pub(super) fn ring_fields(
        &self,
        run: &mut RunResult,
        cfg: &RunConfig,
        slots: Option<usize>,
        notify: Notify,
    ) {
        run.shm_slots = slots;
        run.shm_filesystem = slots.map(|_| match self.transport {
            TransportKind::Memfd => "memfd".to_string(),
            _ => crate::sys::filesystem_name(&cfg.channels.shm_dir),
        });
        run.ring_notify = (slots.is_some() && self.channel.wait != WaitStrategy::Spin).then_some(notify);
    }
}

/// Runs `test` with `first` as subscriber 0 and `more[i - 1]` as subscriber `i`; the publisher
/// records every message's all-delivered time into `samples` when given.
pub fn run_one(
    first: &mut Peer,
    more: &mut [Peer],
    cfg: &RunConfig,
    channels: &ChannelOptions,
    test: FanTest<'_>,
    samples: Option<&SamplePool>,
) -> Result<(RunResult, RunDetail)> {
    let n = test.subscribers;
    let mut subs: Vec<&mut Peer> = std::iter::once(first).chain(more.iter_mut()).take(n).collect();
    if subs.len() < n {
        bail!("{n} subscribers asked for, {} started", subs.len());
    }
    let listener = FanListener::open(test.transport, channels, test.id, n as u32, test.channel)?;
    let shm_slots = listener.shm_slots();
    let endpoints = listener.endpoints()?;
    for (i, (sub, ep)) in subs.iter_mut().zip(&endpoints).enumerate() {
        sub.channel
            .send(&Message::Prepare {
                test_id: test.id,
                transport: test.transport,
                endpoints: vec![ep.clone().relative_to(&cfg.socket_dir)],
                channel: test.channel.clone(),
                params: test.params.clone(),
                pin_cpu: None,
            })
            .with_context(|| format!("subscriber {i}"))?;
    }
    // Every subscriber connects, or says why it cannot.
    for (i, sub) in subs.iter_mut().enumerate() {
        let ch = &mut sub.channel;
        match crate::sys::wait_readable_any([listener.fd(i), ch.rx_fd()], cfg.timeout)? {
            Some(0) => {}
            Some(_) => {
                let why = expect_ready(ch, test.id)
                    .err()
                    .unwrap_or_else(|| anyhow!("it answered before connecting"));
                return Err(sub.explain(why.context(format!("subscriber {i}"))));
            }
            None => bail!("subscriber {i} did not connect to {} within {:?}", endpoints[i], cfg.timeout),
        }
    }
    // Each subscriber has its own session: its one endpoint is its pair 0.
    let keys: Vec<_> = subs.iter().map(|s| s.channel.data_key(test.id, 0)).collect();
    let mut fan = listener.accept(test.channel, cfg.timeout, &keys)?;
    for (i, sub) in subs.iter_mut().enumerate() {
        if let Err(e) = expect_ready(&mut sub.channel, test.id) {
            return Err(sub.explain(e.context(format!("subscriber {i}"))));
        }
    }

    let progress = Arc::new(Progress::default());
    let display = ProgressDisplay::start(cfg.outputs.quiet, test.params, test.label, progress.clone());
    let mine = fan_out::publish(&mut fan, test.params, &progress, samples);
    let cpu = crate::sys::current_cpu();
    display.finish();
    let mut mine = match mine {
        Ok(m) => m,
        Err(e) => {
            // The others would fail on the closed channels and say so: stop them first.
            for (_, sub) in subs.iter_mut().enumerate().filter(|(j, _)| Some(*j) != e.subscriber) {
                sub.stop();
            }
            drop(fan);
            let i = e.subscriber;
            let err = anyhow::Error::from(e);
            return Err(match i.and_then(|i| subs.get_mut(i).map(|s| (i, s))) {
                Some((i, sub)) => explain(sub, i, err),
                None => err,
            });
        }
    };
    // The channels stay open until every subscriber has said it is done: the stop may still
    // be on its way to one (in a library's queues: zenoh, ZeroMQ), and closing would discard it
    // or tell that subscriber its publisher is gone.

    // A subscriber that failed mid-run: why, in its own words if it sent any.
    let failed = mine.failed.take().map(|e| {
        let i = e.subscriber.expect("a run goes on only after one subscriber's failure");
        (i, format!("{:#}", explain(subs[i], i, anyhow::Error::from(e))))
    });

    let mut sides = Vec::with_capacity(n);
    for (i, sub) in subs.iter_mut().enumerate() {
        if failed.as_ref().is_some_and(|f| f.0 == i) {
            sides.push(PeerSide { present: true, ..Default::default() });
            continue;
        }
        let side = collect(sub, test.id).with_context(|| format!("subscriber {i}"));
        sides.push(side.map_err(|e| sub.explain(e))?);
    }
    drop(fan); // the creator removes the mapping file here
    let pins = test.pins(cfg);
    let setup = test.setup(cpu, sides[0].report.cpu_observed);
    let (mut run, detail) = merge_fan_out(setup, mine, sides, &pins, mechanism(test.transport));
    // The broadcast ring wakes its readers with a futex whatever --notify says.
    test.ring_fields(&mut run, cfg, shm_slots, Notify::Futex);
    if let (Some(f), Some((_, why))) = (run.fan_out.as_mut(), failed) {
        f.failed = Some(why);
    }
    Ok((run, detail))
}

/// Subscriber `i`'s failure, with what it reported and how its process ended.
pub(super) fn explain(sub: &mut Peer, i: usize, err: anyhow::Error) -> anyhow::Error {
    let err = match sub.channel.recv_within("error", std::time::Duration::from_millis(300)) {
        Err(ControlError::Remote { message, .. }) => {
            err.context(format!("subscriber {i} reported: {message}"))
        }
        _ => err,
    };
    sub.explain(err)
}

/// A subscriber's `Done` and the blocks after it.
pub(super) fn collect(sub: &mut Peer, test_id: u32) -> Result<PeerSide> {
    let done = sub.channel.recv("done")?;
    super::sample_stream::collect(&mut sub.channel, test_id, done)
}
