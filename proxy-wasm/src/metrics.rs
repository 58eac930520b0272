//! The plugin's counters, as proxy-wasm metrics: Envoy shows them in its admin interface
//! (`/stats/prometheus`) under `wasmcustom`, summed over its worker threads. A name carries its
//! labels as dotted pairs (`taskgate_requests_total.dialect.fnf.code.SignatureNotMatch.status.403`),
//! which the `stats_tags` of `deploy/envoy/envoy.yaml` turn into Prometheus labels
//! (`taskgate_requests_total{dialect="fnf",code="SignatureNotMatch",status="403"}`).
//!
//! A metric is defined the first time a name is used (a name per dialect, code and status, as
//! `taskgate serve` counts them), and its id kept for the VM's life.

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use taskgate_filter::record::metric;

/// The counters' ids by full name.
#[derive(Default)]
pub struct Metrics {
    ids: RefCell<HashMap<String, u32>>,
    /// The actions `taskgate_other_calls_total` counted by name so far.
    actions: RefCell<HashSet<String>>,
}

impl Metrics {
    /// One request answered or forwarded: `taskgate_requests_total{dialect,code,status}`, the
    /// code being the vendor's for an edge answer and `forwarded` for a call let through.
    pub fn count_request(&self, dialect: &str, code: &str, status: u16) {
        self.increment(&format!(
            "{}.dialect.{dialect}.code.{}.status.{status}",
            metric::REQUESTS,
            label(code)
        ));
    }

    /// Shadow mode let a request go on that enforce mode would have answered with `code`:
    /// `taskgate_shadow_total{dialect,code}`.
    pub fn count_shadow(&self, dialect: &str, code: &str) {
        self.increment(&format!(
            "{}.dialect.{dialect}.code.{}",
            metric::SHADOW,
            label(code)
        ));
    }

    /// A call the filter does not model, passed under `other_calls`:
    /// `taskgate_other_calls_total{dialect,action,mode}`, as `taskgate serve` counts it (past
    /// `MAX_ACTIONS` distinct actions in this VM, a new one is counted as `other`).
    pub fn count_other_call(&self, dialect: &str, action: &str, mode: &str) {
        let action = label(action);
        let action = {
            let mut actions = self.actions.borrow_mut();
            if actions.contains(&action) || actions.len() < metric::MAX_ACTIONS {
                actions.insert(action.clone());
                action
            } else {
                metric::OTHER_ACTION.to_owned()
            }
        };
        self.increment(&format!(
            "{}.dialect.{dialect}.action.{action}.mode.{mode}",
            metric::OTHER_CALLS
        ));
    }

    /// Shared data kept refusing a write: the request went on without memory.
    pub fn count_memory_unavailable(&self) {
        self.increment(metric::STORE_UNAVAILABLE);
    }

    fn increment(&self, name: &str) {
        let known = self.ids.borrow().get(name).copied();
        let id = match known {
            Some(id) => id,
            None => match hostcalls::define_metric(MetricType::Counter, name) {
                Ok(id) => {
                    self.ids.borrow_mut().insert(name.to_owned(), id);
                    id
                }
                Err(_) => return,
            },
        };
        let _ = hostcalls::increment_metric(id, 1);
    }
}

/// A label value as a stat name part: a vendor code is letters and digits; anything else
/// (never expected) becomes `_` so it cannot split the name.
fn label(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
