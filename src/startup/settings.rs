//! From configuration to the plain values each module takes: the one place where the sections
//! of [`crate::config`] meet the modules they configure (which never see a section).

use std::{sync::Arc, time::Duration};

use anyhow::Context;

use crate::{
    auth::{ClaimRules, Verifier},
    config::{AuthConfig, DatabaseConfig, HttpConfig, RealtimeConfig, RedisConfig},
    group::Membership,
    poller::PollerConfig,
    realtime::{Transport, hub::HubLimits},
    serve::ConnLimits,
    store::{self, PoolOptions, Store},
};

/// Connects to the configured database (the embedded SQLite file without `--database-url`).
pub async fn connect(db: &DatabaseConfig) -> anyhow::Result<Arc<dyn Store>> {
    let url = db.url();
    let pool = PoolOptions {
        max_connections: db.db_max_connections,
        acquire_timeout: db.acquire_timeout(),
    };
    store::connect(url.expose(), &pool)
        .await
        .with_context(|| format!("connecting to {url}"))
}

/// [`connect`], then applies the pending migrations (what the `prune`, `partition` and `demo`
/// subcommands do first).
pub async fn connect_migrated(db: &DatabaseConfig) -> anyhow::Result<Arc<dyn Store>> {
    let store = connect(db).await?;
    store.migrate().await?;
    Ok(store)
}

/// The token verifier, `None` when authentication is off.
pub fn verifier(auth: &AuthConfig) -> anyhow::Result<Option<Verifier>> {
    let rules = ClaimRules {
        audience: auth.jwt_audience.clone(),
        issuer: auth.jwt_issuer.clone(),
    };
    Verifier::new(
        auth.jwt_secret.as_ref(),
        auth.jwt_public_key.as_deref(),
        rules,
    )
}

/// The poller's interval and batch.
pub fn poller(db: &DatabaseConfig) -> PollerConfig {
    PollerConfig {
        interval: Duration::from_millis(db.poll_interval_ms),
        batch: db.poll_batch,
    }
}

/// The hub's rings, budget and per-socket caps.
pub fn hub_limits(rt: &RealtimeConfig) -> HubLimits {
    HubLimits {
        ring_capacity: rt.ring_capacity,
        history_budget: rt.history_budget.bytes_usize(),
        resume_cap: rt.resume_cap,
        max_subscriptions: rt.max_subscriptions,
        max_symbols: rt.max_symbols,
    }
}

/// The Socket.IO transport's buffers, message size and heartbeat.
pub fn transport(rt: &RealtimeConfig) -> Transport {
    Transport {
        socket_buffer: rt.socket_buffer,
        ws_read_buffer: rt.ws_read_buffer,
        max_message_bytes: rt.max_message_bytes,
        ping_interval: Duration::from_millis(rt.ping_interval_ms),
        ping_timeout: Duration::from_millis(rt.ping_timeout_ms),
    }
}

/// The HTTP connections' time and number bounds.
pub fn conn_limits(http: &HttpConfig) -> ConnLimits {
    ConnLimits {
        header_timeout: Duration::from_millis(http.http_header_timeout_ms),
        idle_timeout: Duration::from_millis(http.http_idle_timeout_ms),
        max_connections: http.max_http_connections,
    }
}

/// The group to join: `None` (standalone) without `--redis-url`.
pub fn membership(redis: &RedisConfig) -> Option<Membership> {
    Some(Membership {
        redis_url: redis.redis_url.clone()?,
        group: redis.redis_group.clone(),
        lease_ttl: redis.lease_ttl(),
        drop_every: redis.test_drop_every(),
    })
}
