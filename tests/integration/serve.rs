//! `taskgate serve` end to end: the real binary on port 0, a recording upstream on loopback that
//! can also misbehave (refuse, hang, reset, answer garbage), raw sockets for exact bytes.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};
pub(crate) use taskgate_tests::gateway::{
    Answer, Behaviour, Served, UPSTREAM_BODY, Upstream, faults_component, get, send, unique_dir,
    valid,
};
use taskgate_tests::{Call, Layout, read_message, to_http};

#[test]
fn accepted_requests_reach_the_upstream_unchanged_and_its_answer_comes_back() {
    let upstream = Upstream::start(Behaviour::Answer);
    let gw = Served::start(&format!("upstream = {:?}\n", upstream.url()), None);
    for layout in [Layout::QueryAndForm, Layout::Acs3, Layout::FormOnly] {
        let request = Call::new(layout).now().build();
        let answer = send(gw.addr, &to_http(&request));
        assert_eq!(
            answer.status,
            200,
            "{layout:?}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.body, UPSTREAM_BODY.as_bytes());
        assert_eq!(answer.header("x-upstream"), Some("yes"));

        let seen = upstream.requests();
        let forwarded = String::from_utf8_lossy(seen.last().expect("forwarded"));
        let (head, body) = forwarded.split_once("\r\n\r\n").expect("head");
        assert_eq!(
            body.as_bytes(),
            request.body.as_slice(),
            "{layout:?}: body changed"
        );
        assert!(
            head.starts_with(&format!("POST {} HTTP/1.1\r\n", request.path_with_query)),
            "{head}"
        );
        let lower = head.to_ascii_lowercase();
        for (name, value) in &request.headers {
            let line = format!(
                "{}: {}",
                name.to_ascii_lowercase(),
                value.to_ascii_lowercase()
            );
            assert!(
                lower.contains(&line),
                "{layout:?}: {line} not forwarded in\n{head}"
            );
        }
        assert!(lower.contains("x-forwarded-for: 127.0.0.1"), "{head}");
    }
    assert_eq!(
        upstream.requests().len(),
        3,
        "each request forwarded exactly once"
    );
    assert!(gw.stop().success());
}

/// With several workers (each its own listener on the one address), every connection is
/// served, whichever listener the kernel gives it to, each request forwarded exactly once, and
/// the gateway still shuts down cleanly.
#[test]
fn every_worker_serves_its_connections_and_forwards_each_request_once() {
    let upstream = Upstream::start(Behaviour::Answer);
    let gw = Served::start(
        &format!("upstream = {:?}\nworkers = 4\n", upstream.url()),
        None,
    );
    for _ in 0..40 {
        let answer = send(
            gw.addr,
            &to_http(&Call::new(Layout::QueryAndForm).now().build()),
        );
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
    }
    assert_eq!(upstream.requests().len(), 40);
    assert!(gw.stop().success());
}

#[test]
fn rejected_requests_are_answered_at_the_edge_and_never_forwarded() {
    let upstream = Upstream::start(Behaviour::Answer);
    let gw = Served::start(&format!("upstream = {:?}\n", upstream.url()), None);
    let answer = send(
        gw.addr,
        &to_http(
            &Call::new(Layout::QueryAndForm)
                .now()
                .secret("wrong")
                .build(),
        ),
    );
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (403, "SignatureNotMatch")
    );
    assert!(answer.header("x-acs-request-id").is_some());
    let an_hour_ago = taskgate_tests::unix_now() - 3600;
    let request = Call::new(Layout::QueryAndForm).signed_at_secs(an_hour_ago);
    let answer = send(gw.addr, &to_http(&request.build()));
    assert_eq!(
        answer.code(),
        "RequestTimeTooSkewed",
        "the gateway judges time by its own clock"
    );
    assert!(upstream.requests().is_empty());
}

#[test]
fn a_dead_garbled_resetting_or_slow_upstream_is_internal_server_error_and_never_retried() {
    let dead = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let gw = Served::start(&format!("upstream = \"http://{dead}\"\n"), None);
    let answer = send(gw.addr, &valid(Layout::QueryAndForm));
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (500, "InternalServerError")
    );
    drop(gw);

    for behaviour in [
        Behaviour::Garbage,
        Behaviour::Reset,
        Behaviour::Hang(Duration::from_millis(1500)),
    ] {
        let upstream = Upstream::start(behaviour);
        let gw = Served::start(
            &format!(
                "upstream = {:?}\nupstream_timeout_ms = 500\n",
                upstream.url()
            ),
            None,
        );
        let started = Instant::now();
        let answer = send(gw.addr, &valid(Layout::Acs3));
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (500, "InternalServerError")
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "answered, not hung"
        );
        // The answer came after the one attempt failed: a retry would have come before it.
        assert_eq!(upstream.requests().len(), 1, "sent once, never again");
        let metrics = String::from_utf8(get(gw.admin, "/metrics").body).expect("utf8");
        assert!(
            metrics.contains("taskgate_upstream_errors_total{kind="),
            "{metrics}"
        );
    }
}

#[test]
fn a_trapping_or_spinning_component_is_answered_500_and_the_next_request_still_works() {
    let gw = Served::start("", Some(faults_component()));
    for marker in ["taskgate-test-trap", "taskgate-test-spin"] {
        let request = Call::new(Layout::QueryAndForm)
            .now()
            .set("Cause", &format!("x {marker} y"))
            .build();
        let answer = send(gw.addr, &to_http(&request));
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (500, "InternalServerError"),
            "{marker}"
        );
        let answer = send(gw.addr, &valid(Layout::QueryAndForm));
        assert_eq!(
            answer.status,
            200,
            "after {marker}: {}",
            String::from_utf8_lossy(&answer.body)
        );
    }
    let metrics = String::from_utf8(get(gw.admin, "/metrics").body).expect("utf8");
    assert!(
        metrics.contains("taskgate_component_failures_total 2"),
        "{metrics}"
    );
}

/// `--component` decides every byte a caller receives: the gateway's answers to the failures it
/// finds itself (a trap, a body over the limit, CONNECT) are rendered by the loaded component
/// (the fault build marks what it renders), not by a table built into the host.
#[test]
fn the_answers_to_the_gateways_own_failures_come_from_the_loaded_component() {
    let marked = |answer: &Answer| answer.header("x-taskgate-test-faults") == Some("respond");
    let gw = Served::start("", Some(faults_component()));
    let trap = Call::new(Layout::QueryAndForm)
        .now()
        .set("Cause", "taskgate-test-trap")
        .build();
    let oversized = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n";
    let connect = b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n";
    for (what, raw, status) in [
        ("a trap", to_http(&trap), 500),
        ("a body over the limit", oversized.to_vec(), 400),
        ("CONNECT", connect.to_vec(), 405),
    ] {
        let answer = send(gw.addr, &raw);
        assert_eq!(answer.status, status, "{what}");
        assert!(marked(&answer), "{what}: {:?}", answer.headers);
    }
    // The embedded component is not the fault build: no mark.
    let plain = Served::start("", None);
    let answer = send(plain.addr, oversized);
    assert_eq!(answer.status, 400);
    assert!(!marked(&answer), "{:?}", answer.headers);
}

#[test]
fn the_sink_records_each_accepted_report_once_and_answers_like_the_service() {
    let gw = Served::start("", None);
    let first = send(gw.addr, &valid(Layout::QueryAndForm));
    let second = send(
        gw.addr,
        &to_http(&Call::new(Layout::Json).now().set("Error", "Other").build()),
    );
    let rejected = send(
        gw.addr,
        &to_http(&Call::new(Layout::Acs3).now().secret("x").build()),
    );
    assert_eq!(
        (first.status, second.status, rejected.status),
        (200, 200, 403)
    );
    let body: serde_json::Value = serde_json::from_slice(&first.body).expect("JSON");
    assert!(
        body["EventId"].is_u64() && body["RequestId"].is_string(),
        "{body}"
    );
    let lines = gw.sink_lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (lines[0]["error"].as_str(), lines[1]["error"].as_str()),
        (Some("PaymentDeclined"), Some("Other"))
    );
    assert_eq!(lines[0]["execution_id"], taskgate_tests::EXECUTION_ID);
    assert_eq!(lines[0]["verified"], true);
}

#[test]
fn a_success_is_recorded_with_its_output_which_the_log_never_shows() {
    let gw = Served::start("", None);
    let secret_output = r#"{"card":"4111-1111-1111-1111"}"#;
    let call = Call::new(Layout::FormOnly)
        .succeeded(secret_output)
        .now()
        .build();
    let answer = send(gw.addr, &to_http(&call));
    assert_eq!(answer.status, 200);
    let body: serde_json::Value = serde_json::from_slice(&answer.body).expect("JSON");
    assert!(body["EventId"].is_u64(), "{body}");
    let lines = gw.sink_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["action"], "ReportTaskSucceeded");
    assert_eq!(lines[0]["callback"], "succeeded");
    assert_eq!(lines[0]["output"], secret_output);
    let log = gw.log_with("\"action\":\"ReportTaskSucceeded\"");
    assert!(!log.contains("4111"), "the output reached the log: {log}");
}

#[test]
fn oversized_bodies_are_refused_without_reading_them() {
    let gw = Served::start("", None);
    let request = Call::new(Layout::QueryAndForm).now().build();
    let mut head = to_http(&request);
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head")
        + 4;
    head.truncate(end);
    let declared = String::from_utf8(head).expect("utf8").replace(
        &format!("Content-Length: {}", request.body.len()),
        "Content-Length: 50000000",
    );
    let started = Instant::now();
    let answer = send(gw.addr, declared.as_bytes());
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (400, "EntityTooLarge")
    );
    assert!(
        answer.body.windows(7).any(|w| w == b"(65536 "),
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered without waiting for 50 MB"
    );
    assert_eq!(answer.header("connection"), Some("close"));

    let chunked = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n11000\r\n{}\r\n0\r\n\r\n",
        "a".repeat(0x11000)
    );
    assert_eq!(send(gw.addr, chunked.as_bytes()).code(), "EntityTooLarge");
}

#[test]
fn a_client_that_sends_its_whole_oversized_body_before_reading_still_gets_the_answer() {
    // Closing with unread bytes would reset the connection under a client still writing (as
    // Node's HTTP client does): the gateway answers at once, then reads the rest and drops it.
    let gw = Served::start("", None);
    let body = vec![b'a'; 16 << 20];
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = TcpStream::connect(gw.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream.write_all(head.as_bytes()).expect("write the head");
    stream
        .write_all(&body)
        .expect("the whole body is accepted, not reset");
    let raw = read_message(&mut stream).expect("a response");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("EntityTooLarge"), "{text}");
}

#[test]
fn header_limits_and_slow_clients_cannot_hold_the_gateway() {
    let gw = Served::start("max_headers = 16\nread_timeout_ms = 300\n", None);
    let mut many = String::from("POST / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..40 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(send(gw.addr, many.as_bytes()).status, 431);
    let huge = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "v".repeat(40_000)
    );
    assert_eq!(send(gw.addr, huge.as_bytes()).status, 431);

    // Half a request head, then silence: the connection is closed after the read timeout.
    let mut stream = TcpStream::connect(gw.addr).expect("connect");
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "slow client held the connection"
    );
    // And a normal request still gets through.
    assert_eq!(send(gw.addr, &valid(Layout::QueryAndForm)).status, 200);
}

#[test]
fn requests_over_the_in_flight_cap_are_resource_throttled() {
    let upstream = Upstream::start(Behaviour::Hang(Duration::from_millis(1500)));
    let gw = Served::start(
        &format!(
            "upstream = {:?}\nupstream_timeout_ms = 5000\nmax_in_flight = 1\n",
            upstream.url()
        ),
        None,
    );
    let addr = gw.addr;
    let slow = thread::spawn(move || send(addr, &valid(Layout::QueryAndForm)));
    crate::wait_until("the first request to be with the upstream", || {
        upstream.requests().len() == 1
    });
    let answer = send(gw.addr, &valid(Layout::QueryAndForm));
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (429, "ResourceThrottled")
    );
    assert_eq!(slow.join().expect("slow").status, 200);
}

#[test]
fn clients_that_go_away_mid_request_are_still_logged_once_and_leave_nothing_in_flight() {
    let upstream = Upstream::start(Behaviour::Hang(Duration::from_millis(1500)));
    let gw = Served::start(
        &format!(
            "upstream = {:?}\nupstream_timeout_ms = 5000\n",
            upstream.url()
        ),
        None,
    );
    let clients: Vec<TcpStream> = (0..5)
        .map(|_| {
            let mut stream = TcpStream::connect(gw.addr).expect("connect");
            stream
                .write_all(&valid(Layout::QueryAndForm))
                .expect("write");
            stream
        })
        .collect();
    // Every request is upstream now; the clients leave without their answers.
    for _ in 0..50 {
        if upstream.requests().len() == 5 {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(upstream.requests().len(), 5);
    drop(clients);
    let metrics = || String::from_utf8(get(gw.admin, "/metrics").body).expect("utf8");
    crate::wait_until("the five abandoned requests to be counted", || {
        metrics().contains("code=\"ClientClosedRequest\",status=\"499\"} 5")
    });
    let metrics = metrics();
    assert!(metrics.contains("taskgate_in_flight 0"), "{metrics}");
    assert!(
        metrics.contains(
            "taskgate_requests_total{dialect=\"fnf\",code=\"ClientClosedRequest\",status=\"499\"} 5"
        ),
        "{metrics}"
    );
    // The log is written by a thread of its own, a moment after the count.
    crate::wait_until("five log lines", || {
        gw.log().lines().filter(|l| l.starts_with('{')).count() >= 5
    });
    let log = gw.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with('{')).collect();
    assert_eq!(lines.len(), 5, "{log}");
    assert!(lines.iter().all(|l| l.contains("\"status\":499")), "{log}");
}

#[test]
fn other_calls_are_authenticated_then_forwarded_or_recorded_and_counted_by_action() {
    let upstream = Upstream::start(Behaviour::Answer);
    let aws_key = format!(
        "[[access_keys]]\nid = \"{}\"\nsecret = {:?}\naccount = \"123456789012\"\n",
        taskgate_tests::AWS_KEY_ID,
        taskgate_tests::AWS_SECRET
    );
    let success = |secret: &str| {
        taskgate_tests::AwsCall::new(taskgate_tests::AwsDialect::States)
            .target("AWSStepFunctions.StartExecution")
            .body(br#"{"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:demo"}"#)
            .secret(secret)
            .now()
            .build()
    };
    // Forwarded to the upstream when authenticated; refused at the edge when not.
    let gw = Served::start_with(
        &aws_key,
        &format!("upstream = {:?}\n", upstream.url()),
        None,
    );
    let answer = send(gw.addr, &to_http(&success(taskgate_tests::AWS_SECRET)));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-upstream"), Some("yes"));
    let answer = send(gw.addr, &to_http(&success("not-the-secret")));
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (400, "InvalidSignatureException")
    );
    assert_eq!(upstream.requests().len(), 1);
    let metrics = String::from_utf8(get(gw.admin, "/metrics").body).expect("utf8");
    assert!(
        metrics.contains(
            "taskgate_other_calls_total{dialect=\"states\",action=\"StartExecution\",mode=\"authenticate\"} 1"
        ),
        "{metrics}"
    );
    let log = gw.log_with("\"action\":\"StartExecution\"");
    assert!(log.contains("\"action\":\"StartExecution\""), "{log}");

    // In the sink: answered as the service would, recorded with its action.
    let gw = Served::start_with(&aws_key, "", None);
    let answer = send(gw.addr, &to_http(&success(taskgate_tests::AWS_SECRET)));
    assert_eq!((answer.status, answer.body.as_slice()), (200, &b"{}"[..]));
    let lines = gw.sink_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["action"], "StartExecution");
    assert_eq!(lines[0]["access_key_id"], taskgate_tests::AWS_KEY_ID);

    // Rejected when configured so.
    let gw = Served::start_with(&aws_key, "other_calls = \"reject\"\n", None);
    let answer = send(gw.addr, &to_http(&success(taskgate_tests::AWS_SECRET)));
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (400, "UnknownOperationException")
    );
    assert!(gw.sink_lines().is_empty());
}

#[test]
fn sigterm_finishes_requests_in_flight_then_exits_0() {
    let upstream = Upstream::start(Behaviour::Hang(Duration::from_millis(1000)));
    let gw = Served::start(
        &format!(
            "upstream = {:?}\nupstream_timeout_ms = 5000\n",
            upstream.url()
        ),
        None,
    );
    let addr = gw.addr;
    let in_flight = thread::spawn(move || send(addr, &valid(Layout::QueryAndForm)));
    crate::wait_until("the request to be with the upstream", || {
        upstream.requests().len() == 1
    });
    let status = gw.stop();
    assert_eq!(in_flight.join().expect("in flight").status, 200);
    assert!(status.success(), "{status:?}");
}

#[test]
fn logs_and_metrics_hold_the_outcome_but_never_secrets_or_the_reported_error() {
    let gw = Served::start("", None);
    let request = Call::new(Layout::QueryAndForm)
        .now()
        .set("Error", "SecretErrorCode")
        .set("Cause", "very private cause")
        .extra_header("X-Request-Id", "client-7")
        .build();
    assert_eq!(send(gw.addr, &to_http(&request)).status, 200);
    let forged = Call::new(Layout::QueryAndForm)
        .now()
        .secret("x")
        .extra_header("X-Request-Id", "an id\twith \"quotes\" and tabs")
        .build();
    assert_eq!(send(gw.addr, &to_http(&forged)).status, 403);
    assert_eq!(get(gw.admin, "/healthz").status, 200);
    let metrics = String::from_utf8(get(gw.admin, "/metrics").body).expect("utf8");
    assert!(
        metrics.contains(
            "taskgate_requests_total{dialect=\"fnf\",code=\"SignatureNotMatch\",status=\"403\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("taskgate_component_seconds_count 2"),
        "{metrics}"
    );
    let log = gw.log_with("SignatureNotMatch");
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with('{')).collect();
    assert_eq!(lines.len(), 2, "{log}");
    // The client's id is logged when it is a plausible one, left out otherwise.
    assert!(
        lines[0].contains(r#""client_request_id":"client-7""#),
        "{log}"
    );
    assert!(lines[1].contains(r#""client_request_id":null"#), "{log}");
    for secret in [
        "SecretErrorCode",
        "very private cause",
        "demo-access-key-secret",
        "Signature=",
        "TaskToken",
    ] {
        assert!(!log.contains(secret), "the log holds {secret}: {log}");
    }
}

#[test]
fn an_acs3_request_over_http2_is_checked_and_forwarded_with_its_host() {
    let upstream = Upstream::start(Behaviour::Answer);
    let gw = Served::start(&format!("upstream = {:?}\n", upstream.url()), None);
    let request = Call::new(Layout::Acs3).now().build();
    let body = unique_dir("h2").join("body");
    std::fs::write(&body, &request.body).expect("body");
    let mut curl = Command::new("curl");
    curl.args([
        "-s",
        "--http2-prior-knowledge",
        "-o",
        "-",
        "-w",
        "\n%{http_version} %{http_code}",
    ])
    .arg("--data-binary")
    .arg(format!("@{}", body.display()))
    .arg(format!("http://{}{}", gw.addr, request.path_with_query));
    for (name, value) in &request.headers {
        curl.arg("-H").arg(format!("{name}: {value}"));
    }
    let out = curl.output().expect("curl (HTTP/2 client)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with("\n2 200"), "{text}");
    let seen = upstream.requests();
    assert_eq!(seen.len(), 1);
    let forwarded = String::from_utf8_lossy(&seen[0]).to_ascii_lowercase();
    assert!(
        forwarded.contains("\r\nhost: 1234567890123456.cn-hangzhou.fnf.aliyuncs.com\r\n"),
        "{forwarded}"
    );
}

#[test]
fn with_instance_reuse_a_failed_instance_is_discarded_and_verdicts_do_not_change() {
    let gw = Served::start(
        "\n[sandbox]\ninstance_reuse = 100\n",
        Some(faults_component()),
    );
    for marker in [
        "taskgate-test-trap",
        "taskgate-test-spin",
        "taskgate-test-trap",
    ] {
        let request = Call::new(Layout::QueryAndForm)
            .now()
            .set("Cause", &format!("x {marker} y"))
            .build();
        assert_eq!(
            send(gw.addr, &to_http(&request)).code(),
            "InternalServerError",
            "{marker}"
        );
        for _ in 0..3 {
            assert_eq!(
                send(gw.addr, &valid(Layout::QueryAndForm)).status,
                200,
                "after {marker}"
            );
            let rejected = send(
                gw.addr,
                &to_http(&Call::new(Layout::Acs3).now().secret("x").build()),
            );
            assert_eq!(rejected.code(), "SignatureNotMatch", "after {marker}");
        }
    }
}
