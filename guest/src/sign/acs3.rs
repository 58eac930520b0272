//! Alibaba ACS3-HMAC-SHA256 (signature V3), carried in the `Authorization` header.
//!
//! CanonicalRequest = METHOD `\n` path `\n` canonical query `\n` canonical headers `\n`
//! signed header names `\n` hex SHA-256 of the body; StringToSign = `ACS3-HMAC-SHA256\n` +
//! hex SHA-256 of that; the signature is hex HMAC-SHA256 with the AccessKeySecret as key.

use crate::percent::canonical_pairs_into;
use crate::sign::{authorization_parts, hex};

/// The algorithm name at the start of the `Authorization` header.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// The parts of `Authorization: ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`.
#[derive(Debug, PartialEq, Eq)]
pub struct Authorization<'a> {
    /// The access key id.
    pub credential: &'a str,
    /// Lower-case header names, `;`-separated, as sent.
    pub signed_headers: &'a str,
    /// Lower-case hex signature.
    pub signature: &'a str,
}

/// Which part of the header is missing or malformed.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthorizationError {
    /// Not the ACS3 scheme at all.
    NotAcs3,
    /// A part given twice, or a part the scheme does not have.
    Malformed,
    /// A part is missing.
    Missing(&'static str),
}

/// Splits the `Authorization` header. Parts may come in any order, with spaces after commas;
/// a part the scheme does not have, or one given twice, makes the header malformed (two
/// headers joined by a proxy's `,` would otherwise pass on the strength of the second while
/// the first is what a service reads).
pub fn parse_authorization(header: &str) -> Result<Authorization<'_>, AuthorizationError> {
    let (credential, signed_headers, signature) = authorization_parts(header, ALGORITHM)
        .ok_or(AuthorizationError::NotAcs3)?
        .map_err(AuthorizationError::Missing)?;
    let mut seen = [false; 3];
    for part in header[ALGORITHM.len()..].split(',') {
        let slot = match part.trim().split_once('=').map(|(name, _)| name) {
            Some("Credential") => 0,
            Some("SignedHeaders") => 1,
            Some("Signature") => 2,
            _ => return Err(AuthorizationError::Malformed),
        };
        if std::mem::replace(&mut seen[slot], true) {
            return Err(AuthorizationError::Malformed);
        }
    }
    Ok(Authorization {
        credential,
        signed_headers,
        signature,
    })
}

/// Lower-case hex SHA-256 of the body, as `x-acs-content-sha256` must carry it.
pub fn content_sha256(body: &[u8]) -> String {
    hex(&crate::digest::sha256(body))
}

/// The canonical request. `query` holds decoded parameters; `headers` yields the value of each
/// signed header name (several values of one name joined by `,`).
pub fn canonical_request<'a>(
    method: &str,
    path: &str,
    query: impl Iterator<Item = (&'a str, &'a str)>,
    signed_headers: &str,
    header_value: impl Fn(&str) -> String,
    content_sha256: &str,
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(method);
    out.push('\n');
    out.push_str(if path.is_empty() { "/" } else { path });
    out.push('\n');
    canonical_pairs_into(query, &mut out);
    out.push('\n');
    for name in signed_headers.split(';') {
        out.push_str(name);
        out.push(':');
        out.push_str(header_value(name).trim());
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    out.push_str(content_sha256);
    out
}

/// `ACS3-HMAC-SHA256\n` + hex(SHA-256(canonical request)): what the MAC covers.
pub fn string_to_sign(canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{}",
        hex(&crate::digest::sha256(canonical_request.as_bytes()))
    )
}

/// Lower-case hex HMAC-SHA256(secret, string to sign), as a client signs (native builds only).
#[cfg(not(target_arch = "wasm32"))]
pub fn signature(secret: &str, canonical_request: &str) -> String {
    let message = string_to_sign(canonical_request);
    hex(&super::keyed::mac(
        secret,
        super::Signing::Acs3,
        message.as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alibaba_published_v3_vector() {
        let headers = [
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            (
                "x-acs-content-sha256",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            ("x-acs-date", "2023-10-26T10:22:32Z"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("x-acs-version", "2014-05-26"),
        ];
        let signed =
            "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version";
        let canonical = canonical_request(
            "POST",
            "/",
            [
                ("RegionId", "cn-shanghai"),
                (
                    "ImageId",
                    "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
                ),
            ]
            .into_iter(),
            signed,
            |name| {
                headers
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
                    .unwrap_or_default()
            },
            &content_sha256(b""),
        );
        assert_eq!(
            signature("YourAccessKeySecret", &canonical),
            "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    #[test]
    fn authorization_parts_parse_in_any_order() {
        let parsed = parse_authorization(
            "ACS3-HMAC-SHA256 SignedHeaders=host;x-acs-date, Signature=ab, Credential=AK",
        );
        assert_eq!(
            parsed,
            Ok(Authorization {
                credential: "AK",
                signed_headers: "host;x-acs-date",
                signature: "ab"
            })
        );
        assert_eq!(
            parse_authorization("ACS3-HMAC-SHA256 Credential=AK,Signature=ab"),
            Err(AuthorizationError::Missing("SignedHeaders"))
        );
        assert_eq!(
            parse_authorization("AWS4-HMAC-SHA256 Credential=x"),
            Err(AuthorizationError::NotAcs3)
        );
        // Two headers joined by a proxy, a part given twice, a part of another scheme.
        for malformed in [
            "ACS3-HMAC-SHA256 Credential=AK,ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=ab",
            "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=ab,Signature=cd",
            "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=ab,Region=x",
        ] {
            assert_eq!(
                parse_authorization(malformed),
                Err(AuthorizationError::Malformed),
                "{malformed}"
            );
        }
    }
}
