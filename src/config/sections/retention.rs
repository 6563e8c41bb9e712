//! Retention settings of `serve`: the in-process schedule that prunes old events.

use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::config::duration::{humantime_serde, parse_duration};

/// Retention settings of `serve`.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
pub struct RetentionConfig {
    /// Delete events older than this (`90d`) every hour, in-process. Off by default; in group
    /// mode only the current leader runs it.
    #[arg(long, env = "SIGNALGATE_RETENTION", global = true, value_parser = parse_duration)]
    #[serde(default, with = "humantime_serde::option")]
    pub retention: Option<Duration>,
}
