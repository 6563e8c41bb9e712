//! REST first-paint API (axum). One module per route group, each with a `router()`, merged
//! here with request tracing (spans named by the matched route) and a JSON 404 fallback.

mod bars;
pub mod error;
mod events;
mod health;
pub mod params;
mod snapshot;
mod variants;

use axum::{Router, extract::MatchedPath, http::Request};
use tower_http::trace::TraceLayer;

use crate::startup::AppState;
pub use error::ApiError;

/// The REST routes, with tracing.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(variants::router())
        .merge(snapshot::router())
        .merge(events::router())
        .merge(bars::router())
        .merge(health::router())
        .fallback(not_found)
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("unmatched", MatchedPath::as_str);
                tracing::info_span!("http", method = %req.method(), route)
            }),
        )
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}
