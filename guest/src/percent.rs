//! Percent-encoding both ways: decoding `application/x-www-form-urlencoded` text (query strings
//! and form bodies), and the strict encoding Alibaba's signatures are computed over.

/// Why a form-encoded piece could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

/// Decodes one form-encoded name or value: `+` is a space, `%XX` a byte, the result UTF-8.
///
/// Strict on purpose: a stray `%` means the client encoded wrongly, and the signature it
/// computed over its own idea of the value could never be checked reliably.
pub fn form_decode(text: &str) -> Result<String, DecodeError> {
    if !text.bytes().any(|b| b == b'+' || b == b'%') {
        return Ok(text.to_owned());
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
    String::from_utf8(out).map_err(|_| DecodeError::NotUtf8)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Alibaba's `percentEncode`: every byte of the UTF-8 text except `A-Z a-z 0-9 - _ . ~` becomes
/// `%XX` with upper-case hex, so a space is `%20` and `*` is `%2A`. Appends to `out`.
pub fn pop_encode_into(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
}

/// The canonical form both Alibaba signatures use: `pairs` sorted by name, each written as
/// `percentEncode(name)=percentEncode(value)`, joined by `&`. Appends to `out`.
pub fn canonical_pairs_into<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>, out: &mut String) {
    let mut sorted: Vec<(&str, &str)> = pairs.collect();
    sorted.sort_unstable();
    for (i, (name, value)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        pop_encode_into(name, out);
        out.push('=');
        pop_encode_into(value, out);
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
}
