//! One request through the gateway, as named phases, each a function that returns the next
//! phase's input or the failure the request ends with:
//!
//! admit (in-flight cap, no tunnels, no malformed messages) → route (the host the client asked
//! for) → read (the body, capped and timed) → check (the component) → remember (rate, replay
//! and ledger, `memory.rs`) → deliver (upstream or sink; the outcome settles the task or not)
//! → respond.
//!
//! `Gateway::respond` is the one place that turns a failure the gateway found into the caller's
//! answer (rendered by the component, in the caller's dialect); `RequestRecord` is the one place that
//! logs and counts, however the request ends.

use super::framing::BothLengths;
use super::log::Log;
use super::metrics::Metrics;
use super::remember;
use super::routes::{Destination, Routes};
use super::sink::Sink;
use crate::config::Config;
use crate::sandbox::Sandbox;
use arc_swap::ArcSwap;
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_LENGTH, HeaderValue};
use hyper::{Method, Request as HttpRequest, Response as HttpResponse, StatusCode, Version};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use taskgate_filter::{Dialect, EdgeFailure, PassedCall, Report, Request, Response, Verdict};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What a configuration makes of the request path; swapped whole on reload, while each
/// request keeps the one it started with.
pub struct Live {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Where accepted requests go.
    pub routes: Routes,
    /// The local callback sink, when some request could go there.
    pub sink: Option<Arc<Sink>>,
}

/// Everything the request path shares.
pub struct Gateway {
    /// The configuration in force for new requests.
    pub live: ArcSwap<Live>,
    /// The pre-instantiated filter component.
    pub sandbox: Sandbox,
    /// Counters and histograms.
    pub metrics: Metrics,
    /// One permit per request in flight.
    pub permits: Arc<Semaphore>,
    /// The per-request log.
    pub log: Log,
    /// The client connections open now, under their caps.
    pub connections: Arc<super::connection::Connections>,
    /// The memory of nonces, settled tasks and rates (`None`: `[store] kind = "none"`).
    pub store: Option<Arc<crate::store::Store>>,
}

/// What one request did, for its log line and metrics. Never holds
/// secrets or `Error`/`Cause`.
struct Outcome {
    /// Whose rules and error format apply (from the request's head, before any check).
    dialect: Dialect,
    code: String,
    /// The operation of a call passed on without a report (`other_calls`).
    action: Option<String>,
    /// Where it was delivered: `scheme://host[:port]`, or `sink`.
    destination: Option<String>,
    component: Option<Duration>,
    upstream: Option<Duration>,
}

/// A request's end before delivery: the failure to answer, and whether the connection must
/// close (the body was not read, so the next bytes are not a request).
struct Stop {
    failure: EdgeFailure,
    close: bool,
}

impl From<EdgeFailure> for Stop {
    fn from(failure: EdgeFailure) -> Stop {
        Stop {
            failure,
            close: false,
        }
    }
}

/// What the check says to deliver.
#[allow(
    clippy::large_enum_variant,
    reason = "one per request, on the stack: boxing would add an allocation per request"
)]
pub(super) enum Delivery {
    /// A callback that passed every rule.
    Report(Report),
    /// A call the filter does not model, passed per `other_calls`.
    Passed(PassedCall),
    /// Anything, unchecked (`--no-filter`).
    Unchecked,
}

impl Gateway {
    /// Handles one request; always answers (unless the client goes away first: its record is
    /// kept either way). The record is opened here, before the future is first polled: hyper
    /// drops the future of a request whose client closed right after sending it without ever
    /// polling it, and that request reached us too.
    pub fn handle(
        self: Arc<Self>,
        request: HttpRequest<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = HttpResponse<Full<Bytes>>> + Send + 'static {
        let live = self.live.load_full();
        let (mut parts, body) = request.into_parts();
        let host = requested_host(&parts);
        with_host_header(&mut parts);
        let head = head_of(&parts);
        let mut record = RequestRecord::open(Arc::clone(&self), &parts, &head, peer);
        async move {
            let response = self
                .phases(
                    &live,
                    &parts,
                    body,
                    &head,
                    host.as_deref(),
                    peer,
                    &mut record.outcome,
                )
                .await;
            record.answered(response.status());
            response
        }
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the request's parts, passed along the phases"
    )]
    async fn phases(
        &self,
        live: &Live,
        parts: &hyper::http::request::Parts,
        body: Incoming,
        head: &Request,
        host: Option<&str>,
        peer: SocketAddr,
        outcome: &mut Outcome,
    ) -> HttpResponse<Full<Bytes>> {
        let config = &live.config;
        let stopped = |stop: Stop, body: Option<Incoming>, outcome: &mut Outcome| {
            if let Some(body) = body.filter(|_| stop.close) {
                linger(body, config.serve.read_timeout);
            }
            self.respond(config, head, stop.failure, outcome, stop.close)
        };
        let _permit = match self.admit(config, parts) {
            Ok(permit) => permit,
            Err(stop) => return stopped(stop, Some(body), outcome),
        };
        let destination = match live.routes.select(host, outcome.dialect) {
            Destination::Miss => {
                let failure = EdgeFailure::NoRoute {
                    host: host.unwrap_or("").to_owned(),
                };
                let stop = Stop {
                    failure,
                    close: true,
                };
                return stopped(stop, Some(body), outcome);
            }
            destination => destination,
        };
        let body = match read(config, parts, body, outcome.dialect).await {
            Ok(body) => body,
            Err((stop, unread)) => return stopped(stop, unread, outcome),
        };
        let delivery = match self.check(config, head, &body, outcome) {
            Ok(delivery) => delivery,
            Err(Ok(response)) => {
                outcome.code = response.code.clone();
                return vendor_response(response, false);
            }
            Err(Err(failure)) => return self.respond(config, head, failure, outcome, false),
        };
        let hold =
            match remember::remember(self.store.as_ref(), config, &delivery, &self.metrics).await {
                Ok(hold) => hold,
                Err(failure) => return self.respond(config, head, failure, outcome, false),
            };
        let delivered = self
            .deliver(
                live,
                destination,
                parts,
                body,
                head,
                host,
                peer,
                delivery,
                outcome,
            )
            .await;
        if let Some(hold) = hold {
            self.settle(config, hold, outcome.dialect, &delivered).await;
        }
        match delivered {
            Ok(response) => response,
            Err(failure) => self.respond(config, head, failure, outcome, false),
        }
    }

    /// After deliver, for a report whose task this request holds: the outcome settles the task
    /// (a 2xx, or the service's own "already closed" refusal, as the component judges it) or
    /// lets it go. Done before answering, so a duplicate that follows the answer finds it.
    async fn settle(
        &self,
        config: &Arc<Config>,
        hold: remember::Hold,
        dialect: Dialect,
        delivered: &Result<HttpResponse<Full<Bytes>>, EdgeFailure>,
    ) {
        let settles = match delivered {
            Ok(response) => {
                let status = response.status().as_u16();
                match status {
                    200..=299 => true,
                    400..=499 => {
                        // `Full` holds the whole answer: collecting a clone copies no bytes.
                        let body = response.body().clone().collect().await;
                        let body = body.map(|b| b.to_bytes()).unwrap_or_default();
                        self.sandbox
                            .settles(config, dialect, status, &body)
                            .unwrap_or_else(|_| taskgate_filter::settles(dialect, status, &body))
                    }
                    _ => false,
                }
            }
            Err(_) => false,
        };
        if settles {
            hold.settle(config.store.retention, &self.metrics).await;
        } else {
            hold.release(&self.metrics).await;
        }
    }

    /// admit: tunnels are refused (taskgate must see each request), so are messages an edge
    /// must not pass on (`malformed`), and at most `max_in_flight` requests are handled at once.
    fn admit(
        &self,
        config: &Config,
        parts: &hyper::http::request::Parts,
    ) -> Result<OwnedSemaphorePermit, Stop> {
        if parts.method == Method::CONNECT {
            return Err(Stop {
                failure: EdgeFailure::Tunnel,
                close: true,
            });
        }
        if let Some(detail) = malformed(parts) {
            return Err(Stop {
                failure: EdgeFailure::Malformed {
                    detail: detail.to_owned(),
                },
                close: true,
            });
        }
        self.permits.clone().try_acquire_owned().map_err(|_| Stop {
            failure: EdgeFailure::Throttled {
                limit: config.serve.max_in_flight,
            },
            close: true,
        })
    }

    /// check: the component's verdict. `Err(Ok(response))` is the vendor's rejection,
    /// `Err(Err(failure))` a component that could not give one (a trap, its deadline or
    /// memory cap).
    fn check(
        &self,
        config: &Arc<Config>,
        head: &Request,
        body: &Bytes,
        outcome: &mut Outcome,
    ) -> Result<Delivery, Result<Response, EdgeFailure>> {
        if !config.serve.filter {
            return Ok(Delivery::Unchecked);
        }
        let mut request = head.clone();
        request.body = body.to_vec();
        let checked = Instant::now();
        let result = self.sandbox.check(config, request);
        outcome.component = Some(checked.elapsed());
        match result {
            Ok(Verdict::Forward(report)) => {
                outcome.action = Some(report.action.clone());
                Ok(Delivery::Report(report))
            }
            Ok(Verdict::Pass(call)) => {
                self.metrics.count_other_call(
                    call.dialect.name(),
                    &call.action,
                    config.serve.other_calls.name(),
                );
                outcome.action = Some(call.action.clone());
                Ok(Delivery::Passed(call))
            }
            Ok(Verdict::Reject(response)) => Err(Ok(response)),
            Err(_) => {
                self.metrics
                    .component_failures
                    .fetch_add(1, Ordering::Relaxed);
                Err(Err(EdgeFailure::Internal))
            }
        }
    }

    /// deliver: to the upstream (its answer comes back unchanged) or into the local sink
    /// (answered with the service's success body).
    #[allow(
        clippy::too_many_arguments,
        reason = "the request's parts, passed along the phases"
    )]
    async fn deliver(
        &self,
        live: &Live,
        destination: Destination<'_>,
        parts: &hyper::http::request::Parts,
        body: Bytes,
        head: &Request,
        host: Option<&str>,
        peer: SocketAddr,
        delivery: Delivery,
        outcome: &mut Outcome,
    ) -> Result<HttpResponse<Full<Bytes>>, EdgeFailure> {
        match destination {
            Destination::Upstream(upstream) => {
                let host = host.unwrap_or("");
                outcome.destination = Some(upstream.base(host));
                let sent = Instant::now();
                let result = upstream.forward(parts, body, peer.ip(), host).await;
                outcome.upstream = Some(sent.elapsed());
                match result {
                    Ok(response) => {
                        outcome.code = "forwarded".to_owned();
                        Ok(response)
                    }
                    Err(error) => {
                        self.metrics.count_upstream_error(error.kind());
                        Err(EdgeFailure::Internal)
                    }
                }
            }
            Destination::Sink => {
                let sink = live.sink.as_ref().ok_or(EdgeFailure::Internal)?;
                outcome.destination = Some("sink".to_owned());
                let response = match &delivery {
                    Delivery::Report(report) => {
                        let event_id = sink
                            .record(report, head.received_at)
                            .map_err(|_| EdgeFailure::Internal)?;
                        taskgate_filter::success_response(report, event_id)
                    }
                    Delivery::Passed(call) => {
                        sink.record_call(call, head.received_at)
                            .map_err(|_| EdgeFailure::Internal)?;
                        taskgate_filter::passed_response(call)
                    }
                    // Unchecked and nowhere to go: the CLI refuses this combination.
                    Delivery::Unchecked => return Err(EdgeFailure::Internal),
                };
                outcome.code = "recorded".to_owned();
                Ok(vendor_response(response, false))
            }
            Destination::Miss => Err(EdgeFailure::Internal),
        }
    }
}

/// One request's log line, as the fields are named in the log (its stable schema). Borrowed
/// fields serialized in one pass: a `json!` map cost a dozen allocations per request.
#[derive(serde::Serialize)]
struct LogLine<'a> {
    request_id: Option<&'a str>,
    client_request_id: Option<&'a str>,
    client: std::net::IpAddr,
    method: &'a str,
    path: &'a str,
    dialect: &'static str,
    action: Option<&'a str>,
    code: &'a str,
    status: u16,
    upstream: Option<&'a str>,
    component_us: Option<u64>,
    upstream_us: Option<u64>,
    total_us: u64,
}

/// One request's record: counted in flight while it lives, then logged and counted
/// once when it is dropped, however the request ended: answered, or abandoned by a client
/// that went away (HTTP/1 close, HTTP/2 reset) before or while its handler ran.
struct RequestRecord {
    gateway: Arc<Gateway>,
    started: Instant,
    request_id: Option<String>,
    /// The client's own id for the request (`X-Request-Id`), to match its logs with ours.
    client_request_id: Option<String>,
    client: std::net::IpAddr,
    method: String,
    /// The path only: the query carries the task token and the signature.
    path: String,
    outcome: Outcome,
    /// The status answered; `None` while (or if never) answered.
    status: Option<u16>,
}

/// The status and code logged for a request whose client went away before its answer (the
/// status is nginx's, for the same event).
const CLIENT_CLOSED: (u16, &str) = (499, "ClientClosedRequest");

impl RequestRecord {
    fn open(
        gateway: Arc<Gateway>,
        parts: &hyper::http::request::Parts,
        head: &Request,
        peer: SocketAddr,
    ) -> RequestRecord {
        gateway.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        RequestRecord {
            gateway,
            started: Instant::now(),
            request_id: head.request_id.clone(),
            client_request_id: client_request_id(parts),
            client: peer.ip(),
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            outcome: Outcome {
                dialect: taskgate_filter::dialect_of(head),
                code: String::new(),
                action: None,
                destination: None,
                component: None,
                upstream: None,
            },
            status: None,
        }
    }
}

impl RequestRecord {
    /// Records the status the request was answered with (logged when the record closes).
    fn answered(&mut self, status: StatusCode) {
        self.status = Some(status.as_u16());
    }
}

impl Drop for RequestRecord {
    fn drop(&mut self) {
        let metrics = &self.gateway.metrics;
        metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
        let outcome = &self.outcome;
        let (status, code) = match self.status {
            Some(status) => (status, outcome.code.as_str()),
            None => CLIENT_CLOSED,
        };
        let elapsed = self.started.elapsed();
        let dialect = outcome.dialect.name();
        metrics.count_request(dialect, code, status);
        metrics.request_seconds.observe(elapsed);
        if let Some(t) = outcome.component {
            metrics.component_seconds.observe(t);
        }
        if let Some(t) = outcome.upstream {
            metrics.upstream_seconds.observe(t);
        }
        let micros = |d: Option<Duration>| d.map(|d| d.as_micros() as u64);
        let line = LogLine {
            request_id: self.request_id.as_deref(),
            client_request_id: self.client_request_id.as_deref(),
            client: self.client,
            method: &self.method,
            path: &self.path,
            dialect,
            action: outcome.action.as_deref(),
            code,
            status,
            upstream: outcome.destination.as_deref(),
            component_us: micros(outcome.component),
            upstream_us: micros(outcome.upstream),
            total_us: elapsed.as_micros() as u64,
        };
        // Serializing borrowed fields of plain types cannot fail.
        let line = serde_json::to_string(&line).unwrap_or_default();
        self.gateway.log.line(line);
    }
}

/// The longest `X-Request-Id` logged: an id, not a place to store data in our logs.
const MAX_CLIENT_REQUEST_ID: usize = 128;

/// The client's `X-Request-Id`, when it is a plausible id (1 to 128 visible ASCII characters);
/// anything else is left out of the log rather than cut or escaped into something misleading.
fn client_request_id(parts: &hyper::http::request::Parts) -> Option<String> {
    let value = parts.headers.get("x-request-id")?.as_bytes();
    let plausible = (1..=MAX_CLIENT_REQUEST_ID).contains(&value.len())
        && value.iter().all(|b| b.is_ascii_graphic());
    plausible.then(|| String::from_utf8_lossy(value).into_owned())
}

/// read: the body, within the dialect's limit (refused as soon as it is longer, before it is
/// all read) and `read_timeout`. On failure, the unread body if the rest should be drained.
async fn read(
    config: &Config,
    parts: &hyper::http::request::Parts,
    mut body: Incoming,
    dialect: Dialect,
) -> Result<Bytes, (Stop, Option<Incoming>)> {
    let limit = config.limits.body_limit(dialect);
    let too_large = Stop {
        failure: EdgeFailure::EntityTooLarge { limit },
        close: true,
    };
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::from(limit)) {
        return Err((too_large, Some(body)));
    }
    match tokio::time::timeout(
        config.serve.read_timeout,
        read_capped(&mut body, limit as usize),
    )
    .await
    {
        Ok(Ok(Some(read))) => Ok(read),
        Ok(Ok(None)) => Err((too_large, Some(body))),
        // The client's fault either way: close, answering if it still listens.
        Ok(Err(_)) => Err((
            Stop {
                failure: EdgeFailure::Malformed {
                    detail: "the body could not be read (bad chunked framing, or the connection broke mid-body)"
                        .to_owned(),
                },
                close: true,
            },
            None,
        )),
        Err(_) => Err((
            Stop {
                failure: EdgeFailure::SlowClient,
                close: true,
            },
            None,
        )),
    }
}

/// What makes a request's head one an edge in front of other servers must refuse, if anything:
/// ambiguity about the host (which routes it and which the signature covers) or about where
/// its body ends (request smuggling).
fn malformed(parts: &hyper::http::request::Parts) -> Option<&'static str> {
    let hosts = parts.headers.get_all(hyper::header::HOST).iter().count();
    if hosts > 1 {
        return Some("more than one Host header");
    }
    match parts.version {
        // RFC 9112 §3.2: a server must answer an HTTP/1.1 request without Host with 400.
        Version::HTTP_11 if hosts == 0 => return Some("no Host header (HTTP/1.1 requires one)"),
        // RFC 9113 §8.3.1: a Host header must agree with :authority.
        Version::HTTP_2 => {
            if let (Some(host), Some(authority)) = (
                parts.headers.get(hyper::header::HOST),
                parts.uri.authority(),
            ) && host.as_bytes() != authority.as_str().as_bytes()
            {
                return Some("a Host header that differs from :authority");
            }
        }
        _ => {}
    }
    // RFC 9112 §6.3 lets a server de-chunk such a message; a strict edge refuses it instead.
    // hyper drops the Content-Length of such a head before we see it: the connection's
    // framing watcher marks the request instead.
    if parts.extensions.get::<BothLengths>().is_some() {
        return Some("both Content-Length and Transfer-Encoding");
    }
    None
}

/// The host the client asked for, without port: an HTTP/1 request's absolute-form target
/// (forward-proxy mode), else its `Host` header, else HTTP/2's `:authority`.
fn requested_host(parts: &hyper::http::request::Parts) -> Option<String> {
    let absolute = (parts.version < Version::HTTP_2)
        .then(|| parts.uri.authority().map(|a| a.as_str().to_owned()))
        .flatten();
    let authority = absolute
        .or_else(|| {
            parts
                .headers
                .get(hyper::header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()))?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or("")),
        None => authority.split(':').next().unwrap_or("").to_owned(),
    };
    (!host.is_empty()).then_some(host)
}

/// HTTP/2 carries the host in `:authority`, not in a `Host` header; ACS3 signs `host`, and the
/// HTTP/1.1 upstream needs it, so it is made a header here, once, for the check and the forward.
fn with_host_header(parts: &mut hyper::http::request::Parts) {
    if parts.headers.contains_key(hyper::header::HOST) {
        return;
    }
    if let Some(value) = parts
        .uri
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        parts.headers.insert(hyper::header::HOST, value);
    }
}

/// The request as the filter sees it, without its body yet, with a fresh request id.
fn head_of(parts: &hyper::http::request::Parts) -> Request {
    let received_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Request {
        method: parts.method.as_str().to_owned(),
        path_with_query: parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: Vec::new(),
        received_at,
        request_id: Some(uuid::Uuid::new_v4().to_string().to_uppercase()),
    }
}

/// Most bytes of a refused body read and thrown away so that its answer arrives; see `linger`.
const LINGER_BYTES: usize = 64 << 20;

/// Reads and discards the rest of a refused body in the background, for at most
/// [`LINGER_BYTES`] and `timeout`, while the answer goes out at once. Closing a connection with
/// unread bytes makes the kernel reset it, and a client still sending its body (Node's HTTP
/// client, for one) then sees the reset instead of the answer. Nothing is kept.
fn linger(mut body: Incoming, timeout: Duration) {
    tokio::spawn(async move {
        let drain = async {
            let mut seen = 0;
            while let Some(Ok(frame)) = body.frame().await {
                seen += frame.data_ref().map_or(0, |data| data.len());
                if seen > LINGER_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(timeout, drain).await;
    });
}

/// Reads the body up to `limit` bytes; `None` as soon as it is longer, without reading the rest.
async fn read_capped(body: &mut Incoming, limit: usize) -> Result<Option<Bytes>, hyper::Error> {
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if buffer.len() + data.len() > limit {
                return Ok(None);
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(Some(buffer.freeze()))
}

impl Gateway {
    /// respond: the one place a failure the gateway found itself becomes the caller's answer,
    /// rendered by the component (`validator.respond`), so that a loaded component decides
    /// these bytes as it decides its rejections. Should the component fail even at that, the
    /// built-in table answers (the code the component is built from), and the failure is
    /// counted. `close` ends the connection (the rest of an unread body must not be taken for
    /// the next request).
    fn respond(
        &self,
        config: &Arc<Config>,
        head: &Request,
        failure: EdgeFailure,
        outcome: &mut Outcome,
        close: bool,
    ) -> HttpResponse<Full<Bytes>> {
        let response = self
            .sandbox
            .respond(config, head, failure.clone())
            .unwrap_or_else(|_| {
                self.metrics
                    .component_failures
                    .fetch_add(1, Ordering::Relaxed);
                taskgate_filter::edge_response(head, failure)
            });
        outcome.code = response.code.clone();
        vendor_response(response, close)
    }
}

fn vendor_response(response: Response, close: bool) -> HttpResponse<Full<Bytes>> {
    let mut http = HttpResponse::new(Full::new(Bytes::from(response.body)));
    *http.status_mut() =
        StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in response.headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            http.headers_mut().append(name, value);
        }
    }
    if close {
        http.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    http
}
