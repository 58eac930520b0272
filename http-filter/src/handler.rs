//! The `wasi:http` entry point: the bindings, the filter's questions answered by the composed
//! keyring and the settings, and one exchange from request to answer and its log line.

use crate::settings::Settings;
use crate::{forward, wire};
use std::sync::OnceLock;
use taskgate_filter::record::{self, LogRecord};
use taskgate_filter::{
    EdgeFailure, Env, Limits, Mode, OtherCalls, Signing, TemporaryCredentials, TokenMac, Verdict,
};
use wasip2::clocks::monotonic_clock;
use wasip2::http::types::{IncomingRequest, Method, ResponseOutparam};

#[allow(
    missing_docs,
    unsafe_code,
    reason = "generated bindings; the WIT files carry the documentation"
)]
mod bindings {
    wit_bindgen::generate!({ path: "../wit", world: "http-filter", generate_all });
}

use bindings::taskgate::filter::keyring;
use bindings::wasi::config::store;

mod convert {
    use super::keyring;
    taskgate_filter::wit_keyring_conversions!(keyring);
}

struct Component;

#[allow(unsafe_code, reason = "the export macro's generated entry points")]
mod export {
    use super::Component;
    wasip2::http::proxy::export!(Component);
}

/// The settings, read once per instance (hosts that make an instance per request read them
/// per request; the configuration cannot change under one).
fn settings() -> &'static Result<Settings, String> {
    static SETTINGS: OnceLock<Result<Settings, String>> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        Settings::read(&|key| {
            store::get(key)
                .map_err(|error| format!("wasi:config key '{key}' could not be read: {error:?}"))
        })
    })
}

/// The filter's questions, answered by the composed keyring and the settings.
struct Imports<'a>(&'a Settings);

impl Env for Imports<'_> {
    fn access_key_account(&self, id: &str) -> Option<String> {
        keyring::access_key_account(id)
    }

    fn verify_signature(&self, id: &str, signing: Signing<'_>, message: &[u8], mac: &[u8]) -> bool {
        keyring::verify_signature(id, &convert::to_wit_signing(signing), message, mac)
    }

    fn verify_token_mac(&self, message: &[u8], mac: &[u8]) -> TokenMac {
        convert::token_mac_of_wit(keyring::verify_token_mac(message, mac))
    }

    fn limits(&self) -> Limits {
        self.0.limits
    }

    fn other_calls(&self) -> OtherCalls {
        self.0.other_calls
    }

    fn temporary_credentials(&self) -> TemporaryCredentials {
        self.0.temporary_credentials
    }
}

impl wasip2::exports::http::incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let started = monotonic_clock::now();
        let (mut head, fields) = wire::head_of(&request);
        let mut learned = Learned::default();
        take(&request, &mut head, &fields, out, &mut learned);
        log(&head, &fields, &learned, started);
    }
}

/// What one request's phases learn for its log line (as `taskgate serve` and the plugin log
/// it: `taskgate_filter::record`).
#[derive(Default)]
struct Learned {
    /// The operation of a call let through.
    action: Option<String>,
    /// The access key of a call let through, and who checks its MAC.
    signer: Option<(String, &'static str)>,
    /// The code and status answered.
    answered: Option<(String, u16)>,
    /// Where a forwarded request went: `scheme://host[:port]`.
    upstream: Option<String>,
    /// Time in the filter's check and waiting for the upstream, in nanoseconds.
    component_ns: Option<u64>,
    upstream_ns: Option<u64>,
    /// Shadow mode: the code and status enforce mode would have answered with.
    shadowed: Option<(String, u16)>,
}

/// One request from its head to its answer: the settings, the body (capped), the check, then
/// the filter's answer or the upstream's.
fn take(
    request: &IncomingRequest,
    head: &mut taskgate_filter::Request,
    fields: &[(String, Vec<u8>)],
    out: ResponseOutparam,
    learned: &mut Learned,
) {
    let settings = match settings() {
        Ok(settings) => settings,
        Err(problem) => {
            eprintln!("taskgate-http: {problem}");
            return edge(out, head, EdgeFailure::Internal, learned);
        }
    };
    if matches!(request.method(), Method::Connect) {
        return edge(out, head, EdgeFailure::Tunnel, learned);
    }
    let limit = settings
        .limits
        .body_limit(taskgate_filter::dialect_of(head));
    head.body = match wire::read_body(request, head, limit) {
        Ok(body) => body,
        Err(failure) => return edge(out, head, failure, learned),
    };
    let checking = monotonic_clock::now();
    let verdict = taskgate_filter::check(head, &Imports(settings));
    learned.component_ns = Some(monotonic_clock::now().saturating_sub(checking));
    // The body has done its work: the forward sends the bytes it holds, the log none of them.
    match verdict {
        Verdict::Reject(response) if settings.mode == Mode::Enforce => {
            return answer(out, response, learned);
        }
        // Shadow mode: the answer it would get, logged, and the request forwarded anyway.
        Verdict::Reject(response) => learned.shadowed = Some((response.code, response.status)),
        Verdict::Forward(report) => {
            learned.action = Some(report.action);
            learned.signer = Some((report.access_key_id, report.signature.name()));
        }
        Verdict::Pass(call) => {
            learned.action = Some(call.action);
            learned.signer = call.access_key_id.zip(call.signature.map(|s| s.name()));
        }
    }
    forward_and_relay(out, head, fields, settings, learned);
}

/// Forwards the request once, its header fields as they came, and relays the upstream's
/// answer (500 in the caller's dialect when there is none).
fn forward_and_relay(
    out: ResponseOutparam,
    head: &taskgate_filter::Request,
    fields: &[(String, Vec<u8>)],
    settings: &Settings,
    learned: &mut Learned,
) {
    learned.upstream = Some(
        settings
            .upstream
            .base(head.header("host").unwrap_or_default()),
    );
    let sending = monotonic_clock::now();
    let forwarded = forward::forward(head, fields, settings);
    learned.upstream_ns = Some(monotonic_clock::now().saturating_sub(sending));
    match forwarded {
        Ok(upstream) => {
            learned.answered = Some((record::FORWARDED.to_owned(), upstream.status));
            wire::send(out, upstream.status, &upstream.headers, &upstream.body);
        }
        Err(problem) => {
            eprintln!("taskgate-http: request {}: {problem}", request_id(head));
            edge(out, head, EdgeFailure::Internal, learned);
        }
    }
}

/// Answers a failure the component found itself, in the caller's dialect.
fn edge(
    out: ResponseOutparam,
    head: &taskgate_filter::Request,
    failure: EdgeFailure,
    learned: &mut Learned,
) {
    answer(out, taskgate_filter::edge_response(head, failure), learned);
}

/// Sends the filter's answer, and keeps its code and status for the log.
fn answer(out: ResponseOutparam, response: taskgate_filter::Response, learned: &mut Learned) {
    learned.answered = Some((response.code.clone(), response.status));
    wire::answer(out, response);
}

/// The request's log line on stderr: the record every build writes. A request the host
/// dropped before its answer went out is logged as the client having gone away.
fn log(
    head: &taskgate_filter::Request,
    fields: &[(String, Vec<u8>)],
    learned: &Learned,
    started: u64,
) {
    let header = |name| record::header_values(fields, name);
    let (code, status) = match &learned.answered {
        Some((code, status)) => (code.as_str(), *status),
        None => record::CLIENT_CLOSED,
    };
    let micros = |ns: Option<u64>| ns.map(|ns| ns / 1000);
    let line: LogRecord<'_> = LogRecord {
        request_id: head.request_id.as_deref(),
        client_request_id: header("x-request-id")
            .next()
            .and_then(record::client_request_id),
        trace_id: record::trace_id(header("traceparent")),
        // wasi:http does not tell a component its peer.
        client: None,
        method: &head.method,
        path: head.path(),
        dialect: taskgate_filter::dialect_of(head).name(),
        action: learned.action.as_deref(),
        access_key_id: learned.signer.as_ref().map(|(id, _)| id.as_str()),
        signature: learned.signer.as_ref().map(|(_, check)| *check),
        sign_as: None,
        repaired: None,
        not_repaired: None,
        code,
        status,
        upstream: learned.upstream.as_deref(),
        component_us: micros(learned.component_ns),
        upstream_us: micros(learned.upstream_ns),
        total_us: micros(Some(monotonic_clock::now().saturating_sub(started))),
        shadow_code: learned.shadowed.as_ref().map(|(code, _)| code.as_str()),
        shadow_status: learned.shadowed.as_ref().map(|(_, status)| *status),
    };
    // Serializing borrowed fields of plain types cannot fail.
    eprintln!("{}", serde_json::to_string(&line).unwrap_or_default());
}

fn request_id(head: &taskgate_filter::Request) -> &str {
    head.request_id.as_deref().unwrap_or_default()
}
