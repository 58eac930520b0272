//! The `wasi:http` side of one exchange: the incoming request read into the filter's
//! [`Request`], and answers written back.

use std::io::{Read as _, Write as _};
use taskgate_filter::{EdgeFailure, Request, Response};
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasip2::io::streams::InputStream;

/// The request's head as the filter sees it: method, path, headers in their order (with
/// `host` put back first from the authority: `wasi:http` hosts keep it out of the header
/// fields, and signatures cover it), the time of receipt and a fresh request id; and the header
/// fields as they came, bytes and all, for the forward.
pub fn head_of(request: &IncomingRequest) -> (Request, Vec<(String, Vec<u8>)>) {
    let authority = request.authority().unwrap_or_default();
    let mut headers = Vec::new();
    let fields = request.headers().entries();
    if !authority.is_empty()
        && !fields
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        headers.push(("host".to_owned(), authority));
    }
    for (name, value) in &fields {
        // As every build reads them (`header_text`): one request, one verdict.
        headers.push((name.clone(), taskgate_filter::header_text(value)));
    }
    let head = Request {
        method: method_name(&request.method()),
        path_with_query: request.path_with_query().unwrap_or_else(|| "/".to_owned()),
        headers,
        body: Vec::new(),
        received_at: wasip2::clocks::wall_clock::now().seconds,
        request_id: Some(request_id()),
    };
    (head, fields)
}

/// Reads the body, refusing it (`EntityTooLarge`) once it is longer than `limit`, before
/// reading the rest when `Content-Length` already says so.
pub fn read_body(
    request: &IncomingRequest,
    head: &Request,
    limit: u32,
) -> Result<Vec<u8>, EdgeFailure> {
    let too_large = EdgeFailure::EntityTooLarge { limit };
    let limit = u64::from(limit);
    let declared = head
        .header("content-length")
        .and_then(|n| n.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large);
    }
    let unreadable = || EdgeFailure::Malformed {
        detail: "a body that cannot be read".to_owned(),
    };
    let body = request.consume().map_err(|()| unreadable())?;
    let mut stream = body.stream().map_err(|()| unreadable())?;
    let capacity = declared.unwrap_or(0).min(limit);
    let bytes = read_at_most(&mut stream, limit, capacity).map_err(|_| unreadable())?;
    drop(stream);
    drop(body);
    bytes.ok_or(too_large)
}

/// A whole stream of at most `max` bytes, or `None` when it is longer (read no further).
/// `capacity` is what to expect, when known.
pub fn read_at_most(
    stream: &mut InputStream,
    max: u64,
    capacity: u64,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::with_capacity(capacity.min(max) as usize);
    // One byte past the limit tells a stream that is too long from one that is exactly at it.
    stream.take(max + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// Sends `response` (the filter's answer: the vendor's own), with its length.
pub fn answer(out: ResponseOutparam, response: Response) {
    let mut headers = response.headers;
    headers.retain(|(name, _)| !name.eq_ignore_ascii_case("content-length"));
    headers.push(("content-length".to_owned(), response.body.len().to_string()));
    send(out, response.status, &headers, &response.body);
}

/// Sends an answer: head first, then the whole body.
pub fn send<V: AsRef<[u8]>>(
    out: ResponseOutparam,
    status: u16,
    headers: &[(String, V)],
    body: &[u8],
) {
    let fields = Fields::new();
    for (name, value) in headers {
        // A name or value the host refuses (one it manages itself) is left out.
        let _ = fields.append(name, value.as_ref());
    }
    let response = OutgoingResponse::new(fields);
    let _ = response.set_status_code(status);
    let Ok(outgoing) = response.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(mut stream) = outgoing.write() {
        // The client may be gone; nothing is left to tell it.
        let _ = stream
            .write_all(body)
            .and_then(|()| std::io::Write::flush(&mut stream));
    }
    let _ = OutgoingBody::finish(outgoing, None);
}

/// The method's name as sent.
pub fn method_name(method: &Method) -> String {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(name) => name,
    }
    .to_owned()
}

/// The method of this name.
pub fn method_of(name: &str) -> Method {
    match name {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_owned()),
    }
}

/// A random UUID (version 4) in capitals, the form the taskgate host gives its request ids.
fn request_id() -> String {
    let mut bytes = [0u8; 16];
    let random = wasip2::random::random::get_random_bytes(16);
    let n = random.len().min(16);
    bytes[..n].copy_from_slice(&random[..n]);
    taskgate_filter::random_request_id(bytes)
}
