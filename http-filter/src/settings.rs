//! The component's settings, read from the host's `wasi:config` (`wasmtime serve -S config
//! -S config-var=upstream=...`; a `--jco-map`ped module under `jco serve`). The names are the
//! taskgate host's `[serve]` keys with dashes:
//!
//! | key | value | default |
//! |---|---|---|
//! | `upstream` | `http://HOST[:PORT]`, `https://HOST[:PORT]`, or `https://{host}` for the host each request names | required |
//! | `upstream-timeout-ms` | how long the upstream may take to answer (1 to 600000) | 10000 |
//! | `max-upstream-answer-bytes` | the longest upstream answer relayed (1024 to 2^30) | 16777216 |
//!
//! The upstream URL, its bounds and defaults are the filter library's
//! (`taskgate_filter::upstream`), as `taskgate serve` reads them.
//! | `max-body-bytes` | Alibaba callers' body limit (1 to 16777216) | 65536 |
//! | `max-aws-body-bytes` | AWS callers' body limit (1 to 16777216) | 1048576 |
//! | `max-clock-skew-seconds` | the signature timestamp's window (1 to 86400) | 900 |
//! | `other-calls` | `reject`, `authenticate` or `forward` | `authenticate` |
//! | `temporary-credentials` | `refuse`, or `forward`: callbacks signed with temporary credentials the keyring does not hold are checked in every way but their MAC and forwarded for the service to verify | `refuse` |
//! | `mode` | `enforce`, or `shadow`: what the filter would answer is written to stderr and the request forwarded anyway | `enforce` |
//!
//! Keys go to the keyring provider, not here (`access-key.*`, `token-key.*`).

use taskgate_filter::bounds::{
    Bounded, MAX_AWS_BODY_BYTES, MAX_BODY_BYTES, MAX_CLOCK_SKEW_SECONDS, MAX_UPSTREAM_ANSWER_BYTES,
    UPSTREAM_TIMEOUT_MS,
};
use taskgate_filter::upstream::UpstreamUrl;
use taskgate_filter::{Choice, Limits, Mode, OtherCalls, TemporaryCredentials, choice};

/// Everything the component is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub upstream: UpstreamUrl,
    pub upstream_timeout_ms: u64,
    pub max_upstream_answer_bytes: usize,
    pub limits: Limits,
    pub other_calls: OtherCalls,
    pub temporary_credentials: TemporaryCredentials,
    pub mode: Mode,
}

/// One configuration value by key: `None` when absent, an error (naming the key) when the
/// store cannot be read.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Result<Option<String>, String>;

impl Settings {
    /// Reads and checks every setting; the error names the key and what it must be.
    pub fn read(get: Lookup<'_>) -> Result<Settings, String> {
        let upstream = get("upstream")?.ok_or(
            "wasi:config key 'upstream' is required (e.g. https://{host} or http://127.0.0.1:9000)",
        )?;
        Ok(Settings {
            upstream: UpstreamUrl::parse(&upstream)
                .map_err(|problem| format!("wasi:config key 'upstream' {problem}"))?,
            upstream_timeout_ms: bounded(get, "upstream-timeout-ms", UPSTREAM_TIMEOUT_MS)?,
            max_upstream_answer_bytes: bounded(
                get,
                "max-upstream-answer-bytes",
                MAX_UPSTREAM_ANSWER_BYTES,
            )? as usize,
            // The limits' bounds are the configuration file's (`taskgate_filter::bounds`).
            limits: Limits {
                max_body_bytes: bounded(get, "max-body-bytes", MAX_BODY_BYTES)? as u32,
                max_aws_body_bytes: bounded(get, "max-aws-body-bytes", MAX_AWS_BODY_BYTES)? as u32,
                max_clock_skew_seconds: bounded(
                    get,
                    "max-clock-skew-seconds",
                    MAX_CLOCK_SKEW_SECONDS,
                )? as u32,
            },
            other_calls: setting(get, "other-calls")?,
            temporary_credentials: setting(get, "temporary-credentials")?,
            mode: setting(get, "mode")?,
        })
    }
}

/// A setting spelled as one of a few words, parsed as every build parses it
/// (`taskgate_filter::choice`), or its default.
fn setting<T: Choice>(get: Lookup<'_>, key: &str) -> Result<T, String> {
    choice(get(key)?.as_deref(), &format!("wasi:config key '{key}'"))
}

/// A whole number setting, or its default.
fn number<T: std::str::FromStr>(get: Lookup<'_>, key: &str, default: T) -> Result<T, String> {
    match get(key)? {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("wasi:config key '{key}' must be a whole number, not {text:?}")),
    }
}

/// A forwarding setting with the bounds every build gives it (`taskgate_filter::upstream`).
fn bounded(get: Lookup<'_>, key: &str, bounds: Bounded) -> Result<u64, String> {
    let value = match get(key)? {
        None => None,
        Some(_) => Some(number(get, key, bounds.default)?),
    };
    bounds.check(&format!("wasi:config key '{key}'"), value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(entries: &[(&str, &str)]) -> Result<Settings, String> {
        let values: HashMap<String, String> = entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::read(&|key| Ok(values.get(key).cloned()))
    }

    fn upstream(url: &str) -> Result<UpstreamUrl, String> {
        read(&[("upstream", url)]).map(|settings| settings.upstream)
    }

    #[test]
    fn defaults_are_the_taskgate_hosts() {
        let settings = read(&[("upstream", "http://127.0.0.1:9000")]);
        assert_eq!(
            settings,
            Ok(Settings {
                upstream: UpstreamUrl {
                    tls: false,
                    host: Some("127.0.0.1".to_owned()),
                    port: Some(9000),
                },
                upstream_timeout_ms: 10_000,
                max_upstream_answer_bytes: 16 << 20,
                limits: Limits::default(),
                other_calls: OtherCalls::Authenticate,
                temporary_credentials: TemporaryCredentials::Refuse,
                mode: Mode::Enforce,
            })
        );
    }

    #[test]
    fn every_setting_is_read() {
        let settings = read(&[
            ("upstream", "https://states.us-east-1.amazonaws.com/"),
            ("upstream-timeout-ms", "2500"),
            ("max-upstream-answer-bytes", "1024"),
            ("max-body-bytes", " 70000 "),
            ("max-aws-body-bytes", "524288"),
            ("max-clock-skew-seconds", "300"),
            ("other-calls", "reject"),
            ("temporary-credentials", "forward"),
            ("mode", "shadow"),
        ]);
        assert_eq!(
            settings,
            Ok(Settings {
                upstream: UpstreamUrl {
                    tls: true,
                    host: Some("states.us-east-1.amazonaws.com".to_owned()),
                    port: None,
                },
                upstream_timeout_ms: 2500,
                max_upstream_answer_bytes: 1024,
                limits: Limits {
                    max_body_bytes: 70_000,
                    max_aws_body_bytes: 524_288,
                    max_clock_skew_seconds: 300,
                },
                other_calls: OtherCalls::Reject,
                temporary_credentials: TemporaryCredentials::Forward,
                mode: Mode::Shadow,
            })
        );
    }

    #[test]
    fn the_upstream_may_be_the_host_each_request_names() {
        for (url, tls) in [("https://{host}", true), ("http://{host}/", false)] {
            assert_eq!(
                upstream(url),
                Ok(UpstreamUrl {
                    tls,
                    host: None,
                    port: None
                })
            );
        }
        assert_eq!(
            upstream("http://[::1]:8080").map(|u| u.authority()),
            Ok(Some("[::1]:8080".to_owned()))
        );
    }

    #[test]
    fn an_upstream_with_a_path_another_scheme_or_no_host_is_refused_by_name() {
        for url in [
            "ftp://example.com",
            "example.com",
            "https://",
            "https://example.com/v1",
            "https://user@example.com",
            "https://{host}.example.com",
        ] {
            let error = upstream(url).expect_err(url);
            assert!(
                error.starts_with("wasi:config key 'upstream' must "),
                "{error}"
            );
            assert!(error.contains(&format!("{url:?}")), "{error}");
        }
        assert_eq!(
            read(&[]).map(|_| ()),
            Err("wasi:config key 'upstream' is required (e.g. https://{host} or http://127.0.0.1:9000)".to_owned())
        );
    }

    #[test]
    fn numbers_and_modes_are_checked_and_named() {
        let wrong = |key: &str, value: &str| {
            read(&[("upstream", "http://u:1"), (key, value)]).expect_err(key)
        };
        assert_eq!(
            wrong("max-body-bytes", "-1"),
            "wasi:config key 'max-body-bytes' must be a whole number, not \"-1\""
        );
        assert_eq!(
            wrong("max-clock-skew-seconds", "4294967296"),
            "wasi:config key 'max-clock-skew-seconds' must be between 1 and 86400"
        );
        assert_eq!(
            wrong("upstream-timeout-ms", "0"),
            "wasi:config key 'upstream-timeout-ms' must be between 1 and 600000"
        );
        assert_eq!(
            wrong("other-calls", "Reject"),
            "wasi:config key 'other-calls' must be \"reject\", \"authenticate\" or \"forward\", not \"Reject\""
        );
        assert_eq!(
            wrong("temporary-credentials", "verify"),
            "wasi:config key 'temporary-credentials' must be \"refuse\" or \"forward\", not \"verify\""
        );
    }

    /// The limits have the configuration file's bounds: a clock window of 0 (which refuses
    /// every request) or a body limit past 16 MiB is refused here as there.
    #[test]
    fn the_limits_are_held_to_the_bounds_every_build_declares() {
        for (key, bounds) in [
            ("max-body-bytes", MAX_BODY_BYTES),
            ("max-aws-body-bytes", MAX_AWS_BODY_BYTES),
            ("max-clock-skew-seconds", MAX_CLOCK_SKEW_SECONDS),
        ] {
            let with = |value: u64| read(&[("upstream", "http://u:1"), (key, &value.to_string())]);
            let refusal = format!(
                "wasi:config key '{key}' must be between {} and {}",
                bounds.min, bounds.max
            );
            assert_eq!(with(bounds.min - 1).err(), Some(refusal.clone()), "{key}");
            assert_eq!(with(bounds.max + 1).err(), Some(refusal), "{key}");
            assert!(
                with(bounds.min).is_ok() && with(bounds.max).is_ok(),
                "{key}"
            );
        }
    }

    #[test]
    fn an_unreadable_store_is_an_error() {
        let failing = |key: &str| Err(format!("wasi:config key '{key}' could not be read: Io"));
        assert_eq!(
            Settings::read(&failing),
            Err("wasi:config key 'upstream' could not be read: Io".to_owned())
        );
    }
}
