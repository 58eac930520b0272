//! Signature algorithms, as pure functions over already-decoded inputs. Which parameters and
//! headers go in, and what a mismatch means, is the dialect's business.

pub mod acs3;
pub mod rpc_v1;
pub mod sigv4;

use subtle::ConstantTimeEq;

/// Compares a computed signature with the one sent without revealing, through timing, how many
/// leading bytes matched. Only the lengths may differ in time, and those are public.
pub fn constant_time_eq(expected: &[u8], given: &[u8]) -> bool {
    expected.len() == given.len() && bool::from(expected.ct_eq(given))
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
