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

/// The "service" (a gateway with no upstream holding `service_keys`, recording what it
/// accepts in its sink, as the real service would verify it) and an edge in front of it
/// holding `edge_keys`.
fn service_and_edge(service_keys: &str, edge_keys: &str) -> (Served, Served) {
    let service = Served::start_with(service_keys, "", None);
    let upstream = format!("upstream = \"http://{}\"\n", service.addr);
    let edge = Served::start_with(edge_keys, &upstream, None);
    (service, edge)
}

/// A field of a JSON log line.
fn field<'a>(line: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    line.get(name).and_then(serde_json::Value::as_str)
}

#[test]
fn every_callback_signed_with_a_worker_key_reaches_the_service_signed_with_the_gateways_credential()
{
    // The "service" knows only the cloud credential.
    let (service, edge) = service_and_edge(CLOUD_KEY, &format!("{WORKER}{CREDENTIAL}"));
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
    let (service, edge) = service_and_edge(CLOUD_KEY, &format!("{WORKER}{CREDENTIAL}"));
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
    // The demo key has no sign_as: its request goes on as it was signed (the service, like
    // every gateway of these tests, knows the demo key too).
    let (service, edge) = service_and_edge(CLOUD_KEY, &format!("{WORKER}{CREDENTIAL}"));
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

/// A stand-in HTTP server on loopback, the way the SDKs' own tests stand in for a cloud's
/// endpoints: each connection gets one answer, `(status line, body)`, from `answer` given the
/// request line and the header lines (lower case).
fn stub(
    answer: impl Fn(&str, &[String]) -> (&'static str, String) + Send + 'static,
) -> std::net::SocketAddr {
    use std::io::{BufRead as _, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut headers = Vec::new();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
                headers.push(header.trim_end().to_ascii_lowercase());
            }
            let (status, body) = answer(&request_line, &headers);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// When credentials handed out now expire: in 5 minutes and 2 seconds, so a gateway (which
/// fetches again 5 minutes before expiry) fetches again about 2 seconds later.
fn soon() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    taskgate_filter::format_timestamp(now + 5 * 60 + 2)
}

/// A stand-in for the ECS instance metadata service: an IMDSv2 token, one RAM role, and its
/// STS credentials, which rotate (`STS.ROTATED1`, then `STS.ROTATED2`, ...) each time they are
/// fetched, each set expiring `soon`.
struct Metadata {
    addr: std::net::SocketAddr,
    fetched: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl Metadata {
    fn start() -> Metadata {
        use std::sync::atomic::Ordering;
        let fetched = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let count = std::sync::Arc::clone(&fetched);
        let addr = stub(move |line, headers| {
            let path = line.split(' ').nth(1).unwrap_or("");
            let token = headers.contains(&"x-aliyun-ecs-metadata-token: imds-token".to_owned());
            let base = "/latest/meta-data/ram/security-credentials/";
            if line.starts_with("PUT ") && path == "/latest/api/token" {
                ("200 OK", "imds-token".to_owned())
            } else if !token {
                ("401 Unauthorized", String::new())
            } else if path == base {
                ("200 OK", "taskgate-role\n".to_owned())
            } else if path == format!("{base}taskgate-role") {
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                let body = format!(
                    r#"{{"AccessKeyId":"STS.ROTATED{n}","AccessKeySecret":"rotated-secret-{n}","SecurityToken":"rotated-token-{n}","Expiration":"{}","Code":"Success","LastUpdated":"2026-01-01T00:00:00Z"}}"#,
                    soon()
                );
                ("200 OK", body)
            } else {
                ("404 Not Found", String::new())
            }
        });
        Metadata { addr, fetched }
    }
}

/// The service knows the rotating STS keys (as Alibaba Cloud does).
fn sts_keys(n: u32) -> String {
    (1..=n)
        .map(|i| {
            format!(
                "[[access_keys]]\nid = \"STS.ROTATED{i}\"\nsecret = \"rotated-secret-{i}\"\naccount = \"1234567890123456\"\n"
            )
        })
        .collect()
}

#[test]
fn credentials_from_the_ecs_ram_role_are_picked_up_and_refreshed_when_they_rotate() {
    use std::sync::atomic::Ordering;
    let metadata = Metadata::start();
    let chain = format!(
        "[[credentials]]\nname = \"cloud\"\nsource = \"alibaba\"\nmetadata_endpoint = \"http://{}\"\n",
        metadata.addr
    );
    let (service, edge) = service_and_edge(&sts_keys(20), &format!("{WORKER}{chain}"));
    wait_until("the edge is ready with its credentials", || {
        taskgate_tests::gateway::get(edge.admin, "/readyz").status == 200
    });
    let report = |n: u64| {
        let call = Call::new(Layout::QueryAndForm)
            .key("WORKER0001", "the-workers-own-secret")
            .fresh(n);
        let answer = send(edge.addr, &to_http(&call.now().build()));
        assert_eq!(answer.status, 200, "{}", answer.code());
    };
    report(9500);
    let first = service.sink_lines();
    assert_eq!(first.len(), 1);
    let first_key = first[0]["access_key_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(first_key.starts_with("STS.ROTATED"), "{first_key}");
    // The credentials expire in 5 minutes and 2 seconds: the gateway fetches new ones about 2
    // seconds after each fetch, and signs with them from then on, without a restart.
    let before = metadata.fetched.load(Ordering::SeqCst);
    wait_until("the credentials were fetched again", || {
        metadata.fetched.load(Ordering::SeqCst) > before
    });
    report(9501);
    let lines = service.sink_lines();
    assert_eq!(lines.len(), 2);
    let second_key = lines[1]["access_key_id"].as_str().unwrap_or_default();
    assert!(
        second_key.starts_with("STS.ROTATED") && second_key != first_key,
        "{first_key} then {second_key}"
    );
    assert!(
        !edge.log().contains("rotated-secret"),
        "no secret is logged"
    );
}

#[test]
fn a_credential_that_cannot_be_had_makes_the_edge_unready_and_its_calls_a_500() {
    // Nothing listens on this port: the metadata service is down.
    let down = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = down.local_addr().expect("addr");
    drop(down);
    let chain = format!(
        "[[credentials]]\nname = \"cloud\"\nsource = \"alibaba\"\nram_role = \"taskgate-role\"\nmetadata_endpoint = \"http://{addr}\"\n"
    );
    let (service, edge) = service_and_edge(&sts_keys(1), &format!("{WORKER}{chain}"));
    wait_until("the edge is listening", || {
        taskgate_tests::gateway::get(edge.admin, "/healthz").status == 200
    });
    let ready = taskgate_tests::gateway::get(edge.admin, "/readyz");
    let reason = String::from_utf8_lossy(&ready.body).into_owned();
    assert_eq!(ready.status, 503, "{reason}");
    assert!(
        reason.contains("credentials 'cloud' cannot be had"),
        "{reason}"
    );
    let call = Call::new(Layout::Acs3)
        .key("WORKER0001", "the-workers-own-secret")
        .fresh(9600);
    let answer = send(edge.addr, &to_http(&call.now().build()));
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (500, "InternalServerError")
    );
    assert!(service.sink_lines().is_empty(), "nothing was forwarded");
}

/// A stand-in for the ECS container credentials endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI`):
/// temporary AWS credentials (`ASIAROTATED1`, then `ASIAROTATED2`, ...) that rotate each time
/// they are fetched, each set expiring `soon`. Its URL, and how often it was asked.
fn container_credentials() -> (String, std::sync::Arc<std::sync::atomic::AtomicU32>) {
    use std::sync::atomic::Ordering;
    let fetched = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let count = std::sync::Arc::clone(&fetched);
    let addr = stub(move |_, _| {
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        let body = format!(
            r#"{{"AccessKeyId":"ASIAROTATED{n}","SecretAccessKey":"rotated-aws-secret-{n}","Token":"rotated-aws-token-{n}","Expiration":"{}"}}"#,
            soon()
        );
        ("200 OK", body)
    });
    (format!("http://{addr}/credentials"), fetched)
}

#[test]
fn credentials_from_the_aws_chain_are_picked_up_and_refreshed_when_they_rotate() {
    use std::sync::atomic::Ordering;
    let (url, fetched) = container_credentials();
    let keys: String = (1..=20)
        .map(|i| {
            format!(
                "[[access_keys]]\nid = \"ASIAROTATED{i}\"\nsecret = \"rotated-aws-secret-{i}\"\naccount = \"123456789012\"\n"
            )
        })
        .collect();
    let service = Served::start_with(&keys, "", None);
    let dir = taskgate_tests::gateway::unique_dir("aws-chain");
    let worker = WORKER.replace("1234567890123456", "123456789012");
    let text = Served::config_text(
        &dir,
        &format!("{worker}[[credentials]]\nname = \"cloud\"\nsource = \"aws\"\n"),
        &format!("upstream = \"http://{}\"\n", service.addr),
    );
    std::fs::write(dir.join("taskgate.toml"), text).expect("config");
    let nowhere = dir.join("no-such-file").display().to_string();
    let edge = Served::launch_with_env(
        dir,
        None,
        &[
            // The chain as a container sees it, and nothing else of the machine's.
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &url),
            ("AWS_SHARED_CREDENTIALS_FILE", &nowhere),
            ("AWS_CONFIG_FILE", &nowhere),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    wait_until("the edge is ready with its credentials", || {
        taskgate_tests::gateway::get(edge.admin, "/readyz").status == 200
    });
    let report = |n: u64| {
        let call = AwsCall::new(AwsDialect::States)
            .key("WORKER0001", "the-workers-own-secret")
            .body(format!(r#"{{"taskToken": "tok-chain-{n}", "error": "E"}}"#))
            .now();
        let answer = send(edge.addr, &to_http(&call.build()));
        assert_eq!(answer.status, 200, "{}", answer.code());
    };
    report(1);
    wait_until("the service recorded it", || {
        service.sink_lines().len() == 1
    });
    let first = service.sink_lines()[0]["access_key_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(first.starts_with("ASIAROTATED"), "{first}");
    let before = fetched.load(Ordering::SeqCst);
    wait_until("the credentials were fetched again", || {
        fetched.load(Ordering::SeqCst) > before
    });
    report(2);
    wait_until("the service recorded it", || {
        service.sink_lines().len() == 2
    });
    let second = service.sink_lines()[1]["access_key_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        second.starts_with("ASIAROTATED") && second != first,
        "{first} then {second}"
    );
    assert!(
        !edge.log().contains("rotated-aws-secret"),
        "no secret is logged"
    );
}
