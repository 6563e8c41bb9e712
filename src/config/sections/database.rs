//! Database and poller settings: the URL (the embedded SQLite file without one), the pool, the
//! bars' time zone, and how the poller and the live-bar poller read.

use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, DatabaseUrl};

/// The embedded default database, used when no `--database-url` is given.
pub const DEFAULT_SQLITE_URL: &str = "sqlite://data/signalgate.db";

/// Database and poller settings.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct DatabaseConfig {
    /// mysql://, postgres:// or sqlite:// URL. Without it an embedded SQLite file
    /// (data/signalgate.db) is created and used.
    #[arg(long, env = "SIGNALGATE_DATABASE_URL", global = true)]
    pub database_url: Option<DatabaseUrl>,

    /// Maximum database connections in the pool.
    #[arg(
        long,
        env = "SIGNALGATE_DB_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    pub db_max_connections: u32,

    /// How long a request waits for a database connection before failing with 503 (ms).
    #[arg(
        long,
        env = "SIGNALGATE_DB_ACQUIRE_TIMEOUT_MS",
        default_value_t = 5000,
        global = true
    )]
    pub db_acquire_timeout_ms: u64,

    /// Time zone of VnPy's naive bar datetimes (IANA name, e.g. Asia/Shanghai); served as UTC.
    #[arg(
        long,
        env = "SIGNALGATE_BARS_TIMEZONE",
        default_value = "UTC",
        global = true
    )]
    pub bars_timezone: String,

    /// Idle poll interval for new rows (ms); 20 ms for 2 s after rows were found. With the
    /// opt-in NOTIFY triggers (deploy/postgres-notify.sql) PostgreSQL also wakes the poller.
    #[arg(
        long,
        env = "SIGNALGATE_POLL_INTERVAL_MS",
        default_value_t = 100,
        global = true
    )]
    pub poll_interval_ms: u64,

    /// Most events read per variant per poll; a full batch triggers an immediate re-poll.
    #[arg(
        long,
        env = "SIGNALGATE_POLL_BATCH",
        default_value_t = 1000,
        global = true
    )]
    pub poll_batch: u32,

    /// How often the latest bars of the (vt_symbol, interval) pairs that have `subscribe_bars`
    /// subscribers are read, all pairs in one query (ms). Bars are minutes long.
    #[arg(
        long,
        env = "SIGNALGATE_BARS_POLL_INTERVAL_MS",
        default_value_t = 1000,
        global = true
    )]
    pub bars_poll_interval_ms: u64,
}

impl DatabaseConfig {
    /// The database URL in effect.
    pub fn url(&self) -> DatabaseUrl {
        self.database_url
            .clone()
            .unwrap_or_else(|| DatabaseUrl::new(DEFAULT_SQLITE_URL))
    }

    /// Pool acquire timeout.
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.db_acquire_timeout_ms)
    }

    /// The bars' time zone.
    pub fn bars_tz(&self) -> Result<chrono_tz::Tz, ConfigError> {
        self.bars_timezone.parse().map_err(|_| {
            ConfigError::Value(format!(
                "--bars-timezone: unknown time zone '{}'; use an IANA name like Asia/Shanghai",
                self.bars_timezone
            ))
        })
    }

    /// How often live bars are read.
    pub fn bars_poll_interval(&self) -> Duration {
        Duration::from_millis(self.bars_poll_interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::load_from;

    #[test]
    fn bad_timezone_is_named() {
        let err = load_from(["signalgate", "--bars-timezone", "Mars/Base"]).unwrap_err();
        assert!(err.to_string().contains("--bars-timezone"));
    }
}
