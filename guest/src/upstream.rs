//! Where a build forwards accepted requests: the upstream URL (`[serve] upstream`, a route's
//! `upstream`, the `wasi:http` build's `upstream` setting) and the bounds and defaults of the
//! forwarding settings, parsed and checked here once for every build that forwards.

use std::fmt;

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
    /// Parses `http[s]://host[:port][/]` or `http[s]://{host}[:port][/]`; an error says what
    /// the URL "must" be, to follow the setting's name.
    pub fn parse(text: &str) -> Result<UpstreamUrl, String> {
        let (tls, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!("must start with http:// or https://, not {text:?}"));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
            return Err(format!(
                "must be http[s]://host[:port] with no path, not {text:?}"
            ));
        }
        // `[v6]:port`, `[v6]`, `host:port` or `host`.
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (inside, after) = v6
                    .split_once(']')
                    .ok_or_else(|| format!("must close its [ (an IPv6 address), not {text:?}"))?;
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
                    .ok_or_else(|| format!("must have a port from 1 to 65535, not {text:?}"))
            })
            .transpose()?;
        let host = match host {
            "{host}" => None,
            fixed if fixed.contains(['{', '}']) => {
                return Err(format!(
                    "must have {{host}} as the whole host or not at all, not {text:?}"
                ));
            }
            fixed => Some(fixed.to_owned()),
        };
        Ok(UpstreamUrl { tls, host, port })
    }

    /// `host[:port]` of a fixed host; `None` for `{host}`.
    pub fn authority(&self) -> Option<String> {
        let host = self.host.as_deref()?;
        Some(match self.port {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        })
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

// The forwarding settings' bounds are declared with every other bounded setting.
pub use crate::bounds::{Bounded, MAX_UPSTREAM_ANSWER_BYTES, UPSTREAM_TIMEOUT_MS};

#[cfg(test)]
mod tests {
    use super::*;

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
    fn forwarding_settings_take_their_default_and_stay_in_range() {
        assert_eq!(UPSTREAM_TIMEOUT_MS.value(None), Ok(10_000));
        assert_eq!(UPSTREAM_TIMEOUT_MS.value(Some(1)), Ok(1));
        assert_eq!(
            UPSTREAM_TIMEOUT_MS.value(Some(0)),
            Err("serve.upstream_timeout_ms must be between 1 and 600000".to_owned())
        );
        assert!(MAX_UPSTREAM_ANSWER_BYTES.value(Some(1023)).is_err());
        let url = UpstreamUrl::parse("http://[::1]:9000").unwrap();
        assert_eq!(url.authority().as_deref(), Some("[::1]:9000"));
        assert_eq!(
            UpstreamUrl::parse("https://{host}").unwrap().authority(),
            None
        );
    }
}
