//! The bodies of taskgate's fuzz targets, as plain functions over bytes: the libFuzzer targets
//! in `fuzz/fuzz_targets/` (nightly, `cargo fuzz`) call them, and the replay test
//! (`tests/corpora.rs`, stable) runs every committed corpus file through them, so a finding
//! stays fixed without a nightly toolchain.
//!
//! Each function panics when an invariant of the code under test breaks: a round trip that
//! does not come back, two verdicts that differ, a rejection that is not a vendor error.
//! Inputs a parser refuses are fine; panicking on them is not.

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "a test fails by panicking"
    )
)]

pub mod check;
pub mod files;
pub mod json;
pub mod percent;
pub mod repair;
pub mod request;
pub mod resign;
pub mod signing;
pub mod token;

/// A fuzz target: its name (the file under `fuzz/fuzz_targets/` and the corpus directory
/// under `fuzz/corpus/`) and its body.
pub struct Target {
    /// The target's name.
    pub name: &'static str,
    /// Runs one input; panics on a finding.
    pub run: fn(&[u8]),
}

/// Every target, in the order `fuzz/run.sh` runs them.
pub const TARGETS: [Target; 15] = [
    Target {
        name: "percent_decode",
        run: percent::percent_decode,
    },
    Target {
        name: "form_params",
        run: percent::form_params,
    },
    Target {
        name: "fnf_json",
        run: json::fnf_json,
    },
    Target {
        name: "output_json",
        run: json::output_json,
    },
    Target {
        name: "aws_json",
        run: json::aws_json,
    },
    Target {
        name: "rpc_v1",
        run: signing::rpc_v1,
    },
    Target {
        name: "acs3",
        run: signing::acs3,
    },
    Target {
        name: "sigv4",
        run: signing::sigv4,
    },
    Target {
        name: "token_decode",
        run: token::token_decode,
    },
    Target {
        name: "token_round_trip",
        run: token::token_round_trip,
    },
    Target {
        name: "http_file",
        run: files::http_file,
    },
    Target {
        name: "case_file",
        run: files::case_file,
    },
    Target {
        name: "check",
        run: check::check,
    },
    Target {
        name: "differential",
        run: check::differential,
    },
    Target {
        name: "repair",
        run: repair::repair,
    },
];
