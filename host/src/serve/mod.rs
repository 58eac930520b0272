//! `taskgate serve`: the edge proxy. Callbacks arrive on one listener; each is checked by a fresh
//! instance of the filter component; accepted ones go to the upstream (or, with none configured,
//! to the local callback sink) and bad ones are answered at the edge as the vendor would.
//! A second listener serves `/metrics` (Prometheus) and `/healthz`.
//!
//! Shutdown on SIGTERM or ctrl-c: stop accepting, let requests in flight finish (up to
//! `SHUTDOWN_GRACE`), exit 0.

mod log;
mod metrics;
mod proxy;
mod sink;
mod upstream;

use crate::config::Config;
use crate::sandbox::Sandbox;
use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use proxy::Gateway;
use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;
use taskgate_filter::Dialect;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long requests in flight may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Runs the gateway until SIGTERM or ctrl-c. Prints the bound addresses on stdout first.
pub async fn run(config: Arc<Config>, sandbox: Sandbox) -> anyhow::Result<()> {
    let serve = &config.serve;
    let listener = TcpListener::bind(serve.listen)
        .await
        .with_context(|| format!("listening on {}", serve.listen))?;
    let admin = TcpListener::bind(serve.admin_listen)
        .await
        .with_context(|| format!("listening on {} (admin)", serve.admin_listen))?;
    // One client per dialect with an upstream; the sink only if some dialect has none.
    let upstreams: HashMap<Dialect, upstream::Upstream> = Dialect::ALL
        .iter()
        .filter_map(|&dialect| {
            let base = serve.upstream_for(dialect)?;
            Some((
                dialect,
                upstream::Upstream::new(base, serve.upstream_timeout),
            ))
        })
        .collect();
    let sink = if upstreams.len() < Dialect::ALL.len() {
        Some(sink::Sink::open(&serve.sink_path)?)
    } else {
        None
    };
    let gateway = Arc::new(Gateway {
        permits: Arc::new(Semaphore::new(serve.max_in_flight as usize)),
        config: Arc::clone(&config),
        sandbox,
        upstreams,
        sink,
        metrics: metrics::Metrics::default(),
        log: log::Log::start().context("starting the log writer")?,
    });

    // Before the addresses are printed: a SIGTERM may follow as soon as a client knows them.
    let shutdown = shutdown_signal()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{}", listener.local_addr()?)?;
        writeln!(out, "admin on http://{}", admin.local_addr()?)?;
        out.flush()?;
    }
    for dialect in Dialect::ALL {
        match serve.upstream_for(dialect) {
            Some(upstream) => eprintln!(
                "taskgate: forwarding accepted {} callbacks to {upstream}",
                dialect.name()
            ),
            None => eprintln!(
                "taskgate: no upstream configured: accepted {} callbacks go to the sink {}",
                dialect.name(),
                serve.sink_path.display()
            ),
        }
    }

    let admin_task = tokio::spawn(serve_admin(admin, Arc::clone(&gateway)));
    // HTTP/1.1 with keep-alive, and HTTP/2 for clients that open with its preface (cleartext,
    // prior knowledge): one builder tells them apart per connection.
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
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        eprintln!("taskgate: accept failed: {error}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let gateway = Arc::clone(&gateway);
                let service = service_fn(move |request| {
                    let gateway = Arc::clone(&gateway);
                    async move { Ok::<_, Infallible>(gateway.handle(request, peer).await) }
                });
                let builder = Arc::clone(&builder);
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    // A client that vanishes mid-request ends only its own connection.
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(connection).await;
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    eprintln!("taskgate: shutting down: finishing requests in flight");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("taskgate: requests still in flight after {SHUTDOWN_GRACE:?}; exiting");
    }
    admin_task.abort();
    gateway.log.flush();
    Ok(())
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
                        gateway.metrics.render(),
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
