//! The parsers that see request bytes, reachable from outside the crate for the fuzz targets in
//! `fuzz/` and their corpus replay, and for nothing else: the filter's API stays `check` and
//! its siblings. Compiled only with the `fuzzing` feature, so neither the component nor the
//! host's ordinary build carries it. Each entry point is the exact function `check` calls, or
//! a thin wrapper that turns its failure into the vendor response `check` would give.

pub use crate::json_body::{
    Json, ObjectError, parse as fnf_json_body, parse_object as json_object,
};
pub use crate::json_syntax::check as output_syntax;
pub use crate::params::Source;
pub use crate::percent::{
    DecodeError, canonical_pairs_encoded_into, canonical_pairs_into, form_decode, pop_encode_into,
    pop_encode_twice_into,
};

use crate::error::AwsFailure;
use crate::params::Params;
use crate::types::{Callback, Dialect, Request, Response};

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

/// What an AWS call's report carries: which call, the task token (CodePipeline's job id), a
/// failure's error and cause, a success's output or a cancel's or heartbeat's details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsFields {
    /// The call's dialect.
    pub dialect: Dialect,
    /// The call's operation name.
    pub action: &'static str,
    /// What the call does to its task.
    pub callback: Callback,
    /// `taskToken`, or CodePipeline's `jobId`.
    pub task_token: String,
    /// `error`, `reason` or `failureDetails.type`.
    pub error: Option<String>,
    /// `cause`, `details` or `failureDetails.message`.
    pub cause: Option<String>,
    /// `output`, `result`, `details` or `outputVariables` (as a JSON object).
    pub output: Option<String>,
}

/// How many AWS calls the filter models (`aws_body`'s `call` is taken modulo this).
pub const AWS_CALLS: usize = crate::dialect::aws::CALLS.len();

/// The number of the AWS call with this `X-Amz-Target`, if the filter models it.
pub fn aws_call_of_target(target: &str) -> Option<usize> {
    crate::dialect::aws::CALLS
        .iter()
        .position(|call| call.target == target)
}

/// The dialect of AWS call number `call` (modulo [`AWS_CALLS`]).
pub fn aws_call_dialect(call: usize) -> Dialect {
    crate::dialect::aws::CALLS[call % AWS_CALLS].dialect
}

/// The JSON body of AWS call number `call` (modulo [`AWS_CALLS`], in the filter's table order)
/// read as `check` reads it once the signature has verified: a JSON object with no repeated
/// member, then the call's published model. The error is the response `check` would give.
pub fn aws_body(call: usize, body: &[u8]) -> Result<AwsFields, Response> {
    let call = &crate::dialect::aws::CALLS[call % AWS_CALLS];
    let respond = |failure: AwsFailure| failure.response(call.dialect, REQUEST_ID);
    let members = json_object(body).map_err(|error| respond(error.into()))?;
    let fields = (call.model)(&members).map_err(respond)?;
    Ok(AwsFields {
        dialect: call.dialect,
        action: call.action,
        callback: call.callback,
        task_token: fields.task_token,
        error: fields.error,
        cause: fields.cause,
        output: fields.output,
    })
}
