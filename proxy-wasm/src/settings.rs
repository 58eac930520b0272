//! The plugin's settings: its `configuration` string is a taskgate configuration file, read by
//! the filter library's own parser (`taskgate_filter::config_file`), so a file that works for
//! `taskgate serve` means the same here. What only the gateway can do (its listener, upstreams,
//! sandbox, store, rates) has no meaning inside Envoy, and a file that sets it is refused with
//! a sentence saying what takes its place, rather than silently ignored.

use std::fmt;
use taskgate_filter::config_file::{ConfigError, File, one_line};
use taskgate_filter::{Keyring, KeyringEnv, Limits, Mode, OtherCalls, TemporaryCredentials};

/// A validated plugin configuration. `Debug` shows no secret.
pub struct Settings {
    /// Limits every request is checked against.
    pub limits: Limits,
    /// What the filter does with the calls it does not model.
    pub other_calls: OtherCalls,
    /// What the filter does with callbacks signed with temporary credentials.
    pub temporary_credentials: TemporaryCredentials,
    /// Answer what the filter or the memory refuses (`enforce`), or log and count it and let
    /// the request go on (`shadow`).
    pub mode: Mode,
    /// How long a settled task is remembered, in seconds (`[ledger] retention_hours`).
    pub retention_seconds: u64,
    /// False with `[store] kind = "none"`: nothing is remembered (no replay or settled-task
    /// answers), as with `taskgate serve`.
    pub remember: bool,
    /// The secrets, from the configuration (inline, or `secret_env` through the VM's
    /// `environment_variables`).
    pub keyring: Keyring,
}

/// Why each setting Envoy has no use for is refused, by its name in the file. Whole sections
/// first; a `[serve]` setting is looked up by its own name.
const MEANINGLESS: &[(&str, &str)] = &[
    (
        "sandbox",
        "the plugin runs in Envoy's own wasm VM, whose limits Envoy's vm_config sets",
    ),
    (
        "store.kind",
        "the plugin remembers replays and settled tasks in Envoy's shared data, on this Envoy only (kind = \"none\" turns that off)",
    ),
    (
        "store.path",
        "the plugin remembers replays and settled tasks in Envoy's shared data, on this Envoy only",
    ),
    (
        "store.url",
        "the plugin remembers replays and settled tasks in Envoy's shared data, on this Envoy only",
    ),
    (
        "store.unavailable",
        "shared data is always there; when writes keep failing the request goes on without memory (counted)",
    ),
    (
        "store.timeout_ms",
        "shared data is in Envoy's own memory: there is nothing to wait for",
    ),
    (
        "throttle",
        "rates are not kept by the plugin: use Envoy's local_ratelimit filter, or taskgate serve with Redis",
    ),
    (
        "serve.listen",
        "Envoy's listeners say where requests arrive",
    ),
    (
        "serve.admin_listen",
        "Envoy's admin interface serves the plugin's counters (/stats/prometheus)",
    ),
    (
        "serve.upstream",
        "Envoy's routes and clusters say where accepted calls go",
    ),
    (
        "serve.upstreams",
        "Envoy's routes and clusters say where accepted calls go",
    ),
    (
        "serve.routes",
        "Envoy's routes and clusters say where accepted calls go",
    ),
    (
        "serve.ca_file",
        "the TLS of Envoy's clusters says which upstream certificates are trusted",
    ),
    (
        "serve.tls",
        "Envoy's listener TLS (transport_socket) serves TLS",
    ),
    (
        "serve.upstream_timeout_ms",
        "the route's timeout in Envoy bounds the upstream",
    ),
    (
        "serve.max_upstream_answer_bytes",
        "Envoy's buffer limits bound the upstream's answer",
    ),
    (
        "serve.sink_path",
        "inside Envoy every accepted call goes to Envoy's route; there is no local sink",
    ),
    (
        "serve.max_in_flight",
        "Envoy's circuit breakers and overload manager bound the requests in flight",
    ),
    (
        "serve.workers",
        "Envoy's --concurrency sets its worker threads",
    ),
    (
        "serve.read_timeout_ms",
        "Envoy's request_timeout and stream_idle_timeout bound a slow client",
    ),
    (
        "serve.max_header_bytes",
        "Envoy's max_request_headers_kb bounds a request's head",
    ),
    (
        "serve.max_headers",
        "Envoy's max_headers_count bounds a request's fields",
    ),
    (
        "serve.max_connections",
        "Envoy's connection limits bound its connections",
    ),
    (
        "serve.max_connections_per_client",
        "Envoy's connection limits bound its connections",
    ),
    (
        "serve.filter",
        "to forward unchecked, leave the plugin out of the filter chain",
    ),
    (
        "serve.drain_delay_ms",
        "Envoy drains its listeners itself (--drain-time-s, /drain_listeners)",
    ),
    (
        "serve.trace",
        "Envoy's own tracing starts and propagates traces",
    ),
    (
        "ledger.wait_ms",
        "the plugin answers a report for a task another report is with the upstream for at once (TaskBusy): a filter in Envoy cannot wait for another request",
    ),
    (
        "credentials",
        "the plugin forwards callbacks as their callers signed them; re-signing with the gateway's own credential (sign_as) is taskgate serve's (docs/envoy.md)",
    ),
    (
        "serve.repair",
        "the plugin forwards callbacks as their callers signed them; a repaired report must be signed again, which is taskgate serve's (docs/envoy.md)",
    ),
    (
        "access_keys.sign_as",
        "the plugin forwards callbacks as their callers signed them; re-signing with the gateway's own credential (sign_as) is taskgate serve's (docs/envoy.md)",
    ),
    (
        "access_keys.rate_per_second",
        "rates are not kept by the plugin: use Envoy's local_ratelimit filter, or taskgate serve with Redis",
    ),
    (
        "access_keys.burst",
        "rates are not kept by the plugin: use Envoy's local_ratelimit filter, or taskgate serve with Redis",
    ),
];

impl Settings {
    /// Parses and validates the plugin's configuration, TOML (the configuration file's
    /// sections) or the same settings as a JSON object: one line naming the field on error.
    pub fn parse(text: &str) -> Result<Settings, ConfigError> {
        let converted;
        let text = if text.trim_start().starts_with('{') {
            converted = json_as_toml(text)?;
            converted.as_str()
        } else {
            text
        };
        let file = File::parse(text)?;
        // `[store] kind = "none"` is the one store setting with a meaning here: remember nothing.
        let remember = file.store.kind.as_deref() != Some("none");
        refuse_meaningless(text, remember)?;
        Ok(Settings {
            remember,
            limits: file.limits()?,
            other_calls: file.other_calls()?,
            temporary_credentials: file.temporary_credentials()?,
            mode: file.mode()?,
            retention_seconds: file.retention_hours()? * 3600,
            keyring: file.keyring()?,
        })
    }
}

/// The settings of a JSON object as TOML text, read from there as the configuration file is.
/// Istio's `pluginConfig`, Envoy Gateway's `config` and Higress's `defaultConfig` hand a plugin
/// its configuration as JSON; Envoy's own `configuration` may be either.
fn json_as_toml(text: &str) -> Result<String, ConfigError> {
    let table: toml::Table = serde_json::from_str(text).map_err(|error| {
        ConfigError(format!(
            "the plugin configuration is not a JSON object of settings: {error}"
        ))
    })?;
    toml::to_string(&table).map_err(|error| {
        ConfigError(format!(
            "the plugin configuration cannot be read as settings: {error}"
        ))
    })
}

/// The first setting in `text` that means nothing inside Envoy, as an error saying why
/// (`store.kind` is allowed when it turns memory off: `remember` false). The text parsed as
/// `File` already, so it is a TOML table.
fn refuse_meaningless(text: &str, remember: bool) -> Result<(), ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|error: toml::de::Error| ConfigError(one_line(&error, text)))?;
    let mut names = Vec::new();
    for (section, value) in &table {
        names.push(section.clone());
        match value {
            toml::Value::Table(fields) => {
                names.extend(fields.keys().map(|field| format!("{section}.{field}")));
            }
            toml::Value::Array(entries) => {
                for entry in entries.iter().filter_map(toml::Value::as_table) {
                    names.extend(entry.keys().map(|field| format!("{section}.{field}")));
                }
            }
            _ => {}
        }
    }
    for name in names {
        if name == "store.kind" && !remember {
            continue;
        }
        if let Some((_, why)) = MEANINGLESS.iter().find(|(setting, _)| *setting == name) {
            return Err(ConfigError(format!(
                "{name} means nothing inside Envoy: {why}; remove it from the plugin's configuration"
            )));
        }
    }
    Ok(())
}

/// The filter's `Env` over the plugin's keys and settings (`KeyringEnv`).
impl KeyringEnv for Settings {
    fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    fn other_calls(&self) -> OtherCalls {
        self.other_calls
    }

    fn temporary_credentials(&self) -> TemporaryCredentials {
        self.temporary_credentials
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("limits", &self.limits)
            .field("other_calls", &self.other_calls)
            .field("temporary_credentials", &self.temporary_credentials)
            .field("mode", &self.mode)
            .field("retention_seconds", &self.retention_seconds)
            .field("remember", &self.remember)
            .field("keyring", &self.keyring)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(text: &str) -> String {
        match Settings::parse(text) {
            Ok(settings) => panic!("accepted: {settings:?}"),
            Err(error) => error.0,
        }
    }

    #[test]
    fn the_shared_sections_are_read_as_taskgate_serve_reads_them() {
        let settings = Settings::parse(
            "[limits]\nmax_body_bytes = 1000\n[serve]\nother_calls = \"reject\"\ntemporary_credentials = \"forward\"\n[ledger]\nretention_hours = 2\n[[access_keys]]\nid = \"AK\"\naccount = \"1\"\nsecret = \"s\"\n",
        )
        .unwrap();
        assert_eq!(settings.limits.max_body_bytes, 1000);
        assert_eq!(settings.other_calls, OtherCalls::Reject);
        assert_eq!(
            settings.temporary_credentials,
            TemporaryCredentials::Forward
        );
        assert_eq!(settings.retention_seconds, 7200);
        assert_eq!(settings.keyring.account("AK").as_deref(), Some("1"));
    }

    #[test]
    fn the_same_settings_as_a_json_object_are_read_alike() {
        let toml = Settings::parse(
            "[limits]\nmax_body_bytes = 1000\n[serve]\nother_calls = \"reject\"\n[[access_keys]]\nid = \"AK\"\naccount = \"1\"\nsecret = \"s\"\n",
        )
        .unwrap();
        let json = Settings::parse(
            r#" {"limits": {"max_body_bytes": 1000}, "serve": {"other_calls": "reject"},
                "access_keys": [{"id": "AK", "account": "1", "secret": "s"}]}"#,
        )
        .unwrap();
        assert_eq!(format!("{json:?}"), format!("{toml:?}"));
        assert_eq!(json.limits.max_body_bytes, 1000);
        assert_eq!(json.other_calls, OtherCalls::Reject);
        // Refused as the TOML would be, naming the field.
        assert!(
            refusal(r#"{"serve": {"listen": "127.0.0.1:1"}}"#)
                .starts_with("serve.listen means nothing inside Envoy"),
        );
        assert!(refusal(r#"{"limits": {"max_body_bytes": 0}}"#).contains("max_body_bytes"));
        assert!(
            refusal(r#"{"limits": "#)
                .starts_with("the plugin configuration is not a JSON object of settings")
        );
    }

    /// The `[serve]` settings the plugin reads and acts on as `taskgate serve` does.
    const UNDERSTOOD: [&str; 3] = [
        "serve.other_calls",
        "serve.temporary_credentials",
        "serve.mode",
    ];

    /// Every setting of `[serve]`, now and later, is either read by the plugin or refused with
    /// the reason it means nothing inside Envoy: none is silently ignored.
    #[test]
    fn every_serve_setting_is_read_or_refused_with_a_reason() {
        let fields =
            taskgate_filter::config_file::fields_of::<taskgate_filter::config_file::ServeFile>();
        assert!(
            fields.contains(&"listen") && fields.contains(&"repair"),
            "{fields:?}"
        );
        for field in fields {
            let name = format!("serve.{field}");
            let refused = MEANINGLESS.iter().any(|(setting, _)| *setting == name);
            let read = UNDERSTOOD.contains(&name.as_str());
            assert!(refused != read, "{name}: read {read}, refused {refused}");
        }
    }

    #[test]
    fn an_empty_configuration_is_the_defaults_with_no_keys() {
        let settings = Settings::parse("").unwrap();
        assert_eq!(settings.limits, Limits::default());
        assert_eq!(settings.keyring.account("AK"), None);
        assert!(settings.remember);
    }

    #[test]
    fn store_kind_none_turns_the_memory_off() {
        let settings =
            Settings::parse("[store]\nkind = \"none\"\n[limits]\nmax_body_bytes = 10").unwrap();
        assert!(!settings.remember);
        assert_eq!(settings.limits.max_body_bytes, 10);
    }

    #[test]
    fn gateway_settings_are_refused_saying_what_does_their_work_in_envoy() {
        for (text, want) in [
            (
                "[serve]\nlisten = \"127.0.0.1:1\"",
                "serve.listen means nothing inside Envoy: Envoy's listeners",
            ),
            ("[serve]\nupstream = \"http://x:1\"", "serve.upstream means"),
            ("[sandbox]\ndeadline_ms = 5", "sandbox means nothing"),
            ("[store]\nkind = \"redis\"", "store.kind means nothing"),
            (
                "[store]\nkind = \"none\"\nurl = \"redis://x\"",
                "store.url means nothing",
            ),
            ("[ledger]\nwait_ms = 5", "ledger.wait_ms means nothing"),
            (
                "[[access_keys]]\nid = \"a\"\naccount = \"1\"\nsecret = \"s\"\nrate_per_second = 1.0",
                "access_keys.rate_per_second means nothing",
            ),
            (
                "[[serve.routes]]\nhost = \"x.com\"\nupstream = \"https://{host}\"",
                "serve.routes means nothing",
            ),
            (
                "[[credentials]]\nname = \"c\"\naccess_key_id = \"A\"\nsecret = \"s\"",
                "credentials means nothing inside Envoy",
            ),
        ] {
            let got = refusal(text);
            assert!(got.contains(want), "{text}: {got}");
        }
    }

    #[test]
    fn mistakes_are_named_as_taskgate_serve_names_them() {
        for (text, want) in [
            ("[limits]\nmax_body_bytes = 0", "limits.max_body_bytes"),
            ("[serve]\nother_calls = \"maybe\"", "serve.other_calls"),
            ("[limitz]\nx = 1", "unknown field"),
            (
                "[[token_keys]]\naccount = \"x\"\nsecret_env = \"TASKGATE_TEST_UNSET_VARIABLE\"",
                "TASKGATE_TEST_UNSET_VARIABLE is not set",
            ),
        ] {
            let got = refusal(text);
            assert!(got.contains(want), "{text}: {got}");
        }
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let settings = Settings::parse(
            "[[access_keys]]\nid = \"AK\"\naccount = \"x\"\nsecret = \"hunter2\"\n[[token_keys]]\naccount = \"x\"\nsecret = \"tk-secret\"",
        )
        .unwrap();
        let shown = format!("{settings:?}");
        assert!(
            shown.contains("AK") && !shown.contains("hunter2") && !shown.contains("tk-secret"),
            "{shown}"
        );
    }
}
