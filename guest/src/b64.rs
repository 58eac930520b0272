//! Base64 (standard alphabet, padded) for the places the filter reads or writes it: an RPC v1
//! `Signature` (read, and written when the edge re-signs) and a task token. Written here rather
//! than taken from the `base64` crate, whose general-purpose engine cost the component 3.7 KB
//! of its 256 KiB budget for these few calls; native code (minting tokens, clients in tests)
//! still uses the crate, and property tests hold these functions to its answers.

/// The 64 symbols, in order.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `bytes` as padded Base64.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk
            .iter()
            .enumerate()
            .fold(0u32, |group, (i, &b)| group | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(group >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// How much `=` padding the input may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Exactly the canonical padding (the `base64` crate's `RequireCanonical`).
    Canonical,
    /// The canonical padding or less, down to none (its `Indifferent`): some clients strip it.
    UpToCanonical,
}

/// The bytes `text` encodes, or `None` when it is not Base64: a byte outside the alphabet, a
/// length no encoding has, padding other than `padding` allows, or set bits left over after the
/// last byte (no encoder makes those, so they would let one value have several encodings).
pub fn decode(text: &str, padding: Padding) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let data = bytes
        .iter()
        .rposition(|&b| b != b'=')
        .map_or(0, |last| last + 1);
    let (pads, canonical) = (bytes.len() - data, (4 - data % 4) % 4);
    if data % 4 == 1 || pads > canonical || (pads < canonical && padding == Padding::Canonical) {
        return None;
    }
    let mut out = Vec::with_capacity(data / 4 * 3 + 2);
    let (mut bits, mut held) = (0u32, 0u32);
    for &byte in &bytes[..data] {
        let sextet = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = bits << 6 | u32::from(sextet);
        held += 6;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
            bits &= (1 << held) - 1;
        }
    }
    (bits == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::alphabet::STANDARD as ALPHABET;
    use base64::engine::DecodePaddingMode;
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
    use proptest::prelude::*;

    const INDIFFERENT: GeneralPurpose = GeneralPurpose::new(
        &ALPHABET,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );

    fn agrees(text: &str) {
        assert_eq!(
            decode(text, Padding::Canonical),
            STANDARD.decode(text).ok(),
            "{text:?} canonical"
        );
        assert_eq!(
            decode(text, Padding::UpToCanonical),
            INDIFFERENT.decode(text).ok(),
            "{text:?} up to canonical"
        );
    }

    #[test]
    fn edge_cases_are_decoded_as_the_base64_crate_decodes_them() {
        for text in [
            "",
            "=",
            "==",
            "====",
            "A",
            "AA",
            "AA=",
            "AA==",
            "AA===",
            "AB==",
            "AAA",
            "AAA=",
            "AAB=",
            "AAAA",
            "A=A=",
            "Zm9v",
            "Zm9vYg",
            "Zm9vYg==",
            "Zm9vYmE=",
            "Zm9vYmE",
            "Zm9v YmE=",
            "Zm9v\nYmE=",
            "-_8=",
            "+/8=",
            "////",
            "QUJD\u{e9}",
        ] {
            agrees(text);
        }
    }

    proptest! {
        #[test]
        fn every_encoding_decodes_back(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let text = STANDARD.encode(&bytes);
            prop_assert_eq!(decode(&text, Padding::Canonical), Some(bytes.clone()));
            let stripped = text.trim_end_matches('=');
            prop_assert_eq!(decode(stripped, Padding::UpToCanonical), Some(bytes));
        }

        #[test]
        fn encoding_is_the_base64_crates(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(encode(&bytes), STANDARD.encode(&bytes));
        }

        #[test]
        fn any_text_gets_the_base64_crates_answer(text in "[A-Za-z0-9+/=_ -]{0,12}") {
            agrees(&text);
        }
    }
}
