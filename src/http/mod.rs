//! HTTP: the REST first-paint API under `/api` (one module per route group, each with a
//! `router()`, and its own JSON 404 fallback), health probes at the root, the OpenAPI document
//! of both ([`openapi`]), request tracing (spans named by the matched route) and CORS from
//! configuration. The REST middleware lives here too: bearer tokens ([`auth`]), the rate limit
//! per client IP ([`rate_limit`]) and request metrics, with `/metrics` itself ([`metrics`]).
//! Static assets and Socket.IO are added by [`crate::startup`].
//!
//! Routes are registered through `utoipa_axum`'s `OpenApiRouter` with `routes!(handler)`: the
//! handler's `#[utoipa::path]` gives both the axum route and its entry in the document, so the
//! two cannot disagree.

pub mod auth;
mod bars;
mod config;
pub mod error;
mod events;
mod health;
pub mod metrics;
pub mod openapi;
mod overview;
pub mod params;
pub mod rate_limit;
mod snapshot;
mod variants;

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::MatchedPath,
    http::{HeaderValue, Method, Request},
};
use chrono_tz::Tz;
use serde_json::Value;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    trace::TraceLayer,
};
use utoipa_axum::router::OpenApiRouter;

use crate::{
    auth::MaybeVerifier, group::GroupStatus, lifecycle::Fault, poller::PollerStatus,
    realtime::hub::Hub, store::Store,
};
pub use error::ApiError;

/// Shared state of the HTTP handlers.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Live state (snapshot cache).
    pub hub: Arc<Hub>,
    /// Zone of VnPy's naive bar times.
    pub bars_tz: Tz,
    /// `--overview-interval-ms` (served by `/api/config`).
    pub overview_interval_ms: u64,
    /// When the poller last completed a poll (readiness).
    pub poller: Arc<PollerStatus>,
    /// `/readyz` fails when the poller has not completed a poll for this long.
    pub poll_stale_after: std::time::Duration,
    /// Token verifier for `/api` (`None`: authentication off).
    pub auth: MaybeVerifier,
    /// REST rate limit per client IP (`None`: off).
    pub rate_limit: Option<rate_limit::RateLimit>,
    /// Role and term in group mode (`standalone` otherwise).
    pub group: Arc<GroupStatus>,
    /// A critical background task that ended unexpectedly makes `/readyz` fail.
    pub fault: Arc<Fault>,
}

/// The REST API (to be nested under `/api`), with its own JSON 404 fallback.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(variants::router())
        .merge(snapshot::router())
        .merge(events::router())
        .merge(bars::router())
        .merge(overview::router())
        .merge(config::router())
        .fallback(not_found)
}

/// Every documented route: `api` nested under `/api`, the health probes and
/// `/api/openapi.json` (outside the nest, so neither a token nor the rate limit applies to it).
fn documented(api: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .nest("/api", api)
        .merge(health::router())
        .merge(openapi::router())
}

/// The OpenAPI document of [`router`]: built from the same route registrations.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    openapi::finish(documented(api()).into_openapi())
}

/// `/api` and the health probes, with request tracing.
pub fn router(state: AppState) -> Router {
    let api = api().layer(axum::middleware::from_fn_with_state(
        state.auth.clone(),
        auth::require_token,
    ));
    let api = match &state.rate_limit {
        Some(limit) => api.layer(rate_limit::layer(limit)),
        None => api,
    };
    let (routes, _) = documented(api).split_for_parts();
    routes
        .layer(axum::middleware::from_fn(metrics::track_http))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("unmatched", MatchedPath::as_str);
                    tracing::info_span!("http", method = %req.method(), route)
                })
                // `ApiError` logs each failure once, at the right level (a 503 is an expected
                // outage, not an error); the layer would add a second, ERROR line.
                .on_failure(()),
        )
        .with_state(state)
}

/// CORS for REST and Socket.IO: `*` allows any origin, otherwise only the listed ones. Only
/// the methods that exist are advertised (GET for REST; POST for Socket.IO long-polling).
pub fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            axum::http::header::CONTENT_TYPE,
            axum::http::header::AUTHORIZATION,
        ]);
    if origins.iter().any(|o| o == "*") {
        return layer.allow_origin(AllowOrigin::any());
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    layer.allow_origin(list)
}

/// A response body with its keys in alphabetical order at every level (through
/// `serde_json::Value`, whose maps are sorted), as every REST response has.
fn sorted_json<T: serde::Serialize>(body: &T) -> Result<Json<Value>, ApiError> {
    serde_json::to_value(body)
        .map(Json)
        .map_err(|e| ApiError::Internal(e.into()))
}

/// The JSON 404 for unknown routes.
pub async fn not_found(uri: axum::extract::OriginalUri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}
