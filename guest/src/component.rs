//! The wit-bindgen glue, and nothing else: converts between the generated WIT types and the
//! library's own (with the mapping the host shares, `wit_conversions!`), and implements [`Env`]
//! by calling the host's imports.

use crate::types::{self, Env};

#[allow(
    missing_docs,
    reason = "generated bindings; the WIT files carry the documentation"
)]
mod bindings {
    wit_bindgen::generate!({ path: "../wit", world: "filter" });
}

use bindings::exports::taskgate::filter::validator::{Explanation, Guest};
use bindings::taskgate::filter::{credentials, settings, types as wit};

struct Component;

bindings::export!(Component with_types_in bindings);

/// The host's imports, one call per lookup.
struct Imports;

crate::wit_conversions!(wit, settings);
use convert::*;

impl Env for Imports {
    fn access_key(&self, id: &str) -> Option<types::AccessKey> {
        credentials::get_access_key(id).map(|key| types::AccessKey {
            secret: key.secret,
            account: key.account,
        })
    }

    fn token_key(&self, index: u32) -> Option<types::TokenKey> {
        credentials::get_token_key(index).map(|key| types::TokenKey {
            secret: key.secret,
            account: key.account,
        })
    }

    fn limits(&self) -> types::Limits {
        limits_of_wit(settings::get_limits())
    }

    fn other_calls(&self) -> types::OtherCalls {
        other_calls_of_wit(settings::get_other_calls())
    }
}

impl Guest for Component {
    fn check(request: wit::Request) -> wit::Verdict {
        to_wit_verdict(crate::check(&request_of_wit(request), &Imports))
    }

    fn explain(request: wit::Request) -> Explanation {
        let (checked, steps) = crate::explain(&request_of_wit(request), &Imports);
        Explanation {
            verdict: to_wit_verdict(checked),
            steps,
        }
    }

    fn respond(request: wit::Request, failure: wit::EdgeFailure) -> wit::Response {
        let failure = failure_of_wit(failure);
        to_wit_response(crate::edge_response(&request_of_wit(request), failure))
    }

    fn default_limits() -> settings::Limits {
        to_wit_limits(types::Limits::default())
    }

    fn settles(dialect: wit::Dialect, status: u16, body: Vec<u8>) -> bool {
        crate::settles(dialect_of_wit(dialect), status, &body)
    }

    fn decode_token(token: String) -> Result<wit::TaskToken, wit::TokenError> {
        crate::decode_token(&token, &Imports)
            .map(to_wit_token)
            .map_err(to_wit_token_error)
    }
}
