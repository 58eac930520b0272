//! Re-signing at the edge (`sign_as`): a callback the filter verified under a key the gateway
//! issued to a worker goes on signed with a credential the gateway holds. The worker never
//! holds a cloud credential; the service sees the gateway's identity.
//!
//! Each scheme is re-signed the way its verifier reads it, with the same canonicalisation
//! (`sign::sigv4`, `sign::acs3`, `sign::rpc_v1`): the caller's own scope, signed headers and
//! parameters, a new date (and, for Alibaba, a new nonce) and the credential's access key id
//! and session token. The MAC is the host's keyring's (`Credentials::sign`), and the code runs
//! natively in the host: the component carries none of it, and checks the result again. Nothing else changes: method, path, the body's content (RPC v1's common
//! parameters are rewritten where they were, in the query or the form body) and every other
//! header. A host checks the result again before forwarding it.

use crate::dialect::{Scheme, dialect_of};
use crate::params::{Params, Source};
use crate::percent::{form_decode, pop_encode_into};
use crate::sign::{Signing, acs3, hex, rpc_v1, sigv4};
use crate::types::{Credential, Credentials, Dialect, Request};

/// The header an AWS session token travels in.
const AWS_SESSION_TOKEN: &str = "X-Amz-Security-Token";
/// The header an Alibaba ACS3 session token travels in.
const ACS3_SESSION_TOKEN: &str = "x-acs-security-token";

/// `request` (which `check` accepted) signed with the credential `name` at `now` (seconds since
/// the Unix epoch), `nonce` as the signature nonce where the scheme has one; why not, for a
/// host's log, when the credential cannot be had or the request is not signed as `check`
/// accepts.
pub fn resign(
    request: &Request,
    name: &str,
    now: u64,
    nonce: &str,
    credentials: &dyn Credentials,
) -> Result<Request, String> {
    let credential = credentials
        .credential(name)
        .ok_or_else(|| format!("the credential '{name}' cannot be had"))?;
    let signer = Signer {
        name,
        credential: &credential,
        credentials,
    };
    let mut out = match dialect_of(request) {
        Dialect::Fnf => match Scheme::of(request) {
            Scheme::Acs3(_) => signer.acs3(request, now, nonce)?,
            Scheme::RpcV1 => signer.rpc_v1(request, now, nonce)?,
        },
        Dialect::States | Dialect::Swf | Dialect::CodePipeline => signer.sigv4(request, now)?,
    };
    // A body that changed length (RPC v1 parameters in a form body) says so.
    if out.header("content-length").is_some() {
        let length = out.body.len().to_string();
        set_header(&mut out.headers, "Content-Length", Some(&length));
    }
    Ok(out)
}

/// The credential a request is re-signed with, and where its MACs come from.
struct Signer<'a> {
    name: &'a str,
    credential: &'a Credential,
    credentials: &'a dyn Credentials,
}

impl Signer<'_> {
    fn mac(&self, signing: Signing<'_>, message: &str) -> Result<Vec<u8>, String> {
        (self
            .credentials
            .sign(self.name, signing, message.as_bytes()))
        .ok_or_else(|| format!("the credential '{}' cannot sign", self.name))
    }

    /// AWS SigV4: the caller's region, service and signed headers (with the session token's
    /// header when the credential has one), dated `now`.
    fn sigv4(&self, request: &Request, now: u64) -> Result<Request, String> {
        let header = request.header("authorization").unwrap_or_default();
        let auth = sigv4::parse_authorization(header)
            .map_err(|_| "the request has no SigV4 Authorization header".to_owned())?;
        let amz_date = sigv4::format_amz_date(now);
        let date = amz_date.get(..8).unwrap_or_default();
        let mut out = request.clone();
        set_header(&mut out.headers, "X-Amz-Date", Some(&amz_date));
        let token = self.credential.session_token.as_deref();
        set_header(&mut out.headers, AWS_SESSION_TOKEN, token);
        let signed = signed_headers(auth.signed_headers, AWS_SESSION_TOKEN, token.is_some());
        let payload_hash = sigv4::sha256_hex(&out.body);
        let canonical = sigv4::canonical_request(
            &out.method,
            out.path(),
            out.query(),
            &signed,
            |name| out.joined_header(name),
            &payload_hash,
        );
        let scope = sigv4::Scope {
            date,
            region: auth.region,
            service: auth.service,
        };
        let mac = self.mac(
            Signing::SigV4(scope),
            &sigv4::string_to_sign(&amz_date, scope, &canonical),
        )?;
        let authorization = format!(
            "{} Credential={}/{date}/{}/{}/{}, SignedHeaders={signed}, Signature={}",
            sigv4::ALGORITHM,
            self.credential.access_key_id,
            auth.region,
            auth.service,
            sigv4::TERMINATOR,
            hex(&mac)
        );
        set_header(&mut out.headers, "Authorization", Some(&authorization));
        Ok(out)
    }

    /// Alibaba ACS3: the caller's signed headers (with `x-acs-security-token` when the
    /// credential has a session token), a new `x-acs-date` and `x-acs-signature-nonce`.
    fn acs3(&self, request: &Request, now: u64, nonce: &str) -> Result<Request, String> {
        let header = request.header("authorization").unwrap_or_default();
        let auth = acs3::parse_authorization(header)
            .map_err(|_| "the request has no ACS3 Authorization header".to_owned())?;
        let mut out = request.clone();
        let date = crate::time::format_timestamp(now);
        set_header(&mut out.headers, "x-acs-date", Some(&date));
        set_header(&mut out.headers, "x-acs-signature-nonce", Some(nonce));
        let token = self.credential.session_token.as_deref();
        set_header(&mut out.headers, ACS3_SESSION_TOKEN, token);
        let signed = signed_headers(auth.signed_headers, ACS3_SESSION_TOKEN, token.is_some());
        let content_sha256 = acs3::content_sha256(&out.body);
        let params = Params::parse(&out).map_err(|_| "the parameters do not parse".to_owned())?;
        let canonical = acs3::canonical_request(
            &out.method,
            out.path(),
            params
                .iter()
                .filter(|p| p.source == Source::Query)
                .map(|p| (p.name.as_ref(), p.value.as_ref())),
            &signed,
            |name| out.joined_header(name),
            &content_sha256,
        );
        let mac = self.mac(Signing::Acs3, &acs3::string_to_sign(&canonical))?;
        let authorization = format!(
            "{} Credential={},SignedHeaders={signed},Signature={}",
            acs3::ALGORITHM,
            self.credential.access_key_id,
            hex(&mac)
        );
        drop(params);
        set_header(&mut out.headers, "Authorization", Some(&authorization));
        Ok(out)
    }

    /// Alibaba RPC v1: `AccessKeyId`, `Timestamp`, `SignatureNonce` and `SecurityToken`
    /// rewritten where the caller put its common parameters (the query, or a form body), then
    /// `Signature` where the caller put it.
    fn rpc_v1(&self, request: &Request, now: u64, nonce: &str) -> Result<Request, String> {
        let home = |name: &str| -> Result<Source, String> {
            let params =
                Params::parse(request).map_err(|_| "the parameters do not parse".to_owned())?;
            let source = params
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.source)
                .ok_or_else(|| format!("the request has no {name}"))?;
            Ok(source)
        };
        let (common, signature) = (home("AccessKeyId")?, home("Signature")?);
        let timestamp = crate::time::format_timestamp(now);
        let mut out = request.clone();
        rewrite(
            &mut out,
            common,
            &[
                ("AccessKeyId", Some(&self.credential.access_key_id)),
                ("Timestamp", Some(&timestamp)),
                ("SignatureNonce", Some(nonce)),
                ("SecurityToken", self.credential.session_token.as_deref()),
            ],
        )?;
        let string_to_sign = {
            let params =
                Params::parse(&out).map_err(|_| "the parameters do not parse".to_owned())?;
            rpc_v1::string_to_sign(
                &out.method,
                params.iter().map(|p| (p.name.as_ref(), p.value.as_ref())),
            )
        };
        let mac = self.mac(Signing::RpcV1, &string_to_sign)?;
        let encoded = crate::b64::encode(&mac);
        rewrite(&mut out, signature, &[("Signature", Some(&encoded))])?;
        Ok(out)
    }
}

/// The signed header names with `token` (lower case) added when `present`, removed when not;
/// sorted, as the schemes list them.
fn signed_headers(signed: &str, token: &str, present: bool) -> String {
    let token = token.to_ascii_lowercase();
    // Through the filter's one text sort: another instance of the standard sort would cost the
    // component kilobytes.
    let mut names: Vec<(&str, &str)> = (signed.split(';'))
        .filter(|name| *name != token)
        .map(|name| (name, ""))
        .collect();
    if present {
        names.push((&token, ""));
    }
    crate::percent::sort_pairs(&mut names);
    let names: Vec<&str> = names.into_iter().map(|(name, _)| name).collect();
    names.join(";")
}

/// Sets the first header of this name (any case) to `value` where it stands, dropping any other
/// of the name, or appends it; `None` removes them all.
pub(crate) fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
    let mut kept = false;
    headers.retain_mut(|(n, v)| {
        if !n.eq_ignore_ascii_case(name) {
            return true;
        }
        match value {
            Some(value) if !kept => {
                value.clone_into(v);
                kept = true;
                true
            }
            _ => false,
        }
    });
    if let (false, Some(value)) = (kept, value) {
        headers.push((name.to_owned(), value.to_owned()));
    }
}

/// Sets (or, with `None`, removes) form parameters in the query or the form body of `request`,
/// each where it stands, missing ones appended; the rest of the text is kept byte for byte.
pub(crate) fn rewrite(
    request: &mut Request,
    source: Source,
    values: &[(&str, Option<&str>)],
) -> Result<(), String> {
    let text = match source {
        Source::Query => request.query().to_owned(),
        Source::Body => {
            let form = request
                .header("content-type")
                .is_some_and(|t| t.contains("x-www-form-urlencoded"));
            if !form {
                return Err("common parameters in a JSON body cannot be re-signed".to_owned());
            }
            String::from_utf8(request.body.clone())
                .map_err(|_| "the form body is not text".to_owned())?
        }
    };
    let mut done = vec![false; values.len()];
    let mut pieces: Vec<String> = Vec::new();
    let encoded = |name: &str, value: &str| {
        let mut piece = String::new();
        pop_encode_into(name, &mut piece);
        piece.push('=');
        pop_encode_into(value, &mut piece);
        piece
    };
    for piece in text.split('&').filter(|p| !p.is_empty()) {
        let raw_name = piece.split_once('=').map_or(piece, |(name, _)| name);
        let name = form_decode(raw_name).unwrap_or_default();
        match values.iter().position(|(n, _)| *n == name) {
            Some(i) => {
                done[i] = true;
                if let Some(value) = values[i].1 {
                    pieces.push(encoded(values[i].0, value));
                }
            }
            None => pieces.push(piece.to_owned()),
        }
    }
    for ((name, value), done) in values.iter().zip(done) {
        if let (false, Some(value)) = (done, value) {
            pieces.push(encoded(name, value));
        }
    }
    let text = pieces.join("&");
    match source {
        Source::Query => {
            let path = request.path().to_owned();
            request.path_with_query = if text.is_empty() {
                path
            } else {
                format!("{path}?{text}")
            };
        }
        Source::Body => request.body = text.into_bytes(),
    }
    Ok(())
}
