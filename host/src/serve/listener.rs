//! Where connections arrive: the listening sockets, one per worker on the same address
//! (`SO_REUSEPORT`: the kernel spreads connections over them), each worker a thread with its own
//! event loop, and the accept loop that admits connections under their caps and completes TLS
//! handshakes before a connection is served.

use super::connection::{self, Protocol};
use super::exchange::Exchange;
use super::gateway::Gateway;
use super::worker;
use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio_rustls::TlsAcceptor;

/// A listener on `address`; with `shared`, one that other workers' listeners may bind too
/// (`SO_REUSEPORT`, which Linux allows only to sockets of the same user).
pub fn listen(address: SocketAddr, shared: bool) -> std::io::Result<TcpListener> {
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

/// What every worker's accept loop shares.
#[derive(Clone)]
pub struct Accepting {
    pub gateway: Arc<Gateway>,
    pub protocol: Arc<Protocol>,
    /// TLS on the listener, when certificates are configured.
    pub acceptor: Option<TlsAcceptor>,
    /// How long a TLS handshake may take.
    pub read_timeout: Duration,
}

impl Accepting {
    /// Accepts connections on `listener` until `stopped` turns true; each is served on this
    /// thread's event loop.
    pub async fn run(&self, listener: TcpListener, mut stopped: watch::Receiver<bool>) {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stopped.wait_for(|stop| *stop) => return,
            };
            match accepted {
                Ok((stream, peer)) => self.take(stream, peer),
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    eprintln!("taskgate: accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// One accepted connection: closed at once over a cap (before a byte is read or a
    /// handshake made), else served, after its TLS handshake if TLS is on.
    fn take(&self, stream: TcpStream, peer: SocketAddr) {
        let gateway = &self.gateway;
        let slot = match gateway.connections.enter(peer.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                gateway.metrics.count_refused_connection(refusal.reason());
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        let protocol = Arc::clone(&self.protocol);
        let handler = Arc::clone(gateway);
        let handle = move |request| Exchange::handle(Arc::clone(&handler), request, peer);
        let Some(acceptor) = &self.acceptor else {
            connection::serve(stream, slot, handle, protocol);
            return;
        };
        let (acceptor, read_timeout, gateway) =
            (acceptor.clone(), self.read_timeout, Arc::clone(gateway));
        tokio::spawn(async move {
            // A client that never finishes its handshake holds nothing for long.
            match tokio::time::timeout(read_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => connection::serve(stream, slot, handle, protocol),
                Ok(Err(_)) | Err(_) => {
                    let failures = &gateway.metrics.tls_handshake_failures;
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
}

/// Starts worker `index`: a thread with its own single-threaded event loop and its own listener
/// on `address`, accepting until `stopped`, then serving what it has until every connection of
/// the gateway is closed (at most `grace`). Returns once its listener is bound.
pub async fn spawn_worker(
    index: usize,
    address: SocketAddr,
    accepting: Accepting,
    stopped: watch::Receiver<bool>,
    grace: Duration,
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
                let _ = tokio::time::timeout(grace, gateway.connections.drained()).await;
            });
        })
        .context("starting a worker thread")?;
    bound_rx
        .await
        .map_err(|_| anyhow::anyhow!("worker {index} ended before listening"))?
        .with_context(|| format!("worker {index}: listening on {address}"))?;
    Ok(thread)
}
