//! One client connection, from accept to close: admitted under the connection caps, served
//! (HTTP/1.1 or HTTP/2, plain or TLS) while it is used, and closed when it is not.
//!
//! Every connection has a timer from the moment it is accepted: when no request of it is in
//! flight and none has started or ended for `read_timeout`, it is closed (gracefully: HTTP/2
//! gets a GOAWAY). That one rule covers a client that connects and says nothing, one that stops
//! inside the HTTP/2 preface or a request head, and an idle keep-alive or HTTP/2 connection,
//! whose PINGs are not requests and so keep nothing open.

use super::framing::{BothLengths, Framing, Heads, Watched};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// How long a connection being closed (idle, or at shutdown with nothing in flight) may take
/// to say goodbye before it is dropped.
const GOODBYE: Duration = Duration::from_secs(1);

/// The connections open now, against `max_connections` and `max_connections_per_client`.
pub struct Connections {
    max_total: usize,
    max_per_client: usize,
    total: AtomicUsize,
    per_client: Mutex<HashMap<IpAddr, usize>>,
    /// Signalled whenever a connection closes (shutdown waits for the last one).
    closed: Notify,
    /// Set once, at shutdown: every connection finishes what it has in flight and closes.
    shutdown: watch::Sender<bool>,
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    /// `max_connections` are open.
    Total,
    /// This client has `max_connections_per_client` open.
    PerClient,
}

impl Refusal {
    /// The label in metrics.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Total => "max_connections",
            Refusal::PerClient => "max_connections_per_client",
        }
    }
}

/// An admitted connection's place; given back when dropped, however the connection ends.
pub struct Slot {
    connections: Arc<Connections>,
    client: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut per_client) = self.connections.per_client.lock()
            && let Some(count) = per_client.get_mut(&self.client)
        {
            *count -= 1;
            if *count == 0 {
                per_client.remove(&self.client);
            }
        }
        self.connections.total.fetch_sub(1, Ordering::AcqRel);
        self.connections.closed.notify_waiters();
    }
}

impl Connections {
    /// Caps of `max_total` connections, `max_per_client` of them from one address.
    pub fn new(max_total: usize, max_per_client: usize) -> Arc<Connections> {
        Arc::new(Connections {
            max_total,
            max_per_client,
            total: AtomicUsize::new(0),
            per_client: Mutex::new(HashMap::new()),
            closed: Notify::new(),
            shutdown: watch::Sender::new(false),
        })
    }

    /// A place for a new connection from `client`, or why there is none.
    pub fn enter(self: &Arc<Self>, client: IpAddr) -> Result<Slot, Refusal> {
        let mut per_client = self.per_client.lock().map_err(|_| Refusal::Total)?;
        if self.total.load(Ordering::Acquire) >= self.max_total {
            return Err(Refusal::Total);
        }
        let count = per_client.entry(client).or_insert(0);
        if *count >= self.max_per_client {
            return Err(Refusal::PerClient);
        }
        *count += 1;
        self.total.fetch_add(1, Ordering::AcqRel);
        Ok(Slot {
            connections: Arc::clone(self),
            client,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// Tells every connection to finish what it has in flight and close.
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    /// Waits until no connection is open.
    pub async fn drained(&self) {
        loop {
            let closed = self.closed.notified();
            if self.open() == 0 {
                return;
            }
            closed.await;
        }
    }
}

/// What one connection's timer watches: requests in flight, and when one last started or ended.
struct Activity {
    epoch: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds since `epoch` of the last start or end of a request (or of the accept).
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Release);
    }

    /// When the connection may be closed as idle, if nothing happens before then; `None` while
    /// a request is in flight.
    fn idle_at(&self, timeout: Duration) -> Option<Instant> {
        (self.in_flight.load(Ordering::Acquire) == 0).then(|| {
            self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Acquire)) + timeout
        })
    }
}

/// A request of the connection, counted in flight until dropped (answered or abandoned).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.touch();
        InFlight(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How connections are served: hyper's builder and what the gateway adds around it.
pub struct Protocol {
    pub builder: auto::Builder<TokioExecutor>,
    /// How long a connection may be idle (no request in flight, none started or ended).
    pub idle: Duration,
    /// The head limits hyper enforces, for following HTTP/1 framing (see `framing`).
    pub max_head_bytes: usize,
    pub max_headers: usize,
}

/// Serves one admitted connection until the client closes it, it idles for `idle`, or the
/// gateway shuts down; then closes it. Runs on its own task; `handle` answers each request.
pub fn serve<I, H, F>(io: I, slot: Slot, handle: H, protocol: Arc<Protocol>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(hyper::Request<Incoming>) -> F + Send + 'static,
    F: Future<Output = hyper::Response<Full<Bytes>>> + Send + 'static,
{
    let activity = Activity::new();
    let mut shutdown = slot.connections.shutdown.subscribe();
    let requests = Arc::clone(&activity);
    let heads = Heads::new();
    let framing = Framing::new(
        Arc::clone(&heads),
        protocol.max_head_bytes,
        protocol.max_headers,
    );
    // Requests reach the service in the order their heads were read.
    let index = AtomicU64::new(0);
    let service = service_fn(move |mut request: hyper::Request<Incoming>| {
        if heads.both_lengths(index.fetch_add(1, Ordering::Relaxed)) {
            request.extensions_mut().insert(BothLengths);
        }
        let counted = InFlight::start(&requests);
        let handling = handle(request);
        async move {
            let response = handling.await;
            drop(counted);
            Ok::<_, Infallible>(response)
        }
    });
    tokio::spawn(async move {
        let _slot = slot;
        let idle = protocol.idle;
        let connection = protocol
            .builder
            .serve_connection(TokioIo::new(Watched::new(io, framing)), service);
        tokio::pin!(connection);
        loop {
            // While a request is in flight, look again after `idle`; the request's end counts as
            // activity, so the connection then gets a full `idle` more.
            let wake = activity
                .idle_at(idle)
                .unwrap_or_else(|| Instant::now() + idle);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = tokio::time::sleep_until(wake) => {
                    if activity.idle_at(idle).is_some_and(|at| at <= Instant::now()) {
                        break;
                    }
                }
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        // Idle, or shutting down: finish what is in flight (shutdown bounds the wait), say
        // goodbye (HTTP/2: GOAWAY), close.
        connection.as_mut().graceful_shutdown();
        if activity.in_flight.load(Ordering::Acquire) == 0 {
            let _ = tokio::time::timeout(GOODBYE, connection).await;
        } else {
            let _ = connection.await;
        }
    });
}
