//! Percent-encoding both ways: decoding `application/x-www-form-urlencoded` text (query strings
//! and form bodies), and the strict encoding Alibaba's signatures are computed over.

use std::borrow::Cow;

/// Why a form-encoded piece could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

/// Decodes one form-encoded name or value: `+` is a space, `%XX` a byte, the result UTF-8.
/// Borrows when there is nothing to decode (the usual case: SDKs encode only what they must).
///
/// Strict on purpose: a stray `%` means the client encoded wrongly, and the signature it
/// computed over its own idea of the value could never be checked reliably.
pub fn form_decode(text: &str) -> Result<Cow<'_, str>, DecodeError> {
    if !text.bytes().any(|b| b == b'+' || b == b'%') {
        return Ok(Cow::Borrowed(text));
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|b| hex_value(*b));
                let lo = bytes.get(i + 2).and_then(|b| hex_value(*b));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(DecodeError::BadEscape),
                }
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| DecodeError::NotUtf8)
}

/// The value of one hex digit, either case.
pub fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Writes `%XX` for `byte`, upper-case hex (as both Alibaba's percentEncode and SigV4 write it).
pub fn push_escape(byte: u8, out: &mut String) {
    out.push('%');
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0xf)]));
}

/// `A-Z a-z 0-9 - _ . ~`: the only bytes Alibaba's `percentEncode` leaves alone.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Appends `text` with every byte but the unreserved ones written as `prefix` followed by the
/// byte's two upper-case hex digits. Unreserved runs are copied whole: this is the signature
/// check's hottest loop, and most of a request is unreserved.
fn encode_into(text: &str, prefix: &str, out: &mut String) {
    let bytes = text.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if unreserved(b) {
            continue;
        }
        // A non-empty `run..i` holds only ASCII, so both of its ends are character boundaries
        // (an empty one may sit inside a character being encoded byte by byte).
        if run < i {
            out.push_str(text.get(run..i).unwrap_or_default());
        }
        out.push_str(prefix);
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
        run = i + 1;
    }
    // Past the last encoded byte: the end of the text, or an unreserved (ASCII) byte.
    out.push_str(text.get(run..).unwrap_or_default());
}

/// Alibaba's `percentEncode`: every byte of the UTF-8 text except `A-Z a-z 0-9 - _ . ~` becomes
/// `%XX` with upper-case hex, so a space is `%20` and `*` is `%2A`. Appends to `out`.
pub fn pop_encode_into(text: &str, out: &mut String) {
    encode_into(text, "%", out);
}

/// `percentEncode(percentEncode(text))` in one pass, as RPC signatures need it: the first pass
/// leaves unreserved bytes and turns the rest into `%XX`; the second turns that `%` into `%25`
/// and leaves the hex digits.
pub fn pop_encode_twice_into(text: &str, out: &mut String) {
    encode_into(text, "%25", out);
}

/// The canonical form both Alibaba signatures use: `pairs` sorted by name, each written as
/// `percentEncode(name)=percentEncode(value)`, joined by `&`. Appends to `out`.
pub fn canonical_pairs_into<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>, out: &mut String) {
    write_sorted_pairs(pairs, pop_encode_into, ("=", "&"), out);
}

/// `percentEncode(canonical form of pairs)` in one pass (`=` is `%3D`, `&` is `%26`): the RPC
/// string to sign without building the canonical form first.
pub fn canonical_pairs_encoded_into<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
    out: &mut String,
) {
    write_sorted_pairs(pairs, pop_encode_twice_into, ("%3D", "%26"), out);
}

/// Sorts pairs by name, then value, in byte order. Every sort of text in the filter goes
/// through this one function: each instantiation of the standard sort costs the component
/// kilobytes of code.
pub fn sort_pairs(pairs: &mut [(&str, &str)]) {
    pairs.sort_unstable();
}

/// `pairs` sorted, each as `encode(name)` `equals` `encode(value)`, joined by `and`.
fn write_sorted_pairs<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
    encode: fn(&str, &mut String),
    (equals, and): (&str, &str),
    out: &mut String,
) {
    let mut sorted: Vec<(&str, &str)> = pairs.collect();
    sort_pairs(&mut sorted);
    for (i, (name, value)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push_str(and);
        }
        encode(name, out);
        out.push_str(equals);
        encode(value, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_and_percent_twenty_both_decode_to_a_space() {
        assert_eq!(form_decode("a+b%20c").as_deref(), Ok("a b c"));
    }

    #[test]
    fn multibyte_utf8_escapes_decode() {
        assert_eq!(
            form_decode("caf%C3%A9%F0%9F%98%80").as_deref(),
            Ok("café😀")
        );
    }

    #[test]
    fn a_truncated_escape_is_an_error() {
        assert_eq!(form_decode("abc%4"), Err(DecodeError::BadEscape));
        assert_eq!(form_decode("abc%zz"), Err(DecodeError::BadEscape));
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert_eq!(form_decode("%FF"), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn pop_encoding_keeps_only_unreserved_characters() {
        let mut out = String::new();
        pop_encode_into("a b*c~d/é", &mut out);
        assert_eq!(out, "a%20b%2Ac~d%2F%C3%A9");
    }

    #[test]
    fn encoding_twice_in_one_pass_equals_encoding_twice() {
        for text in ["", "plain", "a b*c~d/é", "%41+&=", "😀x", "--__..~~"] {
            let mut once = String::new();
            pop_encode_into(text, &mut once);
            let mut twice = String::new();
            pop_encode_into(&once, &mut twice);
            let mut fused = String::new();
            pop_encode_twice_into(text, &mut fused);
            assert_eq!(fused, twice, "{text:?}");
        }
    }

    #[test]
    fn the_encoded_canonical_form_is_the_canonical_form_encoded() {
        let pairs = [("b", "2 3"), ("a", "x&y=z"), ("Signature", "é")];
        let mut canonical = String::new();
        canonical_pairs_into(pairs.iter().copied(), &mut canonical);
        let mut expected = String::new();
        pop_encode_into(&canonical, &mut expected);
        let mut fused = String::new();
        canonical_pairs_encoded_into(pairs.iter().copied(), &mut fused);
        assert_eq!(fused, expected);
    }
}
