//! `bench-loadgen`: an HTTP/1.1 load generator for `taskgate serve` and its upstream. It sends
//! one fixed raw request over N keep-alive connections, repeatedly, and prints one JSON line.
//!
//! Two modes:
//! - closed loop (no `--rate`): every connection sends its next request as soon as the previous
//!   answer is read; measures the maximum throughput.
//! - open loop (`--rate R`): request `i` is due at `start + i / R`, whether or not earlier ones
//!   have been answered. A pacer thread releases due requests to the first free connection, and
//!   latency is measured from the *due* time, so a slow answer that delays later sends shows up
//!   in their latency instead of silently lowering the load (no coordinated omission). The
//!   `lag_*` fields say how late sends left after their due time: that is the load generator's
//!   own delay (timer slack, task wake-up) plus waiting for a free connection; `sent_p50_us` and
//!   `sent_p99_us` are latencies counted from the actual send instead, for comparison.
//!
//! The request file is sent as written: method, target, every header (the `Host` header
//! included, not derived from `--url`) and `Content-Length` bytes of body. Header names go out
//! in title case (`Content-Type`); HTTP header names are case-insensitive.
//!
//! Output fields: `requests` (answers to requests sent, or due, in the measured window), `ok`
//! (2xx), `non_2xx`, `errors` (transport: connect, broken connection, timeout), `unsent` (open
//! loop: due requests never sent before the hard end), `throughput_rps` (answers completed in the
//! window per second), `p50_us` … `max_us`, `mean_us`, `statuses` and `answers_total` (every
//! answer, warm-up and stragglers included: to divide CPU time by). Latencies are kept in a
//! log-linear histogram: exact to 1 µs below 1024 µs, within 0.2 % above.
//!
//! With `--url https://IP:PORT --tls-ca PEM --sni NAME` it speaks TLS (rustls, ALPN http/1.1) to
//! the target, trusting only that CA and checking the certificate against NAME; each connection's
//! handshake is made before measuring, as keep-alive clients do. Plain connections take the same
//! path as without TLS support: the request loop does not know which kind it drives.
//!
//! Every run is bounded: the measured window is `--warmup` + `--duration` seconds, and whatever
//! is still in flight is abandoned `--timeout` seconds after it.

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{Builder, SendRequest};
use hyper::header::{CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue, TRANSFER_ENCODING};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

#[derive(Parser)]
#[command(
    name = "bench-loadgen",
    about = "HTTP/1.1 load generator: one raw request, N keep-alive connections, one JSON line"
)]
struct Args {
    /// Where to connect: `http://IP:PORT`, or `https://IP:PORT` with `--tls-ca` and `--sni`.
    #[arg(long)]
    url: String,
    /// The raw HTTP/1.1 request to send (request line, headers, blank line, body).
    #[arg(long, value_name = "FILE")]
    request: PathBuf,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Open loop: requests per second, scheduled by time. Without it: closed loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds of load before the measured window (sent, not recorded).
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Runtime worker threads of the load generator itself.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds one request may take; also how long requests in flight may finish after the end.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Speak TLS to the target, trusting this CA (PEM) only.
    #[arg(long, value_name = "FILE", requires = "sni")]
    tls_ca: Option<PathBuf>,
    /// The TLS server name (SNI, and the name the certificate must be valid for).
    #[arg(long, requires = "tls_ca")]
    sni: Option<String>,
    /// Copied into the output, to tell runs apart.
    #[arg(long, default_value = "")]
    label: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.connections == 0 || args.threads == 0 {
        bail!("--connections and --threads must be at least 1");
    }
    for (name, value) in [("--duration", args.duration), ("--timeout", args.timeout)] {
        if !(value > 0.0 && value <= 86_400.0) {
            bail!("{name} must be between 0 and 86400 seconds");
        }
    }
    if !(0.0..=86_400.0).contains(&args.warmup) {
        bail!("--warmup must be between 0 and 86400 seconds");
    }
    if let Some(rate) = args.rate
        && !(1.0..=10_000_000.0).contains(&rate)
    {
        bail!("--rate must be between 1 and 10000000 requests per second");
    }
    let (addr, https) = parse_url(&args.url)?;
    let tls = match (&args.tls_ca, &args.sni) {
        (Some(ca), Some(name)) => Some(tls_client(ca, name)?),
        _ => None,
    };
    // The scheme and the TLS options must agree, so that a script cannot measure plain HTTP
    // while it believes it measures TLS (or the reverse).
    if https != tls.is_some() {
        bail!("--url https://… goes with --tls-ca and --sni, http://… without them");
    }
    let target = Arc::new(Target { addr, tls });
    let bytes = std::fs::read(&args.request)
        .with_context(|| format!("reading {}", args.request.display()))?;
    let template = Arc::new(
        Template::parse(&bytes).with_context(|| format!("parsing {}", args.request.display()))?,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(run(&args, target, template))?;
    println!("{report}");
    Ok(())
}

/// `http://IP:PORT` or `https://IP:PORT` (a trailing `/` is allowed) to a socket address, and
/// whether it is `https`.
fn parse_url(url: &str) -> anyhow::Result<(SocketAddr, bool)> {
    let (rest, https) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
        (Some(rest), _) => (rest, false),
        (_, Some(rest)) => (rest, true),
        _ => bail!("--url must be http://IP:PORT or https://IP:PORT, not {url:?}"),
    };
    let addr = rest
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("--url must be http(s)://IP:PORT, not {url:?}"))?;
    Ok((addr, https))
}

/// The request, parsed once; every send clones it.
struct Template {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Template {
    fn parse(bytes: &[u8]) -> anyhow::Result<Template> {
        let mut slots = [httparse::EMPTY_HEADER; 128];
        let mut head = httparse::Request::new(&mut slots);
        let head_len = match head.parse(bytes).context("not an HTTP/1.x request head")? {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => bail!("the request head does not end in a blank line"),
        };
        if head.version != Some(1) {
            bail!("only HTTP/1.1 requests can be sent");
        }
        let method =
            Method::from_bytes(head.method.unwrap_or_default().as_bytes()).context("bad method")?;
        let uri: Uri = head
            .path
            .unwrap_or_default()
            .parse()
            .context("bad request target")?;
        let mut headers = HeaderMap::new();
        for header in head.headers.iter() {
            headers.append(
                HeaderName::from_bytes(header.name.as_bytes())
                    .with_context(|| format!("bad header name {:?}", header.name))?,
                HeaderValue::from_bytes(header.value)
                    .with_context(|| format!("bad value of header {:?}", header.name))?,
            );
        }
        if headers.contains_key(TRANSFER_ENCODING) {
            bail!("Transfer-Encoding is not supported: give the body a Content-Length");
        }
        let rest = &bytes[head_len..];
        let body = match headers.get(CONTENT_LENGTH) {
            Some(value) => {
                let length: usize = value
                    .to_str()
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .context("Content-Length is not a number")?;
                let Some(body) = rest.get(..length) else {
                    bail!(
                        "Content-Length is {length} but only {} bytes follow the head",
                        rest.len()
                    );
                };
                Bytes::copy_from_slice(body)
            }
            None if rest.iter().all(|b| matches!(b, b'\r' | b'\n')) => Bytes::new(),
            None => bail!("a body without Content-Length"),
        };
        Ok(Template {
            method,
            uri,
            headers,
            body,
        })
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

type Sender = SendRequest<Full<Bytes>>;

/// Where to connect, and how to speak TLS there when asked to.
struct Target {
    addr: SocketAddr,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
}

/// A TLS client trusting only `ca` (PEM), for the server name `name`, ALPN http/1.1.
fn tls_client(
    ca: &std::path::Path,
    name: &str,
) -> anyhow::Result<(tokio_rustls::TlsConnector, ServerName<'static>)> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in
        CertificateDer::pem_file_iter(ca).with_context(|| format!("reading {}", ca.display()))?
    {
        roots.add(certificate.context("a PEM certificate")?)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from(name.to_owned()).context("--sni is not a server name")?;
    Ok((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
}

async fn connect(target: &Target) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(target.addr).await?;
    stream.set_nodelay(true)?;
    let builder = Builder::new().title_case_headers(true).clone();
    let sender = match &target.tls {
        None => {
            let (sender, connection) = builder.handshake(TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            sender
        }
        Some((connector, name)) => {
            let stream = connector.connect(name.clone(), stream).await?;
            let (sender, connection) = builder.handshake(TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            sender
        }
    };
    Ok(sender)
}

/// One request and its whole answer (the body is read so that the connection can be reused).
async fn round_trip(
    sender: &mut Sender,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<StatusCode> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    response.into_body().collect().await?;
    Ok(status)
}

/// The moments every worker shares.
#[derive(Clone, Copy)]
struct Clock {
    /// Load starts.
    start: Instant,
    /// The measured window starts (after the warm-up).
    measure_from: Instant,
    /// The measured window ends; no request is sent (closed) or due (open) after it.
    end: Instant,
    /// Requests still in flight are abandoned.
    hard_end: Instant,
}

impl Clock {
    fn in_window(&self, t: Instant) -> bool {
        t >= self.measure_from && t < self.end
    }
}

/// Open loop: request `i` is due at `start + i / rate`; the pacer hands out one permit per due
/// request, and `next` numbers them in order.
struct Schedule {
    rate: f64,
    total: u64,
    permits: Semaphore,
    next: AtomicU64,
}

impl Schedule {
    fn due(&self, start: Instant, index: u64) -> Instant {
        start + Duration::from_secs_f64(index as f64 / self.rate)
    }
}

/// Releases due requests on time. A plain thread: the async timer has only millisecond
/// resolution, a thread sleep wakes within tens of microseconds.
fn pace(schedule: &Schedule, start: Instant, workers: usize) {
    let mut released = 0u64;
    while released < schedule.total {
        let elapsed = Instant::now()
            .saturating_duration_since(start)
            .as_secs_f64();
        let due = ((elapsed * schedule.rate).floor() as u64 + 1).min(schedule.total);
        if due > released {
            schedule.permits.add_permits((due - released) as usize);
            released = due;
        }
        if released < schedule.total {
            let next = schedule.due(start, released);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    }
    // One more per worker: each takes an index past the end and stops.
    schedule.permits.add_permits(workers);
}

/// What one connection saw; merged at the end.
struct Stats {
    latency: Histogram,
    lag: Histogram,
    service: Histogram,
    requests: u64,
    non_2xx: u64,
    errors: u64,
    unsent: u64,
    completed_in_window: u64,
    answers_total: u64,
    statuses: BTreeMap<u16, u64>,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            latency: Histogram::new(),
            lag: Histogram::new(),
            service: Histogram::new(),
            requests: 0,
            non_2xx: 0,
            errors: 0,
            unsent: 0,
            completed_in_window: 0,
            answers_total: 0,
            statuses: BTreeMap::new(),
        }
    }

    /// Records one attempt. `reference` is when it was sent (closed loop) or due (open loop).
    fn record(
        &mut self,
        clock: &Clock,
        reference: Instant,
        done: Instant,
        status: Option<StatusCode>,
    ) {
        self.answers_total += u64::from(status.is_some());
        if status.is_some() && done >= clock.measure_from && done <= clock.end {
            self.completed_in_window += 1;
        }
        if !clock.in_window(reference) {
            return;
        }
        match status {
            Some(status) => {
                self.requests += 1;
                self.latency.record(micros(done - reference));
                *self.statuses.entry(status.as_u16()).or_default() += 1;
                if !status.is_success() {
                    self.non_2xx += 1;
                }
            }
            None => self.errors += 1,
        }
    }

    fn merge(&mut self, other: &Stats) {
        self.latency.merge(&other.latency);
        self.lag.merge(&other.lag);
        self.service.merge(&other.service);
        self.requests += other.requests;
        self.non_2xx += other.non_2xx;
        self.errors += other.errors;
        self.unsent += other.unsent;
        self.completed_in_window += other.completed_in_window;
        self.answers_total += other.answers_total;
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// One connection's loop. Without a schedule: closed loop until `clock.end`.
async fn worker(
    target: Arc<Target>,
    mut sender: Option<Sender>,
    template: Arc<Template>,
    clock: Clock,
    timeout: Duration,
    schedule: Option<Arc<Schedule>>,
) -> Stats {
    let mut stats = Stats::new();
    loop {
        let due = match &schedule {
            None => {
                if Instant::now() >= clock.end {
                    break;
                }
                None
            }
            Some(schedule) => {
                let acquired =
                    tokio::time::timeout_at(clock.hard_end, schedule.permits.acquire()).await;
                let Ok(Ok(permit)) = acquired else { break };
                permit.forget();
                let index = schedule.next.fetch_add(1, Ordering::Relaxed);
                if index >= schedule.total {
                    break;
                }
                let due = schedule.due(clock.start, index);
                if Instant::now() >= clock.hard_end {
                    stats.unsent += u64::from(clock.in_window(due));
                    continue;
                }
                Some(due)
            }
        };
        let current = match sender.as_mut() {
            Some(current) => current,
            None => match tokio::time::timeout_at(clock.hard_end, connect(&target)).await {
                Ok(Ok(fresh)) => sender.insert(fresh),
                _ => {
                    let now = Instant::now();
                    stats.record(&clock, due.unwrap_or(now), now, None);
                    // Do not spin on a refused connection.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let sent = Instant::now();
        if let Some(due) = due
            && clock.in_window(due)
        {
            stats
                .lag
                .record(micros(sent.saturating_duration_since(due)));
        }
        let deadline = (sent + timeout).min(clock.hard_end);
        let status = match tokio::time::timeout_at(
            deadline,
            round_trip(current, template.request()),
        )
        .await
        {
            Ok(Ok(status)) => Some(status),
            // A broken or timed-out connection is not reused.
            _ => {
                sender = None;
                None
            }
        };
        let done = Instant::now();
        if let Some(due) = due
            && status.is_some()
            && clock.in_window(due)
        {
            stats.service.record(micros(done - sent));
        }
        stats.record(&clock, due.unwrap_or(sent), done, status);
    }
    stats
}

async fn run(
    args: &Args,
    target: Arc<Target>,
    template: Arc<Template>,
) -> anyhow::Result<serde_json::Value> {
    let addr = target.addr;
    // Connect first: connection set-up (TLS handshake included) is not part of any measured
    // request.
    let mut connecting = JoinSet::new();
    for _ in 0..args.connections {
        let target = Arc::clone(&target);
        connecting.spawn(async move {
            tokio::time::timeout(Duration::from_secs(5), connect(&target)).await
        });
    }
    let mut senders = Vec::with_capacity(args.connections);
    while let Some(joined) = connecting.join_next().await {
        let sender = joined
            .context("a connecting task failed")?
            .map_err(|_| anyhow::anyhow!("connecting to {addr} timed out"))?
            .with_context(|| format!("connecting to {addr}"))?;
        senders.push(sender);
    }

    let warmup = Duration::from_secs_f64(args.warmup);
    let duration = Duration::from_secs_f64(args.duration);
    let timeout = Duration::from_secs_f64(args.timeout);
    let start = Instant::now();
    let clock = Clock {
        start,
        measure_from: start + warmup,
        end: start + warmup + duration,
        hard_end: start + warmup + duration + timeout,
    };
    let schedule = args.rate.map(|rate| {
        Arc::new(Schedule {
            rate,
            total: ((args.warmup + args.duration) * rate).ceil() as u64,
            permits: Semaphore::new(0),
            next: AtomicU64::new(0),
        })
    });
    let pacer = match &schedule {
        Some(schedule) => {
            let schedule = Arc::clone(schedule);
            let workers = args.connections;
            Some(
                std::thread::Builder::new()
                    .name("pacer".into())
                    .spawn(move || pace(&schedule, start, workers))
                    .context("starting the pacer thread")?,
            )
        }
        None => None,
    };

    let mut workers = JoinSet::new();
    for sender in senders {
        workers.spawn(worker(
            Arc::clone(&target),
            Some(sender),
            Arc::clone(&template),
            clock,
            timeout,
            schedule.clone(),
        ));
    }
    let mut total = Stats::new();
    while let Some(joined) = workers.join_next().await {
        total.merge(&joined.context("a load task failed")?);
    }
    if let Some(pacer) = pacer {
        pacer
            .join()
            .map_err(|_| anyhow::anyhow!("the pacer thread failed"))?;
    }
    if let Some(schedule) = &schedule {
        // Due requests that no worker took before the hard end.
        let taken = schedule.next.load(Ordering::Relaxed).min(schedule.total);
        total.unsent += (taken..schedule.total)
            .filter(|&i| clock.in_window(schedule.due(start, i)))
            .count() as u64;
    }

    let latency = &total.latency;
    let mut report = json!({
        "label": args.label,
        "mode": if args.rate.is_some() { "open" } else { "closed" },
        "connections": args.connections,
        "target_rps": args.rate,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "requests": total.requests,
        "ok": total.requests - total.non_2xx,
        "non_2xx": total.non_2xx,
        "errors": total.errors,
        "unsent": total.unsent,
        "throughput_rps": round1(total.completed_in_window as f64 / args.duration),
        "p50_us": latency.percentile(0.50),
        "p90_us": latency.percentile(0.90),
        "p99_us": latency.percentile(0.99),
        "p999_us": latency.percentile(0.999),
        "max_us": latency.max,
        "mean_us": round1(latency.mean()),
        "answers_total": total.answers_total,
        "statuses": total.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
    });
    if args.rate.is_some()
        && let Some(fields) = report.as_object_mut()
    {
        fields.insert("lag_p50_us".into(), json!(total.lag.percentile(0.50)));
        fields.insert("lag_p99_us".into(), json!(total.lag.percentile(0.99)));
        fields.insert("lag_max_us".into(), json!(total.lag.max));
        fields.insert("sent_p50_us".into(), json!(total.service.percentile(0.50)));
        fields.insert("sent_p99_us".into(), json!(total.service.percentile(0.99)));
    }
    Ok(report)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Log-linear histogram of microseconds: values below `2^SUB_BITS` each have their own bucket;
/// above, each power of two is split into `2^(SUB_BITS-1)` buckets (relative error < 0.2 %).
struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    max: u64,
}

const SUB_BITS: u32 = 10;
const SUB: u64 = 1 << SUB_BITS;
const HALF: u64 = SUB / 2;
/// Values are clamped below 2^40 µs (12 days).
const TOP_BITS: u32 = 40;

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            counts: vec![0; Self::index((1 << TOP_BITS) - 1) + 1],
            total: 0,
            sum: 0,
            max: 0,
        }
    }

    fn index(value: u64) -> usize {
        if value < SUB {
            return value as usize;
        }
        let shift = (63 - value.leading_zeros()) - (SUB_BITS - 1);
        (SUB + u64::from(shift - 1) * HALF + ((value >> shift) - HALF)) as usize
    }

    /// The largest value that lands in bucket `index`.
    fn highest(index: usize) -> u64 {
        let index = index as u64;
        if index < SUB {
            return index;
        }
        let shift = (index - SUB) / HALF + 1;
        let sub = (index - SUB) % HALF + HALF;
        ((sub + 1) << shift) - 1
    }

    fn record(&mut self, value: u64) {
        let value = value.min((1 << TOP_BITS) - 1);
        self.counts[Self::index(value)] += 1;
        self.total += 1;
        self.sum += u128::from(value);
        self.max = self.max.max(value);
    }

    fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q`: the smallest bucket holding at least `q` of all values.
    fn percentile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Self::highest(index).min(self.max);
            }
        }
        self.max
    }

    fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_below_1024_and_tight_above() {
        for value in [
            0,
            1,
            999,
            1023,
            1024,
            1025,
            2047,
            2048,
            123_456,
            (1 << 40) - 1,
        ] {
            let index = Histogram::index(value);
            let high = Histogram::highest(index);
            assert!(high >= value, "{value}: {high}");
            assert!(
                index == 0 || Histogram::highest(index - 1) < value,
                "{value}"
            );
            if value < 1024 {
                assert_eq!(high, value);
            } else {
                assert!(
                    (high - value) as f64 / value as f64 <= 0.002,
                    "{value}: {high}"
                );
            }
        }
    }

    #[test]
    fn percentiles() {
        let mut h = Histogram::new();
        for v in 1..=1000 {
            h.record(v);
        }
        assert_eq!(h.percentile(0.5), 500);
        assert_eq!(h.percentile(0.99), 990);
        assert_eq!(h.percentile(1.0), 1000);
        assert_eq!(h.max, 1000);
    }

    #[test]
    fn parses_both_schemes() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(parse_url("http://127.0.0.1:8080/").unwrap(), (addr, false));
        assert_eq!(parse_url("https://127.0.0.1:8080").unwrap(), (addr, true));
        assert!(parse_url("127.0.0.1:8080").is_err());
        assert!(parse_url("https://localhost:8080").is_err());
    }

    #[test]
    fn parses_a_raw_request() {
        let raw = b"POST /?a=1 HTTP/1.1\nHost: example\nContent-Length: 3\n\nabcdef";
        let t = Template::parse(raw).unwrap();
        assert_eq!(t.method, Method::POST);
        assert_eq!(t.uri, "/?a=1");
        assert_eq!(t.headers["host"], "example");
        assert_eq!(&t.body[..], b"abc");
    }
}
