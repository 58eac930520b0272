//! Real TLS for the tests: a CA and certificates made at test time (rcgen), an HTTPS upstream
//! on loopback that records every request it reads (rustls + hyper, HTTP/1.1 and HTTP/2 by
//! ALPN), and TLS clients with the test CA trusted.

#![expect(
    clippy::expect_used,
    reason = "test support: a set-up that fails is a failed test"
)]

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::convert::Infallible;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate authority made for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf certificate and its key, PEM.
#[derive(Clone)]
pub struct Leaf {
    /// The certificate chain (leaf first, then the CA).
    pub cert_pem: String,
    /// The private key (PKCS#8).
    pub key_pem: String,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    /// The CA certificate, PEM: what a client trusts.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for these DNS names (or IP addresses), signed by this CA.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, "taskgate test server");
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        Leaf {
            cert_pem: format!("{}{}", cert.pem(), self.pem()),
            key_pem: key.serialize_pem(),
        }
    }

    /// Writes `ca.pem` and, for each `(stem, leaf)`, `stem.pem` and `stem.key` into `dir`.
    pub fn write(&self, dir: &Path, leaves: &[(&str, &Leaf)]) {
        std::fs::create_dir_all(dir).expect("pki dir");
        std::fs::write(dir.join("ca.pem"), self.pem()).expect("ca.pem");
        for (stem, leaf) in leaves {
            std::fs::write(dir.join(format!("{stem}.pem")), &leaf.cert_pem).expect("cert");
            std::fs::write(dir.join(format!("{stem}.key")), &leaf.key_pem).expect("key");
        }
    }
}

/// One request as the HTTPS upstream read it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// The method.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The `Host` header (HTTP/1.1) or the authority (HTTP/2).
    pub host: String,
    /// Every header, names lower case, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTPS server on 127.0.0.1 that records what it receives and answers every request with
/// `status` and `answer` after `delay`.
pub struct HttpsRecorder {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Recorded>>>,
    accepted: Arc<AtomicUsize>,
}

impl HttpsRecorder {
    /// Starts it on its own thread and runtime.
    pub fn start(leaf: &Leaf, status: u16, answer: &'static str, delay: Duration) -> HttpsRecorder {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .expect("chain");
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key");
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server config");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (record, count) = (Arc::clone(&seen), Arc::clone(&accepted));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                while let Ok((stream, _)) = listener.accept().await {
                    count.fetch_add(1, Ordering::SeqCst);
                    let (acceptor, record) = (acceptor.clone(), Arc::clone(&record));
                    tokio::spawn(async move {
                        let Ok(stream) = acceptor.accept(stream).await else {
                            return;
                        };
                        let service =
                            service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                                let record = Arc::clone(&record);
                                async move {
                                    let (parts, body) = request.into_parts();
                                    let body = body
                                        .collect()
                                        .await
                                        .map(|b| b.to_bytes())
                                        .unwrap_or_default();
                                    let host = parts
                                        .headers
                                        .get("host")
                                        .and_then(|v| v.to_str().ok())
                                        .map(str::to_owned)
                                        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
                                        .unwrap_or_default();
                                    record.lock().expect("lock").push(Recorded {
                                        version: format!("{:?}", parts.version),
                                        method: parts.method.to_string(),
                                        path: parts
                                            .uri
                                            .path_and_query()
                                            .map_or("/".to_owned(), |p| p.to_string()),
                                        host,
                                        headers: parts
                                            .headers
                                            .iter()
                                            .map(|(n, v)| {
                                                (
                                                    n.to_string(),
                                                    String::from_utf8_lossy(v.as_bytes())
                                                        .into_owned(),
                                                )
                                            })
                                            .collect(),
                                        body: body.to_vec(),
                                    });
                                    tokio::time::sleep(delay).await;
                                    let mut response = hyper::Response::new(Full::new(
                                        Bytes::from_static(answer.as_bytes()),
                                    ));
                                    *response.status_mut() =
                                        hyper::StatusCode::from_u16(status).expect("status");
                                    response.headers_mut().insert(
                                        "content-type",
                                        hyper::header::HeaderValue::from_static("application/json"),
                                    );
                                    Ok::<_, Infallible>(response)
                                }
                            });
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        HttpsRecorder {
            addr,
            seen,
            accepted,
        }
    }

    /// Every request read so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().expect("lock").clone()
    }

    /// TCP connections accepted so far (a failed handshake counts too).
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// A TLS client configuration trusting `ca_pem` only, offering these ALPN protocols.
pub fn client_config(ca_pem: &str, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// What a TLS round trip with the gateway gave.
pub struct TlsAnswer {
    /// The ALPN protocol agreed, if any.
    pub alpn: Option<Vec<u8>>,
    /// The raw HTTP/1.1 response (head and body) until the server closed or `read_for` ended.
    pub raw: Vec<u8>,
}

/// Connects to `addr` with SNI `name`, verifies the server's certificate against `ca_pem` and
/// `name`, sends `request` (raw HTTP/1.1) and reads until the server closes or 10 s pass. A
/// handshake failure (a certificate not valid for `name`, say) is the error.
pub fn https_round_trip(
    addr: SocketAddr,
    name: &str,
    ca_pem: &str,
    request: &[u8],
) -> Result<TlsAnswer, String> {
    let mut session = TlsSession::connect(addr, name, ca_pem)?;
    let stream = &mut session.stream;
    stream.write_all(request).map_err(|e| e.to_string())?;
    let alpn = stream.conn.alpn_protocol().map(<[u8]>::to_vec);
    let mut raw = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buffer[..n]),
            Err(e) if raw.is_empty() => return Err(e.to_string()),
            Err(_) => break,
        }
    }
    Ok(TlsAnswer { alpn, raw })
}

/// A kept-alive HTTP/1.1 connection over TLS, for several requests in a row.
pub struct TlsSession {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl TlsSession {
    /// Connects and completes the handshake with SNI `name`, trusting `ca_pem` only.
    pub fn connect(addr: SocketAddr, name: &str, ca_pem: &str) -> Result<TlsSession, String> {
        let config = client_config(ca_pem, &[b"http/1.1"]);
        let server_name = ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
        let connection =
            rustls::ClientConnection::new(config, server_name).map_err(|e| e.to_string())?;
        let socket = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let mut stream = rustls::StreamOwned::new(connection, socket);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| e.to_string())?;
        }
        Ok(TlsSession { stream })
    }

    /// Sends one raw request and reads one response with a Content-Length body: the raw bytes.
    pub fn round_trip(&mut self, request: &[u8]) -> Result<Vec<u8>, String> {
        self.stream.write_all(request).map_err(|e| e.to_string())?;
        crate::read_message(&mut self.stream).ok_or_else(|| "the connection closed".to_owned())
    }
}

/// Sends one request over HTTP/2 on TLS (ALPN h2) and returns the status and body.
pub fn h2_round_trip(
    addr: SocketAddr,
    name: &str,
    ca_pem: &str,
    request: hyper::Request<Full<Bytes>>,
) -> Result<(u16, Vec<u8>), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let connector = tokio_rustls::TlsConnector::from(client_config(ca_pem, &[b"h2"]));
        let socket = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let server_name = ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
        let stream = connector
            .connect(server_name, socket)
            .await
            .map_err(|e| e.to_string())?;
        if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err("the server did not agree to h2".to_owned());
        }
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, body.to_vec()))
    })
}
