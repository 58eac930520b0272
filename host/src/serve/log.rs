//! The per-request log: one JSON line ([`LogLine`]) per request on stderr, written by its own thread so that
//! the request path only formats a string. stderr is unbuffered; writing a JSON value to it
//! directly costs dozens of small writes per line, which measured as half the proxy's CPU.
//!
//! The queue to the writer is bounded, and a line that finds it full is dropped and counted
//! (`taskgate_log_lines_dropped_total`): a stalled stderr (a full pipe, a stuck collector) must
//! cost neither memory without bound nor the requests themselves, which back-pressure would
//! make wait on the log.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;
use taskgate_filter::repair::RepairedField;

/// Lines the queue holds at most (a few MiB of JSON).
const QUEUE_LINES: usize = 16 * 1024;
/// How long shutdown waits for the writer to write what is queued.
const FLUSH_WAIT: Duration = Duration::from_secs(5);
/// How long the writer lets lines gather after writing a batch. Under load it then finds the
/// next batch waiting and never sleeps in `recv`, so no request has to wake it (a wake-up per
/// line measured as a tenth of the pass-through's CPU); a line waits at most this long.
const GATHER: Duration = Duration::from_millis(2);

/// One request's log line, as the fields are named in the log (its stable schema, documented in
/// docs/gateway.md). Borrowed fields serialized in one pass: a `json!` map cost a dozen
/// allocations per request. Never a secret, `Error`, `Cause` or a query string.
#[derive(serde::Serialize)]
pub struct LogLine<'a> {
    pub request_id: Option<&'a str>,
    /// The client's own id for the request (`X-Request-Id`), to match its logs with ours.
    pub client_request_id: Option<&'a str>,
    /// The W3C trace id of the request's `traceparent` (the client's, or the one started).
    pub trace_id: Option<&'a str>,
    pub client: std::net::IpAddr,
    pub method: &'a str,
    pub path: &'a str,
    pub dialect: &'static str,
    pub action: Option<&'a str>,
    /// The access key id the request was signed with (once the filter accepted it).
    pub access_key_id: Option<&'a str>,
    /// Who checks that signature's MAC: `edge` (verified here) or `service` (temporary
    /// credentials the edge cannot verify, forwarded for the service to).
    pub signature: Option<&'static str>,
    /// The `[[credentials]]` entry the request was re-signed with before it was forwarded
    /// (its caller's key's `sign_as`).
    pub sign_as: Option<&'a str>,
    /// Repair mode: the free-text fields cut to the service's limit before forwarding, each
    /// with its original and new length and the SHA-256 of the original (never the text).
    pub repaired: Option<&'a [RepairedField]>,
    /// Repair mode: why a report with over-long free text was refused rather than repaired.
    pub not_repaired: Option<&'a str>,
    pub code: &'a str,
    pub status: u16,
    pub upstream: Option<&'a str>,
    pub component_us: Option<u64>,
    pub upstream_us: Option<u64>,
    pub total_us: u64,
    /// Shadow mode: the code and status enforce mode would have answered with.
    pub shadow_code: Option<&'a str>,
    pub shadow_status: Option<u16>,
}

enum Message {
    Line(String),
    /// Answered once every line queued before it is written.
    Flush(SyncSender<()>),
}

/// Sends finished lines to the writer thread.
pub struct Log {
    queue: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

impl Log {
    /// Starts the writer thread; it ends when the `Log` is dropped. Lines dropped because the
    /// queue was full are counted in `dropped`.
    pub fn start(dropped: Arc<AtomicU64>) -> std::io::Result<Log> {
        let (queue, lines) = sync_channel(QUEUE_LINES);
        std::thread::Builder::new()
            .name("taskgate-log".into())
            .spawn(move || write_lines(&lines))?;
        Ok(Log { queue, dropped })
    }

    /// Queues one request's line. Never blocks the request.
    pub fn write(&self, line: &LogLine<'_>) {
        // Serializing borrowed fields of plain types cannot fail.
        let line = serde_json::to_string(line).unwrap_or_default();
        if let Err(TrySendError::Full(_)) = self.queue.try_send(Message::Line(line)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until every line queued so far is written (before the process exits), at most
    /// `FLUSH_WAIT`: a stalled stderr must not keep the process from exiting.
    pub fn flush(&self) {
        let (done, wait) = sync_channel(1);
        let deadline = std::time::Instant::now() + FLUSH_WAIT;
        let mut message = Message::Flush(done);
        loop {
            match self.queue.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if std::time::Instant::now() < deadline => {
                    message = back;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return,
            }
        }
        let _ = wait.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()));
    }
}

fn write_lines(queue: &Receiver<Message>) {
    let mut batch = String::new();
    let mut waiting = Vec::new();
    while let Ok(first) = queue.recv() {
        // Under load many lines are queued: take them all and write them at once.
        for message in std::iter::once(first).chain(std::iter::from_fn(|| queue.try_recv().ok())) {
            match message {
                Message::Line(line) => {
                    batch.push_str(&line);
                    batch.push('\n');
                }
                Message::Flush(done) => waiting.push(done),
            }
        }
        let _ = std::io::stderr().lock().write_all(batch.as_bytes());
        batch.clear();
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
        std::thread::sleep(GATHER);
    }
}
