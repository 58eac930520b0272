//! Percent-decoding and form-encoded parameters (query strings and form bodies).

use crate::check::assert_vendor_error;
use taskgate_filter::fuzzing::{
    DecodeError, Source, canonical_pairs_into, form_decode, parameters, pop_encode_into,
    pop_encode_twice_into,
};
use taskgate_filter::{Dialect, Request};

/// `percent_decode` target, on the input as text: decoding borrows exactly when there is
/// nothing to decode, and refuses a stray `%` only where one is; anything decoded, encoded
/// Alibaba's way, decodes back to itself; the one-pass double encoding equals encoding twice.
pub fn percent_decode(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let encoded = encode(&text);
    assert!(
        encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)),
        "{encoded:?}"
    );
    assert_eq!(form_decode(&encoded).as_deref(), Ok(&*text), "{text:?}");

    let mut twice = String::new();
    pop_encode_twice_into(&text, &mut twice);
    assert_eq!(twice, encode(&encoded), "{text:?}");

    match form_decode(&text) {
        Ok(decoded) => {
            if !text.contains(['%', '+']) {
                assert_eq!(decoded, text);
            }
            assert_eq!(form_decode(&encode(&decoded)).as_deref(), Ok(&*decoded));
        }
        Err(DecodeError::BadEscape) => assert!(has_bad_escape(&text), "{text:?}"),
        Err(DecodeError::NotUtf8) => assert!(!has_bad_escape(&text), "{text:?}"),
    }
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    pop_encode_into(text, &mut out);
    out
}

/// A `%` not followed by two hex digits, reading escapes left to right.
fn has_bad_escape(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return true;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    false
}

/// `form_params` target. The input is `<query>\n<form body>`: the parameters of a request
/// with that query and body come back sorted with each name once, each from where it was;
/// written out again in the canonical form that signatures use they read back the same; a
/// refusal is an Alibaba error.
pub fn form_params(data: &[u8]) {
    let (query, body) = match data.iter().position(|&b| b == b'\n') {
        Some(end) => (&data[..end], &data[end + 1..]),
        None => (data, &[][..]),
    };
    let request = Request {
        method: "POST".to_owned(),
        path_with_query: format!("/?{}", String::from_utf8_lossy(query)),
        headers: vec![(
            "Content-Type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        )],
        body: body.to_vec(),
        ..Request::default()
    };
    let params = match parameters(&request) {
        Ok(params) => params,
        Err(response) => {
            assert_eq!(response.status, 400, "{response:?}");
            return assert_vendor_error(Dialect::Fnf, &response);
        }
    };
    assert!(
        params.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "not sorted, or a name twice: {params:?}"
    );
    if body.is_empty() {
        assert!(params.iter().all(|(_, _, source)| *source == Source::Query));
    }

    let mut canonical = String::new();
    canonical_pairs_into(
        params.iter().map(|(n, v, _)| (n.as_str(), v.as_str())),
        &mut canonical,
    );
    let again = Request {
        body: canonical.clone().into_bytes(),
        path_with_query: "/".to_owned(),
        ..request
    };
    let reread = match parameters(&again) {
        Ok(params) => params,
        Err(response) => panic!("the canonical form {canonical:?} does not parse: {response:?}"),
    };
    let pairs = |params: &[(String, String, Source)]| -> Vec<(String, String)> {
        params
            .iter()
            .map(|(n, v, _)| (n.clone(), v.clone()))
            .collect()
    };
    assert_eq!(pairs(&params), pairs(&reread), "{canonical:?}");
}
