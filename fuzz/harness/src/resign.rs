//! Signs a mutated request again, so that the rules behind the signature check (the parameters'
//! lengths, the task token, the AWS models) are reached by more than the seeds themselves: a
//! mutation almost never keeps a signature valid.
//!
//! Uses the filter's own signing functions: what is fuzzed here is everything around them
//! (they are pinned by the vendors' published vectors and by captured SDK requests). A request
//! that cannot be signed (no access key the configuration knows, an unreadable
//! `Authorization` header, bad encoding) is left as it is.

use taskgate::config::Config;
use taskgate_filter::fuzzing::{Source, parameters, pop_encode_into};
use taskgate_filter::sign::{acs3, rpc_v1, sigv4};
use taskgate_filter::{Dialect, Request, dialect_of};

/// Signs `request` again with the secret of the access key it names, in the scheme it uses.
pub fn resign(request: &mut Request, config: &Config) {
    match dialect_of(request) {
        Dialect::Fnf => match request.header("authorization") {
            Some(header) if header.starts_with(acs3::ALGORITHM) => acs3_again(request, config),
            _ => rpc_v1_again(request, config),
        },
        Dialect::States | Dialect::Swf | Dialect::CodePipeline => sigv4_again(request, config),
    }
}

/// Replaces the value of the first header with this name (case-insensitive), if there is one.
fn set_header(request: &mut Request, name: &str, value: &str) {
    if let Some((_, old)) = request
        .headers
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        *old = value.to_owned();
    }
}

fn acs3_again(request: &mut Request, config: &Config) {
    let Some(header) = request.header("authorization") else {
        return;
    };
    let Ok(auth) = acs3::parse_authorization(header) else {
        return;
    };
    let (credential, signed_headers) = (auth.credential.to_owned(), auth.signed_headers.to_owned());
    let Some(key) = config.keyring.access_key(&credential) else {
        return;
    };
    let content_sha256 = acs3::content_sha256(&request.body);
    set_header(request, "x-acs-content-sha256", &content_sha256);
    let Ok(params) = parameters(request) else {
        return;
    };
    let canonical = acs3::canonical_request(
        &request.method,
        request.path(),
        params
            .iter()
            .filter(|(_, _, source)| *source == Source::Query)
            .map(|(name, value, _)| (name.as_str(), value.as_str())),
        &signed_headers,
        |name| request.joined_header(name),
        &content_sha256,
    );
    let signature = acs3::signature(&key.secret, &canonical);
    set_header(
        request,
        "authorization",
        &format!(
            "{} Credential={credential},SignedHeaders={signed_headers},Signature={signature}",
            acs3::ALGORITHM
        ),
    );
}

fn rpc_v1_again(request: &mut Request, config: &Config) {
    let Ok(params) = parameters(request) else {
        return;
    };
    let value = |wanted: &str| {
        params
            .iter()
            .find(|(name, _, _)| name == wanted)
            .map(|(_, value, source)| (value.as_str(), *source))
    };
    let Some((access_key_id, _)) = value("AccessKeyId") else {
        return;
    };
    let Some((_, source)) = value("Signature") else {
        return;
    };
    let Some(key) = config.keyring.access_key(access_key_id) else {
        return;
    };
    let string_to_sign = rpc_v1::string_to_sign(
        &request.method,
        params
            .iter()
            .map(|(name, value, _)| (name.as_str(), value.as_str())),
    );
    let signature = rpc_v1::signature(&key.secret, &string_to_sign);
    let mut piece = "Signature=".to_owned();
    pop_encode_into(&signature, &mut piece);
    // Only a form-encoded `Signature` is rewritten (a JSON body's is left as it is): the
    // piece whose name is exactly `Signature` (it needs no decoding, and appears only once,
    // or the parameters would not have parsed).
    let replace = |text: &str| -> String {
        text.split('&')
            .map(|p| {
                if p.split_once('=').map_or(p, |(name, _)| name) == "Signature" {
                    piece.as_str()
                } else {
                    p
                }
            })
            .collect::<Vec<_>>()
            .join("&")
    };
    match source {
        Source::Query => {
            let (path, query) = (request.path().to_owned(), request.query().to_owned());
            request.path_with_query = format!("{path}?{}", replace(&query));
        }
        Source::Body => {
            if let Ok(body) = std::str::from_utf8(&request.body)
                && !body.trim_start().starts_with('{')
            {
                request.body = replace(body).into_bytes();
            }
        }
    }
}

fn sigv4_again(request: &mut Request, config: &Config) {
    let Some(header) = request.header("authorization") else {
        return;
    };
    let Ok(auth) = sigv4::parse_authorization(header) else {
        return;
    };
    let (id, date, region, service, signed_headers) = (
        auth.access_key_id.to_owned(),
        auth.date.to_owned(),
        auth.region.to_owned(),
        auth.service.to_owned(),
        auth.signed_headers.to_owned(),
    );
    let Some(amz_date) = request.header("x-amz-date").map(|d| d.trim().to_owned()) else {
        return;
    };
    let Some(key) = config.keyring.access_key(&id) else {
        return;
    };
    let payload_hash = sigv4::sha256_hex(&request.body);
    set_header(request, "x-amz-content-sha256", &payload_hash);
    let canonical = sigv4::canonical_request(
        &request.method,
        request.path(),
        request.query(),
        &signed_headers,
        |name| request.joined_header(name),
        &payload_hash,
    );
    let scope = sigv4::Scope {
        date: &date,
        region: &region,
        service: &service,
    };
    let signature = sigv4::signature(&key.secret, &amz_date, scope, &canonical);
    set_header(
        request,
        "authorization",
        &format!(
            "{} Credential={id}/{date}/{region}/{service}/aws4_request, SignedHeaders={signed_headers}, Signature={signature}",
            sigv4::ALGORITHM
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskgate::cases::Case;
    use taskgate_filter::Verdict;

    fn config() -> Config {
        Config::parse(include_str!("../taskgate.toml")).unwrap()
    }

    fn case_request(name: &str) -> Request {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/cases")
            .join(name);
        Case::load(&path).unwrap().request().unwrap()
    }

    /// One forwarded case of each scheme and layout.
    const FORWARDED: [&str; 6] = [
        "fnf/forward_query_and_form.toml",
        "fnf/forward_form_only.toml",
        "fnf/forward_json_body.toml",
        "fnf/forward_acs3.toml",
        "states/send_task_failure_as_boto3_sends_it_is_forwarded.toml",
        "swf/respond_activity_task_failed_as_the_js_sdk_sends_it_is_forwarded.toml",
    ];

    #[test]
    fn a_validly_signed_request_is_left_as_it_was() {
        let config = config();
        for name in FORWARDED {
            let request = case_request(name);
            let mut again = request.clone();
            resign(&mut again, &config);
            assert!(crate::request::same(&again, &request), "{name}: {again:?}");
        }
    }

    #[test]
    fn a_mutated_request_signed_again_is_forwarded_again() {
        let config = config();
        for name in FORWARDED {
            let mut request = case_request(name);
            let body = String::from_utf8(request.body.clone()).unwrap();
            // Another Error / error / reason of the same length and encoding.
            let mutated = body
                .replacen("PaymentDeclined", "PaymentRefusedX", 1)
                .replacen("\"ErrX\"", "\"ErrY\"", 1)
                .replacen("ActivityFailed", "ActivityBroken", 1);
            assert_ne!(mutated, body, "{name}: nothing to mutate");
            request.body = mutated.into_bytes();
            let before = taskgate_filter::check(&request, &config);
            assert!(matches!(before, Verdict::Reject(_)), "{name}: {before:?}");
            resign(&mut request, &config);
            let after = taskgate_filter::check(&request, &config);
            assert!(matches!(after, Verdict::Forward(_)), "{name}: {after:?}");
        }
    }
}
