//! Alibaba requests: the demo keys and tokens, and [`Call`], a signed Alibaba callback in
//! each layout the official SDKs use.

use super::*;
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

impl Layout {
    /// Every layout.
    pub const ALL: [Layout; 4] = [
        Layout::QueryAndForm,
        Layout::FormOnly,
        Layout::Json,
        Layout::Acs3,
    ];

    /// The layout as case names spell it.
    pub fn name(self) -> &'static str {
        match self {
            Layout::QueryAndForm => "rpc_query_and_form",
            Layout::FormOnly => "rpc_form_only",
            Layout::Json => "rpc_json",
            Layout::Acs3 => "acs3",
        }
    }
}

/// A ReportTaskFailed call under construction. Defaults make a valid, signed request.
#[derive(Debug, Clone)]
pub struct Call {
    layout: Layout,
    method: String,
    params: Vec<(String, String)>,
    key_id: String,
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
            key_id: KEY_ID.into(),
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

    /// Signs with another access key (`AccessKeyId`, or ACS3's `Credential`).
    pub fn key(mut self, id: &str, secret: &str) -> Call {
        if self.layout != Layout::Acs3 {
            self = self.set("AccessKeyId", id);
        }
        self.key_id = id.to_owned();
        self.secret = secret.to_owned();
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
        // The service's host, unless the call names its own (a route's, say).
        let named = |name: &str| {
            self.headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        let mut headers = Vec::new();
        if !named("host") {
            headers.push((
                "Host".to_owned(),
                "1234567890123456.cn-hangzhou.fnf.aliyuncs.com".to_owned(),
            ));
        }
        if !named("content-type") {
            headers.push(("Content-Type".to_owned(), content_type.to_owned()));
        }
        headers.extend(self.headers.iter().cloned());

        if self.layout == Layout::Acs3 {
            let sha = acs3::content_sha256(&body_bytes);
            if !headers.iter().any(|(k, _)| k == "x-acs-content-sha256") {
                headers.push(("x-acs-content-sha256".to_owned(), sha.clone()));
            }
            // The SDKs sign every x-acs-* header, an STS session token's too.
            let signed = if named("x-acs-security-token") {
                "content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version"
            } else {
                "content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
            };
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
                format!(
                    "ACS3-HMAC-SHA256 Credential={},SignedHeaders={signed},Signature={signature}",
                    self.key_id
                ),
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
