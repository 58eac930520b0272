//! What every build that forwards says about a request, named once: its log record (the
//! fields and their names), the codes it logs and counts for requests nobody answered at the
//! edge, and the names of its counters. `taskgate serve` and the Envoy plugin write them each in
//! their own form (stderr lines and a Prometheus exposition; Envoy's log and stats), and a
//! request is logged and counted under the same names in both.

use serde::Serialize;
use std::net::IpAddr;

/// One request's log record, as the fields are named in the log (its stable schema, documented
/// in docs/gateway.md). A build fills what it knows (the Envoy plugin has no timings of its own,
/// nothing is re-signed or repaired there) and leaves the rest `None`. Borrowed fields,
/// serialized in one pass. Never a secret, `Error`, `Cause` or a query string.
///
/// `R` is what `repaired` lists (the gateway's repaired fields); a build that never repairs
/// names `()`.
#[derive(Serialize)]
pub struct LogRecord<'a, R: Serialize + ?Sized = ()> {
    /// The id the build gave the request.
    pub request_id: Option<&'a str>,
    /// The client's own id for the request (`X-Request-Id`), to match its logs with ours.
    pub client_request_id: Option<&'a str>,
    /// The W3C trace id of the request's `traceparent` (the client's, or the one started).
    pub trace_id: Option<&'a str>,
    /// The client's address.
    pub client: Option<IpAddr>,
    /// The request method.
    pub method: &'a str,
    /// The path only: the query carries the task token and the signature.
    pub path: &'a str,
    /// Whose rules and error format applied.
    pub dialect: &'static str,
    /// The operation (of an accepted callback, or of a call passed under `other_calls`).
    pub action: Option<&'a str>,
    /// The access key id the request was signed with (once the filter accepted it).
    pub access_key_id: Option<&'a str>,
    /// Who checks that signature's MAC: `edge` (verified here) or `service` (temporary
    /// credentials the edge cannot verify, forwarded for the service to).
    pub signature: Option<&'static str>,
    /// The `[[credentials]]` entry the request was re-signed with before it was forwarded
    /// (its caller's key's `sign_as`).
    pub sign_as: Option<&'a str>,
    /// Repair mode: the free-text fields cut to the service's limit before forwarding, each
    /// with its original and new length and the SHA-256 of the original (never the text).
    pub repaired: Option<&'a R>,
    /// Repair mode: why a report with over-long free text was refused rather than repaired.
    pub not_repaired: Option<&'a str>,
    /// The vendor's code of an edge answer, [`FORWARDED`], [`RECORDED`] or the code of
    /// [`CLIENT_CLOSED`].
    pub code: &'a str,
    /// The status answered (the upstream's, for a forwarded request).
    pub status: u16,
    /// Where it went: `scheme://host[:port]`, or `sink`.
    pub upstream: Option<&'a str>,
    /// Time in the component, in microseconds.
    pub component_us: Option<u64>,
    /// Time waiting for the upstream, in microseconds.
    pub upstream_us: Option<u64>,
    /// Time from the request's head to its answer, in microseconds.
    pub total_us: Option<u64>,
    /// Shadow mode: the code enforce mode would have answered with.
    pub shadow_code: Option<&'a str>,
    /// Shadow mode: the status enforce mode would have answered with.
    pub shadow_status: Option<u16>,
}

/// The code and status of a request whose client went away before its answer (the status is
/// nginx's for the same event).
pub const CLIENT_CLOSED: (&str, u16) = ("ClientClosedRequest", 499);

/// The code of a request let through to the upstream (its status is the upstream's).
pub const FORWARDED: &str = "forwarded";

/// The code of a request Envoy answered itself (no route, upstream unreachable, ...) when its
/// answer carries no vendor code (the shipped envoy.yaml's local replies give one).
pub const ENVOY_ANSWERED: &str = "EnvoyAnswered";

/// The code of a request recorded in the local sink (`taskgate serve` with no upstream).
pub const RECORDED: &str = "recorded";

/// The values of the header `name` (any case) among `headers`, in their order: what
/// [`client_request_id`] and [`trace_id`] read, from whatever form a build keeps its headers in.
pub fn header_values<'a, V: AsRef<[u8]>>(
    headers: &'a [(String, V)],
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> {
    headers
        .iter()
        .filter(move |(field, _)| field.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_ref())
}

/// The longest `X-Request-Id` logged: an id, not a place to store data in our logs.
const MAX_CLIENT_REQUEST_ID: usize = 128;

/// The client's `X-Request-Id` (the header's value), when it is a plausible id (1 to 128
/// visible ASCII characters); anything else is left out of the log rather than cut or escaped
/// into something misleading.
pub fn client_request_id(value: &[u8]) -> Option<&str> {
    let plausible = (1..=MAX_CLIENT_REQUEST_ID).contains(&value.len())
        && value.iter().all(|b| b.is_ascii_graphic());
    // Visible ASCII is UTF-8.
    plausible.then(|| std::str::from_utf8(value).ok()).flatten()
}

/// The trace id of a request's W3C trace context, given its `traceparent` values: when it has
/// exactly one, and that one is valid. Read here rather than through an OpenTelemetry crate:
/// no build records spans, and this one header's format is all it needs.
pub fn trace_id<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<&'a str> {
    let mut values = values.into_iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    valid_traceparent(std::str::from_utf8(value).ok()?)
}

/// W3C Trace Context §3.2: `version-traceid-parentid-flags`, lower-case hex, 2-32-16-2 digits;
/// version `ff` is invalid and an all-zero id is invalid; a later version may append
/// `-fields`. The trace id, if valid.
fn valid_traceparent(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let hex = |range: std::ops::Range<usize>| {
        bytes[range]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    };
    let zeros = |range: std::ops::Range<usize>| bytes[range].iter().all(|&b| b == b'0');
    let well_formed = bytes.len() >= 55
        && [2, 35, 52].iter().all(|&i| bytes[i] == b'-')
        && hex(0..2)
        && hex(3..35)
        && hex(36..52)
        && hex(53..55)
        && &bytes[0..2] != b"ff"
        && !zeros(3..35)
        && !zeros(36..52);
    let ends_right = match bytes.get(0..2) {
        Some(b"00") => bytes.len() == 55,
        _ => bytes.len() == 55 || bytes.get(55) == Some(&b'-'),
    };
    (well_formed && ends_right)
        .then(|| text.get(3..35))
        .flatten()
}

/// The counters' names, shared by every build that keeps them.
pub mod metric {
    /// Requests by dialect, code and status.
    pub const REQUESTS: &str = "taskgate_requests_total";
    /// Requests shadow mode forwarded that enforce mode would have answered, by dialect and
    /// code.
    pub const SHADOW: &str = "taskgate_shadow_total";
    /// Requests whose signature was left to the service, by dialect.
    pub const SIGNATURE_LEFT_TO_SERVICE: &str = "taskgate_signature_left_to_service_total";
    /// Requests re-signed with a `[[credentials]]` entry, by dialect and credential.
    pub const RESIGNED: &str = "taskgate_resigned_total";
    /// Requests that could not be re-signed, by dialect and stage.
    pub const RESIGN_FAILURES: &str = "taskgate_resign_failures_total";
    /// Free-text fields repair mode cut, by dialect and field.
    pub const REPAIRED: &str = "taskgate_repaired_total";
    /// Calls passed on under `other_calls`, by dialect, action and mode.
    pub const OTHER_CALLS: &str = "taskgate_other_calls_total";
    /// Requests that went on without memory because it could not answer.
    pub const STORE_UNAVAILABLE: &str = "taskgate_store_unavailable_total";

    /// Distinct actions [`OTHER_CALLS`] counts by name (per counting process: a plugin VM per
    /// Envoy worker); the rest are counted as [`OTHER_ACTION`]. The action comes from the
    /// caller: without a cap, a caller could grow the exposition without bound.
    pub const MAX_ACTIONS: usize = 256;

    /// The action label of the calls past [`MAX_ACTIONS`].
    pub const OTHER_ACTION: &str = "other";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_follows_the_w3c_format() {
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            valid_traceparent(valid),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        // A later version may append fields; version 00 may not.
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
        assert!(valid_traceparent(later).is_some());
        assert!(valid_traceparent(&format!("{valid}-extra")).is_none());
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(valid_traceparent(bad), None, "{bad:?}");
        }
        // Two trace contexts: none.
        assert_eq!(trace_id([valid.as_bytes(), valid.as_bytes()]), None);
        assert_eq!(
            trace_id([valid.as_bytes()]),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
    }

    #[test]
    fn a_client_request_id_is_logged_only_when_plausible() {
        assert_eq!(client_request_id(b"req-42"), Some("req-42"));
        for bad in [&b""[..], b"has space", b"\xff", &[b'a'; 129]] {
            assert_eq!(client_request_id(bad), None, "{bad:?}");
        }
    }
}
