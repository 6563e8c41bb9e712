//! Configuration: one [`Config`] struct filled from, in rising precedence, built-in defaults, an
//! optional TOML file (`--config`), `SIGNALGATE_*` environment variables and command-line flags.
//! Every field is documented in `signalgate --help`; database URLs are redacted when logged.

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, time::Duration};

use clap::{
    ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, parser::ValueSource,
};
use serde::{Deserialize, Serialize};

mod limits;
mod redis;
mod secret;
mod size;

pub use limits::LimitsConfig;
pub use redis::RedisConfig;
pub use secret::{DatabaseUrl, redact_url};
pub use size::ByteSize;

/// The embedded default database, used when no `--database-url` is given.
pub const DEFAULT_SQLITE_URL: &str = "sqlite://data/signalgate.db";

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
    Prune(crate::retention::PruneArgs),
    /// PostgreSQL only: convert the event table to monthly partitions (or create the coming
    /// months) and exit.
    Partition(crate::retention::PartitionArgs),
    /// Mint an HS256 access token with --jwt-secret and print it.
    Token(crate::auth::config::TokenArgs),
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
    pub auth: crate::auth::AuthConfig,

    /// Metrics.
    #[command(flatten)]
    #[serde(flatten)]
    pub metrics: crate::metrics::MetricsConfig,

    /// Connection limits.
    #[command(flatten)]
    #[serde(flatten)]
    pub limits: LimitsConfig,

    /// Event retention.
    #[command(flatten)]
    #[serde(flatten)]
    pub retention: crate::retention::RetentionConfig,

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

/// Listening and REST settings.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct HttpConfig {
    /// Address to listen on (port 0 picks a free port).
    #[arg(
        long,
        env = "SIGNALGATE_LISTEN",
        default_value = "127.0.0.1:3000",
        global = true
    )]
    pub listen: SocketAddr,

    /// Origins allowed by CORS on REST and Socket.IO, also checked on the Socket.IO handshake
    /// (comma-separated, or repeat the flag); `*` allows any origin. Default: `*` without
    /// authentication, no cross-origin access with it.
    #[arg(
        long,
        env = "SIGNALGATE_CORS_ORIGIN",
        value_delimiter = ',',
        global = true
    )]
    #[serde(default)]
    pub cors_origin: Vec<String>,

    /// A request's headers must arrive within this time (ms), counted from the accept on a new
    /// connection and from the first byte of the request on a kept-alive one; otherwise the
    /// connection is closed (silent and slowly-sending clients).
    #[arg(
        long,
        env = "SIGNALGATE_HTTP_HEADER_TIMEOUT_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub http_header_timeout_ms: u64,

    /// A kept-alive HTTP connection with no request in flight is closed after this long (ms).
    /// Keep it above a reverse proxy's upstream keep-alive timeout (nginx: 60 s). A held
    /// long-polling request is in flight, not idle.
    #[arg(
        long,
        env = "SIGNALGATE_HTTP_IDLE_TIMEOUT_MS",
        default_value_t = 75_000,
        global = true
    )]
    pub http_idle_timeout_ms: u64,

    /// Most open HTTP connections (REST, long-polling, and websockets, which each keep theirs);
    /// beyond it a new connection gets 503 and is closed. Keep it above --max-connections.
    #[arg(
        long,
        env = "SIGNALGATE_MAX_HTTP_CONNECTIONS",
        default_value_t = 20_000,
        global = true
    )]
    pub max_http_connections: usize,
}

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

    /// Idle poll interval for new rows (ms). PostgreSQL is also woken by NOTIFY.
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

/// Socket.IO, live state and per-socket limits.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct RealtimeConfig {
    /// Recent events kept in memory per variant, so most resumes need no database query.
    #[arg(
        long,
        env = "SIGNALGATE_RING_CAPACITY",
        default_value_t = 4096,
        global = true
    )]
    pub ring_capacity: usize,

    /// Memory for recent events of all variants together (`64MiB`, `512KiB`, or bytes). Variants
    /// with subscribers come first; those without share at most 1/8 of it. Resumes from before
    /// what is kept read the database.
    #[arg(
        long,
        env = "SIGNALGATE_HISTORY_BUDGET",
        default_value = "64MiB",
        global = true
    )]
    pub history_budget: ByteSize,

    /// Most events returned in a subscribe ack; beyond it the ack says truncated:true.
    #[arg(
        long,
        env = "SIGNALGATE_RESUME_CAP",
        default_value_t = 1000,
        global = true
    )]
    pub resume_cap: u32,

    /// Most variants one socket may subscribe to.
    #[arg(
        long,
        env = "SIGNALGATE_MAX_SUBSCRIPTIONS",
        default_value_t = 32,
        global = true
    )]
    pub max_subscriptions: usize,

    /// Most vt_symbols in one subscribe request.
    #[arg(
        long,
        env = "SIGNALGATE_MAX_SYMBOLS",
        default_value_t = 64,
        global = true
    )]
    pub max_symbols: usize,

    /// Packets queued per socket before the client counts as too slow and is disconnected.
    #[arg(
        long,
        env = "SIGNALGATE_SOCKET_BUFFER",
        default_value_t = 1024,
        global = true
    )]
    pub socket_buffer: usize,

    /// Websocket read buffer per connection (bytes). Clients only send small requests, so a
    /// small buffer saves memory on every idle connection.
    #[arg(
        long,
        env = "SIGNALGATE_WS_READ_BUFFER",
        default_value_t = 1024,
        global = true
    )]
    pub ws_read_buffer: usize,

    /// Largest message a client may send (bytes), on both transports: a websocket message or
    /// frame, or a long-polling request body. A bigger one closes that connection. The default
    /// fits a subscribe request with the maximum number of symbols several times over.
    #[arg(
        long,
        env = "SIGNALGATE_MAX_MESSAGE_BYTES",
        default_value_t = 16384,
        global = true
    )]
    pub max_message_bytes: usize,

    /// Engine.IO heartbeat: ping interval (ms).
    #[arg(
        long,
        env = "SIGNALGATE_PING_INTERVAL_MS",
        default_value_t = 25000,
        global = true
    )]
    pub ping_interval_ms: u64,

    /// Engine.IO heartbeat: a peer silent this long after a ping is dead (ms).
    #[arg(
        long,
        env = "SIGNALGATE_PING_TIMEOUT_MS",
        default_value_t = 20000,
        global = true
    )]
    pub ping_timeout_ms: u64,
}

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

impl HttpConfig {
    /// The time and number bounds of HTTP connections.
    pub fn conn_limits(&self) -> crate::serve::ConnLimits {
        crate::serve::ConnLimits {
            header_timeout: Duration::from_millis(self.http_header_timeout_ms),
            idle_timeout: Duration::from_millis(self.http_idle_timeout_ms),
            max_connections: self.max_http_connections,
        }
    }

    /// The allow-list in effect: the configured origins, or by default `*` without
    /// authentication and none with it.
    pub fn origins(&self, auth_enabled: bool) -> Vec<String> {
        match (self.cors_origin.is_empty(), auth_enabled) {
            (false, _) => self.cors_origin.clone(),
            (true, false) => vec!["*".to_owned()],
            (true, true) => Vec::new(),
        }
    }
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

    /// The poller's settings.
    pub fn poller(&self) -> crate::poller::PollerConfig {
        crate::poller::PollerConfig {
            interval: Duration::from_millis(self.poll_interval_ms),
            batch: self.poll_batch,
        }
    }
}

impl Config {
    /// Defaults only (what tests start from).
    pub fn default_for_tests() -> Self {
        let cli = Cli::parse_from(["signalgate"]);
        cli.config
    }

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

fn overlay_file(
    config: Config,
    matches: &ArgMatches,
    path: &PathBuf,
) -> Result<Config, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        path: path.clone(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    // toml's Display quotes the offending line, which may hold a password: report the line
    // number and the message only.
    let file: BTreeMap<String, toml::Value> = toml::from_str(&text).map_err(|e| {
        let line = e.span().map_or(0, |span| {
            text[..span.start.min(text.len())].lines().count().max(1)
        });
        invalid(format!(
            "TOML syntax error at line {line}: {}",
            e.message().trim()
        ))
    })?;
    let mut merged = serde_json::to_value(&config).map_err(|e| invalid(e.to_string()))?;
    let Some(obj) = merged.as_object_mut() else {
        return Err(invalid("internal: config is not an object".into()));
    };
    for (key, value) in file {
        // `#[serde(flatten)]` sections cannot deny unknown fields, so check keys here.
        if !obj.contains_key(&key) {
            let mut known: Vec<&str> = obj.keys().map(String::as_str).collect();
            known.sort_unstable();
            return Err(invalid(format!(
                "unknown key '{key}'; valid keys are {}",
                known.join(", ")
            )));
        }
        let explicit = matches!(
            matches.value_source(&key),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if !explicit {
            let json = serde_json::to_value(value).map_err(|e| invalid(e.to_string()))?;
            obj.insert(key, json);
        }
    }
    let mut out: Config = match serde_json::from_value(merged.clone()) {
        Ok(c) => c,
        Err(err) => {
            // The sections are `#[serde(flatten)]`ed, which hides the failing key from the
            // error: find it by trying the file's keys one at a time.
            let base = serde_json::to_value(&config).map_err(|e| invalid(e.to_string()))?;
            let culprit = merged.as_object().and_then(|m| {
                m.iter().find(|(key, value)| {
                    let mut trial = base.clone();
                    if let Some(obj) = trial.as_object_mut() {
                        obj.insert((*key).clone(), (*value).clone());
                    }
                    serde_json::from_value::<Config>(trial).is_err()
                })
            });
            return Err(invalid(match culprit {
                Some((key, _)) => format!("key '{key}': {err}"),
                None => err.to_string(),
            }));
        }
    };
    out.config = Some(path.clone());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_fills_defaults_but_flags_win() {
        let dir = std::env::temp_dir().join(format!("sg-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "poll_interval_ms = 250\nlisten = \"127.0.0.1:4000\"\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let cli = load_from(["signalgate", "--config", p, "--listen", "127.0.0.1:5000"]).unwrap();
        assert_eq!(cli.config.database.poll_interval_ms, 250);
        assert_eq!(cli.config.http.listen.port(), 5000);

        std::fs::write(&path, "no_such_key = 1\n").unwrap();
        let err = load_from(["signalgate", "--config", p])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no_such_key"), "{err}");
    }

    #[test]
    fn bad_timezone_is_named() {
        let err = load_from(["signalgate", "--bars-timezone", "Mars/Base"]).unwrap_err();
        assert!(err.to_string().contains("--bars-timezone"));
    }
}
