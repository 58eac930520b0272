//! Request parameters, decoded once: the query string plus the body, whichever layout the
//! caller's SDK used (query + form body, everything in a form body, or a JSON body).
//! A parameter may appear only once in the whole request: two values would make the signature
//! and the check disagree on which one counts.

use crate::error::{Common, FnfFailure};
use crate::json_body;
use crate::percent::{DecodeError, form_decode};
use crate::types::Request;
use std::borrow::Cow;

/// Where a parameter was found. Signatures do not care; duplicates and messages do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The URL query string.
    Query,
    /// The request body.
    Body,
}

/// One decoded parameter, borrowed from the request when it needed no decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param<'r> {
    /// Name as sent (names are case-sensitive).
    pub name: Cow<'r, str>,
    /// Decoded value.
    pub value: Cow<'r, str>,
    /// Where it was found.
    pub source: Source,
}

/// All parameters of a request, each name at most once, sorted by name (the order both the
/// duplicate check and the signatures need, so it is sorted once).
#[derive(Debug, Default)]
pub struct Params<'r> {
    items: Vec<Param<'r>>,
}

/// The body layouts accepted.
enum BodyKind {
    Empty,
    Form,
    Json,
}

impl<'r> Params<'r> {
    /// Decodes the query and the body. Fails on a body whose content type is neither form nor
    /// JSON, on bad encoding, and on any parameter given twice.
    pub fn parse(request: &'r Request) -> Result<Params<'r>, FnfFailure> {
        let kind = body_kind(request)?;
        let mut items = Vec::new();
        decode_form(request.query(), Source::Query, &mut items)?;
        match kind {
            BodyKind::Empty => {}
            BodyKind::Form => {
                let text = std::str::from_utf8(&request.body).map_err(|_| Common::BadEncoding {
                    place: "the form body".to_owned(),
                })?;
                decode_form(text, Source::Body, &mut items)?;
            }
            BodyKind::Json => {
                let members = json_body::parse(&request.body).map_err(FnfFailure::from)?;
                items.extend(members.into_iter().map(|(name, value)| Param {
                    name: Cow::Owned(name),
                    value: Cow::Owned(value),
                    source: Source::Body,
                }));
            }
        }
        // Sorting the names, then comparing neighbours, not a pairwise scan: a hostile 64 KiB
        // body can hold 30,000 parameters. Through the filter's one text sort (`sort_pairs`):
        // another instance of the standard sort would cost the component kilobytes.
        let mut names: Vec<(&str, &str)> = items.iter().map(|p| (p.name.as_ref(), "")).collect();
        crate::percent::sort_pairs(&mut names);
        if let Some(pair) = names.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(Common::DuplicateParameter {
                name: pair[0].0.to_owned(),
            }
            .into());
        }
        Ok(Params { items })
    }

    /// A parameter that must be present and non-empty.
    pub fn required(&self, name: &'static str) -> Result<&str, FnfFailure> {
        self.get(name)
            .filter(|value| !value.is_empty())
            .ok_or(FnfFailure::MissingParameter { name })
    }

    /// The value of the parameter with this name. A linear search: the filter looks up a
    /// handful of names, and names are unique (checked in `parse`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_ref())
    }

    /// Every parameter, in the order received (query first, then body); signers sort them.
    pub fn iter(&self) -> impl Iterator<Item = &Param<'r>> {
        self.items.iter()
    }
}

/// Whether the request's parameters are in a JSON body (repair mode splices a JSON member in
/// place, where a form parameter is rewritten).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn body_is_json(request: &Request) -> bool {
    matches!(body_kind(request), Ok(BodyKind::Json))
}

fn body_kind(request: &Request) -> Result<BodyKind, FnfFailure> {
    if request.body.is_empty() {
        return Ok(BodyKind::Empty);
    }
    let content_type = request.header("content-type").unwrap_or("");
    if request.has_conflicting("content-type") {
        return Err(Common::UnsupportedMediaType {
            content_type: content_type.to_owned(),
        }
        .into());
    }
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Ok(BodyKind::Form),
        "application/json" => Ok(BodyKind::Json),
        _ => Err(Common::UnsupportedMediaType {
            content_type: content_type.to_owned(),
        }
        .into()),
    }
}

fn decode_form<'r>(
    text: &'r str,
    source: Source,
    items: &mut Vec<Param<'r>>,
) -> Result<(), FnfFailure> {
    for piece in text.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = piece.split_once('=').unwrap_or((piece, ""));
        let name = form_decode(raw_name).map_err(|e| Common::BadEncoding {
            place: describe(e, "a parameter name", source),
        })?;
        let value = form_decode(raw_value).map_err(|e| Common::BadEncoding {
            place: describe(e, &format!("the value of {}", clip(&name)), source),
        })?;
        items.push(Param {
            name,
            value,
            source,
        });
    }
    Ok(())
}

fn describe(error: DecodeError, what: &str, source: Source) -> String {
    let place = match source {
        Source::Query => "query string",
        Source::Body => "form body",
    };
    match error {
        DecodeError::BadEscape => {
            format!("{what} in the {place} has a '%' not followed by two hex digits")
        }
        DecodeError::NotUtf8 => format!("{what} in the {place} does not decode to UTF-8"),
    }
}

/// A caller-supplied text shortened for an error message.
pub fn clip(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}
