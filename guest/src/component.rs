//! The wit-bindgen glue, and nothing else: converts between the generated WIT types and the
//! library's own (with the mapping the host shares, `wit_conversions!`), and implements [`Env`]
//! by calling the host's imports.

use crate::sign::Signing;
use crate::types::{self, Env};

#[allow(
    missing_docs,
    reason = "generated bindings; the WIT files carry the documentation"
)]
mod bindings {
    wit_bindgen::generate!({ path: "../wit", world: "filter" });
}

use bindings::exports::taskgate::filter::validator::{Explanation, Guest};
use bindings::taskgate::filter::{digest, keyring, settings, types as wit};

struct Component;

bindings::export!(Component with_types_in bindings);

/// SHA-256 from the host (`crate::digest`). A host that answered with another length would only
/// make digests that match nothing; it cannot make the filter fail.
pub fn host_sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    let given = digest::sha256(bytes);
    let n = given.len().min(32);
    out[..n].copy_from_slice(&given[..n]);
    out
}

/// The host's imports, one call per question: the keyring is asked, never a secret read.
struct Imports;

crate::wit_conversions!(wit, settings, keyring);
use convert::*;

impl Env for Imports {
    fn access_key_account(&self, id: &str) -> Option<String> {
        keyring::access_key_account(id)
    }

    fn verify_signature(&self, id: &str, signing: Signing<'_>, message: &[u8], mac: &[u8]) -> bool {
        keyring::verify_signature(id, &to_wit_signing(signing), message, mac)
    }

    fn verify_token_mac(&self, message: &[u8], mac: &[u8]) -> types::TokenMac {
        token_mac_of_wit(keyring::verify_token_mac(message, mac))
    }

    fn limits(&self) -> types::Limits {
        limits_of_wit(settings::get_limits())
    }

    fn other_calls(&self) -> types::OtherCalls {
        other_calls_of_wit(settings::get_other_calls())
    }

    fn temporary_credentials(&self) -> types::TemporaryCredentials {
        temporary_credentials_of_wit(settings::get_temporary_credentials())
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
