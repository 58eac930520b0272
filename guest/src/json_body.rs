//! A JSON request body as a flat list of string parameters, in order, duplicates kept (so the
//! caller of this module can reject them the same way as repeated form parameters).
//! serde_json's own map types would silently keep only the last of two equal keys.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::fmt;

/// Parses an Alibaba JSON body, `{"Name": "value", ...}`: every member must be a string, and no
/// name may repeat. One parser serves both vendors (each serde visitor costs the component
/// kilobytes of code).
pub fn parse(body: &[u8]) -> Result<Vec<(String, String)>, ObjectError> {
    let Json::Object(members) = parse_object(body)? else {
        return Err(ObjectError::Invalid(
            "the body is not a JSON object".to_owned(),
        ));
    };
    members
        .into_iter()
        .map(|(name, value)| match value {
            Json::String(value) => Ok((name, value)),
            _ => Err(ObjectError::Invalid(format!(
                "member \"{}\" must be a string",
                crate::params::clip(&name)
            ))),
        })
        .collect()
}

/// serde_json's messages name types and positions, never values; keep them short anyway.
fn without_value_echo(error: &serde_json::Error) -> String {
    let mut text = error.to_string();
    text.truncate(200);
    text
}

/// Why an AWS JSON body was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ObjectError {
    /// Not JSON, not an object, or a lone surrogate escape: what the parser said.
    Invalid(String),
    /// A member name that appears twice in one object (at any depth).
    Duplicate(String),
}

/// A parsed JSON value. Objects keep their members in order in a `Vec`: a hash map would make
/// the component import a random seed, and a body has a handful of members.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// A string.
    String(String),
    /// An object, members in order, names unique.
    Object(Vec<(String, Json)>),
    /// A number (CodePipeline's percentages and timestamps).
    Number(f64),
    /// A boolean or array: never a valid value of the members the filter reads.
    Other,
}

impl Json {
    /// The member of an object with this name (`None` for absent, or when not an object).
    pub fn get(&self, name: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Parses a JSON object of any shape, refusing duplicate member names at every depth: the
/// filter and the engine behind it must not be able to read two different values.
pub fn parse_object(body: &[u8]) -> Result<Json, ObjectError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = de::Deserialize::deserialize(&mut de).map_err(|e: serde_json::Error| {
        match e.to_string().strip_prefix(DUPLICATE) {
            Some(rest) => {
                ObjectError::Duplicate(rest.split(" at line").next().unwrap_or("").to_owned())
            }
            None => ObjectError::Invalid(without_value_echo(&e)),
        }
    })?;
    de.end()
        .map_err(|e| ObjectError::Invalid(without_value_echo(&e)))?;
    match value {
        object @ Json::Object(_) => Ok(object),
        _ => Err(ObjectError::Invalid(
            "the body is not a JSON object".to_owned(),
        )),
    }
}

/// The prefix of the parser error raised for a repeated member name.
const DUPLICATE: &str = "duplicate member ";

impl<'de> de::Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Json, E> {
        Ok(Json::Other)
    }
    // Only compared with small bounds: a huge integer stays huge as an f64.
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        // Items are parsed (objects in them checked for duplicates) but not kept.
        while seq.next_element::<Json>()?.is_some() {}
        Ok(Json::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members: Vec<(String, Json)> = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = map.next_value()?;
            members.push((name, value));
        }
        // Sorting names, not a pairwise scan: a hostile body can hold many members.
        // (name, "") pairs: the filter's one text sort (`sort_pairs`) orders them by name.
        let mut names: Vec<(&str, &str)> = members.iter().map(|(n, _)| (n.as_str(), "")).collect();
        crate::percent::sort_pairs(&mut names);
        if let Some(pair) = names.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            let shown = crate::params::clip(pair[0].0);
            return Err(de::Error::custom(format!("{DUPLICATE}{shown}")));
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn members_come_back_in_order_decoded() {
        let got = parse(br#"{"B":"1","A":"x\u00e9\ud83d\ude00"}"#);
        let want = vec![
            ("B".to_owned(), "1".to_owned()),
            ("A".to_owned(), "xé😀".to_owned()),
        ];
        assert_eq!(got, Ok(want));
        assert_eq!(
            parse(br#"{"B":"1","B":"2"}"#),
            Err(super::ObjectError::Duplicate("B".to_owned()))
        );
    }

    #[test]
    fn non_string_members_are_named_in_the_error() {
        let err = parse(br#"{"Error": 5}"#).unwrap_err();
        assert_eq!(
            err,
            super::ObjectError::Invalid("member \"Error\" must be a string".to_owned())
        );
    }

    #[test]
    fn objects_with_a_repeated_member_at_any_depth_are_refused() {
        use super::{ObjectError, parse_object};
        assert_eq!(
            parse_object(br#"{"a":{"b":"1","b":"2"}}"#),
            Err(ObjectError::Duplicate("b".to_owned()))
        );
        assert!(parse_object(br#"{"a":[{"c":1},{"c":2}],"b":null}"#).is_ok());
        assert!(matches!(
            parse_object(br#"{"a":[{"c":1,"c":2}]}"#),
            Err(ObjectError::Duplicate(_))
        ));
        assert!(matches!(parse_object(b"[]"), Err(ObjectError::Invalid(_))));
        assert!(matches!(
            parse_object(br#"{"a":"\ud83d"}"#),
            Err(ObjectError::Invalid(_))
        ));
    }

    #[test]
    fn arrays_nesting_and_trailing_text_are_errors() {
        assert!(parse(b"[]").is_err());
        assert!(parse(br#"{"a":{"b":"c"}}"#).is_err());
        assert!(parse(br#"{"a":"b"} x"#).is_err());
        assert!(parse(b"").is_err());
    }
}
