//! The `wasi:http` entry point: the bindings, the filter's questions answered by the composed
//! keyring and the settings, and one exchange from request to answer.

use crate::settings::Settings;
use crate::{exchange, forward};
use std::sync::OnceLock;
use taskgate_filter::{
    EdgeFailure, Env, Limits, Mode, OtherCalls, Signing, TemporaryCredentials, TokenMac, Verdict,
};
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
        let (mut head, fields) = exchange::head_of(&request);
        let settings = match settings() {
            Ok(settings) => settings,
            Err(problem) => {
                eprintln!("taskgate-http: {problem}");
                return edge(out, &head, EdgeFailure::Internal);
            }
        };
        if matches!(request.method(), Method::Connect) {
            return edge(out, &head, EdgeFailure::Tunnel);
        }
        let limit = settings
            .limits
            .body_limit(taskgate_filter::dialect_of(&head));
        head.body = match exchange::read_body(&request, &head, limit) {
            Ok(body) => body,
            Err(failure) => return edge(out, &head, failure),
        };
        match taskgate_filter::check(&head, &Imports(settings)) {
            Verdict::Reject(response) if settings.mode == Mode::Enforce => {
                exchange::respond(out, response)
            }
            verdict => {
                if let Verdict::Reject(response) = verdict {
                    // Shadow mode: the answer it would get, said (never the request's content),
                    // and the request forwarded anyway.
                    eprintln!(
                        "taskgate-http: request {}: shadow: would answer {} {}",
                        request_id(&head),
                        response.status,
                        response.code
                    );
                }
                forward_and_relay(out, &head, &fields, settings);
            }
        }
    }
}

/// Forwards the request once, its header fields as they came, and relays the upstream's
/// answer (500 in the caller's dialect when there is none).
fn forward_and_relay(
    out: ResponseOutparam,
    head: &taskgate_filter::Request,
    fields: &[(String, Vec<u8>)],
    settings: &Settings,
) {
    match forward::forward(head, fields, settings) {
        Ok(answer) => exchange::send(out, answer.status, &answer.headers, &answer.body),
        Err(problem) => {
            eprintln!("taskgate-http: request {}: {problem}", request_id(head));
            edge(out, head, EdgeFailure::Internal);
        }
    }
}

/// Answers a failure the component found itself, in the caller's dialect.
fn edge(out: ResponseOutparam, head: &taskgate_filter::Request, failure: EdgeFailure) {
    exchange::respond(out, taskgate_filter::edge_response(head, failure));
}

fn request_id(head: &taskgate_filter::Request) -> &str {
    head.request_id.as_deref().unwrap_or_default()
}
