//! The configuration file's format, for every build that reads one: `taskgate serve` and the
//! CLI, and the Envoy plugin (whose `configuration` string is such a file). The sections every
//! build shares are validated here, once: the limits, the keys with their secrets, the calls the
//! filter does not model and the ledger's retention. What only one build can use (the gateway's
//! listener, sandbox and store) is parsed here and validated by that build.
//!
//! Errors are one line naming the field and the rule, in the words `taskgate serve` has always
//! used; the secrets themselves never appear in one.

use crate::bounds::{
    Bounded, MAX_AWS_BODY_BYTES, MAX_BODY_BYTES, MAX_CLOCK_SKEW_SECONDS, RETENTION_HOURS,
};
use crate::keyring::{AccessKey, Keyring, SigningCredential, TokenKey};
use crate::types::{Choice, Limits, Mode, OtherCalls, TemporaryCredentials, choice};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A configuration file that cannot be used: the message names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Fails with a message built like `format!`.
macro_rules! refuse {
    ($($arg:tt)*) => {
        return Err(ConfigError(format!($($arg)*)))
    };
}

/// The whole file, as written: every section optional, every unknown field an error.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// `[limits]`.
    #[serde(default)]
    pub limits: LimitsFile,
    /// `[sandbox]` (the component's budget in `taskgate`).
    #[serde(default)]
    pub sandbox: SandboxFile,
    /// `[serve]` (the gateway).
    #[serde(default)]
    pub serve: ServeFile,
    /// `[store]` (where the gateway remembers).
    #[serde(default)]
    pub store: StoreFile,
    /// `[ledger]` (settled tasks).
    #[serde(default)]
    pub ledger: LedgerFile,
    /// `[throttle]` (every access key's rate).
    #[serde(default)]
    pub throttle: RateFile,
    /// `[[access_keys]]`.
    #[serde(default)]
    pub access_keys: Vec<AccessKeyFile>,
    /// `[[token_keys]]`.
    #[serde(default)]
    pub token_keys: Vec<TokenKeyFile>,
    /// `[[credentials]]`.
    #[serde(default)]
    pub credentials: Vec<CredentialFile>,
}

/// `[limits]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "the fields are Limits' own, documented there")]
pub struct LimitsFile {
    pub max_body_bytes: Option<u32>,
    pub max_aws_body_bytes: Option<u32>,
    pub max_clock_skew_seconds: Option<u32>,
}

/// `[sandbox]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "documented where the host validates them")]
pub struct SandboxFile {
    pub memory_bytes: Option<usize>,
    pub deadline_ms: Option<u64>,
    pub instance_reuse: Option<u32>,
}

/// `[serve]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "documented where the host validates them")]
pub struct ServeFile {
    pub listen: Option<SocketAddr>,
    pub admin_listen: Option<SocketAddr>,
    pub upstream: Option<String>,
    #[serde(default)]
    pub upstreams: BTreeMap<String, String>,
    pub upstream_timeout_ms: Option<u64>,
    pub sink_path: Option<PathBuf>,
    pub max_in_flight: Option<u32>,
    pub workers: Option<usize>,
    pub read_timeout_ms: Option<u64>,
    pub max_header_bytes: Option<usize>,
    pub max_headers: Option<usize>,
    pub max_connections: Option<usize>,
    pub max_connections_per_client: Option<usize>,
    pub max_upstream_answer_bytes: Option<usize>,
    pub filter: Option<bool>,
    pub other_calls: Option<String>,
    pub drain_delay_ms: Option<u64>,
    pub trace: Option<String>,
    pub mode: Option<String>,
    pub temporary_credentials: Option<String>,
    pub repair: Option<String>,
    #[serde(default)]
    pub routes: Vec<RouteFile>,
    pub ca_file: Option<PathBuf>,
    pub tls: Option<TlsFile>,
}

/// The field names of a section as the configuration file spells them (`ServeFile`: `listen`,
/// `upstream`, ...), read from its `Deserialize` implementation: for tests that require every
/// setting to be handled, so a field added later cannot be forgotten.
pub fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::value::Error;
    use serde::de::{Deserializer, Error as _, Visitor};
    /// A deserializer that only notes the fields a struct asks for.
    struct Fields(&'static [&'static str]);
    impl<'de> Deserializer<'de> for &mut Fields {
        type Error = Error;
        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
            Err(Error::custom("only a struct's fields are read"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Error> {
            self.0 = fields;
            Err(Error::custom("fields noted"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields = Fields(&[]);
    let _ = T::deserialize(&mut fields);
    fields.0
}

/// The setting `value` spells at `at` (`types::choice`), as a configuration error.
pub fn choice_at<T: Choice>(value: Option<&str>, at: &str) -> Result<T, ConfigError> {
    choice(value, at).map_err(ConfigError)
}

/// One `[[serve.routes]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "documented where the host validates them")]
pub struct RouteFile {
    pub host: String,
    pub upstream: String,
    pub connect_to: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub mode: Option<String>,
    pub temporary_credentials: Option<String>,
    pub repair: Option<String>,
}

/// `[serve.tls]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "documented where the host validates them")]
pub struct TlsFile {
    #[serde(default)]
    pub certificates: Vec<CertificateFile>,
}

/// One `[[serve.tls.certificates]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "documented where the host validates them")]
pub struct CertificateFile {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// `[store]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "documented where the host validates them")]
pub struct StoreFile {
    pub kind: Option<String>,
    pub path: Option<PathBuf>,
    pub url: Option<String>,
    pub unavailable: Option<String>,
    pub timeout_ms: Option<u64>,
}

/// `[ledger]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "documented where they are validated")]
pub struct LedgerFile {
    pub retention_hours: Option<u64>,
    pub wait_ms: Option<u64>,
}

/// `[throttle]`, and the same two fields on an `[[access_keys]]` entry.
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "documented where the host validates them")]
pub struct RateFile {
    pub rate_per_second: Option<f64>,
    pub burst: Option<u32>,
}

/// One `[[access_keys]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKeyFile {
    /// The AccessKeyId (or AWS access key id).
    pub id: String,
    /// The owning account.
    pub account: String,
    /// The secret, inline.
    pub secret: Option<String>,
    /// The environment variable holding the secret.
    pub secret_env: Option<String>,
    /// This key's own rate, over `[throttle]`'s (serde's `flatten` would lose
    /// `deny_unknown_fields`, so the two fields are spelled out).
    pub rate_per_second: Option<f64>,
    /// This key's own burst.
    pub burst: Option<u32>,
    /// The `[[credentials]]` entry its callbacks are re-signed with before they are forwarded;
    /// absent, they go on as the caller signed them.
    pub sign_as: Option<String>,
}

/// One `[[credentials]]`: a credential the gateway signs forwarded requests with, named by an
/// access key's `sign_as`: given here (`access_key_id` and a secret), or from a cloud's own
/// chain (`source`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialFile {
    /// The name `sign_as` uses.
    pub name: String,
    /// `"aws"` (the AWS SDK's default chain) or `"alibaba"` (the environment, then the ECS
    /// instance's RAM role); absent: the credential given here.
    pub source: Option<String>,
    /// `source = "alibaba"`: the RAM role to ask the instance metadata for (absent: the one it
    /// lists).
    pub ram_role: Option<String>,
    /// `source = "alibaba"`: where the instance metadata is served (absent: the ECS address).
    pub metadata_endpoint: Option<String>,
    /// The access key id it signs as.
    #[serde(default)]
    pub access_key_id: String,
    /// The secret, inline.
    pub secret: Option<String>,
    /// The environment variable holding the secret.
    pub secret_env: Option<String>,
    /// The session token of temporary credentials, inline.
    pub session_token: Option<String>,
    /// The environment variable holding the session token.
    pub session_token_env: Option<String>,
}

/// A `[[credentials]]` entry that comes from a cloud's own chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSpec {
    /// The name `sign_as` uses.
    pub name: String,
    /// Which chain.
    pub source: ChainSource,
}

/// The clouds' credential chains a host can fetch from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainSource {
    /// The AWS SDK's default chain: environment, shared files, web identity, ECS container
    /// credentials, EC2 instance metadata.
    Aws,
    /// Alibaba Cloud: the environment (`ALIBABA_CLOUD_ACCESS_KEY_ID`, `…_SECRET`,
    /// `ALIBABA_CLOUD_SECURITY_TOKEN`), then the ECS instance's RAM role from its metadata.
    Alibaba {
        /// The role (absent: the one the metadata lists).
        ram_role: Option<String>,
        /// The metadata endpoint (absent: the ECS one).
        metadata_endpoint: Option<String>,
    },
}

/// One `[[token_keys]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenKeyFile {
    /// The account whose tokens this key makes.
    pub account: String,
    /// The secret, inline.
    pub secret: Option<String>,
    /// The environment variable holding the secret.
    pub secret_env: Option<String>,
}

impl File {
    /// Parses TOML text; a field no section knows is an error naming it.
    pub fn parse(text: &str) -> Result<File, ConfigError> {
        toml::from_str(text).map_err(|error| ConfigError(one_line(&error, text)))
    }

    /// `[limits]`, each bound checked.
    pub fn limits(&self) -> Result<Limits, ConfigError> {
        let file = &self.limits;
        let check =
            |bounds: Bounded, value: Option<u32>| bounds.value_u32(value).map_err(ConfigError);
        Ok(Limits {
            max_body_bytes: check(MAX_BODY_BYTES, file.max_body_bytes)?,
            max_aws_body_bytes: check(MAX_AWS_BODY_BYTES, file.max_aws_body_bytes)?,
            max_clock_skew_seconds: check(MAX_CLOCK_SKEW_SECONDS, file.max_clock_skew_seconds)?,
        })
    }

    /// The access keys and token keys, each secret read (inline or from its environment
    /// variable) and every id unique.
    pub fn keyring(&self) -> Result<Keyring, ConfigError> {
        let mut access_keys = HashMap::new();
        for (i, key) in self.access_keys.iter().enumerate() {
            let at = format!("access_keys[{i}]");
            non_empty(&key.id, &at, "id")?;
            non_empty(&key.account, &at, "account")?;
            let secret = secret(key.secret.as_deref(), key.secret_env.as_deref(), &at)?;
            let account = key.account.clone();
            if access_keys
                .insert(key.id.clone(), AccessKey { secret, account })
                .is_some()
            {
                refuse!("{at}.id: access key id {:?} is configured twice", key.id);
            }
        }
        let mut token_keys = Vec::new();
        for (i, key) in self.token_keys.iter().enumerate() {
            let at = format!("token_keys[{i}]");
            non_empty(&key.account, &at, "account")?;
            let secret = secret(key.secret.as_deref(), key.secret_env.as_deref(), &at)?;
            token_keys.push(TokenKey {
                secret: secret.into_bytes(),
                account: key.account.clone(),
            });
        }
        let mut credentials = HashMap::new();
        let chains = self.credential_chains()?;
        for (i, credential) in self.credentials.iter().enumerate() {
            let at = format!("credentials[{i}]");
            non_empty(&credential.name, &at, "name")?;
            if chains.iter().any(|chain| chain.name == credential.name) {
                continue;
            }
            non_empty(&credential.access_key_id, &at, "access_key_id")?;
            let secret = secret(
                credential.secret.as_deref(),
                credential.secret_env.as_deref(),
                &at,
            )?;
            let session_token = match (
                credential.session_token.as_deref(),
                credential.session_token_env.as_deref(),
            ) {
                (None, None) => None,
                (inline, env) => Some(sensitive(inline, env, &at, "session_token")?),
            };
            let signing = SigningCredential {
                access_key_id: credential.access_key_id.clone(),
                secret,
                session_token,
            };
            let source: std::sync::Arc<dyn crate::keyring::CredentialSource> =
                std::sync::Arc::new(signing);
            if credentials
                .insert(credential.name.clone(), source)
                .is_some()
            {
                refuse!(
                    "{at}.name: the credential {:?} is configured twice",
                    credential.name
                );
            }
        }
        for (i, key) in self.access_keys.iter().enumerate() {
            if let Some(name) = &key.sign_as
                && !credentials.contains_key(name)
                && !chains.iter().any(|chain| chain.name == *name)
            {
                refuse!("access_keys[{i}].sign_as: no [[credentials]] entry is named {name:?}");
            }
        }
        Ok(Keyring::new(access_keys, token_keys).with_credentials(credentials))
    }

    /// The `[[credentials]]` that come from a cloud's own chain (`source`), for a host to fetch
    /// and refresh (`keyring` holds the ones given here).
    pub fn credential_chains(&self) -> Result<Vec<ChainSpec>, ConfigError> {
        let mut chains = Vec::new();
        for (i, credential) in self.credentials.iter().enumerate() {
            let at = format!("credentials[{i}]");
            let given = !credential.access_key_id.is_empty()
                || credential.secret.is_some()
                || credential.secret_env.is_some()
                || credential.session_token.is_some()
                || credential.session_token_env.is_some();
            let alibaba_only =
                credential.ram_role.is_some() || credential.metadata_endpoint.is_some();
            let source = match credential.source.as_deref() {
                None if alibaba_only => {
                    refuse!("{at}: ram_role and metadata_endpoint are for source = \"alibaba\"")
                }
                None => continue,
                Some(_) if given => refuse!(
                    "{at}: a credential from a source takes no access_key_id, secret or session_token"
                ),
                Some("aws") if alibaba_only => {
                    refuse!("{at}: ram_role and metadata_endpoint are for source = \"alibaba\"")
                }
                Some("aws") => ChainSource::Aws,
                Some("alibaba") => ChainSource::Alibaba {
                    ram_role: credential.ram_role.clone(),
                    metadata_endpoint: credential.metadata_endpoint.clone(),
                },
                Some(other) => {
                    refuse!("{at}.source must be \"aws\" or \"alibaba\", not {other:?}")
                }
            };
            chains.push(ChainSpec {
                name: credential.name.clone(),
                source,
            });
        }
        Ok(chains)
    }

    /// Each access key's `sign_as`: the credential its callbacks are re-signed with, by key
    /// id (checked to exist by `keyring`).
    pub fn sign_as(&self) -> HashMap<String, String> {
        self.access_keys
            .iter()
            .filter_map(|key| Some((key.id.clone(), key.sign_as.clone()?)))
            .collect()
    }

    /// `[serve] other_calls`.
    pub fn other_calls(&self) -> Result<OtherCalls, ConfigError> {
        choice_at(self.serve.other_calls.as_deref(), "serve.other_calls")
    }

    /// `[serve] mode`: answer what the filter refuses (`enforce`, the default) or only log and
    /// count it (`shadow`).
    pub fn mode(&self) -> Result<Mode, ConfigError> {
        choice_at(self.serve.mode.as_deref(), "serve.mode")
    }

    /// `[serve] temporary_credentials`: refuse callbacks signed with temporary credentials the
    /// keyring does not hold (the default), or check all but their MAC and let the service
    /// verify them (`forward`).
    pub fn temporary_credentials(&self) -> Result<TemporaryCredentials, ConfigError> {
        choice_at(
            self.serve.temporary_credentials.as_deref(),
            "serve.temporary_credentials",
        )
    }

    /// `[ledger] retention_hours`: how long a settled task is remembered, in hours.
    pub fn retention_hours(&self) -> Result<u64, ConfigError> {
        RETENTION_HOURS
            .value(self.ledger.retention_hours)
            .map_err(ConfigError)
    }
}

/// A TOML error as one line, `line L, column C (`the line`): what` (toml's own rendering quotes
/// the text over several lines, which a proxy's log line cannot carry). The line shows which
/// field is wrong; a `secret` field's value is left out of it.
pub fn one_line(error: &toml::de::Error, text: &str) -> String {
    let message = error.message().replace('\n', " ");
    match error.span() {
        Some(span) if span.start <= text.len() && text.is_char_boundary(span.start) => {
            let before = &text[..span.start];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let source = text.lines().nth(line - 1).unwrap_or_default().trim();
            let source = match source.split_once('=') {
                Some((key, _)) if key.contains("secret") => format!("{}= ...", key),
                _ if source.chars().count() > 80 => {
                    format!("{}...", source.chars().take(80).collect::<String>())
                }
                _ => source.to_owned(),
            };
            format!("line {line}, column {column} (`{source}`): {message}")
        }
        _ => message,
    }
}

fn non_empty(value: &str, at: &str, field: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        refuse!("{at}.{field} must not be empty");
    }
    Ok(())
}

/// A secret given inline or through an environment variable, exactly one of the two.
fn secret(inline: Option<&str>, env: Option<&str>, at: &str) -> Result<String, ConfigError> {
    sensitive(inline, env, at, "secret")
}

/// A sensitive value (`field`: a secret, a session token) given inline (`field`) or through an
/// environment variable (`field_env`), exactly one of the two, never empty.
fn sensitive(
    inline: Option<&str>,
    env: Option<&str>,
    at: &str,
    field: &str,
) -> Result<String, ConfigError> {
    let value = match (inline, env) {
        (Some(value), None) => value.to_owned(),
        (None, Some(var)) => match std::env::var(var) {
            Ok(value) => value,
            Err(_) => refuse!("{at}.{field}_env: environment variable {var} is not set"),
        },
        (Some(_), Some(_)) => refuse!("{at}: give either {field} or {field}_env, not both"),
        (None, None) => refuse!("{at}: a {field} (or {field}_env) is required"),
    };
    if value.is_empty() {
        refuse!("{at}: the {field} must not be empty");
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        let file = match File::parse(text) {
            Ok(file) => file,
            Err(error) => return error.0,
        };
        let checks = [
            file.limits().err(),
            file.keyring().err(),
            file.other_calls().err(),
            file.temporary_credentials().err(),
            file.retention_hours().err(),
        ];
        checks.into_iter().flatten().map(|e| e.0).collect()
    }

    #[test]
    fn mistakes_in_the_shared_sections_are_named() {
        let cases = [
            ("[limits]\nmax_body_bytes = 0", "limits.max_body_bytes"),
            ("[limits]\nmax_clok_skew = 1", "unknown field"),
            ("[[access_keys]]\nid = \"a\"\naccount = \"x\"", "a secret"),
            (
                "[[access_keys]]\nid = \"a\"\naccount = \"x\"\nsecret = \"s\"\n[[access_keys]]\nid = \"a\"\naccount = \"y\"\nsecret = \"t\"",
                "configured twice",
            ),
            (
                "[[token_keys]]\naccount = \"\"\nsecret = \"s\"",
                "token_keys[0].account must not be empty",
            ),
            ("[serve]\nother_calls = \"maybe\"", "serve.other_calls"),
            (
                "[[access_keys]]\nid = \"a\"\naccount = \"x\"\nsecret = \"s\"\nsign_as = \"cloud\"",
                "access_keys[0].sign_as: no [[credentials]] entry is named \"cloud\"",
            ),
            (
                "[[credentials]]\nname = \"c\"\naccess_key_id = \"AKID\"",
                "credentials[0]: a secret (or secret_env) is required",
            ),
            (
                "[[credentials]]\nname = \"c\"\naccess_key_id = \"AKID\"\nsecret = \"s\"\n[[credentials]]\nname = \"c\"\naccess_key_id = \"AKID2\"\nsecret = \"t\"",
                "configured twice",
            ),
            (
                "[[credentials]]\nname = \"c\"\naccess_key_id = \"AKID\"\nsecret = \"s\"\nsession_token = \"\"",
                "credentials[0]: the session_token must not be empty",
            ),
            (
                "[[credentials]]\nname = \"c\"\nsource = \"gcp\"",
                "credentials[0].source must be \"aws\" or \"alibaba\"",
            ),
            (
                "[[credentials]]\nname = \"c\"\nsource = \"aws\"\nsecret = \"s\"",
                "credentials[0]: a credential from a source takes no access_key_id, secret or session_token",
            ),
            (
                "[[credentials]]\nname = \"c\"\nsource = \"aws\"\nram_role = \"r\"",
                "credentials[0]: ram_role and metadata_endpoint are for source = \"alibaba\"",
            ),
            (
                "[serve]\ntemporary_credentials = \"verify\"",
                "serve.temporary_credentials must be \"refuse\" or \"forward\"",
            ),
            ("[ledger]\nretention_hours = 0", "ledger.retention_hours"),
        ];
        for (text, want) in cases {
            let got = error(text);
            assert!(got.contains(want), "{text}: {got}");
        }
    }

    #[test]
    fn a_syntax_error_is_one_line_with_its_place() {
        let got = error("[limits]\nmax_body_bytes = 1\n[limitz]\nx = 1\n");
        assert!(
            got.starts_with("line 3, column 2 (`[limitz]`): unknown field `limitz`"),
            "{got}"
        );
        assert!(!got.contains('\n'), "{got}");
        // An unquoted secret is a syntax error on its line: the line is named, not the value.
        let got = error("[[access_keys]]\nid = \"a\"\nsecret = hunter2\n");
        assert!(
            got.contains("(`secret = ...`)") && !got.contains("hunter2"),
            "{got}"
        );
    }

    #[test]
    fn a_secret_never_appears_in_an_error() {
        let text = "[[access_keys]]\nid = \"a\"\naccount = \"x\"\nsecret = \"hunter2\"\nsecret_env = \"X\"";
        let got = error(text);
        assert!(
            got.contains("not both") && !got.contains("hunter2"),
            "{got}"
        );
    }
}
