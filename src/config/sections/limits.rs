//! Connection limits and the shutdown bound: `--max-connections` (Socket.IO), `--rate-limit` and
//! `--rate-limit-burst` (REST), `--shutdown-timeout`.

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::config::duration::{humantime_serde, parse_duration};

/// Connection limits.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct LimitsConfig {
    /// Most Socket.IO connections this instance accepts; more get connect_error.
    #[arg(
        long,
        env = "SIGNALGATE_MAX_CONNECTIONS",
        default_value_t = 10_000,
        global = true
    )]
    pub max_connections: usize,

    /// REST requests per second per client IP on `/api` (0 = no limit); more get 429. The IP
    /// is the TCP peer: behind a reverse proxy every client shares the proxy's address, so
    /// limit there instead.
    #[arg(
        long,
        env = "SIGNALGATE_RATE_LIMIT",
        default_value_t = 0,
        global = true
    )]
    pub rate_limit: u32,

    /// Burst allowance of the REST rate limit (requests a client may send at once).
    #[arg(
        long,
        env = "SIGNALGATE_RATE_LIMIT_BURST",
        default_value_t = 100,
        global = true
    )]
    pub rate_limit_burst: u32,

    /// Longest graceful shutdown after SIGTERM/SIGINT (`10s`): connections still open and
    /// tasks still running after it are dropped.
    #[arg(
        long,
        env = "SIGNALGATE_SHUTDOWN_TIMEOUT",
        default_value = "10s",
        value_parser = parse_duration,
        global = true
    )]
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: std::time::Duration,
}
