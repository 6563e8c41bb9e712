//! Configuration: every setting of the gateway and its subcommands, in one place. One [`Config`]
//! struct is filled from, in rising precedence, built-in defaults, an optional TOML file
//! (`--config`), `SIGNALGATE_*` environment variables and command-line flags. Every field is
//! documented in `signalgate --help`; database URLs and secrets are redacted when logged.
//!
//! - [`cli`]: the command line: [`Cli`], the subcommands and their flags, [`load`];
//! - [`sections`]: [`Config`] and its sections, one file each (`http`, `database`, `realtime`,
//!   `redis`, `auth`, `metrics`, `limits`, `retention`): a new flag goes into its section's file;
//! - `overlay`: the TOML file, filling what flags and environment left at its default;
//! - [`duration`]: `90d` / `24h` durations in flags and in the TOML file;
//! - `secret`, `size`: value types ([`DatabaseUrl`], [`JwtSecret`], [`ByteSize`]).
//!
//! A leaf: it imports nothing of this crate. The modules that use a section take plain values
//! (durations, sizes, addresses), which [`crate::startup`] reads from the sections.

pub mod cli;
pub mod duration;
mod overlay;
mod secret;
pub mod sections;
mod size;

use std::path::PathBuf;

pub use cli::{
    Cli, Command, DemoArgs, MONTHS_AHEAD, MigrateArgs, PartitionArgs, PruneArgs, ServeArgs,
    TokenArgs, load, load_from,
};
pub use duration::parse_duration;
pub use secret::{DatabaseUrl, JwtSecret, MIN_SECRET_BYTES, redact_url};
pub use sections::{
    AuthConfig, Config, DEFAULT_SQLITE_URL, DatabaseConfig, HttpConfig, LimitsConfig, LogFormat,
    MetricsConfig, RealtimeConfig, RedisConfig, RetentionConfig,
};
pub use size::ByteSize;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("invalid config file {path}: {message}")]
    Invalid {
        /// File path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("{0}")]
    Value(String),
}
