//! AWS requests: the documentation's key, [`AwsCall`] for each AWS callback as boto3 and the
//! JavaScript SDK send it, signed by this crate's own SigV4 ([`sigv4`]).

use super::*;
/// The AWS documentation's example access key, configured in the demo configuration.
pub const AWS_KEY_ID: &str = "AKIDEXAMPLE";
/// Its secret.
pub const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// The account that owns it.
pub const AWS_ACCOUNT: &str = "123456789012";
/// The region AWS test requests are signed for.
pub const AWS_REGION: &str = "us-east-1";
/// The moment AWS test requests are signed and received, as `X-Amz-Date`.
pub const AWS_SIGNED_AT: &str = "20240102T030405Z";
/// The signed headers boto3 sends for an awsJson call.
pub const BOTO3_SIGNED_HEADERS: &str = "content-type;host;x-amz-date;x-amz-target";
/// The signed headers the JS SDK v3 sends for an awsJson call.
pub const JS_SDK_SIGNED_HEADERS: &str = "amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-target;x-amz-user-agent";

/// `20240102T030405Z` as Unix seconds (0 when malformed).
pub fn amz_date_secs(amz_date: &str) -> u64 {
    let b = amz_date.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return 0;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &amz_date[0..4],
        &amz_date[4..6],
        &amz_date[6..8],
        &amz_date[9..11],
        &amz_date[11..13],
        &amz_date[13..15]
    );
    parse_timestamp(&iso).unwrap_or_default()
}

/// Unix seconds as `X-Amz-Date` (`20240102T030405Z`).
pub fn amz_date(secs: u64) -> String {
    taskgate_filter::format_timestamp(secs).replace(['-', ':'], "")
}

/// [`AWS_SIGNED_AT`] in Unix seconds.
pub fn aws_signed_at() -> u64 {
    amz_date_secs(AWS_SIGNED_AT)
}

/// The tests' own SigV4 (AWS4-HMAC-SHA256) signer, written from AWS's documentation and
/// independent of `taskgate_filter::sign::sigv4`: only `POST`/`GET` to `/` without a query are
/// needed, so the URI and query canonicalization is the trivial one.
pub mod sigv4 {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};

    /// Lower-case hex.
    pub fn hex(bytes: &[u8]) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(bytes.len() * 2);
        for &b in bytes {
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 15)]));
        }
        out
    }

    /// Hex SHA-256.
    pub fn sha256_hex(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// A header value as SigV4 canonicalizes it: trimmed, inner runs of spaces collapsed.
    fn trim_all(value: &str) -> String {
        value.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The canonical request. `headers` are all the request's fields; each signed name takes
    /// every value of that name, canonicalized and joined by `,`.
    pub fn canonical_request(
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        signed_headers: &str,
        payload_hash: &str,
    ) -> String {
        let mut out = format!("{method}\n{path}\n{query}\n");
        for name in signed_headers.split(';') {
            let values: Vec<String> = headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| trim_all(v))
                .collect();
            out.push_str(&format!("{name}:{}\n", values.join(",")));
        }
        out.push_str(&format!("\n{signed_headers}\n{payload_hash}"));
        out
    }

    /// The string to sign.
    pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            sha256_hex(canonical_request.as_bytes())
        )
    }

    /// The signature over `canonical_request` with the scope `date/region/service/aws4_request`.
    pub fn signature(
        secret: &str,
        amz_date: &str,
        date: &str,
        region: &str,
        service: &str,
        canonical_request: &str,
    ) -> String {
        let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
        let k_region = hmac(&k_date, region.as_bytes());
        let k_service = hmac(&k_region, service.as_bytes());
        let k_signing = hmac(&k_service, b"aws4_request");
        let scope = format!("{date}/{region}/{service}/aws4_request");
        hex(&hmac(
            &k_signing,
            string_to_sign(amz_date, &scope, canonical_request).as_bytes(),
        ))
    }
}

/// The AWS calls taskgate checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsDialect {
    /// Step Functions `SendTaskFailure`.
    States,
    /// SWF `RespondActivityTaskFailed`.
    Swf,
    /// CodePipeline `PutJobFailureResult`.
    CodePipeline,
}

impl AwsDialect {
    /// All three.
    pub const ALL: [AwsDialect; 3] = [
        AwsDialect::States,
        AwsDialect::Swf,
        AwsDialect::CodePipeline,
    ];

    /// The `X-Amz-Target` value.
    pub fn target(self) -> &'static str {
        match self {
            AwsDialect::States => "AWSStepFunctions.SendTaskFailure",
            AwsDialect::Swf => "SimpleWorkflowService.RespondActivityTaskFailed",
            AwsDialect::CodePipeline => "CodePipeline_20150709.PutJobFailureResult",
        }
    }

    /// The operation name.
    pub fn action(self) -> &'static str {
        self.target().split('.').nth(1).unwrap_or_default()
    }

    /// The content type of the call and of its answers.
    pub fn content_type(self) -> &'static str {
        match self {
            AwsDialect::CodePipeline => "application/x-amz-json-1.1",
            _ => "application/x-amz-json-1.0",
        }
    }

    /// The SigV4 service name.
    pub fn service(self) -> &'static str {
        match self {
            AwsDialect::States => "states",
            AwsDialect::Swf => "swf",
            AwsDialect::CodePipeline => "codepipeline",
        }
    }

    /// The filter's name for it.
    pub fn dialect(self) -> taskgate_filter::Dialect {
        match self {
            AwsDialect::States => taskgate_filter::Dialect::States,
            AwsDialect::Swf => taskgate_filter::Dialect::Swf,
            AwsDialect::CodePipeline => taskgate_filter::Dialect::CodePipeline,
        }
    }

    /// The regional endpoint's host name.
    pub fn host(self) -> String {
        format!("{}.{AWS_REGION}.amazonaws.com", self.service())
    }

    /// A valid body as boto3 writes it (`json.dumps`: `", "` and `": "` separators).
    pub fn valid_body(self) -> &'static str {
        match self {
            AwsDialect::States => {
                r#"{"taskToken": "tok-123", "error": "ErrX", "cause": "some cause"}"#
            }
            AwsDialect::Swf => {
                r#"{"taskToken": "AAAAKgAAAAIAAAAAAAAAAswf-token", "reason": "ActivityFailed", "details": "the activity worker gave up"}"#
            }
            AwsDialect::CodePipeline => {
                r#"{"jobId": "11111111-2222-4333-8444-555555555555", "failureDetails": {"type": "JobFailed", "message": "the build broke", "externalExecutionId": "build-42"}}"#
            }
        }
    }
}

/// An AWS failure report under construction. Defaults make a valid request as boto3 sends it,
/// signed by the demo AWS key at [`AWS_SIGNED_AT`] for [`AWS_REGION`] and received at that time.
/// Everything set before [`AwsCall::build`] is signed, except what the `*_after_signing`
/// methods (and [`AwsCall::authorization`], [`AwsCall::signature`]) change.
#[derive(Debug, Clone)]
pub struct AwsCall {
    dialect: AwsDialect,
    method: String,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
    signed_headers: String,
    key_id: String,
    secret: String,
    region: String,
    scope_service: Option<String>,
    scope_date: Option<String>,
    signature: Option<String>,
    authorization: Option<Option<String>>,
    body_after_signing: Option<Vec<u8>>,
    extra_headers: Vec<(String, String)>,
    removed_headers: Vec<String>,
    received_at: u64,
}

impl AwsCall {
    /// A valid call of this dialect with [`AwsDialect::valid_body`].
    pub fn new(dialect: AwsDialect) -> AwsCall {
        AwsCall {
            dialect,
            method: "POST".into(),
            body: dialect.valid_body().as_bytes().to_vec(),
            headers: vec![
                ("Host".into(), dialect.host()),
                ("X-Amz-Target".into(), dialect.target().into()),
                ("Content-Type".into(), dialect.content_type().into()),
                (
                    "User-Agent".into(),
                    "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux lang/python#3.12.3".into(),
                ),
                ("X-Amz-Date".into(), AWS_SIGNED_AT.into()),
            ],
            signed_headers: BOTO3_SIGNED_HEADERS.into(),
            key_id: AWS_KEY_ID.into(),
            secret: AWS_SECRET.into(),
            region: AWS_REGION.into(),
            scope_service: None,
            scope_date: None,
            signature: None,
            authorization: None,
            body_after_signing: None,
            extra_headers: Vec::new(),
            removed_headers: Vec::new(),
            received_at: aws_signed_at(),
        }
    }

    /// The JS SDK v3's layout: lower-case names, its extra headers (`amz-sdk-*`,
    /// `content-length`, `x-amz-content-sha256`, `x-amz-user-agent`), all of them signed.
    pub fn js_sdk(mut self) -> AwsCall {
        let keep = ["host", "x-amz-target", "content-type", "x-amz-date"];
        self.headers = self
            .headers
            .into_iter()
            .filter(|(k, _)| keep.iter().any(|n| k.eq_ignore_ascii_case(n)))
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        for (k, v) in [
            (
                "amz-sdk-invocation-id",
                "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
            ),
            ("amz-sdk-request", "attempt=1; max=3"),
            ("x-amz-user-agent", "aws-sdk-js/3.700.0"),
            (
                "user-agent",
                "aws-sdk-js/3.700.0 ua/2.1 os/linux#6.8 lang/js md/nodejs#22.11.0 api/sfn#3.700.0",
            ),
        ] {
            self.headers.push((k.into(), v.into()));
        }
        self.signed_headers = JS_SDK_SIGNED_HEADERS.into();
        self
    }

    /// The body (raw bytes: escapes, duplicates, invalid JSON all go as written), signed.
    pub fn body(mut self, body: impl AsRef<[u8]>) -> AwsCall {
        self.body = body.as_ref().to_vec();
        self
    }

    /// A report of its own task (`n` in the token, or CodePipeline's job id), with the
    /// dialect's valid body otherwise: a gateway that remembers settled tasks forwards it.
    pub fn fresh(self, n: u64) -> AwsCall {
        let body = match self.dialect {
            AwsDialect::States => {
                format!(r#"{{"taskToken": "tok-{n}", "error": "ErrX", "cause": "some cause"}}"#)
            }
            AwsDialect::Swf => format!(
                r#"{{"taskToken": "AAAAKgAAAAIAAAAAAAAAA-{n}", "reason": "ActivityFailed", "details": "the activity worker gave up"}}"#
            ),
            AwsDialect::CodePipeline => format!(
                r#"{{"jobId": "{:08x}-2222-4333-8444-{:012x}", "failureDetails": {{"type": "JobFailed", "message": "the build broke", "externalExecutionId": "build-42"}}}}"#,
                n >> 48,
                n & 0xffff_ffff_ffff
            ),
        };
        self.body(body)
    }

    /// Replaces the body after signing (the signature covers the old one).
    pub fn body_after_signing(mut self, body: impl AsRef<[u8]>) -> AwsCall {
        self.body_after_signing = Some(body.as_ref().to_vec());
        self
    }

    /// Sets (or adds) a header before signing; it is signed if named in the signed headers.
    pub fn header(mut self, name: &str, value: &str) -> AwsCall {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Removes a header before signing (a signed name then signs an empty value).
    pub fn remove_header(mut self, name: &str) -> AwsCall {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }

    /// Adds a header field after signing, even one already present.
    pub fn header_after_signing(mut self, name: &str, value: &str) -> AwsCall {
        self.extra_headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Removes every field of this name after signing.
    pub fn remove_header_after_signing(mut self, name: &str) -> AwsCall {
        self.removed_headers.push(name.to_owned());
        self
    }

    /// The `Host` header (e.g. a local gateway's `127.0.0.1:8080`), signed.
    pub fn host(self, host: &str) -> AwsCall {
        self.header("Host", host)
    }

    /// The `X-Amz-Target` header, signed.
    pub fn target(self, target: &str) -> AwsCall {
        self.header("X-Amz-Target", target)
    }

    /// The `Content-Type` header, signed.
    pub fn content_type(self, content_type: &str) -> AwsCall {
        self.header("Content-Type", content_type)
    }

    /// The signed header names, `;`-separated, lower case, sorted (as SigV4 wants them).
    pub fn signed_headers(mut self, names: &str) -> AwsCall {
        self.signed_headers = names.to_owned();
        self
    }

    /// Signs with this access key.
    pub fn key(mut self, id: &str, secret: &str) -> AwsCall {
        self.key_id = id.to_owned();
        self.secret = secret.to_owned();
        self
    }

    /// Signs with the configured key id but another secret.
    pub fn secret(mut self, secret: &str) -> AwsCall {
        self.secret = secret.to_owned();
        self
    }

    /// The credential scope's region.
    pub fn region(mut self, region: &str) -> AwsCall {
        self.region = region.to_owned();
        self
    }

    /// The credential scope's service (default: the dialect's).
    pub fn scope_service(mut self, service: &str) -> AwsCall {
        self.scope_service = Some(service.to_owned());
        self
    }

    /// The credential scope's date (default: the `X-Amz-Date`'s first 8 characters).
    pub fn scope_date(mut self, yyyymmdd: &str) -> AwsCall {
        self.scope_date = Some(yyyymmdd.to_owned());
        self
    }

    /// Signs at this `X-Amz-Date` (`20240102T030405Z`); the time of receipt is unchanged.
    pub fn signed_at(self, amz_date: &str) -> AwsCall {
        self.header("X-Amz-Date", amz_date)
    }

    /// Signs at this moment (Unix seconds); the time of receipt is unchanged.
    pub fn signed_at_secs(self, secs: u64) -> AwsCall {
        self.signed_at(&amz_date(secs))
    }

    /// Receives the request at this moment (Unix seconds).
    pub fn received_at(mut self, secs: u64) -> AwsCall {
        self.received_at = secs;
        self
    }

    /// Signs and receives the request now (for a gateway that judges time by its clock).
    pub fn now(self) -> AwsCall {
        let now = unix_now();
        self.signed_at_secs(now).received_at(now)
    }

    /// Uses another method (signed).
    pub fn method(mut self, method: &str) -> AwsCall {
        self.method = method.to_owned();
        self
    }

    /// Sends this signature instead of the computed one.
    pub fn signature(mut self, signature: &str) -> AwsCall {
        self.signature = Some(signature.to_owned());
        self
    }

    /// Sends this `Authorization` header instead of the computed one.
    pub fn authorization(mut self, value: &str) -> AwsCall {
        self.authorization = Some(Some(value.to_owned()));
        self
    }

    /// Sends no `Authorization` header.
    pub fn unsigned(mut self) -> AwsCall {
        self.authorization = Some(None);
        self
    }

    /// The dialect this call was made for.
    pub fn dialect(&self) -> AwsDialect {
        self.dialect
    }

    /// The canonical request that is signed.
    pub fn canonical_request(&self) -> String {
        let mut headers = self.headers.clone();
        if self
            .signed_headers
            .split(';')
            .any(|n| n == "content-length")
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        {
            headers.push(("content-length".into(), self.body.len().to_string()));
        }
        // The JS SDK signs the hash it sends; boto3 sends none and signs the body's.
        let payload_hash = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-content-sha256"))
            .map_or_else(|| sigv4::sha256_hex(&self.body), |(_, v)| v.clone());
        sigv4::canonical_request(
            &self.method,
            "/",
            "",
            &headers,
            &self.signed_headers,
            &payload_hash,
        )
    }

    /// The finished request.
    pub fn build(self) -> Request {
        let mut headers = self.headers.clone();
        let signs = |name: &str| self.signed_headers.split(';').any(|n| n == name);
        if signs("content-length")
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        {
            headers.push(("content-length".into(), self.body.len().to_string()));
        }
        if signs("x-amz-content-sha256")
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("x-amz-content-sha256"))
        {
            headers.push(("x-amz-content-sha256".into(), sigv4::sha256_hex(&self.body)));
        }
        let amz_date = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-date"))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| AWS_SIGNED_AT.to_owned());
        let date = self
            .scope_date
            .clone()
            .unwrap_or_else(|| amz_date.get(..8).unwrap_or_default().to_owned());
        let service = self
            .scope_service
            .clone()
            .unwrap_or_else(|| self.dialect.service().to_owned());
        let authorization = match self.authorization.clone() {
            Some(given) => given,
            None => {
                let canonical = AwsCall {
                    headers: headers.clone(),
                    ..self.clone()
                }
                .canonical_request();
                let signature = self.signature.clone().unwrap_or_else(|| {
                    sigv4::signature(
                        &self.secret,
                        &amz_date,
                        &date,
                        &self.region,
                        &service,
                        &canonical,
                    )
                });
                Some(format!(
                    "AWS4-HMAC-SHA256 Credential={}/{date}/{}/{service}/aws4_request, SignedHeaders={}, Signature={signature}",
                    self.key_id, self.region, self.signed_headers
                ))
            }
        };
        if let Some(value) = authorization {
            headers.push(("Authorization".into(), value));
        }
        headers.retain(|(k, _)| {
            !self
                .removed_headers
                .iter()
                .any(|n| k.eq_ignore_ascii_case(n))
        });
        headers.extend(self.extra_headers);
        Request {
            method: self.method,
            path_with_query: "/".into(),
            headers,
            body: self.body_after_signing.unwrap_or(self.body),
            received_at: self.received_at,
            request_id: None,
        }
    }
}
