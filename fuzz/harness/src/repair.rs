//! Repair mode (`taskgate_filter::repair`): arbitrary requests, signed again after mutation when
//! the input asks, cut to length where the filter would, then signed again with the caller's
//! key as the gateway does. What must hold: only a request the check refuses is repaired, only
//! for a key the keyring holds (the edge verified it), each field is cut to exactly its limit
//! from something longer, and the signed result has no over-long text left, so the check never
//! refuses it for length again.

use crate::check::prepare;
use taskgate_filter::repair::{NotRepaired, truncate};
use taskgate_filter::{SigningCredential, Verdict};

/// The signature nonce the repaired request is signed with.
const NONCE: &str = "00112233445566778899aabbccddeeff";

/// `repair` target.
pub fn repair(data: &[u8]) {
    let (request, config) = prepare(data);
    let repaired = match truncate(&request, config.as_ref()) {
        Ok(repaired) => repaired,
        Err(NotRepaired::Nothing | NotRepaired::Refused(_)) => return,
    };
    let verdict = taskgate_filter::check(&request, config.as_ref());
    assert!(
        matches!(verdict, Verdict::Reject(_)),
        "repaired a request the check accepts: {verdict:?}"
    );
    let Some(key) = config.keyring.access_key(&repaired.access_key_id) else {
        panic!("repaired a request of a key the keyring does not hold");
    };
    assert!(!repaired.fields.is_empty(), "repaired, yet nothing was cut");
    for field in &repaired.fields {
        assert!(
            field.original_length > field.length,
            "{} cut from {} to {}",
            field.field,
            field.original_length,
            field.length
        );
    }
    let own = SigningCredential {
        access_key_id: repaired.access_key_id.clone(),
        secret: key.secret.clone(),
        session_token: None,
    };
    // A layout the re-signer cannot write (RPC v1's common parameters in a JSON body) is
    // refused by the gateway, not forwarded.
    let Ok(signed) =
        taskgate_filter::resign(&repaired.request, "own", request.received_at, NONCE, &own)
    else {
        return;
    };
    assert_eq!(
        truncate(&signed, config.as_ref()).err(),
        Some(NotRepaired::Nothing),
        "over-long text is left after repair"
    );
    if let Verdict::Forward(report) = taskgate_filter::check(&signed, config.as_ref()) {
        assert_eq!(
            report.access_key_id, repaired.access_key_id,
            "another caller"
        );
    }
}
