//! Prometheus metrics for the gateway, in the text exposition format: labelled counters
//! counted per thread (`counters.rs`), histograms and scalars in shared atomics, all rendered
//! here. A few counters and histograms do not need a metrics framework.

use super::counters::{Cap, Counter, Render};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use taskgate_filter::record::metric;

/// Upper bounds of the latency buckets, in seconds: 50 µs to 10 s.
const BUCKETS: [f64; 16] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 10.0,
];

/// A latency histogram with fixed buckets.
#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|bound| secs <= *bound) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// Everything `/metrics` reports.
pub struct Metrics {
    /// Answered requests by (dialect, code, status).
    requests: Counter<3>,
    /// Time inside the filter component per request.
    pub component_seconds: Histogram,
    /// Time waiting for the upstream per forwarded request.
    pub upstream_seconds: Histogram,
    /// Time from the request head to the response, per request.
    pub request_seconds: Histogram,
    /// Requests forwarded in shadow mode that enforce mode would have answered, by (dialect,
    /// the code it would have answered with).
    shadow: Counter<2>,
    /// Requests accepted with their MAC left to the service (temporary credentials), by
    /// dialect.
    left_to_service: Counter<1>,
    /// Requests re-signed with a `[[credentials]]` entry, by (dialect, credential).
    resigned: Counter<2>,
    /// Requests that could not be re-signed, by (dialect, stage: `sign` or `recheck`).
    resign_failures: Counter<2>,
    /// Free-text fields cut to length by repair mode, by (dialect, field).
    repaired: Counter<2>,
    /// Upstream failures by kind (connect, timeout, protocol).
    upstream_errors: Counter<1>,
    /// Checks the component could not finish (trap, deadline, memory cap).
    pub component_failures: AtomicU64,
    /// Requests being handled now.
    pub in_flight: AtomicI64,
    /// Calls passed on without a report, by (dialect, action, other_calls mode).
    other_calls: Counter<3>,
    /// Connections closed at accept, by the cap they met.
    refused_connections: Counter<1>,
    /// Log lines dropped because the log writer fell behind (stderr stalled).
    pub log_lines_dropped: Arc<AtomicU64>,
    /// TLS handshakes on the listener that failed or timed out.
    pub tls_handshake_failures: AtomicU64,
    /// Configuration reloads that took effect.
    pub reloads: AtomicU64,
    /// Configuration reloads refused (the configuration in force stayed).
    pub failed_reloads: AtomicU64,
    /// Time per store operation.
    pub store_seconds: Histogram,
    /// Store operations that failed (unreachable, timed out), by operation.
    store_errors: Counter<1>,
    /// Requests that went on without the store's memory because it could not answer
    /// (`unavailable = "forward"`).
    pub store_unavailable: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            requests: Counter::new(
                metric::REQUESTS,
                "Requests answered, by dialect, vendor code and HTTP status.",
                ["dialect", "code", "status"],
            ),
            component_seconds: Histogram::default(),
            upstream_seconds: Histogram::default(),
            request_seconds: Histogram::default(),
            shadow: Counter::new(
                metric::SHADOW,
                "Requests forwarded in shadow mode that enforce mode would have answered, by dialect and the vendor code it would have answered with.",
                ["dialect", "code"],
            ),
            left_to_service: Counter::new(
                metric::SIGNATURE_LEFT_TO_SERVICE,
                "Requests signed with temporary credentials the edge cannot verify, checked in every other way and let through for the service to verify their signature (temporary_credentials = forward), by dialect.",
                ["dialect"],
            ),
            resigned: Counter::new(
                metric::RESIGNED,
                "Requests re-signed with a [[credentials]] entry before they were forwarded (the caller's access key's sign_as), by dialect and credential.",
                ["dialect", "credential"],
            ),
            resign_failures: Counter::new(
                metric::RESIGN_FAILURES,
                "Requests answered 500 because they could not be re-signed (stage sign: the credential cannot be had) or the re-signed request did not pass the filter again (stage recheck), by dialect.",
                ["dialect", "stage"],
            ),
            repaired: Counter::new(
                metric::REPAIRED,
                "Free-text fields of failure reports cut to the service's limit and forwarded re-signed (repair = truncate), by dialect and field.",
                ["dialect", "field"],
            ),
            upstream_errors: Counter::new(
                "taskgate_upstream_errors_total",
                "Upstream failures, by kind.",
                ["kind"],
            ),
            component_failures: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            // The action comes from the caller: at most MAX_ACTIONS counted by name.
            other_calls: Counter::new(
                metric::OTHER_CALLS,
                "Calls passed on without a report (other_calls), by dialect, action and mode.",
                ["dialect", "action", "mode"],
            )
            .capped(Cap {
                sets: metric::MAX_ACTIONS,
                label: 1,
                instead: metric::OTHER_ACTION,
            }),
            refused_connections: Counter::new(
                "taskgate_connections_refused_total",
                "Client connections closed at accept, by the cap they met.",
                ["reason"],
            ),
            log_lines_dropped: Arc::default(),
            tls_handshake_failures: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
            failed_reloads: AtomicU64::new(0),
            store_seconds: Histogram::default(),
            store_errors: Counter::new(
                "taskgate_store_errors_total",
                "Store operations that failed (unreachable, timed out), by operation.",
                ["op"],
            ),
            store_unavailable: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn count_request(&self, dialect: &'static str, code: &str, status: u16) {
        let mut digits = itoa::Buffer::new();
        self.requests.inc([dialect, code, digits.format(status)]);
    }

    /// Counts one request shadow mode forwarded that enforce mode would have answered `code`.
    pub fn count_shadow(&self, dialect: &'static str, code: &str) {
        self.shadow.inc([dialect, code]);
    }

    /// Counts one request the filter accepted with its MAC left to the service.
    pub fn count_left_to_service(&self, dialect: &'static str) {
        self.left_to_service.inc([dialect]);
    }

    /// Counts one request re-signed with `credential` (a configured name: the label is bounded).
    pub fn count_resigned(&self, dialect: &'static str, credential: &str) {
        self.resigned.inc([dialect, credential]);
    }

    /// Counts one request that could not be re-signed, at `stage`.
    pub fn count_resign_failure(&self, dialect: &'static str, stage: &'static str) {
        self.resign_failures.inc([dialect, stage]);
    }

    /// Counts one free-text field repair mode cut to length (`field` is the filter's own
    /// name for it: the label is bounded).
    pub fn count_repaired(&self, dialect: &'static str, field: &'static str) {
        self.repaired.inc([dialect, field]);
    }

    /// Counts one call passed on under `other_calls`.
    pub fn count_other_call(&self, dialect: &'static str, action: &str, mode: &'static str) {
        self.other_calls.inc([dialect, action, mode]);
    }

    /// Counts one connection closed at accept.
    pub fn count_refused_connection(&self, reason: &'static str) {
        self.refused_connections.inc([reason]);
    }

    /// Counts one store operation that failed.
    pub fn count_store_error(&self, op: &'static str) {
        self.store_errors.inc([op]);
    }

    /// Counts one upstream failure.
    pub fn count_upstream_error(&self, kind: &'static str) {
        self.upstream_errors.inc([kind]);
    }

    /// The text exposition of every metric; `open_connections` is the gauge of client
    /// connections open now.
    pub fn render(&self, open_connections: usize) -> String {
        let mut out = String::with_capacity(4096);
        let counters: [&dyn Render; 10] = [
            &self.requests,
            &self.shadow,
            &self.left_to_service,
            &self.resigned,
            &self.resign_failures,
            &self.repaired,
            &self.upstream_errors,
            &self.other_calls,
            &self.refused_connections,
            &self.store_errors,
        ];
        for counter in counters {
            counter.render(&mut out);
        }
        let value = |counter: &AtomicU64| counter.load(Ordering::Relaxed).to_string();
        let scalars = [
            (
                "taskgate_connections_open",
                "gauge",
                "Client connections open now.",
                open_connections.to_string(),
            ),
            (
                "taskgate_log_lines_dropped_total",
                "counter",
                "Request log lines dropped because stderr did not keep up.",
                value(&self.log_lines_dropped),
            ),
            (
                "taskgate_tls_handshake_failures_total",
                "counter",
                "TLS handshakes on the listener that failed or timed out.",
                value(&self.tls_handshake_failures),
            ),
            (
                "taskgate_reloads_total",
                "counter",
                "Configuration reloads (SIGHUP) that took effect.",
                value(&self.reloads),
            ),
            (
                "taskgate_reload_failures_total",
                "counter",
                "Configuration reloads refused; the configuration in force stayed.",
                value(&self.failed_reloads),
            ),
            (
                "taskgate_component_failures_total",
                "counter",
                "Checks the filter component could not finish (trap, deadline, memory cap).",
                value(&self.component_failures),
            ),
            (
                metric::STORE_UNAVAILABLE,
                "counter",
                "Requests that went on without the store's memory because it could not answer.",
                value(&self.store_unavailable),
            ),
            (
                "taskgate_in_flight",
                "gauge",
                "Requests being handled now.",
                self.in_flight.load(Ordering::Relaxed).to_string(),
            ),
        ];
        for (name, kind, help, value) in scalars {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        self.component_seconds.render(
            &mut out,
            "taskgate_component_seconds",
            "Time in the filter component per request.",
        );
        self.upstream_seconds.render(
            &mut out,
            "taskgate_upstream_seconds",
            "Time waiting for the upstream per forwarded request.",
        );
        self.request_seconds.render(
            &mut out,
            "taskgate_request_seconds",
            "Time from request head to response.",
        );
        self.store_seconds.render(
            &mut out,
            "taskgate_store_seconds",
            "Time per store operation (rate, nonce claim, ledger).",
        );
        out
    }
}
