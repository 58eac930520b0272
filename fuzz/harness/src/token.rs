//! The task-token codec: decoding what callers send, and minting.

use taskgate_filter::token::{decode, mint};
use taskgate_filter::{Keyring, KeysOnly, TaskToken, TokenError, TokenKey, decode_token};

/// An environment with these token keys and nothing else.
fn with_keys(keys: Vec<(Vec<u8>, &'static str)>) -> KeysOnly {
    let keys = keys
        .into_iter()
        .map(|(secret, account)| TokenKey {
            secret,
            account: account.to_owned(),
        })
        .collect();
    KeysOnly(Keyring::new(Default::default(), keys))
}

/// `token_decode` target, on the input as text: a token that decodes has no space, a one-letter
/// kind, a lower-case UUID; minted again from its fields it decodes to the same fields; with
/// no keys it is unverified, and with keys it is verified or refused as unverified, never
/// malformed.
pub fn token_decode(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(decoded) = decode(&text) else {
        assert!(
            matches!(
                decode_token(&text, &with_keys(Vec::new())),
                Err(TokenError::Malformed(_))
            ),
            "decode and decode_token disagree on {text:?}"
        );
        return;
    };
    assert!(!text.contains(' '));
    assert!(decoded.kind.len() == 1 && decoded.kind.bytes().all(|b| b.is_ascii_alphabetic()));
    assert_eq!(
        decoded.execution_id,
        decoded.execution_id.to_ascii_lowercase()
    );

    let minted = match mint(&decoded.kind, &decoded.execution_id, decoded.event_id, b"k") {
        Ok(minted) => minted,
        Err(why) => panic!("a decoded token's fields do not mint ({why}): {decoded:?}"),
    };
    let fields =
        |d: &taskgate_filter::token::Decoded| (d.kind.clone(), d.execution_id.clone(), d.event_id);
    match decode(&minted) {
        Ok(again) => assert_eq!(fields(&again), fields(&decoded), "{minted}"),
        Err(why) => panic!("a minted token does not decode ({why}): {minted}"),
    }

    let unkeyed = decode_token(&text, &with_keys(Vec::new()));
    assert_eq!(
        unkeyed,
        Ok(TaskToken {
            version: "v1".to_owned(),
            kind: decoded.kind.clone(),
            execution_id: decoded.execution_id.clone(),
            event_id: decoded.event_id,
            account: None,
            verified: false,
        })
    );
    let keyed = decode_token(
        &text,
        &with_keys(vec![(b"demo-token-key".to_vec(), "acct")]),
    );
    match keyed {
        Ok(token) => assert!(token.verified && token.account.as_deref() == Some("acct")),
        Err(error) => assert_eq!(error, TokenError::Unverified),
    }
}

/// `token_round_trip` target. The input gives a kind (byte 0), an execution id (bytes 1..17,
/// written with the case of byte 17), an event id (bytes 18..26) and a token key (the rest):
/// the minted token decodes to those fields, is verified by its key (found among others, and
/// naming its account) and refused by any other key; it has no `+` or `/` (so it survives a
/// query string unencoded).
pub fn token_round_trip(data: &[u8]) {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let kind = char::from(b'a' + byte(0) % 26);
    let kind = if byte(0) >= 128 {
        kind.to_ascii_uppercase()
    } else {
        kind
    }
    .to_string();
    let mut uuid = String::new();
    for i in 0..16 {
        if matches!(i, 4 | 6 | 8 | 10) {
            uuid.push('-');
        }
        uuid.push_str(&format!("{:02x}", byte(1 + i)));
    }
    let execution_id = if byte(17) % 2 == 1 {
        uuid.to_ascii_uppercase()
    } else {
        uuid.clone()
    };
    let event_id = u64::from_le_bytes(std::array::from_fn(|i| byte(18 + i)));
    let key = data.get(26..).unwrap_or_default().to_vec();

    let token = match mint(&kind, &execution_id, event_id, &key) {
        Ok(token) => token,
        Err(why) => panic!("minting refused a valid kind and UUID: {why}"),
    };
    assert!(!token.contains(['+', '/']), "{token}");
    let want = TaskToken {
        version: "v1".to_owned(),
        kind,
        execution_id: uuid,
        event_id,
        account: Some("mine".to_owned()),
        verified: true,
    };
    let mut other = key.clone();
    other.push(b'x');
    let keys = with_keys(vec![(other.clone(), "other"), (key, "mine")]);
    assert_eq!(decode_token(&token, &keys), Ok(want));
    assert_eq!(
        decode_token(&token, &with_keys(vec![(other, "other")])),
        Err(TokenError::Unverified)
    );
}
