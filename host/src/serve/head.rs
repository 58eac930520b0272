//! What the gateway reads from a request's head before its body: the host the client asked
//! for, the request as the filter sees it, the client's own request id, and whether the head
//! is one an edge must refuse.

use super::framing::BothLengths;
use hyper::Version;
use hyper::header::{HOST, HeaderValue};
use hyper::http::request::Parts;
use taskgate_filter::Request;

/// What makes a request's head one an edge in front of other servers must refuse, if anything:
/// ambiguity about the host (which routes it and which the signature covers) or about where
/// its body ends (request smuggling).
pub fn malformed(parts: &Parts) -> Option<&'static str> {
    let hosts = parts.headers.get_all(HOST).iter().count();
    if hosts > 1 {
        return Some("more than one Host header");
    }
    match parts.version {
        // RFC 9112 §3.2: a server must answer an HTTP/1.1 request without Host with 400.
        Version::HTTP_11 if hosts == 0 => return Some("no Host header (HTTP/1.1 requires one)"),
        // RFC 9113 §8.3.1: a Host header must agree with :authority.
        Version::HTTP_2 => {
            if let (Some(host), Some(authority)) = (parts.headers.get(HOST), parts.uri.authority())
                && host.as_bytes() != authority.as_str().as_bytes()
            {
                return Some("a Host header that differs from :authority");
            }
        }
        _ => {}
    }
    // RFC 9112 §6.3 lets a server de-chunk such a message; a strict edge refuses it instead.
    // hyper drops the Content-Length of such a head before we see it: the connection's
    // framing watcher marks the request instead.
    if parts.extensions.get::<BothLengths>().is_some() {
        return Some("both Content-Length and Transfer-Encoding");
    }
    None
}

/// The host the client asked for, without port: an HTTP/1 request's absolute-form target
/// (forward-proxy mode), else its `Host` header, else HTTP/2's `:authority`.
pub fn requested_host(parts: &Parts) -> Option<String> {
    let absolute = (parts.version < Version::HTTP_2)
        .then(|| parts.uri.authority().map(|a| a.as_str().to_owned()))
        .flatten();
    let authority = absolute
        .or_else(|| {
            parts
                .headers
                .get(HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()))?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or("")),
        None => authority.split(':').next().unwrap_or("").to_owned(),
    };
    (!host.is_empty()).then_some(host)
}

/// HTTP/2 carries the host in `:authority`, not in a `Host` header; ACS3 signs `host`, and the
/// HTTP/1.1 upstream needs it, so it is made a header here, once, for the check and the forward.
pub fn with_host_header(parts: &mut Parts) {
    if parts.headers.contains_key(HOST) {
        return;
    }
    if let Some(value) = parts
        .uri
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        parts.headers.insert(HOST, value);
    }
}

/// The request as the filter sees it, without its body yet, with a fresh request id.
pub fn filter_request(parts: &Parts) -> Request {
    let received_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Request {
        method: parts.method.as_str().to_owned(),
        path_with_query: parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: Vec::new(),
        received_at,
        request_id: Some(uuid::Uuid::new_v4().to_string().to_uppercase()),
    }
}

/// The longest `X-Request-Id` logged: an id, not a place to store data in our logs.
const MAX_CLIENT_REQUEST_ID: usize = 128;

/// The client's `X-Request-Id`, when it is a plausible id (1 to 128 visible ASCII characters);
/// anything else is left out of the log rather than cut or escaped into something misleading.
pub fn client_request_id(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get("x-request-id")?.as_bytes();
    let plausible = (1..=MAX_CLIENT_REQUEST_ID).contains(&value.len())
        && value.iter().all(|b| b.is_ascii_graphic());
    // Visible ASCII is UTF-8.
    plausible.then(|| std::str::from_utf8(value).ok()).flatten()
}
