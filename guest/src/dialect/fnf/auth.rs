//! Who is calling: the two Alibaba signature schemes, and the clock window both enforce.
//! Both end in the same place: the access key's owner, once the signature has verified; or,
//! for STS credentials (`SecurityToken`, `x-acs-security-token`) the keyring does not hold and
//! the host lets the service verify, every check but the MAC.

use crate::error::{Common, FnfFailure};
use crate::explain_steps::step;
use crate::params::{Params, Source};
use crate::sign::{Signing, acs3, rpc_v1, unhex};
use crate::store_keys;
use crate::time::parse_timestamp;
use crate::types::{Env, Limits, Request, SignatureCheck};

/// The access key that signed a request, and its account.
pub struct Caller {
    /// The access key id.
    pub access_key_id: String,
    /// Its owning account; `None` when the MAC is left to the service (the key is not ours).
    pub account: Option<String>,
    /// The store key of the signature nonce: claimed once by a host that remembers replays.
    pub nonce_key: String,
    /// Who checks the MAC.
    pub signature: SignatureCheck,
}

impl Caller {
    /// The caller of a request signed by `access_key_id` with this nonce and signature: of
    /// `account` when its MAC verified, `None` when the MAC is left to the service.
    fn new(access_key_id: &str, account: Option<String>, nonce: &str, signature: &str) -> Caller {
        let (unverified, check) = match account {
            Some(_) => (None, SignatureCheck::Edge),
            None => (Some(signature), SignatureCheck::Service),
        };
        Caller {
            access_key_id: access_key_id.to_owned(),
            account,
            nonce_key: store_keys::nonce(access_key_id, nonce, unverified),
            signature: check,
        }
    }
}

/// Where each scheme carries an STS session token.
const RPC_SESSION_TOKEN: &str = "SecurityToken";
const ACS3_SESSION_TOKEN: &str = "x-acs-security-token";
/// Bytes of each scheme's MAC: HMAC-SHA1, HMAC-SHA256.
const RPC_MAC_BYTES: usize = 20;
const ACS3_MAC_BYTES: usize = 32;

/// How a request is signed.
pub enum Scheme<'a> {
    /// Signature parameters (query or body), HMAC-SHA1.
    RpcV1,
    /// An `Authorization: ACS3-HMAC-SHA256 …` header.
    Acs3(&'a str),
}

/// Headers every ACS3 request must carry and sign.
const ACS3_SIGNED: [&str; 6] = [
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
];

const TIMESTAMP_FORM: &str = "a UTC time in the form YYYY-MM-DDThh:mm:ssZ";

impl<'a> Scheme<'a> {
    /// The scheme a request uses: ACS3 when its `Authorization` header says so, else RPC v1.
    pub fn of(request: &'a Request) -> Scheme<'a> {
        match request.header("authorization") {
            Some(header) if header.starts_with(acs3::ALGORITHM) => Scheme::Acs3(header),
            _ => Scheme::RpcV1,
        }
    }

    /// The operation and version asked for: signed parameters under RPC v1 (the `x-acs-*`
    /// headers are not signed there, so they do not count), signed headers under ACS3.
    pub fn operation<'p>(
        &self,
        request: &'p Request,
        params: &'p Params,
    ) -> Result<(&'p str, &'p str), FnfFailure> {
        match self {
            Scheme::RpcV1 => Ok((params.required("Action")?, params.required("Version")?)),
            Scheme::Acs3(_) => Ok((
                header(request, "x-acs-action")?,
                header(request, "x-acs-version")?,
            )),
        }
    }

    /// Verifies the signature and the request time; returns the caller.
    pub fn authenticate(
        &self,
        request: &Request,
        params: &Params,
        env: &dyn Env,
        limits: Limits,
    ) -> Result<Caller, FnfFailure> {
        match self {
            Scheme::RpcV1 => rpc_v1(request, params, env, limits),
            Scheme::Acs3(authorization) => acs3(request, params, authorization, env, limits),
        }
    }
}

fn header<'r>(request: &'r Request, name: &'static str) -> Result<&'r str, FnfFailure> {
    request
        .header(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or(FnfFailure::MissingHeader { name })
}

fn rpc_v1(
    request: &Request,
    params: &Params,
    env: &dyn Env,
    limits: Limits,
) -> Result<Caller, FnfFailure> {
    let access_key_id = params.required("AccessKeyId")?;
    let signature = params.required("Signature")?;
    if params.required("SignatureMethod")? != "HMAC-SHA1" {
        return Err(FnfFailure::InvalidValue {
            name: "SignatureMethod",
            expected: "HMAC-SHA1",
        });
    }
    if params.required("SignatureVersion")? != "1.0" {
        return Err(FnfFailure::InvalidValue {
            name: "SignatureVersion",
            expected: "1.0",
        });
    }
    let nonce = params.required("SignatureNonce")?;
    let timestamp = params.required("Timestamp")?;
    check_time("Timestamp", timestamp, request.received_at, limits)?;
    let mac = rpc_v1::given_mac(signature);
    let Some(account) = env.access_key_account(access_key_id) else {
        let token = params.get(RPC_SESSION_TOKEN);
        crate::dialect::leave_to_service(env, access_key_id, token, mac.as_deref(), RPC_MAC_BYTES)?;
        return Ok(Caller::new(access_key_id, None, nonce, signature));
    };

    let string_to_sign = rpc_v1::string_to_sign(
        &request.method,
        params.iter().map(|p| (p.name.as_ref(), p.value.as_ref())),
    );
    let verified = mac.is_some_and(|mac| {
        env.verify_signature(
            access_key_id,
            Signing::RpcV1,
            string_to_sign.as_bytes(),
            &mac,
        )
    });
    if !verified {
        return Err(Common::SignatureMismatch {
            detail: "RPC signature 1.0, HMAC-SHA1 over the sorted request parameters",
        }
        .into());
    }
    Ok(Caller::new(access_key_id, Some(account), nonce, signature))
}

fn acs3(
    request: &Request,
    params: &Params,
    authorization: &str,
    env: &dyn Env,
    limits: Limits,
) -> Result<Caller, FnfFailure> {
    let auth = acs3::parse_authorization(authorization).map_err(|_| FnfFailure::InvalidValue {
        name: "Authorization",
        expected: "ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<names>,Signature=<hex>",
    })?;
    for name in ACS3_SIGNED {
        header(request, name)?;
    }
    let signed: Vec<&str> = auth.signed_headers.split(';').collect();
    if !ACS3_SIGNED.iter().all(|required| signed.contains(required)) {
        return Err(FnfFailure::InvalidValue {
            name: "Authorization",
            expected: "signed over at least host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version",
        });
    }
    // The body is covered only through this hash, so it must be the hash of these exact bytes.
    let content_sha256 = acs3::content_sha256(&request.body);
    if !header(request, "x-acs-content-sha256")?
        .trim()
        .eq_ignore_ascii_case(&content_sha256)
    {
        return Err(Common::SignatureMismatch {
            detail: "x-acs-content-sha256 is not the SHA-256 of the body",
        }
        .into());
    }
    check_time(
        "x-acs-date",
        header(request, "x-acs-date")?.trim(),
        request.received_at,
        limits,
    )?;
    let nonce = header(request, "x-acs-signature-nonce")?;
    let mac = unhex(auth.signature);
    let Some(account) = env.access_key_account(auth.credential) else {
        crate::dialect::leave_to_service(
            env,
            auth.credential,
            request.header(ACS3_SESSION_TOKEN),
            mac.as_deref(),
            ACS3_MAC_BYTES,
        )?;
        return Ok(Caller::new(auth.credential, None, nonce, auth.signature));
    };

    let canonical = acs3::canonical_request(
        &request.method,
        request.path(),
        params
            .iter()
            .filter(|p| p.source == Source::Query)
            .map(|p| (p.name.as_ref(), p.value.as_ref())),
        auth.signed_headers,
        |name| request.joined_header(name),
        &content_sha256,
    );
    let string_to_sign = acs3::string_to_sign(&canonical);
    let verified = mac.is_some_and(|mac| {
        env.verify_signature(
            auth.credential,
            Signing::Acs3,
            string_to_sign.as_bytes(),
            &mac,
        )
    });
    if !verified {
        return Err(Common::SignatureMismatch {
            detail: "ACS3-HMAC-SHA256 over the canonical request",
        }
        .into());
    }
    Ok(Caller::new(
        auth.credential,
        Some(account),
        nonce,
        auth.signature,
    ))
}

/// The request's own time must be well formed and within the window around its receipt.
fn check_time(name: &'static str, text: &str, now: u64, limits: Limits) -> Result<(), FnfFailure> {
    let request_time = parse_timestamp(text).ok_or(FnfFailure::InvalidValue {
        name,
        expected: TIMESTAMP_FORM,
    })?;
    crate::dialect::within_clock_window(request_time, now, limits)?;
    step("time: the request's timestamp is within max_clock_skew_seconds of the receipt");
    Ok(())
}
