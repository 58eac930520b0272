//! The AWS services' table (awsJson protocols, coral front end): their codes and message forms,
//! the same for every call except how each names a bad task token.

use super::{Common, EdgeFailure, SLOW_CLIENT, TUNNEL, Wire, aws_response, no_route};
use crate::params::clip;
use crate::types::{Dialect, Response};

/// A failure an AWS request can meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsFailure {
    /// One every dialect can meet.
    Common(Common),
    /// An AWS call this gateway does not check (another operation, or no operation named).
    UnknownOperation {
        /// The `X-Amz-Target` sent.
        target: String,
    },
    /// No `Authorization` header at all.
    MissingAuthentication,
    /// An `Authorization` header, or the headers it needs, missing a part.
    IncompleteSignature(Incomplete),
    /// A SigV4 credential scoped to another service than the call's.
    WrongService {
        /// The service the call belongs to.
        expected: &'static str,
    },
    /// A SigV4 credential scoped to another day than `X-Amz-Date`'s.
    WrongScopeDate {
        /// The credential scope's date.
        scope: String,
        /// The `X-Amz-Date` header.
        amz_date: String,
    },
    /// Values that break the published model's constraints, all of them, in the model's member
    /// order.
    Validation {
        /// The constraints broken.
        violations: Vec<Violation>,
    },
    /// A rule of the call's documentation beyond the model's constraints (CodePipeline: output
    /// variables only without a continuation token): `ValidationException` saying so.
    NotAllowed {
        /// The rule, as a sentence.
        message: &'static str,
    },
    /// Step Functions' `output` that is not JSON: `InvalidOutput`.
    InvalidOutput {
        /// What the parser said (positions, never the value).
        detail: String,
    },
}

impl From<Common> for AwsFailure {
    fn from(common: Common) -> AwsFailure {
        AwsFailure::Common(common)
    }
}

impl From<EdgeFailure> for AwsFailure {
    fn from(failure: EdgeFailure) -> AwsFailure {
        AwsFailure::Common(Common::Edge(failure))
    }
}

impl From<crate::json_body::ObjectError> for AwsFailure {
    fn from(error: crate::json_body::ObjectError) -> AwsFailure {
        AwsFailure::Common(error.into())
    }
}

/// What an AWS `Authorization` (or a header it needs) lacks: `IncompleteSignatureException`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incomplete {
    /// The header itself does not parse.
    Authorization(crate::sign::sigv4::AuthorizationError),
    /// No `X-Amz-Date` header.
    NoDate,
    /// `host` or `x-amz-date` not among the signed headers.
    UnsignedHostOrDate,
    /// An `X-Amz-Date` that is not `yyyyMMddTHHmmssZ`.
    BadDate,
}

/// One broken constraint of an AWS model, worded below as the services word it. Only values
/// that are not sensitive (a job id, a failure type) are ever shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A required member is absent or null.
    Null {
        /// The member's path in the model (`failureDetails.message`).
        path: &'static str,
    },
    /// A string shorter than its minimum length.
    TooShort {
        /// The member's path.
        path: &'static str,
        /// The minimum, in characters.
        min: usize,
    },
    /// A string longer than its maximum length.
    TooLong {
        /// The member's path.
        path: &'static str,
        /// The maximum, in characters.
        max: usize,
    },
    /// A value outside its pattern.
    Pattern {
        /// The member's path.
        path: &'static str,
        /// The value sent.
        value: String,
        /// The pattern, as the model writes it.
        pattern: &'static str,
    },
    /// An integer outside its range.
    OutOfRange {
        /// The member's path.
        path: &'static str,
        /// The value sent.
        value: i64,
        /// The least allowed value.
        min: i64,
        /// The greatest allowed value.
        max: i64,
    },
    /// A map key outside its pattern (only the key is shown, never the map's values).
    KeyPattern {
        /// The map's path.
        path: &'static str,
        /// The key sent.
        key: String,
        /// The pattern, as the model writes it.
        pattern: &'static str,
    },
    /// A value outside its enum.
    NotInEnum {
        /// The member's path.
        path: &'static str,
        /// The value sent.
        value: String,
        /// The allowed values, in the model's order.
        values: &'static [&'static str],
    },
}

impl Violation {
    /// The services' wording of one violation (`Value at 'cause' failed to satisfy ...`).
    pub fn wording(&self) -> String {
        match self {
            Violation::Null { path } => format!(
                "Value null at '{path}' failed to satisfy constraint: Member must not be null"
            ),
            Violation::TooShort { path, min } => format!(
                "Value at '{path}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
            ),
            Violation::TooLong { path, max } => format!(
                "Value at '{path}' failed to satisfy constraint: Member must have length less than or equal to {max}"
            ),
            Violation::Pattern {
                path,
                value,
                pattern,
            } => format!(
                "Value '{}' at '{path}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}",
                clip(value)
            ),
            Violation::OutOfRange {
                path,
                value,
                min,
                max,
            } => {
                let (relation, bound) = if value < min {
                    ("greater", min)
                } else {
                    ("less", max)
                };
                format!(
                    "Value '{value}' at '{path}' failed to satisfy constraint: Member must have value {relation} than or equal to {bound}"
                )
            }
            Violation::KeyPattern { path, key, pattern } => format!(
                "Value '{}' at '{path}' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: {pattern}]",
                clip(key)
            ),
            Violation::NotInEnum {
                path,
                value,
                values,
            } => format!(
                "Value '{}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                clip(value),
                values.join(", ")
            ),
        }
    }
}

impl Incomplete {
    /// The services' wording.
    fn wording(&self) -> &'static str {
        use crate::sign::sigv4::AuthorizationError;
        match self {
            Incomplete::Authorization(AuthorizationError::NotSigV4) => {
                "Authorization header must use the AWS4-HMAC-SHA256 algorithm."
            }
            Incomplete::Authorization(AuthorizationError::Missing("Credential")) => {
                "Authorization header requires 'Credential' parameter."
            }
            Incomplete::Authorization(AuthorizationError::Missing("SignedHeaders")) => {
                "Authorization header requires 'SignedHeaders' parameter."
            }
            Incomplete::Authorization(AuthorizationError::Missing(_)) => {
                "Authorization header requires 'Signature' parameter."
            }
            Incomplete::Authorization(AuthorizationError::BadCredential) => {
                "Credential must have the form <access key id>/<yyyymmdd>/<region>/<service>/aws4_request."
            }
            Incomplete::NoDate => {
                "Authorization header requires existence of a 'X-Amz-Date' header."
            }
            Incomplete::UnsignedHostOrDate => {
                "'Host' and 'X-Amz-Date' must be SignedHeaders in the AWS Authorization."
            }
            Incomplete::BadDate => "'X-Amz-Date' must have the form yyyyMMddTHHmmssZ.",
        }
    }
}

const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// 400, as the awsJson services answer an unknown operation (not 404).
fn unknown_operation(what: String) -> (u16, &'static str, String) {
    (400, "UnknownOperationException", what)
}

fn serialization(what: String) -> (u16, &'static str, String) {
    (400, "SerializationException", what)
}

impl AwsFailure {
    /// The complete response: the awsJson error body with `dialect`'s content type.
    pub fn response(&self, dialect: Dialect, request_id: &str) -> Response {
        let content_type = crate::dialect::aws_content_type(dialect);
        aws_response(self.wire(dialect), content_type, request_id)
    }

    fn wire(&self, dialect: Dialect) -> Wire {
        match self {
            AwsFailure::Common(common) => common_wire(common, dialect),
            AwsFailure::UnknownOperation { target } => {
                unknown_operation(format!("Unknown operation: {}", clip(target)))
            }
            AwsFailure::MissingAuthentication => (
                400,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token".to_owned(),
            ),
            AwsFailure::IncompleteSignature(what) => {
                (400, "IncompleteSignatureException", what.wording().to_owned())
            }
            AwsFailure::WrongService { expected } => (
                400,
                "InvalidSignatureException",
                format!("Credential should be scoped to correct service: '{expected}'. "),
            ),
            AwsFailure::WrongScopeDate { scope, amz_date } => (
                400,
                "InvalidSignatureException",
                format!(
                    "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
                    clip(scope),
                    amz_date.get(..8).unwrap_or(""),
                ),
            ),
            AwsFailure::Validation { violations } => {
                let count = violations.len();
                let noun = if count == 1 { "error" } else { "errors" };
                let worded: Vec<String> = violations.iter().map(Violation::wording).collect();
                (
                    400,
                    "ValidationException",
                    format!("{count} validation {noun} detected: {}", worded.join("; ")),
                )
            }
            AwsFailure::NotAllowed { message } => (400, "ValidationException", (*message).to_owned()),
            AwsFailure::InvalidOutput { detail } => (
                400,
                "InvalidOutput",
                format!("The provided JSON output data is not valid: {detail}."),
            ),
        }
        .into()
    }
}

/// The failures every dialect can meet, as the AWS services word them.
fn common_wire(common: &Common, dialect: Dialect) -> (u16, &'static str, String) {
    match common {
        Common::Edge(EdgeFailure::EntityTooLarge { limit }) => (
            413,
            "RequestEntityTooLarge",
            format!("Request body of more than {limit} bytes."),
        ),
        Common::MethodNotAllowed { method } => unknown_operation(format!(
            "Unknown operation: the HTTP method {} is not POST.",
            clip(method)
        )),
        Common::UnsupportedMediaType { content_type } => unknown_operation(format!(
            "Unknown operation: the content type must be {}, not \"{}\".",
            crate::dialect::aws_content_type(dialect),
            clip(content_type)
        )),
        Common::BadEncoding { place } => serialization(format!("Bad encoding: {place}.")),
        Common::BadJson { detail } => {
            serialization(format!("The request body is not valid: {detail}."))
        }
        Common::DuplicateParameter { name } => serialization(format!(
            "The member '{}' appears more than once in the request body.",
            clip(name)
        )),
        Common::UnknownAccessKey { .. } | Common::Edge(EdgeFailure::Unverifiable { .. }) => (
            400,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.".to_owned(),
        ),
        Common::SignatureMismatch { .. } => (
            400,
            "InvalidSignatureException",
            SIGNATURE_MISMATCH.to_owned(),
        ),
        Common::TimeTooSkewed {
            request_time,
            now,
            limit,
        } => (
            400,
            "InvalidSignatureException",
            expired(*request_time, *now, *limit),
        ),
        // SWF's wording; Step Functions' below. CodePipeline's job id is a model pattern.
        Common::MalformedToken { reason } if dialect == Dialect::Swf => (
            400,
            "UnknownResourceFault",
            format!("Unknown activity task: the task token {reason}."),
        ),
        Common::MalformedToken { reason } => {
            (400, "InvalidToken", format!("Invalid Token: {reason}."))
        }
        Common::Edge(EdgeFailure::Internal) => (
            500,
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure."
                .to_owned(),
        ),
        Common::Edge(EdgeFailure::Throttled { limit }) => (
            400,
            "ThrottlingException",
            format!("Rate exceeded: more than {limit} requests are in flight."),
        ),
        Common::Edge(EdgeFailure::NoRoute { host }) => (400, "ValidationException", no_route(host)),
        Common::Edge(EdgeFailure::Tunnel) => (405, "UnknownOperationException", TUNNEL.to_owned()),
        Common::Edge(EdgeFailure::Malformed { detail }) => {
            serialization(format!("The request is malformed: {detail}."))
        }
        Common::Edge(EdgeFailure::SlowClient) => (408, "RequestTimeout", SLOW_CLIENT.to_owned()),
        // AWS requests carry no nonce, so a host never finds one used; should a host say so
        // anyway, the signature is what was replayed.
        Common::Edge(EdgeFailure::NonceUsed) => (
            400,
            "InvalidSignatureException",
            "The request signature has been used before.".to_owned(),
        ),
        Common::Edge(EdgeFailure::TaskSettled { task_token }) => settled(dialect, task_token),
        // None of the three calls has a "task busy" error; throttling is what the SDKs retry
        // with backoff, after which the first report's outcome is known.
        Common::Edge(EdgeFailure::TaskBusy) => (
            400,
            "ThrottlingException",
            "Rate exceeded: another report for this task is in progress.".to_owned(),
        ),
        Common::Edge(EdgeFailure::RateLimited { .. }) => {
            (400, "ThrottlingException", "Rate exceeded".to_owned())
        }
    }
}

/// How each service refuses a report for a task that is already closed.
fn settled(dialect: Dialect, task_token: &str) -> (u16, &'static str, String) {
    match dialect {
        Dialect::Swf => (
            400,
            "UnknownResourceFault",
            "Unknown activity task: the task has already been closed.".to_owned(),
        ),
        Dialect::CodePipeline => (
            400,
            "InvalidJobStateException",
            format!(
                "The job {} is not in a state that allows this result: it has already completed.",
                clip(task_token)
            ),
        ),
        // Step Functions' wording (and the AWS format's default).
        Dialect::States | Dialect::Fnf => (
            400,
            "TaskTimedOut",
            "Task Timed Out: 'Provided task does not exist anymore'".to_owned(),
        ),
    }
}

/// SigV4's wording of a request time outside the window, either way.
fn expired(request_time: u64, now: u64, limit: u32) -> String {
    let amz = crate::sign::sigv4::format_amz_date;
    if request_time < now {
        format!(
            "Signature expired: {} is now earlier than {} ({} - {} min.)",
            amz(request_time),
            amz(now.saturating_sub(u64::from(limit))),
            amz(now),
            limit / 60
        )
    } else {
        format!(
            "Signature not yet current: {} is still later than {} ({} + {} min.)",
            amz(request_time),
            amz(now.saturating_add(u64::from(limit))),
            amz(now),
            limit / 60
        )
    }
}
