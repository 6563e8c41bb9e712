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

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{Router, body::Body, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Notify, OwnedSemaphorePermit, Semaphore},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

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

/// What a connection is doing, for its time bounds.
#[derive(Debug)]
struct Activity {
    state: Mutex<ActivityState>,
    /// Woken when the deadline may have moved earlier or gone away.
    changed: Notify,
}

#[derive(Debug)]
struct ActivityState {
    /// Requests whose response has not been sent completely.
    in_flight: usize,
    /// Requests served so far.
    served: u64,
    /// Since when nothing is in flight (the accept, or the end of the last response).
    idle_since: Instant,
    /// The first byte received since `idle_since` (the start of the next request's head).
    head_since: Option<Instant>,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                served: 0,
                idle_since: Instant::now(),
                head_since: None,
            }),
            changed: Notify::new(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived.
    fn received(&self) {
        let mut st = self.state();
        if st.in_flight == 0 && st.head_since.is_none() {
            st.head_since = Some(Instant::now());
            drop(st);
            self.changed.notify_one();
        }
    }

    /// A request head was parsed; the returned guard ends the request when dropped.
    fn begin(self: &Arc<Self>) -> InFlight {
        let mut st = self.state();
        st.in_flight += 1;
        st.head_since = None;
        drop(st);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// When the connection is to be closed, if nothing happens before; `None` while a request
    /// is in flight.
    fn deadline(&self, limits: &ConnLimits) -> Option<Instant> {
        let st = self.state();
        if st.in_flight > 0 {
            return None;
        }
        Some(match (st.served, st.head_since) {
            // A new connection: its first head must arrive within the header timeout.
            (0, _) => st.idle_since + limits.header_timeout,
            (_, Some(head)) => head + limits.header_timeout,
            (_, None) => st.idle_since + limits.idle_timeout,
        })
    }

    /// Resolves when the connection has overstayed its time bound.
    async fn expired(&self, limits: ConnLimits) -> &'static str {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Register before reading the state, so no change is missed.
            notified.as_mut().enable();
            match self.deadline(&limits) {
                None => notified.await,
                Some(at) if at <= Instant::now() => {
                    let st = self.state();
                    return match (st.served, st.head_since) {
                        (_, Some(_)) | (0, _) => "header timeout",
                        _ => "idle timeout",
                    };
                }
                Some(at) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(at.into()) => {}
                    }
                }
            }
        }
    }
}

/// One request in flight; dropped with its response body (sent or abandoned).
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut st = self.0.state();
        st.in_flight = st.in_flight.saturating_sub(1);
        st.served += 1;
        if st.in_flight == 0 {
            st.idle_since = Instant::now();
            st.head_since = None;
        }
        drop(st);
        self.0.changed.notify_one();
    }
}

/// A response body that keeps its request in flight until it is dropped.
#[derive(Debug)]
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The TCP stream of one connection: reports received bytes to its [`Activity`] and holds the
/// connection's slot (also once upgraded to a websocket).
#[derive(Debug)]
struct TrackedStream {
    inner: TcpStream,
    activity: Arc<Activity>,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for TrackedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.received();
        }
        polled
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
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
