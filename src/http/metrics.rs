//! `/metrics` (Prometheus text, gauges of current state computed when scraped: connected
//! sockets, subscriptions per variant, history rings, group role) and [`track_http`], the REST
//! middleware counting requests by matched route and status. Served on the main listener or,
//! with `--metrics-listen`, on a separate one ([`start`]). The recorder and the `variant` label
//! are [`crate::metrics`].

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use socketioxide::SocketIo;

use crate::{
    group::{GroupStatus, Role},
    lifecycle::Supervisor,
    metrics::{handle, known_variants, variant_label},
    realtime::hub::Hub,
};

/// How often histogram buckets are rolled and idle series cleaned up.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// What `/metrics` reads when scraped.
#[derive(Debug, Clone)]
pub struct MetricsState {
    /// Connected sockets.
    pub io: SocketIo,
    /// Subscriptions per variant.
    pub hub: Arc<Hub>,
    /// Group role, term and degraded periods.
    pub group: Arc<GroupStatus>,
}

/// `GET /metrics`.
pub fn router(state: MetricsState) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(state)
}

async fn render(State(state): State<MetricsState>) -> Response {
    let Some(handle) = handle() else {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable\n",
        )
            .into_response();
    };
    let sockets = state.io.of("/").map_or(0, |ns| ns.sockets().len());
    metrics::gauge!("signalgate_connected_sockets").set(sockets as f64);
    let mut per_label: std::collections::BTreeMap<String, usize> = Default::default();
    for (variant, n) in state.hub.subscriber_counts() {
        *per_label.entry(variant_label(&variant)).or_default() += n;
    }
    // Variants nobody follows any more read 0 rather than their last value.
    for variant in known_variants() {
        per_label.entry(variant).or_default();
    }
    for (variant, n) in per_label {
        metrics::gauge!("signalgate_subscriptions", "variant" => variant).set(n as f64);
    }
    record_history(&state.hub);
    let role = state.group.role();
    for r in [
        Role::Standalone,
        Role::Leader,
        Role::Follower,
        Role::Degraded,
    ] {
        let on = if r == role { 1.0 } else { 0.0 };
        metrics::gauge!("signalgate_group_role", "role" => r.as_str()).set(on);
    }
    metrics::gauge!("signalgate_group_term").set(state.group.term() as f64);
    let degraded = &state.group.counters.degraded_entries;
    metrics::counter!("signalgate_group_degraded_periods_total")
        .absolute(degraded.load(std::sync::atomic::Ordering::Relaxed));
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        handle.render(),
    )
        .into_response()
}

/// The rings' bytes, evictions and resume sources (kept by the hub, exported when scraped).
fn record_history(hub: &Hub) {
    let h = hub.history_stats();
    metrics::gauge!("signalgate_history_bytes").set(h.bytes as f64);
    metrics::gauge!("signalgate_history_unwatched_bytes").set(h.unwatched_bytes as f64);
    metrics::gauge!("signalgate_history_budget_bytes").set(h.limit as f64);
    for (reason, n) in [
        ("capacity", h.evicted_capacity),
        ("budget", h.evicted_budget),
    ] {
        metrics::counter!("signalgate_history_evicted_events_total", "reason" => reason)
            .absolute(n);
    }
    for (source, n) in [("ring", h.resumes_ring), ("database", h.resumes_database)] {
        metrics::counter!("signalgate_resumes_total", "source" => source).absolute(n);
    }
}

/// Middleware: counts REST requests by matched route and status, with their latency.
pub async fn track_http(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let start = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!("signalgate_http_requests_total", "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("signalgate_http_request_duration_seconds", "route" => route)
        .record(start.elapsed().as_secs_f64());
    res
}

/// Where `/metrics` is served.
#[derive(Debug)]
pub enum Serving {
    /// Merge this router into the main app.
    Main(Router),
    /// On its own listener at this address.
    Separate(SocketAddr),
}

/// Starts the recorder's upkeep and, with `listen` (`--metrics-listen`), the separate listener.
pub async fn start(
    listen: Option<SocketAddr>,
    state: MetricsState,
    tasks: &Supervisor,
) -> anyhow::Result<Serving> {
    if let Some(handle) = handle() {
        tasks.spawn_every("metrics-upkeep", UPKEEP_INTERVAL, move || {
            handle.run_upkeep()
        });
    }
    let Some(addr) = listen else {
        return Ok(Serving::Main(router(state)));
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on --metrics-listen {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    tracing::info!(addr = %bound, "metrics on a separate listener");
    let app = router(state);
    tasks.spawn("metrics-listener", |token| async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(token.cancelled_owned())
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "metrics listener failed");
        }
    });
    Ok(Serving::Separate(bound))
}
