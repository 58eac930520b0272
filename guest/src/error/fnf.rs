//! Serverless Workflow's table: its codes and message forms, from its API reference.

use super::{Common, EdgeFailure, SLOW_CLIENT, TUNNEL, Wire, fnf_response, no_route};
use crate::params::clip;
use crate::time::format_timestamp;
use crate::types::Response;

/// A failure an Alibaba request can meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FnfFailure {
    /// One every dialect can meet.
    Common(Common),
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
    /// A well-formed task token whose MAC matches no token key.
    UnverifiedToken,
    /// A genuine task token of another account than the access key's.
    WrongAccount,
}

impl From<Common> for FnfFailure {
    fn from(common: Common) -> FnfFailure {
        FnfFailure::Common(common)
    }
}

impl From<EdgeFailure> for FnfFailure {
    fn from(failure: EdgeFailure) -> FnfFailure {
        FnfFailure::Common(Common::Edge(failure))
    }
}

impl From<crate::json_body::ObjectError> for FnfFailure {
    fn from(error: crate::json_body::ObjectError) -> FnfFailure {
        FnfFailure::Common(error.into())
    }
}

impl FnfFailure {
    /// The complete response: Alibaba's OpenAPI error body.
    pub fn response(&self, request_id: &str, host_id: &str) -> Response {
        fnf_response(self.wire(), request_id, host_id)
    }

    fn wire(&self) -> Wire {
        let parameter_error =
            |what: String| (400, "InvalidArgument", format!("Parameter error. {what}"));
        match self {
            FnfFailure::Common(common) => common_wire(common),
            FnfFailure::ActionNotSupported { action } => (
                400,
                "ActionNotSupported",
                format!("The requested API operation '{}' is incorrect. Please check.", clip(action)),
            ),
            FnfFailure::VersionNotSupported { version } => (
                400,
                "APIVersionNotSupported",
                format!("The requested API version '{}' is not supported yet. Please check.", clip(version)),
            ),
            FnfFailure::MissingParameter { name } => (
                400,
                "MissingRequiredParams",
                format!("The HTTP query '{name}' must be specified."),
            ),
            FnfFailure::MissingHeader { name } => (
                400,
                "MissingRequiredHeader",
                format!("The HTTP header '{name}' must be specified."),
            ),
            FnfFailure::InvalidValue { name, expected } => {
                parameter_error(format!("'{name}' must be {expected}."))
            }
            FnfFailure::BadLength { name, min, max, actual } => parameter_error(format!(
                "The length of '{name}' must be between {min} and {max} characters, but is {actual}."
            )),
            FnfFailure::UnverifiedToken => parameter_error(
                "'TaskToken' is not a valid task token: its MAC does not verify.".to_owned(),
            ),
            FnfFailure::WrongAccount => (
                403,
                "AccessDenied",
                "The resources doesn't belong to you. The task token belongs to another account than the access key.".to_owned(),
            ),
        }
        .into()
    }
}

/// The failures every dialect can meet, as Alibaba words them.
fn common_wire(common: &Common) -> (u16, &'static str, String) {
    let parameter_error =
        |what: String| (400, "InvalidArgument", format!("Parameter error. {what}"));
    match common {
        Common::Edge(EdgeFailure::EntityTooLarge { limit }) => (
            400,
            "EntityTooLarge",
            format!("The payload size exceeds maximum allowed size ({limit} bytes)."),
        ),
        Common::MethodNotAllowed { method } => parameter_error(format!(
            "The HTTP method '{}' is not supported: use POST.",
            clip(method)
        )),
        Common::UnsupportedMediaType { content_type } => (
            415,
            "UnsupportedMediaType",
            format!(
                "The content type must be \"application/json\" or \"application/x-www-form-urlencoded\", not \"{}\".",
                clip(content_type)
            ),
        ),
        Common::BadEncoding { place } => {
            parameter_error(format!("The request is not validly encoded: {place}."))
        }
        Common::BadJson { detail } => parameter_error(format!(
            "The JSON body must be an object of string parameters: {detail}."
        )),
        Common::DuplicateParameter { name } => parameter_error(format!(
            "The parameter '{}' is given more than once.",
            clip(name)
        )),
        Common::UnknownAccessKey { id }
        | Common::Edge(EdgeFailure::Unverifiable { access_key_id: id }) => (
            403,
            "InvalidAccessKeyID",
            format!("The AccessKey ID {} is invalid.", clip(id)),
        ),
        Common::SignatureMismatch { detail } => (
            403,
            "SignatureNotMatch",
            format!(
                "The request signature we calculated does not match the signature you provided. Check your access key and signing method. ({detail})"
            ),
        ),
        Common::TimeTooSkewed {
            request_time,
            now,
            limit,
        } => (
            403,
            "RequestTimeTooSkewed",
            format!(
                "The difference between the request time {} and the current time {} is too large (more than {limit} seconds).",
                format_timestamp(*request_time),
                format_timestamp(*now)
            ),
        ),
        Common::MalformedToken { reason } => {
            parameter_error(format!("'TaskToken' is not a valid task token: {reason}."))
        }
        Common::Edge(EdgeFailure::Internal) => (
            500,
            "InternalServerError",
            "An internal error has occurred. Please retry.".to_owned(),
        ),
        Common::Edge(EdgeFailure::Throttled { limit }) => (
            429,
            "ResourceThrottled",
            format!(
                "The request is throttled: more than {limit} requests are in flight. Please try again later."
            ),
        ),
        Common::Edge(EdgeFailure::NoRoute { host }) => parameter_error(no_route(host)),
        Common::Edge(EdgeFailure::Tunnel) => (405, "InvalidArgument", TUNNEL.to_owned()),
        Common::Edge(EdgeFailure::Malformed { detail }) => {
            parameter_error(format!("The request is malformed: {detail}."))
        }
        Common::Edge(EdgeFailure::SlowClient) => (408, "RequestTimeout", SLOW_CLIENT.to_owned()),
        Common::Edge(EdgeFailure::NonceUsed) => (
            400,
            "SignatureNonceUsed",
            "The request signature nonce has been used.".to_owned(),
        ),
        Common::Edge(EdgeFailure::TaskSettled { task_token }) => (
            400,
            "TaskAlreadyCompleted",
            format!("Task {} has already completed.", clip(task_token)),
        ),
        Common::Edge(EdgeFailure::TaskBusy) => (
            409,
            "TaskInvalidState",
            "Task is in an invalid state, please retry.".to_owned(),
        ),
        Common::Edge(EdgeFailure::RateLimited { retry_after }) => (
            429,
            "ResourceThrottled",
            format!(
                "The request is throttled: the access key is over its rate. Please try again in {retry_after} s."
            ),
        ),
    }
}
