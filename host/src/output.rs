//! JSON for what the CLI prints: verdicts and decoded tokens. Field names are snake_case and
//! stable; tests and scripts read them.

use serde_json::{Map, Value, json};
use taskgate_filter::{Recall, Report, Response, TaskToken, Verdict};

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

/// The decoded report, `error`, `cause` and `output` included: this is the user's own request,
/// printed on request (it is never logged).
pub fn report(report: &Report) -> Value {
    json!({
        "dialect": report.dialect.name(),
        "action": report.action,
        "callback": report.callback.name(),
        "request_id": report.request_id,
        "access_key_id": report.access_key_id,
        "task_token": report.task_token,
        "error": report.error,
        "cause": report.cause,
        "output": report.output,
        "token": report.token.as_ref().map(token),
        "recall": recall(&report.recall),
    })
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
    json!({
        "version": token.version,
        "kind": token.kind,
        "execution_id": token.execution_id,
        "event_id": token.event_id,
        "account": token.account,
        "verified": token.verified,
    })
}
