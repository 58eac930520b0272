//! Forwarding to the workflow engine: the original method, path, query, headers (Host included,
//! since ACS3 and SigV4 sign it) and body; hop-by-hop headers aside and `X-Forwarded-For` added.
//! Plain HTTP or TLS (rustls: the certificate checked against the upstream's host name, ALPN h2
//! and http/1.1), pooled keep-alive connections. The request is retried only when the upstream
//! provably never received it (a TCP connect failure); a TLS failure is not retried at all:
//! another try would meet the same certificate.

use super::tls::Trust;
use crate::config::UpstreamUrl;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;

/// Why forwarding failed; each is answered `InternalServerError` and counted by kind.
#[derive(Debug)]
pub enum UpstreamError {
    /// No TCP connection could be made (the request was never sent).
    Connect,
    /// The TLS handshake failed: an untrusted or misnamed certificate, no common protocol (the
    /// request was never sent).
    Tls,
    /// No complete answer within the timeout.
    Timeout,
    /// The connection broke or the answer was not HTTP.
    Protocol,
    /// The answer's body is longer than `max_upstream_answer_bytes`.
    TooLarge,
}

impl UpstreamError {
    /// The label used in metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Connect => "connect",
            UpstreamError::Tls => "tls",
            UpstreamError::Timeout => "timeout",
            UpstreamError::Protocol => "protocol",
            UpstreamError::TooLarge => "too_large",
        }
    }

    fn of(error: &hyper_util::client::legacy::Error) -> UpstreamError {
        if caused_by_tls(error) {
            UpstreamError::Tls
        } else if error.is_connect() {
            UpstreamError::Connect
        } else {
            UpstreamError::Protocol
        }
    }
}

/// Whether a rustls error is anywhere in the chain. tokio-rustls and hyper-rustls wrap it in
/// `io::Error`s, whose `source()` skips the error they wrap: so descend through `get_ref()`.
fn caused_by_tls(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if error.is::<rustls::Error>() {
            return true;
        }
        next = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    false
}

/// Pooled HTTP/1.1 and HTTP/2 clients for one upstream (one route, or the default): one per
/// worker, so a connection to the upstream is made, driven and reused on one thread only.
pub struct Upstream {
    clients: Vec<Client<HttpsConnector<Dialer>, Full<Bytes>>>,
    url: UpstreamUrl,
    timeout: Duration,
    /// The longest answer body read; a longer answer is refused, not held.
    max_answer: usize,
}

impl Upstream {
    /// Clients for `url` (one per worker), dialling `connect_to` instead of resolving the host
    /// when given, and trusting the system's roots plus `ca_file` for `https://`.
    pub fn new(
        url: &UpstreamUrl,
        connect_to: Option<SocketAddr>,
        trust: &Trust,
        ca_file: Option<&Path>,
        timeout: Duration,
        max_answer: usize,
        workers: usize,
    ) -> anyhow::Result<Upstream> {
        let dialer = Dialer {
            connect_to,
            timeout,
        };
        let builder = HttpsConnectorBuilder::new();
        // A plain-HTTP upstream needs no trust store (and a machine may have none).
        let connector = if url.tls {
            builder.with_tls_config(trust.client_config(ca_file)?)
        } else {
            builder.with_tls_config(
                rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
            )
        }
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(dialer);
        let clients = (0..workers.max(1))
            .map(|_| {
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(30))
                    .build(connector.clone())
            })
            .collect();
        Ok(Upstream {
            clients,
            url: url.clone(),
            timeout,
            max_answer,
        })
    }

    /// Where a request for `host` goes, `scheme://host[:port]`, for logs.
    pub fn base(&self, host: &str) -> String {
        self.url.base(host)
    }

    /// Sends the request to this upstream (`host`: the host the client asked for, used by
    /// `{host}` routes) and reads the whole answer within the timeout.
    pub async fn forward(
        &self,
        parts: &hyper::http::request::Parts,
        body: Bytes,
        client_ip: IpAddr,
        host: &str,
    ) -> Result<Response<Full<Bytes>>, UpstreamError> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let uri: Uri = format!("{}{path}", self.url.base(host))
            .parse()
            .map_err(|_| UpstreamError::Protocol)?;
        let headers = forwarded_headers(&parts.headers, client_ip);
        let attempt = || {
            let mut request = Request::new(Full::new(body.clone()));
            *request.method_mut() = parts.method.clone();
            *request.uri_mut() = uri.clone();
            *request.headers_mut() = headers.clone();
            let client = &self.clients[super::worker::index() % self.clients.len()];
            async move {
                let response = client.request(request).await?;
                let (parts, body) = response.into_parts();
                // Read at most `max_answer` bytes: a huge answer is refused, never held whole.
                let body = http_body_util::Limited::new(body, self.max_answer)
                    .collect()
                    .await
                    .map(|c| c.to_bytes());
                Ok::<_, hyper_util::client::legacy::Error>((parts, body))
            }
        };
        let exchange = async {
            match attempt().await {
                Err(e) if e.is_connect() && !caused_by_tls(&e) => attempt().await,
                other => other,
            }
        };
        let (mut parts, body) = match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => return Err(UpstreamError::Timeout),
            Ok(Err(e)) => return Err(UpstreamError::of(&e)),
            Ok(Ok(answer)) => answer,
        };
        let body = body.map_err(|error| {
            if error.is::<http_body_util::LengthLimitError>() {
                UpstreamError::TooLarge
            } else {
                UpstreamError::Protocol
            }
        })?;
        parts.headers = without_hop_by_hop(&parts.headers, 0);
        Ok(Response::from_parts(parts, Full::new(body)))
    }
}

/// Opens the TCP connection under TLS: to `connect_to` when set, else to the URI's host
/// (resolved by the system) and port.
#[derive(Clone)]
pub struct Dialer {
    connect_to: Option<SocketAddr>,
    timeout: Duration,
}

impl tower_service::Service<Uri> for Dialer {
    type Response = TokioIo<TcpStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<TokioIo<TcpStream>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connect_to = self.connect_to;
        let timeout = self.timeout;
        Box::pin(async move {
            let connect = async {
                match connect_to {
                    Some(address) => TcpStream::connect(address).await,
                    None => {
                        let host = uri
                            .host()
                            .ok_or_else(|| std::io::Error::other("no host in the upstream URI"))?
                            .trim_start_matches('[')
                            .trim_end_matches(']');
                        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
                            Some("https") => 443,
                            _ => 80,
                        });
                        TcpStream::connect((host, port)).await
                    }
                }
            };
            let stream = tokio::time::timeout(timeout, connect)
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
            stream.set_nodelay(true)?;
            Ok(TokioIo::new(stream))
        })
    }
}

/// The client's headers, in their order, minus hop-by-hop ones (and any the `Connection`
/// header names), with the client's address appended to `X-Forwarded-For`. `Content-Length`
/// stays (the body is forwarded whole, so it is still true); a de-chunked body gets one from
/// the client library.
fn forwarded_headers(original: &HeaderMap, client_ip: IpAddr) -> HeaderMap {
    let forwarded_for = HeaderName::from_static("x-forwarded-for");
    // Room for the one header added: a full map would grow (rehash) to take it.
    let mut headers = without_hop_by_hop(original, 1);
    let value = match original.get(&forwarded_for).and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {client_ip}"),
        None => client_ip.to_string(),
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        // `insert` keeps an existing name's place in the map.
        headers.insert(forwarded_for, value);
    }
    headers
}

/// A copy without hop-by-hop headers, built anew: `HeaderMap::remove` would move the last
/// header into the removed one's place, and a proxy should keep the order the client sent.
/// `room` is how many headers the caller will add.
fn without_hop_by_hop(headers: &HeaderMap, room: usize) -> HeaderMap {
    let named: Vec<HeaderName> = headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    let mut kept = HeaderMap::with_capacity(headers.len() + room);
    for (name, value) in headers {
        if !taskgate_filter::HOP_BY_HOP.contains(&name.as_str()) && !named.contains(name) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}
