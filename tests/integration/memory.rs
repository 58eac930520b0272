//! The gateway's memory end to end: replays, duplicate reports and rates answered at the edge by
//! one node with the embedded store, and by two nodes sharing a real `redis-server` (started
//! here on a free loopback port; `tests/run.sh` installs Debian's).

use crate::serve::{Behaviour, Served, Upstream, get, send};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use taskgate_tests::{AwsCall, AwsDialect, Call, Layout, demo_token, to_http};

/// The AWS demo key, for the AWS dialects.
fn aws_key() -> String {
    format!(
        "[[access_keys]]\nid = \"{}\"\nsecret = {:?}\naccount = \"123456789012\"\n",
        taskgate_tests::AWS_KEY_ID,
        taskgate_tests::AWS_SECRET
    )
}

/// A fresh nonce for each signed Alibaba request.
fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// An Alibaba report for the task of `event_id`, signed now with its own nonce.
fn fnf_report(layout: Layout, event_id: u64) -> Vec<u8> {
    let nonce = nonce();
    let call = Call::new(layout).set("TaskToken", &demo_token(event_id));
    let call = if layout == Layout::Acs3 {
        call.header("x-acs-signature-nonce", &nonce)
    } else {
        call.set("SignatureNonce", &nonce)
    };
    to_http(&call.now().build())
}

/// An AWS report with this body, signed now.
fn aws_report(dialect: AwsDialect, body: &str) -> Vec<u8> {
    to_http(&AwsCall::new(dialect).body(body).now().build())
}

/// A gateway with the default store (embedded, in its own directory) in front of `upstream`.
fn embedded(upstream: &Upstream, before: &str) -> Served {
    Served::start_with(
        &format!("{before}[store]\nkind = \"embedded\"\n"),
        &format!("upstream = {:?}\n", upstream.url()),
        None,
    )
}

fn status_code(answer: &taskgate_tests::Answer) -> (u16, String) {
    (answer.status, answer.code())
}

#[test]
fn a_replayed_alibaba_request_is_signature_nonce_used_and_never_forwarded() {
    let upstream = Upstream::start(Behaviour::Answer);
    let gw = embedded(&upstream, "");
    for (i, layout) in [Layout::QueryAndForm, Layout::Acs3].into_iter().enumerate() {
        let request = fnf_report(layout, 100 + i as u64);
        assert_eq!(send(gw.addr, &request).status, 200, "{layout:?}");
        let replay = send(gw.addr, &request);
        assert_eq!(
            status_code(&replay),
            (400, "SignatureNonceUsed".to_owned()),
            "{layout:?}"
        );
        let body: serde_json::Value = serde_json::from_slice(&replay.body).expect("json");
        assert_eq!(
            body["Message"],
            "The request signature nonce has been used."
        );
    }
    assert_eq!(upstream.requests().len(), 2);
}

#[test]
fn a_request_that_fails_its_signature_does_not_burn_its_nonce() {
    let upstream = Upstream::start(Behaviour::Answer);
    let gw = embedded(&upstream, "");
    let nonce = nonce();
    let call = Call::new(Layout::QueryAndForm)
        .set("TaskToken", &demo_token(200))
        .set("SignatureNonce", &nonce)
        .now();
    let forged = to_http(&call.clone().secret("not-the-secret").build());
    assert_eq!(status_code(&send(gw.addr, &forged)).1, "SignatureNotMatch");
    assert_eq!(send(gw.addr, &to_http(&call.build())).status, 200);
    assert_eq!(upstream.requests().len(), 1);
}

#[test]
fn a_duplicate_report_is_answered_at_the_edge_in_each_dialect_and_the_upstream_sees_one() {
    let upstream = Upstream::start(Behaviour::Answer);
    let gw = embedded(&upstream, &aws_key());
    // Alibaba: a second report (a new nonce, so not a replay) for a settled task.
    assert_eq!(
        send(gw.addr, &fnf_report(Layout::QueryAndForm, 300)).status,
        200
    );
    let again = send(gw.addr, &fnf_report(Layout::FormOnly, 300));
    assert_eq!(
        status_code(&again),
        (400, "TaskAlreadyCompleted".to_owned())
    );
    let body: serde_json::Value = serde_json::from_slice(&again.body).expect("json");
    // The token is named, clipped as every echoed value is.
    let token = demo_token(300);
    assert_eq!(
        body["Message"],
        format!("Task {}... has already completed.", &token[..64])
    );
    // AWS: each service's own answer for a closed task.
    for (dialect, code) in [
        (AwsDialect::States, "TaskTimedOut"),
        (AwsDialect::Swf, "UnknownResourceFault"),
        (AwsDialect::CodePipeline, "InvalidJobStateException"),
    ] {
        let body = dialect.valid_body();
        assert_eq!(send(gw.addr, &aws_report(dialect, body)).status, 200);
        let again = send(gw.addr, &aws_report(dialect, body));
        assert_eq!(status_code(&again), (400, code.to_owned()), "{dialect:?}");
        assert_eq!(
            again.header("content-type"),
            Some(dialect.content_type()),
            "{dialect:?}"
        );
    }
    assert_eq!(upstream.requests().len(), 4);
    let metrics = String::from_utf8(get(gw.admin, "/metrics").body).expect("utf8");
    assert!(
        metrics.contains("code=\"TaskAlreadyCompleted\",status=\"400\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("taskgate_store_seconds_count"),
        "{metrics}"
    );
}

/// An AWS call to `target` with this body, signed now.
fn aws_call(dialect: AwsDialect, target: &str, body: &str) -> Vec<u8> {
    to_http(
        &AwsCall::new(dialect)
            .target(target)
            .body(body)
            .now()
            .build(),
    )
}

#[test]
fn a_success_settles_its_task_and_a_heartbeat_after_it_is_answered_at_the_edge() {
    let upstream = Upstream::start(Behaviour::Answer);
    let gw = embedded(&upstream, &aws_key());
    let job = r#"{"jobId": "22222222-2222-4333-8444-555555555555", "nonce": "3"}"#;
    let done = r#"{"jobId": "22222222-2222-4333-8444-555555555555"}"#;
    // Per service: heartbeat (settles nothing, so twice), success, then heartbeat and failure
    // are both answered with the service's closed-task error.
    for (dialect, heartbeat, success, code) in [
        (
            AwsDialect::States,
            (
                "AWSStepFunctions.SendTaskHeartbeat",
                r#"{"taskToken": "tok-9"}"#,
            ),
            (
                "AWSStepFunctions.SendTaskSuccess",
                r#"{"taskToken": "tok-9", "output": "{}"}"#,
            ),
            "TaskTimedOut",
        ),
        (
            AwsDialect::Swf,
            (
                "SimpleWorkflowService.RecordActivityTaskHeartbeat",
                r#"{"taskToken": "swf-9"}"#,
            ),
            (
                "SimpleWorkflowService.RespondActivityTaskCanceled",
                r#"{"taskToken": "swf-9"}"#,
            ),
            "UnknownResourceFault",
        ),
        (
            AwsDialect::CodePipeline,
            ("CodePipeline_20150709.AcknowledgeJob", job),
            ("CodePipeline_20150709.PutJobSuccessResult", done),
            "InvalidJobStateException",
        ),
    ] {
        let beat = || aws_call(dialect, heartbeat.0, heartbeat.1);
        assert_eq!(send(gw.addr, &beat()).status, 200, "{dialect:?}");
        assert_eq!(send(gw.addr, &beat()).status, 200, "{dialect:?}");
        assert_eq!(
            send(gw.addr, &aws_call(dialect, success.0, success.1)).status,
            200,
            "{dialect:?}"
        );
        let late = send(gw.addr, &beat());
        assert_eq!(status_code(&late), (400, code.to_owned()), "{dialect:?}");
        let again = send(gw.addr, &aws_call(dialect, success.0, success.1));
        assert_eq!(status_code(&again), (400, code.to_owned()), "{dialect:?}");
    }
    // Alibaba: a success settles the task for a failure report of the same token.
    let succeeded = Call::new(Layout::QueryAndForm)
        .succeeded("{}")
        .set("TaskToken", &demo_token(500))
        .set("SignatureNonce", &nonce())
        .now();
    assert_eq!(send(gw.addr, &to_http(&succeeded.build())).status, 200);
    let failed = send(gw.addr, &fnf_report(Layout::FormOnly, 500));
    assert_eq!(
        status_code(&failed),
        (400, "TaskAlreadyCompleted".to_owned())
    );
    // Three services × (two heartbeats and a success), and the Alibaba success.
    assert_eq!(upstream.requests().len(), 10);
}

#[test]
fn a_report_the_upstream_refused_settles_nothing_but_its_already_completed_answer_does() {
    let refusing = Upstream::start(Behaviour::Status(
        500,
        r#"{"Code":"InternalServerError","Message":"try again"}"#,
    ));
    let gw = embedded(&refusing, "");
    for _ in 0..2 {
        assert_eq!(
            send(gw.addr, &fnf_report(Layout::QueryAndForm, 400)).status,
            500
        );
    }
    assert_eq!(refusing.requests().len(), 2, "a 5xx settles nothing");
    drop(gw);

    let completed = Upstream::start(Behaviour::Status(
        400,
        r#"{"RequestId":"U","Code":"TaskAlreadyCompleted","Message":"Task t has already completed."}"#,
    ));
    let gw = embedded(&completed, "");
    let first = send(gw.addr, &fnf_report(Layout::QueryAndForm, 401));
    assert_eq!(
        status_code(&first),
        (400, "TaskAlreadyCompleted".to_owned())
    );
    let second = send(gw.addr, &fnf_report(Layout::QueryAndForm, 401));
    assert_eq!(
        status_code(&second),
        (400, "TaskAlreadyCompleted".to_owned())
    );
    assert_eq!(
        completed.requests().len(),
        1,
        "the upstream's own answer settled the task"
    );
}

#[test]
fn the_embedded_ledger_and_claimed_nonces_survive_a_restart() {
    let upstream = Upstream::start(Behaviour::Answer);
    let gw = embedded(&upstream, "");
    let request = fnf_report(Layout::QueryAndForm, 500);
    assert_eq!(send(gw.addr, &request).status, 200);
    let gw = gw.restart();
    assert_eq!(
        status_code(&send(gw.addr, &request)).1,
        "SignatureNonceUsed"
    );
    assert_eq!(
        status_code(&send(gw.addr, &fnf_report(Layout::QueryAndForm, 500))).1,
        "TaskAlreadyCompleted"
    );
    assert_eq!(upstream.requests().len(), 1);
}

#[test]
fn concurrent_duplicates_wait_for_the_first_outcome_and_only_one_is_forwarded() {
    let upstream = Upstream::start(Behaviour::Hang(Duration::from_millis(300)));
    let gw = embedded(&upstream, "");
    let addr = gw.addr;
    let answers: Vec<(u16, String)> = (0..10)
        .map(|_| {
            let request = fnf_report(Layout::QueryAndForm, 600);
            thread::spawn(move || status_code(&send(addr, &request)))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    exactly_one_forwarded(&upstream, &answers, "TaskAlreadyCompleted");
}

/// Of concurrent reports for one task, the upstream saw one, one caller got its 200, and every
/// other got the service's answer for a closed task.
fn exactly_one_forwarded(upstream: &Upstream, answers: &[(u16, String)], closed: &str) {
    assert_eq!(upstream.requests().len(), 1, "{answers:?}");
    let forwarded = answers.iter().filter(|a| a.0 == 200).count();
    assert_eq!(forwarded, 1, "{answers:?}");
    let others_closed = answers.iter().filter(|a| a.0 != 200).all(|a| a.1 == closed);
    assert!(others_closed, "{answers:?}");
}

#[test]
fn a_duplicate_that_waits_longer_than_wait_ms_is_task_invalid_state() {
    let upstream = Upstream::start(Behaviour::Hang(Duration::from_millis(1500)));
    let gw = embedded(&upstream, "[ledger]\nwait_ms = 100\n");
    let addr = gw.addr;
    let first = thread::spawn(move || send(addr, &fnf_report(Layout::QueryAndForm, 700)).status);
    crate::wait_until("the first report to be with the upstream", || {
        upstream.requests().len() == 1
    });
    let second = send(gw.addr, &fnf_report(Layout::QueryAndForm, 700));
    assert_eq!(status_code(&second), (409, "TaskInvalidState".to_owned()));
    assert_eq!(first.join().expect("thread"), 200);
    assert_eq!(upstream.requests().len(), 1);
}

#[test]
fn an_access_key_over_its_rate_is_throttled_in_its_dialect() {
    let upstream = Upstream::start(Behaviour::Answer);
    // The Alibaba key may send 2 at once, then one a minute; the AWS key has its own rate.
    let before = format!(
        "[throttle]\nrate_per_second = 0.0167\nburst = 2\n{}rate_per_second = 0.0167\nburst = 1\n",
        aws_key()
    );
    let gw = embedded(&upstream, &before);
    let answers: Vec<(u16, String)> = (0..3)
        .map(|i| status_code(&send(gw.addr, &fnf_report(Layout::QueryAndForm, 800 + i))))
        .collect();
    assert_eq!(
        answers[..2],
        [(200, String::new()), (200, String::new())],
        "{answers:?}"
    );
    assert_eq!(answers[2], (429, "ResourceThrottled".to_owned()));
    let body = |t: &str| format!(r#"{{"taskToken": "{t}"}}"#);
    let first = send(gw.addr, &aws_report(AwsDialect::States, &body("rate-1")));
    assert_eq!(first.status, 200);
    let second = send(gw.addr, &aws_report(AwsDialect::States, &body("rate-2")));
    assert_eq!(
        status_code(&second),
        (400, "ThrottlingException".to_owned())
    );
    assert_eq!(upstream.requests().len(), 3);
}

/// A `redis-server` of its own on a free loopback port, stopped on drop.
struct Redis {
    child: Option<Child>,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut redis = Redis { child: None, port };
        redis.resume();
        redis
    }

    /// Starts (again) on the same port, with nothing persisted.
    fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis-server package; tests/run.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Two nodes sharing `redis`, in front of `upstream`.
fn fleet(redis: &Redis, upstream: &Upstream, extra: &str) -> (Served, Served) {
    let before = format!(
        "{}{extra}[store]\nkind = \"redis\"\nurl = {:?}\n",
        aws_key(),
        redis.url()
    );
    let serve = format!("upstream = {:?}\n", upstream.url());
    (
        Served::start_with(&before, &serve, None),
        Served::start_with(&before, &serve, None),
    )
}

#[test]
fn two_nodes_sharing_redis_answer_replays_and_duplicates_as_one() {
    let redis = Redis::start();
    let upstream = Upstream::start(Behaviour::Answer);
    let (a, b) = fleet(&redis, &upstream, "");
    // A replay to B of what A accepted.
    let request = fnf_report(Layout::Acs3, 900);
    assert_eq!(send(a.addr, &request).status, 200);
    assert_eq!(status_code(&send(b.addr, &request)).1, "SignatureNonceUsed");
    // A duplicate report to B of a task A forwarded, in each dialect.
    assert_eq!(
        status_code(&send(b.addr, &fnf_report(Layout::QueryAndForm, 900))).1,
        "TaskAlreadyCompleted"
    );
    for (dialect, code) in [
        (AwsDialect::States, "TaskTimedOut"),
        (AwsDialect::Swf, "UnknownResourceFault"),
        (AwsDialect::CodePipeline, "InvalidJobStateException"),
    ] {
        let body = dialect.valid_body();
        assert_eq!(send(a.addr, &aws_report(dialect, body)).status, 200);
        let again = send(b.addr, &aws_report(dialect, body));
        assert_eq!(status_code(&again), (400, code.to_owned()), "{dialect:?}");
    }
    assert_eq!(upstream.requests().len(), 4);
}

#[test]
fn fifty_concurrent_duplicates_across_two_nodes_are_forwarded_once() {
    let redis = Redis::start();
    let upstream = Upstream::start(Behaviour::Hang(Duration::from_millis(200)));
    let (a, b) = fleet(&redis, &upstream, "");
    let token = format!("concurrent-{}", nonce());
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let addr = if i % 2 == 0 { a.addr } else { b.addr };
            let request = aws_report(
                AwsDialect::States,
                &format!(r#"{{"taskToken": "{token}"}}"#),
            );
            thread::spawn(move || status_code(&send(addr, &request)))
        })
        .collect();
    let answers: Vec<(u16, String)> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    exactly_one_forwarded(&upstream, &answers, "TaskTimedOut");
}

#[test]
fn a_rate_is_shared_by_every_node() {
    let redis = Redis::start();
    let upstream = Upstream::start(Behaviour::Answer);
    let (a, b) = fleet(
        &redis,
        &upstream,
        "[throttle]\nrate_per_second = 0.0167\nburst = 3\n",
    );
    let answers: Vec<u16> = (0..5)
        .map(|i| {
            let node = if i % 2 == 0 { &a } else { &b };
            send(node.addr, &fnf_report(Layout::QueryAndForm, 1000 + i)).status
        })
        .collect();
    assert_eq!(answers, [200, 200, 200, 429, 429]);
    // The AWS key has its own bucket, spent across the three AWS dialects and both nodes; each
    // dialect is refused in its own format.
    let dialects = AwsDialect::ALL.iter().chain(&AwsDialect::ALL);
    let answers: Vec<(u16, String, Option<String>)> = dialects
        .enumerate()
        .map(|(i, dialect)| {
            let node = if i % 2 == 0 { &a } else { &b };
            let request = to_http(&AwsCall::new(*dialect).fresh(1100 + i as u64).now().build());
            let answer = send(node.addr, &request);
            let content_type = answer.header("content-type").map(str::to_owned);
            (answer.status, answer.code(), content_type)
        })
        .collect();
    let limited = |dialect: AwsDialect| {
        (
            400,
            "ThrottlingException".to_owned(),
            Some(dialect.content_type().to_owned()),
        )
    };
    assert_eq!(
        answers[..3].iter().map(|a| a.0).collect::<Vec<_>>(),
        [200; 3]
    );
    assert_eq!(
        answers[3..],
        [
            limited(AwsDialect::States),
            limited(AwsDialect::Swf),
            limited(AwsDialect::CodePipeline)
        ]
    );
}

#[test]
fn in_sink_mode_a_recorded_report_settles_its_task() {
    let gw = Served::start_with("[store]\nkind = \"embedded\"\n", "", None);
    assert_eq!(send(gw.addr, &fnf_report(Layout::Json, 1200)).status, 200);
    let again = send(gw.addr, &fnf_report(Layout::Json, 1200));
    assert_eq!(status_code(&again).1, "TaskAlreadyCompleted");
    assert_eq!(gw.sink_lines().len(), 1);
}

#[test]
fn with_redis_down_requests_go_on_or_are_refused_per_unavailable_and_none_hangs() {
    let mut redis = Redis::start();
    let upstream = Upstream::start(Behaviour::Answer);
    let (forward, _) = fleet(&redis, &upstream, "");
    let refuse = Served::start_with(
        &format!(
            "[store]\nkind = \"redis\"\nurl = {:?}\nunavailable = \"refuse\"\ntimeout_ms = 200\n",
            redis.url()
        ),
        &format!("upstream = {:?}\n", upstream.url()),
        None,
    );
    assert_eq!(
        send(forward.addr, &fnf_report(Layout::QueryAndForm, 1100)).status,
        200
    );
    assert_eq!(get(refuse.admin, "/readyz").status, 200);
    redis.stop();
    // Readiness follows the store only where requests need it (`unavailable = "refuse"`).
    let unready = get(refuse.admin, "/readyz");
    assert_eq!(unready.status, 503);
    let reason: serde_json::Value = serde_json::from_slice(&unready.body).expect("JSON");
    assert!(
        reason["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("store unreachable")),
        "{reason}"
    );
    assert_eq!(get(forward.admin, "/readyz").status, 200);
    let started = Instant::now();
    let went_on = send(forward.addr, &fnf_report(Layout::QueryAndForm, 1101));
    let refused = send(refuse.addr, &fnf_report(Layout::QueryAndForm, 1102));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a dead store must not hold requests: {:?}",
        started.elapsed()
    );
    assert_eq!(went_on.status, 200);
    assert_eq!(
        status_code(&refused),
        (500, "InternalServerError".to_owned())
    );
    let metrics = String::from_utf8(get(forward.admin, "/metrics").body).expect("utf8");
    assert!(
        metrics.contains("taskgate_store_unavailable_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("taskgate_store_errors_total{op="),
        "{metrics}"
    );
    // Back: the memory works again (a replay of the first report is caught once more).
    redis.resume();
    let request = fnf_report(Layout::QueryAndForm, 1103);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = send(refuse.addr, &request);
        if answer.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "redis never came back: {}",
            answer.status
        );
        thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(get(refuse.admin, "/readyz").status, 200);
    // The other node reconnects on its own; until then it forwards (`unavailable = "forward"`).
    loop {
        let answer = send(forward.addr, &request);
        if answer.code() == "SignatureNonceUsed" {
            break;
        }
        assert_eq!(answer.status, 200);
        assert!(
            Instant::now() < deadline,
            "the forward node never reconnected"
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// Corpus cases (`[memory]`): the edge's answer to each state of the store, in every dialect,
/// pinned for `taskgate test` and both bindings.
pub fn corpus() -> Vec<crate::corpus::Entry> {
    use taskgate::cases::StoreState;
    let claimed = StoreState {
        nonce_claimed: true,
        ..StoreState::default()
    };
    let settled = StoreState {
        settled: true,
        ..StoreState::default()
    };
    let busy = StoreState {
        busy: true,
        ..StoreState::default()
    };
    let limited = StoreState {
        rate_limited: Some(42),
        ..StoreState::default()
    };
    let entry = |name: &str, request: taskgate_filter::Request, overrides: &str, memory| {
        crate::corpus::Entry {
            name: name.to_owned(),
            request,
            overrides: overrides.to_owned(),
            memory: Some(memory),
        }
    };
    let mut entries = vec![
        entry(
            "replay_rpc_is_signature_nonce_used",
            Call::new(Layout::QueryAndForm).build(),
            "",
            claimed,
        ),
        entry(
            "replay_acs3_is_signature_nonce_used",
            Call::new(Layout::Acs3).build(),
            "",
            claimed,
        ),
        entry(
            "settled_task_is_task_already_completed",
            Call::new(Layout::Json).build(),
            "",
            settled,
        ),
        entry(
            "busy_task_is_task_invalid_state",
            Call::new(Layout::FormOnly).build(),
            "",
            busy,
        ),
        entry(
            "over_its_rate_is_resource_throttled",
            Call::new(Layout::QueryAndForm).build(),
            "",
            limited,
        ),
        // The nonce comes first: a replay of a settled task is a replay.
        entry(
            "replay_of_a_settled_task_is_signature_nonce_used",
            Call::new(Layout::QueryAndForm).build(),
            "",
            StoreState {
                nonce_claimed: true,
                settled: true,
                ..StoreState::default()
            },
        ),
        // Memory never turns a refusal into another one.
        entry(
            "a_bad_signature_is_refused_whatever_the_memory",
            Call::new(Layout::QueryAndForm).secret("wrong").build(),
            "",
            StoreState {
                nonce_claimed: true,
                settled: true,
                rate_limited: Some(1),
                busy: true,
            },
        ),
    ];
    // Heartbeats consult the ledger: a settled task is answered, a busy one is not waited on.
    for (dialect, target, body) in [
        (
            AwsDialect::States,
            "AWSStepFunctions.SendTaskHeartbeat",
            r#"{"taskToken": "tok-123"}"#,
        ),
        (
            AwsDialect::Swf,
            "SimpleWorkflowService.RecordActivityTaskHeartbeat",
            r#"{"taskToken": "t", "details": "40%"}"#,
        ),
        (
            AwsDialect::CodePipeline,
            "CodePipeline_20150709.AcknowledgeJob",
            r#"{"jobId": "11111111-2222-4333-8444-555555555555", "nonce": "3"}"#,
        ),
    ] {
        let name = dialect.dialect().name();
        let request = || AwsCall::new(dialect).target(target).body(body).build();
        entries.push(entry(
            &format!("{name}_heartbeat_for_a_settled_task_is_the_services_closed_task_error"),
            request(),
            "",
            settled,
        ));
        entries.push(entry(
            &format!("{name}_heartbeat_for_a_busy_task_is_forwarded"),
            request(),
            "",
            busy,
        ));
    }
    entries.push(entry(
        "succeeded_for_a_settled_task_is_task_already_completed",
        Call::new(Layout::Json).succeeded("{}").build(),
        "",
        settled,
    ));
    for dialect in AwsDialect::ALL {
        let name = dialect.dialect().name();
        let request = || AwsCall::new(dialect).build();
        entries.push(entry(
            &format!("{name}_settled_task_is_the_services_closed_task_error"),
            request(),
            "",
            settled,
        ));
        entries.push(entry(
            &format!("{name}_busy_task_is_throttling"),
            request(),
            "",
            busy,
        ));
        entries.push(entry(
            &format!("{name}_over_its_rate_is_throttling"),
            request(),
            "",
            limited,
        ));
        // AWS requests carry no nonce: a claimed one changes nothing.
        entries.push(entry(
            &format!("{name}_has_no_nonce_to_replay"),
            request(),
            "",
            claimed,
        ));
    }
    entries
}

/// The memory's scenario every memory is held to (`taskgate_filter::memory::SCENARIO`), on a
/// real `redis-server`: the Lua transcription of the memory's order answers as the embedded
/// store and the plugin's shared data do.
#[test]
fn redis_answers_the_memorys_scenario() {
    use taskgate::store::{Store, StoreKind};
    use taskgate_filter::memory::{SCENARIO, Step};
    let redis = Redis::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let kind = StoreKind::Redis { url: redis.url() };
        let store = Store::open(&kind, Duration::from_secs(5))
            .expect("a store")
            .expect("a Redis store");
        for (i, step) in SCENARIO.iter().enumerate() {
            match *step {
                Step::Admit { expect, .. } => {
                    let admission = step.admission().expect("an admission");
                    let got = store.admit(&admission).await.expect("Redis answers");
                    assert_eq!(got, expect, "step {i}: {step:?}");
                }
                Step::Settle { task, owner } => {
                    let retention = Duration::from_secs(3600);
                    store.settle(task, owner, retention).await.expect("settle");
                }
                Step::Release { task, owner } => {
                    store.release(task, owner).await.expect("release");
                }
            }
        }
    });
}
