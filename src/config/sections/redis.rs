//! Group mode settings: with `--redis-url`, instances sharing a database and a `--redis-group`
//! elect one poller and share its output over Redis pub/sub (see [`crate::group`]).

use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, DatabaseUrl};

/// Shortest lease the election accepts: renewals every third of it must fit Redis round trips.
const MIN_LEASE_TTL_MS: u64 = 300;

/// Redis and leader election.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct RedisConfig {
    /// redis:// URL (`redis://[:password@]host:port[/db]`). Enables group mode: one elected instance polls the
    /// database and publishes to all; without it the gateway runs alone.
    #[arg(long, env = "SIGNALGATE_REDIS_URL", global = true)]
    pub redis_url: Option<DatabaseUrl>,

    /// Group name: instances with the same database and group elect one poller. Several
    /// deployments can share one Redis under different names.
    #[arg(
        long,
        env = "SIGNALGATE_REDIS_GROUP",
        default_value = "signalgate",
        global = true
    )]
    pub redis_group: String,

    /// Leader lease (ms): when the leader dies, another instance takes over within this time.
    /// The leader renews every third of it; a shorter lease fails over faster but turns a
    /// Redis hiccup into a hand-over sooner.
    #[arg(
        long,
        env = "SIGNALGATE_REDIS_LEASE_TTL_MS",
        default_value_t = 3000,
        global = true
    )]
    pub redis_lease_ttl_ms: u64,

    /// Test hook: drop every Nth event/snapshot message received from Redis (0 = never), to
    /// prove that heartbeats repair lost messages. Only in builds with the `test-hooks`
    /// feature (the test suite's); release builds do not have it.
    #[cfg(feature = "test-hooks")]
    #[arg(
        long,
        env = "SIGNALGATE_REDIS_TEST_DROP_EVERY",
        default_value_t = 0,
        hide = true,
        global = true
    )]
    #[serde(skip)]
    pub redis_test_drop_every: u64,
}

impl RedisConfig {
    /// `--redis-test-drop-every` (0 = never; always 0 without the `test-hooks` feature).
    pub fn test_drop_every(&self) -> u64 {
        #[cfg(feature = "test-hooks")]
        return self.redis_test_drop_every;
        #[cfg(not(feature = "test-hooks"))]
        0
    }

    /// The leader lease.
    pub fn lease_ttl(&self) -> Duration {
        Duration::from_millis(self.redis_lease_ttl_ms)
    }

    /// Checks the group name and the lease.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.redis_lease_ttl_ms < MIN_LEASE_TTL_MS {
            return Err(ConfigError::Value(format!(
                "--redis-lease-ttl-ms must be at least {MIN_LEASE_TTL_MS}"
            )));
        }
        let group = &self.redis_group;
        let valid = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if group.is_empty() || group.len() > 64 || !group.chars().all(valid) {
            return Err(ConfigError::Value(format!(
                "--redis-group '{group}': use 1-64 letters, digits, '-', '_' or '.'"
            )));
        }
        if let Some(url) = &self.redis_url
            && url.scheme() != "redis"
        {
            return Err(ConfigError::Value(format!(
                "--redis-url {url}: use a redis:// URL"
            )));
        }
        Ok(())
    }
}
