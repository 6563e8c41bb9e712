//! The command line: [`Cli`] (the global settings of [`Config`] plus a subcommand), the
//! subcommands' own flags, and [`load`], which parses flags and environment and then overlays the
//! TOML file named by `--config`.

use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use super::{Config, ConfigError, duration::parse_duration, overlay::overlay_file};

/// Months of partitions kept ready ahead of the current one (PostgreSQL partitions): the
/// default of `partition --months-ahead`, and what `prune` and `--retention` create.
pub const MONTHS_AHEAD: u32 = 2;

/// signalgate: pushes strategy snapshots and events from MySQL/PostgreSQL/SQLite to dashboards
/// over Socket.IO, and serves first paint over REST.
#[derive(Debug, Parser)]
#[command(name = "signalgate", version, about, long_about = None)]
pub struct Cli {
    /// Settings shared by every subcommand.
    #[command(flatten)]
    pub config: Config,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the gateway (applies migrations first unless --no-migrate).
    Serve(ServeArgs),
    /// Apply the schema migrations (or revert the latest with --down) and exit.
    Migrate(MigrateArgs),
    /// Run only the demo writer: simulate strategies writing bars, snapshots and events.
    Demo(DemoArgs),
    /// Delete old events in small batches (snapshots are kept) and exit.
    Prune(PruneArgs),
    /// PostgreSQL only: convert the event table to monthly partitions (or create the coming
    /// months) and exit.
    Partition(PartitionArgs),
    /// Mint an HS256 access token with --jwt-secret and print it.
    Token(TokenArgs),
}

/// `serve` flags.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Also run the demo writer in-process.
    #[arg(long, env = "SIGNALGATE_DEMO")]
    pub demo: bool,
    /// Do not apply migrations at start.
    #[arg(long, env = "SIGNALGATE_NO_MIGRATE")]
    pub no_migrate: bool,
    /// Demo settings (with --demo).
    #[command(flatten)]
    pub demo_args: DemoArgs,
}

/// `migrate` flags.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// Revert the most recently applied migration instead.
    #[arg(long)]
    pub down: bool,
}

/// Demo writer settings.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Milliseconds of real time per simulated 1-minute bar (demo time runs faster than real time).
    #[arg(long, env = "SIGNALGATE_DEMO_TICK_MS", default_value_t = 1000)]
    pub demo_tick_ms: u64,
    /// Bars of history written at start when a series is empty.
    #[arg(long, env = "SIGNALGATE_DEMO_HISTORY", default_value_t = 240)]
    pub demo_history: u32,
    /// Stop after this many ticks (0 = run forever).
    #[arg(long, env = "SIGNALGATE_DEMO_TICKS", default_value_t = 0)]
    pub demo_ticks: u64,
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self {
            demo_tick_ms: 1000,
            demo_history: 240,
            demo_ticks: 0,
        }
    }
}

/// `token` flags: mint an HS256 token with `--jwt-secret`.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// Subject: who the token is for (shows in logs).
    #[arg(long)]
    pub sub: String,
    /// Variants the token may read: names or globs, comma-separated (`trend_*,mm_a`; `*` = all).
    #[arg(long, value_delimiter = ',', required = true)]
    pub variants: Vec<String>,
    /// Lifetime (`30m`, `24h`, `90d`).
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub ttl: Duration,
}

/// `prune` flags.
#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Delete events whose created_at is older than this (`90d`, `12h`).
    #[arg(long, value_parser = parse_duration)]
    pub events_older_than: Duration,
    /// Only count what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    /// Events deleted per statement.
    #[arg(long, default_value_t = 1000)]
    pub batch: u32,
}

/// `partition` flags.
#[derive(Debug, Clone, Args)]
pub struct PartitionArgs {
    /// Create the partitions of this many months after the current one.
    #[arg(long, default_value_t = MONTHS_AHEAD, value_parser = clap::value_parser!(u32).range(0..=24))]
    pub months_ahead: u32,
}

/// Parses the command line and environment, then fills every setting that was left at its
/// default from the TOML file named by `--config`, if any.
pub fn load() -> Result<Cli, ConfigError> {
    load_from(std::env::args_os())
}

/// [`load`] with explicit arguments (tests).
pub fn load_from<I, T>(args: I) -> Result<Cli, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = Cli::command().get_matches_from(args);
    let mut cli = Cli::from_arg_matches(&matches).map_err(|e| ConfigError::Value(e.to_string()))?;
    if let Some(path) = cli.config.config.clone() {
        cli.config = overlay_file(cli.config, &matches, &path)?;
    }
    cli.config.validate()?;
    Ok(cli)
}

impl Config {
    /// Defaults only (what tests start from).
    pub fn default_for_tests() -> Self {
        let cli = Cli::parse_from(["signalgate"]);
        cli.config
    }
}
