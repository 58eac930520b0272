//! The wit-bindgen glue, and nothing else: converts between the generated WIT types and the
//! library's own, and implements [`Env`] by calling the host's imports.

use crate::types::{self, Env};

#[allow(
    missing_docs,
    reason = "generated bindings; the WIT files carry the documentation"
)]
mod bindings {
    wit_bindgen::generate!({ path: "../wit", world: "filter" });
}

use bindings::exports::taskgate::filter::validator::{Explanation, Guest};
use bindings::taskgate::filter::{credentials, settings, types as wit};

struct Component;

bindings::export!(Component with_types_in bindings);

/// The host's imports, one call per lookup.
struct Imports;

impl Env for Imports {
    fn access_key(&self, id: &str) -> Option<types::AccessKey> {
        credentials::get_access_key(id).map(|key| types::AccessKey {
            secret: key.secret,
            account: key.account,
        })
    }

    fn token_key(&self, index: u32) -> Option<types::TokenKey> {
        credentials::get_token_key(index).map(|key| types::TokenKey {
            secret: key.secret,
            account: key.account,
        })
    }

    fn limits(&self) -> types::Limits {
        let limits = settings::get_limits();
        types::Limits {
            max_body_bytes: limits.max_body_bytes,
            max_aws_body_bytes: limits.max_aws_body_bytes,
            max_clock_skew_seconds: limits.max_clock_skew_seconds,
        }
    }

    fn other_calls(&self) -> types::OtherCalls {
        match settings::get_other_calls() {
            settings::OtherCalls::Reject => types::OtherCalls::Reject,
            settings::OtherCalls::Authenticate => types::OtherCalls::Authenticate,
            settings::OtherCalls::Forward => types::OtherCalls::Forward,
        }
    }
}

impl Guest for Component {
    fn check(request: wit::Request) -> wit::Verdict {
        verdict(crate::check(&request_of(request), &Imports))
    }

    fn explain(request: wit::Request) -> Explanation {
        let (checked, steps) = crate::explain(&request_of(request), &Imports);
        Explanation {
            verdict: verdict(checked),
            steps,
        }
    }

    fn respond(request: wit::Request, failure: wit::EdgeFailure) -> wit::Response {
        let failure = match failure {
            wit::EdgeFailure::Internal => crate::EdgeFailure::Internal,
            wit::EdgeFailure::Throttled(limit) => crate::EdgeFailure::Throttled { limit },
            wit::EdgeFailure::EntityTooLarge(limit) => crate::EdgeFailure::EntityTooLarge { limit },
            wit::EdgeFailure::NoRoute(host) => crate::EdgeFailure::NoRoute { host },
            wit::EdgeFailure::Tunnel => crate::EdgeFailure::Tunnel,
            wit::EdgeFailure::Malformed(detail) => crate::EdgeFailure::Malformed { detail },
            wit::EdgeFailure::SlowClient => crate::EdgeFailure::SlowClient,
        };
        response(crate::edge_response(&request_of(request), failure))
    }

    fn default_limits() -> settings::Limits {
        let limits = types::Limits::default();
        settings::Limits {
            max_body_bytes: limits.max_body_bytes,
            max_aws_body_bytes: limits.max_aws_body_bytes,
            max_clock_skew_seconds: limits.max_clock_skew_seconds,
        }
    }

    fn decode_token(token: String) -> Result<wit::TaskToken, wit::TokenError> {
        crate::decode_token(&token, &Imports)
            .map(task_token)
            .map_err(|error| match error {
                types::TokenError::Unverified => wit::TokenError::Unverified,
                types::TokenError::Malformed(why) => wit::TokenError::Malformed(why),
            })
    }
}

fn request_of(request: wit::Request) -> types::Request {
    types::Request {
        method: request.method,
        path_with_query: request.path_with_query,
        headers: request.headers,
        body: request.body,
        received_at: request.received_at,
        request_id: request.request_id,
    }
}

fn verdict(verdict: types::Verdict) -> wit::Verdict {
    match verdict {
        types::Verdict::Forward(report) => wit::Verdict::Forward(wit::Report {
            dialect: dialect(report.dialect),
            action: report.action,
            request_id: report.request_id,
            access_key_id: report.access_key_id,
            task_token: report.task_token,
            token: report.token.map(task_token),
            error: report.error,
            cause: report.cause,
        }),
        types::Verdict::Pass(call) => wit::Verdict::Pass(wit::PassedCall {
            dialect: dialect(call.dialect),
            action: call.action,
            request_id: call.request_id,
            access_key_id: call.access_key_id,
        }),
        types::Verdict::Reject(rejection) => wit::Verdict::Reject(response(rejection)),
    }
}

fn response(response: types::Response) -> wit::Response {
    wit::Response {
        status: response.status,
        headers: response.headers,
        body: response.body,
        code: response.code,
    }
}

fn dialect(dialect: types::Dialect) -> wit::Dialect {
    match dialect {
        types::Dialect::Fnf => wit::Dialect::Fnf,
        types::Dialect::States => wit::Dialect::States,
        types::Dialect::Swf => wit::Dialect::Swf,
        types::Dialect::CodePipeline => wit::Dialect::Codepipeline,
    }
}

fn task_token(token: types::TaskToken) -> wit::TaskToken {
    wit::TaskToken {
        version: token.version,
        kind: token.kind,
        execution_id: token.execution_id,
        event_id: token.event_id,
        account: token.account,
        verified: token.verified,
    }
}
