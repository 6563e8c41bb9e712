//! `GET /healthz` (the process is up) and `GET /readyz` (the database answers, the live state
//! is loaded and the poller completed a poll recently — a wedged poller must not look ready; a
//! group follower counts the leader's heartbeats instead). The body also shows the group role
//! and term, and per variant how far this instance is behind the database (`lag`).

use std::time::Duration;

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

use super::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(ready))
}

/// `/readyz` answers within this bound even when the pool's acquire timeout is long: a probe
/// that hangs is as bad as one that fails.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

async fn ready(State(state): State<AppState>) -> Result<Response, ApiError> {
    if let Err(err) = state.store.ping_within(PING_TIMEOUT).await {
        tracing::debug!(error = %err, "readiness: database not available");
        return Err(ApiError::Unavailable);
    }
    let since = state.poller.since_last_poll();
    let last_poll_ms = since.map(|d| d.as_millis() as u64);
    let polling = since.is_some_and(|d| d <= state.poll_stale_after);
    let loaded = state.hub.is_loaded();
    let body = json!({
        "status": if polling && loaded { "ready" } else { "not_ready" },
        "database": state.store.backend(),
        "realtime": loaded,
        "last_poll_ms_ago": last_poll_ms,
        "group": state.group.to_json(),
        "lag": lag(&state).await?,
    });
    if polling && loaded {
        return Ok(Json(body).into_response());
    }
    let message = if loaded {
        format!(
            "the poller has not completed a poll for {}",
            last_poll_ms.map_or("ever".to_owned(), |ms| format!("{ms} ms"))
        )
    } else {
        "the live state is not loaded yet".to_owned()
    };
    Ok((
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"error": {"code": "not_ready", "message": message}, "status": body})),
    )
        .into_response())
}

/// Per variant: how many seqs the database is ahead of this instance's head.
async fn lag(state: &AppState) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let db = state
        .store
        .poll_state()
        .await
        .map_err(|_| ApiError::Unavailable)?;
    let mine = state.hub.seed().heads;
    Ok(db
        .seqs
        .into_iter()
        .map(|(variant, head)| {
            let have = mine.get(&variant).copied().unwrap_or(0);
            (variant, json!((head - have).max(0)))
        })
        .collect())
}
