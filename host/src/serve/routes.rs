//! Where an accepted request goes, chosen from the host the client asked for: the most
//! specific `[[serve.routes]]` pattern that matches it (an exact name before any `*.` suffix,
//! a longer suffix before a shorter one, then file order), else the dialect's own upstream,
//! else the default upstream. Once routes are configured, a host none of them serves (with no
//! default) is refused at the edge: the gateway is never an open proxy. With neither routes
//! nor upstreams, accepted requests go to the local sink.

use super::tls::Trust;
use super::upstream::Upstream;
use crate::config::{HostPattern, Serve};
use anyhow::Context as _;
use std::collections::HashMap;
use std::sync::Arc;
use taskgate_filter::{Dialect, Mode, Repair, TemporaryCredentials};

/// The settings a route may set for itself (`None`: `[serve]`'s).
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    /// The route's `mode`.
    pub mode: Option<Mode>,
    /// The route's `temporary_credentials`.
    pub temporary_credentials: Option<TemporaryCredentials>,
    /// The route's `repair`.
    pub repair: Option<Repair>,
}

/// The routing table of one configuration, with a pooled client per destination.
pub struct Routes {
    /// `[[serve.routes]]`, most specific first, with each route's own settings.
    routes: Vec<(HostPattern, Arc<Upstream>, Overrides)>,
    /// `[serve.upstreams]`.
    by_dialect: HashMap<Dialect, Arc<Upstream>>,
    /// `[serve] upstream`.
    default: Option<Arc<Upstream>>,
}

/// Where one request goes.
pub enum Destination<'a> {
    /// To this upstream, under the route's own settings where it has them.
    Upstream(&'a Upstream, Overrides),
    /// To the local sink (nothing is configured to forward to).
    Sink,
    /// Nowhere: routes are configured and none serves this host.
    Miss,
}

impl Routes {
    /// Builds a client for every destination of `serve`; an error names the route whose CA
    /// file cannot be used.
    pub fn build(serve: &Serve, trust: &Trust) -> anyhow::Result<Routes> {
        let (timeout, max_answer) = (serve.upstream_timeout, serve.max_upstream_answer_bytes);
        let mut routes = serve
            .routes
            .iter()
            .enumerate()
            .map(|(i, route)| {
                let ca_file = route.ca_file.as_deref().or(serve.ca_file.as_deref());
                let upstream = Upstream::new(
                    &route.upstream,
                    route.connect_to,
                    trust,
                    ca_file,
                    timeout,
                    max_answer,
                    serve.workers,
                )
                .with_context(|| format!("serve.routes[{i}]"))?;
                let overrides = Overrides {
                    mode: route.mode,
                    temporary_credentials: route.temporary_credentials,
                    repair: route.repair,
                };
                Ok((route.host.clone(), Arc::new(upstream), overrides))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        // Stable: equally specific patterns keep their file order.
        routes.sort_by_key(|(pattern, _, _)| std::cmp::Reverse(pattern.specificity()));
        let fixed = |url: &crate::config::UpstreamUrl, at: &str| -> anyhow::Result<Arc<Upstream>> {
            let upstream = Upstream::new(
                url,
                None,
                trust,
                serve.ca_file.as_deref(),
                timeout,
                max_answer,
                serve.workers,
            )
            .with_context(|| at.to_owned())?;
            Ok(Arc::new(upstream))
        };
        let by_dialect = Dialect::ALL
            .into_iter()
            .filter_map(|dialect| {
                let url = serve.upstreams.get(dialect.name())?;
                Some(
                    fixed(url, &format!("serve.upstreams.{}", dialect.name()))
                        .map(|upstream| (dialect, upstream)),
                )
            })
            .collect::<anyhow::Result<HashMap<_, _>>>()?;
        let default = serve
            .upstream
            .as_ref()
            .map(|url| fixed(url, "serve.upstream"))
            .transpose()?;
        Ok(Routes {
            routes,
            by_dialect,
            default,
        })
    }

    /// Where a request for `host` (without port; `None` when the request names none) in
    /// `dialect` goes.
    pub fn select(&self, host: Option<&str>, dialect: Dialect) -> Destination<'_> {
        let routed = host.and_then(|host| {
            self.routes
                .iter()
                .find(|(pattern, _, _)| pattern.matches(host))
        });
        if let Some((_, upstream, overrides)) = routed {
            return Destination::Upstream(upstream, *overrides);
        }
        match self.by_dialect.get(&dialect).or(self.default.as_ref()) {
            Some(upstream) => Destination::Upstream(upstream, Overrides::default()),
            None if self.routes.is_empty() => Destination::Sink,
            None => Destination::Miss,
        }
    }

    /// Whether some request could go to the sink: only then is the sink file opened.
    pub fn uses_sink(&self) -> bool {
        self.routes.is_empty()
            && self.default.is_none()
            && self.by_dialect.len() < Dialect::ALL.len()
    }
}
