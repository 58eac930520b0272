//! `bench-upstream`: the smallest useful stand-in for the workflow engine, for load tests of
//! `taskgate serve`. It answers every request `200 application/json`
//! `{"EventId":1,"RequestId":"X"}` over HTTP/1.1 keep-alive, after reading the request body.
//!
//! Usage: `bench-upstream [ADDR] [--tls-cert PEM --tls-key PEM]` (default `127.0.0.1:0`, a free
//! port). Prints `listening on http://ADDR` (`https://` with TLS) on stdout once bound, then
//! serves until killed. With TLS (rustls) it offers ALPN h2 and http/1.1, as the real services
//! do, and serves whichever the client picks. With `--record FILE` it appends the `X-Request-Id`
//! of every request it read whole to FILE, one per line, written as it goes (the soak counts
//! what reached the engine from it).

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

#[derive(clap::Parser)]
#[command(
    name = "bench-upstream",
    about = "A fast stand-in for the workflow engine"
)]
struct Args {
    /// Where to listen.
    #[arg(default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Serve TLS with this certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// ... and this private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Append the X-Request-Id of every request read to this file.
    #[arg(long, value_name = "FILE")]
    record: Option<std::path::PathBuf>,
}

/// Where `--record` writes: one line per request, each a single unbuffered append, so that
/// nothing is lost when the process is killed.
static RECORD: std::sync::OnceLock<std::sync::Mutex<std::fs::File>> = std::sync::OnceLock::new();

fn main() -> anyhow::Result<()> {
    let args = <Args as clap::Parser>::parse();
    if let Some(path) = &args.record {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let _ = RECORD.set(std::sync::Mutex::new(file));
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
        _ => None,
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(serve(args.addr, tls))
}

/// A TLS acceptor for this chain and key, ALPN h2 and http/1.1.
fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()?;
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

async fn serve(addr: SocketAddr, tls: Option<tokio_rustls::TlsAcceptor>) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {scheme}://{}", listener.local_addr()?)?;
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
        match &tls {
            None => {
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service_fn(answer))
                        .await;
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(TokioIo::new(stream), service_fn(answer))
                    .await;
                });
            }
        }
    }
}

/// Reads the whole request (as the real engine would) and answers success.
async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let id = request.headers().get("x-request-id").cloned();
    if request.into_body().collect().await.is_ok()
        && let Some(record) = RECORD.get()
    {
        let mut line = id.as_ref().map_or(&b"-"[..], |v| v.as_bytes()).to_vec();
        line.push(b'\n');
        if let Ok(mut file) = record.lock() {
            let _ = file.write_all(&line);
        }
    }
    let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}
