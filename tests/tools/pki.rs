//! `test-pki DIR`: makes a test CA and certificates for the SDK suites, at test time.
//!
//! Writes into DIR:
//! - `ca.pem`: the test CA (what clients and `ca_file` trust);
//! - `vendors.pem` / `vendors.key`: a chain for the vendors' endpoint names the suites use
//!   (Step Functions, SWF, CodePipeline in us-east-1; Serverless Workflow in cn-hangzhou, with
//!   and without the account prefix), `localhost` and `127.0.0.1`, signed by the test CA;
//! - `wrong-name.pem` / `wrong-name.key`: a chain from the test CA for `other.example` only;
//! - `untrusted.pem` / `untrusted.key`: a chain for the vendors' names from a CA nobody trusts.

#![expect(
    clippy::expect_used,
    reason = "a test tool: a failure is a message and exit"
)]

use taskgate_tests::tls::TestCa;

/// The names on the vendors' chain.
const VENDOR_NAMES: [&str; 8] = [
    "states.us-east-1.amazonaws.com",
    "swf.us-east-1.amazonaws.com",
    "codepipeline.us-east-1.amazonaws.com",
    "cn-hangzhou.fnf.aliyuncs.com",
    "fnf.cn-hangzhou.aliyuncs.com",
    "1234567890123456.cn-hangzhou.fnf.aliyuncs.com",
    "localhost",
    "127.0.0.1",
];

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .expect("usage: test-pki DIR");
    let ca = TestCa::new("taskgate test CA");
    let stranger = TestCa::new("a CA nobody trusts");
    let vendors = ca.leaf(&VENDOR_NAMES);
    let wrong_name = ca.leaf(&["other.example"]);
    let untrusted = stranger.leaf(&VENDOR_NAMES);
    ca.write(
        &dir,
        &[
            ("vendors", &vendors),
            ("wrong-name", &wrong_name),
            ("untrusted", &untrusted),
        ],
    );
    println!("{}", dir.display());
}
