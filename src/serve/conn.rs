//! One connection's bookkeeping for [`super::Server`]: what it is doing ([`Activity`]: requests
//! in flight, when it went idle, when the next head began) and so when it overstays its time
//! bound; the response body and the stream wrappers that report to it.

use std::{
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
    time::Instant,
};

use axum::body::Body;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    sync::{Notify, OwnedSemaphorePermit},
};

use super::ConnLimits;

/// What a connection is doing, for its time bounds.
#[derive(Debug)]
pub(super) struct Activity {
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
    pub(super) fn new() -> Arc<Self> {
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
    pub(super) fn begin(self: &Arc<Self>) -> InFlight {
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
    pub(super) async fn expired(&self, limits: ConnLimits) -> &'static str {
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
pub(super) struct InFlight(Arc<Activity>);

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
pub(super) struct TrackedBody {
    pub(super) inner: Body,
    pub(super) _in_flight: InFlight,
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
pub(super) struct TrackedStream {
    pub(super) inner: TcpStream,
    pub(super) activity: Arc<Activity>,
    pub(super) _slot: OwnedSemaphorePermit,
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
