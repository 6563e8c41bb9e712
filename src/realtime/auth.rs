//! Socket.IO authentication (the transport side of [`crate::auth`]): [`authenticate`] is connect
//! middleware (it runs before the socket joins the namespace, so a refused client gets
//! `connect_error` with the reason and never sees a CONNECT); [`check_variant`] guards
//! `subscribe`; an expiry timer per socket sends `auth_expired` and disconnects the socket when
//! its token's `exp` passes.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use serde_json::{Value, json};
use socketioxide::{
    SocketIo,
    extract::{SocketRef, State, TryData},
    socket::Sid,
};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::protocol::ProtoError;
use crate::auth::{AuthError, Grants, MaybeVerifier};

/// The verifier as socketioxide state (`None` when authentication is off).
#[derive(Debug, Clone, Default)]
pub struct SocketAuth(pub MaybeVerifier);

/// Ends the socket's expiry timer when the socket (and with it its extensions) is dropped.
#[derive(Debug, Clone)]
struct ExpiryTimer(#[allow(dead_code)] Arc<DropGuard>);

/// Connect middleware: checks `auth.token` of the handshake and keeps the token's grants in
/// the socket's extensions.
pub async fn authenticate(
    socket: SocketRef,
    io: SocketIo,
    State(auth): State<SocketAuth>,
    TryData(data): TryData<Value>,
) -> Result<(), AuthError> {
    let Some(verifier) = auth.0 else {
        return Ok(());
    };
    let token = data
        .ok()
        .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_owned));
    let claims = token
        .map_or(Err(AuthError::Missing), |t| verifier.verify(&t))
        .inspect_err(|err| {
            tracing::info!(sid = %socket.id, reason = %err, "Socket.IO connection refused");
            metrics::counter!("signalgate_connections_refused_total", "reason" => "auth")
                .increment(1);
        })?;
    tracing::debug!(sid = %socket.id, sub = %claims.sub, "socket authenticated");
    // `None`: `exp` is beyond what the clock can represent; the token outlives the process.
    let left = claims.left(SystemTime::now());
    socket
        .extensions
        .insert(Arc::new(Grants::new(claims.variants)));
    let guard = CancellationToken::new();
    socket
        .extensions
        .insert(ExpiryTimer(Arc::new(guard.clone().drop_guard())));
    if let Some(left) = left {
        tokio::spawn(expire(io, socket.id, left, guard));
    }
    Ok(())
}

/// Waits `left`, then tells the socket why and disconnects it; ends early when the socket is
/// gone (`gone` is cancelled when its extensions drop).
async fn expire(io: SocketIo, sid: Sid, left: Duration, gone: CancellationToken) {
    tokio::select! {
        _ = gone.cancelled() => {}
        _ = tokio::time::sleep(left) => {
            let Some(socket) = io.get_socket(sid) else { return };
            tracing::info!(%sid, "token expired: disconnecting the socket");
            let reason = json!({
                "code": "token_expired",
                "message": "the token expired; reconnect with a fresh one",
            });
            let _ = socket.emit("auth_expired", &reason);
            let _ = socket.disconnect();
        }
    }
}

/// `Ok` when the socket may read `variant` (always, when authentication is off).
pub fn check_variant(socket: &SocketRef, variant: &str) -> Result<(), ProtoError> {
    match socket.extensions.get::<Arc<Grants>>() {
        Some(g) if !g.allows(variant) => {
            tracing::info!(sid = %socket.id, %variant, "subscribe refused: variant not granted");
            Err(ProtoError::new(
                "forbidden",
                format!("the token does not grant variant '{variant}'"),
            ))
        }
        _ => Ok(()),
    }
}
