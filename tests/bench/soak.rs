//! `bench-soak`: a long run of mixed, SDK-shaped traffic against `taskgate serve`, with clients
//! that give up at random, and a full account of every request at the end.
//!
//! Requests are due at `--rate` per second (open loop, as in `bench-loadgen`) and are freshly
//! signed as the vendors' SDKs sign them: Alibaba RPC v1 in its three layouts and ACS3, AWS
//! SigV4 for Step Functions, SWF and CodePipeline. `--invalid` of them are signed with the wrong
//! secret or lack the task token; `--abort` of them are abandoned by their client: half-way
//! through the head, half-way through the body, or right after the last byte without reading
//! the answer. Each carries `X-Request-Id: soak-N` (`--tag` sets the prefix).
//!
//! Every `--every` seconds it prints one figure line: answers and their latency (p50, p99, max,
//! from the due time), the gateway's RSS and open file descriptors (from /proc), and its
//! in-flight and open-connection gauges (from /metrics).
//!
//! At the end (after `--settle` seconds for idle timers and the log) it matches three accounts
//! by request id: what the clients sent and got, the gateway's log (`client_request_id`), and
//! what the upstream read (`bench-upstream --record`). It fails (exit 1) on any request that
//! reached the gateway (a whole head) but was not logged exactly once, was answered with a
//! status other than the one logged, was forwarded more than once, was forwarded although
//! invalid or incomplete, or was valid and complete but not forwarded; on a complete request
//! with no answer; and on in-flight requests or open connections left after the settle.

#![expect(
    clippy::expect_used,
    reason = "a soak that cannot set itself up has nothing to report"
)]

use anyhow::{Context as _, bail};
use clap::Parser;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use taskgate_tests::{Answer, AwsCall, AwsDialect, Call, Layout, read_message, to_http};

#[derive(Parser)]
#[command(
    name = "bench-soak",
    about = "Mixed SDK-shaped traffic with random aborts, and an account of every request"
)]
struct Args {
    /// The gateway's listener, `IP:PORT`.
    #[arg(long)]
    addr: SocketAddr,
    /// The gateway's admin listener, `IP:PORT` (for /metrics).
    #[arg(long)]
    admin: SocketAddr,
    /// The gateway's process id (for its RSS and open file descriptors).
    #[arg(long)]
    pid: u32,
    /// Requests per second.
    #[arg(long)]
    rate: f64,
    /// Seconds of traffic.
    #[arg(long)]
    duration: f64,
    /// Seconds between figure lines.
    #[arg(long, default_value_t = 60.0)]
    every: f64,
    /// Client connections (each a thread; an aborting client closes its connection).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// The share of requests signed wrongly or missing the task token.
    #[arg(long, default_value_t = 0.3)]
    invalid: f64,
    /// The share of requests their client abandons.
    #[arg(long, default_value_t = 0.15)]
    abort: f64,
    /// The gateway's log (its stderr).
    #[arg(long)]
    gateway_log: PathBuf,
    /// The upstream's `--record` file.
    #[arg(long)]
    upstream_record: PathBuf,
    /// Seconds to wait after the traffic before the final account (longer than the gateway's
    /// `read_timeout_ms`, so that idle connections are closed).
    #[arg(long, default_value_t = 3.0)]
    settle: f64,
    /// The prefix of the request ids (`TAG-N`), so that runs against one gateway stay apart.
    #[arg(long, default_value = "soak")]
    tag: String,
    /// Seed of the random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write the figure lines, as a Markdown table, to this file.
    #[arg(long)]
    figures: Option<PathBuf>,
}

/// What a request is: its vendor shape, whether it is valid, how its client ends it.
#[derive(Clone, Copy, Debug)]
enum Shape {
    Fnf(Layout),
    Aws(AwsDialect),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Validity {
    Valid,
    WrongSecret,
    NoTaskToken,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ending {
    /// Sent whole, answer read.
    Complete,
    /// The client closes half-way through the head: the request never reaches the gateway.
    AbortHead,
    /// ... half-way through the body.
    AbortBody,
    /// ... right after the last byte, without reading the answer.
    AbortAfterSend,
}

struct Job {
    id: u64,
    due: Instant,
    shape: Shape,
    validity: Validity,
    ending: Ending,
}

/// What the client saw of one request.
struct Seen {
    job: Job,
    status: Option<u16>,
    /// The gateway's request id, from an answer the gateway made itself.
    gateway_id: Option<String>,
    latency: Option<Duration>,
    error: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !(args.rate >= 1.0 && args.duration > 0.0 && args.every > 0.0 && args.connections > 0) {
        bail!("--rate, --duration, --every and --connections must be positive");
    }
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    // Bounded: at a rate beyond what the clients can send (the probe of the maximum), the
    // pacer waits instead of queueing without limit.
    let (jobs, queue) = mpsc::sync_channel::<Job>(65_536);
    let queue = Arc::new(Mutex::new(queue));
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(args.duration);
    let unsent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..args.connections)
        .map(|_| {
            let (queue, seen, addr) = (Arc::clone(&queue), Arc::clone(&seen), args.addr);
            let (unsent, tag) = (Arc::clone(&unsent), args.tag.clone());
            thread::spawn(move || work(addr, &tag, end, &queue, &seen, &unsent))
        })
        .collect();
    let sampler = {
        let (seen, every) = (Arc::clone(&seen), Duration::from_secs_f64(args.every));
        let (admin, pid, figures) = (args.admin, args.pid, args.figures.clone());
        thread::spawn(move || sample(start, end, every, admin, pid, &seen, figures))
    };
    pace(&args, start, end, &jobs);
    drop(jobs);
    for worker in workers {
        let _ = worker.join();
    }
    let rows = sampler.join().expect("sampler");
    thread::sleep(Duration::from_secs_f64(args.settle));
    let last = Figures::read(args.admin, args.pid);
    let seen = std::mem::take(&mut *seen.lock().expect("seen"));
    let account = Account::make(
        &args.tag,
        &seen,
        &std::fs::read_to_string(&args.gateway_log).context("the gateway log")?,
        &std::fs::read_to_string(&args.upstream_record).context("the upstream record")?,
    );
    let mut problems = account.problems;
    if last.in_flight != Some(0) {
        problems.push(format!("in flight after the settle: {:?}", last.in_flight));
    }
    if last.connections != Some(0) {
        problems.push(format!(
            "connections open after the settle: {:?}",
            last.connections
        ));
    }
    let summary = json!({
        "rate": args.rate,
        "duration_s": args.duration,
        "requests": seen.len(),
        "answered": seen.iter().filter(|s| s.status.is_some()).count(),
        "unsent": unsent.load(std::sync::atomic::Ordering::Relaxed),
        "by_ending": account.by_ending,
        "statuses": account.statuses,
        "logged": account.logged,
        "forwarded": account.forwarded,
        "max_rss_kib": rows.iter().filter_map(|r| r.rss_kib).max(),
        "fds_first": rows.first().and_then(|r| r.fds),
        "fds_last_interval": rows.last().and_then(|r| r.fds),
        "fds_after_settle": last.fds,
        "in_flight_after_settle": last.in_flight,
        "problems": problems.len(),
    });
    println!("{summary}");
    for problem in problems.iter().take(20) {
        eprintln!("bench-soak: {problem}");
    }
    if !problems.is_empty() {
        bail!("{} requests were not accounted for", problems.len());
    }
    Ok(())
}

/// Releases job `i` at `start + i / rate` until `end`, choosing what it is at random.
fn pace(args: &Args, start: Instant, end: Instant, jobs: &mpsc::SyncSender<Job>) {
    let mut rng = fastrand::Rng::with_seed(args.seed);
    let shapes = [
        Shape::Fnf(Layout::QueryAndForm),
        Shape::Fnf(Layout::FormOnly),
        Shape::Fnf(Layout::Json),
        Shape::Fnf(Layout::Acs3),
        Shape::Aws(AwsDialect::ALL[0]),
        Shape::Aws(AwsDialect::ALL[1]),
        Shape::Aws(AwsDialect::ALL[2]),
    ];
    for id in 0.. {
        let due = start + Duration::from_secs_f64(id as f64 / args.rate);
        if due >= end {
            break;
        }
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        let validity = if rng.f64() < args.invalid {
            if rng.bool() {
                Validity::WrongSecret
            } else {
                Validity::NoTaskToken
            }
        } else {
            Validity::Valid
        };
        let ending = if rng.f64() < args.abort {
            [Ending::AbortHead, Ending::AbortBody, Ending::AbortAfterSend][rng.usize(..3)]
        } else {
            Ending::Complete
        };
        let job = Job {
            id,
            due,
            shape: shapes[rng.usize(..shapes.len())],
            validity,
            ending,
        };
        if jobs.send(job).is_err() {
            break;
        }
    }
}

/// The request's bytes, signed now, and where its head ends.
fn request(tag: &str, job: &Job) -> (Vec<u8>, usize) {
    let id = format!("{tag}-{}", job.id);
    // Unique across runs too (the probe and the soak share one gateway): the run's tag in the
    // high bits.
    let salt = tag
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let n = (salt << 32) ^ job.id;
    let request = match job.shape {
        Shape::Fnf(layout) => {
            // Each its own nonce and task: the gateway remembers both (its default store).
            let call = Call::new(layout)
                .fresh(n)
                .now()
                .extra_header("X-Request-Id", &id);
            match job.validity {
                Validity::Valid => call,
                Validity::WrongSecret => call.secret("not-the-secret"),
                Validity::NoTaskToken => call.remove("TaskToken"),
            }
            .build()
        }
        Shape::Aws(dialect) => {
            let call = AwsCall::new(dialect)
                .fresh(n)
                .now()
                .header_after_signing("X-Request-Id", &id);
            match job.validity {
                Validity::Valid => call,
                Validity::WrongSecret => call.secret("not-the-secret"),
                Validity::NoTaskToken => call.body("{}"),
            }
            .build()
        }
    };
    let bytes = to_http(&request);
    let head = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |i| i + 4);
    (bytes, head)
}

/// One client: takes due jobs and runs them on its keep-alive connection (a new one after an
/// abort or an error). Jobs still waiting at `end` are not sent (counted as unsent): only a
/// rate beyond the clients' leaves any.
fn work(
    addr: SocketAddr,
    tag: &str,
    end: Instant,
    queue: &Mutex<mpsc::Receiver<Job>>,
    seen: &Mutex<Vec<Seen>>,
    unsent: &std::sync::atomic::AtomicUsize,
) {
    let mut connection: Option<TcpStream> = None;
    let mut last_used = Instant::now();
    loop {
        let Ok(job) = queue.lock().expect("queue").recv() else {
            return;
        };
        if Instant::now() >= end {
            unsent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            continue;
        }
        // As HTTP clients do, a connection idle for a while is not reused: the gateway may be
        // closing it (its idle timer), and a request sent into that would be lost by us.
        if last_used.elapsed() > IDLE_REUSE {
            connection = None;
        }
        let (bytes, head) = request(tag, &job);
        let mut outcome = Seen {
            job,
            status: None,
            gateway_id: None,
            latency: None,
            error: None,
        };
        let stream = match connection.take() {
            Some(stream) => Ok(stream),
            None => TcpStream::connect(addr).and_then(|s| {
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(Duration::from_secs(15)))?;
                Ok(s)
            }),
        };
        match stream {
            Err(error) => outcome.error = Some(format!("connect: {error}")),
            Ok(mut stream) => {
                let cut = match outcome.job.ending {
                    Ending::AbortHead => head / 2,
                    Ending::AbortBody => head + (bytes.len() - head) / 2,
                    Ending::Complete | Ending::AbortAfterSend => bytes.len(),
                };
                match stream.write_all(&bytes[..cut]) {
                    Err(error) => outcome.error = Some(format!("write: {error}")),
                    Ok(()) if outcome.job.ending != Ending::Complete => {
                        // Gone: the connection closes with the request unfinished or unread.
                        drop(stream);
                    }
                    Ok(()) => match read_message(&mut stream) {
                        None => outcome.error = Some("no answer".into()),
                        Some(answer) => {
                            outcome.latency = Some(outcome.job.due.elapsed());
                            let (status, gateway_id, close) = parse_answer(&answer);
                            outcome.status = Some(status);
                            outcome.gateway_id = gateway_id;
                            if !close {
                                connection = Some(stream);
                            }
                        }
                    },
                }
            }
        }
        last_used = Instant::now();
        seen.lock().expect("seen").push(outcome);
    }
}

/// How long a client's idle connection is reused: well under the gateway's `read_timeout_ms`.
const IDLE_REUSE: Duration = Duration::from_secs(1);

/// An answer's status, the gateway's request id if it made the answer itself, and whether the
/// connection closes after it.
fn parse_answer(raw: &[u8]) -> (u16, Option<String>, bool) {
    let answer = Answer::parse(raw);
    let id = answer
        .header("x-acs-request-id")
        .or_else(|| answer.header("x-amzn-requestid"))
        .map(str::to_owned);
    let close = answer
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    (answer.status, id, close)
}

/// The gateway's figures at one moment.
#[derive(Default)]
struct Figures {
    rss_kib: Option<u64>,
    fds: Option<usize>,
    in_flight: Option<u64>,
    connections: Option<u64>,
}

impl Figures {
    fn read(admin: SocketAddr, pid: u32) -> Figures {
        let rss_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next()?.parse().ok())
            });
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .ok()
            .map(Iterator::count);
        let metrics = scrape(admin).unwrap_or_default();
        let gauge = |name: &str| {
            metrics.lines().find_map(|l| {
                l.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .map(|v| v as u64)
            })
        };
        Figures {
            rss_kib,
            fds,
            in_flight: gauge("taskgate_in_flight"),
            connections: gauge("taskgate_connections_open"),
        }
    }
}

fn scrape(admin: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect(admin).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(text)
}

/// One figure line: an interval's answers and latency, and the gateway's state at its end.
struct Row {
    at_s: f64,
    answers: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    rss_kib: Option<u64>,
    fds: Option<usize>,
    in_flight: Option<u64>,
    connections: Option<u64>,
}

const HEADER: &str = "| at (s) | answers | p50 (ms) | p99 (ms) | max (ms) | RSS (MiB) | open FDs | in flight | connections |\n|---|---|---|---|---|---|---|---|---|";

impl Row {
    fn markdown(&self) -> String {
        let show = |v: Option<u64>| v.map_or("?".into(), |v| v.to_string());
        format!(
            "| {:.0} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} |",
            self.at_s,
            self.answers,
            self.p50_ms,
            self.p99_ms,
            self.max_ms,
            self.rss_kib
                .map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
            self.fds.map_or("?".into(), |v| v.to_string()),
            show(self.in_flight),
            show(self.connections),
        )
    }
}

/// Prints a figure line every `every` until `end`; returns them all.
fn sample(
    start: Instant,
    end: Instant,
    every: Duration,
    admin: SocketAddr,
    pid: u32,
    seen: &Mutex<Vec<Seen>>,
    figures: Option<PathBuf>,
) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut counted = 0;
    let mut table = format!("{HEADER}\n");
    println!("{HEADER}");
    let mut next = start + every;
    while next <= end + Duration::from_millis(1) {
        thread::sleep(next.saturating_duration_since(Instant::now()));
        let mut latencies: Vec<Duration> = {
            let seen = seen.lock().expect("seen");
            let fresh = seen[counted..].iter().filter_map(|s| s.latency).collect();
            counted = seen.len();
            fresh
        };
        latencies.sort_unstable();
        let at = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        let now = Figures::read(admin, pid);
        let row = Row {
            at_s: (next - start).as_secs_f64(),
            answers: latencies.len(),
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: at(1.0),
            rss_kib: now.rss_kib,
            fds: now.fds,
            in_flight: now.in_flight,
            connections: now.connections,
        };
        println!("{}", row.markdown());
        table.push_str(&row.markdown());
        table.push('\n');
        rows.push(row);
        next += every;
    }
    if let Some(path) = figures {
        let _ = std::fs::write(path, table);
    }
    rows
}

/// The three accounts matched by request id, and what does not add up.
struct Account {
    problems: Vec<String>,
    by_ending: Value,
    statuses: Value,
    logged: usize,
    forwarded: usize,
}

impl Account {
    fn make(tag: &str, seen: &[Seen], log: &str, record: &str) -> Account {
        let ours = format!("{tag}-");
        // The gateway's log: per client id, the (status, request id) of each line.
        let mut lines: HashMap<String, Vec<(u64, String)>> = HashMap::new();
        for line in log.lines().filter(|l| l.starts_with('{')) {
            let Ok(entry) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if let Some(id) = entry["client_request_id"].as_str() {
                lines.entry(id.to_owned()).or_default().push((
                    entry["status"].as_u64().unwrap_or(0),
                    entry["request_id"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
        let mut upstream: HashMap<&str, usize> = HashMap::new();
        for id in record.lines() {
            *upstream.entry(id).or_default() += 1;
        }
        let mut problems = Vec::new();
        let mut by_ending: HashMap<String, usize> = HashMap::new();
        let mut statuses: HashMap<String, usize> = HashMap::new();
        let (mut logged, mut forwarded) = (0, 0);
        for s in seen {
            let id = format!("{tag}-{}", s.job.id);
            let what = format!(
                "{id} ({:?} {:?} {:?})",
                s.job.shape, s.job.validity, s.job.ending
            );
            *by_ending.entry(format!("{:?}", s.job.ending)).or_default() += 1;
            if let Some(status) = s.status {
                *statuses.entry(status.to_string()).or_default() += 1;
            }
            let logs = lines.remove(&id).unwrap_or_default();
            let sent_upstream = upstream.remove(id.as_str()).unwrap_or(0);
            logged += logs.len();
            forwarded += sent_upstream;
            let reached = s.job.ending != Ending::AbortHead && s.error.is_none();
            match (reached, logs.len()) {
                (true, 1) | (false, 0) => {}
                (_, n) => problems.push(format!("{what}: logged {n} times")),
            }
            if sent_upstream > 1 {
                problems.push(format!("{what}: forwarded {sent_upstream} times"));
            }
            let whole = matches!(s.job.ending, Ending::Complete | Ending::AbortAfterSend);
            if sent_upstream > 0 && (s.job.validity != Validity::Valid || !whole) {
                problems.push(format!("{what}: forwarded although invalid or incomplete"));
            }
            if s.job.ending != Ending::Complete {
                continue;
            }
            let Some(status) = s.status else {
                problems.push(format!("{what}: no answer ({:?})", s.error));
                continue;
            };
            if let [(logged_status, logged_id)] = logs.as_slice() {
                if u64::from(status) != *logged_status {
                    problems.push(format!("{what}: answered {status}, logged {logged_status}"));
                }
                if s.gateway_id.as_ref().is_some_and(|g| g != logged_id) {
                    problems.push(format!(
                        "{what}: answered as {:?}, logged as {logged_id}",
                        s.gateway_id
                    ));
                }
            }
            let valid = s.job.validity == Validity::Valid;
            if valid && (status != 200 || sent_upstream != 1) {
                problems.push(format!(
                    "{what}: valid, answered {status}, forwarded {sent_upstream} times"
                ));
            }
            if !valid && !(400..500).contains(&status) {
                problems.push(format!("{what}: invalid, answered {status}"));
            }
        }
        for id in lines.keys().filter(|id| id.starts_with(&ours)) {
            problems.push(format!("{id}: logged but never sent"));
        }
        for id in upstream.keys().filter(|id| id.starts_with(&ours)) {
            problems.push(format!("{id}: forwarded but never sent"));
        }
        Account {
            problems,
            by_ending: json!(by_ending),
            statuses: json!(statuses),
            logged,
            forwarded,
        }
    }
}
