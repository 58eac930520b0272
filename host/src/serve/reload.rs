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
/// ([`BOUND`]) are reported and keep their running values.
pub async fn reload_on(
    mut signals: tokio::signal::unix::Signal,
    source: Source,
    gateway: Arc<Gateway>,
    certificates: Option<Arc<tls::Certificates>>,
) {
    while signals.recv().await.is_some() {
        let result = (|| {
            let current = gateway.live.load_full();
            let (config, kept) = keep_bound(&current.config, source.load()?);
            let config = Arc::new(config.keeping_chains_of(&current.config));
            for chain in &config.chains {
                chain.keep_fresh();
            }
            let next = Live::build(Arc::clone(&config), Some(&current))?;
            if let Some(certificates) = &certificates {
                certificates.reload(&config.serve.certificates)?;
            }
            gateway.live.store(Arc::new(next));
            if !kept.is_empty() {
                eprintln!(
                    "taskgate: reload: {} changed; these take effect at the next restart",
                    kept.join(", ")
                );
            }
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

/// A setting bound when the gateway starts: its name in the reload's report, whether two
/// configurations differ in it, and how a reloaded configuration keeps the running value.
struct Bound {
    name: &'static str,
    differs: fn(&Config, &Config) -> bool,
    keep: fn(&mut Config, &Config),
}

/// A setting that is one field.
macro_rules! bound {
    ($name:literal, $($field:ident).+) => {
        Bound {
            name: $name,
            differs: |a, b| a.$($field).+ != b.$($field).+,
            keep: |next, current| next.$($field).+ = current.$($field).+.clone(),
        }
    };
}

/// Every setting bound at start-up, the one list both the reload and its report use: the
/// listeners, the workers and their event loops, the sandbox (the engine is made once), the
/// in-flight permits (sized once), hyper's connection settings and the connection caps, TLS on
/// or off (the certificates themselves reload), and the store's connection.
/// `read_timeout_ms` is hyper's head timeout and the idle timer: body reads keep the same value
/// so that one timeout holds.
const BOUND: &[Bound] = &[
    bound!("serve.listen", serve.listen),
    bound!("serve.admin_listen", serve.admin_listen),
    bound!("serve.workers", serve.workers),
    bound!("sandbox", sandbox),
    bound!("serve.max_in_flight", serve.max_in_flight),
    bound!("serve.read_timeout_ms", serve.read_timeout),
    bound!("serve.max_header_bytes", serve.max_header_bytes),
    bound!("serve.max_headers", serve.max_headers),
    bound!("serve.max_connections", serve.max_connections),
    bound!(
        "serve.max_connections_per_client",
        serve.max_connections_per_client
    ),
    Bound {
        name: "serve.tls (on or off)",
        differs: |a, b| a.serve.certificates.is_empty() != b.serve.certificates.is_empty(),
        keep: |next, current| next.serve.certificates = current.serve.certificates.clone(),
    },
    Bound {
        name: "store (kind, path, url, timeout_ms)",
        differs: |a, b| a.store.kind != b.store.kind || a.store.timeout != b.store.timeout,
        keep: |next, current| {
            next.store.kind = current.store.kind.clone();
            next.store.timeout = current.store.timeout;
        },
    },
];

/// `next` with every setting bound at start-up kept at its value in `current`, and the names
/// of those that differed.
fn keep_bound(current: &Config, mut next: Config) -> (Config, Vec<&'static str>) {
    let mut kept = Vec::new();
    for bound in BOUND {
        if (bound.differs)(current, &next) {
            (bound.keep)(&mut next, current);
            kept.push(bound.name);
        }
    }
    (next, kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CertificateFiles;
    use crate::store::StoreKind;
    use std::collections::BTreeSet;
    use std::time::Duration;

    /// Each bound setting changed alone: reported by that name, and kept at its running value;
    /// a setting that reloads goes through.
    #[test]
    fn every_setting_bound_at_start_is_reported_and_kept() {
        let current = Config::demo().unwrap();
        type Change = (&'static str, fn(&mut Config));
        let changes: &[Change] = &[
            ("serve.listen", |c| c.serve.listen.set_port(1)),
            ("serve.admin_listen", |c| c.serve.admin_listen.set_port(2)),
            ("serve.workers", |c| c.serve.workers += 1),
            ("sandbox", |c| c.sandbox.deadline_ms += 1),
            ("serve.max_in_flight", |c| c.serve.max_in_flight += 1),
            ("serve.read_timeout_ms", |c| {
                c.serve.read_timeout += Duration::from_millis(1)
            }),
            ("serve.max_header_bytes", |c| c.serve.max_header_bytes += 1),
            ("serve.max_headers", |c| c.serve.max_headers += 1),
            ("serve.max_connections", |c| c.serve.max_connections += 1),
            ("serve.max_connections_per_client", |c| {
                c.serve.max_connections_per_client += 1
            }),
            ("serve.tls (on or off)", |c| {
                c.serve.certificates.push(CertificateFiles {
                    cert_file: "cert.pem".into(),
                    key_file: "key.pem".into(),
                })
            }),
            ("store (kind, path, url, timeout_ms)", |c| {
                c.store.kind = StoreKind::None;
            }),
        ];
        let tested: BTreeSet<_> = changes.iter().map(|(name, _)| *name).collect();
        let bound: BTreeSet<_> = BOUND.iter().map(|b| b.name).collect();
        assert_eq!(tested, bound, "a change for every bound setting");
        for (name, change) in changes {
            let mut next = current.clone();
            change(&mut next);
            let (kept_config, kept) = keep_bound(&current, next);
            assert_eq!(kept, [*name]);
            assert!(
                BOUND.iter().all(|b| !(b.differs)(&current, &kept_config)),
                "{name} kept"
            );
        }
        let mut next = current.clone();
        next.serve.upstream_timeout += Duration::from_secs(1);
        let (reloaded, kept) = keep_bound(&current, next);
        assert!(kept.is_empty());
        assert_eq!(
            reloaded.serve.upstream_timeout,
            current.serve.upstream_timeout + Duration::from_secs(1)
        );
    }
}
