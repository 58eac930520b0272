//! The parsers that see request bytes, reachable from outside the crate for the fuzz targets in
//! `fuzz/` and their corpus replay, and for nothing else: the filter's API stays `check` and
//! its siblings. Compiled only with the `fuzzing` feature, so neither the component nor the
//! host's ordinary build carries it. Each entry point is the exact function `check` calls, or
//! a thin wrapper that turns its failure into the vendor response `check` would give.

pub use crate::json_body::{
    Json, ObjectError, parse as fnf_json_body, parse_object as json_object,
};
pub use crate::params::Source;
pub use crate::percent::{
    DecodeError, canonical_pairs_encoded_into, canonical_pairs_into, form_decode, pop_encode_into,
    pop_encode_twice_into,
};

use crate::error::AwsFailure;
use crate::params::Params;
use crate::types::{Dialect, Request, Response};

/// The request id and host id the wrappers' responses carry.
const REQUEST_ID: &str = "FUZZ";
const HOST_ID: &str = "taskgate";

/// The parameters of an Alibaba request (query plus form or JSON body), sorted by name, each
/// `(name, value, where it was)`; or the response a bad encoding, body or repeated name gets.
pub fn parameters(request: &Request) -> Result<Vec<(String, String, Source)>, Response> {
    let params = Params::parse(request).map_err(|f| f.response(REQUEST_ID, HOST_ID))?;
    let mut all: Vec<(String, String, Source)> = params
        .iter()
        .map(|p| {
            (
                p.name.clone().into_owned(),
                p.value.clone().into_owned(),
                p.source,
            )
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(all)
}

/// The members an AWS failure call's report carries: the task token (CodePipeline's job id),
/// the error and the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsFields {
    /// `taskToken`, or CodePipeline's `jobId`.
    pub task_token: String,
    /// `error`, `reason` or `failureDetails.type`.
    pub error: Option<String>,
    /// `cause`, `details` or `failureDetails.message`.
    pub cause: Option<String>,
}

/// An AWS failure call's JSON body read as `check` reads it once the signature has verified: a
/// JSON object with no repeated member, then the call's published model. `dialect` must be an
/// AWS one; the error is the response `check` would give.
pub fn aws_body(dialect: Dialect, body: &[u8]) -> Result<AwsFields, Response> {
    let respond = |failure: AwsFailure| failure.response(dialect, REQUEST_ID);
    let members = json_object(body).map_err(|error| respond(error.into()))?;
    let call = crate::dialect::aws::call_of(dialect)
        .ok_or_else(|| respond(crate::EdgeFailure::Internal.into()))?;
    let fields = (call.model)(&members).map_err(respond)?;
    Ok(AwsFields {
        task_token: fields.task_token,
        error: fields.error,
        cause: fields.cause,
    })
}
