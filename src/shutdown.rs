//! Shutdown: the OS signals that start one ([`signal`], SIGINT or SIGTERM), and the Socket.IO
//! side of a graceful shutdown: every connected socket is told
//! `server_shutdown {reconnect: true, reason}` before its connection is closed, so clients
//! reconnect at once (to another instance behind the load balancer) instead of after their
//! back-off; and new Engine.IO sessions are refused with 503 from then on, so an immediate
//! reconnect cannot land on (and hold open) the instance that is going away.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use axum::{
    Json,
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;
use socketioxide::SocketIo;
use tokio_util::sync::CancellationToken;

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM. Until it is first awaited the default
/// action of the signals (ending the process) applies.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// A token cancelled by the first [`signal`] from now on (for a subcommand that stops between
/// two steps rather than in the middle of one).
pub fn cancel_on_signal() -> CancellationToken {
    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        signal().await;
        on_signal.cancel();
    });
    stop
}

/// The event sent to every socket when the server shuts down.
pub const SHUTDOWN_EVENT: &str = "server_shutdown";

/// Set once the shutdown has begun.
#[derive(Debug, Clone, Default)]
pub struct Closing(Arc<AtomicBool>);

impl Closing {
    /// Whether the shutdown has begun.
    pub fn is_closing(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Middleware: while closing, a Socket.IO request that would open a new Engine.IO session (no
/// `sid`) gets 503 `shutting_down`; requests of existing sessions and REST pass.
pub async fn refuse_new_sessions(
    State(closing): State<Closing>,
    req: Request,
    next: Next,
) -> Response {
    let new_session = req.uri().path().starts_with("/socket.io")
        && !req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p.starts_with("sid=")));
    if new_session && closing.is_closing() {
        let body = json!({"error": {"code": "shutting_down",
            "message": "this instance is shutting down; reconnect to another one"}});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    next.run(req).await
}

/// Refuses new sessions, tells every connected socket [`SHUTDOWN_EVENT`], then closes all of
/// them (clients see the message, then `transport close`).
pub async fn close_sockets(io: &SocketIo, closing: &Closing) {
    closing.0.store(true, Ordering::Release);
    let sockets = io.of("/").map(|ns| ns.sockets()).unwrap_or_default();
    let message = json!({"reconnect": true, "reason": "shutting down"});
    let mut told = 0;
    for socket in &sockets {
        // A socket whose buffer is full is closed below anyway.
        if socket.emit(SHUTDOWN_EVENT, &message).is_ok() {
            told += 1;
        }
    }
    tracing::info!(
        sockets = sockets.len(),
        told,
        "told clients to reconnect elsewhere"
    );
    io.close().await;
    // socketioxide 0.18 drops the namespace from its client before the closed transports report
    // back, so closed sockets stay in the namespace they point to: a cycle that keeps all
    // Socket.IO state (and the hub) alive. Detaching them breaks it; their transports are closed
    // already, so clients still see `transport close`.
    for socket in sockets {
        let _ = socket.disconnect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{Router, body::Body, routing::get};
    use tower::ServiceExt;

    async fn status(closing: &Closing, uri: &str) -> StatusCode {
        let app = Router::new().fallback(get(|| async { "ok" })).layer(
            axum::middleware::from_fn_with_state(closing.clone(), refuse_new_sessions),
        );
        let req = Request::builder()
            .uri(uri)
            .body(Body::empty())
            .unwrap_or_default();
        app.oneshot(req)
            .await
            .map_or(StatusCode::IM_A_TEAPOT, |r| r.status())
    }

    #[tokio::test]
    async fn only_new_engine_io_sessions_are_refused_while_closing() {
        let closing = Closing::default();
        let handshake = "/socket.io/?EIO=4&transport=polling";
        let session = "/socket.io/?EIO=4&transport=polling&sid=abc";
        assert_eq!(status(&closing, handshake).await, StatusCode::OK);
        closing.0.store(true, Ordering::Release);
        assert!(closing.is_closing());
        assert_eq!(
            status(&closing, handshake).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(&closing, "/socket.io/?EIO=4&transport=websocket").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(status(&closing, session).await, StatusCode::OK);
        assert_eq!(status(&closing, "/api/variants").await, StatusCode::OK);
    }
}
