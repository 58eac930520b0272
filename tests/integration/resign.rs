//! The edge re-signs (`sign_as`): workers sign with keys the gateway issued them, the gateway
//! verifies them as always, then signs what it forwards with a `[[credentials]]` entry. A
//! second `taskgate serve` behind it, holding only that credential (as the service holds its
//! own keys), verifies every re-signed callback of the four services byte for byte.

use crate::wait_until;
use taskgate_filter::Request;
use taskgate_tests::gateway::{Served, send};
use taskgate_tests::{AwsCall, AwsDialect, Call, Layout, to_http};

/// The worker's key: what the gateway issued it, never a cloud credential.
const WORKER: &str = "[[access_keys]]\nid = \"WORKER0001\"\nsecret = \"the-workers-own-secret\"\naccount = \"1234567890123456\"\nsign_as = \"cloud\"\n";
/// The gateway's cloud credential, which the worker never holds.
const CREDENTIAL: &str = "[[credentials]]\nname = \"cloud\"\naccess_key_id = \"AKIDCLOUDCREDENTIAL\"\nsecret = \"the-clouds-secret\"\n";
/// The same credential as the service (the second gateway) knows it.
const CLOUD_KEY: &str = "[[access_keys]]\nid = \"AKIDCLOUDCREDENTIAL\"\nsecret = \"the-clouds-secret\"\naccount = \"1234567890123456\"\n";

/// Every callback of the four services, signed now by the worker's key: (name, request).
fn callbacks(secret: &str) -> Vec<(String, Request)> {
    let mut calls = Vec::new();
    for (i, layout) in [
        Layout::QueryAndForm,
        Layout::FormOnly,
        Layout::Json,
        Layout::Acs3,
    ]
    .into_iter()
    .enumerate()
    {
        let failed = Call::new(layout)
            .key("WORKER0001", secret)
            .fresh(9100 + i as u64);
        calls.push((format!("fnf {layout:?} failed"), failed.now().build()));
        let succeeded = Call::new(layout)
            .key("WORKER0001", secret)
            .fresh(9200 + i as u64)
            .succeeded("{\"ok\": true}");
        calls.push((format!("fnf {layout:?} succeeded"), succeeded.now().build()));
    }
    let aws = |dialect, target: &str, body: &str| {
        AwsCall::new(dialect)
            .key("WORKER0001", secret)
            .target(target)
            .body(body.as_bytes())
            .now()
            .build()
    };
    for (dialect, target, body) in [
        (
            AwsDialect::States,
            "AWSStepFunctions.SendTaskFailure",
            r#"{"taskToken": "tok-resign-1", "error": "E", "cause": "c"}"#,
        ),
        (
            AwsDialect::States,
            "AWSStepFunctions.SendTaskSuccess",
            r#"{"taskToken": "tok-resign-2", "output": "{}"}"#,
        ),
        (
            AwsDialect::States,
            "AWSStepFunctions.SendTaskHeartbeat",
            r#"{"taskToken": "tok-resign-3"}"#,
        ),
        (
            AwsDialect::Swf,
            "SimpleWorkflowService.RespondActivityTaskFailed",
            r#"{"taskToken": "AAAAKgAAAAIAAAAAAAAAAresign-1", "reason": "r", "details": "d"}"#,
        ),
        (
            AwsDialect::Swf,
            "SimpleWorkflowService.RespondActivityTaskCompleted",
            r#"{"taskToken": "AAAAKgAAAAIAAAAAAAAAAresign-2", "result": "done"}"#,
        ),
        (
            AwsDialect::Swf,
            "SimpleWorkflowService.RespondActivityTaskCanceled",
            r#"{"taskToken": "AAAAKgAAAAIAAAAAAAAAAresign-3", "details": "stop"}"#,
        ),
        (
            AwsDialect::Swf,
            "SimpleWorkflowService.RecordActivityTaskHeartbeat",
            r#"{"taskToken": "AAAAKgAAAAIAAAAAAAAAAresign-4", "details": "50%"}"#,
        ),
        (
            AwsDialect::CodePipeline,
            "CodePipeline_20150709.PutJobFailureResult",
            r#"{"jobId": "11111111-2222-4333-8444-000000009301", "failureDetails": {"type": "JobFailed", "message": "m"}}"#,
        ),
        (
            AwsDialect::CodePipeline,
            "CodePipeline_20150709.PutJobSuccessResult",
            r#"{"jobId": "11111111-2222-4333-8444-000000009302"}"#,
        ),
        (
            AwsDialect::CodePipeline,
            "CodePipeline_20150709.AcknowledgeJob",
            r#"{"jobId": "11111111-2222-4333-8444-000000009303", "nonce": "n-1"}"#,
        ),
    ] {
        calls.push((target.to_owned(), aws(dialect, target, body)));
    }
    calls
}

/// A field of a JSON log line.
fn field<'a>(line: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    line.get(name).and_then(serde_json::Value::as_str)
}

#[test]
fn every_callback_signed_with_a_worker_key_reaches_the_service_signed_with_the_gateways_credential()
{
    // The "service": a gateway that knows only the cloud credential, recording what it accepts.
    let service = Served::start_with(CLOUD_KEY, "", None);
    let edge = Served::start_with(
        &format!("{WORKER}{CREDENTIAL}"),
        &format!("upstream = \"http://{}\"\n", service.addr),
        None,
    );
    let calls = callbacks("the-workers-own-secret");
    for (name, request) in &calls {
        let answer = send(edge.addr, &to_http(request));
        assert_eq!(answer.status, 200, "{name}: {}", answer.code());
    }
    wait_until("the service recorded every callback", || {
        service.sink_lines().len() == calls.len()
    });
    for line in service.sink_lines() {
        assert_eq!(
            line["access_key_id"], "AKIDCLOUDCREDENTIAL",
            "the service saw the gateway's credential: {line}"
        );
    }
    // The edge says which key signed and which credential it was re-signed with; the service
    // verified the credential itself.
    let request_lines = || -> Vec<serde_json::Value> {
        (edge.log().lines())
            .filter_map(|line| serde_json::from_str(line).ok())
            .filter(|line: &serde_json::Value| line.get("status").is_some())
            .collect()
    };
    wait_until("the edge logged every request", || {
        request_lines().len() == calls.len()
    });
    let (edge_log, lines) = (edge.log(), request_lines());
    for line in &lines {
        assert_eq!(field(line, "access_key_id"), Some("WORKER0001"), "{line}");
        assert_eq!(field(line, "sign_as"), Some("cloud"), "{line}");
        assert_eq!(field(line, "code"), Some("forwarded"), "{line}");
    }
    assert!(
        !edge_log.contains("the-clouds-secret") && !edge_log.contains("the-workers-own-secret"),
        "no secret is logged"
    );
    let metrics = taskgate_tests::gateway::get(edge.admin, "/metrics");
    let metrics = String::from_utf8_lossy(&metrics.body);
    assert!(
        metrics.contains("taskgate_resigned_total{dialect=\"fnf\",credential=\"cloud\"} 8"),
        "{metrics}"
    );
}

#[test]
fn a_wrong_worker_secret_is_refused_at_the_edge_and_nothing_is_signed_for_it() {
    let service = Served::start_with(CLOUD_KEY, "", None);
    let edge = Served::start_with(
        &format!("{WORKER}{CREDENTIAL}"),
        &format!("upstream = \"http://{}\"\n", service.addr),
        None,
    );
    for (name, request) in callbacks("not-the-workers-secret") {
        let answer = send(edge.addr, &to_http(&request));
        let code = answer.code();
        assert!(
            matches!(
                (answer.status, code.as_str()),
                (403, "SignatureNotMatch") | (400, "InvalidSignatureException")
            ),
            "{name}: {} {code}",
            answer.status
        );
    }
    assert!(
        service.sink_lines().is_empty(),
        "nothing reached the service"
    );
}

#[test]
fn a_request_without_sign_as_is_forwarded_byte_for_byte_as_before() {
    // The demo key has no sign_as: the service, which knows only the cloud credential, refuses
    // what the edge forwards unchanged (the edge itself accepts it).
    let service = Served::start_with(CLOUD_KEY, "", None);
    let edge = Served::start_with(
        &format!("{WORKER}{CREDENTIAL}"),
        &format!("upstream = \"http://{}\"\n", service.addr),
        None,
    );
    let answer = send(
        edge.addr,
        &to_http(&Call::new(Layout::QueryAndForm).fresh(9400).now().build()),
    );
    assert_eq!(answer.status, 200, "{}", answer.code());
    let line = edge.log_with("\"status\"");
    assert!(!line.contains("sign_as\":\"cloud"), "{line}");
    drop(service);
}

#[test]
fn temporary_signing_credentials_carry_their_session_token_where_each_scheme_signs_it() {
    use taskgate_filter::{SignatureCheck, Verdict};
    use taskgate_tests::gateway::{Behaviour, Upstream};
    let upstream = Upstream::start(Behaviour::Answer);
    let temporary = "[[credentials]]\nname = \"cloud\"\naccess_key_id = \"ASIACLOUDSESSION\"\nsecret = \"the-sessions-secret\"\nsession_token = \"the-session-token\"\n";
    let edge = Served::start_with(
        &format!("{WORKER}{temporary}"),
        &format!("upstream = \"{}\"\n", upstream.url()),
        None,
    );
    let calls: Vec<(String, Request)> = callbacks("the-workers-own-secret")
        .into_iter()
        .filter(|(name, _)| name.contains("failed") || name.ends_with("Failure"))
        .collect();
    for (name, request) in &calls {
        let answer = send(edge.addr, &to_http(request));
        assert_eq!(answer.status, 200, "{name}: {}", answer.code());
    }
    // What the upstream received, checked by the filter with the session's key: each verifies,
    // and carries the token as its scheme does (the service then checks the token itself).
    let config = taskgate::config::Config::parse(
        "[[access_keys]]\nid = \"ASIACLOUDSESSION\"\nsecret = \"the-sessions-secret\"\naccount = \"1234567890123456\"\n[[token_keys]]\naccount = \"1234567890123456\"\nsecret = \"demo-token-key\"\n",
    )
    .expect("config");
    let received = upstream.requests();
    assert_eq!(received.len(), calls.len());
    for raw in received {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let request = taskgate::request_file::parse(&raw, now).expect("an HTTP request");
        let text = String::from_utf8_lossy(&raw).to_ascii_lowercase();
        assert!(
            text.contains("x-amz-security-token: the-session-token")
                || text.contains("x-acs-security-token: the-session-token")
                || text.contains("securitytoken=the-session-token"),
            "{text}"
        );
        match taskgate_filter::check(&request, &config) {
            Verdict::Forward(report) => {
                assert_eq!(report.access_key_id, "ASIACLOUDSESSION");
                assert_eq!(report.signature, SignatureCheck::Edge);
            }
            other => panic!("the re-signed request does not verify: {other:?}\n{text}"),
        }
    }
}
