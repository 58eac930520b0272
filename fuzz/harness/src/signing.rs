//! The signature schemes' own parsers: RPC v1's parameters and `Timestamp`, ACS3's and SigV4's
//! `Authorization` headers and dates, and the canonical forms built from what the caller sent.

use taskgate_filter::sign::{acs3, rpc_v1, sigv4};
use taskgate_filter::{format_timestamp, parse_timestamp};

/// Splits fuzz bytes into lines of text (lossily decoded).
fn lines(data: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(data)
        .split('\n')
        .map(str::to_owned)
        .collect()
}

/// `rpc_v1` target. The input is lines: a method, then `name=value` parameters (as decoded
/// values; the first `=` splits). The string to sign starts with the method and `&%2F&`, is
/// plain ASCII after it, does not depend on the parameters' order or on `Signature`, and
/// signs to Base64 of 20 bytes. Each value is also read as a `Timestamp`: one that parses is
/// written back exactly as sent; and a time picked by the input is formatted and parsed back.
pub fn rpc_v1(data: &[u8]) {
    let lines = lines(data);
    let Some((method, rest)) = lines.split_first() else {
        return;
    };
    let params: Vec<(&str, &str)> = rest
        .iter()
        .map(|line| line.split_once('=').unwrap_or((line.as_str(), "")))
        .collect();
    let string_to_sign = rpc_v1::string_to_sign(method, params.iter().copied());
    let prefix = format!("{method}&%2F&");
    assert!(string_to_sign.starts_with(&prefix), "{string_to_sign:?}");
    let canonical = &string_to_sign[prefix.len()..];
    assert!(
        canonical
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)),
        "{canonical:?}"
    );
    assert_eq!(
        rpc_v1::string_to_sign(method, params.iter().rev().copied()),
        string_to_sign,
        "the order of the parameters changed the string to sign"
    );
    let mut signed = params.clone();
    signed.push(("Signature", "anything"));
    assert_eq!(
        rpc_v1::string_to_sign(method, signed.into_iter()),
        string_to_sign,
        "Signature was signed"
    );
    let signature = rpc_v1::signature("secret", &string_to_sign);
    assert!(
        signature.len() == 28 && signature.ends_with('='),
        "{signature:?}"
    );

    for (_, value) in &params {
        timestamp(value);
    }
    time_round_trip(data);
}

/// A timestamp that parses formats back to the same text.
fn timestamp(text: &str) {
    if let Some(seconds) = parse_timestamp(text) {
        assert_eq!(format_timestamp(seconds), text);
    }
}

/// Formatting a time of the next 8000 years (picked by the input) and parsing it again is the
/// identity.
fn time_round_trip(data: &[u8]) {
    let seconds = data.iter().fold(0u64, |acc, &b| {
        acc.wrapping_mul(31).wrapping_add(u64::from(b))
    }) % 253_402_300_800;
    assert_eq!(
        parse_timestamp(&format_timestamp(seconds)),
        Some(seconds),
        "{seconds}"
    );
}

/// `acs3` target. The first line is an `Authorization` header: when it parses, its parts are
/// non-empty and the header written again from them parses to the same parts. The second is
/// an `x-acs-date` (see [`rpc_v1`] for timestamps); the rest are the signed header names and
/// a path, whose canonical request is deterministic and names the method first.
pub fn acs3(data: &[u8]) {
    let lines = lines(data);
    let line = |i: usize| lines.get(i).map_or("", String::as_str);
    let header = line(0);
    match acs3::parse_authorization(header) {
        Ok(auth) => {
            assert!(header.starts_with("ACS3-HMAC-SHA256 "));
            assert!(
                !auth.credential.is_empty()
                    && !auth.signed_headers.is_empty()
                    && !auth.signature.is_empty()
            );
            let again = format!(
                "ACS3-HMAC-SHA256 Signature={}, Credential={},SignedHeaders={}",
                auth.signature, auth.credential, auth.signed_headers
            );
            assert_eq!(acs3::parse_authorization(&again), Ok(auth), "{again:?}");
        }
        Err(acs3::AuthorizationError::NotAcs3) => {
            assert!(!header.starts_with("ACS3-HMAC-SHA256 "), "{header:?}");
        }
        Err(acs3::AuthorizationError::Missing(_) | acs3::AuthorizationError::Malformed) => {}
    }
    timestamp(line(1));
    time_round_trip(data);

    let (signed_headers, path) = (line(2), line(3));
    let canonical = |query: &[(&str, &str)]| {
        acs3::canonical_request(
            "POST",
            path,
            query.iter().copied(),
            signed_headers,
            |name| format!(" {name} "),
            &acs3::content_sha256(data),
        )
    };
    let query = [("b", line(1)), ("a", header)];
    let first = canonical(&query);
    assert!(first.starts_with("POST\n"));
    assert_eq!(first, canonical(&[query[1], query[0]]), "query order");
}

/// `sigv4` target. The first line is an `Authorization` header: when it parses, the access key,
/// region and service are non-empty and free of `/`, the date is eight digits, and the header
/// written again from its parts parses to the same. The second is an `X-Amz-Date`: one that
/// parses is written back exactly as sent. The third is a raw query string: its canonical form
/// is already canonical.
pub fn sigv4(data: &[u8]) {
    let lines = lines(data);
    let line = |i: usize| lines.get(i).map_or("", String::as_str);
    let header = line(0);
    match sigv4::parse_authorization(header) {
        Ok(auth) => {
            for part in [auth.access_key_id, auth.region, auth.service] {
                assert!(!part.is_empty() && !part.contains('/'), "{auth:?}");
            }
            assert!(auth.date.len() == 8 && auth.date.bytes().all(|b| b.is_ascii_digit()));
            let again = format!(
                "AWS4-HMAC-SHA256 SignedHeaders={},Signature={}, Credential={}/{}/{}/{}/aws4_request",
                auth.signed_headers,
                auth.signature,
                auth.access_key_id,
                auth.date,
                auth.region,
                auth.service
            );
            assert_eq!(sigv4::parse_authorization(&again), Ok(auth), "{again:?}");
        }
        Err(sigv4::AuthorizationError::NotSigV4) => {
            assert!(!header.starts_with("AWS4-HMAC-SHA256 "), "{header:?}");
        }
        Err(_) => {}
    }

    let amz_date = line(1);
    if let Some(seconds) = sigv4::parse_amz_date(amz_date) {
        assert_eq!(sigv4::format_amz_date(seconds), amz_date);
    }

    let canonical_query = |query: &str| -> String {
        let request = sigv4::canonical_request("POST", "/", query, "host", |_| String::new(), "");
        request.split('\n').nth(2).unwrap_or_default().to_owned()
    };
    let once = canonical_query(line(2));
    assert!(
        once.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~%=&".contains(&b)),
        "{once:?}"
    );
    assert_eq!(canonical_query(&once), once, "canonicalising twice");
}
