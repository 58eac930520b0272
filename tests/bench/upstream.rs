//! `bench-upstream`: the smallest useful stand-in for the workflow engine, for load tests of
//! `taskgate serve`. It answers every request `200 application/json`
//! `{"EventId":1,"RequestId":"X"}` over HTTP/1.1 keep-alive, after reading the request body.
//!
//! Usage: `bench-upstream [ADDR]` (default `127.0.0.1:0`, a free port). Prints
//! `listening on http://ADDR` on stdout once bound, then serves until killed.

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// The one answer, as the real service gives it for a successful ReportTaskFailed.
const BODY: &[u8] = br#"{"EventId":1,"RequestId":"X"}"#;

fn main() -> anyhow::Result<()> {
    let addr: SocketAddr = match std::env::args().nth(1) {
        Some(text) => text
            .parse()
            .with_context(|| format!("{text:?} is not an address like 127.0.0.1:0"))?,
        None => SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(serve(addr))
}

async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{}", listener.local_addr()?)?;
        out.flush()?;
    }
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                eprintln!("bench-upstream: accept failed: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}

/// Reads the whole request (as the real engine would) and answers success.
async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let _ = request.into_body().collect().await;
    let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}
