//! SIGHUP: re-read and validate the whole configuration. A valid one takes effect for new
//! requests (requests in flight finish under the one they started with); an invalid one
//! changes nothing. Settings bound when the gateway starts keep their values until a restart.

use super::gateway::{Gateway, Live};
use super::tls;
use crate::config::Config;
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Where the configuration comes from, for start-up and for every reload: a file (or the
/// built-in demo) and the command line's overrides, applied again each time.
pub struct Source {
    path: Option<PathBuf>,
    overrides: Overrides,
}

/// What the command line changes in a loaded configuration.
type Overrides = Box<dyn Fn(&mut Config) -> anyhow::Result<()> + Send + Sync>;

impl Source {
    /// The file at `path` (the demo when `None`), then `overrides`.
    pub fn new(
        path: Option<PathBuf>,
        overrides: impl Fn(&mut Config) -> anyhow::Result<()> + Send + Sync + 'static,
    ) -> Source {
        Source {
            path,
            overrides: Box::new(overrides),
        }
    }

    /// Reads and validates the whole configuration.
    pub fn load(&self) -> anyhow::Result<Config> {
        let mut config = match &self.path {
            Some(path) => Config::load(path)?,
            None => Config::demo()?,
        };
        (self.overrides)(&mut config)?;
        Ok(config)
    }
}

/// Installs the SIGHUP handler now (until then SIGHUP would kill the process).
pub fn reload_signal() -> anyhow::Result<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup()).context("handling SIGHUP")
}

/// On every SIGHUP: re-read the configuration; if it is valid in full (routes and their CA
/// files, certificates included), swap it in for new requests. Settings bound at start-up
/// (addresses, sandbox, connection limits, TLS on or off) are reported and keep their values.
pub async fn reload_on(
    mut signals: tokio::signal::unix::Signal,
    source: Source,
    gateway: Arc<Gateway>,
    certificates: Option<Arc<tls::Certificates>>,
) {
    while signals.recv().await.is_some() {
        let result = (|| {
            let config = Arc::new(source.load()?);
            let current = gateway.live.load_full();
            let mut next = Live::build(Arc::clone(&config), Some(&current))?;
            if let Some(certificates) = &certificates {
                certificates.reload(&config.serve.certificates)?;
            }
            let kept = bound_at_start(&current.config, &config);
            if !kept.is_empty() {
                eprintln!(
                    "taskgate: reload: {} changed; these take effect at the next restart",
                    kept.join(", ")
                );
                // The running listener's settings stay what they were.
                let mut config = (*config).clone();
                config.serve.listen = current.config.serve.listen;
                config.serve.admin_listen = current.config.serve.admin_listen;
                config.sandbox = current.config.sandbox;
                config.serve.max_in_flight = current.config.serve.max_in_flight;
                config.serve.workers = current.config.serve.workers;
                config.store.kind = current.config.store.kind.clone();
                config.store.timeout = current.config.store.timeout;
                next.config = Arc::new(config);
            }
            gateway.live.store(Arc::new(next));
            anyhow::Ok(())
        })();
        // Said before counted: whoever sees the counter move can read why.
        match result {
            Ok(()) => {
                eprintln!("taskgate: configuration reloaded");
                gateway.metrics.reloads.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                eprintln!("taskgate: reload refused, the configuration in force stays: {error:#}");
                gateway
                    .metrics
                    .failed_reloads
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The settings of `next` that differ from `current` but are bound when the gateway starts.
fn bound_at_start(current: &Config, next: &Config) -> Vec<&'static str> {
    let (a, b) = (&current.serve, &next.serve);
    [
        ("serve.listen", a.listen != b.listen),
        ("serve.admin_listen", a.admin_listen != b.admin_listen),
        ("sandbox", current.sandbox != next.sandbox),
        ("serve.max_in_flight", a.max_in_flight != b.max_in_flight),
        ("serve.workers", a.workers != b.workers),
        ("serve.read_timeout_ms", a.read_timeout != b.read_timeout),
        (
            "serve.max_header_bytes",
            a.max_header_bytes != b.max_header_bytes,
        ),
        ("serve.max_headers", a.max_headers != b.max_headers),
        (
            "serve.max_connections",
            a.max_connections != b.max_connections,
        ),
        (
            "serve.max_connections_per_client",
            a.max_connections_per_client != b.max_connections_per_client,
        ),
        (
            "serve.tls (on or off)",
            a.certificates.is_empty() != b.certificates.is_empty(),
        ),
        (
            "store (kind, path, url, timeout_ms)",
            current.store.kind != next.store.kind || current.store.timeout != next.store.timeout,
        ),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}
