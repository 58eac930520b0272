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
use taskgate_filter::record::LogRecord;
use taskgate_filter::repair::RepairedField;

/// Lines the queue holds at most (a few MiB of JSON).
const QUEUE_LINES: usize = 16 * 1024;
/// How long shutdown waits for the writer to write what is queued.
const FLUSH_WAIT: Duration = Duration::from_secs(5);
/// How long the writer lets lines gather after writing a batch. Under load it then finds the
/// next batch waiting and never sleeps in `recv`, so no request has to wake it (a wake-up per
/// line measured as a tenth of the pass-through's CPU); a line waits at most this long.
const GATHER: Duration = Duration::from_millis(2);

/// One request's log line: the record every build writes (`taskgate_filter::record`), with the
/// gateway's repaired fields. Borrowed fields serialized in one pass: a `json!` map cost a
/// dozen allocations per request.
pub type LogLine<'a> = LogRecord<'a, [RepairedField]>;

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
