//! `GET /healthz` (the process is up) and `GET /readyz` (the database answers, the live state
//! is loaded and the poller completed a poll recently — a wedged poller must not look ready; a
//! group follower counts the leader's heartbeats instead). The body also shows the group role
//! and term, the database identity, how far this instance is behind the database in aggregate
//! (`lag_max`, `variants_behind`) and per variant (`lag`). With authentication on, `lag` names
//! only the variants the caller's bearer token grants (none for an anonymous probe), as
//! `/api/variants` does.

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, AppState,
    error::{ErrorBody, ErrorDetail},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// The body of `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Always `ok`.
    #[schema(value_type = String, pattern = "^ok$")]
    pub status: &'static str,
}

/// Whether the instance is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    /// Serving.
    Ready,
    /// See the error message.
    NotReady,
}

/// The readiness details (`GET /readyz`; also under `status` in its 503).
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadyStatus {
    /// The store's backend: `mysql`, `postgres` or `sqlite`.
    #[schema(value_type = String, examples("sqlite"))]
    pub database: &'static str,
    /// The group role and term (`{"role":"standalone"}` without `--redis-url`).
    #[schema(value_type = GroupInfo)]
    pub group: serde_json::Value,
    /// The database's identity (`signalgate_meta`; null until the live state is loaded).
    #[schema(required = true)]
    pub database_id: Option<String>,
    /// Per variant, how many seqs the database is ahead of this instance. With authentication
    /// on, only the variants the bearer token grants (empty without a valid token).
    pub lag: BTreeMap<String, u64>,
    /// The largest lag over every variant.
    pub lag_max: u64,
    /// How many variants (of all) this instance is behind on.
    pub variants_behind: u64,
    /// Milliseconds since the poller last completed a poll (null: never).
    #[schema(required = true)]
    pub last_poll_ms_ago: Option<u64>,
    /// Whether the live state (snapshots and each variant's `seq`) is loaded.
    pub realtime: bool,
    /// `ready`, or `not_ready` in the 503.
    pub status: Readiness,
}

/// The `group` object of the readiness details (`GroupStatus::to_json`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Only its schema is used.
pub struct GroupInfo {
    /// `standalone`, `leader`, `follower` or `degraded`.
    #[schema(pattern = "^(standalone|leader|follower|degraded)$")]
    role: String,
    /// This instance's id in the group (group mode only).
    instance: Option<String>,
    /// `--redis-group` (group mode only).
    name: Option<String>,
    /// The database identity the group is bound to (group mode only).
    database_id: Option<String>,
    /// The leader's term (group mode only).
    term: Option<u64>,
    /// Milliseconds since the leader was last heard (group mode only).
    last_heard_ms_ago: Option<u64>,
    /// When this instance became leader, Unix milliseconds (group mode only).
    leader_since_unix_ms: Option<u64>,
    /// Counters (group mode only).
    degraded_entries: Option<u64>,
    /// Counters (group mode only).
    terms_won: Option<u64>,
    /// Counters (group mode only).
    repairs: Option<u64>,
    /// Counters (group mode only).
    resyncs: Option<u64>,
    /// Counters (group mode only).
    stale_dropped: Option<u64>,
    /// Counters (group mode only).
    test_dropped: Option<u64>,
}

/// The 503 of `GET /readyz`: `database_unavailable` (no `status`) or `not_ready` (with it).
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotReady {
    /// `database_unavailable` or `not_ready`.
    pub error: ErrorDetail,
    /// The readiness details (with `not_ready` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ReadyStatus>,
}

/// The process is up
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "Always `{\"status\":\"ok\"}`", body = Health))
)]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness
///
/// Ready when the signal tables can be read (within 1 s), the live state is loaded and the
/// poller completed a poll within `10 × --poll-interval-ms + 5 s` (a follower in group mode
/// counts the leader's heartbeats). Not ready (`not_ready` without `status`) once a critical
/// background task has ended unexpectedly: the process is then about to exit.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = ReadyStatus),
        (status = 503, description = "`database_unavailable`, or `not_ready` with the reason and the status", body = NotReady),
    )
)]
async fn readyz(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(task) = state.fault.failed() {
        return Ok(failed_task(task));
    }
    // Bounded by the store's own PING_TIMEOUT, whatever the pool's acquire timeout.
    if let Err(err) = state.store.ping().await {
        tracing::debug!(error = %err, "readiness: database not available");
        return Err(ApiError::Unavailable);
    }
    let since = state.poller.since_last_poll();
    let last_poll_ms = since.map(|d| d.as_millis() as u64);
    let polling = since.is_some_and(|d| d <= state.poll_stale_after);
    let loaded = state.hub.is_loaded();
    let ready = polling && loaded;
    let mut lag = lag(&state).await?;
    let lag_max = lag.values().copied().max().unwrap_or(0);
    let variants_behind = lag.values().filter(|l| **l > 0).count() as u64;
    let visible = visible(&state, &headers);
    lag.retain(|variant, _| visible(variant));
    let database_id = state.hub.database_id();
    let body = ReadyStatus {
        database_id: (!database_id.is_empty()).then_some(database_id),
        lag_max,
        variants_behind,
        status: if ready {
            Readiness::Ready
        } else {
            Readiness::NotReady
        },
        database: state.store.backend(),
        realtime: loaded,
        last_poll_ms_ago: last_poll_ms,
        group: state.group.to_json(),
        lag,
    };
    if ready {
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
    let ErrorBody { error } = ErrorBody::new("not_ready", message);
    let body = NotReady {
        error,
        status: Some(body),
    };
    Ok((StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response())
}

/// Which variants the caller may see by name: all without authentication; with it, those its
/// bearer token grants (none without a valid one: a probe gets the aggregates only).
fn visible(state: &AppState, headers: &HeaderMap) -> impl Fn(&str) -> bool + use<> {
    let grants = state.auth.as_ref().map(|verifier| {
        super::auth::bearer_token(headers)
            .and_then(|t| verifier.verify(t).ok())
            .map(|claims| crate::auth::Grants::new(claims.variants))
    });
    move |variant| match &grants {
        None => true,
        Some(None) => false,
        Some(Some(g)) => g.allows(variant),
    }
}

/// The 503 while the process stops because the critical task `task` ended unexpectedly.
fn failed_task(task: &str) -> Response {
    let message =
        format!("the critical task {task} ended unexpectedly; the process is shutting down");
    let ErrorBody { error } = ErrorBody::new("not_ready", message);
    let body = NotReady {
        error,
        status: None,
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

/// Per variant: how many seqs the database is ahead of this instance's head.
async fn lag(state: &AppState) -> Result<BTreeMap<String, u64>, ApiError> {
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
            (variant, u64::try_from(head - have).unwrap_or(0))
        })
        .collect())
}
