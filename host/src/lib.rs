//! The taskgate host: loads the filter component with wasmtime and offers what the CLI needs
//! (configuration, raw HTTP/1.1 request files, JSON output).
//!
//! Deliberately not here: any validation rule. Every decision about a request is the
//! component's; the host only moves bytes in and out, and turns host-side failures (a trap, a
//! deadline) into errors the caller can see.

pub mod cases;
pub mod config;
pub mod credentials;
pub mod output;
pub mod repair;
pub mod request_file;
pub mod resign;
pub mod sandbox;
pub mod serve;
pub mod store;

/// The filter component built from `guest/` by the build script, embedded so the binary works
/// alone. `--component PATH` loads another build instead.
pub const EMBEDDED_COMPONENT: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/taskgate_filter.wasm"));
