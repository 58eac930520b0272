//! The local callback sink: with no upstream configured, accepted reports are answered with the
//! service's success body and appended to a JSON-lines file, so that a newcomer can point an
//! official SDK at taskgate and see what arrives.

use crate::output::{ReportView, TokenView};
use anyhow::Context as _;
use serde::Serialize;
use serde_json::json;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use taskgate_filter::repair::RepairedField;
use taskgate_filter::{PassedCall, Report, format_timestamp};

/// An append-only JSON-lines file of accepted reports.
pub struct Sink {
    file: Mutex<File>,
    next_event_id: AtomicU64,
}

impl Sink {
    /// Opens (or creates) the file for appending.
    pub fn open(path: &Path) -> anyhow::Result<Sink> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening the sink file {}", path.display()))?;
        Ok(Sink {
            file: Mutex::new(file),
            next_event_id: AtomicU64::new(1),
        })
    }

    /// Appends one report as one line (`event_id_assigned`, `received_at`, the report's fields
    /// ([`ReportView`]) and, for a decoded Alibaba token, its fields ([`TokenView`])) and
    /// returns the event id given to it.
    pub fn record(
        &self,
        report: &Report,
        received_at: u64,
        repaired: &[RepairedField],
    ) -> anyhow::Result<u64> {
        #[derive(Serialize)]
        struct Line<'a> {
            event_id_assigned: u64,
            received_at: String,
            #[serde(flatten)]
            report: ReportView<'a>,
            #[serde(flatten)]
            token: Option<TokenView<'a>>,
            /// Repair mode: the fields cut to length, as the log line names them.
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            repaired: &'a [RepairedField],
        }
        let event_id = self.next_event_id.fetch_add(1, Ordering::Relaxed);
        let line = Line {
            event_id_assigned: event_id,
            received_at: format_timestamp(received_at),
            report: ReportView::of(report),
            token: report.token.as_ref().map(TokenView::of),
            repaired,
        };
        self.append(serde_json::to_string(&line)?)?;
        Ok(event_id)
    }

    /// Appends one call passed on without a report (`other_calls`): which operation, by whom.
    /// Its parameters are not recorded: they may be as sensitive as a cause.
    pub fn record_call(&self, call: &PassedCall, received_at: u64) -> anyhow::Result<()> {
        let line = json!({
            "received_at": format_timestamp(received_at),
            "request_id": call.request_id,
            "dialect": call.dialect.name(),
            "action": call.action,
            "access_key_id": call.access_key_id,
        })
        .to_string();
        self.append(line)
    }

    /// Writes the whole line with one call under the lock, so concurrent ones never interleave.
    fn append(&self, mut line: String) -> anyhow::Result<()> {
        line.push('\n');
        let mut file = self
            .file
            .lock()
            .map_err(|_| anyhow::anyhow!("the sink lock is poisoned"))?;
        file.write_all(line.as_bytes())
            .context("appending to the sink file")
    }
}
