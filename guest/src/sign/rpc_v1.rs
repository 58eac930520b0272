//! Alibaba RPC signature version 1.0 (HMAC-SHA1), as the POP SDKs compute it.
//!
//! StringToSign = METHOD `&` `%2F` `&` percentEncode(canonical), where canonical is every
//! parameter but `Signature`, sorted by name, as `percentEncode(k)=percentEncode(v)` joined by
//! `&`. The path, the headers and where a parameter was (query or body) are not signed.

use crate::percent::canonical_pairs_encoded_into;

/// The string to sign for these parameters (`Signature`, if present, is left out).
pub fn string_to_sign<'a>(
    method: &str,
    params: impl Iterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str(method);
    out.push_str("&%2F&");
    canonical_pairs_encoded_into(params.filter(|(k, _)| *k != "Signature"), &mut out);
    out
}

/// The MAC a caller sent, from its Base64 `Signature`; `None` when it is not canonical Base64
/// (a signature that cannot be a MAC, so a mismatch).
pub fn given_mac(signature: &str) -> Option<Vec<u8>> {
    crate::b64::decode(signature, crate::b64::Padding::Canonical)
}

/// Base64(HMAC-SHA1(secret + "&", string_to_sign)), as a client signs (native builds only).
#[cfg(not(target_arch = "wasm32"))]
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    use base64::Engine as _;
    let mac = super::keyed::mac(secret, super::Signing::RpcV1, string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(method: &str, params: &[(&str, &str)]) -> String {
        signature(
            "testsecret",
            &string_to_sign(method, params.iter().copied()),
        )
    }

    #[test]
    fn alibaba_published_describe_regions_vector() {
        let params = [
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ];
        assert_eq!(sign("GET", &params), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
    }

    #[test]
    fn report_task_failed_vector_in_any_order_and_ignoring_signature() {
        let params = [
            ("Version", "2019-03-15"),
            ("Signature", "ignored"),
            ("TaskToken", "tok-123"),
            ("Timestamp", "2024-01-02T03:04:05Z"),
            ("AccessKeyId", "testid"),
            ("Action", "ReportTaskFailed"),
            ("Cause", "some cause"),
            ("Error", "ErrX"),
            ("Format", "json"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3d2c1b0a99887766554433221100ffee"),
            ("SignatureVersion", "1.0"),
        ];
        assert_eq!(sign("POST", &params), "C50lO/sSCG/GVsnbNOZJvCaq9RY=");
    }
}
