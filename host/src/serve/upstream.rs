//! Forwarding to the workflow engine: the original method, path, query, headers (Host included,
//! since ACS3 signs it) and body; hop-by-hop headers aside and `X-Forwarded-For` added. The
//! request is retried only when the upstream provably never received it (connect failure).

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::IpAddr;
use std::time::Duration;

/// Why forwarding failed; each is answered `InternalServerError` and counted by kind.
#[derive(Debug)]
pub enum UpstreamError {
    /// No connection could be made (the request was never sent).
    Connect,
    /// No complete answer within the timeout.
    Timeout,
    /// The connection broke or the answer was not HTTP.
    Protocol,
}

impl UpstreamError {
    /// The label used in metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Connect => "connect",
            UpstreamError::Timeout => "timeout",
            UpstreamError::Protocol => "protocol",
        }
    }
}

/// A pooled HTTP/1.1 client for one upstream.
pub struct Upstream {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    timeout: Duration,
}

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

impl Upstream {
    /// A client for `base` (`http://host:port`).
    pub fn new(base: &str, timeout: Duration) -> Upstream {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Upstream {
            client,
            base: base.trim_end_matches('/').to_owned(),
            timeout,
        }
    }

    /// Sends the request and reads the whole answer within the timeout.
    pub async fn forward(
        &self,
        parts: &hyper::http::request::Parts,
        body: Bytes,
        client_ip: IpAddr,
    ) -> Result<Response<Full<Bytes>>, UpstreamError> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let uri: Uri = format!("{}{path}", self.base)
            .parse()
            .map_err(|_| UpstreamError::Protocol)?;
        let headers = forwarded_headers(&parts.headers, client_ip);
        let attempt = || {
            let mut request = Request::new(Full::new(body.clone()));
            *request.method_mut() = parts.method.clone();
            *request.uri_mut() = uri.clone();
            *request.headers_mut() = headers.clone();
            let client = &self.client;
            async move {
                let response = client.request(request).await?;
                let (parts, body) = response.into_parts();
                let body = body.collect().await.map(|c| c.to_bytes());
                Ok::<_, hyper_util::client::legacy::Error>((parts, body))
            }
        };
        let exchange = async {
            match attempt().await {
                Err(e) if e.is_connect() => attempt().await,
                other => other,
            }
        };
        let (mut parts, body) = match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => return Err(UpstreamError::Timeout),
            Ok(Err(e)) if e.is_connect() => return Err(UpstreamError::Connect),
            Ok(Err(_)) => return Err(UpstreamError::Protocol),
            Ok(Ok(answer)) => answer,
        };
        let body = body.map_err(|_| UpstreamError::Protocol)?;
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, Full::new(body)))
    }
}

/// The client's headers minus hop-by-hop ones (and any the `Connection` header names), with the
/// client's address appended to `X-Forwarded-For`. `Content-Length` is set anew from the body.
fn forwarded_headers(original: &HeaderMap, client_ip: IpAddr) -> HeaderMap {
    let mut headers = original.clone();
    strip_hop_by_hop(&mut headers);
    headers.remove(hyper::header::CONTENT_LENGTH);
    let forwarded_for = match original
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(earlier) => format!("{earlier}, {client_ip}"),
        None => client_ip.to_string(),
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), value);
    }
    headers
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}
