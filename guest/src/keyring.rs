//! The keyring of a native host: access keys and token keys with their secrets, and the MAC
//! checks the filter asks for through the WIT `keyring` (the `taskgate` host, the tests and the
//! fuzz harness all use this one). Built only natively: the component has no secrets to hold.

use crate::sign::keyed::{constant_time_eq, hmac_sha1, hmac_sha256, mac, sigv4_signing_key};
use crate::sign::{Scope, Signing};
use crate::types::{
    Credential, Credentials, Env, Limits, OtherCalls, TemporaryCredentials, TokenMac,
};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// An access key's secret and owner.
#[derive(Clone)]
pub struct AccessKey {
    /// The AccessKeySecret (or AWS secret access key).
    pub secret: String,
    /// The owning account.
    pub account: String,
}

/// A credential the gateway signs forwarded requests with (`[[credentials]]`, named by an
/// access key's `sign_as`) as it is at one moment: its own access key id, secret and, for
/// temporary credentials, the session token. `Debug` shows the key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningCredential {
    /// The access key id it signs as.
    pub access_key_id: String,
    /// Its secret.
    pub secret: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
}

impl fmt::Debug for SigningCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningCredential")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Where a signing credential comes from: fixed in the configuration, or a cloud's own chain
/// (instance metadata, container credentials, ...) that the host refreshes before it expires.
pub trait CredentialSource: Send + Sync {
    /// The credential as it is now; why not, for `/readyz` and the log, when it cannot be had
    /// at the moment. Never a secret in the reason.
    fn current(&self) -> Result<SigningCredential, String>;
}

/// A credential given in the configuration never changes.
impl CredentialSource for SigningCredential {
    fn current(&self) -> Result<SigningCredential, String> {
        Ok(self.clone())
    }
}

/// One credential as it was at one moment, for one re-signing (`crate::resign`) and its second
/// check: a credential refreshed in between cannot mix one key's id with another's secret.
impl Credentials for SigningCredential {
    fn credential(&self, _name: &str) -> Option<Credential> {
        Some(Credential {
            access_key_id: self.access_key_id.clone(),
            session_token: self.session_token.clone(),
        })
    }

    fn sign(&self, _name: &str, signing: Signing<'_>, message: &[u8]) -> Option<Vec<u8>> {
        Some(mac(&self.secret, signing, message))
    }
}

/// A task-token MAC key and the account whose tokens it makes.
#[derive(Clone)]
pub struct TokenKey {
    /// HMAC-SHA1 key bytes.
    pub secret: Vec<u8>,
    /// The owning account.
    pub account: String,
}

/// SigV4 signing keys kept at most; past it the cache starts over (a key is derived again with
/// four HMACs, so a flood of made-up scopes costs memory only up to here).
const MAX_SIGNING_KEYS: usize = 1024;

/// The configured keys. `Debug` shows ids and counts, never a secret.
#[derive(Default)]
pub struct Keyring {
    access_keys: HashMap<String, AccessKey>,
    token_keys: Vec<TokenKey>,
    /// The credentials forwarded requests are signed with, by name.
    credentials: HashMap<String, Arc<dyn CredentialSource>>,
    /// SigV4 signing keys by `id/date/region/service` (none of which can hold a `/`): a key is
    /// good for a day, so deriving it once spares four of the five HMACs of every request.
    signing_keys: Mutex<HashMap<String, [u8; 32]>>,
}

impl Keyring {
    /// A keyring with these access keys (by id) and token keys (in the order they are tried).
    pub fn new(access_keys: HashMap<String, AccessKey>, token_keys: Vec<TokenKey>) -> Keyring {
        Keyring {
            access_keys,
            token_keys,
            credentials: HashMap::new(),
            signing_keys: Mutex::default(),
        }
    }

    /// The same keyring holding these signing credentials, by name.
    pub fn with_credentials(
        mut self,
        credentials: HashMap<String, Arc<dyn CredentialSource>>,
    ) -> Keyring {
        self.credentials = credentials;
        self
    }

    /// The same keyring with one more signing credential (or another source for one it has).
    pub fn with_credential(mut self, name: &str, source: Arc<dyn CredentialSource>) -> Keyring {
        self.credentials.insert(name.to_owned(), source);
        self
    }

    /// The signing credential with this name as it is now: `None` for an unknown name, the
    /// reason when it cannot be had at the moment.
    pub fn signing_credential(&self, name: &str) -> Option<Result<SigningCredential, String>> {
        self.credentials.get(name).map(|source| source.current())
    }

    /// Every signing credential's name and source, in no particular order.
    pub fn credential_sources(&self) -> impl Iterator<Item = (&str, &Arc<dyn CredentialSource>)> {
        self.credentials
            .iter()
            .map(|(name, source)| (name.as_str(), source))
    }

    /// The access key with this id, for signing on the host's side (tests, tools).
    pub fn access_key(&self, id: &str) -> Option<&AccessKey> {
        self.access_keys.get(id)
    }

    /// Every access key id, in no particular order.
    pub fn access_key_ids(&self) -> impl Iterator<Item = &str> {
        self.access_keys.keys().map(String::as_str)
    }

    /// The token keys, in the order they are tried.
    pub fn token_keys(&self) -> &[TokenKey] {
        &self.token_keys
    }

    /// The account that owns an access key (the WIT `access-key-account`).
    pub fn account(&self, id: &str) -> Option<String> {
        self.access_keys.get(id).map(|key| key.account.clone())
    }

    /// Whether `given` is the MAC of `message` under access key `id` (the WIT
    /// `verify-signature`); false for an unknown id.
    pub fn verify_signature(
        &self,
        id: &str,
        signing: Signing<'_>,
        message: &[u8],
        given: &[u8],
    ) -> bool {
        let Some(key) = self.access_keys.get(id) else {
            return false;
        };
        let expected = match signing {
            Signing::SigV4(scope) => {
                hmac_sha256(&self.signing_key(id, key, scope), message).to_vec()
            }
            Signing::RpcV1 | Signing::Acs3 => mac(&key.secret, signing, message),
        };
        constant_time_eq(&expected, given)
    }

    /// Which token key made `given`, the HMAC-SHA1 of `message` (the WIT `verify-token-mac`).
    /// Every key is tried, so the time taken says nothing about which one matched.
    pub fn verify_token_mac(&self, message: &[u8], given: &[u8]) -> TokenMac {
        if self.token_keys.is_empty() {
            return TokenMac::Unchecked;
        }
        let mut owner = None;
        for key in &self.token_keys {
            if constant_time_eq(&hmac_sha1(&key.secret, message), given) && owner.is_none() {
                owner = Some(key.account.clone());
            }
        }
        owner.map_or(TokenMac::Unmatched, TokenMac::Verified)
    }

    /// SigV4's signing key for this access key and scope, derived once and kept.
    fn signing_key(&self, id: &str, key: &AccessKey, scope: Scope<'_>) -> [u8; 32] {
        let name = format!("{id}/{}/{}/{}", scope.date, scope.region, scope.service);
        if let Ok(cache) = self.signing_keys.lock()
            && let Some(derived) = cache.get(&name)
        {
            return *derived;
        }
        let derived = sigv4_signing_key(&key.secret, scope);
        if let Ok(mut cache) = self.signing_keys.lock() {
            if cache.len() >= MAX_SIGNING_KEYS {
                cache.clear();
            }
            cache.insert(name, derived);
        }
        derived
    }
}

impl Clone for Keyring {
    /// The same keys; the derived-key cache starts empty.
    fn clone(&self) -> Keyring {
        Keyring::new(self.access_keys.clone(), self.token_keys.clone())
            .with_credentials(self.credentials.clone())
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&str> = self.access_key_ids().collect();
        ids.sort_unstable();
        f.debug_struct("Keyring")
            .field("access_key_ids", &ids)
            .field("token_keys", &self.token_keys.len())
            .field("credentials", &{
                let mut names: Vec<&str> = self.credentials.keys().map(String::as_str).collect();
                names.sort_unstable();
                names
            })
            .finish()
    }
}

/// The settings of a build that holds its keys (the `taskgate` host, the Envoy plugin, tools
/// and tests) over its keyring: implementing this makes it the filter's [`Env`], every key
/// question answered by the keyring, in one place. The settings default to the filter's own.
pub trait KeyringEnv {
    /// The keys.
    fn keyring(&self) -> &Keyring;

    /// The limits in force.
    fn limits(&self) -> Limits {
        Limits::default()
    }

    /// What to do with calls the filter does not model.
    fn other_calls(&self) -> OtherCalls {
        OtherCalls::default()
    }

    /// What to do with requests signed with temporary credentials the keyring does not hold.
    fn temporary_credentials(&self) -> TemporaryCredentials {
        TemporaryCredentials::default()
    }
}

impl<T: KeyringEnv> Env for T {
    fn access_key_account(&self, id: &str) -> Option<String> {
        self.keyring().account(id)
    }

    fn verify_signature(&self, id: &str, signing: Signing<'_>, message: &[u8], mac: &[u8]) -> bool {
        self.keyring().verify_signature(id, signing, message, mac)
    }

    fn verify_token_mac(&self, message: &[u8], mac: &[u8]) -> TokenMac {
        self.keyring().verify_token_mac(message, mac)
    }

    fn limits(&self) -> Limits {
        KeyringEnv::limits(self)
    }

    fn other_calls(&self) -> OtherCalls {
        KeyringEnv::other_calls(self)
    }

    fn temporary_credentials(&self) -> TemporaryCredentials {
        KeyringEnv::temporary_credentials(self)
    }
}

/// A keyring with the default limits and `other_calls`: the [`Env`] of tools and tests that
/// care about keys only.
#[derive(Debug, Clone, Default)]
pub struct KeysOnly(pub Keyring);

impl KeyringEnv for KeysOnly {
    fn keyring(&self) -> &Keyring {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::{rpc_v1, sigv4, unhex};

    fn keyring() -> Keyring {
        let access = HashMap::from([(
            "AKID".to_owned(),
            AccessKey {
                secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
                account: "123".to_owned(),
            },
        )]);
        let tokens = vec![
            TokenKey {
                secret: b"first".to_vec(),
                account: "a".to_owned(),
            },
            TokenKey {
                secret: b"second".to_vec(),
                account: "b".to_owned(),
            },
        ];
        Keyring::new(access, tokens)
    }

    #[test]
    fn a_signature_verifies_only_under_its_own_key_and_scheme() {
        let keys = keyring();
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let given = rpc_v1::given_mac(&rpc_v1::signature(secret, "GET&%2F&x")).unwrap_or_default();
        assert!(keys.verify_signature("AKID", Signing::RpcV1, b"GET&%2F&x", &given));
        assert!(!keys.verify_signature("AKID", Signing::RpcV1, b"GET&%2F&y", &given));
        assert!(!keys.verify_signature("AKID", Signing::Acs3, b"GET&%2F&x", &given));
        assert!(!keys.verify_signature("OTHER", Signing::RpcV1, b"GET&%2F&x", &given));
        assert_eq!(keys.account("AKID").as_deref(), Some("123"));
        assert_eq!(keys.account("OTHER"), None);
    }

    #[test]
    fn the_cached_sigv4_key_gives_the_same_answers_as_a_fresh_one() {
        let keys = keyring();
        let scope = Scope {
            date: "20150830",
            region: "us-east-1",
            service: "states",
        };
        let other_day = Scope {
            date: "20150831",
            ..scope
        };
        let canonical = "POST\n/\n\nhost:x\n\nhost\ne3b0";
        let signed = sigv4::signature(
            keys.access_keys["AKID"].secret.as_str(),
            "20150830T123600Z",
            scope,
            canonical,
        );
        let given = unhex(&signed).unwrap_or_default();
        let message = sigv4::string_to_sign("20150830T123600Z", scope, canonical);
        for _ in 0..2 {
            assert!(keys.verify_signature(
                "AKID",
                Signing::SigV4(scope),
                message.as_bytes(),
                &given
            ));
            assert!(!keys.verify_signature(
                "AKID",
                Signing::SigV4(other_day),
                message.as_bytes(),
                &given
            ));
        }
    }

    #[test]
    fn a_token_mac_names_the_first_key_that_made_it() {
        let keys = keyring();
        let message = b"v1#a#uuid#1";
        assert_eq!(
            keys.verify_token_mac(message, &hmac_sha1(b"second", message)),
            TokenMac::Verified("b".to_owned())
        );
        assert_eq!(
            keys.verify_token_mac(message, &hmac_sha1(b"third", message)),
            TokenMac::Unmatched
        );
        assert_eq!(
            Keyring::default().verify_token_mac(message, &hmac_sha1(b"first", message)),
            TokenMac::Unchecked
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let shown = format!("{:?}", keyring());
        assert!(
            shown.contains("AKID") && !shown.contains("EXAMPLEKEY") && !shown.contains("first")
        );
    }
}
