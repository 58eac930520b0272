//! Serverless Workflow / CloudFlow `ReportTaskFailed` and `ReportTaskSucceeded` (product `fnf`,
//! version 2019-03-15; the API defines no heartbeat call).
//!
//! The rules run cheapest and least revealing first: size, method and encoding; which operation
//! is asked for; who is asking (signature and time); only then the operation's own parameters,
//! so an unauthenticated caller learns nothing about what a valid report would look like.

mod auth;

use super::Accepted;
use crate::error::{Common, EdgeFailure, FnfFailure};
use crate::explain_steps::step;
use crate::params::Params;
use crate::request_id;
use crate::store_keys;
use crate::token;
use crate::types::{Callback, Dialect, Env, OtherCalls, Recall, Report, Request, SignatureCheck};
pub(crate) use auth::Scheme;

/// The operations this dialect checks, and what each does to its task.
const ACTIONS: [(&str, Callback); 2] = [
    ("ReportTaskFailed", Callback::Failed),
    ("ReportTaskSucceeded", Callback::Succeeded),
];
/// The one API version they exist in.
pub const VERSION: &str = "2019-03-15";

/// Length bounds, in Unicode characters, from the API reference.
const ERROR_CHARS: (usize, usize) = (1, 128);
const CAUSE_CHARS: (usize, usize) = (1, 4096);
/// `ReportTaskFailed`'s free text as `(parameter, most characters)`: what repair mode may cut
/// to length (`crate::repair`, native only).
#[cfg(not(target_arch = "wasm32"))]
pub const FREE_TEXT: [(&str, usize); 2] = [("Error", ERROR_CHARS.1), ("Cause", CAUSE_CHARS.1)];
/// The failure report's operation.
#[cfg(not(target_arch = "wasm32"))]
pub const FAILED: &str = ACTIONS[0].0;
/// Caller-chosen request ids are echoed in a response header: keep them short and printable.
const REQUEST_ID_CHARS: usize = 128;

/// Checks one request. `caller_request_id` receives the caller's `RequestId` as soon as it is
/// known, so that even a rejection carries it.
pub fn check(
    request: &Request,
    env: &dyn Env,
    caller_request_id: &mut Option<String>,
) -> Result<Accepted, FnfFailure> {
    let limits = env.limits();
    let limit = limits.body_limit(Dialect::Fnf);
    if request.body.len() > limit as usize {
        return Err(EdgeFailure::EntityTooLarge { limit }.into());
    }
    step("size: the body is within max_body_bytes");
    if !matches!(request.method.as_str(), "POST" | "GET") {
        return Err(Common::MethodNotAllowed {
            method: request.method.clone(),
        }
        .into());
    }
    step("method: POST or GET");
    let params = Params::parse(request)?;
    step("parameters: validly encoded, none repeated");
    if let Some(id) = params.get("RequestId") {
        if id.is_empty() || id.len() > REQUEST_ID_CHARS || !id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(FnfFailure::InvalidValue {
                name: "RequestId",
                expected: "1 to 128 printable ASCII characters",
            });
        }
        *caller_request_id = Some(id.to_owned());
    }

    let scheme = Scheme::of(request);
    let (action, version) = scheme.operation(request, &params)?;
    let modelled = ACTIONS.iter().find(|(name, _)| *name == action);
    let Some(&(action, callback)) = modelled else {
        // Another operation (of this product or, behind the same route, of another one: its
        // version is not ours to judge).
        let request_id = || {
            caller_request_id
                .clone()
                .unwrap_or_else(|| request_id::fallback(request))
        };
        return match env.other_calls() {
            OtherCalls::Reject => Err(FnfFailure::ActionNotSupported {
                action: action.to_owned(),
            }),
            OtherCalls::Forward => {
                step("operation: not a modelled call: passed on unchecked (other_calls = forward)");
                Ok(super::passed(
                    Dialect::Fnf,
                    action,
                    request_id(),
                    None,
                    Recall::default(),
                ))
            }
            OtherCalls::Authenticate => {
                let caller = scheme.authenticate(request, &params, env, limits)?;
                if caller.signature == SignatureCheck::Edge {
                    step("signature: verified with the access key's secret");
                }
                step(
                    "operation: not a modelled call: passed on authenticated (other_calls = authenticate)",
                );
                Ok(super::passed(
                    Dialect::Fnf,
                    action,
                    request_id(),
                    Some((caller.access_key_id, caller.signature)),
                    store_keys::recall(Some(caller.nonce_key), None, limits),
                ))
            }
        };
    };
    if version != VERSION {
        return Err(FnfFailure::VersionNotSupported {
            version: version.to_owned(),
        });
    }
    step(match callback {
        Callback::Succeeded => "operation: ReportTaskSucceeded, version 2019-03-15",
        _ => "operation: ReportTaskFailed, version 2019-03-15",
    });
    let caller = scheme.authenticate(request, &params, env, limits)?;
    if caller.signature == SignatureCheck::Edge {
        step("signature: verified with the access key's secret");
    }

    let task_token = params.required("TaskToken")?;
    let (mut error, mut cause, mut output) = (None, None, None);
    if callback == Callback::Succeeded {
        // Required and free text; its size is bounded by the body limit (the API reference
        // gives no length of its own).
        output = Some(params.required("Output")?);
        step("parameters: TaskToken and Output present");
    } else {
        let given = params.required("Error")?;
        check_length("Error", given, ERROR_CHARS)?;
        error = Some(given);
        cause = params.get("Cause");
        if let Some(cause) = cause {
            check_length("Cause", cause, CAUSE_CHARS)?;
        }
        step("parameters: TaskToken, Error and Cause present and within their lengths");
    }
    let decoded = token::decode(task_token).map_err(|reason| Common::MalformedToken { reason })?;
    let account = token::verify(&decoded, env).map_err(|_| FnfFailure::UnverifiedToken)?;
    // A caller whose MAC is left to the service has no account here: the service matches
    // the token's account with the key's.
    if let (Some(account), Some(caller)) = (&account, &caller.account)
        && account != caller
    {
        return Err(FnfFailure::WrongAccount);
    }
    step(match account {
        Some(_) => "token: well formed, its MAC verified, of the access key's account",
        None => "token: well formed (no token keys configured: its MAC is not checked)",
    });

    let recall = store_keys::report(
        Some(caller.nonce_key),
        Dialect::Fnf,
        task_token,
        callback,
        caller.signature,
        limits,
    );
    Ok(Accepted::Report(Report {
        dialect: Dialect::Fnf,
        action: action.to_owned(),
        callback,
        request_id: caller_request_id
            .clone()
            .unwrap_or_else(|| request_id::fallback(request)),
        access_key_id: caller.access_key_id,
        signature: caller.signature,
        task_token: task_token.to_owned(),
        token: Some(token::into_task_token(decoded, account)),
        error: error.map(str::to_owned),
        cause: cause.map(str::to_owned),
        output: output.map(str::to_owned),
        recall,
    }))
}

fn check_length(
    name: &'static str,
    value: &str,
    (min, max): (usize, usize),
) -> Result<(), FnfFailure> {
    let actual = value.chars().count();
    if (min..=max).contains(&actual) {
        Ok(())
    } else {
        Err(FnfFailure::BadLength {
            name,
            min,
            max,
            actual,
        })
    }
}
