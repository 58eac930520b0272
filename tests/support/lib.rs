//! Test support: build signed ReportTaskFailed requests in every layout the official SDKs use,
//! and write them as raw HTTP/1.1. Shared by the integration tests and the benchmarks.
//!
//! Alibaba signatures are made with the filter's own signing functions; those are pinned
//! independently by the vendors' published vectors and by requests captured from the real SDKs.
//! AWS requests ([`AwsCall`]) are signed by this crate's own SigV4 implementation ([`sigv4`]),
//! which shares no code with the filter's and is pinned by AWS's published vectors.

pub mod h2_frames;
pub mod tls;

use taskgate_filter::sign::{acs3, rpc_v1};
use taskgate_filter::{Request, parse_timestamp};

/// The demo configuration's access key (examples/taskgate.toml).
pub const KEY_ID: &str = "LTAI5tDemoAccessKeyId";
/// Its secret.
pub const KEY_SECRET: &str = "demo-access-key-secret";
/// The demo account's token key.
pub const TOKEN_KEY: &[u8] = b"demo-token-key";
/// The other demo account's token key.
pub const OTHER_TOKEN_KEY: &[u8] = b"other-account-token-key";
/// The execution every test token belongs to.
pub const EXECUTION_ID: &str = "2b0c6a4e-8f5e-4d1a-9c3b-7e6f5a4d3c2b";
/// The moment test requests are signed and received.
pub const SIGNED_AT: &str = "2026-11-22T08:00:00Z";

/// The moment test requests are signed, in Unix seconds.
pub fn signed_at() -> u64 {
    parse_timestamp(SIGNED_AT).unwrap_or_default()
}

/// A token of the demo account, made with its token key.
pub fn demo_token(event_id: u64) -> String {
    taskgate_filter::token::mint("a", EXECUTION_ID, event_id, TOKEN_KEY).unwrap_or_default()
}

/// Where an SDK puts the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Common parameters and TaskToken in the query, Error and Cause in a form body (Python SDK).
    QueryAndForm,
    /// No query; every parameter, Signature included, in a form body (Node pop-core).
    FormOnly,
    /// Common parameters in the query, TaskToken/Error/Cause in a JSON body.
    Json,
    /// ACS3-HMAC-SHA256: TaskToken in the query, Action/Version in headers, Error/Cause in a form body.
    Acs3,
}

/// A ReportTaskFailed call under construction. Defaults make a valid, signed request.
#[derive(Debug, Clone)]
pub struct Call {
    layout: Layout,
    method: String,
    params: Vec<(String, String)>,
    secret: String,
    signature: Option<String>,
    extra_query: Vec<(String, String)>,
    extra_body: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    extra_headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    received_at: u64,
}

/// Parameters that travel in the body (the rest go in the query) for the split layouts.
const BODY_PARAMS: [&str; 3] = ["Error", "Cause", "Output"];

impl Call {
    /// A valid call in this layout, from the demo key, signed and received at [`SIGNED_AT`].
    pub fn new(layout: Layout) -> Call {
        let mut params: Vec<(String, String)> = vec![
            ("TaskToken".into(), demo_token(42)),
            ("Error".into(), "PaymentDeclined".into()),
            (
                "Cause".into(),
                "card issuer said no: insufficient funds".into(),
            ),
        ];
        if layout != Layout::Acs3 {
            for (k, v) in [
                ("AccessKeyId", KEY_ID),
                ("Action", "ReportTaskFailed"),
                ("Format", "json"),
                ("SignatureMethod", "HMAC-SHA1"),
                ("SignatureNonce", "3d2c1b0a99887766554433221100ffee"),
                ("SignatureVersion", "1.0"),
                ("Timestamp", SIGNED_AT),
                ("Version", "2019-03-15"),
            ] {
                params.push((k.into(), v.into()));
            }
        }
        let headers = if layout == Layout::Acs3 {
            vec![
                ("x-acs-action".into(), "ReportTaskFailed".into()),
                ("x-acs-version".into(), "2019-03-15".into()),
                ("x-acs-date".into(), SIGNED_AT.into()),
                (
                    "x-acs-signature-nonce".into(),
                    "5f0e2a9c7b6d4e3f8a1b2c3d4e5f6a7b".into(),
                ),
            ]
        } else {
            Vec::new()
        };
        Call {
            layout,
            method: "POST".into(),
            params,
            secret: KEY_SECRET.into(),
            signature: None,
            extra_query: Vec::new(),
            extra_body: Vec::new(),
            headers,
            extra_headers: Vec::new(),
            body: None,
            received_at: signed_at(),
        }
    }

    /// The same call signed now (for a gateway that judges time by its clock).
    pub fn now(self) -> Call {
        self.signed_at_secs(unix_now())
    }

    /// Signs the request as made at `secs` (Unix seconds) and received then.
    pub fn signed_at_secs(self, secs: u64) -> Call {
        let stamp = taskgate_filter::format_timestamp(secs);
        let call = if self.layout == Layout::Acs3 {
            self.header("x-acs-date", &stamp)
        } else {
            self.set("Timestamp", &stamp)
        };
        call.received_at(secs)
    }

    /// Sets (or adds) a parameter before signing.
    pub fn set(mut self, name: &str, value: &str) -> Call {
        match self.params.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.params.push((name.to_owned(), value.to_owned())),
        }
        self
    }

    /// A call no gateway has seen: a signature nonce and a task (the demo token of event `n`)
    /// of its own, so a gateway that remembers replays and settled tasks forwards it.
    pub fn fresh(self, n: u64) -> Call {
        let nonce = format!("{n:016x}{:016x}", unix_now());
        let call = self.set("TaskToken", &demo_token(n));
        if call.layout == Layout::Acs3 {
            call.header("x-acs-signature-nonce", &nonce)
        } else {
            call.set("SignatureNonce", &nonce)
        }
    }

    /// The same call made as `ReportTaskSucceeded` with this `Output` (in the body, as the SDKs
    /// send it) instead of `Error` and `Cause`.
    pub fn succeeded(self, output: &str) -> Call {
        let call = self.remove("Error").remove("Cause").set("Output", output);
        if call.layout == Layout::Acs3 {
            call.header("x-acs-action", "ReportTaskSucceeded")
        } else {
            call.set("Action", "ReportTaskSucceeded")
        }
    }

    /// Removes a parameter before signing.
    pub fn remove(mut self, name: &str) -> Call {
        self.params.retain(|(k, _)| k != name);
        self
    }

    /// Sets (or adds) an ACS3 header before signing.
    pub fn header(mut self, name: &str, value: &str) -> Call {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a header field after signing, even one already present.
    pub fn extra_header(mut self, name: &str, value: &str) -> Call {
        self.extra_headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Removes a header before signing.
    pub fn remove_header(mut self, name: &str) -> Call {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }

    /// Signs with another secret.
    pub fn secret(mut self, secret: &str) -> Call {
        self.secret = secret.to_owned();
        self
    }

    /// Sends this signature instead of the computed one.
    pub fn signature(mut self, signature: &str) -> Call {
        self.signature = Some(signature.to_owned());
        self
    }

    /// Uses another method.
    pub fn method(mut self, method: &str) -> Call {
        self.method = method.to_owned();
        self
    }

    /// Adds a raw (already encoded) query parameter after signing.
    pub fn extra_query(mut self, name: &str, value: &str) -> Call {
        self.extra_query.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a form body parameter after signing.
    pub fn extra_body(mut self, name: &str, value: &str) -> Call {
        self.extra_body.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Replaces the body (after signing) with these bytes.
    pub fn body(mut self, body: &[u8]) -> Call {
        self.body = Some(body.to_vec());
        self
    }

    /// Receives the request at another time.
    pub fn received_at(mut self, secs: u64) -> Call {
        self.received_at = secs;
        self
    }

    fn in_body(&self, name: &str) -> bool {
        match self.layout {
            Layout::FormOnly => true,
            Layout::QueryAndForm | Layout::Acs3 => BODY_PARAMS.contains(&name),
            Layout::Json => BODY_PARAMS.contains(&name) || name == "TaskToken",
        }
    }

    /// The finished request.
    pub fn build(self) -> Request {
        let mut query: Vec<(String, String)> = Vec::new();
        let mut body: Vec<(String, String)> = Vec::new();
        for (k, v) in &self.params {
            if self.in_body(k) {
                body.push((k.clone(), v.clone()));
            } else {
                query.push((k.clone(), v.clone()));
            }
        }
        let body_bytes = match self.layout {
            Layout::Json => {
                let map: serde_json::Map<String, serde_json::Value> = body
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect();
                serde_json::to_vec(&map).unwrap_or_default()
            }
            _ => form(&body, true).into_bytes(),
        };
        let content_type = match self.layout {
            Layout::Json => "application/json",
            _ => "application/x-www-form-urlencoded",
        };
        let mut headers = vec![(
            "Host".to_owned(),
            "1234567890123456.cn-hangzhou.fnf.aliyuncs.com".to_owned(),
        )];
        if !self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("Content-Type".to_owned(), content_type.to_owned()));
        }
        headers.extend(self.headers.iter().cloned());

        if self.layout == Layout::Acs3 {
            let sha = acs3::content_sha256(&body_bytes);
            if !headers.iter().any(|(k, _)| k == "x-acs-content-sha256") {
                headers.push(("x-acs-content-sha256".to_owned(), sha.clone()));
            }
            let signed = "content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version";
            let lookup = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let canonical = acs3::canonical_request(
                &self.method,
                "/",
                query.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                signed,
                lookup,
                &sha,
            );
            let signature = self
                .signature
                .clone()
                .unwrap_or_else(|| acs3::signature(&self.secret, &canonical));
            headers.push((
                "Authorization".to_owned(),
                format!("ACS3-HMAC-SHA256 Credential={KEY_ID},SignedHeaders={signed},Signature={signature}"),
            ));
        } else {
            let all = query
                .iter()
                .chain(body.iter())
                .map(|(k, v)| (k.as_str(), v.as_str()));
            let string_to_sign = rpc_v1::string_to_sign(&self.method, all);
            let signature = self
                .signature
                .clone()
                .unwrap_or_else(|| rpc_v1::signature(&self.secret, &string_to_sign));
            if self.layout == Layout::FormOnly {
                body.push(("Signature".to_owned(), signature));
            } else {
                query.push(("Signature".to_owned(), signature));
            }
        }

        let mut body_bytes = match self.layout {
            Layout::FormOnly => form(&body, false).into_bytes(),
            _ => body_bytes,
        };
        if !self.extra_body.is_empty() {
            let extra = form(&self.extra_body, true);
            if !body_bytes.is_empty() {
                body_bytes.push(b'&');
            }
            body_bytes.extend_from_slice(extra.as_bytes());
        }
        if let Some(replaced) = self.body {
            body_bytes = replaced;
        }
        headers.extend(self.extra_headers);
        let mut path = "/".to_owned();
        let mut qs = form(&query, false);
        for (k, v) in &self.extra_query {
            if !qs.is_empty() {
                qs.push('&');
            }
            qs.push_str(&format!("{k}={v}"));
        }
        if !qs.is_empty() {
            path.push('?');
            path.push_str(&qs);
        }
        Request {
            method: self.method,
            path_with_query: path,
            headers,
            body: body_bytes,
            received_at: self.received_at,
            request_id: None,
        }
    }
}

/// Form-encodes pairs; `plus` writes spaces as `+` (Python's encoder) instead of `%20`.
pub fn form(pairs: &[(String, String)], plus: bool) -> String {
    let enc = |s: &str| {
        let mut out = String::new();
        for &b in s.as_bytes() {
            match b {
                b' ' if plus => out.push('+'),
                b if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') => {
                    out.push(b as char)
                }
                b => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A raw HTTP/1.1 response: status, lower-cased headers, body (cut at its Content-Length).
pub struct Answer {
    /// The status (0 when the status line does not parse).
    pub status: u16,
    /// Header fields, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// Parses a raw HTTP/1.1 response.
    pub fn parse(raw: &[u8]) -> Answer {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(raw.len());
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut answer = Answer {
            status,
            headers,
            body: raw.get(end + 4..).unwrap_or_default().to_vec(),
        };
        // Bytes past the Content-Length belong to the next message on the connection.
        if let Some(length) = answer.header("content-length").and_then(|v| v.parse().ok()) {
            answer.body.truncate(length);
        }
        answer
    }

    /// The first field of this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The vendor code of an error body: Alibaba's `Code` or AWS's `__type`.
    pub fn code(&self) -> String {
        let body: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        body["Code"]
            .as_str()
            .or(body["__type"].as_str())
            .unwrap_or_default()
            .to_owned()
    }
}

/// Reads one HTTP/1.1 message whose body has a Content-Length (what hyper sends) from a stream
/// that may carry more after it; `None` when the stream ends or fails before the message does.
pub fn read_message(stream: &mut impl std::io::Read) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return Some(data);
            }
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
}

/// The request as a raw HTTP/1.1 message with a Content-Length (added unless the request has
/// one already, as an [`AwsCall`] in the JS SDK's layout does), as `taskgate check` reads it.
pub fn to_http(request: &Request) -> Vec<u8> {
    let mut out = format!(
        "{} {} HTTP/1.1\r\n",
        request.method, request.path_with_query
    )
    .into_bytes();
    for (k, v) in &request.headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    if request.header("content-length").is_none() {
        out.extend_from_slice(format!("Content-Length: {}\r\n", request.body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&request.body);
    out
}

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

/// The wall clock in Unix seconds, for requests a live gateway judges by its own clock.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Expands the hostile corpus's runs: `{{text*N}}` stands for `text` written `N` times, so a
/// 20 KiB header stays one readable line.
pub fn expand_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let run = after.find("}}").and_then(|end| {
            let (unit, times) = after[..end].rsplit_once('*')?;
            Some((unit, times.parse::<usize>().ok()?, end))
        });
        match run {
            Some((unit, times, end)) => {
                out.push_str(&unit.repeat(times));
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}
