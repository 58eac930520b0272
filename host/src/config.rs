//! The one configuration file: access keys with their accounts, token keys, limits and the
//! sandbox's budget. Everything is checked when the file is loaded, before any request runs,
//! and a bad file is one clear error naming the field.

use anyhow::{Context as _, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use taskgate_filter::{AccessKey, Dialect, Env, Limits, TokenKey};

/// The demo configuration used when no `--config` is given: it matches the shipped example
/// requests and the README's SDK snippets. Never use its secrets for anything real.
pub const DEMO: &str = include_str!("../../examples/taskgate.toml");

/// A loaded, validated configuration. Secrets are never printed by `Debug`.
#[derive(Clone)]
pub struct Config {
    /// Limits every request is checked against.
    pub limits: Limits,
    /// The component's budget.
    pub sandbox: Sandbox,
    /// How `taskgate serve` listens, forwards and protects itself.
    pub serve: Serve,
    access_keys: HashMap<String, AccessKey>,
    token_keys: Vec<TokenKey>,
}

/// How much one check may use inside the component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sandbox {
    /// Linear memory cap per instance, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock budget per check, in milliseconds (enforced by epoch interruption).
    pub deadline_ms: u64,
    /// Checks one component instance may serve (1: a fresh instance for every check).
    pub instance_reuse: u32,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox {
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
    /// How long a client may take to send a request's head or body, and how long an idle
    /// keep-alive connection is kept.
    pub read_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// Most header fields in a request.
    pub max_headers: usize,
    /// False forwards everything unchecked: only for measuring the filter's cost.
    pub filter: bool,
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
            read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            filter: true,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    limits: LimitsFile,
    #[serde(default)]
    sandbox: SandboxFile,
    #[serde(default)]
    serve: ServeFile,
    #[serde(default)]
    access_keys: Vec<AccessKeyFile>,
    #[serde(default)]
    token_keys: Vec<TokenKeyFile>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    max_body_bytes: Option<u32>,
    max_aws_body_bytes: Option<u32>,
    max_clock_skew_seconds: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SandboxFile {
    memory_bytes: Option<usize>,
    deadline_ms: Option<u64>,
    instance_reuse: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ServeFile {
    listen: Option<SocketAddr>,
    admin_listen: Option<SocketAddr>,
    upstream: Option<String>,
    #[serde(default)]
    upstreams: BTreeMap<String, String>,
    upstream_timeout_ms: Option<u64>,
    sink_path: Option<PathBuf>,
    max_in_flight: Option<u32>,
    read_timeout_ms: Option<u64>,
    max_header_bytes: Option<usize>,
    max_headers: Option<usize>,
    filter: Option<bool>,
}

impl ServeFile {
    fn validate(self) -> anyhow::Result<Serve> {
        let d = Serve::default();
        let serve = Serve {
            listen: self.listen.unwrap_or(d.listen),
            admin_listen: self.admin_listen.unwrap_or(d.admin_listen),
            upstream: self.upstream,
            upstreams: self.upstreams,
            upstream_timeout: self
                .upstream_timeout_ms
                .map_or(d.upstream_timeout, Duration::from_millis),
            sink_path: self.sink_path.unwrap_or(d.sink_path),
            max_in_flight: self.max_in_flight.unwrap_or(d.max_in_flight),
            read_timeout: self
                .read_timeout_ms
                .map_or(d.read_timeout, Duration::from_millis),
            max_header_bytes: self.max_header_bytes.unwrap_or(d.max_header_bytes),
            max_headers: self.max_headers.unwrap_or(d.max_headers),
            filter: self.filter.unwrap_or(d.filter),
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
        // hyper's smallest read buffer is 8 KiB.
        if !(8192..=1 << 20).contains(&serve.max_header_bytes) {
            bail!("serve.max_header_bytes must be between 8192 and 1048576");
        }
        if !(8..=1024).contains(&serve.max_headers) {
            bail!("serve.max_headers must be between 8 and 1024");
        }
        Ok(serve)
    }
}

/// The upstream must be `http://host[:port]` with no path: requests keep their own path.
pub fn check_upstream(upstream: &str) -> anyhow::Result<()> {
    let rest = upstream.strip_prefix("http://").context(
        "serve.upstream must start with http:// (TLS to the upstream is not supported yet)",
    )?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        bail!("serve.upstream must be http://host[:port] with no path, not {upstream:?}");
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessKeyFile {
    id: String,
    account: String,
    secret: Option<String>,
    secret_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenKeyFile {
    account: String,
    secret: Option<String>,
    secret_env: Option<String>,
}

/// Bounds that keep a typo from disabling a check or exhausting the machine.
const MAX_BODY_BYTES: u32 = 16 << 20;
const MAX_SKEW_SECONDS: u32 = 24 * 3600;
const MIN_MEMORY_BYTES: usize = 2 << 20;
const MAX_MEMORY_BYTES: usize = 1 << 30;
const MAX_DEADLINE_MS: u64 = 60_000;

impl Config {
    /// Loads and validates a file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the configuration {}", path.display()))?;
        Config::parse(&text).with_context(|| format!("in the configuration {}", path.display()))
    }

    /// The built-in demo configuration.
    pub fn demo() -> anyhow::Result<Config> {
        Config::parse(DEMO).context("in the built-in demo configuration")
    }

    /// Parses and validates TOML text; environment variables named by `secret_env` are read.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let file: File = toml::from_str(text)?;
        let defaults = Limits::default();
        let limits = Limits {
            max_body_bytes: file
                .limits
                .max_body_bytes
                .unwrap_or(defaults.max_body_bytes),
            max_aws_body_bytes: file
                .limits
                .max_aws_body_bytes
                .unwrap_or(defaults.max_aws_body_bytes),
            max_clock_skew_seconds: file
                .limits
                .max_clock_skew_seconds
                .unwrap_or(defaults.max_clock_skew_seconds),
        };
        if !(1..=MAX_BODY_BYTES).contains(&limits.max_body_bytes) {
            bail!("limits.max_body_bytes must be between 1 and {MAX_BODY_BYTES}");
        }
        if !(1..=MAX_BODY_BYTES).contains(&limits.max_aws_body_bytes) {
            bail!("limits.max_aws_body_bytes must be between 1 and {MAX_BODY_BYTES}");
        }
        if !(1..=MAX_SKEW_SECONDS).contains(&limits.max_clock_skew_seconds) {
            bail!("limits.max_clock_skew_seconds must be between 1 and {MAX_SKEW_SECONDS}");
        }
        let sandbox = Sandbox {
            memory_bytes: file
                .sandbox
                .memory_bytes
                .unwrap_or(Sandbox::default().memory_bytes),
            deadline_ms: file
                .sandbox
                .deadline_ms
                .unwrap_or(Sandbox::default().deadline_ms),
            instance_reuse: file
                .sandbox
                .instance_reuse
                .unwrap_or(Sandbox::default().instance_reuse),
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

        let mut access_keys = HashMap::new();
        for (i, key) in file.access_keys.into_iter().enumerate() {
            let at = format!("access_keys[{i}]");
            non_empty(&key.id, &at, "id")?;
            non_empty(&key.account, &at, "account")?;
            let secret = secret(key.secret, key.secret_env, &at)?;
            if access_keys
                .insert(
                    key.id.clone(),
                    AccessKey {
                        secret,
                        account: key.account,
                    },
                )
                .is_some()
            {
                bail!("{at}.id: access key id {:?} is configured twice", key.id);
            }
        }
        let mut token_keys = Vec::new();
        for (i, key) in file.token_keys.into_iter().enumerate() {
            let at = format!("token_keys[{i}]");
            non_empty(&key.account, &at, "account")?;
            let secret = secret(key.secret, key.secret_env, &at)?;
            token_keys.push(TokenKey {
                secret: secret.into_bytes(),
                account: key.account,
            });
        }
        let serve = file.serve.validate()?;
        Ok(Config {
            limits,
            sandbox,
            serve,
            access_keys,
            token_keys,
        })
    }

    /// The token keys, in configuration order.
    pub fn token_keys(&self) -> &[TokenKey] {
        &self.token_keys
    }
}

fn non_empty(value: &str, at: &str, field: &str) -> anyhow::Result<()> {
    if value.trim().is_empty() {
        bail!("{at}.{field} must not be empty");
    }
    Ok(())
}

/// A secret given inline or through an environment variable, exactly one of the two.
fn secret(inline: Option<String>, env: Option<String>, at: &str) -> anyhow::Result<String> {
    let value = match (inline, env) {
        (Some(secret), None) => secret,
        (None, Some(var)) => std::env::var(&var)
            .with_context(|| format!("{at}.secret_env: environment variable {var} is not set"))?,
        (Some(_), Some(_)) => bail!("{at}: give either secret or secret_env, not both"),
        (None, None) => bail!("{at}: a secret (or secret_env) is required"),
    };
    if value.is_empty() {
        bail!("{at}: the secret must not be empty");
    }
    Ok(value)
}

impl Env for Config {
    fn access_key(&self, id: &str) -> Option<AccessKey> {
        self.access_keys.get(id).cloned()
    }

    fn token_key(&self, index: u32) -> Option<TokenKey> {
        self.token_keys.get(index as usize).cloned()
    }

    fn limits(&self) -> Limits {
        self.limits
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.access_keys.keys().collect();
        ids.sort();
        f.debug_struct("Config")
            .field("limits", &self.limits)
            .field("sandbox", &self.sandbox)
            .field("serve", &self.serve)
            .field("access_key_ids", &ids)
            .field("token_keys", &self.token_keys.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_configuration_is_valid() {
        let config = Config::demo().unwrap();
        assert_eq!(config.limits, Limits::default());
        assert!(!config.token_keys().is_empty());
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
            ("[serve]\nupstream = \"https://x\"", "http://"),
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
    fn debug_output_has_no_secrets() {
        let config = Config::parse("[[access_keys]]\nid = \"AK\"\naccount = \"x\"\nsecret = \"hunter2\"\n[[token_keys]]\naccount = \"x\"\nsecret = \"tk-secret\"").unwrap();
        let shown = format!("{config:?}");
        assert!(
            shown.contains("AK") && !shown.contains("hunter2") && !shown.contains("tk-secret"),
            "{shown}"
        );
    }
}
