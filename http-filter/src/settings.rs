//! The component's settings, read from the host's `wasi:config` (`wasmtime serve -S config
//! -S config-var=upstream=...`; a `--jco-map`ped module under `jco serve`). The names are the
//! taskgate host's `[serve]` keys with dashes:
//!
//! | key | value | default |
//! |---|---|---|
//! | `upstream` | `http://HOST[:PORT]`, `https://HOST[:PORT]`, or `https://{host}` for the host each request names | required |
//! | `upstream-timeout-ms` | how long the upstream may take to answer | 10000 |
//! | `max-upstream-answer-bytes` | the longest upstream answer relayed | 16777216 |
//! | `max-body-bytes` | Alibaba callers' body limit | 65536 |
//! | `max-aws-body-bytes` | AWS callers' body limit | the filter's default |
//! | `max-clock-skew-seconds` | the signature timestamp's window | 900 |
//! | `other-calls` | `reject`, `authenticate` or `forward` | `authenticate` |
//!
//! Keys go to the keyring provider, not here (`access-key.*`, `token-key.*`).

use crate::bindings::wasi::config::store;
use taskgate_filter::{Limits, OtherCalls};

/// Where accepted requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// True for `https`.
    pub tls: bool,
    /// `HOST[:PORT]`; `None` for `{host}`: the authority the request itself names.
    pub authority: Option<String>,
}

/// Everything the component is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub upstream: Upstream,
    pub upstream_timeout_ms: u64,
    pub max_upstream_answer_bytes: usize,
    pub limits: Limits,
    pub other_calls: OtherCalls,
}

impl Settings {
    /// Reads and checks every setting; the error names the key and what it must be.
    pub fn load() -> Result<Settings, String> {
        let defaults = Limits::default();
        let upstream = get("upstream")?.ok_or(
            "wasi:config key 'upstream' is required (e.g. https://{host} or http://127.0.0.1:9000)",
        )?;
        Ok(Settings {
            upstream: parse_upstream(&upstream)?,
            upstream_timeout_ms: number("upstream-timeout-ms", 10_000)?,
            max_upstream_answer_bytes: number("max-upstream-answer-bytes", 16 << 20)?,
            limits: Limits {
                max_body_bytes: number("max-body-bytes", defaults.max_body_bytes)?,
                max_aws_body_bytes: number("max-aws-body-bytes", defaults.max_aws_body_bytes)?,
                max_clock_skew_seconds: number(
                    "max-clock-skew-seconds",
                    defaults.max_clock_skew_seconds,
                )?,
            },
            other_calls: match get("other-calls")? {
                None => OtherCalls::default(),
                Some(name) => OtherCalls::named(&name).ok_or_else(|| {
                        format!(
                            "wasi:config key 'other-calls' must be reject, authenticate or forward, not {name:?}"
                        )
                    })?,
            },
        })
    }
}

/// One value; an unreadable store is an error, an absent key `None`.
fn get(key: &str) -> Result<Option<String>, String> {
    store::get(key).map_err(|error| format!("wasi:config key '{key}' could not be read: {error:?}"))
}

/// A whole number setting, or its default.
fn number<T: std::str::FromStr + Copy>(key: &str, default: T) -> Result<T, String> {
    match get(key)? {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("wasi:config key '{key}' must be a whole number, not {text:?}")),
    }
}

/// `http://HOST[:PORT]`, `https://HOST[:PORT]` or `https://{host}`, with no path.
fn parse_upstream(url: &str) -> Result<Upstream, String> {
    let wrong = || {
        format!(
            "wasi:config key 'upstream' must be http://HOST[:PORT], https://HOST[:PORT] or https://{{host}}, not {url:?}"
        )
    };
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(wrong());
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._:[]".contains(c);
    if authority == "{host}" {
        Ok(Upstream {
            tls,
            authority: None,
        })
    } else if !authority.is_empty() && authority.chars().all(plain) {
        Ok(Upstream {
            tls,
            authority: Some(authority.to_owned()),
        })
    } else {
        Err(wrong())
    }
}
