//! `taskgate serve`: the edge proxy. Callbacks arrive on one address (plain HTTP, or TLS with
//! certificates chosen by SNI), served by `[serve] workers` threads: each has its own listener on
//! the address, its own event loop and its own upstream connections, so a request never changes
//! threads on its way. Each request is checked by an instance of the filter component (fresh
//! for every request unless `[sandbox] instance_reuse` says otherwise); accepted ones go where
//! the routes say (an upstream over HTTP or HTTPS, or the local sink) and bad ones are answered
//! at the edge as the vendor would. A second listener serves `/metrics` and `/healthz`.
//! SIGHUP reloads the configuration; SIGTERM or ctrl-c: stop accepting, let requests in flight
//! finish (up to `SHUTDOWN_GRACE`), exit 0.
//!
//! The modules, in the order a request meets them:
//! - `listener`: the listening sockets, the workers, accept, TLS handshakes;
//! - `connection`: one client connection (caps, idle timer, graceful close), with `framing`
//!   watching HTTP/1 heads for what hyper hides;
//! - `exchange`: one request as phases over one context (screen → route → read → check →
//!   remember → resign → deliver → answer), with `head` (what is read from the head), `body` (reading
//!   and draining bodies), `remember` (the store's answers), `routes`/`upstream`/`tls` (where a
//!   request goes and how) and `sink` (the local callback sink);
//! - `log` and `metrics`: what a request leaves behind;
//! - `gateway`: what every request shares; `reload`, `admin`: SIGHUP and the admin listener.

mod admin;
mod body;
mod connection;
mod counters;
mod exchange;
mod framing;
mod gateway;
mod head;
mod listener;
mod log;
mod metrics;
mod reload;
mod remember;
mod routes;
mod sink;
pub(crate) mod tls;
mod upstream;
mod worker;

pub use reload::Source;

use crate::config::Config;
use crate::sandbox::Sandbox;
use crate::store::StoreKind;
use anyhow::Context as _;
use arc_swap::ArcSwap;
use connection::Connections;
use gateway::{Gateway, Live, Readiness};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use listener::{Accepting, listen, spawn_worker};
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use taskgate_filter::Dialect;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

/// How long requests in flight may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

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
    // Credentials from a cloud's chain: fetched now and kept fresh (`/readyz` waits for them).
    for chain in &config.chains {
        chain.keep_fresh();
    }
    let metrics = metrics::Metrics::default();
    let store = crate::store::Store::open(&config.store.kind, config.store.timeout)?.map(Arc::new);
    let gateway = Arc::new(Gateway {
        live: ArcSwap::from_pointee(Live::build(Arc::clone(&config), None)?),
        permits: Arc::new(Semaphore::new(serve.max_in_flight as usize)),
        sandbox,
        log: log::Log::start(Arc::clone(&metrics.log_lines_dropped))
            .context("starting the log writer")?,
        metrics,
        connections: Connections::new(serve.max_connections, serve.max_connections_per_client),
        store,
        readiness: Readiness::default(),
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
        let worker = spawn_worker(
            index,
            address,
            accepting.clone(),
            stopped.clone(),
            SHUTDOWN_GRACE,
        );
        workers.push(worker.await?);
    }
    // Before the addresses are printed: a signal may follow as soon as a client knows them.
    let shutdown = shutdown_signal()?;
    let reloads = reload::reload_signal()?;
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

    let admin_task = tokio::spawn(admin::serve(admin, Arc::clone(&gateway)));
    let reload_task = tokio::spawn(reload::reload_on(
        reloads,
        source,
        Arc::clone(&gateway),
        certificates,
    ));
    gateway.readiness.listening.store(true, Ordering::Release);
    // On SIGTERM: `/readyz` turns 503 at once, the listeners stay open `drain_delay_ms` more
    // (a load balancer that polls `/readyz` stops sending meanwhile), then close.
    let drain = async {
        shutdown.await;
        gateway.readiness.draining.store(true, Ordering::Release);
        let delay = gateway.live.load().config.serve.drain_delay;
        if !delay.is_zero() {
            eprintln!(
                "taskgate: shutting down: /readyz answers 503; accepting for {} ms more",
                delay.as_millis()
            );
            tokio::time::sleep(delay).await;
        }
    };
    tokio::select! {
        () = accepting.run(listener, stopped) => {}
        () = drain => {}
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
            taskgate_filter::Choice::spelling(store.unavailable)
        ),
    }
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
