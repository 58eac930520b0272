//! Who is calling: SigV4 (`Authorization: AWS4-HMAC-SHA256 ...`), verified by the host's keyring
//! with the access key it names, the service fixed by the call, any region, and the payload
//! hash recomputed over the body (a signed `x-amz-content-sha256` must agree with it).
//! Temporary credentials (`X-Amz-Security-Token`) the keyring does not hold are checked in
//! every way but the MAC when the host lets the service verify them.

use crate::error::{AwsFailure, Common, Incomplete};
use crate::explain_steps::step;
use crate::sign::{Signing, sigv4, unhex};
use crate::types::{Env, Limits, Request, SignatureCheck};

/// The header that carries an AWS session token (temporary credentials).
const SESSION_TOKEN: &str = "x-amz-security-token";
/// Bytes of a SigV4 MAC (HMAC-SHA256).
const MAC_BYTES: usize = 32;

/// Verifies the signature and the request time; returns the access key id and who checks the
/// MAC. The credential must be scoped to `service` when one is given (else to whichever service
/// it names).
pub fn authenticate(
    request: &Request,
    service: Option<&'static str>,
    env: &dyn Env,
    limits: Limits,
) -> Result<(String, SignatureCheck), AwsFailure> {
    let Some(header) = request.header("authorization") else {
        return Err(AwsFailure::MissingAuthentication);
    };
    let auth = sigv4::parse_authorization(header)
        .map_err(|error| AwsFailure::IncompleteSignature(Incomplete::Authorization(error)))?;
    let Some(amz_date) = request.header("x-amz-date").map(str::trim) else {
        return Err(AwsFailure::IncompleteSignature(Incomplete::NoDate));
    };
    let signed: Vec<&str> = auth.signed_headers.split(';').collect();
    for required in ["host", "x-amz-date"] {
        if !signed.contains(&required) {
            return Err(AwsFailure::IncompleteSignature(
                Incomplete::UnsignedHostOrDate,
            ));
        }
    }
    let request_time = sigv4::parse_amz_date(amz_date)
        .ok_or(AwsFailure::IncompleteSignature(Incomplete::BadDate))?;
    if let Some(service) = service
        && auth.service != service
    {
        return Err(AwsFailure::WrongService { expected: service });
    }
    if amz_date.get(..8) != Some(auth.date) {
        return Err(AwsFailure::WrongScopeDate {
            scope: auth.date.to_owned(),
            amz_date: amz_date.to_owned(),
        });
    }
    crate::dialect::within_clock_window(request_time, request.received_at, limits)?;
    step("time: X-Amz-Date is within max_clock_skew_seconds of the receipt");
    let mac = unhex(auth.signature);
    let held = env.access_key_account(auth.access_key_id).is_some();
    if !held {
        crate::dialect::leave_to_service(
            env,
            auth.access_key_id,
            request.header(SESSION_TOKEN),
            mac.as_deref(),
            MAC_BYTES,
        )?;
    }

    // The body is covered only through its hash: recompute it, whatever the caller claims.
    let payload_hash = sigv4::sha256_hex(&request.body);
    if let Some(claimed) = request.header("x-amz-content-sha256")
        && !claimed.trim().eq_ignore_ascii_case(&payload_hash)
    {
        return Err(Common::SignatureMismatch {
            detail: "x-amz-content-sha256 is not the SHA-256 of the body",
        }
        .into());
    }
    if !held {
        return Ok((auth.access_key_id.to_owned(), SignatureCheck::Service));
    }
    let canonical = sigv4::canonical_request(
        &request.method,
        request.path(),
        request.query(),
        auth.signed_headers,
        |name| request.joined_header(name),
        &payload_hash,
    );
    let scope = auth.scope();
    let string_to_sign = sigv4::string_to_sign(amz_date, scope, &canonical);
    let verified = mac.is_some_and(|mac| {
        env.verify_signature(
            auth.access_key_id,
            Signing::SigV4(scope),
            string_to_sign.as_bytes(),
            &mac,
        )
    });
    if !verified {
        return Err(Common::SignatureMismatch {
            detail: "AWS4-HMAC-SHA256 over the canonical request",
        }
        .into());
    }
    Ok((auth.access_key_id.to_owned(), SignatureCheck::Edge))
}
