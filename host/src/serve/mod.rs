//! `taskgate serve`: the edge proxy. Callbacks arrive on one address (plain HTTP, or TLS with
//! certificates chosen by SNI), served by `[serve] workers` threads: each has its own listener on
//! the address (`SO_REUSEPORT`: the kernel spreads connections over them), its own event loop and
//! its own upstream connections, so a request never changes threads on its way. Each request is
//! checked by an instance of the filter component
//! (fresh for every request unless `[sandbox] instance_reuse` says otherwise); accepted ones go
//! where the routes say (an upstream over HTTP or HTTPS, or the local sink) and bad ones are
//! answered at the edge as the vendor would. A second listener serves `/metrics` (Prometheus)
//! and `/healthz`.
//!
//! SIGHUP re-reads and validates the whole configuration: a valid one takes effect for new
//! requests (requests in flight finish under the one they started with), an invalid one
//! changes nothing. SIGTERM or ctrl-c: stop accepting, let requests in flight finish (up to
//! `SHUTDOWN_GRACE`), exit 0.

mod connection;
mod framing;
mod log;
mod metrics;
mod proxy;
mod remember;
mod routes;
mod sink;
mod tls;
mod upstream;
mod worker;

use crate::config::Config;
use crate::sandbox::Sandbox;
use crate::store::StoreKind;
use anyhow::Context as _;
use arc_swap::ArcSwap;
use bytes::Bytes;
use connection::Connections;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use proxy::{Gateway, Live};
use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use taskgate_filter::Dialect;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio_rustls::TlsAcceptor;

/// How long requests in flight may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Where the configuration comes from, for start-up and for every reload: a file (or the
/// built-in demo) and the command line's overrides, applied again each time.
pub struct Source {
    path: Option<PathBuf>,
    overrides: Overrides,
}

/// What the command line changes in a loaded configuration.
type Overrides = Box<dyn Fn(&mut Config) -> anyhow::Result<()> + Send + Sync>;

impl Source {
    /// The file at `path` (the demo when `None`), then `overrides`.
    pub fn new(
        path: Option<PathBuf>,
        overrides: impl Fn(&mut Config) -> anyhow::Result<()> + Send + Sync + 'static,
    ) -> Source {
        Source {
            path,
            overrides: Box::new(overrides),
        }
    }

    /// Reads and validates the whole configuration.
    pub fn load(&self) -> anyhow::Result<Config> {
        let mut config = match &self.path {
            Some(path) => Config::load(path)?,
            None => Config::demo()?,
        };
        (self.overrides)(&mut config)?;
        Ok(config)
    }
}

/// Builds what a configuration makes of the request path: a client per route (reading CA
/// files), the sink if some request could go there (kept open across reloads to the same
/// file, so its event ids go on).
fn live(config: Arc<Config>, previous: Option<&Live>) -> anyhow::Result<Live> {
    let trust = tls::Trust::load();
    let routes = routes::Routes::build(&config.serve, &trust)?;
    let sink = if routes.uses_sink() {
        match previous {
            Some(previous)
                if previous.sink.is_some()
                    && previous.config.serve.sink_path == config.serve.sink_path =>
            {
                previous.sink.clone()
            }
            _ => Some(Arc::new(sink::Sink::open(&config.serve.sink_path)?)),
        }
    } else {
        None
    };
    Ok(Live {
        config,
        routes,
        sink,
    })
}

/// Runs the gateway until SIGTERM or ctrl-c. Prints the bound addresses on stdout first.
pub async fn run(source: Source, config: Arc<Config>, sandbox: Sandbox) -> anyhow::Result<()> {
    let serve = &config.serve;
    let certificates = if serve.certificates.is_empty() {
        None
    } else {
        Some(Arc::new(tls::Certificates::load(&serve.certificates)?))
    };
    let acceptor = certificates
        .as_ref()
        .map(|certificates| certificates.server_config().map(TlsAcceptor::from))
        .transpose()?;
    let listener = listen(serve.listen, serve.workers > 1)
        .with_context(|| format!("listening on {}", serve.listen))?;
    let admin = TcpListener::bind(serve.admin_listen)
        .await
        .with_context(|| format!("listening on {} (admin)", serve.admin_listen))?;
    let metrics = metrics::Metrics::default();
    let store = crate::store::Store::open(&config.store.kind, config.store.timeout)?.map(Arc::new);
    let gateway = Arc::new(Gateway {
        live: ArcSwap::from_pointee(live(Arc::clone(&config), None)?),
        permits: Arc::new(Semaphore::new(serve.max_in_flight as usize)),
        sandbox,
        log: log::Log::start(Arc::clone(&metrics.log_lines_dropped))
            .context("starting the log writer")?,
        metrics,
        connections: Connections::new(serve.max_connections, serve.max_connections_per_client),
        store,
    });

    // HTTP/1.1 with keep-alive, and HTTP/2 (by ALPN under TLS, by its preface in cleartext):
    // one builder tells them apart per connection.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(serve.read_timeout)
        .max_buf_size(serve.max_header_bytes)
        .max_headers(serve.max_headers)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(serve.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(serve.max_in_flight)
        .keep_alive_interval(serve.read_timeout)
        .keep_alive_timeout(serve.read_timeout);
    let protocol = Arc::new(connection::Protocol {
        builder,
        idle: serve.read_timeout,
        max_head_bytes: serve.max_header_bytes,
        max_headers: serve.max_headers,
    });
    let accepting = Accepting {
        gateway: Arc::clone(&gateway),
        protocol,
        acceptor,
        read_timeout: serve.read_timeout,
    };
    // The other workers, each on a thread of its own with its own listener on the same address.
    let (stop, stopped) = watch::channel(false);
    let address = listener.local_addr()?;
    let mut workers = Vec::new();
    for index in 1..serve.workers {
        workers.push(spawn_worker(index, address, accepting.clone(), stopped.clone()).await?);
    }
    // Before the addresses are printed: a signal may follow as soon as a client knows them.
    let shutdown = shutdown_signal()?;
    let reloads = reload_signal()?;
    {
        let scheme = if accepting.acceptor.is_some() {
            "https"
        } else {
            "http"
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {scheme}://{address}")?;
        writeln!(out, "admin on http://{}", admin.local_addr()?)?;
        out.flush()?;
    }
    describe(&config);

    let admin_task = tokio::spawn(serve_admin(admin, Arc::clone(&gateway)));
    let reload_task = tokio::spawn(reload_on(
        reloads,
        source,
        Arc::clone(&gateway),
        certificates,
    ));
    tokio::pin!(shutdown);
    tokio::select! {
        () = accepting.run(listener, stopped) => {}
        _ = &mut shutdown => {}
    }
    let _ = stop.send(true);
    reload_task.abort();
    eprintln!("taskgate: shutting down: finishing requests in flight");
    gateway.connections.shut_down();
    if tokio::time::timeout(SHUTDOWN_GRACE, gateway.connections.drained())
        .await
        .is_err()
    {
        eprintln!("taskgate: requests still in flight after {SHUTDOWN_GRACE:?}; exiting");
    }
    // Every connection is closed (or given up on): each worker's loop has ended too.
    for worker in workers {
        let _ = worker.join();
    }
    admin_task.abort();
    if let Some(store) = &gateway.store {
        store.flush();
    }
    gateway.log.flush();
    Ok(())
}

/// A listener on `address`; with `shared`, one that other workers' listeners may bind too
/// (`SO_REUSEPORT`, which Linux allows only to sockets of the same user).
fn listen(address: SocketAddr, shared: bool) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if shared {
        socket.set_reuseport(true)?;
    }
    socket.bind(address)?;
    socket.listen(1024)
}

/// Starts worker `index`: a thread with its own single-threaded event loop and its own listener
/// on `address`, accepting until `stopped`, then serving what it has until every connection of
/// the gateway is closed. Returns once its listener is bound.
async fn spawn_worker(
    index: usize,
    address: SocketAddr,
    accepting: Accepting,
    stopped: watch::Receiver<bool>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let (bound, bound_rx) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name(format!("taskgate-worker-{index}"))
        .spawn(move || {
            worker::set_index(index);
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = bound.send(Err(anyhow::Error::from(error)));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match listen(address, true) {
                    Ok(listener) => listener,
                    Err(error) => {
                        let _ = bound.send(Err(error.into()));
                        return;
                    }
                };
                let _ = bound.send(Ok(()));
                let gateway = Arc::clone(&accepting.gateway);
                accepting.run(listener, stopped).await;
                // The connections this loop serves live on it: keep it turning until they end.
                let _ = tokio::time::timeout(SHUTDOWN_GRACE, gateway.connections.drained()).await;
            });
        })
        .context("starting a worker thread")?;
    bound_rx
        .await
        .map_err(|_| anyhow::anyhow!("worker {index} ended before listening"))?
        .with_context(|| format!("worker {index}: listening on {address}"))?;
    Ok(thread)
}

/// What every worker's accept loop shares.
#[derive(Clone)]
struct Accepting {
    gateway: Arc<Gateway>,
    protocol: Arc<connection::Protocol>,
    acceptor: Option<TlsAcceptor>,
    read_timeout: Duration,
}

impl Accepting {
    /// Accepts connections on `listener` until `stopped` turns true; each is served on this
    /// thread's event loop.
    async fn run(&self, listener: TcpListener, mut stopped: watch::Receiver<bool>) {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stopped.wait_for(|stop| *stop) => return,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    eprintln!("taskgate: accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let gateway = &self.gateway;
            // Over a cap: closed at once, before a byte is read or a handshake made.
            let slot = match gateway.connections.admit(peer.ip()) {
                Ok(slot) => slot,
                Err(refusal) => {
                    gateway.metrics.count_refused_connection(refusal.reason());
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let (gateway, protocol) = (Arc::clone(gateway), Arc::clone(&self.protocol));
            match &self.acceptor {
                None => connection::serve(stream, slot, peer, gateway, protocol),
                Some(acceptor) => {
                    let (acceptor, read_timeout) = (acceptor.clone(), self.read_timeout);
                    tokio::spawn(async move {
                        // A client that never finishes its handshake holds nothing for long.
                        match tokio::time::timeout(read_timeout, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => {
                                connection::serve(stream, slot, peer, gateway, protocol);
                            }
                            Ok(Err(_)) | Err(_) => {
                                gateway
                                    .metrics
                                    .tls_handshake_failures
                                    .fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    });
                }
            }
        }
    }
}

/// Says on stderr where accepted callbacks go.
fn describe(config: &Config) {
    let serve = &config.serve;
    for route in &serve.routes {
        let pattern = match &route.host {
            crate::config::HostPattern::Exact(name) => name.clone(),
            crate::config::HostPattern::Suffix(suffix) => format!("*.{suffix}"),
        };
        let via = route
            .connect_to
            .map(|address| format!(" (connecting to {address})"))
            .unwrap_or_default();
        eprintln!("taskgate: route {pattern} -> {}{via}", route.upstream);
    }
    for dialect in Dialect::ALL {
        match serve.upstream_for(dialect) {
            Some(upstream) => eprintln!(
                "taskgate: forwarding accepted {} callbacks to {upstream}",
                dialect.name()
            ),
            None if serve.routes.is_empty() => eprintln!(
                "taskgate: no upstream configured: accepted {} callbacks go to the sink {}",
                dialect.name(),
                serve.sink_path.display()
            ),
            None => eprintln!(
                "taskgate: {} callbacks for a host no route serves are refused",
                dialect.name()
            ),
        }
    }
    eprintln!(
        "taskgate: calls other than the task callbacks: {}",
        serve.other_calls.name()
    );
    let store = &config.store;
    match &store.kind {
        StoreKind::None => {
            eprintln!("taskgate: no store: replays, duplicate reports and rates are not checked")
        }
        StoreKind::Embedded { path } => eprintln!(
            "taskgate: store: embedded, in {} (replays, settled tasks, rates; this node only)",
            path.display()
        ),
        StoreKind::Redis { .. } => eprintln!(
            "taskgate: store: redis (replays, settled tasks, rates; shared); when it cannot answer: {}",
            store.unavailable.name()
        ),
    }
}

/// On every SIGHUP: re-read the configuration; if it is valid in full (routes and their CA
/// files, certificates included), swap it in for new requests. Settings bound at start-up
/// (addresses, sandbox, connection limits, TLS on or off) are reported and keep their values.
async fn reload_on(
    mut signals: tokio::signal::unix::Signal,
    source: Source,
    gateway: Arc<Gateway>,
    certificates: Option<Arc<tls::Certificates>>,
) {
    while signals.recv().await.is_some() {
        let result = (|| {
            let config = Arc::new(source.load()?);
            let current = gateway.live.load_full();
            let mut next = live(Arc::clone(&config), Some(&current))?;
            if let Some(certificates) = &certificates {
                certificates.reload(&config.serve.certificates)?;
            }
            let kept = bound_at_start(&current.config, &config);
            if !kept.is_empty() {
                eprintln!(
                    "taskgate: reload: {} changed; these take effect at the next restart",
                    kept.join(", ")
                );
                // The running listener's settings stay what they were.
                let mut config = (*config).clone();
                config.serve.listen = current.config.serve.listen;
                config.serve.admin_listen = current.config.serve.admin_listen;
                config.sandbox = current.config.sandbox;
                config.serve.max_in_flight = current.config.serve.max_in_flight;
                config.serve.workers = current.config.serve.workers;
                config.store.kind = current.config.store.kind.clone();
                config.store.timeout = current.config.store.timeout;
                next.config = Arc::new(config);
            }
            gateway.live.store(Arc::new(next));
            anyhow::Ok(())
        })();
        // Said before counted: whoever sees the counter move can read why.
        match result {
            Ok(()) => {
                eprintln!("taskgate: configuration reloaded");
                gateway.metrics.reloads.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                eprintln!("taskgate: reload refused, the configuration in force stays: {error:#}");
                gateway
                    .metrics
                    .failed_reloads
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The settings of `next` that differ from `current` but are bound when the gateway starts.
fn bound_at_start(current: &Config, next: &Config) -> Vec<&'static str> {
    let (a, b) = (&current.serve, &next.serve);
    [
        ("serve.listen", a.listen != b.listen),
        ("serve.admin_listen", a.admin_listen != b.admin_listen),
        ("sandbox", current.sandbox != next.sandbox),
        ("serve.max_in_flight", a.max_in_flight != b.max_in_flight),
        ("serve.workers", a.workers != b.workers),
        ("serve.read_timeout_ms", a.read_timeout != b.read_timeout),
        (
            "serve.max_header_bytes",
            a.max_header_bytes != b.max_header_bytes,
        ),
        ("serve.max_headers", a.max_headers != b.max_headers),
        (
            "serve.max_connections",
            a.max_connections != b.max_connections,
        ),
        (
            "serve.max_connections_per_client",
            a.max_connections_per_client != b.max_connections_per_client,
        ),
        (
            "serve.tls (on or off)",
            a.certificates.is_empty() != b.certificates.is_empty(),
        ),
        (
            "store (kind, path, url, timeout_ms)",
            current.store.kind != next.store.kind || current.store.timeout != next.store.timeout,
        ),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}

/// `/metrics` and `/healthz`, on their own listener so they never compete with callbacks.
async fn serve_admin(listener: TcpListener, gateway: Arc<Gateway>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let gateway = Arc::clone(&gateway);
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let gateway = Arc::clone(&gateway);
            async move {
                let (status, content_type, body) = match request.uri().path() {
                    "/metrics" => (
                        StatusCode::OK,
                        "text/plain; version=0.0.4",
                        gateway.metrics.render(gateway.connections.open()),
                    ),
                    "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
                    _ => (
                        StatusCode::NOT_FOUND,
                        "text/plain",
                        "not found\n".to_owned(),
                    ),
                };
                let mut response = Response::new(Full::new(Bytes::from(body)));
                *response.status_mut() = status;
                if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
                    response
                        .headers_mut()
                        .insert(hyper::header::CONTENT_TYPE, value);
                }
                Ok::<_, Infallible>(response)
            }
        });
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Installs the SIGHUP handler now (until then SIGHUP would kill the process).
fn reload_signal() -> anyhow::Result<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup()).context("handling SIGHUP")
}

/// Installs the SIGTERM and ctrl-c (SIGINT) handlers now, and returns what resolves on either.
/// Installed eagerly, not on the future's first poll: until then a signal takes its default
/// action and kills the process mid-request.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("handling SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("handling SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}
