//! The admin listener, on its own address so that it never competes with callbacks:
//! `/metrics` (Prometheus), `/healthz` (the process serves: 200 while it runs) and `/readyz`
//! (whether it should be sent callbacks: 200, or 503 with a JSON reason while its listeners
//! are not all bound, while it drains after SIGTERM, or while a store that must answer
//! (`unavailable = "refuse"`) does not).

use super::gateway::Gateway;
use crate::store::Unavailable;
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpListener;

/// Serves the admin endpoints on `listener` for the life of the process.
pub async fn serve(listener: TcpListener, gateway: Arc<Gateway>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let gateway = Arc::clone(&gateway);
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let gateway = Arc::clone(&gateway);
            async move { Ok::<_, Infallible>(answer(request.uri().path(), &gateway).await) }
        });
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The answer for an admin path.
async fn answer(path: &str, gateway: &Gateway) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match path {
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4",
            gateway.metrics.render(gateway.connections.open()),
        ),
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        "/readyz" => match not_ready(gateway).await {
            None => (
                StatusCode::OK,
                "application/json",
                "{\"ready\":true}\n".to_owned(),
            ),
            Some(reason) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "application/json",
                format!(
                    "{}\n",
                    serde_json::json!({"ready": false, "reason": reason})
                ),
            ),
        },
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

/// Why the gateway should not be sent callbacks now, if it should not.
async fn not_ready(gateway: &Gateway) -> Option<String> {
    let readiness = &gateway.readiness;
    if readiness.draining.load(Ordering::Acquire) {
        return Some("draining: shutting down, finishing the requests in flight".to_owned());
    }
    if !readiness.listening.load(Ordering::Acquire) {
        return Some("starting: not every listener is bound yet".to_owned());
    }
    let live = gateway.live.load();
    if let Some(why) = live.config.credentials_missing() {
        return Some(why);
    }
    // A store the gateway goes on without (`unavailable = "forward"`) does not make it unready.
    if live.config.store.unavailable == Unavailable::Refuse
        && let Some(store) = &gateway.store
        && let Err(error) = store.ping().await
    {
        return Some(format!("store unreachable: {}", error.0));
    }
    None
}
