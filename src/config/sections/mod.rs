//! [`Config`]: every setting of `serve` (and the global flags of every subcommand), grouped by
//! concern into sections, one file each. Flags, `SIGNALGATE_*` variables and TOML keys are flat
//! (`--poll-interval-ms`, `poll_interval_ms = 100`): the sections only group the code.

mod auth;
mod database;
mod http;
mod limits;
mod metrics;
mod realtime;
mod redis;
mod retention;

use std::path::PathBuf;

use clap::Args;
use serde::{Deserialize, Serialize};

pub use auth::AuthConfig;
pub use database::{DEFAULT_SQLITE_URL, DatabaseConfig};
pub use http::HttpConfig;
pub use limits::LimitsConfig;
pub use metrics::MetricsConfig;
pub use realtime::RealtimeConfig;
pub use redis::RedisConfig;
pub use retention::RetentionConfig;

use super::ConfigError;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Every tunable of the gateway, grouped by concern. Flags, `SIGNALGATE_*` variables and TOML
/// keys are flat (`--poll-interval-ms`, `poll_interval_ms = 100`): the sections only group the
/// code.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct Config {
    /// TOML file with any of these settings (keys as the long flags, with underscores).
    #[arg(long, env = "SIGNALGATE_CONFIG", global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Listening and REST.
    #[command(flatten)]
    #[serde(flatten)]
    pub http: HttpConfig,

    /// The database and the poller.
    #[command(flatten)]
    #[serde(flatten)]
    pub database: DatabaseConfig,

    /// Socket.IO, live state and per-socket limits.
    #[command(flatten)]
    #[serde(flatten)]
    pub realtime: RealtimeConfig,

    /// Group mode: Redis and leader election.
    #[command(flatten)]
    #[serde(flatten)]
    pub redis: RedisConfig,

    /// Authentication.
    #[command(flatten)]
    #[serde(flatten)]
    pub auth: AuthConfig,

    /// Metrics.
    #[command(flatten)]
    #[serde(flatten)]
    pub metrics: MetricsConfig,

    /// Connection limits.
    #[command(flatten)]
    #[serde(flatten)]
    pub limits: LimitsConfig,

    /// Event retention.
    #[command(flatten)]
    #[serde(flatten)]
    pub retention: RetentionConfig,

    /// Log format; the level comes from RUST_LOG (default
    /// info,sqlx=warn,socketioxide=warn,engineioxide=warn).
    #[arg(
        long,
        env = "SIGNALGATE_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
}

impl Config {
    /// Checks values that clap cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let (db, rt) = (&self.database, &self.realtime);
        db.bars_tz()?;
        self.redis.validate()?;
        let positive = [
            ("--poll-interval-ms", db.poll_interval_ms),
            ("--poll-batch", u64::from(db.poll_batch)),
            ("--bars-poll-interval-ms", db.bars_poll_interval_ms),
            ("--ring-capacity", rt.ring_capacity as u64),
            ("--history-budget", rt.history_budget.0),
            ("--resume-cap", u64::from(rt.resume_cap)),
            ("--socket-buffer", rt.socket_buffer as u64),
            ("--overview-interval-ms", rt.overview_interval_ms),
            ("--max-message-bytes", rt.max_message_bytes as u64),
            ("--db-max-connections", u64::from(db.db_max_connections)),
            ("--http-header-timeout-ms", self.http.http_header_timeout_ms),
            ("--http-idle-timeout-ms", self.http.http_idle_timeout_ms),
            (
                "--max-http-connections",
                self.http.max_http_connections as u64,
            ),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(ConfigError::Value(format!("{name} must be greater than 0")));
            }
        }
        Ok(())
    }
}
