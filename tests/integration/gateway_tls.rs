//! `taskgate serve` in front of HTTPS services, end to end on the real binary: TLS to the
//! upstream (a CA and certificates made at test time; an HTTPS upstream on loopback with a
//! certificate for the vendors' host names, recording what it reads), routing by host,
//! forward-proxy mode, TLS on the listener chosen by SNI, and SIGHUP reload.

use crate::serve::{Answer, Served, get, send, unique_dir};
use bytes::Bytes;
use http_body_util::Full;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;
use taskgate_filter::Request;
use taskgate_tests::tls::{
    HttpsRecorder, Recorded, TestCa, TlsSession, h2_round_trip, https_round_trip,
};
use taskgate_tests::{AWS_SECRET, AwsCall, AwsDialect, Call, Layout, to_http};

/// The demo AWS key, which the gateway tests' base configuration does not hold.
fn aws_key(secret: &str) -> String {
    format!(
        "[[access_keys]]\nid = \"AKIDEXAMPLE\"\nsecret = {secret:?}\naccount = \"123456789012\"\n"
    )
}

/// Every host name the tests address, as a real service's certificate would carry them.
const VENDOR_NAMES: [&str; 4] = [
    "states.us-east-1.amazonaws.com",
    "swf.us-east-1.amazonaws.com",
    "codepipeline.us-east-1.amazonaws.com",
    "1234567890123456.cn-hangzhou.fnf.aliyuncs.com",
];

/// A test CA written to a fresh directory as `ca.pem`.
fn ca_in(dir: &Path) -> TestCa {
    let ca = TestCa::new("taskgate test CA");
    ca.write(dir, &[]);
    ca
}

/// A `[[serve.routes]]` entry, inside `[serve]`.
fn route(host: &str, upstream: &str, connect_to: SocketAddr, ca_file: &Path) -> String {
    format!(
        "[[serve.routes]]\nhost = {host:?}\nupstream = {upstream:?}\nconnect_to = \"{connect_to}\"\nca_file = {:?}\n",
        ca_file.display().to_string()
    )
}

/// A gateway with one route, `pattern` to `https://{host}`, dialling an HTTPS upstream whose
/// certificate (for the vendors' names) comes from a CA made now.
fn routed(tag: &str, pattern: &str) -> (HttpsRecorder, Served) {
    let dir = unique_dir(tag);
    let ca = ca_in(&dir);
    let upstream = HttpsRecorder::start(&ca.leaf(&VENDOR_NAMES), 200, "{}", Duration::ZERO);
    let gw = Served::start_with(
        &aws_key(AWS_SECRET),
        &route(
            pattern,
            "https://{host}",
            upstream.addr,
            &dir.join("ca.pem"),
        ),
        None,
    );
    (upstream, gw)
}

/// A raw request with its target in absolute form, as an SDK sends it through an HTTP proxy.
fn absolute_form(raw: &[u8], authority: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let (line, rest) = text.split_once("\r\n").expect("request line");
    let mut words = line.splitn(3, ' ');
    let (method, target, version) = (
        words.next().unwrap_or(""),
        words.next().unwrap_or(""),
        words.next().unwrap_or(""),
    );
    format!("{method} http://{authority}{target} {version}\r\n{rest}").into_bytes()
}

/// The upstream got the request as signed: method, target, Host, every other header and the
/// body unchanged, plus `X-Forwarded-For`.
fn assert_forwarded_unchanged(recorded: &Recorded, request: &Request) {
    assert_eq!(recorded.method, request.method);
    assert_eq!(recorded.path, request.path_with_query);
    assert_eq!(Some(recorded.host.as_str()), request.header("host"));
    assert_eq!(
        recorded.body, request.body,
        "the body is forwarded byte for byte"
    );
    for (name, value) in &request.headers {
        if !name.eq_ignore_ascii_case("host") {
            assert_eq!(
                recorded.header(name),
                Some(value.as_str()),
                "header {name} is forwarded unchanged"
            );
        }
    }
    assert_eq!(recorded.header("x-forwarded-for"), Some("127.0.0.1"));
}

fn metrics(gw: &Served) -> String {
    String::from_utf8(get(gw.admin, "/metrics").body).expect("utf8")
}

#[test]
fn an_https_upstream_receives_each_request_unchanged_over_h2_with_the_host_it_was_signed_for() {
    let dir = unique_dir("tls-upstream");
    let ca = ca_in(&dir);
    let upstream = HttpsRecorder::start(&ca.leaf(&VENDOR_NAMES), 200, "{}", Duration::ZERO);
    let ca_file = dir.join("ca.pem");
    // One worker: each worker keeps connection pools of its own, and this test counts them.
    let gw = Served::start_with(
        &aws_key(AWS_SECRET),
        &format!(
            "workers = 1\n{}{}",
            route("*.amazonaws.com", "https://{host}", upstream.addr, &ca_file),
            route(
                "*.fnf.aliyuncs.com",
                "https://{host}",
                upstream.addr,
                &ca_file
            )
        ),
        None,
    );
    let aws = AwsCall::new(AwsDialect::States).now().build();
    let fnf = Call::new(Layout::Acs3).now().build();
    for request in [&aws, &fnf, &aws] {
        let answer = send(gw.addr, &to_http(request));
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
    }
    let seen = upstream.requests();
    assert_eq!(seen.len(), 3, "{seen:?}");
    for (request, recorded) in [&aws, &fnf, &aws].into_iter().zip(&seen) {
        assert_eq!(recorded.version, "HTTP/2.0", "ALPN h2 to the upstream");
        assert_forwarded_unchanged(recorded, request);
    }
    // Pooled per host: the two requests for the Step Functions host share one connection.
    assert_eq!(upstream.connections(), 2);
}

#[test]
fn forward_proxy_mode_routes_absolute_form_requests_by_their_authority_and_refuses_connect() {
    let (upstream, gw) = routed("proxy-mode", "*.amazonaws.com");
    let request = AwsCall::new(AwsDialect::Swf).now().build();
    let host = AwsDialect::Swf.host();
    let answer = send(gw.addr, &absolute_form(&to_http(&request), &host));
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let seen = upstream.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/", "forwarded in origin form");
    assert_eq!(seen[0].host, host);
    assert_forwarded_unchanged(&seen[0], &request);

    // The authority decides the route: a host no route serves is refused, never forwarded,
    // even when the signed Host header names a routed one.
    let answer = send(gw.addr, &absolute_form(&to_http(&request), "example.com"));
    assert_eq!(answer.status, 400);
    assert_eq!(answer.code(), "ValidationException");
    assert!(
        String::from_utf8_lossy(&answer.body).contains("example.com"),
        "the message names the host"
    );
    assert_eq!(upstream.requests().len(), 1);

    let answer = send(
        gw.addr,
        format!("CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n").as_bytes(),
    );
    assert_eq!(answer.status, 405);
    assert!(
        String::from_utf8_lossy(&answer.body).contains("CONNECT is not supported"),
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(upstream.requests().len(), 1);
}

#[test]
fn a_host_no_route_serves_is_refused_at_the_edge_in_its_dialect() {
    let (upstream, gw) = routed("route-miss", "states.us-east-1.amazonaws.com");
    // An Alibaba callback: no route serves its host.
    let answer = send(
        gw.addr,
        &to_http(&Call::new(Layout::QueryAndForm).now().build()),
    );
    assert_eq!(answer.status, 400);
    assert_eq!(answer.code(), "InvalidArgument");
    assert!(
        String::from_utf8_lossy(&answer.body)
            .contains("1234567890123456.cn-hangzhou.fnf.aliyuncs.com")
    );
    // An exact route does not serve a sibling host.
    let swf = AwsCall::new(AwsDialect::Swf).now().build();
    let answer = send(gw.addr, &to_http(&swf));
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (400, "ValidationException")
    );
    assert!(upstream.requests().is_empty(), "nothing was forwarded");
    assert_eq!(upstream.connections(), 0);
    let log = gw.log_with("\"status\":400");
    assert!(log.contains("\"status\":400"), "{log}");
}

#[test]
fn an_upstream_certificate_for_another_name_or_from_an_unknown_ca_is_500_counted_as_tls_and_not_retried()
 {
    let dir = unique_dir("tls-bad-upstream");
    let ca = ca_in(&dir);
    let stranger = TestCa::new("a CA nobody trusts");
    let wrong_name = HttpsRecorder::start(&ca.leaf(&["other.example"]), 200, "{}", Duration::ZERO);
    let untrusted = HttpsRecorder::start(&stranger.leaf(&VENDOR_NAMES), 200, "{}", Duration::ZERO);
    for (upstream, kind) in [(&wrong_name, "wrong name"), (&untrusted, "untrusted CA")] {
        let gw = Served::start_with(
            &aws_key(AWS_SECRET),
            &route(
                "*.amazonaws.com",
                "https://{host}",
                upstream.addr,
                &dir.join("ca.pem"),
            ),
            None,
        );
        let answer = send(
            gw.addr,
            &to_http(&AwsCall::new(AwsDialect::States).now().build()),
        );
        assert_eq!(answer.status, 500, "{kind}");
        assert_eq!(answer.code(), "InternalFailure", "{kind}");
        assert!(upstream.requests().is_empty(), "{kind}: nothing was sent");
        let metrics = metrics(&gw);
        assert!(
            metrics.contains("taskgate_upstream_errors_total{kind=\"tls\"} 1"),
            "{kind}: {metrics}"
        );
        assert_eq!(upstream.connections(), 1, "{kind}: one handshake, no retry");
        // The next request still works the same way (nothing is stuck).
        let answer = send(
            gw.addr,
            &to_http(&AwsCall::new(AwsDialect::States).now().build()),
        );
        assert_eq!(answer.status, 500, "{kind}");
    }
}

/// A gateway with TLS on its listener: one chain for the AWS names, one for Alibaba's.
fn tls_listener(dir: &Path, ca: &TestCa, extra: &str) -> Served {
    let aws = ca.leaf(&VENDOR_NAMES[..3]);
    let fnf = ca.leaf(&["*.cn-hangzhou.fnf.aliyuncs.com"]);
    ca.write(dir, &[("aws", &aws), ("fnf", &fnf)]);
    let certificate = |stem: &str| {
        format!(
            "[[serve.tls.certificates]]\ncert_file = {:?}\nkey_file = {:?}\n",
            dir.join(format!("{stem}.pem")).display().to_string(),
            dir.join(format!("{stem}.key")).display().to_string()
        )
    };
    Served::start_with(
        &aws_key(AWS_SECRET),
        &format!("{extra}{}{}", certificate("aws"), certificate("fnf")),
        None,
    )
}

fn with_close(raw: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8_lossy(&raw).into_owned();
    text.replacen("\r\n", "\r\nConnection: close\r\n", 1)
        .into_bytes()
}

#[test]
fn the_tls_listener_serves_the_certificate_of_the_sni_name_over_http1_and_h2() {
    let dir = unique_dir("tls-listener");
    let ca = ca_in(&dir);
    let gw = tls_listener(&dir, &ca, "");
    let ca_pem = ca.pem();

    // The client verifies the certificate against the name it asked for: each handshake
    // succeeds only if the gateway chose the right chain.
    let aws = AwsCall::new(AwsDialect::States).now().build();
    let answer = https_round_trip(
        gw.addr,
        "states.us-east-1.amazonaws.com",
        &ca_pem,
        &with_close(to_http(&aws)),
    )
    .expect("TLS to the AWS name");
    assert_eq!(answer.alpn.as_deref(), Some(&b"http/1.1"[..]));
    let parsed = Answer::parse(&answer.raw);
    assert_eq!(
        parsed.status,
        200,
        "{}",
        String::from_utf8_lossy(&parsed.body)
    );

    let fnf = Call::new(Layout::QueryAndForm).now().build();
    let answer = https_round_trip(
        gw.addr,
        "1234567890123456.cn-hangzhou.fnf.aliyuncs.com",
        &ca_pem,
        &with_close(to_http(&fnf)),
    )
    .expect("TLS to the Alibaba name");
    assert_eq!(Answer::parse(&answer.raw).status, 200);

    // A rejected callback is answered over TLS in its dialect.
    let bad = Call::new(Layout::QueryAndForm)
        .now()
        .secret("wrong")
        .build();
    let answer = https_round_trip(
        gw.addr,
        "1234567890123456.cn-hangzhou.fnf.aliyuncs.com",
        &ca_pem,
        &with_close(to_http(&bad)),
    )
    .expect("TLS");
    let parsed = Answer::parse(&answer.raw);
    assert_eq!(
        (parsed.status, parsed.code().as_str()),
        (403, "SignatureNotMatch")
    );

    // HTTP/2 by ALPN.
    let mut request = hyper::Request::builder()
        .method("POST")
        .uri(format!("https://{}/", AwsDialect::States.host()));
    for (name, value) in &aws.headers {
        if !name.eq_ignore_ascii_case("host") {
            request = request.header(name, value);
        }
    }
    let request = request
        .body(Full::new(Bytes::from(aws.body.clone())))
        .expect("request");
    let (status, body) = h2_round_trip(gw.addr, "states.us-east-1.amazonaws.com", &ca_pem, request)
        .expect("h2 over TLS");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(gw.sink_lines().len(), 3);

    // A client that does not trust the gateway's CA fails its handshake; nothing is answered.
    let stranger = TestCa::new("another CA");
    assert!(
        https_round_trip(
            gw.addr,
            "states.us-east-1.amazonaws.com",
            &stranger.pem(),
            &with_close(to_http(&aws))
        )
        .is_err()
    );
}

/// Rewrites the gateway's configuration file.
fn rewrite(gw: &Served, before: &str, serve_extra: &str) {
    std::fs::write(
        gw.dir.join("taskgate.toml"),
        Served::config_text(&gw.dir, before, serve_extra),
    )
    .expect("rewrite");
}

fn wait_for(what: &str, gw: &Served, done: impl Fn(&str) -> bool) {
    for _ in 0..100 {
        if done(&metrics(gw)) {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: {}", gw.log());
}

#[test]
fn sighup_rotates_an_access_key_while_requests_are_in_flight_and_a_bad_file_changes_nothing() {
    let dir = unique_dir("reload");
    let ca = ca_in(&dir);
    let upstream = HttpsRecorder::start(
        &ca.leaf(&VENDOR_NAMES),
        200,
        "{}",
        Duration::from_millis(1500),
    );
    let routes = route(
        "*.amazonaws.com",
        "https://{host}",
        upstream.addr,
        &dir.join("ca.pem"),
    );
    let gw = Served::start_with(&aws_key("old-secret"), &routes, None);
    let signed = |secret: &str| {
        to_http(
            &AwsCall::new(AwsDialect::States)
                .secret(secret)
                .now()
                .build(),
        )
    };

    let addr = gw.addr;
    let old = signed("old-secret");
    let in_flight = thread::spawn(move || send(addr, &old));
    thread::sleep(Duration::from_millis(300));
    rewrite(&gw, &aws_key("new-secret"), &routes);
    gw.hangup();
    wait_for("the reload", &gw, |m| {
        m.contains("taskgate_reloads_total 1")
    });

    // The request in flight finishes under the configuration it started with.
    assert_eq!(in_flight.join().expect("in flight").status, 200);
    let answer = send(gw.addr, &signed("old-secret"));
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (400, "InvalidSignatureException")
    );
    assert_eq!(send(gw.addr, &signed("new-secret")).status, 200);
    assert_eq!(upstream.requests().len(), 2);

    // An invalid file changes nothing, and the log names the field.
    let broken = route(
        "not a host",
        "https://{host}",
        upstream.addr,
        &dir.join("ca.pem"),
    );
    rewrite(&gw, &aws_key("newest-secret"), &broken);
    gw.hangup();
    wait_for("the refused reload", &gw, |m| {
        m.contains("taskgate_reload_failures_total 1")
    });
    assert_eq!(send(gw.addr, &signed("new-secret")).status, 200);
    let log = gw.log();
    assert!(log.contains("serve.routes[0].host"), "{log}");
    // A missing CA file is refused too.
    let missing: PathBuf = dir.join("no-such-ca.pem");
    rewrite(
        &gw,
        &aws_key("newest-secret"),
        &route("*.amazonaws.com", "https://{host}", upstream.addr, &missing),
    );
    gw.hangup();
    wait_for("the second refused reload", &gw, |m| {
        m.contains("taskgate_reload_failures_total 2")
    });
    assert_eq!(send(gw.addr, &signed("new-secret")).status, 200);
    assert!(metrics(&gw).contains("taskgate_reloads_total 1"));
}

#[test]
fn sighup_rereads_the_listener_certificates_without_dropping_open_connections() {
    let dir = unique_dir("reload-certs");
    let ca = ca_in(&dir);
    let gw = tls_listener(&dir, &ca, "");
    let request = || to_http(&AwsCall::new(AwsDialect::States).now().build());
    let mut open = TlsSession::connect(gw.addr, "states.us-east-1.amazonaws.com", &ca.pem())
        .expect("the old chain before the reload");
    assert_eq!(
        Answer::parse(&open.round_trip(&request()).expect("answer")).status,
        200
    );

    // Replace the AWS chain with one from a new CA; the Alibaba one stays.
    let next = TestCa::new("the next CA");
    let aws = next.leaf(&VENDOR_NAMES[..3]);
    std::fs::write(dir.join("aws.pem"), &aws.cert_pem).expect("cert");
    std::fs::write(dir.join("aws.key"), &aws.key_pem).expect("key");
    gw.hangup();
    wait_for("the reload", &gw, |m| {
        m.contains("taskgate_reloads_total 1")
    });

    // New handshakes get the new chain: a client trusting only the old CA fails, one
    // trusting the new CA succeeds.
    assert!(TlsSession::connect(gw.addr, "states.us-east-1.amazonaws.com", &ca.pem()).is_err());
    let mut fresh = TlsSession::connect(gw.addr, "states.us-east-1.amazonaws.com", &next.pem())
        .expect("the new chain after the reload");
    assert_eq!(
        Answer::parse(&fresh.round_trip(&request()).expect("answer")).status,
        200
    );
    // The connection opened before the reload is still served.
    assert_eq!(
        Answer::parse(&open.round_trip(&request()).expect("answer")).status,
        200
    );
    // The other chain was re-read too and still serves its name.
    assert!(
        TlsSession::connect(
            gw.addr,
            "1234567890123456.cn-hangzhou.fnf.aliyuncs.com",
            &ca.pem()
        )
        .is_ok()
    );
}
