//! Signature algorithms, as pure functions over already-decoded inputs. Which parameters and
//! headers go in, and what a mismatch means, is the dialect's business.
//!
//! The filter builds the bytes a signature covers (the string to sign) and names the key; the
//! MAC itself is computed where the secret is, by the host's keyring ([`Signing`] says how the
//! secret keys it). The keyed half (`keyed`, and each scheme's `signature`, which clients and
//! tests sign with) is built only natively: the component holds no MAC code and no secret.

pub mod acs3;
#[cfg(any(not(target_arch = "wasm32"), feature = "keyring"))]
pub mod keyed;
pub mod rpc_v1;
pub mod sigv4;

/// How an access key's secret keys a request signature's MAC (the WIT `keyring.signing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing<'a> {
    /// Alibaba RPC 1.0: HMAC-SHA1 keyed with the secret followed by `&`.
    RpcV1,
    /// Alibaba ACS3: HMAC-SHA256 keyed with the secret.
    Acs3,
    /// AWS SigV4: HMAC-SHA256 keyed with the signing key derived for this scope.
    SigV4(Scope<'a>),
}

/// The date, region and service a SigV4 signing key is derived for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scope<'a> {
    /// `yyyymmdd`.
    pub date: &'a str,
    /// The region, e.g. `us-east-1`.
    pub region: &'a str,
    /// The service's signing name, e.g. `states`.
    pub service: &'a str,
}

/// The bytes of a hex MAC as a caller sent it, in either case; `None` when it is not hex (a
/// signature that cannot be a MAC, so a mismatch).
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    use crate::percent::hex_value;
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(hex_value(pair[0])? << 4 | hex_value(pair[1])?))
        .collect()
}

/// The `Credential`, `SignedHeaders` and `Signature` parts of `Authorization: <algorithm> …`,
/// in any order, with spaces after the commas (both Alibaba's ACS3 and AWS's SigV4 headers).
/// `None` for another scheme; `Some(Err(name))` when that part is missing or empty.
pub fn authorization_parts<'a>(
    header: &'a str,
    algorithm: &str,
) -> Option<Result<(&'a str, &'a str, &'a str), &'static str>> {
    let rest = header
        .strip_prefix(algorithm)
        .filter(|rest| rest.starts_with(' '))?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let present = |value: Option<&'a str>, name| value.filter(|v| !v.is_empty()).ok_or(name);
    Some((|| {
        Ok((
            present(credential, "Credential")?,
            present(signed_headers, "SignedHeaders")?,
            present(signature, "Signature")?,
        ))
    })())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}
