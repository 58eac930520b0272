//! The keys a host with memory stores for an accepted request: which nonce it claims and which
//! task it settles. Digests, not the values: a store (a shared Redis) then never holds a nonce
//! or a task token that could be sent again, and every key has the same short length however
//! long the token.

use crate::sign::hex;
use crate::types::{Callback, Dialect, Limits, Recall, SignatureCheck};

/// The digest of `parts`, each length-prefixed so that no two different lists collide.
fn digest(kind: &str, parts: &[&str]) -> String {
    let mut input = Vec::with_capacity(64);
    input.extend_from_slice(kind.as_bytes());
    for part in parts {
        input.extend_from_slice(&(part.len() as u64).to_be_bytes());
        input.extend_from_slice(part.as_bytes());
    }
    format!("{kind}:{}", hex(&crate::digest::sha256(&input)))
}

/// The nonce key: one signature nonce of one access key. A request whose MAC is left to the
/// service (`unverified`: its signature) claims a key of another kind that includes the
/// signature, so a forgery that copies a genuine request's key id and nonce claims a key of its
/// own and cannot make the genuine request a replay; the same bytes sent twice are still one.
pub fn nonce(access_key_id: &str, nonce: &str, unverified: Option<&str>) -> String {
    match unverified {
        None => digest("nonce", &[access_key_id, nonce]),
        Some(signature) => digest("unverified-nonce", &[access_key_id, nonce, signature]),
    }
}

/// The ledger key: one task of one dialect (CodePipeline: one job).
pub fn task(dialect: Dialect, task_token: &str) -> String {
    digest("task", &[dialect.name(), task_token])
}

/// A request's recall: its nonce (when it has one) claimed for twice the clock window, the
/// span over which the same signed request stays acceptable.
pub fn recall(nonce: Option<String>, task: Option<String>, limits: Limits) -> Recall {
    Recall {
        nonce,
        nonce_seconds: limits.max_clock_skew_seconds.saturating_mul(2),
        task,
        settles: false,
    }
}

/// A report's recall: its nonce, and its task, which the report settles unless it is a
/// heartbeat (then the task is only consulted). A report whose MAC is left to the service only
/// consults its task too: it may be a forgery, and must never hold a task that a verified
/// report is waiting on.
pub fn report(
    nonce: Option<String>,
    dialect: Dialect,
    task_token: &str,
    callback: Callback,
    signature: SignatureCheck,
    limits: Limits,
) -> Recall {
    Recall {
        settles: callback.settles() && signature == SignatureCheck::Edge,
        ..recall(nonce, Some(task(dialect, task_token)), limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fixed_length_digests_that_keep_their_parts_apart() {
        let a = nonce("ab", "c", None);
        assert_eq!(a.len(), "nonce:".len() + 64);
        assert_ne!(a, nonce("a", "bc", None));
        assert_ne!(a, nonce("ab", "c", Some("")));
        assert_eq!(a, nonce("ab", "c", None));
        assert!(!task(Dialect::States, "tok").contains("tok"));
        assert_ne!(task(Dialect::States, "t"), task(Dialect::Swf, "t"));
    }
}
