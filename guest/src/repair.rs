//! Repair mode (`[serve] repair = "truncate"`): a failure report whose free text is over the
//! service's limit would be refused, the worker's library rarely retries with a shorter text,
//! and the task hangs until its timeout. Here such a report is cut to length instead: each
//! over-long free-text field (Step Functions `error`/`cause`, SWF `reason`/`details`,
//! CodePipeline `failureDetails.message`, Alibaba `Error`/`Cause`) keeps as many of its first
//! characters as fit, counted as the service counts them, followed by a marker that says how
//! long it was.
//!
//! Only a report whose signature the edge verified is repaired: the host then signs the
//! repaired request again (with the caller's own key, or its `sign_as` credential) and the
//! component checks it like any other, so nothing but over-long text is ever mended (a report
//! with another violation is still refused) and the edge never forwards what it would refuse.
//! Like re-signing, this runs natively in the host: the component carries none of it.

use crate::dialect::aws::{self, model};
use crate::dialect::fnf;
use crate::dialect::{Scheme, dialect_of};
use crate::json_body::{Json, parse_object};
use crate::params::{Params, Source};
use crate::resign::{rewrite, set_header};
use crate::sign::hex;
use crate::types::{Dialect, Env, Request, SignatureCheck};
use std::ops::Range;

/// One free-text field cut to its limit: the evidence a host logs and records (serialized with
/// these names in the log line and the sink).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RepairedField {
    /// The field as the service names it: `cause`, `failureDetails.message`, `Cause`, ...
    pub field: &'static str,
    /// Its length as sent, in the characters the service counts.
    pub original_length: usize,
    /// Its length as forwarded: the service's limit.
    pub length: usize,
    /// The SHA-256 (hex) of the value as sent (its UTF-8 bytes, after JSON or percent
    /// decoding), so the full text can be matched in the worker's own logs.
    pub sha256: String,
}

/// A failure report cut to length, signed as the caller signed the original (which no longer
/// matches): the host signs it again before it checks and forwards it.
#[derive(Debug, Clone)]
pub struct Repaired {
    /// The repaired request.
    pub request: Request,
    /// What was cut, in the order the service's model lists the fields.
    pub fields: Vec<RepairedField>,
    /// The access key whose signature the edge verified on the original.
    pub access_key_id: String,
    /// The original's nonce key (Alibaba): the one the host's memory must claim, so that the
    /// original cannot be sent again to be repaired a second time.
    pub nonce_key: Option<String>,
}

/// Why a report was not repaired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRepaired {
    /// Nothing to repair: not a failure report, or no free text over its limit.
    Nothing,
    /// Free text over its limit that the edge will not cut, and why (for the log).
    Refused(&'static str),
}

/// Why not, when the edge cannot vouch for the caller: only a report whose signature it
/// verified may be signed again.
const UNVERIFIED: &str = "its signature did not verify at the edge";
const LEFT_TO_SERVICE: &str =
    "its signature is left to the service (temporary credentials): the edge cannot sign it again";
const TOO_LARGE: &str = "its body is over the size limit";
const UNCHANGEABLE: &str = "its parameters cannot be rewritten";

/// `request` with each over-long free-text field of its failure report cut to the service's
/// limit, when the edge verified its signature; `env` is the host's keyring and limits, as
/// for `check`. The result still carries the original's signature: sign it again, then check
/// it.
pub fn truncate(request: &Request, env: &dyn Env) -> Result<Repaired, NotRepaired> {
    let dialect = dialect_of(request);
    if request.body.len() > env.limits().body_limit(dialect) as usize {
        return Err(NotRepaired::Refused(TOO_LARGE));
    }
    let mut repaired = match dialect {
        Dialect::Fnf => alibaba(request, env)?,
        Dialect::States | Dialect::Swf | Dialect::CodePipeline => amazon(request, dialect, env)?,
    };
    refresh_digests(&mut repaired.request);
    Ok(repaired)
}

/// The text a field of `length` characters is forwarded as: its first characters and the
/// marker, `max` characters in all (the marker is ASCII: its bytes are its characters).
pub fn cut(value: &str, length: usize, max: usize) -> String {
    let marker = format!("...[truncated by taskgate: {length} characters]");
    let keep = max.saturating_sub(marker.len());
    let end = value
        .char_indices()
        .nth(keep)
        .map_or(value.len(), |(at, _)| at);
    let mut out = String::with_capacity(end + marker.len());
    out.push_str(&value[..end]);
    out.push_str(&marker);
    out
}

/// The evidence for a field cut from `value` to `max` characters.
fn evidence(field: &'static str, value: &str, length: usize, max: usize) -> RepairedField {
    RepairedField {
        field,
        original_length: length,
        length: max,
        sha256: hex(&crate::digest::sha256(value.as_bytes())),
    }
}

/// The AWS failure calls: members of the JSON body, cut in place (the rest of the body is kept
/// byte for byte).
fn amazon(request: &Request, dialect: Dialect, env: &dyn Env) -> Result<Repaired, NotRepaired> {
    let target = request.header("x-amz-target").unwrap_or("").trim();
    let call = aws::CALLS
        .iter()
        .find(|call| call.target == target && call.dialect == dialect);
    let (Some(call), false) = (call, request.has_conflicting("x-amz-target")) else {
        return Err(NotRepaired::Nothing);
    };
    let Ok(body) = parse_object(&request.body) else {
        return Err(NotRepaired::Nothing);
    };
    let mut cuts = Vec::new();
    for &(path, max) in model::free_text(target) {
        let value = path.split('.').try_fold(&body, |node, name| node.get(name));
        if let Some(Json::String(value)) = value {
            let length = value.chars().count();
            if length > max {
                cuts.push((path, value.as_str(), length, max));
            }
        }
    }
    if cuts.is_empty() {
        return Err(NotRepaired::Nothing);
    }
    let (access_key_id, signature) =
        aws::auth::authenticate(request, Some(call.service), env, env.limits())
            .map_err(|_| NotRepaired::Refused(UNVERIFIED))?;
    if signature != SignatureCheck::Edge {
        return Err(NotRepaired::Refused(LEFT_TO_SERVICE));
    }
    let mut out = request.clone();
    let mut fields = Vec::new();
    // From the last span in the body to the first, so that each cut leaves the others' offsets
    // as they were.
    let mut spans = Vec::new();
    for &(path, value, length, max) in &cuts {
        let names: Vec<&str> = path.split('.').collect();
        let span = string_span(&request.body, &names).ok_or(NotRepaired::Refused(UNCHANGEABLE))?;
        spans.push((span, cut(value, length, max)));
        fields.push(evidence(path, value, length, max));
    }
    spans.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    for (span, text) in spans {
        let encoded =
            serde_json::to_string(&text).map_err(|_| NotRepaired::Refused(UNCHANGEABLE))?;
        out.body.splice(span, encoded.into_bytes());
    }
    Ok(Repaired {
        request: out,
        fields,
        access_key_id,
        nonce_key: None,
    })
}

/// Alibaba `ReportTaskFailed`: `Error` and `Cause` rewritten where the caller put them (the
/// query, a form body or a JSON body).
fn alibaba(request: &Request, env: &dyn Env) -> Result<Repaired, NotRepaired> {
    let Ok(params) = Params::parse(request) else {
        return Err(NotRepaired::Nothing);
    };
    let scheme = Scheme::of(request);
    match scheme.operation(request, &params) {
        Ok((action, _)) if action == fnf::FAILED => {}
        _ => return Err(NotRepaired::Nothing),
    }
    let mut cuts = Vec::new();
    for (name, max) in fnf::FREE_TEXT {
        if let Some(param) = params.iter().find(|p| p.name == name) {
            let length = param.value.chars().count();
            if length > max {
                cuts.push((name, param.value.to_string(), param.source, length, max));
            }
        }
    }
    if cuts.is_empty() {
        return Err(NotRepaired::Nothing);
    }
    let caller = (scheme.authenticate(request, &params, env, env.limits()))
        .map_err(|_| NotRepaired::Refused(UNVERIFIED))?;
    if caller.signature != SignatureCheck::Edge {
        return Err(NotRepaired::Refused(LEFT_TO_SERVICE));
    }
    drop(params);
    let json_body = crate::params::body_is_json(request);
    let mut out = request.clone();
    let mut fields = Vec::new();
    for (name, value, source, length, max) in cuts {
        let text = cut(&value, length, max);
        if source == Source::Body && json_body {
            let span = string_span(&out.body, &[name]).ok_or(NotRepaired::Refused(UNCHANGEABLE))?;
            let encoded =
                serde_json::to_string(&text).map_err(|_| NotRepaired::Refused(UNCHANGEABLE))?;
            out.body.splice(span, encoded.into_bytes());
        } else {
            rewrite(&mut out, source, &[(name, Some(&text))])
                .map_err(|_| NotRepaired::Refused(UNCHANGEABLE))?;
        }
        fields.push(evidence(name, &value, length, max));
    }
    Ok(Repaired {
        request: out,
        fields,
        access_key_id: caller.access_key_id,
        nonce_key: Some(caller.nonce_key),
    })
}

/// The headers that describe the body, made true of the repaired one: its length, the
/// content hashes the schemes sign (`x-amz-content-sha256`, `x-acs-content-sha256`) and the
/// `Content-MD5` some SDKs send. Each only where the caller sent it.
fn refresh_digests(request: &mut Request) {
    let body = &request.body;
    let mut set = Vec::new();
    if request.header("content-length").is_some() {
        set.push(("Content-Length", body.len().to_string()));
    }
    for name in ["x-amz-content-sha256", "x-acs-content-sha256"] {
        if request.header(name).is_some() {
            set.push((name, hex(&crate::digest::sha256(body))));
        }
    }
    if request.header("content-md5").is_some() {
        use md5::Digest as _;
        set.push(("Content-MD5", crate::b64::encode(&md5::Md5::digest(body))));
    }
    for (name, value) in set {
        set_header(&mut request.headers, name, Some(&value));
    }
}

/// The byte range, quotes included, of the string value at `path` (member names, outermost
/// first) in the JSON object `body`, which `parse_object` accepted (so it is well formed and
/// no name repeats); `None` when there is none.
fn string_span(body: &[u8], path: &[&str]) -> Option<Range<usize>> {
    let mut scan = Scan { text: body, at: 0 };
    let mut path = path.iter();
    let mut want = path.next()?;
    scan.space();
    scan.expect(b'{')?;
    loop {
        scan.space();
        if scan.peek()? == b'}' {
            return None;
        }
        let name = scan.string()?;
        let name: String = serde_json::from_slice(&body[name]).ok()?;
        scan.space();
        scan.expect(b':')?;
        scan.space();
        if name == *want {
            match path.next() {
                None => return (scan.peek()? == b'"').then(|| scan.string()).flatten(),
                Some(next) => {
                    want = next;
                    scan.expect(b'{')?;
                    continue;
                }
            }
        }
        scan.value()?;
        scan.space();
        if scan.peek()? == b',' {
            scan.at += 1;
        }
    }
}

/// A cursor over well-formed JSON.
struct Scan<'a> {
    text: &'a [u8],
    at: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// A string at the cursor: its range, quotes included.
    fn string(&mut self) -> Option<Range<usize>> {
        let start = self.at;
        self.expect(b'"')?;
        loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(start..self.at);
                }
                b'\\' => self.at += 2,
                _ => self.at += 1,
            }
        }
    }

    /// Skips one value of any kind (nesting counted, not recursed: any depth is safe).
    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => depth = depth.checked_sub(1)?,
                        _ => {}
                    }
                    self.at += 1;
                    if depth == 0 {
                        break;
                    }
                }
            }
            _ => {
                let end = |b: u8| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r');
                while self.peek().is_some_and(|b| !end(b)) {
                    self.at += 1;
                }
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_is_the_limit_long_keeps_whole_characters_and_names_the_original_length() {
        for text in [
            "x".repeat(300),
            "é".repeat(300),
            "😀".repeat(300),
            "a😀".repeat(150),
        ] {
            let length = text.chars().count();
            let cut = cut(&text, length, 128);
            assert_eq!(cut.chars().count(), 128, "{text:.10}");
            assert!(cut.ends_with("...[truncated by taskgate: 300 characters]"));
            let kept = cut.trim_end_matches("...[truncated by taskgate: 300 characters]");
            assert!(text.starts_with(kept));
        }
    }

    #[test]
    fn a_member_is_found_by_its_decoded_name_past_any_other_value() {
        let body = br#" { "a" : [1, {"cause": "no"}, "]}"], "b": {"x": "y"}, "c\u0061use" : "yes\"" , "d": null } "#;
        let span = string_span(body, &["cause"]).unwrap_or_default();
        assert_eq!(&body[span], br#""yes\"""#);
        let nested = br#"{"jobId": "j", "failureDetails": {"type": "JobFailed", "message": "m"}}"#;
        let span = string_span(nested, &["failureDetails", "message"]).unwrap_or_default();
        assert_eq!(&nested[span], br#""m""#);
        assert_eq!(string_span(nested, &["message"]), None);
        assert_eq!(string_span(br#"{"cause": 5}"#, &["cause"]), None);
    }
}
