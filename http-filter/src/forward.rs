//! Forwarding an accepted request to the upstream with `wasi:http/outgoing-handler`, once, and
//! relaying its answer.

use crate::settings::Settings;
use crate::wire::{method_of, read_at_most};
use std::io::Write as _;
use taskgate_filter::{HOP_BY_HOP, Request};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingResponse, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};

/// Fields the host writes itself: `host` is the outgoing request's authority. Never copied,
/// like the hop-by-hop ones.
const HOST_MANAGED: [&str; 2] = ["host", "http2-settings"];

/// The upstream's answer, read whole.
pub struct Answer {
    pub status: u16,
    /// As the upstream sent them (values as bytes: relayed unchanged), minus hop-by-hop ones.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// Sends the request (its method, path, header `fields` as they came minus hop-by-hop ones,
/// and body, byte for byte) to the upstream. The error says why it failed, for the log; the
/// caller answers 500.
pub fn forward(
    request: &Request,
    fields: &[(String, Vec<u8>)],
    settings: &Settings,
) -> Result<Answer, String> {
    // `{host}`: the authority the client named (its `host`, which head_of always sets).
    let fixed = settings.upstream.authority();
    let authority = match &fixed {
        Some(authority) => authority.as_str(),
        None => request.header("host").unwrap_or_default(),
    };
    let outgoing_fields = Fields::new();
    for (name, value) in fields {
        if !is_dropped(name, request) {
            outgoing_fields
                .append(name, value)
                .map_err(|error| format!("header {name} refused by the host: {error:?}"))?;
        }
    }
    let outgoing = OutgoingRequest::new(outgoing_fields);
    let scheme = if settings.upstream.tls {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let refused = |what: &str| format!("the host refused the upstream request's {what}");
    outgoing
        .set_method(&method_of(&request.method))
        .map_err(|()| refused("method"))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| refused("scheme"))?;
    outgoing
        .set_authority(Some(authority))
        .map_err(|()| refused("authority"))?;
    outgoing
        .set_path_with_query(Some(&request.path_with_query))
        .map_err(|()| refused("path"))?;
    let body = outgoing.body().map_err(|()| refused("body"))?;
    let mut stream = body.write().map_err(|()| refused("body stream"))?;

    let options = RequestOptions::new();
    let timeout = settings.upstream_timeout_ms.saturating_mul(1_000_000);
    // Hosts that do not support a timeout keep their own.
    let _ = options.set_connect_timeout(Some(timeout));
    let _ = options.set_first_byte_timeout(Some(timeout));
    let _ = options.set_between_bytes_timeout(Some(timeout));

    let future = outgoing_handler::handle(outgoing, Some(options)).map_err(describe)?;
    let sent = stream
        .write_all(&request.body)
        .and_then(|()| std::io::Write::flush(&mut stream));
    drop(stream);
    let finished = OutgoingBody::finish(body, None);

    // The exchange's outcome decides, not the body's: an upstream may answer before it has
    // read all of the body (and the host then closes the stream), and that answer is the
    // upstream's word on the request; when none came, the exchange's own error (a refused or
    // reset connection) says why better than the closed stream does.
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => read_answer(response, settings.max_upstream_answer_bytes),
        Some(Ok(Err(error))) => Err(describe(error)),
        Some(Err(())) | None => Err(match (sent, finished) {
            (Err(error), _) => format!("the request body could not be sent: {error}"),
            (_, Err(error)) => describe(error),
            _ => "the upstream's answer was lost".to_owned(),
        }),
    }
}

/// The whole answer, refused past `max` bytes (as the taskgate host does) rather than held.
fn read_answer(response: IncomingResponse, max: usize) -> Result<Answer, String> {
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .filter(|(name, _)| !is_hop_by_hop(&name.to_ascii_lowercase()))
        .collect();
    let incoming = response
        .consume()
        .map_err(|()| "the upstream's answer has no body".to_owned())?;
    let mut stream = incoming
        .stream()
        .map_err(|()| "the upstream's answer has no body stream".to_owned())?;
    let body = read_at_most(&mut stream, max as u64, 0)
        .map_err(|error| format!("the upstream's answer could not be read: {error}"))?
        .ok_or_else(|| format!("the upstream's answer is longer than {max} bytes"))?;
    drop(stream);
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Hop-by-hop headers, those the host manages, and any the client's `Connection` header names.
fn is_dropped(name: &str, request: &Request) -> bool {
    let name = name.to_ascii_lowercase();
    is_hop_by_hop(&name)
        || request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, value)| value.split(','))
            .any(|named| named.trim().eq_ignore_ascii_case(&name))
}

/// `name` (lower case) describes one hop or is the host's own.
fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.contains(&name) || HOST_MANAGED.contains(&name)
}

fn describe(error: ErrorCode) -> String {
    format!("the upstream could not be reached: {error:?}")
}
