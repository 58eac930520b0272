//! `taskgate serve` end to end: the real binary on port 0, a recording upstream on loopback that
//! can also misbehave (refuse, hang, reset, answer garbage), raw sockets for exact bytes.

use crate::root;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};
use taskgate_tests::{Call, Layout, read_message, to_http};

const KEYS: &str = "[[access_keys]]\nid = \"LTAI5tDemoAccessKeyId\"\nsecret = \"demo-access-key-secret\"\naccount = \"1234567890123456\"\n[[token_keys]]\naccount = \"1234567890123456\"\nsecret = \"demo-token-key\"\n";

/// A running `taskgate serve`, killed on drop unless stopped.
pub(crate) struct Served {
    child: Option<Child>,
    pub(crate) addr: SocketAddr,
    pub(crate) admin: SocketAddr,
    stderr: PathBuf,
    pub(crate) dir: PathBuf,
}

pub(crate) fn unique_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("taskgate-serve-{tag}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

impl Served {
    pub(crate) fn start(serve_extra: &str, component: Option<PathBuf>) -> Served {
        Served::start_with("", serve_extra, component)
    }

    /// With `before` (access keys and other tables) ahead of the demo keys and `[serve]`, and
    /// `serve_extra` inside `[serve]`.
    pub(crate) fn start_with(
        before: &str,
        serve_extra: &str,
        component: Option<PathBuf>,
    ) -> Served {
        let dir = unique_dir("gw");
        let config = dir.join("taskgate.toml");
        std::fs::write(&config, Served::config_text(&dir, before, serve_extra)).expect("config");
        Served::launch(dir, component)
    }

    /// The configuration `start_with` writes (for rewriting it before a reload). These tests
    /// send the same signed request again and again to see it forwarded each time, so the
    /// gateway remembers nothing unless `before` configures a `[store]` (`memory.rs` tests it).
    pub(crate) fn config_text(dir: &std::path::Path, before: &str, serve_extra: &str) -> String {
        let sink = dir.join("sink.jsonl");
        let store = if before.contains("[store]") {
            ""
        } else {
            "[store]\nkind = \"none\"\n"
        };
        format!(
            "{before}{store}{KEYS}[serve]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nsink_path = {:?}\n{serve_extra}",
            sink.display().to_string()
        )
    }

    /// Stops the gateway (SIGTERM, as a service manager does) and starts it again on the same
    /// directory and configuration.
    pub(crate) fn restart(mut self) -> Served {
        let mut child = self.child.take().expect("child");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        child.wait().expect("wait");
        Served::launch(std::mem::take(&mut self.dir), None)
    }

    /// Starts the binary on `dir/taskgate.toml`.
    pub(crate) fn launch(dir: PathBuf, component: Option<PathBuf>) -> Served {
        Served::launch_with_env(dir, component, &[])
    }

    /// Starts the binary on `dir/taskgate.toml` with these environment variables set (secrets a
    /// configuration reads with `secret_env`).
    pub(crate) fn launch_with_env(
        dir: PathBuf,
        component: Option<PathBuf>,
        env: &[(&str, &str)],
    ) -> Served {
        let config = dir.join("taskgate.toml");
        let stderr = dir.join("stderr.log");
        let mut cmd = Command::new(crate::cli::bin());
        cmd.arg("serve").arg("--config").arg(&config);
        cmd.envs(env.iter().copied());
        if let Some(component) = component {
            cmd.arg("--component").arg(component);
        }
        let mut child = cmd
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("spawn taskgate serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut addr = |prefix: &str| {
                lines
                    .next()
                    .and_then(Result::ok)
                    .and_then(|l| {
                        // `http://` or, with TLS on the listener, `https://`.
                        let l = l.replacen("https://", "http://", 1);
                        l.strip_prefix(prefix).map(str::to_owned)
                    })
                    .and_then(|a| a.parse::<SocketAddr>().ok())
            };
            let _ = tx.send((addr("listening on http://"), addr("admin on http://")));
        });
        let Ok((Some(addr), Some(admin))) = rx.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            panic!(
                "serve did not print its addresses: {}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        };
        Served {
            child: Some(child),
            addr,
            admin,
            stderr,
            dir,
        }
    }

    pub(crate) fn sink_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("sink.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("sink line is JSON"))
            .collect()
    }

    /// The log once it holds `needle` (lines are written by the log thread a moment after
    /// each answer), waiting up to 5 s; the log as it is if it never does.
    pub(crate) fn log_with(&self, needle: &str) -> String {
        for _ in 0..100 {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            thread::sleep(Duration::from_millis(50));
        }
        self.log()
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM, then the exit status.
    /// Sends SIGHUP (reload the configuration).
    pub(crate) fn hangup(&self) {
        let child = self.child.as_ref().expect("child");
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub(crate) fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("child");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        child.wait().expect("wait")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What the fake upstream does with each request.
#[derive(Clone, Copy)]
pub(crate) enum Behaviour {
    Answer,
    Garbage,
    Reset,
    Hang(Duration),
    /// Answers 200 with a body of this many bytes.
    Huge(usize),
    /// Answers with this status and JSON body.
    Status(u16, &'static str),
}

const UPSTREAM_BODY: &str = r#"{"EventId":7,"RequestId":"UPSTREAM-ID"}"#;

/// A loopback upstream that records every request it reads, byte for byte.
pub(crate) struct Upstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Upstream {
    pub(crate) fn start(behaviour: Behaviour) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let record = Arc::clone(&record);
                thread::spawn(move || serve_upstream(stream, behaviour, &record));
            }
        });
        Upstream { addr, seen }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn requests(&self) -> Vec<Vec<u8>> {
        self.seen.lock().expect("lock").clone()
    }
}

fn serve_upstream(mut stream: TcpStream, behaviour: Behaviour, record: &Mutex<Vec<Vec<u8>>>) {
    loop {
        let Some(request) = read_message(&mut stream) else {
            return;
        };
        record.lock().expect("lock").push(request);
        match behaviour {
            Behaviour::Answer => {
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Upstream: yes\r\nContent-Length: {}\r\n\r\n{UPSTREAM_BODY}",
                    UPSTREAM_BODY.len()
                );
                if stream.write_all(answer.as_bytes()).is_err() {
                    return;
                }
            }
            Behaviour::Garbage => {
                let _ = stream.write_all(b"this is not HTTP at all\r\n\r\n");
                return;
            }
            Behaviour::Reset => {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Behaviour::Huge(bytes) => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {bytes}\r\n\r\n");
                let body = vec![b'x'; bytes];
                if stream.write_all(head.as_bytes()).is_err() || stream.write_all(&body).is_err() {
                    return;
                }
            }
            Behaviour::Status(status, body) => {
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                if stream.write_all(answer.as_bytes()).is_err() {
                    return;
                }
            }
            Behaviour::Hang(pause) => {
                thread::sleep(pause);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{UPSTREAM_BODY}",
                    UPSTREAM_BODY.len()
                );
                let _ = stream.write_all(answer.as_bytes());
                return;
            }
        }
    }
}

pub(crate) use taskgate_tests::Answer;

/// Sends raw bytes on a new connection and reads one response (the server closes, or the body
/// ends at its Content-Length).
pub(crate) fn send(addr: SocketAddr, bytes: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream.write_all(bytes).expect("write");
    Answer::parse(&read_message(&mut stream).expect("a response"))
}

pub(crate) fn get(addr: SocketAddr, path: &str) -> Answer {
    send(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

pub(crate) fn valid(layout: Layout) -> Vec<u8> {
    to_http(&Call::new(layout).now().build())
}

fn faults_component() -> PathBuf {
    if let Some(path) = std::env::var_os("TASKGATE_FAULTS_COMPONENT") {
        return PathBuf::from(path);
    }
    let target = root().join("target/component-build-faults");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root())
        .args([
            "build",
            "--quiet",
            "-p",
            "taskgate-filter",
            "--features",
            "test-faults",
            "--profile",
            "component",
        ])
        .args(["--target", "wasm32-wasip2", "--target-dir"])
        .arg(&target)
        .status()
        .expect("cargo");
    assert!(
        status.success(),
        "building the test-faults component failed"
    );
    target.join("wasm32-wasip2/component/taskgate_filter.wasm")
}

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
