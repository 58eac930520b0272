//! One module per vendor API. This file picks the dialect for a request and turns a failure into
//! that dialect's response; the rules themselves live in the dialect's module.

mod fnf;

use crate::error::Failure;
use crate::request_id;
use crate::types::{Dialect, Env, Request, Response, Verdict};

/// The dialect whose rules and error format apply to a request.
fn dialect_of(_request: &Request) -> Dialect {
    // Only Serverless Workflow so far; the AWS siblings will be told apart by `X-Amz-Target`.
    Dialect::Fnf
}

/// Checks a request under the rules of its dialect.
pub fn check(request: &Request, env: &dyn Env) -> Verdict {
    let dialect = dialect_of(request);
    let mut caller_request_id = None;
    match fnf::check(request, env, &mut caller_request_id) {
        Ok(report) => Verdict::Forward(report),
        Err(failure) => {
            let id = caller_request_id.unwrap_or_else(|| request_id::fallback(request));
            Verdict::Reject(failure.response(dialect, &id, &host_id(request)))
        }
    }
}

/// The response for a failure the host detected itself, in the request's dialect.
pub fn edge_response(request: &Request, failure: &Failure) -> Response {
    let id = request_id::fallback(request);
    failure.response(dialect_of(request), &id, &host_id(request))
}

/// The `HostId` of an error body: the endpoint the caller addressed, as the service reports its
/// own. Only a plausible host name is echoed; anything else becomes `taskgate`.
fn host_id(request: &Request) -> String {
    match request.header("host") {
        Some(host)
            if !host.is_empty()
                && host.len() <= 253
                && host.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                }) =>
        {
            host.to_owned()
        }
        _ => "taskgate".to_owned(),
    }
}
