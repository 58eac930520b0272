//! The `taskgate` binary as a user runs it: exit codes, JSON output, configuration errors.

use crate::root;
use serde_json::Value;
use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use taskgate_tests::{Call, EXECUTION_ID, Layout, SIGNED_AT, to_http};

pub use taskgate_tests::gateway::taskgate_bin as bin;

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn taskgate");
    // A run that fails before reading its input (a usage error) closes stdin early.
    match child.stdin.take().expect("stdin").write_all(stdin) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.expect("write stdin"),
    }
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
    // Signed an hour ago: never inside the 15-minute window of the clock, whatever the date.
    let an_hour_ago = taskgate_tests::unix_now() - 3600;
    let request = to_http(&Call::new(Layout::Acs3).signed_at_secs(an_hour_ago).build());
    let then = an_hour_ago.to_string();
    assert_eq!(
        run(&["check", "-", "--now", &then], &request).status.code(),
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

#[test]
fn test_runs_the_corpus_and_reports_each_case_and_a_closing_count() {
    let out = run(&["test", "tests/cases/states"], b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("running "), "{stdout}");
    assert!(
        stdout.contains("case send_task_failure_as_boto3_sends_it_is_forwarded ... ok"),
        "{stdout}"
    );
    let last = stdout.lines().last().unwrap_or("");
    assert!(
        last.ends_with(" passed, 0 failed") && !last.starts_with("0 "),
        "{last}"
    );
}

#[test]
fn test_shows_a_diff_for_a_failing_case_and_exits_1() {
    let dir = std::env::temp_dir().join(format!("taskgate-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = std::fs::read_to_string(
        root().join("tests/cases/fnf/narrower_configured_clock_window_is_enforced.toml"),
    )
    .expect("a corpus case");
    // The same request expected to pass: it must fail, showing what differs.
    let wrong = good
        .split("[expect]")
        .next()
        .map(|head| format!("{head}[expect]\nverdict = \"forward\"\n"))
        .expect("a case with an [expect] table");
    std::fs::write(dir.join("good.toml"), &good).expect("write");
    std::fs::write(dir.join("wrong.toml"), &wrong).expect("write");
    std::fs::copy(
        root().join("tests/cases/taskgate.toml"),
        dir.join("taskgate.toml"),
    )
    .expect("copy the base configuration");

    let dir_arg = dir.to_string_lossy().into_owned();
    let out = run(&["test", &dir_arg, "--verbose"], b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("case good ... ok"), "{stdout}");
    assert!(stdout.contains("case wrong ... FAILED"), "{stdout}");
    assert!(
        stdout.contains("expected forward\n    got      reject 403 RequestTimeTooSkewed"),
        "{stdout}"
    );
    assert!(stdout.contains("config overrides: limits"), "{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("1 passed, 1 failed"),
        "{stdout}"
    );

    let missing = run(&["test", "no/such/dir"], b"");
    assert_eq!(missing.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_verbose_shows_each_rule_a_case_passed() {
    let out = run(
        &[
            "test",
            "--verbose",
            "tests/cases/fnf/forward_query_and_form.toml",
        ],
        b"",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for rule in [
        "passed size: the body is within max_body_bytes",
        "passed method: POST or GET",
        "passed operation: ReportTaskFailed, version 2019-03-15",
        "passed time: the request's timestamp is within max_clock_skew_seconds",
        "passed signature: verified with the access key's secret",
        "passed token: well formed, its MAC verified",
    ] {
        assert!(stdout.contains(rule), "{rule}: {stdout}");
    }
}

#[test]
fn check_judges_the_shipped_aws_example_by_its_own_dialect() {
    let args = [
        "check",
        "examples/send-task-failure.http",
        "--now",
        "2024-01-02T03:04:05Z",
    ];
    let out = run(&args, b"");
    assert_eq!(out.status.code(), Some(0));
    let verdict = json(&out);
    assert_eq!(verdict["report"]["dialect"], "states");
    assert_eq!(verdict["report"]["action"], "SendTaskFailure");
    // 20 minutes later the same request is AWS's "Signature expired", in AWS's own body.
    let late = run(
        &[
            "check",
            "examples/send-task-failure.http",
            "--now",
            "2024-01-02T03:24:05Z",
        ],
        b"",
    );
    assert_eq!(late.status.code(), Some(1));
    let verdict = json(&late);
    assert_eq!(verdict["code"], "InvalidSignatureException");
    let body = verdict["response"]["body"].as_str().unwrap_or("");
    assert!(
        body.contains("Signature expired: 20240102T030405Z is now earlier than"),
        "{body}"
    );
}

/// The shipped success examples, one per service: generated by the test suite's own signer
/// (`TASKGATE_BLESS=1` rewrites them), each forwarded by `taskgate check` as its call.
#[test]
fn the_shipped_success_examples_are_current_and_each_forwarded_as_its_call() {
    use taskgate_tests::{AWS_SIGNED_AT, AwsCall, AwsDialect};
    let aws = |dialect, target: &str, body: &str| {
        AwsCall::new(dialect)
            .target(target)
            .body(body.as_bytes())
            .build()
    };
    let examples = [
        (
            "examples/report-task-succeeded.http",
            to_http(
                &Call::new(Layout::QueryAndForm)
                    .succeeded(r#"{"orderId":"1042","charged":true}"#)
                    .build(),
            ),
            SIGNED_AT,
            ("fnf", "ReportTaskSucceeded"),
        ),
        (
            "examples/send-task-success.http",
            to_http(&aws(
                AwsDialect::States,
                "AWSStepFunctions.SendTaskSuccess",
                r#"{"taskToken": "tok-123", "output": "{\"orderId\": \"1042\", \"charged\": true}"}"#,
            )),
            "2024-01-02T03:04:05Z",
            ("states", "SendTaskSuccess"),
        ),
        (
            "examples/respond-activity-task-completed.http",
            to_http(&aws(
                AwsDialect::Swf,
                "SimpleWorkflowService.RespondActivityTaskCompleted",
                r#"{"taskToken": "AAAAKgAAAAIAAAAAAAAAAswf-token", "result": "charged order 1042"}"#,
            )),
            "2024-01-02T03:04:05Z",
            ("swf", "RespondActivityTaskCompleted"),
        ),
        (
            "examples/put-job-success-result.http",
            to_http(&aws(
                AwsDialect::CodePipeline,
                "CodePipeline_20150709.PutJobSuccessResult",
                r#"{"jobId": "11111111-2222-4333-8444-555555555555", "executionDetails": {"summary": "built and pushed", "externalExecutionId": "build-42", "percentComplete": 100}, "outputVariables": {"IMAGE_TAG": "v1.2.3"}}"#,
            )),
            "2024-01-02T03:04:05Z",
            ("codepipeline", "PutJobSuccessResult"),
        ),
    ];
    assert_eq!(AWS_SIGNED_AT, "20240102T030405Z");
    let bless = std::env::var_os("TASKGATE_BLESS").is_some();
    for (path, request, now, (dialect, action)) in examples {
        let file = crate::root().join(path);
        if bless {
            std::fs::write(&file, &request).expect("write the example");
        }
        let on_disk = std::fs::read(&file).unwrap_or_default();
        assert!(
            on_disk == request,
            "{path} is stale: TASKGATE_BLESS=1 rewrites it"
        );
        let out = run(&["check", path, "--now", now], b"");
        assert_eq!(out.status.code(), Some(0), "{path}");
        let verdict = json(&out);
        assert_eq!(verdict["report"]["dialect"], dialect, "{path}");
        assert_eq!(verdict["report"]["action"], action, "{path}");
        assert_eq!(verdict["report"]["callback"], "succeeded", "{path}");
        assert!(verdict["report"]["output"].is_string(), "{path}");
        assert_eq!(verdict["report"]["recall"]["settles"], true, "{path}");
    }
}

#[test]
fn version_names_the_wit_package_the_embedded_component_implements() {
    let world = std::fs::read_to_string(crate::root().join("wit/world.wit")).expect("world.wit");
    let package = world
        .lines()
        .find_map(|line| line.trim().strip_prefix("package "))
        .map(|rest| rest.trim_end_matches(';').trim())
        .expect("a package line");
    let out = run(&["--version"], b"");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("taskgate 0."), "{text}");
    assert!(
        text.contains(&format!("(filter component {package})")),
        "{text}"
    );
    // The binary's own component exports that version of the validator.
    let component = taskgate::EMBEDDED_COMPONENT;
    let export = format!("{}/validator@", package.split('@').next().unwrap_or(""));
    let version = package.split('@').nth(1).unwrap_or("");
    assert!(
        component
            .windows(export.len() + version.len())
            .any(|w| w == format!("{export}{version}").as_bytes()),
        "the embedded component does not export {export}{version}"
    );
}

/// A fresh directory for the files a test writes.
fn case_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("taskgate-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A corpus case (`tests/cases/<name>`) split before its `[expect]` table: the request and
/// configuration, and the expectation's body.
fn corpus_case(name: &str) -> (String, String) {
    let text =
        std::fs::read_to_string(root().join("tests/cases").join(name)).expect("a corpus case");
    let (head, expect) = text.split_once("[expect]").expect("an [expect] table");
    (head.to_owned(), expect.to_owned())
}

#[test]
fn test_cases_may_state_shadow_mode_and_whether_the_request_is_forwarded() {
    let dir = case_dir("shadow");
    let (head, expect) = corpus_case("fnf/a_bad_signature_is_refused_whatever_the_memory.toml");
    let with = |mode: &str, forwarded: bool| {
        format!(
            "{head}[config.serve]\nmode = \"{mode}\"\n\n[expect]\nforwarded = {forwarded}{expect}"
        )
    };
    // Shadow mode: the same verdict, and the request goes on; enforce answers it at the edge.
    std::fs::write(dir.join("shadowed.toml"), with("shadow", true)).expect("write");
    std::fs::write(dir.join("enforced.toml"), with("enforce", false)).expect("write");
    std::fs::write(dir.join("wrong.toml"), with("enforce", true)).expect("write");
    std::fs::copy(
        root().join("tests/cases/taskgate.toml"),
        dir.join("taskgate.toml"),
    )
    .expect("copy the base configuration");

    let dir_arg = dir.to_string_lossy().into_owned();
    let out = run(&["test", &dir_arg, "--verbose"], b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("case shadowed ... ok"), "{stdout}");
    assert!(stdout.contains("case enforced ... ok"), "{stdout}");
    assert!(stdout.contains("case wrong ... FAILED"), "{stdout}");
    assert!(
        stdout.contains("forwarded:\n    expected true\n    got      false"),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("shadow mode: forwarded anyway, logged and counted as 403 SignatureNotMatch"),
        "{stdout}"
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_shows_a_worker_keys_sign_as_and_a_credential_it_cannot_have() {
    let dir = case_dir("sign-as");
    let (head, _) = corpus_case("states/send_task_failure_as_boto3_sends_it_is_forwarded.toml");
    // The corpus's AWS key made a worker key that names a credential (the request is signed
    // with it, so it verifies), re-signed with the gateway's own.
    let keys = "[[config.access_keys]]\nid = \"AKIDEXAMPLE\"\nsecret = \"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\"\naccount = \"123456789012\"\nsign_as = \"cloud\"\n";
    let signed = format!(
        "{head}{keys}[[config.credentials]]\nname = \"cloud\"\naccess_key_id = \"AKIDCLOUD\"\nsecret = \"s\"\n[expect]\nverdict = \"forward\"\nresigned = \"cloud\"\n"
    );
    // The same with a credential from a chain that cannot be had here: the gateway's 500.
    let unavailable = format!(
        "{head}{keys}[[config.credentials]]\nname = \"cloud\"\nsource = \"alibaba\"\nram_role = \"r\"\nmetadata_endpoint = \"http://127.0.0.1:9\"\n[expect]\nverdict = \"reject\"\nstatus = 500\ncode = \"InternalFailure\"\n"
    );
    // And a wrong expectation, which must fail naming it.
    let wrong = signed.replace("resigned = \"cloud\"", "resigned = \"(none)\"");
    std::fs::write(dir.join("signed.toml"), signed).expect("write");
    std::fs::write(dir.join("unavailable.toml"), unavailable).expect("write");
    let out = run(&["test", &dir.display().to_string(), "--verbose"], b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("resign: signed with the credential 'cloud' and checked again"),
        "{stdout}"
    );
    std::fs::write(dir.join("wrong.toml"), wrong).expect("write");
    let out = run(&["test", &dir.display().to_string()], b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("resigned:\n    expected (none)\n    got      cloud"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_shows_a_repaired_report_under_repair_truncate_and_the_refusal_without() {
    let cause = "x".repeat(5000);
    let request = to_http(&Call::new(Layout::QueryAndForm).set("Cause", &cause).build());
    let refused = run(&["check", "-", "--now", SIGNED_AT], &request);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(json(&refused)["code"], "InvalidArgument");

    let demo = std::fs::read_to_string(root().join("examples/taskgate.toml")).expect("demo");
    assert!(demo.contains("repair = \"off\""));
    let dir = case_dir("check-repair");
    let config = dir.join("taskgate.toml");
    std::fs::write(
        &config,
        demo.replace("repair = \"off\"", "repair = \"truncate\""),
    )
    .expect("config");
    let config = config.to_string_lossy().into_owned();
    let out = run(
        &["check", "-", "--now", SIGNED_AT, "--config", &config],
        &request,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdict = json(&out);
    assert_eq!(verdict["verdict"], "forward");
    let forwarded = verdict["report"]["cause"].as_str().expect("cause");
    assert_eq!(forwarded.chars().count(), 4096);
    assert!(forwarded.ends_with("...[truncated by taskgate: 5000 characters]"));
    let fields = &verdict["repaired"]["fields"];
    assert_eq!(fields[0]["field"], "Cause");
    assert_eq!(fields[0]["original_length"], 5000);
    assert_eq!(fields[0]["length"], 4096);
    let path = verdict["repaired"]["request"]["path"]
        .as_str()
        .expect("path");
    assert!(
        !path.contains("3d2c1b0a99887766554433221100ffee"),
        "a new nonce: {path}"
    );
}
