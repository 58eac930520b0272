//! Every way a request can fail, and the one table that turns each into a vendor's wire error.
//!
//! The `match`es below are exhaustive on purpose: a new failure cannot be added without deciding
//! its status, code and message for every dialect. Messages name the field and the limit, and
//! never contain the values of `Error` or `Cause`.

use crate::params::clip;
use crate::time::format_timestamp;
use crate::types::{Dialect, Response};
use serde::Serialize;

/// One internal failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The body is larger than the configured limit.
    EntityTooLarge {
        /// The limit in bytes.
        limit: u32,
    },
    /// A method other than GET or POST.
    MethodNotAllowed {
        /// The method used.
        method: String,
    },
    /// A body that is neither form-encoded nor JSON.
    UnsupportedMediaType {
        /// The content type sent (may be empty).
        content_type: String,
    },
    /// Bad percent-encoding or UTF-8 somewhere in the parameters.
    BadEncoding {
        /// Where, for a human.
        place: String,
    },
    /// A JSON body that is not a flat object of strings.
    BadJson {
        /// What the parser said.
        detail: String,
    },
    /// A parameter given twice anywhere in the request.
    DuplicateParameter {
        /// Its name.
        name: String,
    },
    /// An operation other than the one this dialect checks.
    ActionNotSupported {
        /// The action asked for.
        action: String,
    },
    /// An API version other than the supported one.
    VersionNotSupported {
        /// The version asked for.
        version: String,
    },
    /// A required parameter is absent or empty.
    MissingParameter {
        /// Its name.
        name: &'static str,
    },
    /// A required header is absent or empty.
    MissingHeader {
        /// Its name.
        name: &'static str,
    },
    /// A parameter or header whose value has the wrong form.
    InvalidValue {
        /// Its name.
        name: &'static str,
        /// What it must be, as a phrase ("HMAC-SHA1").
        expected: &'static str,
    },
    /// A value outside its length bounds, counted in Unicode characters.
    BadLength {
        /// The parameter's name.
        name: &'static str,
        /// Least allowed length.
        min: usize,
        /// Greatest allowed length.
        max: usize,
        /// The length sent.
        actual: usize,
    },
    /// A task token that cannot be decoded.
    MalformedToken {
        /// Why, for a human.
        reason: String,
    },
    /// A well-formed task token whose MAC matches no token key.
    UnverifiedToken,
    /// An access key id that is not configured.
    UnknownAccessKey {
        /// The id sent.
        id: String,
    },
    /// The signature does not verify.
    SignatureMismatch {
        /// What did not match, for a human.
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
    /// A genuine task token of another account than the access key's.
    WrongAccount,
    /// The host could not get a verdict (the filter trapped, ran out of time or memory, or the
    /// upstream failed): the caller may retry.
    Internal,
    /// The host has too many requests in flight.
    Throttled {
        /// The cap on requests in flight.
        limit: u32,
    },
    /// The host serves no route for the host the request names.
    NoRoute {
        /// The host asked for.
        host: String,
    },
    /// A `CONNECT` request (a tunnel the filter could not see into).
    Tunnel,
    /// An HTTP message the host refuses to pass on.
    Malformed {
        /// What is wrong, as a phrase.
        detail: String,
    },
    /// The client was too slow with its body.
    SlowClient,
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

impl From<crate::json_body::ObjectError> for Failure {
    /// A JSON body that is not a flat object of strings, or repeats a member.
    fn from(error: crate::json_body::ObjectError) -> Failure {
        match error {
            crate::json_body::ObjectError::Invalid(detail) => Failure::BadJson { detail },
            crate::json_body::ObjectError::Duplicate(name) => Failure::DuplicateParameter { name },
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

impl Failure {
    fn wire(&self, dialect: Dialect) -> Wire {
        match dialect {
            Dialect::Fnf => self.fnf(),
            Dialect::States | Dialect::Swf | Dialect::CodePipeline => self.aws(dialect),
        }
    }

    /// Serverless Workflow's codes and message forms, from its API reference.
    fn fnf(&self) -> Wire {
        let (status, code, message) = match self {
            Failure::EntityTooLarge { limit } => (
                400,
                "EntityTooLarge",
                format!("The payload size exceeds maximum allowed size ({limit} bytes)."),
            ),
            Failure::MethodNotAllowed { method } => (
                400,
                "InvalidArgument",
                format!("Parameter error. The HTTP method '{}' is not supported: use POST.", clip(method)),
            ),
            Failure::UnsupportedMediaType { content_type } => (
                415,
                "UnsupportedMediaType",
                format!(
                    "The content type must be \"application/json\" or \"application/x-www-form-urlencoded\", not \"{}\".",
                    clip(content_type)
                ),
            ),
            Failure::BadEncoding { place } => (
                400,
                "InvalidArgument",
                format!("Parameter error. The request is not validly encoded: {place}."),
            ),
            Failure::BadJson { detail } => (
                400,
                "InvalidArgument",
                format!("Parameter error. The JSON body must be an object of string parameters: {detail}."),
            ),
            Failure::DuplicateParameter { name } => (
                400,
                "InvalidArgument",
                format!("Parameter error. The parameter '{}' is given more than once.", clip(name)),
            ),
            Failure::ActionNotSupported { action } => (
                400,
                "ActionNotSupported",
                format!("The requested API operation '{}' is incorrect. Please check.", clip(action)),
            ),
            Failure::VersionNotSupported { version } => (
                400,
                "APIVersionNotSupported",
                format!("The requested API version '{}' is not supported yet. Please check.", clip(version)),
            ),
            Failure::MissingParameter { name } => (
                400,
                "MissingRequiredParams",
                format!("The HTTP query '{name}' must be specified."),
            ),
            Failure::MissingHeader { name } => (
                400,
                "MissingRequiredHeader",
                format!("The HTTP header '{name}' must be specified."),
            ),
            Failure::InvalidValue { name, expected } => (
                400,
                "InvalidArgument",
                format!("Parameter error. '{name}' must be {expected}."),
            ),
            Failure::BadLength { name, min, max, actual } => (
                400,
                "InvalidArgument",
                format!(
                    "Parameter error. The length of '{name}' must be between {min} and {max} characters, but is {actual}."
                ),
            ),
            Failure::MalformedToken { reason } => (
                400,
                "InvalidArgument",
                format!("Parameter error. 'TaskToken' is not a valid task token: {reason}."),
            ),
            Failure::UnverifiedToken => (
                400,
                "InvalidArgument",
                "Parameter error. 'TaskToken' is not a valid task token: its MAC does not verify.".to_owned(),
            ),
            Failure::UnknownAccessKey { id } => (
                403,
                "InvalidAccessKeyID",
                format!("The AccessKey ID {} is invalid.", clip(id)),
            ),
            Failure::SignatureMismatch { detail } => (
                403,
                "SignatureNotMatch",
                format!(
                    "The request signature we calculated does not match the signature you provided. Check your access key and signing method. ({detail})"
                ),
            ),
            Failure::TimeTooSkewed { request_time, now, limit } => (
                403,
                "RequestTimeTooSkewed",
                format!(
                    "The difference between the request time {} and the current time {} is too large (more than {limit} seconds).",
                    format_timestamp(*request_time),
                    format_timestamp(*now)
                ),
            ),
            Failure::WrongAccount => (
                403,
                "AccessDenied",
                "The resources doesn't belong to you. The task token belongs to another account than the access key.".to_owned(),
            ),
            Failure::Internal => (
                500,
                "InternalServerError",
                "An internal error has occurred. Please retry.".to_owned(),
            ),
            Failure::Throttled { limit } => (
                429,
                "ResourceThrottled",
                format!("The request is throttled: more than {limit} requests are in flight. Please try again later."),
            ),
            Failure::NoRoute { host } => (
                400,
                "InvalidArgument",
                format!("Parameter error. {}", no_route(host)),
            ),
            Failure::Tunnel => (405, "InvalidArgument", TUNNEL.to_owned()),
            Failure::Malformed { detail } => (
                400,
                "InvalidArgument",
                format!("Parameter error. The request is malformed: {detail}."),
            ),
            Failure::SlowClient => (408, "RequestTimeout", SLOW_CLIENT.to_owned()),
            // Failures only AWS requests can meet (an Alibaba request never reaches those
            // rules): should one ever get here, a generic answer costs no code size.
            Failure::UnknownOperation { .. }
            | Failure::MissingAuthentication
            | Failure::IncompleteSignature(_)
            | Failure::WrongService { .. }
            | Failure::WrongScopeDate { .. }
            | Failure::Validation { .. } => (
                400,
                "InvalidArgument",
                "Parameter error. The request is not a valid ReportTaskFailed call.".to_owned(),
            ),
        };
        Wire {
            status,
            code,
            message,
        }
    }

    /// The AWS services' codes and message forms (awsJson protocols, coral front end): the
    /// same for the three calls except how each names a bad task token.
    fn aws(&self, dialect: Dialect) -> Wire {
        const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
        // 400, as the awsJson services answer it (not 404).
        let unknown_operation = |what: String| (400, "UnknownOperationException", what);
        let serialization = |what: String| (400, "SerializationException", what);
        let (status, code, message) = match self {
            Failure::EntityTooLarge { limit } => (
                413,
                "RequestEntityTooLarge",
                format!("Request body of more than {limit} bytes."),
            ),
            Failure::MethodNotAllowed { method } => unknown_operation(format!(
                "Unknown operation: the HTTP method {} is not POST.",
                clip(method)
            )),
            Failure::UnsupportedMediaType { content_type } => unknown_operation(format!(
                "Unknown operation: the content type must be {}, not \"{}\".",
                crate::dialect::aws_content_type(dialect),
                clip(content_type)
            )),
            Failure::UnknownOperation { target } => {
                unknown_operation(format!("Unknown operation: {}", clip(target)))
            }
            Failure::BadEncoding { place } => serialization(format!("Bad encoding: {place}.")),
            Failure::BadJson { detail } => serialization(format!("The request body is not valid: {detail}.")),
            Failure::DuplicateParameter { name } => serialization(format!(
                "The member '{}' appears more than once in the request body.",
                clip(name)
            )),
            Failure::MissingAuthentication => (
                400,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token".to_owned(),
            ),
            Failure::IncompleteSignature(what) => {
                (400, "IncompleteSignatureException", what.wording().to_owned())
            }
            Failure::UnknownAccessKey { .. } => (
                400,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.".to_owned(),
            ),
            Failure::SignatureMismatch { .. } => (
                400,
                "InvalidSignatureException",
                SIGNATURE_MISMATCH.to_owned(),
            ),
            Failure::WrongService { expected } => (
                400,
                "InvalidSignatureException",
                format!("Credential should be scoped to correct service: '{expected}'. "),
            ),
            Failure::WrongScopeDate { scope, amz_date } => (
                400,
                "InvalidSignatureException",
                format!(
                    "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
                    clip(scope),
                    amz_date.get(..8).unwrap_or(""),
                ),
            ),
            Failure::TimeTooSkewed { request_time, now, limit } => {
                let amz = crate::sign::sigv4::format_amz_date;
                let message = if request_time < now {
                    format!(
                        "Signature expired: {} is now earlier than {} ({} - {} min.)",
                        amz(*request_time),
                        amz(now.saturating_sub(u64::from(*limit))),
                        amz(*now),
                        limit / 60
                    )
                } else {
                    format!(
                        "Signature not yet current: {} is still later than {} ({} + {} min.)",
                        amz(*request_time),
                        amz(now.saturating_add(u64::from(*limit))),
                        amz(*now),
                        limit / 60
                    )
                };
                (400, "InvalidSignatureException", message)
            }
            Failure::Validation { violations } => {
                let count = violations.len();
                let noun = if count == 1 { "error" } else { "errors" };
                let worded: Vec<String> = violations.iter().map(Violation::wording).collect();
                (
                    400,
                    "ValidationException",
                    format!("{count} validation {noun} detected: {}", worded.join("; ")),
                )
            }
            Failure::MalformedToken { reason } => match dialect {
                Dialect::Swf => (
                    400,
                    "UnknownResourceFault",
                    format!("Unknown activity task: the task token {reason}."),
                ),
                // Step Functions' wording; CodePipeline job ids (a model pattern) and Alibaba
                // tokens never get here.
                Dialect::States | Dialect::CodePipeline | Dialect::Fnf => {
                    (400, "InvalidToken", format!("Invalid Token: {reason}."))
                }
            },
            Failure::Internal => (
                500,
                "InternalFailure",
                "The request processing has failed because of an unknown error, exception or failure.".to_owned(),
            ),
            Failure::Throttled { limit } => (
                400,
                "ThrottlingException",
                format!("Rate exceeded: more than {limit} requests are in flight."),
            ),
            Failure::NoRoute { host } => (400, "ValidationException", no_route(host)),
            Failure::Tunnel => (405, "UnknownOperationException", TUNNEL.to_owned()),
            Failure::Malformed { detail } => serialization(format!("The request is malformed: {detail}.")),
            Failure::SlowClient => (408, "RequestTimeout", SLOW_CLIENT.to_owned()),
            // Failures only Alibaba requests can meet (an AWS request never reaches those
            // rules): should one ever get here, a generic answer costs no code size.
            Failure::ActionNotSupported { .. }
            | Failure::VersionNotSupported { .. }
            | Failure::MissingParameter { .. }
            | Failure::MissingHeader { .. }
            | Failure::InvalidValue { .. }
            | Failure::BadLength { .. }
            | Failure::UnverifiedToken
            | Failure::WrongAccount => (
                400,
                "ValidationException",
                "1 validation error detected: the request is not valid for this operation".to_owned(),
            ),
        };
        Wire {
            status,
            code,
            message,
        }
    }

    /// The complete response for this failure, in the dialect's own body format.
    pub fn response(&self, dialect: Dialect, request_id: &str, host_id: &str) -> Response {
        let wire = self.wire(dialect);
        match dialect {
            Dialect::Fnf => fnf_response(wire, request_id, host_id),
            Dialect::States | Dialect::Swf | Dialect::CodePipeline => {
                aws_response(wire, crate::dialect::aws_content_type(dialect), request_id)
            }
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
