//! The JSON shapes of what taskgate shows: verdicts, reports and decoded tokens. A report's
//! fields are listed once, in [`ReportView`] and [`TokenView`]: `taskgate check` prints them
//! (the token nested as `token`), the sink appends them (the token's fields beside the
//! report's), and policy cases name them in `[expect.report]`. Field names are snake_case and
//! stable; tests and scripts read them.

use serde::Serialize;
use serde_json::{Map, Value, json};
use taskgate_filter::{Recall, Report, Response, TaskToken, Verdict};

/// A report's fields, by the names every output uses. `error`, `cause` and `output` are the
/// caller's own data: shown on request and kept in the sink, never logged.
#[derive(Debug, Serialize)]
#[expect(
    missing_docs,
    reason = "the fields of `taskgate_filter::Report`, by the same names"
)]
pub struct ReportView<'a> {
    pub dialect: &'static str,
    pub action: &'a str,
    pub callback: &'static str,
    pub request_id: &'a str,
    pub access_key_id: &'a str,
    /// Who checks the signature's MAC: `edge` or `service`.
    pub signature: &'static str,
    pub task_token: &'a str,
    pub error: Option<&'a str>,
    pub cause: Option<&'a str>,
    pub output: Option<&'a str>,
}

impl<'a> ReportView<'a> {
    /// The view of `report`.
    pub fn of(report: &'a Report) -> ReportView<'a> {
        ReportView {
            dialect: report.dialect.name(),
            action: &report.action,
            callback: report.callback.name(),
            request_id: &report.request_id,
            access_key_id: &report.access_key_id,
            signature: report.signature.name(),
            task_token: &report.task_token,
            error: report.error.as_deref(),
            cause: report.cause.as_deref(),
            output: report.output.as_deref(),
        }
    }
}

/// A decoded task token's fields.
#[derive(Debug, Serialize)]
#[expect(
    missing_docs,
    reason = "the fields of `taskgate_filter::TaskToken`, by the same names"
)]
pub struct TokenView<'a> {
    pub version: &'a str,
    pub kind: &'a str,
    pub execution_id: &'a str,
    pub event_id: u64,
    /// The account whose token key verified the MAC, when it was checked.
    pub account: Option<&'a str>,
    pub verified: bool,
}

impl<'a> TokenView<'a> {
    /// The view of `token`.
    pub fn of(token: &'a TaskToken) -> TokenView<'a> {
        TokenView {
            version: &token.version,
            kind: &token.kind,
            execution_id: &token.execution_id,
            event_id: token.event_id,
            account: token.account.as_deref(),
            verified: token.verified,
        }
    }
}

/// A verdict as one JSON object: `{"verdict":"forward","report":{…}}`,
/// `{"verdict":"pass","call":{"dialect":…,"action":…,"request_id":…,"access_key_id":…,"recall":…}}` or
/// `{"verdict":"reject","code":…,"response":{"status":…,"headers":{…},"body":"…"}}`.
pub fn verdict(verdict: &Verdict) -> Value {
    match verdict {
        Verdict::Forward(report) => json!({ "verdict": "forward", "report": self::report(report) }),
        Verdict::Pass(call) => json!({
            "verdict": "pass",
            "call": {
                "dialect": call.dialect.name(),
                "action": call.action,
                "request_id": call.request_id,
                "access_key_id": call.access_key_id,
                "signature": call.signature.map(|check| check.name()),
                "recall": recall(&call.recall),
            },
        }),
        Verdict::Reject(response) => json!({
            "verdict": "reject",
            "code": response.code,
            "response": self::response(response),
        }),
    }
}

/// The decoded report ([`ReportView`]), its decoded token (`token`: an Alibaba token's
/// [`TokenView`]; AWS tokens are opaque, `null`) and what a gateway with memory would claim
/// for it (`recall`).
pub fn report(report: &Report) -> Value {
    let mut value = json!(ReportView::of(report));
    if let Value::Object(fields) = &mut value {
        let token = report.token.as_ref().map(TokenView::of);
        fields.insert("token".to_owned(), json!(token));
        fields.insert("recall".to_owned(), recall(&report.recall));
    }
    value
}

/// What a gateway with memory claims and consults for the request (digests, never the values).
pub fn recall(recall: &Recall) -> Value {
    json!({
        "nonce": recall.nonce,
        "nonce_seconds": recall.nonce_seconds,
        "task": recall.task,
        "settles": recall.settles,
    })
}

/// A request re-signed with a `[[credentials]]` entry (`sign_as`), as it would be forwarded:
/// the credential's name, and the request's method, path and query, headers and body, with the
/// credential's `session_token` (where it has one) shown as `(session token)`.
pub fn resigned(
    credential: &str,
    session_token: Option<&str>,
    request: &taskgate_filter::Request,
) -> Value {
    let hide = |text: &str| match session_token {
        Some(token) => text.replace(token, "(session token)"),
        None => text.to_owned(),
    };
    let headers: Vec<Value> = (request.headers.iter())
        .map(|(name, value)| json!([name, hide(value)]))
        .collect();
    json!({
        "credential": credential,
        "request": {
            "method": request.method,
            "path": hide(&request.path_with_query),
            "headers": headers,
            "body": hide(&String::from_utf8_lossy(&request.body)),
        },
    })
}

/// The exact response: status, headers and the body as text (it is always UTF-8 JSON).
pub fn response(response: &Response) -> Value {
    let headers: Map<String, Value> = response
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    json!({
        "status": response.status,
        "headers": headers,
        "body": String::from_utf8_lossy(&response.body),
    })
}

/// A decoded task token.
pub fn token(token: &TaskToken) -> Value {
    json!(TokenView::of(token))
}
