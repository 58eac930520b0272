//! The taskgate filter: everything that decides whether a workflow task callback may go on to the
//! engine, as plain Rust.
//!
//! The same code is built twice: as a WASI component (`component.rs`, the only file that knows
//! about wit-bindgen) that the `taskgate` host and other runtimes load, and as an ordinary library
//! that the host's benchmarks and the tests link natively, so the two can be compared and cannot
//! drift.
//!
//! Deliberately not here: reading sockets or files, clocks and randomness (the host passes the
//! time of receipt and a request id in, so every verdict is reproducible), and logging.
//! Nothing in this crate panics on request data: every problem becomes a [`Verdict::Reject`].

mod dialect;
mod error;
mod json_body;
mod params;
mod percent;
mod request_id;
pub mod sign;
mod time;
pub mod token;
mod types;

#[cfg(target_arch = "wasm32")]
#[allow(
    unsafe_code,
    reason = "wit-bindgen's generated exports are unsafe extern functions"
)]
mod component;

pub use error::Failure;
pub use time::{format_timestamp, parse_timestamp};
pub use types::{
    AccessKey, Dialect, Env, Limits, Report, Request, Response, TaskToken, TokenError, TokenKey,
    Verdict,
};

/// Checks one callback request: forward it with its decoded report, or reject it with the exact
/// response the vendor's service would give. Never panics on any input.
pub fn check(request: &Request, env: &dyn Env) -> Verdict {
    dialect::check(request, env)
}

/// The vendor's `InternalServerError` response (500) for a request the host could not get a
/// verdict on: the filter trapped, hit its deadline or memory cap. Hosts call this natively, so
/// the error format still has one home.
pub fn internal_error(request: &Request) -> Response {
    dialect::internal_error(request)
}

/// Decodes a task token and, when token keys are configured, verifies its MAC.
pub fn decode_token(text: &str, env: &dyn Env) -> Result<TaskToken, TokenError> {
    token::decode_and_verify(text, env)
}
