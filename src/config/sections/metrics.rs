//! Metrics settings: where `/metrics` is served.

use std::net::SocketAddr;

use clap::Args;
use serde::{Deserialize, Serialize};

/// Metrics settings.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
pub struct MetricsConfig {
    /// Serve `/metrics` on this address only (e.g. an internal interface) instead of the main
    /// listener.
    #[arg(long, env = "SIGNALGATE_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<SocketAddr>,
}
