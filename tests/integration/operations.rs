//! What an operator switches on and points at the gateway: shadow mode (per route, switched by
//! a reload; check and memory answers forwarded, logged and counted; the gateway's own limits
//! still enforced), `/healthz` and `/readyz` for a load balancer (ready once listening, 503
//! from the moment SIGTERM arrives while it still accepts for `drain_delay_ms`), and W3C trace
//! context through it (a client's forwarded byte for byte, one started on request with
//! `trace = "start"`, never one on an edge answer).

use crate::wait_until;
use std::process::Command;
use taskgate_tests::gateway::{Behaviour, Served, Upstream, get, send};
use taskgate_tests::{Call, Layout, to_http};

/// The body of a `/readyz` answer, as JSON.
fn readyz(gateway: &Served) -> (u16, serde_json::Value) {
    let answer = get(gateway.admin, "/readyz");
    let body = serde_json::from_slice(&answer.body).expect("readyz answers JSON");
    assert_eq!(answer.header("content-type"), Some("application/json"));
    (answer.status, body)
}

/// The forwarded request's header `name`, from the upstream's last recorded request.
fn forwarded_header(upstream: &Upstream, name: &str) -> Option<String> {
    let seen = upstream.requests();
    let last = String::from_utf8_lossy(seen.last().expect("a forwarded request")).into_owned();
    let (head, _) = last.split_once("\r\n\r\n").expect("a head");
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// The log line of the request that carried `client_request_id`, as JSON.
fn log_line(gateway: &Served, client_request_id: &str) -> serde_json::Value {
    let needle = format!("\"client_request_id\":\"{client_request_id}\"");
    let log = gateway.log_with(&needle);
    let line = log
        .lines()
        .find(|line| line.contains(&needle))
        .unwrap_or_else(|| panic!("no log line for {client_request_id}: {log}"));
    serde_json::from_str(line).expect("a JSON log line")
}

#[test]
fn readiness_turns_503_on_sigterm_while_the_listener_drains_then_the_process_exits_0() {
    let upstream = Upstream::start(Behaviour::Answer);
    let gateway = Served::start(
        &format!("upstream = {:?}\ndrain_delay_ms = 3000\n", upstream.url()),
        None,
    );
    assert_eq!(get(gateway.admin, "/healthz").status, 200);
    let (status, body) = readyz(&gateway);
    assert_eq!((status, body), (200, serde_json::json!({"ready": true})));

    let pid = gateway.pid().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    wait_until("/readyz to answer 503", || readyz(&gateway).0 == 503);
    let (_, body) = readyz(&gateway);
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("draining")),
        "{body}"
    );
    // Still accepting while the load balancer notices: a callback is forwarded as before.
    let answer = send(
        gateway.addr,
        &to_http(&Call::new(Layout::QueryAndForm).now().build()),
    );
    assert_eq!(answer.status, 200);
    assert_eq!(upstream.requests().len(), 1);
    assert_eq!(get(gateway.admin, "/healthz").status, 200);
    let status = gateway.stop();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_clients_trace_context_reaches_the_upstream_unchanged_and_its_trace_id_is_logged() {
    let upstream = Upstream::start(Behaviour::Answer);
    let gateway = Served::start(&format!("upstream = {:?}\n", upstream.url()), None);
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let tracestate = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
    let request = Call::new(Layout::QueryAndForm)
        .now()
        .header("traceparent", traceparent)
        .header("tracestate", tracestate)
        .header("x-request-id", "traced-1")
        .build();
    assert_eq!(send(gateway.addr, &to_http(&request)).status, 200);
    assert_eq!(
        forwarded_header(&upstream, "traceparent").as_deref(),
        Some(traceparent)
    );
    assert_eq!(
        forwarded_header(&upstream, "tracestate").as_deref(),
        Some(tracestate)
    );
    let line = log_line(&gateway, "traced-1");
    assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");

    // Without `trace = "start"` none is invented.
    let plain = Call::new(Layout::QueryAndForm)
        .now()
        .header("x-request-id", "untraced-1")
        .build();
    assert_eq!(send(gateway.addr, &to_http(&plain)).status, 200);
    assert_eq!(forwarded_header(&upstream, "traceparent"), None);
    assert_eq!(
        log_line(&gateway, "untraced-1")["trace_id"],
        serde_json::Value::Null
    );
}

#[test]
fn trace_start_gives_an_untraced_request_a_valid_traceparent_upstream_but_none_on_edge_answers() {
    let upstream = Upstream::start(Behaviour::Answer);
    let gateway = Served::start(
        &format!("upstream = {:?}\ntrace = \"start\"\n", upstream.url()),
        None,
    );
    let request = Call::new(Layout::Acs3)
        .now()
        .header("x-request-id", "started-1")
        .build();
    assert_eq!(send(gateway.addr, &to_http(&request)).status, 200);
    let started = forwarded_header(&upstream, "traceparent").expect("a traceparent upstream");
    let parts: Vec<&str> = started.split('-').collect();
    assert_eq!(parts.len(), 4, "{started}");
    assert_eq!((parts[0], parts[3]), ("00", "01"));
    assert!(parts[1].len() == 32 && parts[2].len() == 16, "{started}");
    assert!(
        parts[1..3].iter().all(|id| id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            && id.bytes().any(|b| b != b'0')),
        "{started}"
    );
    assert_eq!(log_line(&gateway, "started-1")["trace_id"], parts[1]);

    // A client's own context still goes on unchanged.
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
    let traced = Call::new(Layout::Acs3)
        .now()
        .header("traceparent", traceparent)
        .build();
    assert_eq!(send(gateway.addr, &to_http(&traced)).status, 200);
    assert_eq!(
        forwarded_header(&upstream, "traceparent").as_deref(),
        Some(traceparent)
    );

    // An edge answer (a signature that does not verify) carries no trace header.
    let forwarded = upstream.requests().len();
    let bad = Call::new(Layout::Acs3)
        .now()
        .secret("not-the-secret")
        .header("x-request-id", "rejected-1")
        .build();
    let answer = send(gateway.addr, &to_http(&bad));
    assert_eq!(
        (answer.status, answer.code()),
        (403, "SignatureNotMatch".to_owned())
    );
    assert!(
        answer
            .headers
            .iter()
            .all(|(name, _)| !name.starts_with("trace")),
        "{:?}",
        answer.headers
    );
    assert_eq!(upstream.requests().len(), forwarded);
}

/// A report signed with the wrong secret for `host`: enforce mode answers it 403
/// `SignatureNotMatch`.
fn bad_report(host: &str, client_request_id: &str) -> Vec<u8> {
    let request = Call::new(Layout::QueryAndForm)
        .now()
        .secret("not-the-secret")
        .header("Host", host)
        .header("x-request-id", client_request_id)
        .build();
    to_http(&request)
}

#[test]
fn shadow_mode_forwards_what_enforce_answers_per_route_and_a_reload_switches_it() {
    let upstream = Upstream::start(Behaviour::Answer);
    let routes = |shadowed: &str| {
        format!(
            "[[serve.routes]]\nhost = \"shadowed.example\"\nupstream = {url:?}\nmode = {shadowed:?}\n[[serve.routes]]\nhost = \"enforced.example\"\nupstream = {url:?}\n",
            url = upstream.url()
        )
    };
    let gateway = Served::start(&routes("shadow"), None);

    // The enforcing route answers; the shadowed one forwards, logs and counts the same code.
    let enforced = send(gateway.addr, &bad_report("enforced.example", "enforced-1"));
    assert_eq!(
        (enforced.status, enforced.code()),
        (403, "SignatureNotMatch".to_owned())
    );
    assert!(upstream.requests().is_empty());
    let shadowed = send(gateway.addr, &bad_report("shadowed.example", "shadowed-1"));
    assert_eq!(
        shadowed.status,
        200,
        "{}",
        String::from_utf8_lossy(&shadowed.body)
    );
    assert_eq!(upstream.requests().len(), 1);
    let line = log_line(&gateway, "shadowed-1");
    assert_eq!(line["code"], "forwarded");
    assert_eq!(line["shadow_code"], "SignatureNotMatch");
    assert_eq!(line["shadow_status"], 403);
    assert_eq!(
        log_line(&gateway, "enforced-1")["shadow_code"],
        serde_json::Value::Null
    );
    let metrics = String::from_utf8(get(gateway.admin, "/metrics").body).expect("UTF-8");
    assert!(
        metrics.contains("taskgate_shadow_total{dialect=\"fnf\",code=\"SignatureNotMatch\"} 1"),
        "{metrics}"
    );

    // What protects the gateway is enforced in shadow mode too: a body over its limit.
    let huge = Call::new(Layout::QueryAndForm)
        .now()
        .header("Host", "shadowed.example")
        .body(&[b'x'; 70_000])
        .build();
    let refused = send(gateway.addr, &to_http(&huge));
    assert_eq!(
        (refused.status, refused.code()),
        (400, "EntityTooLarge".to_owned())
    );
    assert_eq!(upstream.requests().len(), 1);

    // A reload turns the route to enforce.
    let config = gateway.dir.join("taskgate.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace("mode = \"shadow\"", "mode = \"enforce\""),
    )
    .expect("write");
    gateway.hangup();
    gateway.log_with("configuration reloaded");
    let after = send(gateway.addr, &bad_report("shadowed.example", "shadowed-2"));
    assert_eq!(
        (after.status, after.code()),
        (403, "SignatureNotMatch".to_owned())
    );
    assert_eq!(upstream.requests().len(), 1);
}

#[test]
fn shadow_mode_forwards_a_replay_the_memory_would_answer_and_logs_its_code() {
    let upstream = Upstream::start(Behaviour::Answer);
    let gateway = Served::start_with(
        "[store]\nkind = \"embedded\"\npath = \"state.redb\"\n",
        &format!("upstream = {:?}\nmode = \"shadow\"\n", upstream.url()),
        None,
    );
    let request = to_http(
        &Call::new(Layout::QueryAndForm)
            .now()
            .header("x-request-id", "replayed")
            .build(),
    );
    assert_eq!(send(gateway.addr, &request).status, 200);
    // The same bytes again: a replay enforce mode answers SignatureNonceUsed.
    assert_eq!(send(gateway.addr, &request).status, 200);
    assert_eq!(upstream.requests().len(), 2);
    let log = gateway.log_with("SignatureNonceUsed");
    let shadowed: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| !line["shadow_code"].is_null())
        .collect();
    assert_eq!(shadowed.len(), 1, "{log}");
    assert_eq!(shadowed[0]["shadow_code"], "SignatureNonceUsed");
    assert_eq!(shadowed[0]["shadow_status"], 400);
}
