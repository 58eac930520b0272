//! One request through the plugin, in the gateway's phases: read (Envoy buffers the body, up
//! to the dialect's limit) → check → remember → let it go on or answer (in shadow mode: log
//! and count the answer, and let it go on) → settle (the upstream's answer) → log. Every answer the plugin gives is the filter's, in the caller's
//! dialect; nothing here writes an error of its own.

use crate::metrics::Metrics;
use crate::plugin::{Shared, log};
use crate::remember::{self, Unavailable};
use crate::settings::Settings;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, LogLevel, MapType};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;
use std::time::UNIX_EPOCH;
use taskgate_filter::memory::{self, Admitted, Begin, Claim};
use taskgate_filter::record::{self, LogRecord};
use taskgate_filter::{Dialect, EdgeFailure, Mode, Recall, Request, Response, Verdict};

/// How long a report holds its task when its request ends without an answer Envoy tells the
/// plugin about (the plugin releases it itself whenever the request ends): past Envoy's
/// default route timeout of 15 s.
const HOLD_SECONDS: u64 = 60;

/// Most bytes of a refused body read and thrown away before the answer goes out (as
/// `taskgate serve` lingers): a client that writes its whole body before it reads (Python's
/// `http.client`, the SDKs built on it) would see Envoy reset the connection instead of the
/// answer if the body were left unread. Past this the answer goes out at once.
const DRAIN_BYTES: usize = 64 << 20;

/// The test build's clock: the time of receipt, from the request (feature `test-clock`).
#[cfg(feature = "test-clock")]
const TEST_CLOCK_HEADER: &str = "x-taskgate-test-received-at";

/// One request's state across Envoy's callbacks.
pub struct Exchange {
    settings: Rc<Settings>,
    metrics: Rc<Metrics>,
    /// The request as the filter sees it: the head, then the body once it is all here.
    request: Option<Request>,
    dialect: Dialect,
    /// The body limit of the request's dialect.
    limit: u32,
    /// The action of a call let through, for the log.
    action: Option<String>,
    /// The access key of a call let through, and who checks its MAC (`edge`, or `service`
    /// for temporary credentials), for the log.
    signer: Option<(String, &'static str)>,
    /// The code logged and counted: the vendor's for an edge answer, else `forwarded`.
    code: String,
    /// True once the plugin answered: the response Envoy then shows it is its own.
    answered: bool,
    /// The status the client got, as Envoy's response headers say.
    status: Option<u16>,
    /// The task this request holds while its report is with the upstream, and the hold's owner.
    hold: Option<(String, u64)>,
    /// True while a held report's error answer is buffered to see whether it settles the task.
    reading_answer: bool,
    /// True while an answer of Envoy's own is buffered to read its vendor code.
    reading_envoy_answer: bool,
    /// The body is over the limit: it is read and thrown away, then this is the answer.
    refusing: Option<EdgeFailure>,
    /// Bytes of a refused body thrown away so far.
    drained: usize,
    /// Shadow mode: the code and status the request would have been answered with.
    shadowed: Option<(String, u16)>,
}

impl Exchange {
    /// A request's context, before its headers arrive.
    pub fn new(settings: Rc<Settings>, metrics: Rc<Metrics>) -> Exchange {
        Exchange {
            settings,
            metrics,
            request: None,
            dialect: Dialect::Fnf,
            limit: 0,
            action: None,
            signer: None,
            code: String::new(),
            answered: false,
            status: None,
            hold: None,
            reading_answer: false,
            reading_envoy_answer: false,
            refusing: None,
            drained: 0,
            shadowed: None,
        }
    }

    /// Answers the client with the filter's response; the request goes no further.
    fn answer(&mut self, response: Response) -> Action {
        let headers: Vec<(&str, &str)> = response
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        self.code = response.code.clone();
        self.answered = true;
        let _ = hostcalls::send_http_response(
            u32::from(response.status),
            headers,
            Some(&response.body),
        );
        Action::Pause
    }

    /// The filter's answer to a failure seen at the edge.
    fn answer_edge(&mut self, failure: EdgeFailure) -> Action {
        let response = self.edge_response(failure);
        self.answer(response)
    }

    /// The filter's response to a failure seen at the edge, in the caller's dialect.
    fn edge_response(&self, failure: EdgeFailure) -> Response {
        match &self.request {
            Some(request) => taskgate_filter::edge_response(request, failure),
            None => taskgate_filter::edge_response(&Request::default(), failure),
        }
    }

    /// What check or remember refuses: answered (enforce), or in shadow mode logged and
    /// counted as the answer it would be while the request goes on unchanged. (A body over
    /// its limit is refused in both modes: it was never held whole.)
    fn refuse(&mut self, response: Response) -> Action {
        if self.settings.mode == Mode::Enforce {
            return self.answer(response);
        }
        self.metrics
            .count_shadow(self.dialect.name(), &response.code);
        self.shadowed = Some((response.code, response.status));
        self.code = record::FORWARDED.to_owned();
        Action::Continue
    }

    /// check → remember, once the whole body is here.
    fn decide(&mut self, body: Vec<u8>) -> Action {
        let Some(request) = self.request.as_mut() else {
            return Action::Continue;
        };
        request.body = body;
        let verdict = taskgate_filter::check(request, self.settings.as_ref());
        // The body has done its work: only the head is needed from here on.
        request.body = Vec::new();
        match verdict {
            Verdict::Reject(response) => self.refuse(response),
            Verdict::Forward(report) => {
                self.action = Some(report.action);
                self.signer = Some((report.access_key_id, report.signature.name()));
                self.code = record::FORWARDED.to_owned();
                self.remember(&report.recall, Some(report.task_token))
            }
            Verdict::Pass(call) => {
                let mode = self.settings.other_calls.name();
                self.metrics
                    .count_other_call(self.dialect.name(), &call.action, mode);
                self.action = Some(call.action);
                self.signer = call
                    .access_key_id
                    .clone()
                    .zip(call.signature.map(|s| s.name()));
                self.code = record::FORWARDED.to_owned();
                match call.access_key_id {
                    // Only what an authenticated caller sent is remembered.
                    Some(_) => self.remember(&call.recall, None),
                    None => Action::Continue,
                }
            }
        }
    }

    /// remember: the nonce, then the task; an edge answer, or on to Envoy's route.
    fn remember(&mut self, recall: &Recall, task_token: Option<String>) -> Action {
        if !self.settings.remember {
            return Action::Continue;
        }
        let owner = fresh_u64();
        let owner_text = owner.to_string();
        let access_key_id = self.signer.as_ref().map_or("", |(id, _)| id.as_str());
        let claim = Claim {
            access_key_id,
            recall,
            task_token: task_token.as_deref(),
        };
        // The plugin keeps no rates: nothing is asked of one.
        let admission = claim.admission(None, &owner_text, Duration::from_secs(HOLD_SECONDS));
        match remember::admit(&Shared, &admission, owner, now()) {
            Ok(admitted) => {
                if admitted == Admitted::Task(Begin::Acquired) {
                    self.hold = recall.task.clone().map(|task| (task, owner));
                }
                match memory::refusal(admitted, task_token.as_deref()) {
                    Some(failure) => self.refuse_edge(failure),
                    None => Action::Continue,
                }
            }
            Err(Unavailable) => {
                // As `taskgate serve` with `unavailable = "forward"`: on, without memory.
                self.metrics.count_memory_unavailable();
                Action::Continue
            }
        }
    }

    /// `refuse` with the filter's response to an edge failure.
    fn refuse_edge(&mut self, failure: EdgeFailure) -> Action {
        let response = self.edge_response(failure);
        self.refuse(response)
    }

    /// The upstream answered a report this request holds the task of: settled (a 2xx, or the
    /// service's own "already closed") or released.
    fn settle(&mut self, status: u16, body: &[u8]) {
        let Some((task, owner)) = self.hold.take() else {
            return;
        };
        if taskgate_filter::settles(self.dialect, status, body) {
            let retention = self.settings.retention_seconds;
            remember::settle(&Shared, &task, owner, now(), retention);
        } else {
            remember::release(&Shared, &task, owner, now());
        }
    }
}

impl Context for Exchange {}

impl HttpContext for Exchange {
    fn on_http_request_headers(&mut self, _count: usize, end_of_stream: bool) -> Action {
        let request = head();
        self.dialect = taskgate_filter::dialect_of(&request);
        self.limit = self.settings.limits.body_limit(self.dialect);
        let declared = request
            .header("content-length")
            .and_then(|length| length.trim().parse::<u64>().ok());
        let tunnel = request.method.eq_ignore_ascii_case("CONNECT");
        self.request = Some(request);
        // A tunnel's bytes would pass unseen: refused as every build refuses it.
        if tunnel {
            return self.answer_edge(EdgeFailure::Tunnel);
        }
        // Refused before a byte of the body is buffered: the body is thrown away as it comes.
        if declared.is_some_and(|length| length > u64::from(self.limit)) {
            self.refusing = Some(EdgeFailure::EntityTooLarge { limit: self.limit });
        }
        if end_of_stream {
            if let Some(failure) = self.refusing.take() {
                return self.answer_edge(failure);
            }
            return self.decide(Vec::new());
        }
        // The head goes on (a pause here would stop the body callbacks too): the buffer
        // filter that must follow this one in the chain holds it until the body is let go,
        // and this filter holds the body until it has judged it.
        Action::Continue
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if self.answered {
            return Action::Pause;
        }
        if size > self.limit as usize && self.refusing.is_none() {
            self.refusing = Some(EdgeFailure::EntityTooLarge { limit: self.limit });
        }
        if self.refusing.is_some() {
            // What Envoy holds of it goes: memory stays flat however long the body.
            self.drained += size;
            let _ = hostcalls::set_buffer(BufferType::HttpRequestBody, 0, size, &[]);
            if end_of_stream || self.drained > DRAIN_BYTES {
                let failure = self.refusing.take();
                return failure.map_or(Action::Pause, |failure| self.answer_edge(failure));
            }
            return Action::Pause;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let body = buffered(BufferType::HttpRequestBody, size);
        self.decide(body)
    }

    fn on_http_request_trailers(&mut self, _count: usize) -> Action {
        // Trailers end the request: the body is all here.
        if self.answered {
            return Action::Pause;
        }
        if let Some(failure) = self.refusing.take() {
            return self.answer_edge(failure);
        }
        let body = buffered(BufferType::HttpRequestBody, self.limit as usize);
        self.decide(body)
    }

    fn on_http_response_headers(&mut self, _count: usize, end_of_stream: bool) -> Action {
        let status = hostcalls::get_map_value(MapType::HttpResponseHeaders, ":status")
            .ok()
            .flatten()
            .and_then(|status| status.parse::<u16>().ok());
        self.status = status;
        // Envoy's own answers are all errors (the shipped local replies give each a 4xx or
        // 5xx): a success needs no second look, and no host call.
        if !self.answered && status.is_some_and(|status| status >= 400) && !from_upstream() {
            // Envoy answered itself (no route, an upstream unreachable or late, its circuit
            // breaker, the VM down): logged and counted as that answer, not as forwarded. The
            // code is the vendor's that the shipped local replies give it, read from the body.
            self.code = record::ENVOY_ANSWERED.to_owned();
            if let Some((task, owner)) = self.hold.take() {
                remember::release(&Shared, &task, owner, now());
            }
            // Never paused: Envoy's own answers cannot be held and let go again (they would
            // never reach the client). They come as one piece, read as it passes.
            self.reading_envoy_answer = !end_of_stream;
            return Action::Continue;
        }
        if self.answered || self.hold.is_none() {
            return Action::Continue;
        }
        let status = status.unwrap_or(0);
        // Only a 4xx needs its body read: it may be the service's own "already closed".
        if end_of_stream || !(400..500).contains(&status) {
            self.settle(status, &[]);
        } else {
            self.reading_answer = true;
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if self.reading_envoy_answer {
            if !end_of_stream {
                return Action::Continue;
            }
            self.reading_envoy_answer = false;
            let body = buffered(BufferType::HttpResponseBody, size);
            if let Some(code) = vendor_code(&body) {
                self.code = code;
            }
            return Action::Continue;
        }
        if !self.reading_answer {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.reading_answer = false;
        let body = buffered(BufferType::HttpResponseBody, size);
        self.settle(self.status.unwrap_or(0), &body);
        Action::Continue
    }

    fn on_log(&mut self) {
        // The request ended without an answer that settled its task: let another report try.
        if let Some((task, owner)) = self.hold.take() {
            remember::release(&Shared, &task, owner, now());
        }
        let Some(request) = &self.request else {
            return;
        };
        // A client that went away before an answer: counted under the code and status every
        // build gives it.
        let (status, code) = match self.status {
            Some(status) => (status, self.code.as_str()),
            None => (record::CLIENT_CLOSED.1, record::CLIENT_CLOSED.0),
        };
        self.metrics
            .count_request(self.dialect.name(), code, status);
        let header = |name| record::header_values(&request.headers, name);
        let record: LogRecord<'_> = LogRecord {
            request_id: request.request_id.as_deref(),
            // As Envoy passes it on: the client's own (the shipped envoy.yaml has Envoy make
            // none, `generate_request_id: false`).
            client_request_id: header("x-request-id")
                .next()
                .and_then(record::client_request_id),
            trace_id: record::trace_id(header("traceparent")),
            client: client(),
            method: &request.method,
            path: request.path(),
            dialect: self.dialect.name(),
            action: self.action.as_deref(),
            access_key_id: self.signer.as_ref().map(|(id, _)| id.as_str()),
            signature: self.signer.as_ref().map(|(_, check)| *check),
            sign_as: None,
            repaired: None,
            not_repaired: None,
            code,
            status,
            upstream: None,
            component_us: None,
            upstream_us: None,
            total_us: None,
            shadow_code: self.shadowed.as_ref().map(|(code, _)| code.as_str()),
            shadow_status: self.shadowed.as_ref().map(|(_, status)| *status),
        };
        let line = serde_json::to_string(&record).unwrap_or_default();
        log(LogLevel::Info, &format!("taskgate {line}"));
    }
}

/// The request's head as the filter sees it: Envoy's pseudo-headers become the method, the
/// path and a `host` field (first, where an HTTP/1 client writes it); header values are read
/// as every build reads them (`header_text`).
fn head() -> Request {
    let fields = hostcalls::get_map_bytes(MapType::HttpRequestHeaders).unwrap_or_default();
    let mut request = Request {
        received_at: now(),
        request_id: Some(request_id()),
        ..Request::default()
    };
    let mut headers = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        let value = taskgate_filter::header_text(&value);
        match name.as_str() {
            ":method" => request.method = value,
            ":path" => request.path_with_query = value,
            ":authority" => headers.insert(0, ("host".to_owned(), value)),
            #[cfg(feature = "test-clock")]
            TEST_CLOCK_HEADER => {
                request.received_at = value.parse().unwrap_or(request.received_at);
            }
            pseudo if pseudo.starts_with(':') => {}
            _ => headers.push((name, value)),
        }
    }
    request.headers = headers;
    request
}

/// Whether the response came from the upstream (Envoy's `response.code_details` says
/// `via_upstream`) rather than from Envoy itself.
fn from_upstream() -> bool {
    hostcalls::get_property(vec!["response", "code_details"])
        .ok()
        .flatten()
        .is_some_and(|details| details == b"via_upstream")
}

/// The vendor's code in an error body: AWS's `__type`, Alibaba's `Code`.
fn vendor_code(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = value
        .get("__type")
        .or_else(|| value.get("Code"))?
        .as_str()?;
    // A label value and a log field: the vendors' codes are letters and digits.
    code.bytes()
        .all(|b| b.is_ascii_alphanumeric())
        .then(|| code.to_owned())
}

/// The downstream peer's address, as Envoy gives it (`source.address`, `ip:port`).
fn client() -> Option<IpAddr> {
    let address = hostcalls::get_property(vec!["source", "address"]).ok()??;
    let address = std::str::from_utf8(&address).ok()?;
    address.parse::<SocketAddr>().ok().map(|peer| peer.ip())
}

/// Up to `size` bytes of a buffered body (empty when Envoy has none to give).
fn buffered(buffer: BufferType, size: usize) -> Vec<u8> {
    hostcalls::get_buffer(buffer, 0, size)
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Envoy's clock, in seconds since the Unix epoch.
fn now() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_secs())
}

/// 64 random bits: `RandomState` is seeded from the system's randomness (WASI `random_get`)
/// once per thread and stepped for each new state.
fn fresh_u64() -> u64 {
    RandomState::new().hash_one(0x7461_736b_6761_7465_u64)
}

/// A request id in the vendors' format: an upper-case random (version 4) UUID.
fn request_id() -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&fresh_u64().to_be_bytes());
    bytes[8..].copy_from_slice(&fresh_u64().to_be_bytes());
    taskgate_filter::random_request_id(bytes)
}
