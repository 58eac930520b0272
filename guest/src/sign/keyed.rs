//! The keyed half of the signature schemes: MACs computed with a secret, and their comparison.
//! Built only natively (the host's keyring, the clients and tests that sign): the component asks
//! its host's keyring instead, so it carries neither this code nor a secret.

use super::{Scope, Signing};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// HMAC-SHA1.
pub fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    #[expect(clippy::expect_used, reason = "HMAC takes a key of any length")]
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    #[expect(clippy::expect_used, reason = "HMAC takes a key of any length")]
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// SigV4's signing key for a scope: `AWS4` + secret, then the date, region, service and
/// `aws4_request` in turn. It depends only on the scope, so a host may keep it for the day.
pub fn sigv4_signing_key(secret: &str, scope: Scope<'_>) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), scope.date.as_bytes());
    let k_region = hmac_sha256(&k_date, scope.region.as_bytes());
    let k_service = hmac_sha256(&k_region, scope.service.as_bytes());
    hmac_sha256(&k_service, super::sigv4::TERMINATOR.as_bytes())
}

/// The MAC of `message` under `secret` as `signing` keys it (SigV4's key derived afresh).
pub fn mac(secret: &str, signing: Signing<'_>, message: &[u8]) -> Vec<u8> {
    match signing {
        Signing::RpcV1 => {
            let mut key = Vec::with_capacity(secret.len() + 1);
            key.extend_from_slice(secret.as_bytes());
            key.push(b'&');
            hmac_sha1(&key, message).to_vec()
        }
        Signing::Acs3 => hmac_sha256(secret.as_bytes(), message).to_vec(),
        Signing::SigV4(scope) => hmac_sha256(&sigv4_signing_key(secret, scope), message).to_vec(),
    }
}

/// Compares a computed MAC with the one sent without revealing, through timing, how many
/// leading bytes matched. Only the lengths may differ in time, and those are public.
pub fn constant_time_eq(expected: &[u8], given: &[u8]) -> bool {
    expected.len() == given.len() && bool::from(expected.ct_eq(given))
}
