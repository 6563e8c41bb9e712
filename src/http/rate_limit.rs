//! REST rate limit per client IP (`tower_governor`, a token bucket per peer address): at most
//! `--rate-limit` requests per second with bursts of `--rate-limit-burst`, on `/api` only
//! (health probes, `/api/openapi.json`, metrics and Socket.IO are not limited). A hit answers 429
//! `{"error":{"code":"rate_limited"}}` with `Retry-After` (whole seconds, at least 1), is logged
//! and counted.

use std::{sync::Arc, time::Duration};

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use governor::middleware::NoOpMiddleware;
use tower_governor::{
    GovernorError, GovernorLayer,
    governor::{GovernorConfig, GovernorConfigBuilder},
    key_extractor::PeerIpKeyExtractor,
};

use crate::lifecycle::Supervisor;

/// How often the state of addresses that stopped sending is dropped.
const CLEANUP_INTERVAL: Duration = Duration::from_secs(60);

/// The limiter's configuration (shared by every clone of the layer).
pub type RateLimit = Arc<GovernorConfig<PeerIpKeyExtractor, NoOpMiddleware>>;

/// A limiter for `per_second` requests per second per IP with bursts of `burst`; `None` when
/// `per_second` is 0 (off). Its state is cleaned up under `tasks`.
pub fn build(per_second: u32, burst: u32, tasks: &Supervisor) -> Option<RateLimit> {
    if per_second == 0 {
        return None;
    }
    let mut builder = GovernorConfigBuilder::default();
    // One token back every 1/per_second s (tower_governor's `per_second` is a period).
    builder.per_nanosecond((1_000_000_000 / u64::from(per_second)).max(1));
    builder.burst_size(burst.max(1));
    let config = Arc::new(builder.finish()?);
    let limiter = config.limiter().clone();
    tasks.spawn_every("rate-limit-cleanup", CLEANUP_INTERVAL, move || {
        limiter.retain_recent()
    });
    Some(config)
}

/// The tower layer for `/api`.
pub fn layer(
    config: &RateLimit,
) -> GovernorLayer<PeerIpKeyExtractor, NoOpMiddleware, axum::body::Body> {
    GovernorLayer::new(config.clone()).error_handler(refuse)
}

fn refuse(err: GovernorError) -> Response {
    match err {
        GovernorError::TooManyRequests { wait_time, .. } => {
            // tower_governor floors the wait to whole seconds (0 for "less than a second"):
            // one more second is at least the real wait, rounded up, and never 0.
            let wait_time = wait_time.saturating_add(1);
            tracing::info!(
                retry_after_s = wait_time,
                "REST request refused: rate limit"
            );
            metrics::counter!("signalgate_rate_limited_total").increment(1);
            let message = format!("too many requests from this address; retry in {wait_time} s");
            let body = super::error::ErrorBody::new("rate_limited", message);
            let mut res = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait_time));
            res
        }
        other => {
            // No peer address (a router served without connect info): let it through is not
            // possible here, so answer like any internal failure, without details.
            tracing::error!(error = %other, "rate limiter cannot identify the client");
            super::ApiError::Internal(anyhow::anyhow!("{other}")).into_response()
        }
    }
}
