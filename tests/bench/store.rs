//! What the gateway's memory adds to a request: the store operations of one accepted Alibaba
//! report (rate, nonce claim and ledger hold in one step, then settle: what `serve/memory.rs`
//! does), with keys of its own each, against the embedded store and against a real `redis-server` on loopback that
//! this program starts. Rounds alternate between the stores in one sitting, `--clients`
//! requests at once; medians are printed as a Markdown table and one JSON line.
//!
//! `cargo run --release -p taskgate-tests --bin bench-store -- [--rounds 5] [--requests 20000]`

#![expect(
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark program: a failure ends it with a message"
)]

use clap::Parser;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use taskgate::store::{Admission, Admitted, Begin, Store, StoreKind};

#[derive(Parser)]
struct Args {
    /// Rounds per store, interleaved.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Requests per round.
    #[arg(long, default_value_t = 20_000)]
    requests: u64,
    /// Requests at once.
    #[arg(long, default_value_t = 32)]
    clients: u64,
    /// The redis-server program.
    #[arg(long, default_value = "redis-server")]
    redis_server: String,
}

/// A key shaped as the filter's (a kind and 64 hex digits of a digest), distinct for each `n`
/// in its first 128 bits, as a digest's are.
fn key(kind: &str, n: u64) -> String {
    format!(
        "{kind}:{:016x}{n:048x}",
        n.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    )
}

/// One request's store operations, as `serve/memory.rs` makes them for an accepted Alibaba
/// report: `admit` (rate, nonce, task hold in one step), then `settle`; its keys are its own.
async fn one_request(store: &Store, n: u64) {
    let owner = format!("owner-{n}");
    let (nonce, task) = (key("nonce", n), key("task", n));
    let admission = Admission {
        // A rate beyond reach: counted, never refused.
        rate: Some(("LTAI5tDemoAccessKeyId", 1e6, 1_000_000)),
        nonce: Some((&nonce, Duration::from_secs(1800))),
        task: Some((&task, &owner, Duration::from_secs(15))),
        consult: None,
    };
    let admitted = store.admit(&admission).await.expect("admit");
    assert_eq!(admitted, Admitted::Task(Begin::Acquired));
    store
        .settle(&task, &owner, Duration::from_secs(3600))
        .await
        .expect("settle");
}

/// One round: `requests` requests, `clients` at a time; the mean time per request (wall time
/// over requests, so concurrency counts) and the requests per second.
async fn round(store: &Arc<Store>, first: u64, requests: u64, clients: u64) -> (f64, f64) {
    let started = Instant::now();
    let per_client = requests / clients;
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                for i in 0..per_client {
                    one_request(&store, first + c * per_client + i).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a client");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let done = (per_client * clients) as f64;
    (elapsed / done * 1e6, done / elapsed)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let args = Args::parse();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let _redis = Redis(
        Command::new(&args.redis_server)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = std::env::temp_dir().join(format!("taskgate-bench-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let results = runtime.block_on(async {
        let timeout = Duration::from_secs(2);
        let open = |kind: StoreKind| {
            Arc::new(Store::open(&kind, timeout).expect("open").expect("a store"))
        };
        let stores = [
            open(StoreKind::Embedded {
                path: dir.join("state.redb"),
            }),
            open(StoreKind::Redis {
                url: format!("redis://127.0.0.1:{port}"),
            }),
        ];
        let mut results: Vec<Vec<(f64, f64)>> = vec![Vec::new(); stores.len()];
        let mut first = 0;
        for _ in 0..args.rounds {
            for (store, out) in stores.iter().zip(&mut results) {
                out.push(round(store, first, args.requests, args.clients).await);
                first += args.requests;
            }
        }
        stores[0].flush();
        results
    });
    let _ = std::fs::remove_dir_all(&dir);
    let names = ["embedded", "redis (loopback)"];
    println!(
        "| store | µs of store time per request (wall / requests) | requests/s | vs embedded |"
    );
    println!("|---|---|---|---|");
    let embedded = median(results[0].iter().map(|r| r.1).collect());
    let mut json = serde_json::Map::new();
    for (name, rows) in names.iter().zip(&results) {
        let micros = median(rows.iter().map(|r| r.0).collect());
        let rate = median(rows.iter().map(|r| r.1).collect());
        println!(
            "| {name} | {micros:.2} | {rate:.0} | {:.2} |",
            rate / embedded
        );
        json.insert(
            (*name).to_owned(),
            serde_json::json!({ "micros_per_request": micros, "requests_per_second": rate }),
        );
    }
    println!("{}", serde_json::Value::Object(json));
}
