//! One fan-in or many-clients run: a channel per peer process, every peer connected and
//! ready, one server thread serving them all, every peer's report, all merged.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};

use super::coordinator::expect_ready;
use super::fan_run::{collect, explain, FanTest};
use super::peer_process::Peer;
use super::progress::ProgressDisplay;
use super::Message;
use crate::analysis::merge::{merge_many, PeerSide, RunDetail};
use crate::analysis::summary::RunResult;
use crate::config::RunConfig;
use crate::pattern::{serve_many, Pattern, Progress};
use crate::transport::serve::{unservable, ServeSet};
use crate::transport::{ChannelOptions, DataListener};

/// Runs `test` with `first` as peer 0 and `more[i - 1]` as peer `i`.
pub fn run_one(
    first: &mut Peer,
    more: &mut [Peer],
    cfg: &RunConfig,
    channels: &ChannelOptions,
    test: FanTest<'_>,
) -> Result<(RunResult, RunDetail)> {
    let n = test.subscribers;
    let who = if test.params.pattern == Pattern::FanIn { "publisher" } else { "client" };
    let mut peers: Vec<&mut Peer> = std::iter::once(first).chain(more.iter_mut()).take(n).collect();
    if peers.len() < n {
        bail!("{n} {who}s asked for, {} started", peers.len());
    }
    let listeners = (0..n)
        .map(|i| DataListener::open(test.transport, channels, test.id, i as u32, test.channel))
        .collect::<Result<Vec<_>>>()?;
    let shm_slots = listeners[0].shm_slots();
    for (i, (peer, l)) in peers.iter_mut().zip(&listeners).enumerate() {
        peer.channel
            .send(&Message::Prepare {
                test_id: test.id,
                transport: test.transport,
                endpoints: vec![l.endpoint()?.relative_to(&cfg.socket_dir)],
                channel: test.channel.clone(),
                params: test.params.clone(),
                pin_cpu: None,
            })
            .with_context(|| format!("{who} {i}"))?;
    }
    let mut conns = Vec::with_capacity(n);
    for (i, (peer, l)) in peers.iter_mut().zip(listeners).enumerate() {
        let ch = &mut peer.channel;
        match crate::sys::wait_readable_any([l.fd(), ch.rx_fd()], cfg.timeout)? {
            Some(0) => {}
            Some(_) => {
                let why = expect_ready(ch, test.id)
                    .err()
                    .unwrap_or_else(|| anyhow!("it answered before connecting"));
                return Err(peer.explain(why.context(format!("{who} {i}"))));
            }
            None => bail!("{who} {i} did not connect to {} within {:?}", l.endpoint()?, cfg.timeout),
        }
        // Each peer process has its own session: its one endpoint is its pair 0.
        conns.push(l.accept(test.channel, cfg.timeout, &ch.data_key(test.id, 0))?);
    }
    if let Some(why) = unservable(&conns, test.channel.wait) {
        bail!("{} over {}: {why}", test.params.pattern, test.transport);
    }
    for (i, peer) in peers.iter_mut().enumerate() {
        if let Err(e) = expect_ready(&mut peer.channel, test.id) {
            return Err(peer.explain(e.context(format!("{who} {i}"))));
        }
    }

    let progress = Arc::new(Progress::default());
    let display = ProgressDisplay::start(cfg.outputs.quiet, test.params, test.label, progress);
    let mut set = ServeSet::new(conns, test.channel.wait, cfg.timeout);
    let mine = serve_many::serve(&mut set, test.params);
    let cpu = crate::sys::current_cpu();
    display.finish();
    if let Err((failed, _)) = &mine {
        // The others would fail on the closed channels and say so: stop them first.
        for (_, peer) in peers.iter_mut().enumerate().filter(|(i, _)| Some(*i) != *failed) {
            peer.stop();
        }
    }
    drop(set); // the ring creators remove their mapping files here
    let mine = match mine {
        Ok(m) => m,
        Err((i, e)) => {
            let err = match i {
                Some(i) => anyhow::Error::from(e).context(format!("{who} {i}")),
                None => anyhow::Error::from(e),
            };
            return Err(match i.and_then(|i| peers.get_mut(i).map(|p| (i, p))) {
                Some((i, peer)) => explain(peer, i, err),
                None => err,
            });
        }
    };

    let mut sides: Vec<PeerSide> = Vec::with_capacity(n);
    for (i, peer) in peers.iter_mut().enumerate() {
        let side = collect(peer, test.id).with_context(|| format!("{who} {i}"));
        sides.push(side.map_err(|e| peer.explain(e))?);
    }
    let pins = test.pins(cfg);
    let setup = test.setup(cpu, sides[0].report.cpu_observed);
    let (mut run, detail) = merge_many(setup, mine, sides, &pins);
    test.ring_fields(&mut run, cfg, shm_slots, cfg.channels.notify);
    Ok((run, detail))
}
