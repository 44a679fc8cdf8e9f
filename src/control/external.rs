//! `--connect`: round trips against the user's own service, one connection per run. Only the
//! address the user names is contacted.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use super::progress::ProgressDisplay;
use crate::analysis::merge::{merge, PeerSide, RunSetup};
use crate::analysis::summary::{Placement, Summary};
use crate::config::RunConfig;
use crate::export::{ExportManager, RunLabel};
use crate::pattern::{Pattern, Progress};
use crate::transport::listener;
use crate::transport::Endpoint;
use crate::transport::SocketTransport;

/// Every (framing, size, repetition) of `cfg` against the service at `ep`; replies carry the
/// sequence number in `reply_field` (json-lines).
pub fn run(
    cfg: &RunConfig,
    ep: &Endpoint,
    reply_field: &str,
    summary: &mut Summary,
    exporters: &mut ExportManager,
) -> Result<()> {
    if let Some((cpu, _)) = cfg.pins[0] {
        crate::sys::pin_current_thread(cpu).with_context(|| format!("pinning the initiator to CPU {cpu}"))?;
    }
    let transport = cfg.transports[0];
    let params = cfg.params(Pattern::RoundTrip, cfg.rates[0], cfg.waits[0]);
    for (&framing, &wait) in cfg.framings.iter().flat_map(|f| cfg.waits.iter().map(move |w| (f, w))) {
        for &size_bytes in cfg.sizes.iter().filter(|&&s| cfg.runs(transport, framing, s)) {
            let channel = cfg.channel(size_bytes, framing, wait, Pattern::RoundTrip);
            let label = format!("round-trip with {size_bytes} B {framing} messages against {ep}");
            for repetition in 0..cfg.repeat {
                // A service that is not there now is not coming: half a second of retries only.
                let fd = listener::connect(ep, Duration::from_millis(500))
                    .with_context(|| format!("the service at {ep} is not reachable"))?;
                let mut t = SocketTransport::new(fd, size_bytes, wait, cfg.timeout)?.framed(
                    framing,
                    true,
                    reply_field,
                );
                let progress = Arc::new(Progress::default());
                let display = ProgressDisplay::start(cfg.outputs.quiet, &params, &label, progress.clone());
                let run_label =
                    RunLabel { transport, pattern: Pattern::RoundTrip, framing, size_bytes, repetition };
                let (mine, streamed) = exporters.during_run(&run_label, |samples| {
                    crate::pattern::initiate(&mut t, &params, &progress, samples)
                });
                display.finish();
                let stalled = matches!(mine, Err(crate::transport::TransportError::Timeout(_)));
                let mine = mine.with_context(|| {
                    let hint = if stalled {
                        format!(
                            "; a service that speaks another wire format than --framing {framing} never answers: \
                             check what it expects (raw, length-prefixed or json-lines) and how large its replies are"
                        )
                    } else {
                        String::new()
                    };
                    format!("{label} (repetition {repetition}){hint}")
                })?;
                streamed.with_context(|| format!("{label} (repetition {repetition})"))?;
                let placement = Placement {
                    initiator_cpu: cfg.pins[0].map(|p| p.0),
                    peer_cpu: None,
                    initiator_cpu_observed: crate::sys::current_cpu(),
                    peer_cpu_observed: 0,
                };
                let setup = RunSetup {
                    transport,
                    channel: &channel,
                    params: &params,
                    repetition,
                    placement,
                    concurrency: 1,
                };
                let (mut run, detail) = merge(setup, mine, PeerSide::default());
                run.external_service = Some(ep.to_string());
                summary.runs.push(run);
                exporters.run_finished(summary, &detail)?;
            }
        }
    }
    Ok(())
}
