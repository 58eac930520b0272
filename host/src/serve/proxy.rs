//! One request through the gateway, in named phases: admit (in-flight cap) → read (head and
//! capped body) → check (the component) → forward or sink → respond and log. Every way out of a
//! phase is an answer in the caller's dialect; `answer` is the one place that turns a failure
//! into a response.

use super::log::Log;
use super::metrics::Metrics;
use super::sink::Sink;
use super::upstream::Upstream;
use crate::config::Config;
use crate::sandbox::Sandbox;
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_LENGTH, HeaderValue};
use hyper::{Request as HttpRequest, Response as HttpResponse, StatusCode};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use taskgate_filter::{Dialect, EdgeFailure, Request, Response, Verdict};
use tokio::sync::Semaphore;

/// Everything the request path shares, built once at start-up.
pub struct Gateway {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The pre-instantiated filter component.
    pub sandbox: Sandbox,
    /// Where each dialect's accepted requests go; a dialect without one goes to the sink.
    pub upstreams: HashMap<Dialect, Upstream>,
    /// The local callback sink, when some dialect has no upstream.
    pub sink: Option<Sink>,
    /// Counters and histograms.
    pub metrics: Metrics,
    /// One permit per request in flight.
    pub permits: Arc<Semaphore>,
    /// The per-request log.
    pub log: Log,
}

/// What one request did, for its log line and metrics. Never holds secrets or `Error`/`Cause`.
struct Outcome {
    /// Whose rules and error format apply (from the `X-Amz-Target` header, before any check).
    dialect: Dialect,
    code: String,
    component: Option<Duration>,
    upstream: Option<Duration>,
}

impl Gateway {
    /// Handles one request; always answers.
    pub async fn handle(
        &self,
        request: HttpRequest<Incoming>,
        peer: SocketAddr,
    ) -> HttpResponse<Full<Bytes>> {
        let started = Instant::now();
        self.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        let (mut parts, body) = request.into_parts();
        with_host_header(&mut parts);
        let head = head_of(&parts);
        let mut outcome = Outcome {
            dialect: taskgate_filter::dialect_of(&head),
            code: String::new(),
            component: None,
            upstream: None,
        };
        let response = self.phases(&parts, body, &head, peer, &mut outcome).await;
        self.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.finish(&parts, &head, peer, started, &outcome, response)
    }

    async fn phases(
        &self,
        parts: &hyper::http::request::Parts,
        mut body: Incoming,
        head: &Request,
        peer: SocketAddr,
        outcome: &mut Outcome,
    ) -> HttpResponse<Full<Bytes>> {
        let dialect = outcome.dialect;
        // admit
        let Ok(_permit) = self.permits.clone().try_acquire_owned() else {
            let limit = self.config.serve.max_in_flight;
            return answer(head, EdgeFailure::Throttled { limit }, outcome, true);
        };

        // read
        let limit = self.config.limits.body_limit(dialect);
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > u64::from(limit)) {
            linger(body, self.config.serve.read_timeout);
            return answer(head, EdgeFailure::EntityTooLarge { limit }, outcome, true);
        }
        let body = match tokio::time::timeout(
            self.config.serve.read_timeout,
            read_capped(&mut body, limit as usize),
        )
        .await
        {
            Ok(Ok(Some(read))) => read,
            Ok(Ok(None)) => {
                linger(body, self.config.serve.read_timeout);
                return answer(head, EdgeFailure::EntityTooLarge { limit }, outcome, true);
            }
            // The client broke off or was too slow: close, answering if it still listens.
            Ok(Err(_)) | Err(_) => return answer(head, EdgeFailure::Internal, outcome, true),
        };

        // check
        let verdict = if self.config.serve.filter {
            let mut request = head.clone();
            request.body = body.to_vec();
            let checked = Instant::now();
            let result = self.sandbox.check(&self.config, request);
            outcome.component = Some(checked.elapsed());
            match result {
                Ok(verdict) => Some(verdict),
                Err(_) => {
                    self.metrics
                        .component_failures
                        .fetch_add(1, Ordering::Relaxed);
                    return answer(head, EdgeFailure::Internal, outcome, false);
                }
            }
        } else {
            None
        };
        let report = match verdict {
            Some(Verdict::Reject(response)) => {
                outcome.code = response.code.clone();
                return vendor_response(response, false);
            }
            Some(Verdict::Forward(report)) => Some(report),
            None => None,
        };

        // forward or sink
        match (self.upstreams.get(&dialect), &self.sink, report) {
            (Some(upstream), _, _) => {
                let sent = Instant::now();
                let result = upstream.forward(parts, body, peer.ip()).await;
                outcome.upstream = Some(sent.elapsed());
                match result {
                    Ok(response) => {
                        outcome.code = "forwarded".to_owned();
                        response
                    }
                    Err(error) => {
                        self.metrics.count_upstream_error(error.kind());
                        answer(head, EdgeFailure::Internal, outcome, false)
                    }
                }
            }
            (None, Some(sink), Some(report)) => match sink.record(&report, head.received_at) {
                Ok(event_id) => {
                    outcome.code = "recorded".to_owned();
                    vendor_response(taskgate_filter::success_response(&report, event_id), false)
                }
                Err(_) => answer(head, EdgeFailure::Internal, outcome, false),
            },
            // Unchecked and nowhere to go: only a misconfiguration reaches this.
            _ => answer(head, EdgeFailure::Internal, outcome, false),
        }
    }

    fn finish(
        &self,
        parts: &hyper::http::request::Parts,
        head: &Request,
        peer: SocketAddr,
        started: Instant,
        outcome: &Outcome,
        response: HttpResponse<Full<Bytes>>,
    ) -> HttpResponse<Full<Bytes>> {
        let elapsed = started.elapsed();
        let status = response.status().as_u16();
        let dialect = outcome.dialect.name();
        self.metrics.count_request(dialect, &outcome.code, status);
        self.metrics.request_seconds.observe(elapsed);
        if let Some(t) = outcome.component {
            self.metrics.component_seconds.observe(t);
        }
        if let Some(t) = outcome.upstream {
            self.metrics.upstream_seconds.observe(t);
        }
        // The path only: the query carries the task token and the signature.
        let micros = |d: Option<Duration>| d.map(|d| d.as_micros() as u64);
        let line = json!({
            "request_id": head.request_id,
            "client": peer.ip().to_string(),
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "dialect": dialect,
            "code": outcome.code,
            "status": status,
            "component_us": micros(outcome.component),
            "upstream_us": micros(outcome.upstream),
            "total_us": elapsed.as_micros() as u64,
        });
        self.log.line(line.to_string());
        response
    }
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

/// The one place a host-side failure becomes the caller's answer. `close` ends the connection
/// (the rest of an unread body must not be taken for the next request).
fn answer(
    head: &Request,
    failure: EdgeFailure,
    outcome: &mut Outcome,
    close: bool,
) -> HttpResponse<Full<Bytes>> {
    let response = taskgate_filter::edge_response(head, failure);
    outcome.code = response.code.clone();
    vendor_response(response, close)
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
