//! Storage: one [`Store`] trait for everything the gateway reads (and the demo writes), one
//! generic sqlx implementation, the backend picked by the URL scheme (`mysql://`, `postgres://`,
//! `sqlite://`).
//!
//! Every query is parameterised. Times cross this boundary as `DateTime<Utc>` for the signal
//! tables and as naive local times for VnPy's bar tables (the caller converts with
//! `--bars-timezone`).
//!
//! # Layout
//! - `sql.rs`: `SqlStore<B>`, the one `impl Store`: queries and migrations; `rows.rs`: row
//!   decoding.
//! - `query.rs`: the statement builder and the reads; `write.rs`: the upserts and inserts.
//! - `sequence.rs`: the poller's probe and numbering round (gateway-assigned `seq`).
//! - `resample.rs`: bars of any interval, resampled from stored 1-minute bars when not stored.
//! - `retention.rs`: pruning old events in batches and the pruned-`seq` record.
//! - `partition.rs`: PostgreSQL's opt-in monthly partitions of the event table (DDL in
//!   `partition_ddl.rs`).
//! - `dialect.rs`: how each backend spells SQL and times; the embedded migrations.
//! - `backend.rs`: the `Backend` trait (what differs per backend) and the sqlx glue.
//! - `mysql.rs`, `postgres.rs`, `sqlite.rs`: connect options; PostgreSQL's time columns and
//!   `LISTEN`.
//! - `adopt.rs`: refusing design-document tables, with the adoption SQL of `adopt/`.
//! - `error.rs`: [`StoreError`].

mod adopt;
mod backend;
mod dialect;
mod error;
mod gate;
mod mysql;
mod partition;
mod partition_ddl;
mod postgres;
mod query;
pub mod resample;
mod retention;
mod rows;
mod sequence;
mod sql;
mod sqlite;
mod write;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use tokio::sync::Notify;

use crate::domain::{
    Bar, Event, EventType, Interval, Snapshot, VariantSummary, VtSymbol, local_to_utc,
};

pub use error::{StoreError, Unavailable, UnavailableKind};
pub use sequence::{Numbering, PendingEvent, PendingSnapshot, Probe};
use sql::SqlStore;

/// How long [`Store::ping`] waits for a connection and the answer, so that `/readyz` answers
/// promptly even when the pool's acquire timeout is long (a probe that hangs is as bad as one
/// that fails): well under the few seconds readiness probes are usually given.
pub const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Connection pool settings (from the CLI / config file).
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Maximum connections in the pool.
    pub max_connections: u32,
    /// How long a query may wait for a free connection before the request fails with 503.
    pub acquire_timeout: Duration,
}

/// Which time column `GET /api/events?time_field=` filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum TimeField {
    /// `created_at` (default).
    #[default]
    CreatedAt,
    /// `bar_dt`.
    BarDt,
}

impl TimeField {
    /// The column name.
    pub fn column(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::BarDt => "bar_dt",
        }
    }
}

/// A range read of one variant's events, ascending by `seq`.
#[derive(Debug, Clone)]
pub struct EventQuery {
    /// Variant to read.
    pub variant: String,
    /// Only these symbols (empty = all).
    pub vt_symbols: Vec<VtSymbol>,
    /// Only this type.
    pub event_type: Option<EventType>,
    /// Column `start`/`end` apply to.
    pub time_field: TimeField,
    /// Inclusive lower bound.
    pub start: Option<DateTime<Utc>>,
    /// Inclusive upper bound.
    pub end: Option<DateTime<Utc>>,
    /// Only events with `seq > after_seq`.
    pub after_seq: i64,
    /// At most this many rows.
    pub limit: u32,
}

impl EventQuery {
    /// Every event of `variant` after `after_seq`, up to `limit`.
    pub fn after(variant: &str, after_seq: i64, limit: u32) -> Self {
        Self {
            variant: variant.to_owned(),
            vt_symbols: Vec::new(),
            event_type: None,
            time_field: TimeField::CreatedAt,
            start: None,
            end: None,
            after_seq,
            limit,
        }
    }
}

/// A read of VnPy bars. Times are naive, in the bars' own zone.
#[derive(Debug, Clone)]
pub struct BarQuery {
    /// Instrument.
    pub vt_symbol: VtSymbol,
    /// Bar interval.
    pub interval: Interval,
    /// Inclusive lower bound; without it the latest `limit` bars up to `end` are returned.
    pub start: Option<NaiveDateTime>,
    /// Inclusive upper bound.
    pub end: Option<NaiveDateTime>,
    /// At most this many bars.
    pub limit: u32,
}

/// One bar series: an instrument at one interval (a `subscribe_bars` subscription).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BarSeries {
    /// Instrument.
    pub vt_symbol: VtSymbol,
    /// Bar interval.
    pub interval: Interval,
}

/// A bar as stored by VnPy (naive local time).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBar {
    /// Bar start, naive, in the bars' zone.
    pub datetime: NaiveDateTime,
    /// `open_price`.
    pub open: f64,
    /// `high_price`.
    pub high: f64,
    /// `low_price`.
    pub low: f64,
    /// `close_price`.
    pub close: f64,
    /// `volume`.
    pub volume: f64,
    /// `turnover`.
    pub turnover: f64,
    /// `open_interest`.
    pub open_interest: f64,
}

impl StoredBar {
    /// The bar as served, its time converted from the bars' zone `tz` to UTC.
    pub fn to_utc(&self, tz: Tz) -> Bar {
        Bar {
            datetime: local_to_utc(tz, self.datetime),
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume,
            turnover: self.turnover,
            open_interest: self.open_interest,
        }
    }
}

/// Every variant's head and every snapshot row's version: the poller's full (reconciliation)
/// read.
#[derive(Debug, Clone, Default)]
pub struct PollState {
    /// The database's identity ([`Store::database_id`]), read in the same poll.
    pub database_id: String,
    /// `(variant, highest assigned seq)` from `monitor_signal_seq`.
    pub seqs: Vec<(String, i64)>,
    /// `(variant, instance_id, version)` of every snapshot row.
    pub versions: Vec<(String, String, i64)>,
    /// `(variant, instance_id)` of the rows whose latest version is pending (not yet marked
    /// published by a numbering round).
    pub pending: Vec<(String, String)>,
}

/// A snapshot upsert using only the seed columns (what a strategy writes).
#[derive(Debug, Clone)]
pub struct NewSnapshot {
    /// Variant.
    pub variant: String,
    /// Instance.
    pub instance_id: String,
    /// Update time (UTC).
    pub updated_at: DateTime<Utc>,
    /// Bar the state was computed on.
    pub bar_dt: Option<DateTime<Utc>>,
    /// Bar interval.
    pub bar_interval: Option<String>,
    /// Bar window.
    pub bar_window: Option<i32>,
    /// JSON text.
    pub payload: String,
}

/// An idempotent event insert using only the seed columns.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Variant.
    pub variant: String,
    /// Instance.
    pub instance_id: String,
    /// Instrument.
    pub vt_symbol: String,
    /// Bar time.
    pub bar_dt: Option<DateTime<Utc>>,
    /// `signal`, `state_change`, `alert`, `order`.
    pub event_type: String,
    /// Idempotency key.
    pub event_key: String,
    /// Creation time (UTC).
    pub created_at: DateTime<Utc>,
    /// JSON text.
    pub payload: String,
}

/// A VnPy bar upsert (demo mode only).
#[derive(Debug, Clone)]
pub struct NewBar {
    /// Instrument.
    pub vt_symbol: VtSymbol,
    /// Interval.
    pub interval: Interval,
    /// The bar's values.
    pub bar: StoredBar,
}

/// Everything the gateway needs from a database.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `mysql`, `postgres` or `sqlite`.
    fn backend(&self) -> &'static str;
    /// Applies all pending up migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Reverts the latest applied migration; returns false if none was applied.
    async fn migrate_down(&self) -> Result<bool, StoreError>;
    /// Readiness: succeeds only if the signal tables can be read, within [`PING_TIMEOUT`] (not
    /// the pool's acquire timeout, which may be long); otherwise [`StoreError::Unavailable`].
    async fn ping(&self) -> Result<(), StoreError> {
        self.ping_within(PING_TIMEOUT).await
    }
    /// [`Store::ping`] within `timeout`.
    async fn ping_within(&self, timeout: Duration) -> Result<(), StoreError>;
    /// Variants with their instances, from the snapshot and sequence tables.
    async fn variants(&self) -> Result<Vec<VariantSummary>, StoreError>;
    /// Snapshots of one variant (or all), ordered by variant and instance.
    async fn snapshots(&self, variant: Option<&str>) -> Result<Vec<Snapshot>, StoreError>;
    /// Events matching the query, ascending by seq.
    async fn events(&self, q: &EventQuery) -> Result<Vec<Event>, StoreError>;
    /// Bars matching the query, ascending by time.
    async fn bars(&self, q: &BarQuery) -> Result<Vec<StoredBar>, StoreError>;
    /// The latest bar of each series, in one statement (one index probe per series), as
    /// `(index into series, bar)`; series without bars are left out.
    async fn latest_bars(
        &self,
        series: &[BarSeries],
    ) -> Result<Vec<(usize, StoredBar)>, StoreError>;
    /// The database's identity: a random id written once by `migrate` (migration 0004,
    /// table `signalgate_meta`). [`StoreError::NoIdentity`] if the table or its row is missing.
    async fn database_id(&self) -> Result<String, StoreError>;
    /// Every variant's head and every snapshot row's version (includes the identity): the
    /// poller's reconciliation read, `/readyz`'s lag and the hub's start.
    async fn poll_state(&self) -> Result<PollState, StoreError>;
    /// The poller's one statement per poll: identity, the round and deletion counters, and the
    /// first `batch` pending events and snapshot rows (migration 0005).
    async fn probe(&self, batch: u32) -> Result<Probe, StoreError>;
    /// One numbering round (see `store/sequence.rs`): `Ok(false)` when another round ran since
    /// the probe that read `round` (nothing was changed).
    async fn number(
        &self,
        round: i64,
        numbering: &Numbering,
        snapshots: &[(i64, i64)],
    ) -> Result<bool, StoreError>;
    /// Upserts a snapshot with the seed columns only.
    async fn upsert_snapshot(&self, s: &NewSnapshot) -> Result<(), StoreError>;
    /// Inserts an event unless its key exists; true if a row was inserted.
    async fn insert_event(&self, e: &NewEvent) -> Result<bool, StoreError>;
    /// Upserts a bar into `dbbardata` (demo only).
    async fn upsert_bar(&self, b: &NewBar) -> Result<(), StoreError>;
    /// The newest bar time of a series (demo resumes from it).
    async fn last_bar_time(
        &self,
        vt_symbol: &VtSymbol,
        interval: Interval,
    ) -> Result<Option<NaiveDateTime>, StoreError>;
    /// How many numbered events were created before `before` (what pruning would delete).
    async fn count_events_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Deletes up to `limit` events created before `before` (lowest id first), after recording
    /// the highest deleted `seq` per variant; returns how many were deleted (0: none left).
    async fn prune_events(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError>;
    /// The highest `seq` of `variant` deleted by pruning, 0 if none.
    async fn pruned_upto(&self, variant: &str) -> Result<i64, StoreError>;
    /// PostgreSQL only: converts `monitor_signal_event` to monthly range partitions, or, if it
    /// is partitioned already, creates the missing months up to `months_ahead` from now.
    /// Elsewhere [`StoreError::Unsupported`].
    async fn partition_events(&self, months_ahead: u32) -> Result<PartitionReport, StoreError>;
    /// On a partitioned event table: drops the partitions entirely before `before` (recording
    /// the pruned `seq` first) and creates the months up to `months_ahead`; `dry_run` only
    /// reports. A plain table: nothing (`partitioned: false`).
    async fn prune_partitions(
        &self,
        before: DateTime<Utc>,
        months_ahead: u32,
        dry_run: bool,
    ) -> Result<PartitionPrune, StoreError>;
    /// Calls `wake.notify_one()` whenever the database reports a change (PostgreSQL `LISTEN`),
    /// until the future is dropped or the store is closed; spawns nothing. Backends without
    /// change notifications (the default) return at once: timer polling only.
    async fn listen_changes(&self, wake: Arc<Notify>) {
        let _ = wake;
    }
    /// Closes the pool and waits until every connection has ended.
    async fn close(&self);
    /// Whether [`Store::close`] was called.
    fn is_closed(&self) -> bool;
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.backend())
    }
}

/// What [`Store::partition_events`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionReport {
    /// The table was converted now (false: it was partitioned already).
    pub converted: bool,
    /// Events in the table (all kept).
    pub rows: u64,
    /// Partitions created, e.g. `monitor_signal_event_p202612`.
    pub created: Vec<String>,
}

/// What [`Store::prune_partitions`] dropped (or, in a dry run, would drop).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionPrune {
    /// The event table is partitioned (otherwise nothing was done).
    pub partitioned: bool,
    /// Partitions dropped, oldest first.
    pub dropped: Vec<String>,
    /// Events in them.
    pub rows: u64,
    /// Partitions created for the coming months.
    pub created: Vec<String>,
}

/// Opens a pool for `url` and returns the matching backend.
pub async fn connect(url: &str, opts: &PoolOptions) -> Result<Arc<dyn Store>, StoreError> {
    let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or("");
    match scheme {
        "mysql" | "mariadb" => Ok(Arc::new(SqlStore::<sqlx::MySql>::connect(url, opts)?)),
        "postgres" | "postgresql" => Ok(Arc::new(SqlStore::<sqlx::Postgres>::connect(url, opts)?)),
        "sqlite" => Ok(Arc::new(SqlStore::<sqlx::Sqlite>::connect(url, opts)?)),
        _ => Err(StoreError::BadUrl(format!(
            "unsupported database URL scheme '{scheme}'; use mysql://, postgres:// or sqlite://"
        ))),
    }
}
