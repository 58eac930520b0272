//! What the gateway reads from a request's head before its body: the host the client asked
//! for, the request as the filter sees it, the client's own request id, and whether the head
//! is one an edge must refuse.

use super::framing::BothLengths;
use hyper::Version;
use hyper::header::{HOST, HeaderValue};
use hyper::http::request::Parts;
use taskgate_filter::{Request, record};

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
                let value = taskgate_filter::header_text(value.as_bytes());
                (name.as_str().to_owned(), value)
            })
            .collect(),
        body: Vec::new(),
        received_at,
        request_id: Some(uuid::Uuid::new_v4().to_string().to_uppercase()),
    }
}

/// Makes `parts` the head of `changed`, a version of `original` (the filter's view of `parts`)
/// that the filter re-signed: its path and query, and every header whose values it changed,
/// added or removed, the changed values put where the first of the name stood. Headers it did
/// not touch keep their bytes as they came (the filter's view of a value is lossy). `Err` when
/// a changed value cannot be a header value, which no signature the filter makes contains.
pub fn apply(parts: &mut Parts, original: &Request, changed: &Request) -> Result<(), ()> {
    if changed.path_with_query != original.path_with_query {
        parts.uri = changed.path_with_query.parse().map_err(|_| ())?;
    }
    let values = |request: &Request, name: &str| -> Vec<String> {
        (request.headers.iter())
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    };
    let names: std::collections::BTreeSet<String> = (original.headers.iter())
        .chain(&changed.headers)
        .map(|(name, _)| name.to_ascii_lowercase())
        .collect();
    for name in names {
        let now = values(changed, &name);
        if values(original, &name) == now {
            continue;
        }
        let name = hyper::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| ())?;
        let mut now = now.into_iter();
        match now.next() {
            Some(first) => {
                let first = HeaderValue::from_str(&first).map_err(|_| ())?;
                parts.headers.insert(name.clone(), first);
            }
            None => {
                parts.headers.remove(&name);
            }
        }
        for value in now {
            let value = HeaderValue::from_str(&value).map_err(|_| ())?;
            parts.headers.append(name.clone(), value);
        }
    }
    Ok(())
}

/// The client's `X-Request-Id`, when it is a plausible id (`record::client_request_id`).
pub fn client_request_id(parts: &Parts) -> Option<&str> {
    record::client_request_id(parts.headers.get("x-request-id")?.as_bytes())
}

/// The trace id of the request's W3C trace context (`record::trace_id`).
pub fn trace_id(parts: &Parts) -> Option<&str> {
    record::trace_id(
        parts
            .headers
            .get_all(TRACEPARENT)
            .iter()
            .map(HeaderValue::as_bytes),
    )
}

/// A new W3C `traceparent` (version 00, sampled): random trace and parent ids.
pub fn new_traceparent() -> HeaderValue {
    let trace = uuid::Uuid::new_v4().as_u128();
    let parent = uuid::Uuid::new_v4().as_u64_pair().0 | 1;
    let text = format!("00-{trace:032x}-{parent:016x}-01");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The W3C trace context headers.
pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_traceparent_is_valid() {
        let started = new_traceparent();
        assert!(record::trace_id([started.as_bytes()]).is_some());
    }
}
