//! The iceoryx2 building blocks both transports share (the two-process one and fan-out's):
//! the configuration rooted in the run's directory, the node, and the services and ports made
//! with the options ipcbench uses.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Result};
use iceoryx2::port::listener::Listener as EventListener;
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::BackpressureAction;
use iceoryx2::prelude::*;

use super::{EventService, LiveFds, Pub, PubSubService, Sub};
use crate::transport::endpoint::Iox2Endpoint;

pub(super) fn config(root: &Path, prefix: &str) -> Result<iceoryx2::config::Config> {
    let mut config = iceoryx2::config::Config::default();
    let root_text = format!("{}/", root.display());
    let path = iceoryx2::prelude::Path::new(root_text.as_bytes())
        .map_err(|e| anyhow!("{} cannot be iceoryx2's directory: {e:?}", root.display()))?;
    config.global.set_root_path(&path);
    config.global.prefix =
        FileName::new(prefix.as_bytes()).map_err(|e| anyhow!("iceoryx2 prefix {prefix}: {e:?}"))?;
    Ok(config)
}

pub(super) fn node(ep: &Iox2Endpoint) -> Result<Node<ipc::Service>> {
    iceoryx2::prelude::set_log_level(iceoryx2::prelude::LogLevel::Fatal);
    let config = config(&ep.root, &ep.prefix)?;
    NodeBuilder::new()
        .config(&config)
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<ipc::Service>()
        .map_err(|e| anyhow!("creating an iceoryx2 node in {}: {e:?}", ep.root.display()))
}

/// The publish-subscribe service `name` of byte slices: one publisher, `subscribers`
/// subscribers (the creator's count; an opener asks for one, which any count satisfies), each
/// with a buffer of `slots` samples, no history and no overflow.
pub(super) fn pubsub(
    node: &Node<ipc::Service>,
    name: &str,
    slots: usize,
    subscribers: usize,
    creator: bool,
) -> Result<PubSubService> {
    let service_name: ServiceName =
        name.try_into().map_err(|e| anyhow!("iceoryx2 service name {name}: {e:?}"))?;
    let b = node
        .service_builder(&service_name)
        .publish_subscribe::<[u8]>()
        .subscriber_max_buffer_size(slots)
        .subscriber_max_borrowed_samples(1)
        .history_size(0)
        .enable_safe_overflow(false)
        .max_publishers(1)
        .max_subscribers(subscribers)
        .max_nodes(subscribers + 1);
    if creator {
        b.create().map_err(|e| anyhow!("creating iceoryx2 service {name}: {e:?}"))
    } else {
        b.open().map_err(|e| anyhow!("opening iceoryx2 service {name}: {e:?}"))
    }
}

/// The event service of the publish-subscribe service `name`: one notifier, `listeners`
/// listeners (as [`pubsub`] counts subscribers).
pub(super) fn event(
    node: &Node<ipc::Service>,
    name: &str,
    listeners: usize,
    creator: bool,
) -> Result<EventService> {
    let name: ServiceName =
        format!("{name}-ev").as_str().try_into().map_err(|e| anyhow!("iceoryx2 event name: {e:?}"))?;
    let b = node
        .service_builder(&name)
        .event()
        .max_nodes(listeners + 1)
        .max_listeners(listeners)
        .max_notifiers(1);
    if creator {
        b.create().map_err(|e| anyhow!("creating iceoryx2 event {name}: {e:?}"))
    } else {
        b.open().map_err(|e| anyhow!("opening iceoryx2 event {name}: {e:?}"))
    }
}

/// A publisher of `size`-byte samples on `service`. A full subscriber buffer holds it back
/// (retry) until the timeout passes or, checked every 1024 retries, a peer in `live` is gone:
/// then `on_dead` says what happens to the sample for that subscriber.
pub(super) fn publisher(
    service: &PubSubService,
    name: &str,
    size: usize,
    live: LiveFds,
    on_dead: BackpressureAction,
    timeout: Duration,
) -> Result<Pub> {
    service
        .publisher_builder()
        .initial_max_slice_len(size)
        .max_loaned_samples(1)
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .set_backpressure_handler(move |info: &iceoryx2::port::BackpressureInfo| {
            if info.retries % 1024 == 0 && live.any_gone() {
                on_dead
            } else if info.elapsed_time >= timeout {
                BackpressureAction::DiscardDataAndFail
            } else {
                BackpressureAction::Retry
            }
        })
        .create()
        .map_err(|e| anyhow!("creating an iceoryx2 publisher on {name}: {e:?}"))
}

pub(super) fn subscriber(service: &PubSubService, name: &str) -> Result<Sub> {
    service
        .subscriber_builder()
        .create()
        .map_err(|e| anyhow!("creating an iceoryx2 subscriber on {name}: {e:?}"))
}

pub(super) fn notifier(service: &EventService) -> Result<Notifier<ipc::Service>> {
    service.notifier_builder().create().map_err(|e| anyhow!("creating an iceoryx2 notifier: {e:?}"))
}

pub(super) fn event_listener(service: &EventService) -> Result<EventListener<ipc::Service>> {
    service.listener_builder().create().map_err(|e| anyhow!("creating an iceoryx2 listener: {e:?}"))
}
