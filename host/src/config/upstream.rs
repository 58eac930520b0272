//! Where requests may go: host patterns (`[[serve.routes]] host`) and upstream URLs.

use anyhow::{Context as _, bail};
use std::fmt;

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
    /// Parses `name` or `*.suffix` (labels of letters, digits and `-`).
    pub fn parse(text: &str) -> anyhow::Result<HostPattern> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
