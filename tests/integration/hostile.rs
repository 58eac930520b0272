//! `taskgate serve` against clients that misbehave on purpose: connections held open without
//! a word, ambiguous or malformed messages, slow bodies, an upstream that answers too much, a
//! stderr nobody reads. Each test fails without the fix it pins.

use crate::serve::{Behaviour, Served, Upstream, get, send, valid};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use taskgate_tests::h2_frames::{Frame, round_trip};
use taskgate_tests::{Call, Layout, expand_runs, read_message, to_http};

/// A request head without its `name:` lines.
fn without(head: &str, name: &str) -> String {
    head.lines()
        .filter(|l| !l.starts_with(name))
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn metrics(admin: SocketAddr) -> String {
    String::from_utf8(get(admin, "/metrics").body).expect("utf8")
}

/// Reads until the server closes the connection; how long that took (`None`: still open after
/// `patience`).
fn closed_within(stream: &mut TcpStream, patience: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut buffer = [0u8; 4096];
    while started.elapsed() < patience {
        match stream.read(&mut buffer) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

#[test]
fn connections_that_say_nothing_or_stop_halfway_are_closed_after_the_read_timeout() {
    let gw = Served::start_with("", "read_timeout_ms = 400\n", None);
    // HTTP/2 connection preface, then SETTINGS (empty), then only silence: an idle HTTP/2
    // connection. The server's own SETTINGS and PINGs flow, but no request ever comes.
    let mut h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    h2.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    let openings: [(&str, &[u8]); 4] = [
        ("nothing at all", b""),
        ("half the HTTP/2 preface", b"PRI * HTTP/2.0\r\n"),
        ("half a request head", b"POST / HTTP/1.1\r\nHost: x\r\n"),
        ("an idle HTTP/2 connection", &h2),
    ];
    let mut streams: Vec<(&str, TcpStream)> = openings
        .iter()
        .map(|(what, bytes)| {
            let mut stream = TcpStream::connect(gw.addr).expect("connect");
            stream.write_all(bytes).expect("write");
            (*what, stream)
        })
        .collect();
    for (what, stream) in &mut streams {
        let took = closed_within(stream, Duration::from_secs(5));
        assert!(
            took.is_some(),
            "{what}: still open 5 s later (read timeout 400 ms)"
        );
    }
    // An idle HTTP/1.1 keep-alive connection too, after a request.
    let mut stream = TcpStream::connect(gw.addr).expect("connect");
    stream
        .write_all(&valid(Layout::QueryAndForm))
        .expect("write");
    assert!(closed_within(&mut stream, Duration::from_secs(5)).is_some());
    // The gauge drops once the server's side of each connection is gone, which may be a moment
    // after the client saw it close.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut shown = metrics(gw.admin);
    while !shown.contains("taskgate_connections_open 0") && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
        shown = metrics(gw.admin);
    }
    assert!(shown.contains("taskgate_connections_open 0"), "{shown}");
}

#[test]
fn connections_over_the_caps_are_closed_at_accept_and_counted() {
    let gw = Served::start_with(
        "",
        "max_connections = 8\nmax_connections_per_client = 3\nread_timeout_ms = 10000\n",
        None,
    );
    let held: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(gw.addr).expect("connect"))
        .collect();
    thread::sleep(Duration::from_millis(200));
    // The fourth from this client is closed at once, before any byte.
    let mut fourth = TcpStream::connect(gw.addr).expect("connect");
    assert!(closed_within(&mut fourth, Duration::from_secs(2)).is_some());
    let shown = metrics(gw.admin);
    assert!(
        shown.contains(
            "taskgate_connections_refused_total{reason=\"max_connections_per_client\"} 1"
        ),
        "{shown}"
    );
    assert!(shown.contains("taskgate_connections_open 3"), "{shown}");
    // Once one goes, another may come.
    drop(held);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(send(gw.addr, &valid(Layout::QueryAndForm)).status, 200);
}

#[test]
fn ambiguous_or_malformed_messages_are_400_in_the_dialect_and_never_forwarded() {
    let upstream = Upstream::start(Behaviour::Answer);
    let gw = Served::start(&format!("upstream = {:?}\n", upstream.url()), None);
    let signed = to_http(&Call::new(Layout::QueryAndForm).now().build());
    let text = String::from_utf8(signed).expect("utf8");
    let (head, body) = text.split_once("\r\n\r\n").expect("head");
    let cases = [
        (
            "two Host headers",
            format!("{head}\r\nHost: evil.example\r\n\r\n{body}"),
            "more than one Host header",
        ),
        (
            "no Host header",
            format!("{}\r\n\r\n{body}", without(head, "Host:")),
            "no Host header",
        ),
        (
            "Content-Length before Transfer-Encoding",
            format!(
                "{head}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                body.len()
            ),
            "both Content-Length and Transfer-Encoding",
        ),
        (
            "Transfer-Encoding before Content-Length",
            format!(
                "{}\r\nTransfer-Encoding: chunked\r\nContent-Length: {}\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                without(head, "Content-Length:"),
                body.len(),
                body.len()
            ),
            "both Content-Length and Transfer-Encoding",
        ),
        (
            "a malformed chunk size",
            format!(
                "{}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{body}\r\n0\r\n\r\n",
                without(head, "Content-Length:")
            ),
            "the body could not be read",
        ),
    ];
    for (what, raw, phrase) in cases {
        let answer = send(gw.addr, raw.as_bytes());
        let shown = String::from_utf8_lossy(&answer.body).into_owned();
        assert_eq!(answer.status, 400, "{what}: {shown}");
        assert_eq!(answer.code(), "InvalidArgument", "{what}: {shown}");
        assert!(shown.contains(phrase), "{what}: {shown}");
    }
    assert!(
        upstream.requests().is_empty(),
        "a malformed message was forwarded"
    );
    let shown = metrics(gw.admin);
    assert!(
        !shown.contains("InternalServerError"),
        "counted as ours: {shown}"
    );
}

/// The smuggling shape hyper hides (it drops the Content-Length before the service sees it) is
/// found below it, on any request of a keep-alive connection, after bodies of either framing.
#[test]
fn both_lengths_are_refused_on_a_later_request_of_a_connection() {
    let upstream = Upstream::start(Behaviour::Answer);
    let gw = Served::start(&format!("upstream = {:?}\n", upstream.url()), None);
    let signed = to_http(&Call::new(Layout::QueryAndForm).now().build());
    let text = String::from_utf8(signed.clone()).expect("utf8");
    let (head, body) = text.split_once("\r\n\r\n").expect("head");
    let unlengthed = without(head, "Content-Length:");
    let chunked = format!(
        "{unlengthed}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let both = format!(
        "{unlengthed}\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let mut stream = TcpStream::connect(gw.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut statuses = Vec::new();
    for raw in [signed.as_slice(), chunked.as_bytes(), both.as_bytes()] {
        stream.write_all(raw).expect("write");
        let answer = read_message(&mut stream).expect("an answer");
        statuses.push(crate::serve::Answer::parse(&answer).status);
    }
    assert_eq!(statuses, [200, 200, 400]);
    assert_eq!(upstream.requests().len(), 2, "the third was forwarded");
}

/// A client that closes right after its last byte: hyper may drop the request's handler before
/// it ever runs, and the request must still be logged (and never forwarded twice).
#[test]
fn a_request_whose_client_closes_at_once_is_still_logged_once() {
    let upstream = Upstream::start(Behaviour::Answer);
    let gw = Served::start(&format!("upstream = {:?}\n", upstream.url()), None);
    let sent = 20;
    for n in 0..sent {
        let request = Call::new(Layout::QueryAndForm)
            .now()
            .extra_header("X-Request-Id", &format!("gone-{n}"))
            .build();
        let mut stream = TcpStream::connect(gw.addr).expect("connect");
        stream.write_all(&to_http(&request)).expect("write");
    }
    let count = |log: &str| log.matches("\"client_request_id\":\"gone-").count();
    let deadline = Instant::now() + Duration::from_secs(5);
    while count(&gw.log()) < sent && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    // A little longer, for a second line of any of them.
    thread::sleep(Duration::from_millis(200));
    let log = gw.log();
    for n in 0..sent {
        let needle = format!("\"client_request_id\":\"gone-{n}\"");
        assert_eq!(log.matches(&needle).count(), 1, "gone-{n}: {log}");
    }
    assert!(upstream.requests().len() <= sent, "forwarded twice");
    assert!(metrics(gw.admin).contains("taskgate_in_flight 0"));
}

#[test]
fn a_client_too_slow_with_its_body_gets_408_not_500() {
    let gw = Served::start("read_timeout_ms = 300\n", None);
    let raw = valid(Layout::QueryAndForm);
    let mut stream = TcpStream::connect(gw.addr).expect("connect");
    // The head and half the body, then nothing.
    stream.write_all(&raw[..raw.len() - 10]).expect("write");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = crate::serve::Answer::parse(&answer);
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (408, "RequestTimeout")
    );
}

#[test]
fn an_upstream_answer_over_the_cap_is_500_and_not_held() {
    let upstream = Upstream::start(Behaviour::Huge(64 << 20));
    let gw = Served::start(
        &format!(
            "upstream = {:?}\nmax_upstream_answer_bytes = 1048576\n",
            upstream.url()
        ),
        None,
    );
    let answer = send(gw.addr, &valid(Layout::QueryAndForm));
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (500, "InternalServerError")
    );
    let shown = metrics(gw.admin);
    assert!(
        shown.contains("taskgate_upstream_errors_total{kind=\"too_large\"} 1"),
        "{shown}"
    );
}

#[test]
fn a_stderr_nobody_reads_drops_log_lines_but_never_requests() {
    // Started by hand: its stderr is a pipe this test never reads.
    let dir = crate::serve::unique_dir("stalled-log");
    let config = dir.join("taskgate.toml");
    std::fs::write(
        &config,
        "[serve]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n",
    )
    .expect("config");
    let mut child = KillOnDrop(
        Command::new(crate::cli::bin())
            .args(["serve", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn"),
    );
    let mut out = String::new();
    let mut stdout = child.0.stdout.take().expect("stdout");
    let mut byte = [0u8; 1];
    while out.matches('\n').count() < 2 {
        assert_eq!(
            stdout.read(&mut byte).expect("stdout"),
            1,
            "serve ended: {out}"
        );
        out.push(byte[0] as char);
    }
    let addr = |prefix: &str| -> SocketAddr {
        out.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|a| a.parse().ok())
            .expect("address")
    };
    let (listen, admin) = (addr("listening on http://"), addr("admin on http://"));
    // 20,000 quick rejections on one keep-alive connection: more log lines than the pipe
    // (64 KiB) and the queue (16,384 lines) hold together.
    let mut stream = TcpStream::connect(listen).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let request = b"GET /?Action=Nothing HTTP/1.1\r\nHost: x\r\n\r\n";
    for i in 0..20_000 {
        stream.write_all(request).expect("write");
        let got = read_message(&mut stream).expect("an answer, not a stall");
        assert!(got.starts_with(b"HTTP/1.1 400"), "request {i}");
    }
    let shown = metrics(admin);
    let dropped: u64 = shown
        .lines()
        .find_map(|l| l.strip_prefix("taskgate_log_lines_dropped_total "))
        .and_then(|v| v.parse().ok())
        .expect("the counter");
    assert!(dropped > 0, "{shown}");
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A child process killed when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One case of the hostile corpus (tests/hostile/cases.toml): HTTP/1 bytes (`raw`) or HTTP/2
/// frames (`h2`, sent `rounds` times), and the answer expected.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HostileCase {
    name: String,
    #[serde(default)]
    raw: Option<String>,
    #[serde(default)]
    h2: Option<Vec<Frame>>,
    #[serde(default = "one_round")]
    rounds: u32,
    status: u16,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    goaway: Option<String>,
    #[serde(default)]
    reset: Option<String>,
}

fn one_round() -> u32 {
    1
}

#[derive(serde::Deserialize)]
struct HostileCorpus {
    case: Vec<HostileCase>,
}

/// What a case got: the first answer's status (0: none), its vendor code ("" when the body
/// carries none), and for HTTP/2 the first GOAWAY's and RST_STREAM's error codes.
#[derive(Debug, PartialEq)]
struct Got {
    status: u16,
    code: String,
    goaway: Option<String>,
    reset: Option<String>,
}

/// Sends a case on a fresh connection and reads what comes back.
fn try_case(addr: SocketAddr, case: &HostileCase) -> Got {
    if let Some(frames) = &case.h2 {
        let heard = round_trip(addr, frames, case.rounds, Duration::from_secs(10));
        let answer = crate::serve::Answer {
            status: heard.status,
            headers: Vec::new(),
            body: heard.body,
        };
        return Got {
            status: heard.status,
            code: answer.code(),
            goaway: heard.goaway,
            reset: heard.reset,
        };
    }
    let raw = case.raw.as_deref().expect("a case has raw or h2");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // A write may fail once the gateway has answered and closed: the answer still counts.
    let _ = stream.write_all(expand_runs(raw).as_bytes());
    // An interim answer (100 Continue) is not the answer; what was read after it is kept.
    let mut after_interim = Vec::new();
    let (status, code) = loop {
        match read_message(&mut after_interim.as_slice().chain(&mut stream)) {
            None => break (0, String::new()),
            Some(bytes) => {
                let answer = crate::serve::Answer::parse(&bytes);
                if !(100..200).contains(&answer.status) {
                    break (answer.status, answer.code());
                }
                after_interim = answer.body;
            }
        }
    };
    Got {
        status,
        code,
        goaway: None,
        reset: None,
    }
}

impl HostileCase {
    /// Whether `got` is this case's answer: the status always, the rest where the case says.
    fn answered_by(&self, got: &Got) -> bool {
        got.status == self.status
            && self.code.as_ref().is_none_or(|code| *code == got.code)
            && self
                .goaway
                .as_ref()
                .is_none_or(|code| got.goaway.as_ref() == Some(code))
            && self
                .reset
                .as_ref()
                .is_none_or(|code| got.reset.as_ref() == Some(code))
    }
}

#[test]
fn the_hostile_corpus_gets_its_exact_answers_and_nothing_reaches_the_upstream() {
    let text = std::fs::read_to_string(crate::root().join("tests/hostile/cases.toml"))
        .expect("tests/hostile/cases.toml");
    let corpus: HostileCorpus = toml::from_str(&text).expect("the corpus parses");
    assert!(corpus.case.len() >= 200, "{} cases", corpus.case.len());
    let upstream = Upstream::start(Behaviour::Answer);
    let gw = Served::start(
        &format!(
            "upstream = {:?}\nread_timeout_ms = 500\nmax_headers = 16\n",
            upstream.url()
        ),
        None,
    );
    let mut wrong = Vec::new();
    for case in &corpus.case {
        let got = try_case(gw.addr, case);
        if !case.answered_by(&got) {
            wrong.push(format!(
                "{}: got {got:?}, expected {} {:?} goaway {:?} reset {:?}",
                case.name, case.status, case.code, case.goaway, case.reset
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(
        upstream.requests().is_empty(),
        "something reached the upstream"
    );
    thread::sleep(Duration::from_millis(700));
    assert_eq!(get(gw.admin, "/healthz").status, 200);
    let shown = metrics(gw.admin);
    assert!(shown.contains("taskgate_in_flight 0"), "{shown}");
    assert!(
        !shown.contains("status=\"500\""),
        "a client fault counted as ours: {shown}"
    );
}
