//! A keyring provider component (WIT world `keyring-provider`): it holds the secrets and answers
//! the `taskgate:filter/keyring` questions of the `wasi:http` build of the filter, which is
//! composed with it (`wac plug`) and so never sees a secret. The keys come from the host's
//! `wasi:config`, as the taskgate host's `[[access_keys]]` and `[[token_keys]]` would give them:
//!
//! - `access-key.<ID>` = `<ACCOUNT>:<SECRET>`: an access key that may sign callbacks;
//! - `token-key.<NAME>` = `<ACCOUNT>:<SECRET>`: a task-token MAC key (tried in name order).
//!
//! An entry that does not have that shape is left out, and said so on stderr by its name (never
//! its value). The MACs are the native keyring's own code (`taskgate_filter::Keyring`).
#![cfg(target_arch = "wasm32")]

use std::collections::HashMap;
use std::sync::OnceLock;
use taskgate_filter::{AccessKey, Keyring, TokenKey};

#[allow(
    missing_docs,
    unsafe_code,
    reason = "generated bindings; the WIT files carry the documentation"
)]
mod bindings {
    wit_bindgen::generate!({ path: "../wit", world: "keyring-provider", generate_all });
}

use bindings::exports::taskgate::filter::keyring::{self, Guest};
use bindings::wasi::config::store;

mod convert {
    use super::keyring;
    taskgate_filter::wit_keyring_conversions!(keyring);
}

struct Provider;

#[expect(unsafe_code, reason = "wit-bindgen's export macro")]
mod export {
    use super::{Provider, bindings};
    bindings::export!(Provider with_types_in bindings);
}

/// The keys, read once per instance (hosts that make an instance per request read them per
/// request; the configuration cannot change under one).
fn keys() -> &'static Keyring {
    static KEYS: OnceLock<Keyring> = OnceLock::new();
    KEYS.get_or_init(|| match store::get_all() {
        Ok(entries) => keyring_of(entries),
        Err(error) => {
            eprintln!("taskgate keyring: wasi:config could not be read ({error:?}): no keys");
            Keyring::default()
        }
    })
}

/// The keyring the configuration entries describe; other entries are not the keyring's.
fn keyring_of(mut entries: Vec<(String, String)>) -> Keyring {
    entries.sort();
    let mut access_keys = HashMap::new();
    let mut token_keys = Vec::new();
    for (name, value) in entries {
        if let Some(id) = name.strip_prefix("access-key.") {
            if let Some((account, secret)) = owned_secret(&name, id, &value) {
                access_keys.insert(id.to_owned(), AccessKey { secret, account });
            }
        } else if let Some(label) = name.strip_prefix("token-key.")
            && let Some((account, secret)) = owned_secret(&name, label, &value)
        {
            let secret = secret.into_bytes();
            token_keys.push(TokenKey { secret, account });
        }
    }
    Keyring::new(access_keys, token_keys)
}

/// `<ACCOUNT>:<SECRET>` split at its first colon (an account id has none; a secret may).
fn owned_secret(name: &str, suffix: &str, value: &str) -> Option<(String, String)> {
    match value.split_once(':') {
        Some((account, secret))
            if !suffix.is_empty() && !account.is_empty() && !secret.is_empty() =>
        {
            Some((account.to_owned(), secret.to_owned()))
        }
        _ => {
            eprintln!(
                "taskgate keyring: wasi:config entry '{name}' left out: it must be named \
                 with a non-empty suffix and hold '<ACCOUNT>:<SECRET>'"
            );
            None
        }
    }
}

impl Guest for Provider {
    fn access_key_account(id: String) -> Option<String> {
        keys().account(&id)
    }

    fn verify_signature(
        id: String,
        signing: keyring::Signing,
        message: Vec<u8>,
        mac: Vec<u8>,
    ) -> bool {
        keys().verify_signature(&id, convert::signing_of_wit(&signing), &message, &mac)
    }

    fn verify_token_mac(message: Vec<u8>, mac: Vec<u8>) -> keyring::TokenMac {
        convert::to_wit_token_mac(keys().verify_token_mac(&message, &mac))
    }
}
