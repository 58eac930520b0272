//! Which hosts a route serves (`[[serve.routes]] host`). Upstream URLs are the filter
//! library's (`taskgate_filter::upstream`), shared with the `wasi:http` build.

use anyhow::bail;
pub use taskgate_filter::upstream::UpstreamUrl;

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
}
