//! Re-signing at the edge (`sign_as`), for every host command that forwards or shows what would
//! be forwarded (`taskgate serve`, `taskgate check`, `taskgate test`): a request the filter
//! accepted from a worker key whose `sign_as` names a `[[credentials]]` entry is signed again
//! with that credential (natively, by the filter library with the host's keyring: the secret
//! never enters the component), then checked again by the component, with the credential
//! verifying as the worker's key. The edge never forwards what it would refuse.

use crate::config::Config;
use crate::sandbox::{Resigned, Sandbox};
use std::sync::Arc;
use taskgate_filter::{
    PassedCall, Report, Request, SignatureCheck, SigningCredential, TemporaryCredentials, Verdict,
};

/// What re-signing did with an accepted request.
#[derive(Debug)]
pub enum Resigning {
    /// Nothing: its key has no `sign_as` (or the edge did not verify it): forward it as signed.
    AsSigned,
    /// Signed with the credential `credential` and checked again: forward `request`.
    Signed {
        /// The `[[credentials]]` name.
        credential: String,
        /// The re-signed request.
        request: Request,
    },
    /// It could not be: answer the service's own 500.
    Failed {
        /// The `[[credentials]]` name.
        credential: String,
        /// Where: `sign` (the credential cannot be had) or `recheck` (the component refused
        /// the re-signed request, or could not check it).
        stage: &'static str,
        /// Why, for the log (never a secret).
        why: String,
    },
}

/// The access key the edge verified for `verdict` (a report's, or an authenticated passed
/// call's): the one whose `sign_as` applies.
pub fn verified_key(verdict: &Verdict) -> Option<&str> {
    match verdict {
        Verdict::Forward(report) => report_key(report),
        Verdict::Pass(call) => call_key(call),
        Verdict::Reject(_) => None,
    }
}

/// A report's access key, when the edge verified it.
pub fn report_key(report: &Report) -> Option<&str> {
    (report.signature == SignatureCheck::Edge).then_some(report.access_key_id.as_str())
}

/// An authenticated passed call's access key, when the edge verified it.
pub fn call_key(call: &PassedCall) -> Option<&str> {
    call.access_key_id
        .as_deref()
        .filter(|_| call.signature == Some(SignatureCheck::Edge))
}

/// Re-signs `request` (the whole request the filter accepted, verified under `key`) when the
/// key's `sign_as` asks for it, dated `now` with `nonce` as its signature nonce, and checks the
/// result again under `temporary_credentials` (the route's setting).
pub fn resign(
    sandbox: &Sandbox,
    config: &Arc<Config>,
    temporary_credentials: TemporaryCredentials,
    request: &Request,
    key: Option<&str>,
    now: u64,
    nonce: &str,
) -> Resigning {
    let Some(found) = key.and_then(|key| sign_as_credential(config, key)) else {
        return Resigning::AsSigned;
    };
    let failed = |credential: String, stage, why: String| Resigning::Failed {
        credential,
        stage,
        why,
    };
    let (credential, again) = match found {
        Ok(found) => found,
        Err((credential, why)) => return failed(credential, "sign", why),
    };
    let snapshot = again.credential.clone();
    let checked = sign_and_check(
        sandbox,
        config,
        temporary_credentials,
        request,
        (&credential, &snapshot),
        Some(again),
        (now, nonce),
    );
    match checked {
        Ok((signed, Verdict::Forward(_) | Verdict::Pass(_))) => Resigning::Signed {
            credential,
            request: signed,
        },
        Ok((_, Verdict::Reject(response))) => {
            let why = format!("the re-signed request is refused: {}", response.code);
            failed(credential, "recheck", why)
        }
        Err((stage, why)) => failed(credential, stage, why),
    }
}

/// The `sign_as` credential of the worker key `key`, as it is now, once (the signing and the
/// second check use the same one, whatever a refresh does in between), as the second check
/// sees it (standing in for the key's account): its name with it, or with why it cannot be had.
/// `None` when the key names none (or is not held).
pub fn sign_as_credential(
    config: &Config,
    key: &str,
) -> Option<Result<(String, Resigned), (String, String)>> {
    let credential = config.sign_as.get(key)?.clone();
    let account = config.keyring.account(key)?;
    Some(match config.keyring.signing_credential(&credential) {
        Some(Ok(snapshot)) => Ok((
            credential,
            Resigned {
                credential: snapshot,
                account,
            },
        )),
        Some(Err(why)) => Err((credential, why)),
        None => Err((credential, "no such credential".to_owned())),
    })
}

/// `request` signed with `signer` (its name, for messages, and the credential as it is now)
/// at `now` with `nonce`, and the component's verdict on it: checked under `again` when the
/// signer is a `sign_as` credential standing in for the worker's key, else as any request (the
/// worker's own key signed it). The stage (`sign` or `recheck`) and why, when it cannot be.
pub fn sign_and_check(
    sandbox: &Sandbox,
    config: &Arc<Config>,
    temporary_credentials: TemporaryCredentials,
    request: &Request,
    (name, signer): (&str, &SigningCredential),
    again: Option<Resigned>,
    (now, nonce): (u64, &str),
) -> Result<(Request, Verdict), (&'static str, String)> {
    let signed =
        taskgate_filter::resign(request, name, now, nonce, signer).map_err(|why| ("sign", why))?;
    let verdict = match again {
        Some(again) => sandbox.recheck(config, temporary_credentials, again, signed.clone()),
        None => sandbox.check_under(config, temporary_credentials, signed.clone()),
    };
    match verdict {
        Ok(verdict) => Ok((signed, verdict)),
        Err(error) => Err(("recheck", format!("{error:#}"))),
    }
}
