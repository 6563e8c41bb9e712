//! Scenarios and the options they share.
//!
//! - `idle`: memory per idle subscribed connection at several connection counts;
//! - `fanout`: many clients on one variant, writers at a fixed rate;
//! - `spread`: many variants, few clients each;
//! - `burst`: like fanout, with writer spikes;
//! - `snapshots`: snapshot-heavy: 100 clients, one writer upserting a 500-instrument book with
//!   every event, 5 instruments changed per update (compare with and without `--deltas`);
//! - `resume`: the gateway is restarted mid-run while writers go on; every client reconnects
//!   with `since_seq`; the time until all have caught up is measured;
//! - `writers`: writer commits/s on the gateway's schema vs the plain seed schema;
//! - `group`: a fan-out through nginx to several instances in one group (signalgate with Redis,
//!   or the Node peer with `@socket.io/redis-adapter`), optionally killing the leader mid-run.

mod group;
mod idle;
pub mod sampler;
pub mod setup;
mod traffic;
mod writers;

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::{report::RunReport, server::Kind};

/// Which scenario to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Idle connections: gateway RSS per connection.
    Idle,
    /// Many clients, one variant.
    Fanout,
    /// Many variants, few clients each.
    Spread,
    /// Fan-out with writer spikes.
    Burst,
    /// Snapshot-heavy: a 500-instrument book upserted with every event, 5 instruments changed.
    Snapshots,
    /// Mass reconnect with `since_seq` after a gateway restart.
    Resume,
    /// Writer commits/s: gateway schema vs plain seed schema.
    Writers,
    /// Fan-out through nginx to several instances with a private Redis.
    Group,
}

/// Options shared by all scenarios. Unset sizes take the scenario's defaults.
#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct Opts {
    /// Server under test.
    #[arg(long, value_enum, default_value = "signalgate")]
    pub server: Kind,
    /// Command line replacing the server's default (gets PORT, DATABASE_URL, POLL_MS).
    #[arg(long)]
    pub server_cmd: Option<String>,
    /// The signalgate binary (default: next to this binary, else target/release/signalgate).
    #[arg(long, env = "LOADTEST_SIGNALGATE_BIN")]
    pub signalgate_bin: Option<PathBuf>,
    /// Extra argument for `signalgate serve` (repeatable), e.g. `--gateway-arg=--poll-interval-ms=50`.
    #[arg(long = "gateway-arg", allow_hyphen_values = true)]
    pub gateway_args: Vec<String>,
    /// Database server without a database name; a scratch `sgt_<random>` is created on it.
    #[arg(
        long,
        env = "LOADTEST_DB",
        default_value = "mysql://root@127.0.0.1:3306"
    )]
    pub db: String,
    /// Subscribed clients (idle: the largest step).
    #[arg(long)]
    pub clients: Option<usize>,
    /// Variants the clients and writers are spread over.
    #[arg(long)]
    pub variants: Option<usize>,
    /// Events per second, all writers together.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Concurrent writers.
    #[arg(long)]
    pub writers: Option<usize>,
    /// Seconds of writing.
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Hold each writer transaction open a random 0..N ms (commits land out of id order).
    #[arg(long, default_value_t = 0)]
    pub hold_ms: u64,
    /// Upsert a snapshot with every k-th event of a variant (0 = never).
    #[arg(long, default_value_t = 50)]
    pub snapshot_every: u64,
    /// Instruments in each snapshot payload (0: a small `{"n","writer"}` payload). The
    /// snapshot-heavy run: `--writers 1 --snapshot-every 1 --snapshot-instruments 500`.
    #[arg(long, default_value_t = 0)]
    pub snapshot_instruments: u64,
    /// Instruments changed per snapshot update (with `--snapshot-instruments`).
    #[arg(long, default_value_t = 5)]
    pub snapshot_changed: u64,
    /// signalgate clients subscribe with `batch: true` (events as `event_batch`).
    #[arg(long)]
    pub batch: bool,
    /// signalgate clients subscribe with `deltas: true` (snapshots as `snapshot_delta`).
    #[arg(long)]
    pub deltas: bool,
    /// Connect ramp: connections per second (0 = as fast as 32 parallel handshakes go).
    #[arg(long, default_value_t = 0.0)]
    pub ramp: f64,
    /// The peers' poll interval in ms (signalgate's is `--gateway-arg=--poll-interval-ms=N`).
    #[arg(long, default_value_t = 100)]
    pub poll_ms: u64,
    /// Idle: connection counts to measure at (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000")]
    pub idle_steps: Vec<usize>,
    /// Burst: seconds between bursts.
    #[arg(long, default_value_t = 2.0)]
    pub burst_every: f64,
    /// Burst: events released at once per burst.
    #[arg(long, default_value_t = 200)]
    pub burst_events: u64,
    /// Resume: seconds the gateway stays down while the writers go on.
    #[arg(long, default_value_t = 2.0)]
    pub downtime: f64,
    /// Group: instances behind nginx.
    #[arg(long, default_value_t = 3)]
    pub instances: usize,
    /// Group: kill the leader (node: the polling instance) with SIGKILL this many seconds into
    /// the writing.
    #[arg(long)]
    pub kill_leader_at: Option<f64>,
    /// Count the server's statements through a proxy (always on in `spread` and `idle`).
    #[arg(long)]
    pub count_statements: bool,
    /// Idle: variants with one snapshot row and one event each, written before the server
    /// starts (e.g. 10000: what a poll costs with many variants and no writes).
    #[arg(long, default_value_t = 0)]
    pub idle_variants: usize,
    /// Idle: seconds the server gets to read the seeded variants before the quiet window.
    #[arg(long, default_value_t = 3.0)]
    pub idle_settle: f64,
    /// Idle: seconds over which CPU, RSS and statements/s of the idle server are measured
    /// before any client connects (0 = skip).
    #[arg(long, default_value_t = 10.0)]
    pub idle_window: f64,
    /// Writers: the cells to measure (comma-separated `OP-<N>w-<M>v`, OP insert, tx10 or upsert).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "insert-8w-1v,insert-8w-8v,insert-1w-1v,tx10-8w-8v,upsert-8w-8v"
    )]
    pub cells: Vec<String>,
    /// Writers: rounds per cell, alternating which schema goes first (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Writers: revert the latest N gateway migrations after migrating (`migrate --down`), to
    /// measure an earlier schema with the same binary (`--gateway-down 1`: the schema before
    /// migration 0005, with the seq trigger and NOTIFY).
    #[arg(long, default_value_t = 0)]
    pub gateway_down: u32,
    /// Seconds to wait for stragglers after the writers stop.
    #[arg(long, default_value_t = 20.0)]
    pub drain: f64,
    /// Directory for the JSON and HTML reports.
    #[arg(long, default_value = "loadtest/results")]
    pub out: PathBuf,
    /// A label for the report (default: scenario-server-backend).
    #[arg(long)]
    pub label: Option<String>,
    /// No progress bars (CI, tests).
    #[arg(long)]
    pub quiet: bool,
}

impl Opts {
    /// Defaults for use from code (tests): signalgate on the given database server.
    pub fn new(db: &str) -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct P {
            #[command(flatten)]
            o: Opts,
        }
        let mut o = P::parse_from(["x"]).o;
        o.db = db.to_owned();
        o
    }

    /// Extra `subscribe` fields for signalgate clients (`batch`, `deltas`); peers get none.
    pub fn subscribe_options(&self) -> serde_json::Value {
        let mut o = serde_json::json!({});
        if self.server == crate::server::Kind::Signalgate {
            if self.batch {
                o["batch"] = true.into();
            }
            if self.deltas {
                o["deltas"] = true.into();
            }
        }
        o
    }

    /// The signalgate binary to use.
    pub fn signalgate_bin(&self) -> PathBuf {
        if let Some(p) = &self.signalgate_bin {
            return p.clone();
        }
        let sibling = crate::server::bin_dir().join("signalgate");
        if sibling.exists() {
            return sibling;
        }
        PathBuf::from("target/release/signalgate")
    }
}

/// Runs one scenario and returns its report (also written to `opts.out`).
pub async fn run(scenario: Scenario, opts: &Opts) -> anyhow::Result<RunReport> {
    let report = match scenario {
        Scenario::Idle => idle::run(opts).await?,
        Scenario::Fanout
        | Scenario::Spread
        | Scenario::Burst
        | Scenario::Snapshots
        | Scenario::Resume
        | Scenario::Group => traffic::run(scenario, opts).await?,
        Scenario::Writers => writers::run(opts).await?,
    };
    crate::report::save(&report, &opts.out)?;
    Ok(report)
}
