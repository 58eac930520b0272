//! The gateway's settings (`[serve]`): listeners, upstreams and routes, timeouts and caps, TLS
//! files.

use super::upstream::{HostPattern, UpstreamUrl};
use anyhow::{Context as _, bail};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use taskgate_filter::bounds::{
    Bounded, DRAIN_DELAY_MS, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_CLIENT, MAX_HEADER_BYTES,
    MAX_HEADERS, MAX_IN_FLIGHT, MAX_UPSTREAM_ANSWER_BYTES, READ_TIMEOUT_MS, UPSTREAM_TIMEOUT_MS,
    WORKERS,
};
use taskgate_filter::config_file::{ServeFile, choice_at};
use taskgate_filter::{Choice, Dialect, Mode, OtherCalls, Repair, TemporaryCredentials};

/// The gateway's settings (`[serve]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serve {
    /// Where callbacks arrive.
    pub listen: SocketAddr,
    /// Where `/metrics` and `/healthz` are served.
    pub admin_listen: SocketAddr,
    /// The workflow engine's endpoint (`http://host:port`) for every dialect without one of its
    /// own in `upstreams`; a dialect with neither goes to the local callback sink.
    pub upstream: Option<UpstreamUrl>,
    /// Endpoints by dialect name (`fnf`, `states`, `swf`, `codepipeline`), `[serve.upstreams]`.
    pub upstreams: BTreeMap<String, UpstreamUrl>,
    /// How long the upstream may take to answer, connection included.
    pub upstream_timeout: Duration,
    /// Where the sink appends accepted reports, one JSON object a line.
    pub sink_path: PathBuf,
    /// Requests in flight at once; more are answered 429 `ResourceThrottled`.
    pub max_in_flight: u32,
    /// Threads serving connections, each with its own listener (`SO_REUSEPORT`), event loop
    /// and upstream connections, so a request never changes threads; default one per CPU.
    pub workers: usize,
    /// How long a client may take to send a request's head or body, and how long an idle
    /// keep-alive connection is kept.
    pub read_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// Most header fields in a request.
    pub max_headers: usize,
    /// Client connections open at once; more are closed at accept.
    pub max_connections: usize,
    /// Client connections from one address open at once; more are closed at accept.
    pub max_connections_per_client: usize,
    /// Largest upstream answer body, in bytes; a longer one is answered 500 in the dialect.
    pub max_upstream_answer_bytes: usize,
    /// False forwards everything unchecked: only for measuring the filter's cost.
    pub filter: bool,
    /// What the filter does with the calls it does not model (`other_calls`).
    pub other_calls: OtherCalls,
    /// How long, after SIGTERM, the gateway goes on accepting while `/readyz` answers 503, so
    /// that a load balancer stops sending before the listener closes.
    pub drain_delay: Duration,
    /// Whether the gateway starts a W3C trace for requests that come without one.
    pub trace: Trace,
    /// Answer what the filter refuses (`enforce`) or log and count it and forward anyway
    /// (`shadow`); a route's own `mode` overrides it.
    pub mode: Mode,
    /// Refuse callbacks signed with temporary credentials the keyring does not hold, or check
    /// all but their MAC and forward them for the service to verify; a route's own
    /// `temporary_credentials` overrides it.
    pub temporary_credentials: TemporaryCredentials,
    /// Refuse a failure report whose only fault is over-long free text (`off`), or cut it to
    /// length, sign it again and forward it (`truncate`); a route's own `repair` overrides it.
    pub repair: Repair,
    /// Routes by host (`[[serve.routes]]`), checked before `upstreams` and `upstream`.
    pub routes: Vec<Route>,
    /// A PEM file of CA certificates trusted (besides the system's) for the default and
    /// per-dialect upstreams, and for every route without a `ca_file` of its own.
    pub ca_file: Option<PathBuf>,
    /// Certificate chains and keys for TLS on `listen` (`[[serve.tls.certificates]]`); empty
    /// means plain HTTP.
    pub certificates: Vec<CertificateFiles>,
}

/// `[serve] trace`: what the gateway does with W3C trace context (`traceparent`,
/// `tracestate`). A client's context is always forwarded unchanged and its trace id logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trace {
    /// Requests without a `traceparent` go on without one (`"pass"`, the default).
    #[default]
    Pass,
    /// A request without a valid `traceparent` gets a new one upstream, its trace id logged
    /// (`"start"`).
    Start,
}

impl Choice for Trace {
    const CHOICES: &'static [Trace] = &[Trace::Pass, Trace::Start];
    fn spelling(self) -> &'static str {
        match self {
            Trace::Pass => "pass",
            Trace::Start => "start",
        }
    }
}

/// One `[[serve.routes]]` entry: which hosts it serves and where their requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The host pattern, as written (`states.us-east-1.amazonaws.com` or `*.amazonaws.com`).
    pub host: HostPattern,
    /// Where matching requests go.
    pub upstream: UpstreamUrl,
    /// Dial this address instead of resolving the upstream's host (split-horizon DNS, tests).
    pub connect_to: Option<SocketAddr>,
    /// CA certificates trusted for this route besides the system's.
    pub ca_file: Option<PathBuf>,
    /// This route's mode (`None`: `[serve] mode`).
    pub mode: Option<Mode>,
    /// This route's `temporary_credentials` (`None`: `[serve] temporary_credentials`).
    pub temporary_credentials: Option<TemporaryCredentials>,
    /// This route's `repair` (`None`: `[serve] repair`).
    pub repair: Option<Repair>,
}

/// One certificate chain and its private key for the TLS listener, both PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    /// The chain, leaf first.
    pub cert_file: PathBuf,
    /// The leaf's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

impl Serve {
    /// Where a dialect's accepted requests go: its own upstream, else the default one; `None`
    /// means the local callback sink.
    pub fn upstream_for(&self, dialect: Dialect) -> Option<&UpstreamUrl> {
        self.upstreams
            .get(dialect.name())
            .or(self.upstream.as_ref())
    }
}

impl Default for Serve {
    fn default() -> Self {
        Serve {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            upstream: None,
            upstreams: BTreeMap::new(),
            upstream_timeout: Duration::from_millis(UPSTREAM_TIMEOUT_MS.default),
            sink_path: PathBuf::from("taskgate-sink.jsonl"),
            max_in_flight: MAX_IN_FLIGHT.default as u32,
            // One per CPU, within the declared bounds.
            workers: std::thread::available_parallelism()
                .map_or(WORKERS.default as usize, usize::from)
                .clamp(WORKERS.min as usize, WORKERS.max as usize),
            read_timeout: Duration::from_millis(READ_TIMEOUT_MS.default),
            max_header_bytes: MAX_HEADER_BYTES.default as usize,
            max_headers: MAX_HEADERS.default as usize,
            max_connections: MAX_CONNECTIONS.default as usize,
            max_connections_per_client: MAX_CONNECTIONS_PER_CLIENT.default as usize,
            max_upstream_answer_bytes: MAX_UPSTREAM_ANSWER_BYTES.default as usize,
            filter: true,
            other_calls: OtherCalls::default(),
            drain_delay: Duration::from_millis(DRAIN_DELAY_MS.default),
            trace: Trace::Pass,
            mode: Mode::Enforce,
            temporary_credentials: TemporaryCredentials::Refuse,
            repair: Repair::Off,
            routes: Vec::new(),
            ca_file: None,
            certificates: Vec::new(),
        }
    }
}

/// Checks every field of `[serve]`; relative file names are taken from `base` (the
/// configuration file's directory). `other_calls` is the shared sections' (`File::other_calls`).
pub(super) fn validate(
    file: ServeFile,
    other_calls: OtherCalls,
    base: &Path,
) -> anyhow::Result<Serve> {
    let d = Serve::default();
    let routes = file
        .routes
        .into_iter()
        .enumerate()
        .map(|(i, route)| {
            let at = format!("serve.routes[{i}]");
            Ok(Route {
                host: HostPattern::parse(&route.host).with_context(|| format!("{at}.host"))?,
                upstream: UpstreamUrl::parse(&route.upstream)
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("{at}.upstream"))?,
                connect_to: route
                    .connect_to
                    .map(|addr| {
                        addr.parse::<SocketAddr>().with_context(|| {
                            format!("{at}.connect_to must be ip:port, not {addr:?}")
                        })
                    })
                    .transpose()?,
                ca_file: route.ca_file.map(|path| base.join(path)),
                mode: route
                    .mode
                    .map(|mode| choice_at(Some(mode.as_str()), &format!("{at}.mode")))
                    .transpose()?,
                temporary_credentials: route
                    .temporary_credentials
                    .map(|setting| {
                        choice_at(
                            Some(setting.as_str()),
                            &format!("{at}.temporary_credentials"),
                        )
                    })
                    .transpose()?,
                repair: route
                    .repair
                    .map(|setting| choice_at(Some(setting.as_str()), &format!("{at}.repair")))
                    .transpose()?,
            })
        })
        .collect::<anyhow::Result<Vec<Route>>>()?;
    let certificates = file
        .tls
        .map(|tls| tls.certificates)
        .unwrap_or_default()
        .into_iter()
        .map(|files| CertificateFiles {
            cert_file: base.join(files.cert_file),
            key_file: base.join(files.key_file),
        })
        .collect();
    // Every bounded number through its one declaration (`taskgate_filter::bounds`).
    let bounded =
        |bounds: Bounded, value: Option<u64>| bounds.value(value).map_err(anyhow::Error::msg);
    let ms =
        |bounds: Bounded, value: Option<u64>| bounded(bounds, value).map(Duration::from_millis);
    let max_connections = bounded(MAX_CONNECTIONS, file.max_connections.map(|n| n as u64))?;
    let serve = Serve {
        listen: file.listen.unwrap_or(d.listen),
        admin_listen: file.admin_listen.unwrap_or(d.admin_listen),
        // Parsed once, here: the routing table uses them as they are.
        upstream: (file.upstream.as_deref())
            .map(|text| fixed_upstream(text).context("serve.upstream"))
            .transpose()?,
        upstreams: (file.upstreams.iter())
            .map(|(name, text)| {
                if !Dialect::ALL.iter().any(|d| d.name() == name) {
                    bail!(
                        "serve.upstreams.{name}: not a dialect (fnf, states, swf or codepipeline)"
                    );
                }
                let url =
                    fixed_upstream(text).with_context(|| format!("serve.upstreams.{name}"))?;
                Ok((name.clone(), url))
            })
            .collect::<anyhow::Result<_>>()?,
        upstream_timeout: ms(UPSTREAM_TIMEOUT_MS, file.upstream_timeout_ms)?,
        sink_path: file.sink_path.unwrap_or(d.sink_path),
        max_in_flight: bounded(MAX_IN_FLIGHT, file.max_in_flight.map(u64::from))? as u32,
        workers: bounded(WORKERS, Some(file.workers.unwrap_or(d.workers) as u64))? as usize,
        read_timeout: ms(READ_TIMEOUT_MS, file.read_timeout_ms)?,
        max_header_bytes: bounded(MAX_HEADER_BYTES, file.max_header_bytes.map(|n| n as u64))?
            as usize,
        max_headers: bounded(MAX_HEADERS, file.max_headers.map(|n| n as u64))? as usize,
        max_connections: max_connections as usize,
        max_connections_per_client: bounded(
            MAX_CONNECTIONS_PER_CLIENT,
            file.max_connections_per_client.map(|n| n as u64),
        )? as usize,
        max_upstream_answer_bytes: bounded(
            MAX_UPSTREAM_ANSWER_BYTES,
            file.max_upstream_answer_bytes.map(|n| n as u64),
        )? as usize,
        filter: file.filter.unwrap_or(d.filter),
        other_calls,
        drain_delay: ms(DRAIN_DELAY_MS, file.drain_delay_ms)?,
        trace: choice_at(file.trace.as_deref(), "serve.trace")?,
        mode: choice_at(file.mode.as_deref(), "serve.mode")?,
        temporary_credentials: choice_at(
            file.temporary_credentials.as_deref(),
            "serve.temporary_credentials",
        )?,
        repair: choice_at(file.repair.as_deref(), "serve.repair")?,
        routes,
        ca_file: file.ca_file.map(|path| base.join(path)),
        certificates,
    };
    if serve.max_connections_per_client > serve.max_connections {
        bail!("serve.max_connections_per_client must be between 1 and serve.max_connections");
    }
    Ok(serve)
}

/// A default or per-dialect upstream: `http[s]://host[:port]` with no path (requests keep their
/// own). `{host}` (the host the client asked for) is for routes only: their host patterns say
/// which hosts may be reached, and the default upstream would let a client reach any.
pub fn fixed_upstream(text: &str) -> anyhow::Result<UpstreamUrl> {
    let url = UpstreamUrl::parse(text).map_err(anyhow::Error::msg)?;
    if url.host.is_none() {
        bail!(
            "{{host}} is only for [[serve.routes]], whose host patterns say which hosts may be reached"
        );
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use taskgate_filter::Dialect;

    #[test]
    fn workers_must_be_between_1_and_256() {
        for bad in ["0", "257"] {
            let text = format!("[serve]\nworkers = {bad}\n");
            let error = Config::parse(&text).map(|_| ()).unwrap_err();
            assert!(format!("{error:#}").contains("serve.workers must be between 1 and 256"));
        }
        let config = Config::parse("[serve]\nworkers = 3\n").unwrap();
        assert_eq!(config.serve.workers, 3);
    }

    #[test]
    fn each_dialect_takes_its_own_upstream_else_the_default_else_the_sink() {
        let config = Config::parse(
            "[serve]\nupstream = \"http://default:1\"\n[serve.upstreams]\nstates = \"http://sfn:2\"",
        )
        .unwrap();
        let base = |dialect| config.serve.upstream_for(dialect).map(|url| url.base("x"));
        assert_eq!(base(Dialect::States).as_deref(), Some("http://sfn:2"));
        assert_eq!(base(Dialect::Swf).as_deref(), Some("http://default:1"));
        let config = Config::parse("[serve.upstreams]\ncodepipeline = \"http://cp:3\"").unwrap();
        let base = |dialect| config.serve.upstream_for(dialect).map(|url| url.base("x"));
        assert_eq!(base(Dialect::Fnf), None);
        assert_eq!(base(Dialect::CodePipeline).as_deref(), Some("http://cp:3"));
    }
}
