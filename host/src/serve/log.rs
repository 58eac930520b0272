//! The per-request log: one JSON line per request on stderr, written by its own thread so that
//! the request path only formats a string. stderr is unbuffered; writing a JSON value to it
//! directly costs dozens of small writes per line, which measured as half the proxy's CPU.

use std::io::Write as _;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

enum Message {
    Line(String),
    /// Answered once every line queued before it is written.
    Flush(SyncSender<()>),
}

/// Sends finished lines to the writer thread.
pub struct Log {
    queue: Sender<Message>,
}

impl Log {
    /// Starts the writer thread; it ends when the `Log` is dropped.
    pub fn start() -> std::io::Result<Log> {
        let (queue, lines) = channel();
        std::thread::Builder::new()
            .name("taskgate-log".into())
            .spawn(move || write_lines(&lines))?;
        Ok(Log { queue })
    }

    /// Queues one line (without its newline). Never blocks the request.
    pub fn line(&self, line: String) {
        let _ = self.queue.send(Message::Line(line));
    }

    /// Waits until every line queued so far is written (before the process exits).
    pub fn flush(&self) {
        let (done, wait) = sync_channel(1);
        if self.queue.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
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
    }
}
