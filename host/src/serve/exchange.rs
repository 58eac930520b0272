//! One request through the gateway, as phases over one context, the [`Exchange`]:
//!
//! screen (in-flight cap, no tunnels, no malformed heads) → route (the host the client asked
//! for) → read (the body, capped and timed) → check (the component; under `repair =
//! "truncate"`, a failure report refused for over-long free text is cut to length, signed again
//! and checked again: `repair.rs`) → remember (rate, replay and ledger, `remember.rs`) → resign (a worker key's `sign_as`: signed again with the
//! gateway's credential, and checked again) → deliver (upstream or sink; the outcome settles
//! the task or not) → answer.
//!
//! Each phase returns what the next one needs or the [`End`] the request stops with; in
//! shadow mode (`[serve] mode`, a route's `mode`) the ends of check and remember are logged
//! and counted (`shadow`) and the request is forwarded anyway. `answer`
//! is the one place an `End` becomes the caller's answer and the code logged for it; the
//! exchange's `Drop` is the one place a request is logged and counted, however it ended
//! (answered, or abandoned by a client that went away).

use super::body::{self, Unread};
use super::gateway::{Gateway, Live};
use super::head;
use super::log::LogLine;
use super::remember::{self, Hold};
use super::routes::Destination;
use crate::config::Trace;
use crate::repair::{self, Repairing};
use crate::resign::{self, Resigning};
use crate::store::Claim;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Response as HttpResponse, StatusCode};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use taskgate_filter::record;
use taskgate_filter::repair::RepairedField;
use taskgate_filter::{
    Dialect, EdgeFailure, Mode, PassedCall, Report, Request, Response, SignatureCheck,
    TemporaryCredentials, Verdict,
};
use tokio::sync::OwnedSemaphorePermit;

/// The answer a client gets.
type Answer = HttpResponse<Full<Bytes>>;

/// One request on its way through the phases: what every phase reads (the configuration it
/// started under, its head, the host it asked for) and what the phases learn of it for the
/// log line and the metrics. Logged and counted once, when dropped.
pub struct Exchange {
    gateway: Arc<Gateway>,
    /// The configuration in force when the request arrived; a reload does not change it
    /// mid-way.
    live: Arc<Live>,
    parts: Parts,
    /// The request as the filter sees it (its body is added for the check only).
    request: Request,
    /// The host the client asked for, without port.
    host: Option<String>,
    peer: SocketAddr,
    /// Whose rules and error format apply (from the head, before any check).
    dialect: Dialect,
    started: Instant,
    /// What the phases learned, for the log line and the metrics.
    learned: Learned,
}

/// What the phases learn of a request along the way. Never a secret, `Error` or `Cause`.
#[derive(Default)]
struct Learned {
    /// The operation the component found (a report's, or a call passed per `other_calls`).
    action: Option<String>,
    /// The access key that signed it, and who checks its MAC (the edge, or the service).
    signer: Option<(String, SignatureCheck)>,
    /// The credential it was re-signed with (`sign_as`).
    sign_as: Option<String>,
    /// The fields repair mode cut to length (and so signed again: resign leaves it be).
    repaired: Option<Vec<RepairedField>>,
    /// Why repair mode refused a report with over-long free text.
    not_repaired: Option<String>,
    /// Where it was delivered: `scheme://host[:port]`, or `sink`.
    destination: Option<String>,
    component: Option<Duration>,
    upstream: Option<Duration>,
    /// The code and status answered (`None`: not answered yet, or never).
    answered: Option<(Cow<'static, str>, u16)>,
    /// Shadow mode: the code and status enforce mode would have answered with.
    shadowed: Option<(String, u16)>,
}

/// How a request ends; `answer` turns it into the caller's answer.
pub enum End {
    /// A failure the gateway found itself, answered in the caller's dialect as the component
    /// renders it. `close` ends the connection; `unread` is the rest of a body not read, drained
    /// in the background so that the answer reaches a client still sending.
    Failure {
        failure: EdgeFailure,
        close: bool,
        unread: Option<Incoming>,
    },
    /// The vendor's rejection, as the component rendered it.
    Rejected(Response),
    /// The upstream's answer, passed back unchanged.
    Forwarded(Answer),
    /// Recorded in the local sink, answered with the service's success body.
    Recorded(Response),
}

impl End {
    /// A failure answered on a connection that stays open.
    fn keep(failure: EdgeFailure) -> End {
        End::Failure {
            failure,
            close: false,
            unread: None,
        }
    }

    /// A failure answered before the body was read: the connection closes, the body drains.
    fn before_body(failure: EdgeFailure, body: Incoming) -> End {
        End::Failure {
            failure,
            close: true,
            unread: Some(body),
        }
    }
}

/// What the check says to deliver.
#[expect(
    clippy::large_enum_variant,
    reason = "one per request, on the stack: boxing would add an allocation per request"
)]
enum Delivery {
    /// A callback that passed every rule.
    Report(Report),
    /// A call the filter does not model, passed per `other_calls`.
    Passed(PassedCall),
    /// Anything, unchecked (`--no-filter`).
    Unchecked,
    /// A request the filter or the memory would answer, forwarded anyway (shadow mode).
    Shadowed,
}

impl Delivery {
    /// The access key id of a delivery whose MAC is left to the service: nobody but the
    /// service can tell it from a forgery, so it is never answered as the service would.
    fn unverifiable(&self) -> Option<&str> {
        match self {
            Delivery::Report(report) if report.signature == SignatureCheck::Service => {
                Some(&report.access_key_id)
            }
            Delivery::Passed(call) if call.signature == Some(SignatureCheck::Service) => {
                call.access_key_id.as_deref()
            }
            _ => None,
        }
    }

    /// The access key whose signature the edge verified (a report's, or an authenticated
    /// passed call's): the one whose `sign_as` applies.
    fn verified_key(&self) -> Option<&str> {
        match self {
            Delivery::Report(report) => resign::report_key(report),
            Delivery::Passed(call) => resign::call_key(call),
            Delivery::Unchecked | Delivery::Shadowed => None,
        }
    }

    /// What the memory is asked for this delivery: only what an authenticated caller sent.
    fn claim(&self) -> Option<Claim<'_>> {
        match self {
            Delivery::Report(report) => Some(Claim::of_report(report)),
            Delivery::Passed(call) => Claim::of_call(call),
            Delivery::Unchecked | Delivery::Shadowed => None,
        }
    }
}

impl Exchange {
    /// Handles one request; always answers (unless the client goes away first: it is logged
    /// either way). The exchange is opened here, before the future is first polled: hyper
    /// drops the future of a request whose client closed right after sending it without ever
    /// polling it, and that request reached us too.
    pub fn handle(
        gateway: Arc<Gateway>,
        request: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Answer> + Send + 'static {
        let (mut parts, body) = request.into_parts();
        let host = head::requested_host(&parts);
        head::with_host_header(&mut parts);
        let request = head::filter_request(&parts);
        gateway.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        let mut exchange = Exchange {
            live: gateway.live.load_full(),
            gateway,
            dialect: taskgate_filter::dialect_of(&request),
            parts,
            request,
            host,
            peer,
            started: Instant::now(),
            learned: Learned::default(),
        };
        async move {
            let end = exchange.phases(body).await;
            exchange.answer(end)
        }
    }

    /// The phases in order, up to the end the request comes to.
    async fn phases(&mut self, body: Incoming) -> End {
        let live = Arc::clone(&self.live);
        let _permit = match self.screen() {
            Ok(permit) => permit,
            Err(failure) => return End::before_body(failure, body),
        };
        let destination = match live.routes.select(self.host.as_deref(), self.dialect) {
            Destination::Miss => {
                let host = self.host.clone().unwrap_or_default();
                return End::before_body(EdgeFailure::NoRoute { host }, body);
            }
            destination => destination,
        };
        // Shadow mode forwards what check and remember would answer; what comes before (the
        // head, the route, the body's size and time) protects the gateway and is enforced in
        // both modes, and so is a request for the sink, which records accepted calls only.
        let serve = &live.config.serve;
        let (mode, temporary_credentials, repair) = match destination {
            Destination::Upstream(_, overrides) => (
                overrides.mode.unwrap_or(serve.mode),
                (overrides.temporary_credentials).unwrap_or(serve.temporary_credentials),
                overrides.repair.unwrap_or(serve.repair),
            ),
            Destination::Sink | Destination::Miss => {
                (Mode::Enforce, serve.temporary_credentials, serve.repair)
            }
        };
        let shadow = mode == Mode::Shadow;
        let mut body = match self.read(body).await {
            Ok(body) => body,
            Err(end) => return end,
        };
        let delivery = match self.check(&body, temporary_credentials) {
            Ok(delivery) => delivery,
            Err(End::Rejected(refusal)) if repair::applies(repair, mode) => {
                match self.repair(&body, temporary_credentials) {
                    Some((delivery, repaired)) => {
                        body = repaired;
                        delivery
                    }
                    None => return End::Rejected(refusal),
                }
            }
            Err(end) if shadow => {
                self.shadow(end);
                Delivery::Shadowed
            }
            Err(end) => return end,
        };
        let hold = match self.remember(&delivery).await {
            Ok(hold) => hold,
            Err(failure) if shadow => {
                self.shadow(End::keep(failure));
                None
            }
            Err(failure) => return End::keep(failure),
        };
        let end = match self.resign(&destination, &delivery, body, temporary_credentials) {
            Ok(body) => self.deliver(destination, body, &delivery).await,
            Err(failure) => End::keep(failure),
        };
        if let Some(hold) = hold {
            self.settle(hold, &end).await;
        }
        end
    }

    /// screen: tunnels are refused (taskgate must see each request), so are heads an edge must
    /// not pass on, and at most `max_in_flight` requests are handled at once.
    fn screen(&self) -> Result<OwnedSemaphorePermit, EdgeFailure> {
        if self.parts.method == Method::CONNECT {
            return Err(EdgeFailure::Tunnel);
        }
        if let Some(detail) = head::malformed(&self.parts) {
            return Err(EdgeFailure::Malformed {
                detail: detail.to_owned(),
            });
        }
        let limit = self.live.config.serve.max_in_flight;
        (self.gateway.permits.clone().try_acquire_owned())
            .map_err(|_| EdgeFailure::Throttled { limit })
    }

    /// read: the body, within the dialect's limit and `read_timeout`.
    async fn read(&self, body: Incoming) -> Result<Bytes, End> {
        let config = &self.live.config;
        let limit = config.limits.body_limit(self.dialect);
        body::read(&self.parts, body, limit, config.serve.read_timeout)
            .await
            .map_err(|Unread { failure, rest }| End::Failure {
                failure,
                close: true,
                unread: rest,
            })
    }

    /// check: the component's verdict on the whole request. A component that cannot give one
    /// (a trap, its deadline or memory cap) ends the request with an internal error.
    #[expect(
        clippy::result_large_err,
        reason = "an End is made once per request and moved, never copied: boxing it would add an allocation to every forwarded request"
    )]
    fn check(
        &mut self,
        body: &Bytes,
        temporary_credentials: TemporaryCredentials,
    ) -> Result<Delivery, End> {
        let config = &self.live.config;
        if !config.serve.filter {
            return Ok(Delivery::Unchecked);
        }
        let mut request = self.request.clone();
        request.body = body.to_vec();
        let checked = Instant::now();
        let sandbox = &self.gateway.sandbox;
        let verdict = sandbox.check_under(config, temporary_credentials, request);
        self.learned.component = Some(checked.elapsed());
        match verdict {
            Ok(Verdict::Forward(report)) => {
                self.learned.action = Some(report.action.clone());
                self.learn_signer(Some(&report.access_key_id), Some(report.signature));
                Ok(Delivery::Report(report))
            }
            Ok(Verdict::Pass(call)) => {
                self.gateway.metrics.count_other_call(
                    call.dialect.name(),
                    &call.action,
                    config.serve.other_calls.name(),
                );
                self.learned.action = Some(call.action.clone());
                self.learn_signer(call.access_key_id.as_deref(), call.signature);
                Ok(Delivery::Passed(call))
            }
            Ok(Verdict::Reject(response)) => Err(End::Rejected(response)),
            Err(_) => {
                let metrics = &self.gateway.metrics;
                metrics.component_failures.fetch_add(1, Ordering::Relaxed);
                Err(End::keep(EdgeFailure::Internal))
            }
        }
    }

    /// repair: a failure report the component refused, cut to length where its free text is
    /// over the service's limit, signed again and accepted by the component (`repair.rs`):
    /// what to deliver and the body to forward. `None`: the refusal stands (the log says why
    /// when there was over-long text).
    fn repair(
        &mut self,
        body: &Bytes,
        temporary_credentials: TemporaryCredentials,
    ) -> Option<(Delivery, Bytes)> {
        let config = Arc::clone(&self.live.config);
        let mut request = self.request.clone();
        request.body = body.to_vec();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let sandbox = &self.gateway.sandbox;
        let repaired = repair::repair(
            sandbox,
            &config,
            temporary_credentials,
            &request,
            unix_now(),
            &nonce,
        );
        let repair = match repaired {
            Repairing::Nothing => return None,
            Repairing::Refused(why) => {
                self.learned.not_repaired = Some(why);
                return None;
            }
            Repairing::Repaired(repair) => *repair,
        };
        if head::apply(&mut self.parts, &self.request, &repair.request).is_err() {
            self.learned.not_repaired = Some("the repaired head is not valid HTTP".to_owned());
            return None;
        }
        let report = repair.report;
        self.learned.action = Some(report.action.clone());
        self.learn_signer(Some(&report.access_key_id), Some(report.signature));
        self.learned.sign_as = repair.sign_as;
        self.learned.repaired = Some(repair.fields);
        let body = Bytes::from(repair.request.body);
        Some((Delivery::Report(report), body))
    }

    /// Keeps who signed an accepted request for the log line, and counts one whose MAC is left
    /// to the service apart.
    fn learn_signer(&mut self, access_key_id: Option<&str>, signature: Option<SignatureCheck>) {
        let (Some(id), Some(signature)) = (access_key_id, signature) else {
            return;
        };
        if signature == SignatureCheck::Service {
            let metrics = &self.gateway.metrics;
            metrics.count_left_to_service(self.dialect.name());
        }
        self.learned.signer = Some((id.to_owned(), signature));
    }

    /// remember: see `remember.rs`.
    async fn remember(&self, delivery: &Delivery) -> Result<Option<Hold>, EdgeFailure> {
        let gateway = &self.gateway;
        let store = gateway.store.as_ref();
        remember::remember(store, &self.live.config, delivery.claim(), &gateway.metrics).await
    }

    /// resign: a request verified at the edge under a worker key whose `sign_as` names a
    /// credential goes upstream signed with that credential and checked again (`resign.rs`);
    /// anything else goes on as the caller signed it. The body to forward, or the failure the
    /// request ends with (the credential cannot be had, or the re-signed request does not
    /// pass: the service's own 500).
    fn resign(
        &mut self,
        destination: &Destination<'_>,
        delivery: &Delivery,
        body: Bytes,
        temporary_credentials: TemporaryCredentials,
    ) -> Result<Bytes, EdgeFailure> {
        let (Destination::Upstream(..), Some(key)) = (destination, delivery.verified_key()) else {
            return Ok(body);
        };
        if self.learned.repaired.is_some() {
            // Repair signed it already, with the same key or credential.
            return Ok(body);
        }
        let config = Arc::clone(&self.live.config);
        if !config.sign_as.contains_key(key) {
            return Ok(body);
        }
        let mut request = self.request.clone();
        request.body = body.to_vec();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let sandbox = &self.gateway.sandbox;
        let resigning = resign::resign(
            sandbox,
            &config,
            temporary_credentials,
            &request,
            Some(key),
            unix_now(),
            &nonce,
        );
        let metrics = &self.gateway.metrics;
        match resigning {
            Resigning::AsSigned => Ok(body),
            Resigning::Signed {
                credential,
                request: signed,
            } => {
                head::apply(&mut self.parts, &self.request, &signed)
                    .map_err(|()| EdgeFailure::Internal)?;
                metrics.count_resigned(self.dialect.name(), &credential);
                self.learned.sign_as = Some(credential);
                Ok(Bytes::from(signed.body))
            }
            Resigning::Failed {
                credential, stage, ..
            } => {
                metrics.count_resign_failure(self.dialect.name(), stage);
                self.learned.sign_as = Some(credential);
                Err(EdgeFailure::Internal)
            }
        }
    }

    /// deliver: to the upstream (its answer comes back unchanged) or into the local sink
    /// (answered with the service's success body).
    async fn deliver(
        &mut self,
        destination: Destination<'_>,
        body: Bytes,
        delivery: &Delivery,
    ) -> End {
        match destination {
            Destination::Upstream(upstream, _) => {
                self.count_repair();
                self.start_trace();
                let host = self.host.as_deref().unwrap_or("");
                self.learned.destination = Some(upstream.base(host));
                let sent = Instant::now();
                let result = upstream
                    .forward(&self.parts, body, self.peer.ip(), host)
                    .await;
                self.learned.upstream = Some(sent.elapsed());
                match result {
                    Ok(response) => End::Forwarded(response),
                    Err(error) => {
                        self.gateway.metrics.count_upstream_error(error.kind());
                        End::keep(EdgeFailure::Internal)
                    }
                }
            }
            Destination::Sink => {
                self.learned.destination = Some("sink".to_owned());
                // The sink answers as the service would: only for a request the edge verified.
                if let Some(id) = delivery.unverifiable() {
                    let access_key_id = id.to_owned();
                    return End::keep(EdgeFailure::Unverifiable { access_key_id });
                }
                self.count_repair();
                self.record(delivery)
                    .map_or_else(|| End::keep(EdgeFailure::Internal), End::Recorded)
            }
            Destination::Miss => End::keep(EdgeFailure::Internal),
        }
    }

    /// A repaired report on its way upstream (or into the sink) is counted: each field cut,
    /// and the `sign_as` credential it was signed with. Counted here, not when it was
    /// repaired: the memory may still refuse it (a replay, a settled task).
    fn count_repair(&self) {
        let Some(fields) = &self.learned.repaired else {
            return;
        };
        let (metrics, dialect) = (&self.gateway.metrics, self.dialect.name());
        for field in fields {
            metrics.count_repaired(dialect, field.field);
        }
        if let Some(credential) = &self.learned.sign_as {
            metrics.count_resigned(dialect, credential);
        }
    }

    /// With `[serve] trace = "start"`, a request without a valid `traceparent` gets a new one
    /// (and loses a `tracestate` that belonged to no valid trace); a client's valid context is
    /// forwarded unchanged.
    fn start_trace(&mut self) {
        if self.live.config.serve.trace != Trace::Start || head::trace_id(&self.parts).is_some() {
            return;
        }
        let headers = &mut self.parts.headers;
        headers.remove(head::TRACESTATE);
        headers.insert(head::TRACEPARENT, head::new_traceparent());
    }

    /// Writes an accepted call into the sink; the service's success answer, or `None` when it
    /// cannot be written (or there is nothing to write: the CLI refuses the sink without the
    /// filter).
    fn record(&self, delivery: &Delivery) -> Option<Response> {
        let sink = self.live.sink.as_ref()?;
        let received_at = self.request.received_at;
        match delivery {
            Delivery::Report(report) => {
                let repaired = self.learned.repaired.as_deref().unwrap_or_default();
                let event_id = sink.record(report, received_at, repaired).ok()?;
                Some(taskgate_filter::success_response(report, event_id))
            }
            Delivery::Passed(call) => {
                sink.record_call(call, received_at).ok()?;
                Some(taskgate_filter::passed_response(call))
            }
            Delivery::Unchecked | Delivery::Shadowed => None,
        }
    }

    /// After deliver, for a report whose task this request holds: the outcome settles the task
    /// (a 2xx, or the service's own "already closed" refusal, as the component judges it) or
    /// lets it go. Done before answering, so a duplicate that follows the answer finds it.
    async fn settle(&self, hold: Hold, end: &End) {
        let (config, gateway) = (&self.live.config, &self.gateway);
        let settles = match end {
            End::Recorded(_) => true,
            End::Forwarded(response) => match response.status().as_u16() {
                200..=299 => true,
                status @ 400..=499 => {
                    // `Full` holds the whole answer: collecting a clone copies no bytes.
                    let body = response.body().clone().collect().await;
                    let body = body.map(|b| b.to_bytes()).unwrap_or_default();
                    gateway
                        .sandbox
                        .settles(config, self.dialect, status, &body)
                        .unwrap_or_else(|_| taskgate_filter::settles(self.dialect, status, &body))
                }
                _ => false,
            },
            End::Failure { .. } | End::Rejected(_) => false,
        };
        if settles {
            hold.settle(config.store.retention, &gateway.metrics).await;
        } else {
            hold.release(&gateway.metrics).await;
        }
    }

    /// answer: the one place a request's end becomes the caller's answer and the code logged
    /// for it (a failure the gateway found itself is rendered by `render`).
    fn answer(&mut self, end: End) -> Answer {
        let (answer, code) = match end {
            End::Failure {
                failure,
                close,
                unread,
            } => {
                let config = &self.live.config;
                if let Some(rest) = unread {
                    body::linger(rest, config.serve.read_timeout);
                }
                let response = self.render(failure);
                let code = Cow::Owned(response.code.clone());
                (vendor_response(response, close), code)
            }
            End::Rejected(response) => {
                let code = Cow::Owned(response.code.clone());
                (vendor_response(response, false), code)
            }
            End::Forwarded(answer) => (answer, Cow::Borrowed(record::FORWARDED)),
            End::Recorded(response) => (
                vendor_response(response, false),
                Cow::Borrowed(record::RECORDED),
            ),
        };
        self.learned.answered = Some((code, answer.status().as_u16()));
        answer
    }
}

impl Exchange {
    /// A failure the gateway found, in the caller's dialect: rendered by the component
    /// (`validator.respond`), so that a loaded component decides these bytes as it decides its
    /// rejections; should the component fail even at that, by the built-in table (the code the
    /// component is built from), and the failure is counted.
    fn render(&self, failure: EdgeFailure) -> Response {
        let sandbox = &self.gateway.sandbox;
        sandbox
            .respond(&self.live.config, &self.request, failure.clone())
            .unwrap_or_else(|_| {
                let metrics = &self.gateway.metrics;
                metrics.component_failures.fetch_add(1, Ordering::Relaxed);
                taskgate_filter::edge_response(&self.request, failure)
            })
    }

    /// Shadow mode: the answer `end` would give, counted and kept for the log line instead of
    /// answered.
    fn shadow(&mut self, end: End) {
        let response = match end {
            End::Rejected(response) => response,
            End::Failure { failure, .. } => self.render(failure),
            End::Forwarded(_) | End::Recorded(_) => return,
        };
        let metrics = &self.gateway.metrics;
        metrics.count_shadow(self.dialect.name(), &response.code);
        self.learned.shadowed = Some((response.code, response.status));
    }
}

impl Drop for Exchange {
    /// Logs and counts the request, however it ended.
    fn drop(&mut self) {
        let metrics = &self.gateway.metrics;
        metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
        let learned = &self.learned;
        let (code, status) = match &learned.answered {
            Some((code, status)) => (code.as_ref(), *status),
            None => record::CLIENT_CLOSED,
        };
        let elapsed = self.started.elapsed();
        let dialect = self.dialect.name();
        metrics.count_request(dialect, code, status);
        metrics.request_seconds.observe(elapsed);
        if let Some(t) = learned.component {
            metrics.component_seconds.observe(t);
        }
        if let Some(t) = learned.upstream {
            metrics.upstream_seconds.observe(t);
        }
        let micros = |d: Option<Duration>| d.map(|d| d.as_micros() as u64);
        let line = LogLine {
            request_id: self.request.request_id.as_deref(),
            client_request_id: head::client_request_id(&self.parts),
            trace_id: head::trace_id(&self.parts),
            client: Some(self.peer.ip()),
            method: self.parts.method.as_str(),
            // The path only: the query carries the task token and the signature.
            path: self.parts.uri.path(),
            dialect,
            action: learned.action.as_deref(),
            access_key_id: learned.signer.as_ref().map(|(id, _)| id.as_str()),
            signature: learned.signer.as_ref().map(|(_, check)| check.name()),
            sign_as: learned.sign_as.as_deref(),
            repaired: learned.repaired.as_deref(),
            not_repaired: learned.not_repaired.as_deref(),
            code,
            status,
            upstream: learned.destination.as_deref(),
            component_us: micros(learned.component),
            upstream_us: micros(learned.upstream),
            total_us: Some(elapsed.as_micros() as u64),
            shadow_code: learned.shadowed.as_ref().map(|(code, _)| code.as_str()),
            shadow_status: learned.shadowed.as_ref().map(|(_, status)| *status),
        };
        self.gateway.log.write(&line);
    }
}

/// Seconds since the Unix epoch: the date a request signed again at the edge carries.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A response of the filter's as an HTTP answer; `close` ends the connection after it (the
/// rest of an unread body must not be taken for the next request).
fn vendor_response(response: Response, close: bool) -> Answer {
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
