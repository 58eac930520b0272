//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`), carried in the `Authorization` header, as AWS
//! SDKs sign calls to Step Functions and other JSON services.
//!
//! CanonicalRequest = METHOD `\n` canonical URI `\n` canonical query `\n` canonical headers `\n`
//! signed header names `\n` hex SHA-256 of the body; StringToSign = `AWS4-HMAC-SHA256\n` +
//! `X-Amz-Date` `\n` credential scope `\n` hex SHA-256 of the canonical request; the signing key
//! is derived from the secret through the date, region and service of the scope, so a leaked
//! signing key is good for one day, region and service only.
//!
//! The canonical URI follows botocore (and the other SDKs) for every service but S3: dot
//! segments and empty segments are removed and the path as sent is encoded once more. The
//! canonical query is rebuilt from the raw query by decoding and re-encoding each name and
//! value, so two encodings of the same parameter (`~` and `%7E`, `%2f` and `%2F`) sign alike.

use crate::percent::{self, pop_encode_into};
use crate::sign::hex;
use crate::time::{format_timestamp, parse_timestamp};

/// The algorithm name at the start of the `Authorization` header and of the string to sign.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The last part of every SigV4 credential scope, and the last step of the key derivation.
pub const TERMINATOR: &str = "aws4_request";

/// The credential scope of a signature.
pub use super::Scope;

/// The parts of
/// `Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240102/us-east-1/states/aws4_request,
/// SignedHeaders=a;b, Signature=hex`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authorization<'a> {
    /// The access key id, the first part of the credential.
    pub access_key_id: &'a str,
    /// The scope's date, `yyyymmdd` (eight ASCII digits, not checked to be a real day).
    pub date: &'a str,
    /// The scope's region, such as `us-east-1`.
    pub region: &'a str,
    /// The scope's service, such as `states`.
    pub service: &'a str,
    /// Lower-case header names, `;`-separated, as sent.
    pub signed_headers: &'a str,
    /// Lower-case hex signature, as sent.
    pub signature: &'a str,
}

/// Why the `Authorization` header is not a usable SigV4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationError {
    /// Not the `AWS4-HMAC-SHA256` scheme at all.
    NotSigV4,
    /// A part is missing or empty: `"Credential"`, `"SignedHeaders"` or `"Signature"`.
    Missing(&'static str),
    /// The credential is not five non-empty `/`-separated parts ending in `aws4_request`, or
    /// its date is not eight digits.
    BadCredential,
}

impl<'a> Authorization<'a> {
    /// The credential scope: what the signing key was derived for.
    pub fn scope(&self) -> Scope<'a> {
        Scope {
            date: self.date,
            region: self.region,
            service: self.service,
        }
    }
}

/// Splits the `Authorization` header. Parts may come in any order, with spaces after commas.
pub fn parse_authorization(header: &str) -> Result<Authorization<'_>, AuthorizationError> {
    let (credential, signed_headers, signature) = super::authorization_parts(header, ALGORITHM)
        .ok_or(AuthorizationError::NotSigV4)?
        .map_err(AuthorizationError::Missing)?;

    let mut parts = credential.split('/');
    let (Some(access_key_id), Some(date), Some(region), Some(service), Some(TERMINATOR), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(AuthorizationError::BadCredential);
    };
    let date_ok = date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit());
    if !date_ok || access_key_id.is_empty() || region.is_empty() || service.is_empty() {
        return Err(AuthorizationError::BadCredential);
    }
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// Parses the compact ISO 8601 form of `X-Amz-Date`, `20240102T030405Z`, into seconds since the
/// Unix epoch; `None` for anything else, including impossible dates and years before 1970.
pub fn parse_amz_date(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let well_formed = bytes.len() == 16
        && bytes.iter().enumerate().all(|(i, &b)| match i {
            8 => b == b'T',
            15 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    if !well_formed {
        return None;
    }
    // Only ASCII from here on, so every slice below is on character boundaries. Spelled out in
    // the extended form so the calendar checks live in one place.
    let extended = format!(
        "{}-{}-{}T{}:{}:{}Z",
        text.get(0..4)?,
        text.get(4..6)?,
        text.get(6..8)?,
        text.get(9..11)?,
        text.get(11..13)?,
        text.get(13..15)?
    );
    parse_timestamp(&extended)
}

/// Formats seconds since the Unix epoch in the compact form of `X-Amz-Date`,
/// `20240102T030405Z`.
pub fn format_amz_date(seconds: u64) -> String {
    format_timestamp(seconds).replace(['-', ':'], "")
}

/// The canonical request. `path` is the path as sent (still percent-encoded), `query` the raw
/// query string (without `?`, may be empty), `signed_headers` the `;`-separated lower-case names
/// as sent, `header_value(name)` gives every value of that header (the caller joins repeats
/// with `,`), `payload_hash` the lower-case hex SHA-256 of the body.
pub fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    signed_headers: &str,
    header_value: impl Fn(&str) -> String,
    payload_hash: &str,
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(method);
    out.push('\n');
    canonical_uri_into(path, &mut out);
    out.push('\n');
    canonical_query_into(query, &mut out);
    out.push('\n');
    for name in signed_headers.split(';') {
        out.push_str(name);
        out.push(':');
        trim_all_into(&header_value(name), &mut out);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    out.push_str(payload_hash);
    out
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&crate::digest::sha256(bytes))
}

/// `AWS4-HMAC-SHA256\n` + `X-Amz-Date` (as sent) + `\n` + the credential scope + `\n` + hex
/// SHA-256 of the canonical request: what the MAC covers.
pub fn string_to_sign(amz_date: &str, scope: Scope<'_>, canonical_request: &str) -> String {
    let Scope {
        date,
        region,
        service,
    } = scope;
    format!(
        "{ALGORITHM}\n{amz_date}\n{date}/{region}/{service}/{TERMINATOR}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The lower-case hex signature of a canonical request: HMAC-SHA256 with the key derived from
/// `secret` for the scope, over the string to sign built from `amz_date` (the `X-Amz-Date` value
/// as sent), as a client signs (native builds only).
#[cfg(not(target_arch = "wasm32"))]
pub fn signature(
    secret: &str,
    amz_date: &str,
    scope: Scope<'_>,
    canonical_request: &str,
) -> String {
    let message = string_to_sign(amz_date, scope, canonical_request);
    hex(&super::keyed::mac(
        secret,
        super::Signing::SigV4(scope),
        message.as_bytes(),
    ))
}

/// Appends the canonical URI as botocore builds it for every service but S3: an empty path is
/// `/`; empty and `.` segments are dropped and `..` drops the segment before it (RFC 3986 §5.2.4
/// plus AWS's collapsing of repeated slashes); the leading slash, and a trailing one if any
/// segment is left, are kept; each segment is URI-encoded again, so `%20` as sent is `%2520`.
fn canonical_uri_into(path: &str, out: &mut String) {
    if path.is_empty() {
        out.push('/');
        return;
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    if path.starts_with('/') {
        out.push('/');
    }
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        pop_encode_into(segment, out);
    }
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
}

/// Appends the canonical query: each `&`-separated piece split at its first `=` (a bare name
/// has an empty value), name and value decoded and re-encoded, the pairs sorted by encoded name
/// and then encoded value, joined by `&`. Empty pieces (`a=1&&b=2`, a trailing `&`) carry no
/// parameter and are skipped, as the Rust, Go and Java SDKs' query parsers skip them.
fn canonical_query_into(query: &str, out: &mut String) {
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            (reencode(name), reencode(value))
        })
        .collect();
    // Encoded text is ASCII, so this is the byte order AWS sorts in.
    let mut pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    percent::sort_pairs(&mut pairs);
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
}

/// AWS's UriEncode of the decoded `text`, in one pass over the bytes: a valid `%XX` stands for
/// its byte, anything else for itself; unreserved bytes (`A-Z a-z 0-9 - _ . ~`) are written
/// as they are and every other byte as `%XX` with upper-case hex.
///
/// Works on bytes rather than through `percent::form_decode` and `pop_encode_into` for two
/// reasons: `+` must stay a literal plus (SigV4 clients write a space as `%20`), and escapes
/// need not decode to UTF-8; decoding lossily would let two different queries sign alike. A `%`
/// without two hex digits is taken literally (`%25`), which is how a lenient client sent it.
fn reencode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = if b == b'%' {
            bytes
                .get(i + 1)
                .and_then(|&hi| percent::hex_value(hi))
                .zip(bytes.get(i + 2).and_then(|&lo| percent::hex_value(lo)))
                .map(|(hi, lo)| hi << 4 | lo)
        } else {
            None
        };
        let byte = escaped.unwrap_or(b);
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            percent::push_escape(byte, &mut out);
        }
        i += if escaped.is_some() { 3 } else { 1 };
    }
    out
}

/// Appends a header value as SigV4 signs it: trimmed, with every run of inner spaces written
/// as one space.
fn trim_all_into(value: &str, out: &mut String) {
    for (i, word) in value
        .trim()
        .split(' ')
        .filter(|word| !word.is_empty())
        .enumerate()
    {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of AWS's SigV4 test suite and documentation examples.
    const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// Signs like a client would: canonical request over `headers`, scope date taken from the
    /// `x-amz-date` header.
    fn sign(
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        signed_headers: &str,
        body: &[u8],
        service: &str,
    ) -> (String, String) {
        let value = |name: &str| -> String {
            headers
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .collect::<Vec<_>>()
                .join(",")
        };
        let amz_date = value("x-amz-date");
        let canonical = canonical_request(
            method,
            path,
            query,
            signed_headers,
            value,
            &sha256_hex(body),
        );
        let date = amz_date.get(..8).unwrap_or_default();
        let scope = Scope {
            date,
            region: "us-east-1",
            service,
        };
        let sig = signature(SECRET, &amz_date, scope, &canonical);
        (canonical, sig)
    }

    const TEST_SUITE_HEADERS: [(&str, &str); 2] = [
        ("host", "example.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
    ];

    #[test]
    fn aws_test_suite_get_vanilla() {
        let (canonical, sig) = sign(
            "GET",
            "/",
            "",
            &TEST_SUITE_HEADERS,
            "host;x-amz-date",
            b"",
            "service",
        );
        assert_eq!(
            canonical,
            format!(
                "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                 host;x-amz-date\n{EMPTY_SHA256}"
            )
        );
        assert_eq!(
            sig,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn step_functions_send_task_failure() {
        let headers = [
            ("content-type", "application/x-amz-json-1.0"),
            ("host", "states.us-east-1.amazonaws.com"),
            ("x-amz-date", "20240102T030405Z"),
            ("x-amz-target", "AWSStepFunctions.SendTaskFailure"),
        ];
        let (_, sig) = sign(
            "POST",
            "/",
            "",
            &headers,
            "content-type;host;x-amz-date;x-amz-target",
            br#"{"taskToken": "tok-123", "error": "ErrX", "cause": "some cause"}"#,
            "states",
        );
        assert_eq!(
            sig,
            "898b3b55d6df4aaadc747983790571b86cf24adf57050a7e817067ec306adf52"
        );
    }

    // The expected signatures below were computed with botocore 1.43.11's `SigV4Auth`
    // (canonical_request, string_to_sign and signature, with the same key, region us-east-1,
    // service `service` and timestamp 20150830T123600Z). The first two are also the published
    // results of AWS's test suite cases of the same name.

    #[test]
    fn aws_test_suite_get_vanilla_query_order_key_case() {
        let (canonical, sig) = sign(
            "GET",
            "/",
            "Param2=value2&Param1=value1",
            &TEST_SUITE_HEADERS,
            "host;x-amz-date",
            b"",
            "service",
        );
        assert!(canonical.starts_with("GET\n/\nParam1=value1&Param2=value2\n"));
        assert_eq!(
            sig,
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
    }

    #[test]
    fn aws_test_suite_get_header_value_trim() {
        let headers = [
            ("host", "example.amazonaws.com"),
            ("my-header1", " value1"),
            ("my-header2", " \"a   b   c\"  "),
            ("x-amz-date", "20150830T123600Z"),
        ];
        let (canonical, sig) = sign(
            "GET",
            "/",
            "",
            &headers,
            "host;my-header1;my-header2;x-amz-date",
            b"",
            "service",
        );
        assert!(canonical.contains("\nmy-header1:value1\nmy-header2:\"a b c\"\n"));
        assert_eq!(
            sig,
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"
        );
    }

    #[test]
    fn query_is_decoded_and_reencoded_as_botocore_signs_it() {
        // botocore was given the decoded parameters; here they arrive encoded the way a less
        // careful client might: lower-case hex, an escaped `~`, a bare name, a literal `+`.
        let (canonical, sig) = sign(
            "GET",
            "/",
            "b=x%2fy&a=caf%c3%a9&a=%7Ehome&c&d=1+2&e=%20&A=upper",
            &TEST_SUITE_HEADERS,
            "host;x-amz-date",
            b"",
            "service",
        );
        assert!(
            canonical.starts_with("GET\n/\nA=upper&a=caf%C3%A9&a=~home&b=x%2Fy&c=&d=1%2B2&e=%20\n")
        );
        assert_eq!(
            sig,
            "b6591a7e44e98ea4b622445fc9fb4e3cafec31904daf7e572eec5805aafab2f5"
        );
    }

    #[test]
    fn path_is_normalized_and_encoded_twice_as_botocore_signs_it() {
        let (canonical, sig) = sign(
            "GET",
            "/foo%20bar//./baz/../qux~*/",
            "",
            &TEST_SUITE_HEADERS,
            "host;x-amz-date",
            b"",
            "service",
        );
        assert!(canonical.starts_with("GET\n/foo%2520bar/qux~%2A/\n\n"));
        assert_eq!(
            sig,
            "3ea19a92235a99ea843adcb4c5bd56bef707091728e1b8fd0ab6d9e0f2e8263f"
        );
    }

    #[test]
    fn canonical_uri_edge_cases() {
        for (path, expected) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/../../a", "/a"),
            ("//example//", "/example/"),
            ("/é", "/%C3%A9"),
        ] {
            let mut out = String::new();
            canonical_uri_into(path, &mut out);
            assert_eq!(out, expected, "{path:?}");
        }
    }

    #[test]
    fn canonical_query_edge_cases() {
        for (query, expected) in [
            ("", ""),
            ("&&", ""),
            ("a=1&", "a=1"),
            ("a=b=c", "a=b%3Dc"),
            ("=v", "=v"),
            // Sorted by name first: `a` before `a-b` although `a=` sorts after `a-`.
            ("a-b=1&a=2", "a=2&a-b=1"),
            ("k=2&k=10&k=1", "k=1&k=10&k=2"),
            // Not UTF-8 once decoded: kept byte for byte, never replaced.
            ("k=%FF%fe", "k=%FF%FE"),
            // A `%` without two hex digits is a literal percent sign.
            ("k=%zz&j=%4&i=%", "i=%25&j=%254&k=%25zz"),
            ("k=a b*é", "k=a%20b%2A%C3%A9"),
            ("k=%41%2D%5F%2E%7E", "k=A-_.~"),
        ] {
            let mut out = String::new();
            canonical_query_into(query, &mut out);
            assert_eq!(out, expected, "{query:?}");
        }
    }

    #[test]
    fn authorization_parses_with_spaces_after_commas() {
        assert_eq!(
            parse_authorization(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-east-1/states/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=abc123"
            ),
            Ok(Authorization {
                access_key_id: ACCESS_KEY_ID,
                date: "20240102",
                region: "us-east-1",
                service: "states",
                signed_headers: "host;x-amz-date",
                signature: "abc123",
            })
        );
    }

    #[test]
    fn authorization_parts_parse_in_any_order() {
        let parsed = parse_authorization(
            "AWS4-HMAC-SHA256 Signature=ff,SignedHeaders=host,\
             Credential=AK/20150830/eu-west-1/service/aws4_request",
        );
        assert_eq!(
            parsed,
            Ok(Authorization {
                access_key_id: "AK",
                date: "20150830",
                region: "eu-west-1",
                service: "service",
                signed_headers: "host",
                signature: "ff",
            })
        );
    }

    #[test]
    fn each_missing_authorization_part_is_named() {
        const CREDENTIAL: &str = "Credential=AK/20150830/us-east-1/states/aws4_request";
        for (header, missing) in [
            (
                "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=ff".to_owned(),
                "Credential",
            ),
            (
                format!("AWS4-HMAC-SHA256 {CREDENTIAL}, Signature=ff"),
                "SignedHeaders",
            ),
            (
                format!("AWS4-HMAC-SHA256 {CREDENTIAL}, SignedHeaders=host"),
                "Signature",
            ),
            (
                format!("AWS4-HMAC-SHA256 {CREDENTIAL}, SignedHeaders=host, Signature="),
                "Signature",
            ),
        ] {
            assert_eq!(
                parse_authorization(&header),
                Err(AuthorizationError::Missing(missing)),
                "{header}"
            );
        }
    }

    #[test]
    fn a_bad_credential_scope_is_rejected() {
        for credential in [
            "AK/20150830/us-east-1/states",
            "AK/20150830/us-east-1/states/aws4_request/x",
            "AK/20150830/us-east-1/states/aws4_request/",
            "AK/20150830/us-east-1/states/aws5_request",
            "/20150830/us-east-1/states/aws4_request",
            "AK/20150830//states/aws4_request",
            "AK/20150830/us-east-1//aws4_request",
            "AK/2015083/us-east-1/states/aws4_request",
            "AK/2015-08-30/us-east-1/states/aws4_request",
            "AK/2015083x/us-east-1/states/aws4_request",
            "AK/２0150830/us-east-1/states/aws4_request",
            "AK",
        ] {
            let header = format!(
                "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, Signature=ff"
            );
            assert_eq!(
                parse_authorization(&header),
                Err(AuthorizationError::BadCredential),
                "{credential}"
            );
        }
    }

    #[test]
    fn other_schemes_are_not_sigv4() {
        for header in [
            "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=ff",
            "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA256Credential=AK/20150830/us-east-1/states/aws4_request",
            "AWS4-HMAC-SHA512 Credential=AK/20150830/us-east-1/states/aws4_request",
            "",
        ] {
            assert_eq!(
                parse_authorization(header),
                Err(AuthorizationError::NotSigV4),
                "{header}"
            );
        }
    }

    #[test]
    fn amz_dates_parse_and_format() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20240102T030405Z"), Some(1_704_164_645));
        assert_eq!(format_amz_date(1_704_164_645), "20240102T030405Z");
        for seconds in [
            0,
            1_440_938_160,
            1_704_164_645,
            1_709_251_199,
            4_102_444_800,
        ] {
            assert_eq!(parse_amz_date(&format_amz_date(seconds)), Some(seconds));
        }
    }

    #[test]
    fn other_date_forms_do_not_parse() {
        for text in [
            "2024-01-02T03:04:05Z",
            "20241302T000000Z",
            "20230229T000000Z",
            "20240102T240000Z",
            "20240102T030405",
            "20240102 030405Z",
            "20240102T030405z",
            "20240102T030405.000Z",
            "19691231T235959Z",
            "２0240102T030405Z",
            "2024010T0304050Z",
            "+0240102T030405Z",
            "",
        ] {
            assert_eq!(parse_amz_date(text), None, "{text}");
        }
    }
}
