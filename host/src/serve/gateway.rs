//! What the request path shares: the [`Gateway`] (component, counters, log, connection caps,
//! store) and the [`Live`] part of it that a reload swaps.

use super::connection::Connections;
use super::log::Log;
use super::metrics::Metrics;
use super::routes::Routes;
use super::sink::Sink;
use super::tls::Trust;
use crate::config::Config;
use crate::sandbox::Sandbox;
use crate::store::Store;
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio::sync::Semaphore;

/// What a configuration makes of the request path; swapped whole on reload, while each
/// request keeps the one it started with.
pub struct Live {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Where accepted requests go.
    pub routes: Routes,
    /// The local callback sink, when some request could go there.
    pub sink: Option<Arc<Sink>>,
}

impl Live {
    /// Builds what `config` makes of the request path: a client per route (reading CA files),
    /// the sink if some request could go there (kept open across reloads to the same file, so
    /// its event ids go on).
    pub fn build(config: Arc<Config>, previous: Option<&Live>) -> anyhow::Result<Live> {
        let routes = Routes::build(&config.serve, &Trust::load())?;
        let sink = if routes.uses_sink() {
            match previous {
                Some(previous)
                    if previous.sink.is_some()
                        && previous.config.serve.sink_path == config.serve.sink_path =>
                {
                    previous.sink.clone()
                }
                _ => Some(Arc::new(Sink::open(&config.serve.sink_path)?)),
            }
        } else {
            None
        };
        Ok(Live {
            config,
            routes,
            sink,
        })
    }
}

/// Everything the request path shares, for the life of the process.
pub struct Gateway {
    /// The configuration in force for new requests.
    pub live: ArcSwap<Live>,
    /// The pre-instantiated filter component.
    pub sandbox: Sandbox,
    /// Counters and histograms.
    pub metrics: Metrics,
    /// One permit per request in flight.
    pub permits: Arc<Semaphore>,
    /// The per-request log.
    pub log: Log,
    /// The client connections open now, under their caps.
    pub connections: Arc<Connections>,
    /// The memory of nonces, settled tasks and rates (`None`: `[store] kind = "none"`).
    pub store: Option<Arc<Store>>,
    /// What `/readyz` reports besides the store.
    pub readiness: Readiness,
}

/// The gateway's own part of readiness (`/readyz`); the component is compiled and
/// pre-instantiated before the gateway exists, so it is ready by construction.
#[derive(Default)]
pub struct Readiness {
    /// Every worker's listener is bound.
    pub listening: AtomicBool,
    /// A shutdown signal came: the listeners close after `drain_delay_ms`.
    pub draining: AtomicBool,
}
