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

mod b64;
pub mod bounds;
#[cfg(feature = "config-file")]
pub mod config_file;
mod dialect;
mod digest;
mod error;
mod explain_steps;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod json_body;
mod json_syntax;
#[cfg(any(not(target_arch = "wasm32"), feature = "keyring"))]
pub mod keyring;
pub mod memory;
mod params;
mod percent;
pub mod record;
#[cfg(not(target_arch = "wasm32"))]
pub mod repair;
mod request_id;
mod resign;
pub mod sign;
mod store_keys;
mod time;
pub mod token;
mod types;
pub mod upstream;
mod wit_convert;

#[cfg(all(target_arch = "wasm32", not(feature = "embedded")))]
#[expect(
    unsafe_code,
    reason = "wit-bindgen's generated exports are unsafe extern functions"
)]
mod component;

use error::Common;
pub use error::EdgeFailure;
#[cfg(any(not(target_arch = "wasm32"), feature = "keyring"))]
pub use keyring::{
    AccessKey, CredentialSource, Keyring, KeyringEnv, KeysOnly, SigningCredential, TokenKey,
};
pub use sign::Signing;
pub use time::{format_timestamp, parse_timestamp};
pub use types::{
    Callback, Choice, Credential, Credentials, Dialect, Env, HOP_BY_HOP, Limits, Mode, OtherCalls,
    PassedCall, Recall, Repair, Report, Request, Response, SignatureCheck, TaskToken,
    TemporaryCredentials, TokenError, TokenMac, Verdict, choice, header_text,
};

/// Checks one callback request: forward it with its decoded report, or reject it with the exact
/// response the vendor's service would give. Never panics on any input.
pub fn check(request: &Request, env: &dyn Env) -> Verdict {
    #[cfg(feature = "test-faults")]
    test_faults::act_on(request);
    dialect::check(request, env)
}

/// Faults on demand, compiled only into the test build (`--features test-faults`).
#[cfg(feature = "test-faults")]
mod test_faults {
    use crate::types::{Request, Response};
    use std::sync::atomic::{AtomicPtr, Ordering};

    /// Marks an answer rendered by a fault build, so that a test can tell that a host's answer
    /// to its own failure came from the loaded component and not from the host's built-in table.
    pub fn mark(mut response: Response) -> Response {
        response
            .headers
            .push(("x-taskgate-test-faults".to_owned(), "respond".to_owned()));
        response
    }

    /// A body containing this traps the component.
    const TRAP: &[u8] = b"taskgate-test-trap";
    /// A body containing this never returns (until the host's deadline stops it).
    const SPIN: &[u8] = b"taskgate-test-spin";
    /// A body containing this leaves a mark in the instance's memory (a static and a heap
    /// block) ...
    const REMEMBER: &[u8] = b"taskgate-test-remember";
    /// ... and a body containing this traps if the instance still holds such a mark: it saw an
    /// earlier request. How a test proves that every request gets memory of its own.
    const RECALL: &[u8] = b"taskgate-test-recall";

    static REMEMBERED: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());

    pub fn act_on(request: &Request) {
        let has = |marker: &[u8]| request.body.windows(marker.len()).any(|w| w == marker);
        if has(TRAP) {
            std::process::abort();
        }
        if has(REMEMBER) {
            let mark = Box::leak(REMEMBER.to_vec().into_boxed_slice());
            REMEMBERED.store(mark.as_mut_ptr(), Ordering::Relaxed);
        }
        if has(RECALL) && !REMEMBERED.load(Ordering::Relaxed).is_null() {
            std::process::abort();
        }
        if has(SPIN) {
            loop {
                std::hint::spin_loop();
            }
        }
    }
}

/// Checks a request as [`check`] does and also returns the rules it passed, in order, one line
/// each: what `taskgate test --verbose` shows.
pub fn explain(request: &Request, env: &dyn Env) -> (Verdict, Vec<String>) {
    explain_steps::explain(|| check(request, env))
}

/// The vendor's response to a failure the host detected itself, in the request's dialect (the
/// body may be empty: only the head is needed). Hosts call this natively, so the error format
/// still has one home.
pub fn edge_response(request: &Request, failure: EdgeFailure) -> Response {
    let response = dialect::edge_response(request, Common::Edge(failure));
    #[cfg(feature = "test-faults")]
    let response = test_faults::mark(response);
    response
}

/// The dialect a request belongs to (from its `X-Amz-Target` header, else Alibaba): hosts use
/// it to route a request to its upstream and to pick its body limit before reading the body.
pub fn dialect_of(request: &Request) -> Dialect {
    dialect::dialect_of(request)
}

/// Whether the upstream's answer (`status`, `body`) to a forwarded report settles the report's
/// task (`Recall::task`): a 2xx, or the service's own "already closed" refusal. A 5xx never does.
pub fn settles(dialect: Dialect, status: u16, body: &[u8]) -> bool {
    dialect::settles(dialect, status, body)
}

/// The service's success answer to an accepted report, for hosts that record reports instead
/// of forwarding them.
pub fn success_response(report: &Report, event_id: u64) -> Response {
    dialect::success_response(report, event_id)
}

/// A minimal success answer to a call passed under `other_calls`, for hosts with nowhere to
/// forward it (the local sink): 200 with Alibaba's `{"RequestId"}` or AWS's `{}`.
pub fn passed_response(call: &PassedCall) -> Response {
    dialect::passed_response(call)
}

/// A request id for hosts that make their own: a random (version 4) UUID in capitals, the
/// vendors' form, from 16 random bytes.
pub fn random_request_id(bytes: [u8; 16]) -> String {
    request_id::random(bytes)
}

/// `request` (one `check` accepted) re-signed with the host's credential `credential` for the
/// upstream (`sign_as`), dated `now` (seconds since the Unix epoch), `nonce` as its signature
/// nonce where the scheme has one; why not, for a host's log, when the credential cannot be had
/// or the request is not signed as `check` accepts. Hosts call it natively, where the
/// credentials are (the component never signs: it checks the result again before the host
/// forwards it, so it decides what leaves, and carries no signing code).
pub fn resign(
    request: &Request,
    credential: &str,
    now: u64,
    nonce: &str,
    credentials: &dyn Credentials,
) -> Result<Request, String> {
    resign::resign(request, credential, now, nonce, credentials)
}

/// Decodes a task token and, when token keys are configured, verifies its MAC.
pub fn decode_token(text: &str, env: &dyn Env) -> Result<TaskToken, TokenError> {
    token::decode_and_verify(text, env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "POST".to_owned(),
            path_with_query: "/".to_owned(),
            headers: headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            request_id: Some("REQ-1".to_owned()),
            ..Request::default()
        }
    }

    fn alibaba() -> Request {
        request(&[("Host", "cn-hangzhou.fnf.aliyuncs.com")])
    }

    fn step_functions() -> Request {
        request(&[("X-Amz-Target", "AWSStepFunctions.SendTaskFailure")])
    }

    fn body(response: &Response) -> serde_json::Value {
        serde_json::from_slice(&response.body).unwrap_or_default()
    }

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_host_no_route_serves_is_a_parameter_error_naming_it_in_each_dialect() {
        let host = EdgeFailure::NoRoute {
            host: "evil.example.com".to_owned(),
        };
        let sentence =
            "The host 'evil.example.com' is not served by this gateway: no route matches it.";

        let answer = edge_response(&alibaba(), host.clone());
        assert_eq!(
            (answer.status, answer.code.as_str()),
            (400, "InvalidArgument")
        );
        assert_eq!(body(&answer)["Code"], "InvalidArgument");
        assert_eq!(
            body(&answer)["Message"],
            format!("Parameter error. {sentence}")
        );
        assert_eq!(header(&answer, "x-acs-request-id"), Some("REQ-1"));

        let answer = edge_response(&step_functions(), host);
        assert_eq!(
            (answer.status, answer.code.as_str()),
            (400, "ValidationException")
        );
        assert_eq!(body(&answer)["__type"], "ValidationException");
        assert_eq!(body(&answer)["message"], sentence);
        assert_eq!(
            header(&answer, "content-type"),
            Some("application/x-amz-json-1.0")
        );
    }

    #[test]
    fn a_long_host_is_clipped_in_the_no_route_message() {
        let long = "a".repeat(300);
        let answer = edge_response(&alibaba(), EdgeFailure::NoRoute { host: long.clone() });
        let message = body(&answer)["Message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!message.contains(&long), "{message}");
        assert!(
            message.contains(&format!("'{}...'", "a".repeat(64))),
            "{message}"
        );
    }

    #[test]
    fn connect_is_405_and_says_what_to_do_instead_in_each_dialect() {
        let why = "CONNECT is not supported: taskgate must see each request to check it. Send requests to an http:// endpoint through this proxy, or to taskgate's TLS listener.";

        let answer = edge_response(&alibaba(), EdgeFailure::Tunnel);
        assert_eq!(
            (answer.status, answer.code.as_str()),
            (405, "InvalidArgument")
        );
        assert_eq!(body(&answer)["Code"], "InvalidArgument");
        assert_eq!(body(&answer)["Message"], why);

        let pipeline = request(&[("X-Amz-Target", "CodePipeline_20150709.PutJobFailureResult")]);
        let answer = edge_response(&pipeline, EdgeFailure::Tunnel);
        assert_eq!(
            (answer.status, answer.code.as_str()),
            (405, "UnknownOperationException")
        );
        assert_eq!(body(&answer)["__type"], "UnknownOperationException");
        assert_eq!(body(&answer)["message"], why);
        assert_eq!(
            header(&answer, "content-type"),
            Some("application/x-amz-json-1.1")
        );
        assert_eq!(header(&answer, "x-amzn-requestid"), Some("REQ-1"));
    }
}
