//! HTTP: the REST first-paint API under `/api` (one module per route group, each with a
//! `router()`, and its own JSON 404 fallback), health probes at the root, request tracing
//! (spans named by the matched route) and CORS from configuration. Static assets and Socket.IO
//! are added by [`crate::startup`].

mod bars;
pub mod error;
mod events;
mod health;
pub mod params;
mod snapshot;
mod variants;

use std::sync::Arc;

use axum::{
    Router,
    extract::MatchedPath,
    http::{HeaderValue, Method, Request},
};
use chrono_tz::Tz;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    trace::TraceLayer,
};

use crate::{group::GroupStatus, poller::PollerStatus, realtime::hub::Hub, store::Store};
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
    /// When the poller last completed a poll (readiness).
    pub poller: Arc<PollerStatus>,
    /// `/readyz` fails when the poller has not completed a poll for this long.
    pub poll_stale_after: std::time::Duration,
    /// Role and term in group mode (`standalone` otherwise).
    pub group: Arc<GroupStatus>,
}

/// The REST API (to be nested under `/api`), with its own JSON 404 fallback.
pub fn api() -> Router<AppState> {
    Router::new()
        .merge(variants::router())
        .merge(snapshot::router())
        .merge(events::router())
        .merge(bars::router())
        .fallback(not_found)
}

/// `/api` and the health probes, with request tracing.
pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/api", api())
        .merge(health::router())
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

/// The JSON 404 for unknown routes.
pub async fn not_found(uri: axum::extract::OriginalUri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}
