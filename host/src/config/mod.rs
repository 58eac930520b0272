//! The one configuration file: access keys with their accounts, token keys, limits and the
//! sandbox's budget. Everything is checked when the file is loaded, before any request runs,
//! and a bad file is one clear error naming the field.

mod serve;
mod store;
mod upstream;

pub use serve::{CertificateFiles, Route, Serve, Trace, fixed_upstream};
pub use store::{Rate, StoreSettings};
pub use upstream::{HostPattern, UpstreamUrl};

use crate::credentials::Chain;
use anyhow::{Context as _, bail};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use taskgate_filter::bounds::{Bounded, DEADLINE_MS, INSTANCE_REUSE, MEMORY_BYTES};
use taskgate_filter::config_file::{File, RateFile};
use taskgate_filter::{
    CredentialSource, Keyring, KeyringEnv, Limits, OtherCalls, TemporaryCredentials,
};

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
    pub store: StoreSettings,
    /// The secrets: only the host holds them, the component asks the keyring to verify MACs;
    /// the `[[credentials]]` re-sign with them on the host's side.
    pub keyring: Keyring,
    /// Each access key's `sign_as`: the credential its callbacks are re-signed with before
    /// they are forwarded, by access key id.
    pub sign_as: HashMap<String, String>,
    /// The `[[credentials]]` that come from a cloud's chain (also in `keyring`): a gateway
    /// keeps them fresh.
    pub chains: Vec<Arc<Chain>>,
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
            memory_bytes: MEMORY_BYTES.default as usize,
            deadline_ms: DEADLINE_MS.default,
            instance_reuse: INSTANCE_REUSE.default as u32,
        }
    }
}

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
        let sandbox = &file.sandbox;
        let bounded =
            |bounds: Bounded, value: Option<u64>| bounds.value(value).map_err(anyhow::Error::msg);
        let sandbox = SandboxSettings {
            memory_bytes: bounded(MEMORY_BYTES, sandbox.memory_bytes.map(|n| n as u64))? as usize,
            deadline_ms: bounded(DEADLINE_MS, sandbox.deadline_ms)?,
            instance_reuse: bounded(INSTANCE_REUSE, sandbox.instance_reuse.map(u64::from))? as u32,
        };
        // The body is copied into the component and decoded there: leave room for a few copies.
        let needed = MEMORY_BYTES.min as usize + 4 * limits.largest_body() as usize;
        if sandbox.memory_bytes < needed {
            bail!(
                "sandbox.memory_bytes ({}) must be at least {needed} for a body limit of {} bytes",
                sandbox.memory_bytes,
                limits.largest_body()
            );
        }

        let mut keyring = file.keyring()?;
        let sign_as = file.sign_as();
        let chains: Vec<Arc<Chain>> = file.credential_chains()?.iter().map(Chain::new).collect();
        for chain in &chains {
            let source: Arc<dyn CredentialSource> = chain.clone();
            keyring = keyring.with_credential(&chain.spec().name, source);
        }
        let mut rates = HashMap::new();
        for (i, key) in file.access_keys.iter().enumerate() {
            let rate = RateFile {
                rate_per_second: key.rate_per_second,
                burst: key.burst,
            };
            if let Some(rate) = store::validate_rate(rate, &format!("access_keys[{i}]."))? {
                rates.insert(key.id.clone(), rate);
            }
        }
        let other_calls = file.other_calls()?;
        let retention_hours = file.retention_hours()?;
        let serve = serve::validate(file.serve, other_calls, base)?;
        let store = store::validate(
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
            store,
            keyring,
            sign_as,
            chains,
        })
    }

    /// This configuration with the chains of `previous` where it has the same ones (a reload):
    /// a credential already fetched goes on being used and refreshed, instead of starting
    /// over as not fetched yet.
    pub fn keeping_chains_of(mut self, previous: &Config) -> Config {
        for chain in &mut self.chains {
            if let Some(kept) = previous.chains.iter().find(|p| p.spec() == chain.spec()) {
                *chain = Arc::clone(kept);
                let source: Arc<dyn CredentialSource> = kept.clone();
                self.keyring = self.keyring.with_credential(&kept.spec().name, source);
            }
        }
        self
    }

    /// Why a `[[credentials]]` entry from a chain cannot be had now, for `/readyz`.
    pub fn credentials_missing(&self) -> Option<String> {
        self.chains.iter().find_map(|chain| {
            let why = chain.current().err()?;
            Some(format!(
                "credentials '{}' cannot be had: {why}",
                chain.spec().name
            ))
        })
    }
}
/// The filter's `Env` over the configured keys and settings (`KeyringEnv`).
impl KeyringEnv for Config {
    fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    fn other_calls(&self) -> OtherCalls {
        self.serve.other_calls
    }

    fn temporary_credentials(&self) -> TemporaryCredentials {
        self.serve.temporary_credentials
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
    use std::net::SocketAddr;

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
                "{host} as the whole host",
            ),
            ("[serve]\nother_calls = \"maybe\"", "serve.other_calls"),
            (
                "[[serve.routes]]\nhost = \"x.com\"\nupstream = \"https://{host}\"\ntemporary_credentials = \"yes\"",
                "serve.routes[0].temporary_credentials must be \"refuse\" or \"forward\"",
            ),
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
