//! The HTTP server: our own accept loop over hyper (HTTP/1.1 and HTTP/2, with upgrades for
//! websockets) instead of `axum::serve`, which has no bound on how long a connection may sit
//! there. Every connection is bounded in time and in number:
//!
//! * **header timeout** (`--http-header-timeout-ms`): a request's head must arrive within this
//!   time, counted from the accept on a new connection and from its first byte on a kept-alive
//!   one. A silent connection and one that trickles its headers (slowloris) are closed.
//! * **idle timeout** (`--http-idle-timeout-ms`): a kept-alive connection with no request in
//!   flight and nothing received is closed after this time. A request in flight is never idle:
//!   an Engine.IO long-polling `GET` held until the next ping, or a response body being sent.
//! * **open connections** (`--max-http-connections`): beyond it a new connection gets an
//!   immediate `503` and is closed (counted in `signalgate_http_connections_refused_total`). A
//!   connection upgraded to a websocket keeps its slot until it closes.
//!
//! Graceful shutdown: the accept loop stops, every connection is told to finish its requests
//! and close (hyper's `graceful_shutdown`), and [`Server::run`] returns once all are closed;
//! the caller bounds that wait with `--shutdown-timeout`.

mod conn;

use std::{
    future::Future,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{Router, body::Body, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

use conn::{Activity, TrackedBody, TrackedStream};

/// The time and number bounds of HTTP connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// A request head must arrive within this time.
    pub header_timeout: Duration,
    /// A kept-alive connection with nothing in flight is closed after this time.
    pub idle_timeout: Duration,
    /// Most open connections.
    pub max_connections: usize,
}

/// The body of the 503 sent to a connection beyond `--max-http-connections`.
const FULL_BODY: &str = r#"{"error":{"code":"too_many_connections","message":"too many open HTTP connections; retry later"}}"#;
/// The whole response: a connection is refused before any request is read.
static FULL_RESPONSE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{FULL_BODY}",
        FULL_BODY.len()
    )
});
/// After a failed accept (e.g. out of file descriptors) wait this long before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one WARN line per this period about refused connections.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// An HTTP server bound to a listener.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
}

impl Server {
    /// A server for `router` on `listener`.
    pub fn new(listener: TcpListener, router: Router, limits: ConnLimits) -> Self {
        Self {
            listener,
            router,
            limits,
        }
    }

    /// Serves until `stop` resolves, then stops accepting, lets every connection finish its
    /// requests and close, and returns when all are closed (or when the returned future is
    /// dropped: every connection is then dropped too).
    pub async fn run(self, stop: impl Future<Output = ()>) {
        let Self {
            listener,
            router,
            limits,
        } = self;
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let connections = TaskTracker::new();
        // Cancelled when `stop` resolves: connections finish their requests and close.
        let closing = CancellationToken::new();
        // Cancelled when this future is dropped (the shutdown deadline): connections are dropped.
        let abort = CancellationToken::new();
        let _abort_on_drop = abort.clone().drop_guard();
        let mut refused = Refusals::default();
        tokio::pin!(stop);
        loop {
            let accepted = tokio::select! {
                _ = &mut stop => break,
                r = listener.accept() => r,
            };
            let (stream, peer) = match accepted {
                Ok(conn) => conn,
                Err(err) => {
                    tracing::debug!(error = %err, "accept failed");
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    }
                }
            };
            tracing::trace!(%peer, "connection accepted");
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                refused.refuse(stream, limits.max_connections);
                continue;
            };
            let conn =
                serve_connection(stream, peer, slot, router.clone(), limits, closing.clone());
            let abort = abort.clone();
            connections.spawn(async move {
                tokio::select! {
                    _ = conn => {}
                    _ = abort.cancelled() => {}
                }
            });
        }
        drop(listener);
        closing.cancel();
        connections.close();
        connections.wait().await;
    }
}

/// Counts and (sparingly) logs connections refused because the server is full.
#[derive(Debug, Default)]
struct Refusals {
    since_log: u64,
    logged: Option<Instant>,
}

impl Refusals {
    fn refuse(&mut self, stream: TcpStream, max: usize) {
        metrics::counter!("signalgate_http_connections_refused_total").increment(1);
        // A fresh socket's send buffer is empty: the short answer fits without waiting.
        let _ = stream.try_write(FULL_RESPONSE.as_bytes());
        drop(stream);
        self.since_log += 1;
        if self.logged.is_none_or(|t| t.elapsed() >= REFUSAL_LOG_EVERY) {
            tracing::warn!(
                refused = self.since_log,
                max,
                "HTTP connections refused: --max-http-connections reached"
            );
            self.since_log = 0;
            self.logged = Some(Instant::now());
        }
    }
}

/// Serves one connection until it ends, overstays its time bound, or (after `closing`) has
/// finished its requests.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: OwnedSemaphorePermit,
    router: Router,
    limits: ConnLimits,
    closing: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    let io = TokioIo::new(TrackedStream {
        inner: stream,
        activity: activity.clone(),
        _slot: slot,
    });
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let in_flight = requests.begin();
        // The peer address feeds the REST rate limit.
        req.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move {
            let Ok(response) = router.oneshot(req).await;
            Ok::<_, std::convert::Infallible>(response.map(|inner| {
                Body::new(TrackedBody {
                    inner,
                    _in_flight: in_flight,
                })
            }))
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Our own deadlines apply; hyper's header timer would also cut idle keep-alive connections.
    builder.http1().header_read_timeout(None);
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);
    let mut graceful = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(err) = served {
                    tracing::debug!(%peer, error = %err, "HTTP connection ended with an error");
                }
                return;
            }
            why = activity.expired(limits) => {
                tracing::debug!(%peer, why, "closing HTTP connection");
                metrics::counter!("signalgate_http_connections_timed_out_total", "reason" => why)
                    .increment(1);
                return;
            }
            _ = closing.cancelled(), if !graceful => {
                graceful = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
