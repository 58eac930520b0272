//! A JSON request body as a flat list of string parameters, in order, duplicates kept (so the
//! caller of this module can reject them the same way as repeated form parameters).
//! serde_json's own map types would silently keep only the last of two equal keys.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::fmt;

/// Parses `{"Name": "value", ...}`. Every member must be a string; anything else (a nested
/// object, a number, trailing text) is an error whose text says what and where.
pub fn parse(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let members = de
        .deserialize_map(Members)
        .map_err(|e| without_value_echo(&e))?;
    de.end().map_err(|e| without_value_echo(&e))?;
    Ok(members)
}

/// serde_json's messages name types and positions, never values; keep them short anyway.
fn without_value_echo(error: &serde_json::Error) -> String {
    let mut text = error.to_string();
    text.truncate(200);
    text
}

struct Members;

impl<'de> Visitor<'de> for Members {
    type Value = Vec<(String, String)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object whose members are strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            match map.next_value::<StringOnly>() {
                Ok(StringOnly(value)) => members.push((name, value)),
                Err(_) => {
                    let mut shown = name;
                    shown.truncate(64);
                    return Err(de::Error::custom(format!(
                        "member \"{shown}\" must be a string"
                    )));
                }
            }
        }
        Ok(members)
    }
}

/// A value that must be a JSON string.
struct StringOnly(String);

impl<'de> de::Deserialize<'de> for StringOnly {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
                Ok(v.to_owned())
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
                Ok(v)
            }
        }
        deserializer.deserialize_string(V).map(StringOnly)
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn members_come_back_in_order_with_duplicates() {
        let got = parse(br#"{"B":"1","A":"x\u00e9\ud83d\ude00","B":"2"}"#);
        let want = vec![
            ("B".to_owned(), "1".to_owned()),
            ("A".to_owned(), "xé😀".to_owned()),
            ("B".to_owned(), "2".to_owned()),
        ];
        assert_eq!(got, Ok(want));
    }

    #[test]
    fn non_string_members_are_named_in_the_error() {
        let err = parse(br#"{"Error": 5}"#).unwrap_err();
        assert!(err.contains("\"Error\" must be a string"), "{err}");
    }

    #[test]
    fn arrays_nesting_and_trailing_text_are_errors() {
        assert!(parse(b"[]").is_err());
        assert!(parse(br#"{"a":{"b":"c"}}"#).is_err());
        assert!(parse(br#"{"a":"b"} x"#).is_err());
        assert!(parse(b"").is_err());
    }
}
