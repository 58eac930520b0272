//! The taskgate filter as a `wasi:http` proxy component: for hosts that already serve
//! components (`wasmtime serve`, `jco serve`, ...), without the taskgate binary.
//!
//! Each request is read (its body up to the dialect's limit), checked by the same filter code
//! the `filter` component and the taskgate host run, and then either answered with the
//! vendor's own error or forwarded once, byte for byte, to the configured upstream with
//! `wasi:http/outgoing-handler`, whose answer goes back to the client. Settings come from
//! `wasi:config` ([`settings`]); keys from the imported `taskgate:filter/keyring`, which a
//! provider component composed in supplies (`keyring-config`), so no secret is in this one.
//!
//! Not here, because no standard interface carries them yet: the host's memory (replays,
//! duplicates, rates across a fleet), its metrics and its log. Problems go to stderr.

// The settings are plain Rust, tested natively; the rest speaks wasi:http and is built for
// wasm32-wasip2 only (natively the crate is just the settings).
#[cfg_attr(
    not(target_arch = "wasm32"),
    allow(dead_code, reason = "natively only the tests use the settings")
)]
mod settings;

#[cfg(target_arch = "wasm32")]
mod forward;
#[cfg(target_arch = "wasm32")]
mod handler;
#[cfg(target_arch = "wasm32")]
mod wire;
