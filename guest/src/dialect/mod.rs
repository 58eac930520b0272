//! One module per vendor API. This file picks the dialect for a request and turns a failure into
//! that dialect's response; the rules themselves live in the dialect's module.

// `pub(crate)` for the `fuzzing` module, which reaches the AWS body model, and for `repair`,
// which reads both dialects' free-text bounds and authenticates as they do.
pub(crate) mod aws;
pub(crate) mod fnf;

pub(crate) use fnf::Scheme;

use crate::EdgeFailure;
use crate::error::Common;
use crate::explain_steps::step;
use crate::request_id;
use crate::types::{
    Dialect, Env, Limits, PassedCall, Recall, Report, Request, Response, SignatureCheck,
    TemporaryCredentials, Verdict,
};

/// What a dialect lets through: a callback that passed every rule, or a call it does
/// not model, passed per `other_calls`.
#[allow(
    clippy::large_enum_variant,
    reason = "one per request, moved once into the verdict: a box would be one more allocation (an allow: the lint fires on 64-bit targets only)"
)]
pub enum Accepted {
    /// A task callback.
    Report(Report),
    /// Another call.
    Passed(PassedCall),
}

/// Most characters of an operation name kept in a [`PassedCall`] (it is echoed in logs and
/// metrics labels).
const ACTION_CHARS: usize = 128;

/// An operation name as a caller sent it, made safe to log: printable ASCII (anything else
/// becomes `?`), at most [`ACTION_CHARS`] characters.
fn printable_action(action: &str) -> String {
    action
        .chars()
        .take(ACTION_CHARS)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// A call passed under `other_calls`, authenticated by `signer` (its access key id and who
/// checks its MAC) when given.
fn passed(
    dialect: Dialect,
    action: &str,
    request_id: String,
    signer: Option<(String, SignatureCheck)>,
    recall: Recall,
) -> Accepted {
    let (access_key_id, signature) = signer.unzip();
    Accepted::Passed(PassedCall {
        dialect,
        action: printable_action(action),
        request_id,
        access_key_id,
        signature,
        recall,
    })
}

/// A signature by access key `id`, which the keyring does not hold. Under
/// `temporary_credentials = "forward"`, a request that carries a session token (`session_token`,
/// the scheme's own header or parameter) and whose signature has the form of the scheme's MAC
/// (`mac_bytes` long once decoded) goes on with its MAC left to the service: the edge cannot
/// know the secret of temporary credentials, the service can. Anything else is the service's
/// unknown-key error, as before.
fn leave_to_service(
    env: &dyn Env,
    id: &str,
    session_token: Option<&str>,
    mac: Option<&[u8]>,
    mac_bytes: usize,
) -> Result<(), Common> {
    let temporary = session_token.is_some_and(|token| !token.trim().is_empty());
    if !temporary || env.temporary_credentials() != TemporaryCredentials::Forward {
        return Err(Common::UnknownAccessKey { id: id.to_owned() });
    }
    if mac.map(<[u8]>::len) != Some(mac_bytes) {
        return Err(Common::SignatureMismatch {
            detail: "not a MAC",
        });
    }
    step("signature: temporary credentials: its MAC left to the service");
    Ok(())
}

/// The dialect whose rules and error format apply to a request: an `X-Amz-Target` header makes
/// it an AWS call (which one, or which service's format for an unknown one), else Alibaba's.
pub fn dialect_of(request: &Request) -> Dialect {
    match request.header("x-amz-target") {
        Some(target) => aws::dialect_of_target(target.trim()),
        None => Dialect::Fnf,
    }
}

/// The clock window every signature scheme enforces: the request's own time within
/// `max_clock_skew_seconds` of its receipt, either way.
fn within_clock_window(request_time: u64, now: u64, limits: Limits) -> Result<(), Common> {
    if request_time.abs_diff(now) > u64::from(limits.max_clock_skew_seconds) {
        return Err(Common::TimeTooSkewed {
            request_time,
            now,
            limit: limits.max_clock_skew_seconds,
        });
    }
    Ok(())
}

/// The content type an AWS dialect's calls use and are answered with.
pub fn aws_content_type(dialect: Dialect) -> &'static str {
    aws::call_of(dialect).map_or("application/x-amz-json-1.0", |call| call.content_type)
}

/// Checks a request under the rules of its dialect; a refusal is rendered by that dialect's
/// own table.
pub fn check(request: &Request, env: &dyn Env) -> Verdict {
    let dialect = dialect_of(request);
    let accepted = match dialect {
        Dialect::Fnf => {
            let mut caller_request_id = None;
            fnf::check(request, env, &mut caller_request_id).map_err(|failure| {
                let id = caller_request_id.unwrap_or_else(|| request_id::fallback(request));
                failure.response(&id, &host_id(request))
            })
        }
        Dialect::States | Dialect::Swf | Dialect::CodePipeline => aws::check(request, dialect, env)
            .map_err(|failure| failure.response(dialect, &request_id::fallback(request))),
    };
    match accepted {
        Ok(Accepted::Report(report)) => Verdict::Forward(report),
        Ok(Accepted::Passed(call)) => Verdict::Pass(call),
        Err(response) => Verdict::Reject(response),
    }
}

/// The response for a failure the host detected itself, in the request's dialect.
pub fn edge_response(request: &Request, failure: Common) -> Response {
    // From the head only, as `respond` promises: a host may hand over the head alone.
    let id = match &request.request_id {
        Some(id) if !id.is_empty() => id.clone(),
        _ => request_id::fallback(&request.head()),
    };
    failure.response(dialect_of(request), &id, &host_id(request))
}

/// Whether the upstream's answer to a report settles its task: a 2xx, or a 4xx whose code is
/// the one this dialect's own answer to a settled task carries (`TaskAlreadyCompleted`,
/// `TaskTimedOut`, ...), so the code the edge answers with and the code it recognises are one.
pub fn settles(dialect: Dialect, status: u16, body: &[u8]) -> bool {
    match status {
        200..=299 => true,
        400..=499 => {
            let settled = EdgeFailure::TaskSettled {
                task_token: String::new(),
            };
            let ours = Common::Edge(settled).response(dialect, "", "").code;
            upstream_code(dialect, body).is_some_and(|code| code == ours)
        }
        _ => false,
    }
}

/// The error code in an upstream's error body: Alibaba's `Code`, AWS's `__type` (which may be
/// prefixed by a namespace and `#`). Read with the filter's own JSON parser: another serde
/// visitor would cost the component kilobytes.
fn upstream_code(dialect: Dialect, body: &[u8]) -> Option<String> {
    let body = crate::json_body::parse_object(body).ok()?;
    let member = match dialect {
        Dialect::Fnf => "Code",
        Dialect::States | Dialect::Swf | Dialect::CodePipeline => "__type",
    };
    let crate::json_body::Json::String(code) = body.get(member)? else {
        return None;
    };
    Some(code.rsplit('#').next().unwrap_or(code).to_owned())
}

/// The service's answer to an accepted report, for a host that records reports instead of
/// forwarding them (the sink): Alibaba's `{"EventId", "RequestId"}`, AWS's output of the call.
pub fn success_response(report: &Report, event_id: u64) -> Response {
    let aws_body = aws::CALLS
        .iter()
        .find(|call| call.dialect == report.dialect && call.action == report.action)
        .map_or("{}", |call| call.success_body);
    success(report.dialect, &report.request_id, aws_body, || {
        // Members in the service's order; serializing two plain fields cannot fail.
        serde_json::to_string(&FnfSuccess {
            event_id,
            request_id: &report.request_id,
        })
        .unwrap_or_default()
    })
}

/// A minimal success answer to a passed call, for a host with nowhere to forward it: 200 with
/// Alibaba's `{"RequestId"}` or AWS's `{}`.
pub fn passed_response(call: &PassedCall) -> Response {
    success(call.dialect, &call.request_id, "{}", || {
        serde_json::json!({ "RequestId": call.request_id }).to_string()
    })
}

/// A 200 in the dialect's format: Alibaba's JSON body (`fnf_body`) or AWS's `aws_body`, each
/// with its content type and request id header.
fn success(
    dialect: Dialect,
    request_id: &str,
    aws_body: &str,
    fnf_body: impl FnOnce() -> String,
) -> Response {
    let (content_type, id_header, body) = match dialect {
        Dialect::Fnf => (
            "application/json;charset=utf-8",
            "x-acs-request-id",
            fnf_body(),
        ),
        Dialect::States | Dialect::Swf | Dialect::CodePipeline => (
            aws_content_type(dialect),
            "x-amzn-requestid",
            aws_body.to_owned(),
        ),
    };
    Response {
        status: 200,
        headers: vec![
            ("content-type".to_owned(), content_type.to_owned()),
            (id_header.to_owned(), request_id.to_owned()),
        ],
        body: body.into_bytes(),
        code: String::new(),
    }
}

/// Serverless Workflow's success body.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct FnfSuccess<'a> {
    event_id: u64,
    request_id: &'a str,
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
