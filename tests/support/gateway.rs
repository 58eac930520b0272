//! `taskgate serve` as the integration tests run it: the gateway with a configuration of the
//! test's, a misbehaving loopback upstream that records what reaches it, and raw HTTP/1.1
//! round trips with either.

#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "a test harness: a failure is a panic with the reason"
)]

pub use crate::Answer;
use crate::{Call, Layout, read_message, to_http};
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The binary next to the test executable (`target/release/taskgate`), or `TASKGATE_BIN`.
pub fn taskgate_bin() -> PathBuf {
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

const KEYS: &str = "[[access_keys]]\nid = \"LTAI5tDemoAccessKeyId\"\nsecret = \"demo-access-key-secret\"\naccount = \"1234567890123456\"\n[[token_keys]]\naccount = \"1234567890123456\"\nsecret = \"demo-token-key\"\n";

/// A running `taskgate serve`, killed on drop unless stopped.
pub struct Served {
    child: Option<Child>,
    /// Where it listens for callbacks.
    pub addr: SocketAddr,
    /// Its admin listener (`/metrics`, `/healthz`, `/readyz`).
    pub admin: SocketAddr,
    stderr: PathBuf,
    /// Its scratch directory (configuration, sink, store).
    pub dir: PathBuf,
}

/// A fresh scratch directory for one gateway.
pub fn unique_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("taskgate-serve-{tag}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

impl Served {
    /// Starts the gateway with `serve_extra` inside `[serve]` (and the demo keys), optionally
    /// with another component.
    pub fn start(serve_extra: &str, component: Option<PathBuf>) -> Served {
        Served::start_with("", serve_extra, component)
    }

    /// With `before` (access keys and other tables) ahead of the demo keys and `[serve]`, and
    /// `serve_extra` inside `[serve]`.
    pub fn start_with(before: &str, serve_extra: &str, component: Option<PathBuf>) -> Served {
        let dir = unique_dir("gw");
        let config = dir.join("taskgate.toml");
        std::fs::write(&config, Served::config_text(&dir, before, serve_extra)).expect("config");
        Served::launch(dir, component)
    }

    /// The configuration `start_with` writes (for rewriting it before a reload). These tests
    /// send the same signed request again and again to see it forwarded each time, so the
    /// gateway remembers nothing unless `before` configures a `[store]` (`memory.rs` tests it).
    pub fn config_text(dir: &std::path::Path, before: &str, serve_extra: &str) -> String {
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
    pub fn restart(mut self) -> Served {
        let mut child = self.child.take().expect("child");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        child.wait().expect("wait");
        Served::launch(std::mem::take(&mut self.dir), None)
    }

    /// Starts the binary on `dir/taskgate.toml`.
    pub fn launch(dir: PathBuf, component: Option<PathBuf>) -> Served {
        Served::launch_with_env(dir, component, &[])
    }

    /// Starts the binary on `dir/taskgate.toml` with these environment variables set (secrets a
    /// configuration reads with `secret_env`).
    pub fn launch_with_env(
        dir: PathBuf,
        component: Option<PathBuf>,
        env: &[(&str, &str)],
    ) -> Served {
        let config = dir.join("taskgate.toml");
        let stderr = dir.join("stderr.log");
        let mut cmd = Command::new(taskgate_bin());
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

    /// The sink's lines, each a JSON object.
    pub fn sink_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("sink.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("sink line is JSON"))
            .collect()
    }

    /// The log once it holds `needle` (lines are written by the log thread a moment after
    /// each answer), waiting up to 5 s; the log as it is if it never does.
    pub fn log_with(&self, needle: &str) -> String {
        for _ in 0..100 {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            thread::sleep(Duration::from_millis(50));
        }
        self.log()
    }

    /// What it wrote to stderr so far (the per-request log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM, then the exit status.
    /// The process id (for signals a test sends itself).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("child").id()
    }

    /// Sends SIGHUP (reload the configuration).
    pub fn hangup(&self) {
        let child = self.child.as_ref().expect("child");
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Sends SIGTERM and waits for it to exit.
    pub fn stop(mut self) -> ExitStatus {
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
pub enum Behaviour {
    /// Answers 200 with a small JSON body.
    Answer,
    /// Answers with bytes that are not HTTP.
    Garbage,
    /// Resets the connection.
    Reset,
    /// Waits this long, then answers 200.
    Hang(Duration),
    /// Answers 200 with a body of this many bytes.
    Huge(usize),
    /// Answers with this status and JSON body.
    Status(u16, &'static str),
}

/// The body the upstream answers with.
pub const UPSTREAM_BODY: &str = r#"{"EventId":7,"RequestId":"UPSTREAM-ID"}"#;

/// A loopback upstream that records every request it reads, byte for byte.
pub struct Upstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Upstream {
    /// Starts it on a free loopback port.
    pub fn start(behaviour: Behaviour) -> Upstream {
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

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request it has read, in order.
    pub fn requests(&self) -> Vec<Vec<u8>> {
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

/// Sends raw bytes on a new connection and reads one response (the server closes, or the body
/// ends at its Content-Length).
pub fn send(addr: SocketAddr, bytes: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream.write_all(bytes).expect("write");
    Answer::parse(&read_message(&mut stream).expect("a response"))
}

/// A `GET` of `path`, with `Connection: close`.
pub fn get(addr: SocketAddr, path: &str) -> Answer {
    send(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// A valid callback in `layout`, signed now.
pub fn valid(layout: Layout) -> Vec<u8> {
    to_http(&Call::new(layout).now().build())
}

/// The test-faults build of the component: `TASKGATE_FAULTS_COMPONENT`, else built here.
pub fn faults_component() -> PathBuf {
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
