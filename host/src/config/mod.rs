//! The one configuration file: access keys with their accounts, token keys, limits and the
//! sandbox's budget. Everything is checked when the file is loaded, before any request runs,
//! and a bad file is one clear error naming the field.

mod memory;

pub use memory::{Memory, Rate};

use anyhow::{Context as _, bail};
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use taskgate_filter::config_file::{File, RateFile, ServeFile};
use taskgate_filter::{Dialect, Env, Keyring, Limits, OtherCalls, Signing, TokenMac};

/// The demo configuration used when no `--config` is given: it matches the shipped example
/// requests and the README's SDK snippets. Never use its secrets for anything real.
pub const DEMO: &str = include_str!("../../../examples/taskgate.toml");

/// A loaded, validated configuration. Secrets are never printed by `Debug`.
#[derive(Clone)]
pub struct Config {
    /// Limits every request is checked against.
    pub limits: Limits,
    /// The component's budget.
    pub sandbox: SandboxSettings,
    /// How `taskgate serve` listens, forwards and protects itself.
    pub serve: Serve,
    /// What the gateway remembers (replays, settled tasks, rates), and where.
    pub memory: Memory,
    /// The secrets: only the host holds them, the component asks the keyring to verify MACs.
    pub keyring: Keyring,
}

/// How much one check may use inside the component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxSettings {
    /// Linear memory cap per instance, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock budget per check, in milliseconds (enforced by epoch interruption).
    pub deadline_ms: u64,
    /// Checks one component instance may serve (1: a fresh instance for every check).
    pub instance_reuse: u32,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            memory_bytes: 32 << 20,
            deadline_ms: 100,
            instance_reuse: 1,
        }
    }
}

/// The gateway's settings (`[serve]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serve {
    /// Where callbacks arrive.
    pub listen: SocketAddr,
    /// Where `/metrics` and `/healthz` are served.
    pub admin_listen: SocketAddr,
    /// The workflow engine's endpoint (`http://host:port`) for every dialect without one of its
    /// own in `upstreams`; a dialect with neither goes to the local callback sink.
    pub upstream: Option<String>,
    /// Endpoints by dialect name (`fnf`, `states`, `swf`, `codepipeline`), `[serve.upstreams]`.
    pub upstreams: BTreeMap<String, String>,
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
    /// Routes by host (`[[serve.routes]]`), checked before `upstreams` and `upstream`.
    pub routes: Vec<Route>,
    /// A PEM file of CA certificates trusted (besides the system's) for the default and
    /// per-dialect upstreams, and for every route without a `ca_file` of its own.
    pub ca_file: Option<PathBuf>,
    /// Certificate chains and keys for TLS on `listen` (`[[serve.tls.certificates]]`); empty
    /// means plain HTTP.
    pub certificates: Vec<CertificateFiles>,
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
}

/// A host pattern: an exact name, or `*.` and a suffix (matching any name that ends with
/// `.suffix`, at any depth, but not the bare suffix). Names compare case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Exactly this name (lower case).
    Exact(String),
    /// Any name ending in `.` + this suffix (lower case, without the leading dot).
    Suffix(String),
}

impl HostPattern {
    fn parse(text: &str) -> anyhow::Result<HostPattern> {
        let lower = text.trim().to_ascii_lowercase();
        let (pattern, name) = match lower.strip_prefix("*.") {
            Some(suffix) => (HostPattern::Suffix(suffix.to_owned()), suffix),
            None => (HostPattern::Exact(lower.clone()), lower.as_str()),
        };
        let valid_label = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(valid_label) {
            bail!("must be a host name, or \"*.\" and a domain suffix, not {text:?}");
        }
        Ok(pattern)
    }

    /// Whether a request's host (without port, any case) matches. Exact patterns are more
    /// specific than any suffix, and longer suffixes more than shorter ones: `specificity`
    /// orders them.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        match self {
            HostPattern::Exact(name) => host.eq_ignore_ascii_case(name),
            HostPattern::Suffix(suffix) => {
                host.len() > suffix.len() + 1
                    && host.is_char_boundary(host.len() - suffix.len() - 1)
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
            }
        }
    }

    /// Higher wins among patterns that match one host: exact first, then the longest suffix.
    pub fn specificity(&self) -> usize {
        match self {
            HostPattern::Exact(_) => usize::MAX,
            HostPattern::Suffix(suffix) => suffix.len(),
        }
    }
}

/// Where an upstream is: `http://` or `https://`, a fixed host or `{host}` (the host the
/// client asked for), an optional port, no path (requests keep their own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    /// True for `https://`: TLS with the certificate checked against the host.
    pub tls: bool,
    /// The host to connect to and name in SNI; `None` for `{host}`.
    pub host: Option<String>,
    /// The port; `None` for the scheme's default.
    pub port: Option<u16>,
}

impl UpstreamUrl {
    /// Parses `http[s]://host[:port][/]` or `http[s]://{host}[:port][/]`.
    pub fn parse(text: &str) -> anyhow::Result<UpstreamUrl> {
        let (tls, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else {
            bail!("must start with http:// or https://, not {text:?}");
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
            bail!("must be http[s]://host[:port] with no path, not {text:?}");
        }
        // `[v6]:port`, `[v6]`, `host:port` or `host`.
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (inside, after) = v6
                    .split_once(']')
                    .with_context(|| format!("unclosed [ in {text:?}"))?;
                (&authority[..inside.len() + 2], after.strip_prefix(':'))
            }
            None => match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let port = port
            .map(|port| {
                port.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .with_context(|| format!("the port of {text:?} is not 1 to 65535"))
            })
            .transpose()?;
        let host = match host {
            "{host}" => None,
            fixed if fixed.contains(['{', '}']) => {
                bail!("only the whole host may be \"{{host}}\", not {text:?}")
            }
            fixed => Some(fixed.to_owned()),
        };
        Ok(UpstreamUrl { tls, host, port })
    }

    /// `scheme://host[:port]` for a request that asked for `requested` (used for `{host}`).
    pub fn base(&self, requested: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let host = self.host.as_deref().unwrap_or(requested);
        match self.port {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        }
    }
}

impl fmt::Display for UpstreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base("{host}"))
    }
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
    pub fn upstream_for(&self, dialect: Dialect) -> Option<&str> {
        self.upstreams
            .get(dialect.name())
            .or(self.upstream.as_ref())
            .map(String::as_str)
    }
}

impl Default for Serve {
    fn default() -> Self {
        Serve {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            upstream: None,
            upstreams: BTreeMap::new(),
            upstream_timeout: Duration::from_secs(10),
            sink_path: PathBuf::from("taskgate-sink.jsonl"),
            max_in_flight: 1024,
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            max_connections: 4096,
            max_connections_per_client: 256,
            max_upstream_answer_bytes: 16 << 20,
            filter: true,
            other_calls: OtherCalls::default(),
            routes: Vec::new(),
            ca_file: None,
            certificates: Vec::new(),
        }
    }
}

/// Checks every field of `[serve]`; relative file names are taken from `base` (the
/// configuration file's directory). `other_calls` is the shared sections' (`File::other_calls`).
fn validate_serve(file: ServeFile, other_calls: OtherCalls, base: &Path) -> anyhow::Result<Serve> {
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
    let serve = Serve {
        listen: file.listen.unwrap_or(d.listen),
        admin_listen: file.admin_listen.unwrap_or(d.admin_listen),
        upstream: file.upstream,
        upstreams: file.upstreams,
        upstream_timeout: file
            .upstream_timeout_ms
            .map_or(d.upstream_timeout, Duration::from_millis),
        sink_path: file.sink_path.unwrap_or(d.sink_path),
        max_in_flight: file.max_in_flight.unwrap_or(d.max_in_flight),
        workers: file.workers.unwrap_or(d.workers),
        read_timeout: file
            .read_timeout_ms
            .map_or(d.read_timeout, Duration::from_millis),
        max_header_bytes: file.max_header_bytes.unwrap_or(d.max_header_bytes),
        max_headers: file.max_headers.unwrap_or(d.max_headers),
        max_connections: file.max_connections.unwrap_or(d.max_connections),
        max_connections_per_client: file
            .max_connections_per_client
            .unwrap_or(d.max_connections_per_client),
        max_upstream_answer_bytes: file
            .max_upstream_answer_bytes
            .unwrap_or(d.max_upstream_answer_bytes),
        filter: file.filter.unwrap_or(d.filter),
        other_calls,
        routes,
        ca_file: file.ca_file.map(|path| base.join(path)),
        certificates,
    };
    if let Some(upstream) = &serve.upstream {
        check_upstream(upstream)?;
    }
    for (name, upstream) in &serve.upstreams {
        if !Dialect::ALL.iter().any(|d| d.name() == name) {
            bail!("serve.upstreams.{name}: not a dialect (fnf, states, swf or codepipeline)");
        }
        check_upstream(upstream).with_context(|| format!("serve.upstreams.{name}"))?;
    }
    let ms = |d: Duration| d.as_millis();
    if !(1..=600_000).contains(&ms(serve.upstream_timeout)) {
        bail!("serve.upstream_timeout_ms must be between 1 and 600000");
    }
    if !(1..=600_000).contains(&ms(serve.read_timeout)) {
        bail!("serve.read_timeout_ms must be between 1 and 600000");
    }
    if !(1..=65_536).contains(&serve.max_in_flight) {
        bail!("serve.max_in_flight must be between 1 and 65536");
    }
    if !(1..=256).contains(&serve.workers) {
        bail!("serve.workers must be between 1 and 256");
    }
    // hyper's smallest read buffer is 8 KiB.
    if !(8192..=1 << 20).contains(&serve.max_header_bytes) {
        bail!("serve.max_header_bytes must be between 8192 and 1048576");
    }
    if !(8..=1024).contains(&serve.max_headers) {
        bail!("serve.max_headers must be between 8 and 1024");
    }
    if !(1..=1_000_000).contains(&serve.max_connections) {
        bail!("serve.max_connections must be between 1 and 1000000");
    }
    if !(1..=serve.max_connections).contains(&serve.max_connections_per_client) {
        bail!("serve.max_connections_per_client must be between 1 and serve.max_connections");
    }
    if !(1024..=1 << 30).contains(&serve.max_upstream_answer_bytes) {
        bail!("serve.max_upstream_answer_bytes must be between 1024 and 1073741824");
    }
    Ok(serve)
}

/// The upstream must be `http[s]://host[:port]` with no path: requests keep their own path.
/// `{host}` (the host the client asked for) is for routes only: the default upstream serves
/// every host, so it would make the gateway an open proxy.
pub fn check_upstream(upstream: &str) -> anyhow::Result<()> {
    let url = UpstreamUrl::parse(upstream).context("serve.upstream")?;
    if url.host.is_none() {
        bail!(
            "serve.upstream: {{host}} is only for [[serve.routes]], whose host patterns say which hosts may be reached"
        );
    }
    Ok(())
}

/// Bounds of the sandbox's budget.
const MIN_MEMORY_BYTES: usize = 2 << 20;
const MAX_MEMORY_BYTES: usize = 1 << 30;
const MAX_DEADLINE_MS: u64 = 60_000;

impl Config {
    /// Loads and validates a file; file names in it are relative to its directory.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the configuration {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new(""));
        Config::parse_in(&text, base)
            .with_context(|| format!("in the configuration {}", path.display()))
    }

    /// The built-in demo configuration.
    pub fn demo() -> anyhow::Result<Config> {
        Config::parse(DEMO).context("in the built-in demo configuration")
    }

    /// Parses and validates TOML text; environment variables named by `secret_env` are read,
    /// and file names are relative to the working directory.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        Config::parse_in(text, Path::new(""))
    }

    /// Parses and validates TOML text whose file names are relative to `base`.
    pub fn parse_in(text: &str, base: &Path) -> anyhow::Result<Config> {
        let file = File::parse(text)?;
        let limits = file.limits()?;
        let sandbox = SandboxSettings {
            memory_bytes: file
                .sandbox
                .memory_bytes
                .unwrap_or(SandboxSettings::default().memory_bytes),
            deadline_ms: file
                .sandbox
                .deadline_ms
                .unwrap_or(SandboxSettings::default().deadline_ms),
            instance_reuse: file
                .sandbox
                .instance_reuse
                .unwrap_or(SandboxSettings::default().instance_reuse),
        };
        if !(1..=100_000).contains(&sandbox.instance_reuse) {
            bail!("sandbox.instance_reuse must be between 1 and 100000");
        }
        if !(MIN_MEMORY_BYTES..=MAX_MEMORY_BYTES).contains(&sandbox.memory_bytes) {
            bail!("sandbox.memory_bytes must be between {MIN_MEMORY_BYTES} and {MAX_MEMORY_BYTES}");
        }
        // The body is copied into the component and decoded there: leave room for a few copies.
        let needed = MIN_MEMORY_BYTES + 4 * limits.largest_body() as usize;
        if sandbox.memory_bytes < needed {
            bail!(
                "sandbox.memory_bytes ({}) must be at least {needed} for a body limit of {} bytes",
                sandbox.memory_bytes,
                limits.largest_body()
            );
        }
        if !(1..=MAX_DEADLINE_MS).contains(&sandbox.deadline_ms) {
            bail!("sandbox.deadline_ms must be between 1 and {MAX_DEADLINE_MS}");
        }

        let keyring = file.keyring()?;
        let mut rates = HashMap::new();
        for (i, key) in file.access_keys.iter().enumerate() {
            let rate = RateFile {
                rate_per_second: key.rate_per_second,
                burst: key.burst,
            };
            if let Some(rate) = memory::validate_rate(rate, &format!("access_keys[{i}]."))? {
                rates.insert(key.id.clone(), rate);
            }
        }
        let other_calls = file.other_calls()?;
        let retention_hours = file.retention_hours()?;
        let serve = validate_serve(file.serve, other_calls, base)?;
        let memory = memory::validate(
            file.store,
            file.ledger,
            file.throttle,
            retention_hours,
            rates,
            base,
        )?;
        Ok(Config {
            limits,
            sandbox,
            serve,
            memory,
            keyring,
        })
    }
}
impl Env for Config {
    fn access_key_account(&self, id: &str) -> Option<String> {
        self.keyring.account(id)
    }

    fn verify_signature(&self, id: &str, signing: Signing<'_>, message: &[u8], mac: &[u8]) -> bool {
        self.keyring.verify_signature(id, signing, message, mac)
    }

    fn verify_token_mac(&self, message: &[u8], mac: &[u8]) -> TokenMac {
        self.keyring.verify_token_mac(message, mac)
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    fn other_calls(&self) -> OtherCalls {
        self.serve.other_calls
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("limits", &self.limits)
            .field("sandbox", &self.sandbox)
            .field("serve", &self.serve)
            .field("keyring", &self.keyring)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_demo_configuration_is_valid() {
        let config = Config::demo().unwrap();
        assert_eq!(config.limits, Limits::default());
        assert!(!config.keyring.token_keys().is_empty());
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            ("[limits]\nmax_body_bytes = 0", "limits.max_body_bytes"),
            ("[limits]\nmax_clok_skew = 1", "unknown field"),
            (
                "[[access_keys]]\nid = \"a\"\naccount = \"x\"",
                "access_keys[0]: a secret",
            ),
            (
                "[[access_keys]]\nid = \"a\"\naccount = \"x\"\nsecret = \"s\"\n[[access_keys]]\nid = \"a\"\naccount = \"y\"\nsecret = \"t\"",
                "configured twice",
            ),
            (
                "[[token_keys]]\naccount = \"x\"\nsecret_env = \"TASKGATE_TEST_UNSET_VARIABLE\"",
                "TASKGATE_TEST_UNSET_VARIABLE is not set",
            ),
            ("[sandbox]\nmemory_bytes = 10", "sandbox.memory_bytes"),
            ("[serve]\nupstream = \"ftp://x\"", "http://"),
            (
                "[serve]\nupstream = \"https://{host}\"",
                "only for [[serve.routes]]",
            ),
            (
                "[[serve.routes]]\nhost = \"*.\"\nupstream = \"https://{host}\"",
                "serve.routes[0].host",
            ),
            (
                "[[serve.routes]]\nhost = \"a b\"\nupstream = \"https://{host}\"",
                "serve.routes[0].host",
            ),
            (
                "[[serve.routes]]\nhost = \"x.com\"\nupstream = \"https://{host}/path\"",
                "serve.routes[0].upstream",
            ),
            (
                "[[serve.routes]]\nhost = \"x.com\"\nupstream = \"https://{host}\"\nconnect_to = \"localhost\"",
                "serve.routes[0].connect_to",
            ),
            (
                "[[serve.routes]]\nhost = \"x.com\"\nupstream = \"https://a{host}\"",
                "only the whole host",
            ),
            ("[serve]\nother_calls = \"maybe\"", "serve.other_calls"),
            ("[serve]\nupstream = \"http://x/path\"", "no path"),
            ("[serve]\nlisten = \"nowhere\"", "listen"),
            ("[serve]\nmax_header_bytes = 100", "max_header_bytes"),
            (
                "[limits]\nmax_aws_body_bytes = 0",
                "limits.max_aws_body_bytes",
            ),
            (
                "[serve.upstreams]\nsqs = \"http://x\"",
                "serve.upstreams.sqs: not a dialect",
            ),
            (
                "[serve.upstreams]\nstates = \"ftp://x\"",
                "serve.upstreams.states",
            ),
            (
                "[limits]\nmax_body_bytes = 16777216\n[sandbox]\nmemory_bytes = 33554432",
                "must be at least",
            ),
        ];
        for (text, want) in cases {
            let err = format!("{:#}", Config::parse(text).unwrap_err());
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn each_dialect_takes_its_own_upstream_else_the_default_else_the_sink() {
        let config = Config::parse(
            "[serve]\nupstream = \"http://default:1\"\n[serve.upstreams]\nstates = \"http://sfn:2\"",
        )
        .unwrap();
        assert_eq!(
            config.serve.upstream_for(Dialect::States),
            Some("http://sfn:2")
        );
        assert_eq!(
            config.serve.upstream_for(Dialect::Swf),
            Some("http://default:1")
        );
        let config = Config::parse("[serve.upstreams]\ncodepipeline = \"http://cp:3\"").unwrap();
        assert_eq!(config.serve.upstream_for(Dialect::Fnf), None);
        assert_eq!(
            config.serve.upstream_for(Dialect::CodePipeline),
            Some("http://cp:3")
        );
    }

    #[test]
    fn host_patterns_match_exact_names_and_deeper_names_under_a_suffix() {
        let exact = HostPattern::parse("States.us-east-1.amazonaws.com").unwrap();
        assert!(exact.matches("states.US-east-1.amazonaws.com"));
        assert!(exact.matches("states.us-east-1.amazonaws.com."));
        assert!(!exact.matches("swf.us-east-1.amazonaws.com"));
        let suffix = HostPattern::parse("*.amazonaws.com").unwrap();
        assert!(suffix.matches("states.us-east-1.amazonaws.com"));
        assert!(suffix.matches("x.amazonaws.com"));
        assert!(!suffix.matches("amazonaws.com"), "not the bare suffix");
        assert!(!suffix.matches("evilamazonaws.com"), "a label boundary");
        assert!(!suffix.matches("amazonaws.com.evil.example"));
        assert!(exact.specificity() > suffix.specificity());
        assert!(
            HostPattern::parse("*.us-east-1.amazonaws.com")
                .unwrap()
                .specificity()
                > suffix.specificity()
        );
        for bad in [
            "", "*.", "*", "a..b", "a b", "*.*.com", "host:80", "-x-.com.", "h/st",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn upstream_urls_take_a_scheme_a_fixed_or_requested_host_and_a_port() {
        let url = UpstreamUrl::parse("https://{host}").unwrap();
        assert_eq!(
            url.base("states.us-east-1.amazonaws.com"),
            "https://states.us-east-1.amazonaws.com"
        );
        let url = UpstreamUrl::parse("http://127.0.0.1:9000/").unwrap();
        assert_eq!((url.tls, url.port), (false, Some(9000)));
        assert_eq!(url.base("ignored"), "http://127.0.0.1:9000");
        let url = UpstreamUrl::parse("https://[::1]:8443").unwrap();
        assert_eq!(url.base("x"), "https://[::1]:8443");
        for bad in [
            "ftp://x",
            "https://",
            "https://x/p",
            "https://x:0",
            "https://x:http",
            "https://u@x",
            "https://{host}x",
        ] {
            assert!(UpstreamUrl::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn file_names_are_relative_to_the_configuration_file() {
        let config = Config::parse_in(
            "[serve]\nca_file = \"ca.pem\"\n[[serve.routes]]\nhost = \"*.amazonaws.com\"\nupstream = \"https://{host}\"\nconnect_to = \"127.0.0.1:9443\"\nca_file = \"/abs/ca.pem\"\n[[serve.tls.certificates]]\ncert_file = \"c.pem\"\nkey_file = \"c.key\"",
            Path::new("/etc/taskgate"),
        )
        .unwrap();
        let serve = &config.serve;
        assert_eq!(
            serve.ca_file.as_deref(),
            Some(Path::new("/etc/taskgate/ca.pem"))
        );
        assert_eq!(
            serve.routes[0].ca_file.as_deref(),
            Some(Path::new("/abs/ca.pem"))
        );
        assert_eq!(
            serve.routes[0].connect_to,
            Some(SocketAddr::from(([127, 0, 0, 1], 9443)))
        );
        assert_eq!(
            serve.certificates[0].cert_file,
            Path::new("/etc/taskgate/c.pem")
        );
        assert_eq!(
            serve.certificates[0].key_file,
            Path::new("/etc/taskgate/c.key")
        );
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let config = Config::parse("[[access_keys]]\nid = \"AK\"\naccount = \"x\"\nsecret = \"hunter2\"\n[[token_keys]]\naccount = \"x\"\nsecret = \"tk-secret\"").unwrap();
        let shown = format!("{config:?}");
        assert!(
            shown.contains("AK") && !shown.contains("hunter2") && !shown.contains("tk-secret"),
            "{shown}"
        );
    }
}
