//! Task tokens: Base64 of `v1#<kind>#<execution uuid>#<event id>#<mac>`, where the MAC is
//! Base64(HMAC-SHA1(token key, the first four fields joined by `#`)).
//!
//! Decoding checks the layout; verification, when token keys are configured, finds which
//! account's key made the MAC. Minting lives here too so that one module owns the format.

use crate::b64::{self, Padding};
use crate::params::clip;
use crate::types::{Env, TaskToken, TokenError, TokenMac};

/// The only version defined.
pub const VERSION: &str = "v1";

/// A token whose layout is right, before its MAC is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Kind letter.
    pub kind: String,
    /// Execution UUID, lower case.
    pub execution_id: String,
    /// Event id.
    pub event_id: u64,
    /// The text the MAC covers: the first four fields as sent.
    signed: String,
    /// The MAC bytes.
    mac: [u8; 20],
}

/// Decodes the layout; the error text says what is wrong, for a human.
pub fn decode(text: &str) -> Result<Decoded, String> {
    if text.contains(' ') {
        return Err(
            "it contains a space, so a '+' was probably sent without percent-encoding: \
                    encode '+' as %2B"
                .to_owned(),
        );
    }
    // Tokens are accepted with or without their trailing `=`: some clients strip padding.
    let raw = b64::decode(text, Padding::UpToCanonical).ok_or("it is not Base64")?;
    let inner = String::from_utf8(raw).map_err(|_| "its Base64 content is not text".to_owned())?;
    let fields: Vec<&str> = inner.split('#').collect();
    let [version, kind, execution_id, event_id, mac] = fields[..] else {
        return Err("its content is not v1#<kind>#<execution id>#<event id>#<mac>".to_owned());
    };
    if version != VERSION {
        return Err(format!("its version '{}' is not {VERSION}", clip(version)));
    }
    if kind.len() != 1 || !kind.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err("its kind is not a single letter".to_owned());
    }
    if !is_uuid(execution_id) {
        return Err("its execution id is not a UUID".to_owned());
    }
    let event_id = parse_event_id(event_id).ok_or("its event id is not a decimal number")?;
    // The MAC covers everything before its own separating '#'.
    let signed = inner[..inner.len() - mac.len() - 1].to_owned();
    let mac: [u8; 20] = b64::decode(mac, Padding::Canonical)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or("its MAC is not Base64 of an HMAC-SHA1")?;
    Ok(Decoded {
        kind: kind.to_owned(),
        execution_id: execution_id.to_ascii_lowercase(),
        event_id,
        signed,
        mac,
    })
}

fn parse_event_id(text: &str) -> Option<u64> {
    // `u64::from_str` accepts a leading `+`; a token never has one.
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn is_uuid(text: &str) -> bool {
    uuid_shaped(text, false)
}

/// `8-4-4-4-12` hex digits (lower case only when `lower_only`): an execution id here, a
/// CodePipeline job id in the AWS model.
pub(crate) fn uuid_shaped(text: &str, lower_only: bool) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => {
                b.is_ascii_digit()
                    || matches!(b, b'a'..=b'f')
                    || (!lower_only && matches!(b, b'A'..=b'F'))
            }
        })
}

/// The account whose key made this token's MAC: `Ok(None)` when no keys are configured (the
/// MAC is then not checked), `Err` when keys are configured and none matches. The host's keyring
/// computes the MACs: the filter never sees a token key.
pub fn verify(decoded: &Decoded, env: &dyn Env) -> Result<Option<String>, TokenError> {
    match env.verify_token_mac(decoded.signed.as_bytes(), &decoded.mac) {
        TokenMac::Unchecked => Ok(None),
        TokenMac::Unmatched => Err(TokenError::Unverified),
        TokenMac::Verified(account) => Ok(Some(account)),
    }
}

/// Decodes and verifies in one step, for the `decode-token` export.
pub fn decode_and_verify(text: &str, env: &dyn Env) -> Result<TaskToken, TokenError> {
    let decoded = decode(text).map_err(TokenError::Malformed)?;
    let account = verify(&decoded, env)?;
    Ok(into_task_token(decoded, account))
}

/// The public view of a decoded token.
pub fn into_task_token(decoded: Decoded, account: Option<String>) -> TaskToken {
    TaskToken {
        version: VERSION.to_owned(),
        kind: decoded.kind,
        execution_id: decoded.execution_id,
        event_id: decoded.event_id,
        verified: account.is_some(),
        account,
    }
}

/// Makes a token (native builds only: minting needs the key). Fails only on a kind that is not
/// one letter or an execution id that is not a UUID, so that every minted token decodes.
#[cfg(not(target_arch = "wasm32"))]
pub fn mint(kind: &str, execution_id: &str, event_id: u64, key: &[u8]) -> Result<String, String> {
    if kind.len() != 1 || !kind.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(format!(
            "kind must be a single letter, not '{}'",
            clip(kind)
        ));
    }
    if !is_uuid(execution_id) {
        return Err(format!(
            "execution id must be a UUID, not '{}'",
            clip(execution_id)
        ));
    }
    let signed = format!(
        "{VERSION}#{kind}#{}#{event_id}",
        execution_id.to_ascii_lowercase()
    );
    let mac = crate::sign::keyed::hmac_sha1(key, signed.as_bytes());
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    Ok(STANDARD.encode(format!("{signed}#{}", STANDARD.encode(mac))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::{Keyring, KeysOnly, TokenKey};
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    const UUID: &str = "2b0c6a4e-8f5e-4d1a-9c3b-7e6f5a4d3c2b";

    fn keys(keys: Vec<(&str, &str)>) -> KeysOnly {
        let keys = keys
            .into_iter()
            .map(|(secret, account)| TokenKey {
                secret: secret.as_bytes().to_vec(),
                account: account.to_owned(),
            })
            .collect();
        KeysOnly(Keyring::new(Default::default(), keys))
    }

    #[test]
    fn a_minted_token_decodes_and_verifies_with_its_key() {
        let token = mint("a", UUID, 42, b"k1").unwrap();
        let keys = keys(vec![("other", "acct-2"), ("k1", "acct-1")]);
        let got = decode_and_verify(&token, &keys).unwrap();
        assert_eq!(got.execution_id, UUID);
        assert_eq!(got.event_id, 42);
        assert_eq!(got.account.as_deref(), Some("acct-1"));
        assert!(got.verified);
    }

    #[test]
    fn without_keys_the_mac_is_not_checked() {
        let token = mint("a", UUID, 7, b"whatever").unwrap();
        let got = decode_and_verify(&token, &keys(vec![])).unwrap();
        assert!(!got.verified);
        assert_eq!(got.account, None);
    }

    #[test]
    fn a_token_from_an_unknown_key_is_unverified() {
        let token = mint("a", UUID, 7, b"forger").unwrap();
        let got = decode_and_verify(&token, &keys(vec![("k1", "acct-1")]));
        assert_eq!(got, Err(TokenError::Unverified));
    }

    #[test]
    fn the_outer_base64_of_a_token_has_no_plus_or_slash() {
        // docs/protocols.md §1 (task tokens): the token's ASCII text has no '>', '?' or '~', so
        // the outer Base64 never holds '+' or '/'; checked across many MACs.
        for event in 0..500 {
            let token = mint("a", UUID, event, b"k").unwrap();
            assert!(!token.contains('+') && !token.contains('/'), "{token}");
        }
    }

    #[test]
    fn a_space_gets_the_plus_hint() {
        let err = decode("djEjYSMy YjBj").unwrap_err();
        assert!(err.contains("%2B"), "{err}");
    }

    #[test]
    fn layout_errors_say_what_is_wrong() {
        let b64 = |s: &str| STANDARD.encode(s);
        let mac = STANDARD.encode([0u8; 20]);
        let cases = [
            ("!!!".to_owned(), "not Base64"),
            (b64("v1#a#x"), "is not v1#"),
            (b64(&format!("v2#a#{UUID}#1#{mac}")), "version"),
            (b64(&format!("v1#ab#{UUID}#1#{mac}")), "kind"),
            (b64(&format!("v1#a#not-a-uuid#1#{mac}")), "UUID"),
            (b64(&format!("v1#a#{UUID}#+1#{mac}")), "event id"),
            (
                b64(&format!("v1#a#{UUID}#99999999999999999999#{mac}")),
                "event id",
            ),
            (b64(&format!("v1#a#{UUID}#1#AAAA")), "MAC"),
        ];
        for (token, want) in cases {
            let err = decode(&token).unwrap_err();
            assert!(err.contains(want), "{token}: {err}");
        }
    }

    #[test]
    fn minting_refuses_what_could_not_decode() {
        assert!(mint("ab", UUID, 1, b"k").is_err());
        assert!(mint("a", "nope", 1, b"k").is_err());
    }
}
