//! Repair mode (`[serve] repair = "truncate"`, a route's `repair`) for every host command that
//! forwards or shows what would be forwarded (`taskgate serve`, `taskgate check`, `taskgate
//! test`): a failure report the component refused is cut to length by the filter library
//! (`taskgate_filter::repair`, natively: only when the edge verified its signature), signed
//! again (with the worker's own key, or its `sign_as` credential) and checked again by the
//! component. Only a report that then passes is forwarded; any other keeps its refusal.

use crate::config::Config;
use crate::resign::{sign_and_check, sign_as_credential};
use crate::sandbox::Sandbox;
use std::sync::Arc;
use taskgate_filter::repair::{NotRepaired, RepairedField};
use taskgate_filter::{Mode, Report, Request, SigningCredential, TemporaryCredentials, Verdict};

/// Whether repair mode mends refused reports under these settings (a route's, else
/// `[serve]`'s): under `repair = "truncate"`, except in shadow mode, which forwards what the
/// caller sent.
pub fn applies(repair: taskgate_filter::Repair, mode: Mode) -> bool {
    repair == taskgate_filter::Repair::Truncate && mode != Mode::Shadow
}

/// A report cut to length, signed again and accepted by the component.
#[derive(Debug)]
pub struct Repair {
    /// The request to forward.
    pub request: Request,
    /// The component's report on it, as the worker's: its access key and, for Alibaba, the
    /// original's nonce (the one the memory claims).
    pub report: Report,
    /// What was cut.
    pub fields: Vec<RepairedField>,
    /// The `sign_as` credential it was signed with; `None`: the worker's own key.
    pub sign_as: Option<String>,
}

/// What repair mode did with a refused request.
#[derive(Debug)]
pub enum Repairing {
    /// Nothing to repair (not a failure report, or no free text over its limit): the refusal
    /// stands.
    Nothing,
    /// Over-long free text that could not be repaired: the refusal stands; why, for the log.
    Refused(String),
    /// Repaired: forward it.
    Repaired(Box<Repair>),
}

/// Repairs `request` (the whole request the component refused under `temporary_credentials`,
/// the route's setting), re-signed at `now` with `nonce` as its new signature nonce.
pub fn repair(
    sandbox: &Sandbox,
    config: &Arc<Config>,
    temporary_credentials: TemporaryCredentials,
    request: &Request,
    now: u64,
    nonce: &str,
) -> Repairing {
    let repaired = match taskgate_filter::repair::truncate(request, &**config) {
        Ok(repaired) => repaired,
        Err(NotRepaired::Nothing) => return Repairing::Nothing,
        Err(NotRepaired::Refused(why)) => return Repairing::Refused(why.to_owned()),
    };
    let key = repaired.access_key_id.as_str();
    // The worker's `sign_as` credential, checked again as standing in for its key; else the
    // worker's own key (which the keyring holds: the edge verified it).
    let (name, signer, again, sign_as) = match sign_as_credential(config, key) {
        Some(Ok((credential, again))) => {
            let signer = again.credential.clone();
            (credential.clone(), signer, Some(again), Some(credential))
        }
        Some(Err((credential, why))) => {
            return Repairing::Refused(format!(
                "the credential '{credential}' cannot be had: {why}"
            ));
        }
        None => {
            let Some(held) = config.keyring.access_key(key) else {
                return Repairing::Refused("the access key is not held".to_owned());
            };
            let own = SigningCredential {
                access_key_id: key.to_owned(),
                secret: held.secret.clone(),
                session_token: None,
            };
            (key.to_owned(), own, None, None)
        }
    };
    let checked = sign_and_check(
        sandbox,
        config,
        temporary_credentials,
        &repaired.request,
        (&name, &signer),
        again,
        (now, nonce),
    );
    match checked {
        Ok((signed, Verdict::Forward(mut report))) => {
            report.access_key_id = repaired.access_key_id;
            if let Some(nonce_key) = repaired.nonce_key {
                report.recall.nonce = Some(nonce_key);
            }
            Repairing::Repaired(Box::new(Repair {
                request: signed,
                report,
                fields: repaired.fields,
                sign_as,
            }))
        }
        Ok((_, Verdict::Reject(response))) => Repairing::Refused(format!(
            "the repaired report is refused too: {}",
            response.code
        )),
        Ok((_, Verdict::Pass(_))) => Repairing::Refused("not a report".to_owned()),
        Err((stage, why)) => Repairing::Refused(format!("{stage}: {why}")),
    }
}
