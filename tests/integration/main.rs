//! Black-box tests of taskgate. Every rule is checked twice, natively and through the built
//! component, and the two verdicts must be identical; golden files pin the exact responses.

#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod aws;
mod callbacks;
mod captured;
mod cli;
mod corpus;
mod deploy;
mod docs;
mod gateway_tls;
mod hostile;
mod interface;
mod keyring_vectors;
mod memory;
mod operations;
mod repair;
mod resign;
mod robustness;
mod rules;
mod serve;
mod temporary;
mod vocabulary;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use taskgate::config::Config;
use taskgate::sandbox::Sandbox;
use taskgate_filter::{Request, Verdict};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Waits until `done` holds, looking every 20 ms, at most 10 s (then fails naming `what`): a
/// test waits for the state it needs, never for a guessed time.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited 10 s for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The embedded component, compiled once for the whole test binary.
pub fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let config = Config::demo().expect("demo config");
        Sandbox::embedded(&config).expect("the embedded component loads")
    })
}

/// The demo configuration.
pub fn demo() -> Arc<Config> {
    Arc::new(Config::demo().expect("demo config"))
}

/// Checks natively and in the component; both must agree exactly.
pub fn check_both(config: &Arc<Config>, request: &Request) -> Verdict {
    let native = taskgate_filter::check(request, config.as_ref());
    let component = sandbox()
        .check(config, request.clone())
        .expect("the component answers without trapping");
    assert_eq!(native, component, "native and component verdicts differ");
    component
}

/// The code of a rejection, or "forward", or "pass".
pub fn code(verdict: &Verdict) -> &str {
    match verdict {
        Verdict::Forward(_) => "forward",
        Verdict::Pass(_) => "pass",
        Verdict::Reject(response) => &response.code,
    }
}
