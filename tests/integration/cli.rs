//! The `taskgate` binary as a user runs it: exit codes, JSON output, configuration errors.

use crate::root;
use serde_json::Value;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use taskgate_tests::{Call, EXECUTION_ID, Layout, SIGNED_AT, to_http};

/// The binary next to this test executable (`target/release/taskgate`), or `TASKGATE_BIN`.
pub fn bin() -> PathBuf {
    if let Some(path) = std::env::var_os("TASKGATE_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test exe");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("taskgate");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --release -p taskgate`",
        path.display()
    );
    path
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn taskgate");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("taskgate output")
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

#[test]
fn check_with_no_file_forwards_the_shipped_example() {
    let out = run(&["check"], b"");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdict = json(&out);
    assert_eq!(verdict["verdict"], "forward");
    assert_eq!(verdict["report"]["error"], "PaymentDeclined");
    assert_eq!(verdict["report"]["token"]["verified"], true);
}

#[test]
fn check_reads_stdin_and_exits_1_on_reject() {
    let request = to_http(&Call::new(Layout::QueryAndForm).secret("wrong").build());
    let out = run(&["check", "-", "--now", SIGNED_AT], &request);
    assert_eq!(out.status.code(), Some(1));
    let verdict = json(&out);
    assert_eq!(verdict["code"], "SignatureNotMatch");
    assert_eq!(verdict["response"]["status"], 403);
    let body: Value = serde_json::from_str(verdict["response"]["body"].as_str().expect("body"))
        .expect("body JSON");
    assert_eq!(body["Code"], "SignatureNotMatch");
}

#[test]
fn check_uses_the_clock_unless_told_the_time() {
    let request = to_http(&Call::new(Layout::Acs3).build());
    assert_eq!(
        run(&["check", "-", "--now", SIGNED_AT], &request)
            .status
            .code(),
        Some(0)
    );
    let out = run(&["check", "-"], &request);
    assert_eq!(json(&out)["code"], "RequestTimeTooSkewed");
}

#[test]
fn usage_and_configuration_errors_exit_2_with_a_message() {
    let bad = std::env::temp_dir().join(format!("taskgate-bad-{}.toml", std::process::id()));
    std::fs::write(&bad, "[limits]\nmax_body_bytes = -1\n").expect("write");
    for (args, phrase) in [
        (
            vec!["check", "--config", bad.to_str().expect("utf8")],
            "max_body_bytes",
        ),
        (vec!["check", "no-such-file.http"], "no-such-file.http"),
        (vec!["check", "-", "--now", "yesterday"], "--now"),
        (vec!["check", "--component", "Cargo.toml"], "component"),
        (vec!["frobnicate"], "frobnicate"),
    ] {
        let out = run(&args, b"GET / HTTP/1.1\r\n\r\n");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(phrase), "{args:?}: {stderr}");
    }
    let out = run(&["check", "-"], b"this is not HTTP");
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_file(bad).ok();
}

#[test]
fn a_minted_token_decodes_with_its_account_and_a_foreign_one_does_not_verify() {
    let out = run(
        &[
            "token",
            "mint",
            "--execution-id",
            EXECUTION_ID,
            "--event-id",
            "77",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0));
    let token = String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned();
    let decoded = run(&["token", "decode", &token], b"");
    assert_eq!(decoded.status.code(), Some(0));
    let value = json(&decoded);
    assert_eq!(value["event_id"], 77);
    assert_eq!(value["execution_id"], EXECUTION_ID);
    assert_eq!(value["account"], "1234567890123456");

    let foreign =
        taskgate_filter::token::mint("a", EXECUTION_ID, 1, b"not-a-configured-key").expect("mint");
    let out = run(&["token", "decode", &foreign], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["valid"], false);
    let out = run(&["token", "decode", "bm90IGEgdG9rZW4="], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(json(&out)["error"].as_str().expect("error").contains("v1#"));
}
