//! Every way a request can fail, and one table per vendor that turns each into its wire error.
//!
//! A failure either vendor's requests can meet is a [`Common`] one; what only one vendor's
//! rules can find is in that vendor's enum ([`FnfFailure`], [`AwsFailure`]), which wraps the
//! common ones. Each vendor's table (`fnf.rs`, `aws.rs`) is an exhaustive `match` over exactly
//! the failures its requests can meet, so a new failure cannot be added without deciding its
//! status, code and message, and no table carries an arm that cannot happen. Messages name the
//! field and the limit, and never contain the values of `Error` or `Cause`.

mod aws;
mod fnf;

pub use aws::{AwsFailure, Incomplete, Violation};
pub use fnf::FnfFailure;

use crate::params::clip;
use crate::types::{Dialect, Response};
use serde::Serialize;

/// A failure requests of every dialect can meet: in the shared parsers, the signature and
/// clock checks, the task token, and everything a host detects on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Common {
    /// One a host can also detect on its own.
    Edge(EdgeFailure),
    /// A method the call is not made with.
    MethodNotAllowed {
        /// The method used.
        method: String,
    },
    /// A content type the call does not accept (may be empty).
    UnsupportedMediaType {
        /// The content type sent.
        content_type: String,
    },
    /// Bad percent-encoding or UTF-8 somewhere in the parameters.
    BadEncoding {
        /// Where, for a human.
        place: String,
    },
    /// A JSON body that is not what the call takes (for Alibaba a flat object of strings).
    BadJson {
        /// What the parser said.
        detail: String,
    },
    /// A parameter (or JSON member) given twice anywhere in the request.
    DuplicateParameter {
        /// Its name.
        name: String,
    },
    /// An access key id that is not configured.
    UnknownAccessKey {
        /// The id sent.
        id: String,
    },
    /// The signature does not verify.
    SignatureMismatch {
        /// What did not match, for a human (Alibaba says it; AWS does not).
        detail: &'static str,
    },
    /// The request's own timestamp is too far from the time of receipt.
    TimeTooSkewed {
        /// The request's timestamp.
        request_time: u64,
        /// The time of receipt.
        now: u64,
        /// The window in seconds.
        limit: u32,
    },
    /// A task token that cannot be decoded.
    MalformedToken {
        /// Why, for a human.
        reason: String,
    },
}

/// A failure a host can detect on its own, before or instead of asking the filter (the
/// filter meets the size limit too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeFailure {
    /// No verdict could be had (the filter trapped or hit its deadline or memory cap), or the
    /// upstream failed: 500 `InternalServerError`.
    Internal,
    /// Too many requests in flight: 429 `ResourceThrottled`.
    Throttled {
        /// The cap.
        limit: u32,
    },
    /// The body is over the limit, seen before reading all of it: 400 `EntityTooLarge`.
    EntityTooLarge {
        /// The limit in bytes.
        limit: u32,
    },
    /// Routes are configured and none serves the host the request names: 400
    /// `InvalidArgument` / `ValidationException`, naming the host.
    NoRoute {
        /// The host the client asked for (empty when it named none).
        host: String,
    },
    /// A `CONNECT` request: taskgate must see each request to check it, so it tunnels nothing:
    /// 405.
    Tunnel,
    /// An HTTP message an edge must not pass on (two `Host` headers, none in HTTP/1.1, both
    /// `Content-Length` and `Transfer-Encoding`, a body that cannot be read): 400
    /// `InvalidArgument` / `SerializationException`, saying what is wrong.
    Malformed {
        /// What is wrong, as a phrase ("more than one Host header").
        detail: String,
    },
    /// The client did not send its body within the read timeout: 408 `RequestTimeout`.
    SlowClient,
    /// The request's nonce was claimed before: a replay. 400 `SignatureNonceUsed`.
    NonceUsed,
    /// A request whose signature was left to the service, with nobody to verify it (the
    /// local sink): the service's own unknown-key answer.
    Unverifiable {
        /// The access key id the request names.
        access_key_id: String,
    },
    /// The report's task is settled: the upstream accepted a report for it before.
    TaskSettled {
        /// The report's task token (CodePipeline: job id), which the message names.
        task_token: String,
    },
    /// Another report for the same task is with the upstream and did not finish in time.
    TaskBusy,
    /// The access key is over its rate.
    RateLimited {
        /// Seconds until a request would be allowed (at least 1).
        retry_after: u32,
    },
}

impl From<EdgeFailure> for Common {
    fn from(failure: EdgeFailure) -> Common {
        Common::Edge(failure)
    }
}

impl From<crate::json_body::ObjectError> for Common {
    /// A JSON body that is not a flat object of strings, or repeats a member.
    fn from(error: crate::json_body::ObjectError) -> Common {
        match error {
            crate::json_body::ObjectError::Invalid(detail) => Common::BadJson { detail },
            crate::json_body::ObjectError::Duplicate(name) => Common::DuplicateParameter { name },
        }
    }
}

impl Common {
    /// The complete response for this failure in `dialect`'s own table and body format.
    pub fn response(self, dialect: Dialect, request_id: &str, host_id: &str) -> Response {
        match dialect {
            Dialect::Fnf => FnfFailure::from(self).response(request_id, host_id),
            Dialect::States | Dialect::Swf | Dialect::CodePipeline => {
                AwsFailure::from(self).response(dialect, request_id)
            }
        }
    }
}

/// Why a `CONNECT` is refused, and what to do instead.
const TUNNEL: &str = "CONNECT is not supported: taskgate must see each request to check it. Send requests to an http:// endpoint through this proxy, or to taskgate's TLS listener.";

/// Why a request was cut off while its body was still coming.
const SLOW_CLIENT: &str = "The request body did not arrive within the read timeout. Please retry.";

/// The message for a host no route serves.
fn no_route(host: &str) -> String {
    format!(
        "The host '{}' is not served by this gateway: no route matches it.",
        clip(host)
    )
}

/// A dialect's view of a failure: status, code, message.
struct Wire {
    status: u16,
    code: &'static str,
    message: String,
}

impl From<(u16, &'static str, String)> for Wire {
    fn from((status, code, message): (u16, &'static str, String)) -> Wire {
        Wire {
            status,
            code,
            message,
        }
    }
}

/// The awsJson error body: boto3 and the JS SDK take the code from `__type`.
#[derive(Serialize)]
struct AwsError<'a> {
    #[serde(rename = "__type")]
    kind: &'a str,
    message: &'a str,
}

fn aws_response(wire: Wire, content_type: &str, request_id: &str) -> Response {
    let body = AwsError {
        kind: wire.code,
        message: &wire.message,
    };
    Response {
        status: wire.status,
        headers: vec![
            ("content-type".to_owned(), content_type.to_owned()),
            ("x-amzn-requestid".to_owned(), request_id.to_owned()),
        ],
        // Serializing a struct of strings cannot fail; an empty body would still be answered.
        body: serde_json::to_vec(&body).unwrap_or_default(),
        code: wire.code.to_owned(),
    }
}

/// The Alibaba OpenAPI error body, members in the order the service writes them.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AlibabaError<'a> {
    request_id: &'a str,
    host_id: &'a str,
    code: &'a str,
    message: &'a str,
    recommend: String,
}

fn fnf_response(wire: Wire, request_id: &str, host_id: &str) -> Response {
    let body = AlibabaError {
        request_id,
        host_id,
        code: wire.code,
        message: &wire.message,
        recommend: format!(
            "https://api.aliyun.com/troubleshoot?q={}&product=fnf",
            wire.code
        ),
    };
    Response {
        status: wire.status,
        headers: vec![
            (
                "content-type".to_owned(),
                "application/json;charset=utf-8".to_owned(),
            ),
            ("x-acs-request-id".to_owned(), request_id.to_owned()),
        ],
        // Serializing a struct of strings cannot fail; an empty body would still be answered.
        body: serde_json::to_vec(&body).unwrap_or_default(),
        code: wire.code.to_owned(),
    }
}
