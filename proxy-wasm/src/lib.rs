//! The taskgate filter as a proxy-wasm HTTP filter, for Envoy (and other proxies that load
//! proxy-wasm modules): a plain core wasm module (`wasm32-wasip1`), since Envoy loads modules,
//! not components.
//!
//! Each request's body is buffered by Envoy up to the dialect's limit, checked by the same
//! `taskgate_filter::check` every other build runs, and either answered with the vendor's own
//! error (`send_http_response`) or let through unchanged to Envoy's route. Replayed nonces and
//! settled tasks are remembered in Envoy's shared data ([`remember`]); the upstream's answer
//! settles a task as the filter's `settles` says. One log line per request through Envoy's
//! log, counters through proxy-wasm metrics.
//!
//! The plugin's `configuration` is a taskgate configuration file ([`settings`]): the secrets
//! are in it (or in the VM's environment variables through `secret_env`), since Envoy has no
//! keyring to import.
//!
//! Not here: memory shared by a fleet of Envoys (each node remembers on its own: use
//! `taskgate serve` with Redis for that), rates, and waiting for a busy task's outcome.

// The settings and the shared-data tables are plain Rust, tested natively; the rest speaks
// proxy-wasm and is built for wasm32 only.
#[cfg_attr(
    not(target_arch = "wasm32"),
    allow(dead_code, reason = "natively only the tests use them")
)]
pub mod remember;
#[cfg_attr(
    not(target_arch = "wasm32"),
    allow(dead_code, reason = "natively only the tests use them")
)]
pub mod settings;

#[cfg(target_arch = "wasm32")]
mod exchange;
#[cfg(target_arch = "wasm32")]
mod metrics;
#[cfg(target_arch = "wasm32")]
mod plugin;
#[cfg(target_arch = "wasm32")]
mod plumbing;
