//! Re-signing at the edge (`sign_as`), for every host command that forwards or shows what would
//! be forwarded (`taskgate serve`, `taskgate check`, `taskgate test`): a request the filter
//! accepted from a worker key whose `sign_as` names a `[[credentials]]` entry is signed again
//! with that credential (natively, by the filter library with the host's keyring: the secret
//! never enters the component), then checked again by the component, with the credential
//! verifying as the worker's key. The edge never forwards what it would refuse.

use crate::config::Config;
use crate::sandbox::{Resigned, Sandbox};
use std::sync::Arc;
use taskgate_filter::{PassedCall, Report, Request, SignatureCheck, TemporaryCredentials, Verdict};

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
    let signer = key.and_then(|key| {
        let credential = config.sign_as.get(key)?;
        Some((credential.clone(), config.keyring.account(key)?))
    });
    let Some((credential, account)) = signer else {
        return Resigning::AsSigned;
    };
    let failed = |credential: String, stage, why: String| Resigning::Failed {
        credential,
        stage,
        why,
    };
    // The credential as it is now, once: the signing and the second check use the same one,
    // whatever a refresh does in between.
    let snapshot = match config.keyring.signing_credential(&credential) {
        Some(Ok(snapshot)) => snapshot,
        Some(Err(why)) => return failed(credential, "sign", why),
        None => return failed(credential, "sign", "no such credential".to_owned()),
    };
    let signed = match taskgate_filter::resign(request, &credential, now, nonce, &snapshot) {
        Ok(signed) => signed,
        Err(why) => return failed(credential, "sign", why),
    };
    let again = Resigned {
        credential: snapshot,
        account,
    };
    match sandbox.recheck(config, temporary_credentials, again, signed.clone()) {
        Ok(Verdict::Forward(_) | Verdict::Pass(_)) => Resigning::Signed {
            credential,
            request: signed,
        },
        Ok(Verdict::Reject(response)) => {
            let why = format!("the re-signed request is refused: {}", response.code);
            failed(credential, "recheck", why)
        }
        Err(error) => failed(credential, "recheck", format!("{error:#}")),
    }
}
