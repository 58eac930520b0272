//! What every build that forwards says about a request, named once: the codes it logs and
//! counts for requests nobody answered at the edge, and the names of its counters. `taskgate
//! serve` and the Envoy plugin write them each in their own form (a Prometheus exposition,
//! Envoy's stats), and a request is counted under the same name and code in both.

/// The code and status of a request whose client went away before its answer (the status is
/// nginx's for the same event).
pub const CLIENT_CLOSED: (&str, u16) = ("ClientClosedRequest", 499);

/// The code of a request let through to the upstream (its status is the upstream's).
pub const FORWARDED: &str = "forwarded";

/// The code of a request recorded in the local sink (`taskgate serve` with no upstream).
pub const RECORDED: &str = "recorded";

/// The counters' names, shared by every build that keeps them.
pub mod metric {
    /// Requests by dialect, code and status.
    pub const REQUESTS: &str = "taskgate_requests_total";
    /// Requests shadow mode forwarded that enforce mode would have answered, by dialect and
    /// code.
    pub const SHADOW: &str = "taskgate_shadow_total";
    /// Requests whose signature was left to the service, by dialect.
    pub const SIGNATURE_LEFT_TO_SERVICE: &str = "taskgate_signature_left_to_service_total";
    /// Requests re-signed with a `[[credentials]]` entry, by dialect and credential.
    pub const RESIGNED: &str = "taskgate_resigned_total";
    /// Requests that could not be re-signed, by dialect and stage.
    pub const RESIGN_FAILURES: &str = "taskgate_resign_failures_total";
    /// Free-text fields repair mode cut, by dialect and field.
    pub const REPAIRED: &str = "taskgate_repaired_total";
    /// Calls passed on under `other_calls`, by dialect, action and mode.
    pub const OTHER_CALLS: &str = "taskgate_other_calls_total";
    /// Requests that went on without memory because it could not answer.
    pub const STORE_UNAVAILABLE: &str = "taskgate_store_unavailable_total";
}
