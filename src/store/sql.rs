//! The one [`Store`] implementation, generic over the [`Backend`]: every query, row decoder and
//! the migration bookkeeping are written once here.

use std::{collections::BTreeMap, future::Future, sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::Pool;
use tokio::sync::Notify;
use tracing::instrument;

use super::{
    BarQuery, BarSeries, EventQuery, NewBar, NewEvent, NewSnapshot, Numbering, PartitionPrune,
    PartitionReport, PollState, PoolOptions, Probe, Store, StoreError, StoredBar, Unavailable,
    backend::{Backend, RowOf, prepare},
    dialect::Dialect,
    gate::Gate,
    query::{self, Sql},
    write,
};
use crate::domain::{Event, Interval, Snapshot, VariantSummary, VtSymbol, parse_payload};

/// A connection pool of backend `B`.
pub(crate) struct SqlStore<B: Backend> {
    pool: Pool<B>,
    /// Fails queries fast while the database cannot be reached.
    gate: Arc<Gate>,
}

/// Reads a required UTC time column.
fn time<B: Backend>(row: &RowOf<B>, col: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    B::opt_time(row, col)?.ok_or_else(|| null_in(col))
}

/// Whether `pool` holds its maximum of connections (open or being opened).
fn pool_is_full<B: Backend>(pool: &Pool<B>) -> bool {
    pool.size() >= pool.options().get_max_connections()
}

/// Migrations recorded as failed (MySQL cannot roll DDL back, so sqlx records them).
const FAILED_MIGRATIONS: &str = "SELECT version FROM _sqlx_migrations WHERE NOT success";

/// The refusal to migrate design-document tables that lack the gateway's `missing` columns.
fn adoption_refusal(dialect: Dialect, missing: &[String], failed: &[i64]) -> String {
    let mut head = format!(
        "the signal tables exist without the gateway's columns ({}): they were created from \
         the design document and must be adopted before migrating; nothing was changed. See \
         docs/schema.md, \"Adopting existing tables\".",
        missing.join(", ")
    );
    if !failed.is_empty() {
        let versions: Vec<String> = failed.iter().map(i64::to_string).collect();
        head.push_str(&format!(
            " An earlier attempt left a failed migration record: first run \
             `DELETE FROM _sqlx_migrations WHERE version IN ({}) AND NOT success;`.",
            versions.join(", ")
        ));
    }
    match dialect.adoption_sql() {
        Some(sql) => format!(
            "{head} With the writers stopped, run these statements on the database:\n\n{}\n\
             then run `signalgate migrate` (or `serve`) again.",
            sql.trim_end()
        ),
        None => format!(
            "{head} Add `version BIGINT NOT NULL DEFAULT 1` to monitor_signal_snapshot and \
             `seq` numbered 1..n per variant to monitor_signal_event, then migrate again."
        ),
    }
}

fn null_in(col: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: col.to_owned(),
        source: "unexpected NULL".into(),
    }
}

fn variant_instance<B: Backend>(row: &RowOf<B>) -> Result<(String, String), sqlx::Error> {
    Ok((B::text(row, "variant")?, B::text(row, "instance_id")?))
}

fn snapshot_from_row<B: Backend>(row: &RowOf<B>) -> Result<Snapshot, sqlx::Error> {
    let (variant, instance_id) = variant_instance::<B>(row)?;
    let what = format!("monitor_signal_snapshot {variant}/{instance_id}");
    Ok(Snapshot {
        version: B::int(row, "version")?,
        updated_at: time::<B>(row, "updated_at")?,
        bar_dt: B::opt_time(row, "bar_dt")?,
        bar_interval: B::opt_text(row, "bar_interval")?,
        bar_window: B::opt_int(row, "bar_window")?,
        payload: parse_payload(B::text(row, "payload")?, &what),
        variant,
        instance_id,
    })
}

fn event_from_row<B: Backend>(row: &RowOf<B>) -> Result<Event, sqlx::Error> {
    let id = B::int(row, "id")?;
    Ok(Event {
        id,
        seq: B::int(row, "seq")?,
        variant: B::text(row, "variant")?,
        instance_id: B::text(row, "instance_id")?,
        vt_symbol: B::text(row, "vt_symbol")?,
        bar_dt: B::opt_time(row, "bar_dt")?,
        event_type: B::text(row, "event_type")?,
        event_key: B::text(row, "event_key")?,
        created_at: time::<B>(row, "created_at")?,
        payload: parse_payload(
            B::text(row, "payload")?,
            &format!("monitor_signal_event id={id}"),
        ),
    })
}

fn bar_from_row<B: Backend>(row: &RowOf<B>) -> Result<StoredBar, sqlx::Error> {
    let float = |col| B::float(row, col);
    Ok(StoredBar {
        datetime: B::opt_naive(row, "bar_time", B::DIALECT)?.ok_or_else(|| null_in("bar_time"))?,
        open: float("open_price")?,
        high: float("high_price")?,
        low: float("low_price")?,
        close: float("close_price")?,
        volume: float("volume")?,
        turnover: float("turnover")?,
        open_interest: float("open_interest")?,
    })
}

/// The `series_index` column of a [`query::latest_bars_sql`] row.
fn series_index<B: Backend>(row: &RowOf<B>) -> Result<usize, sqlx::Error> {
    B::text(row, "series_index")?
        .parse()
        .map_err(|e| sqlx::Error::ColumnDecode {
            index: "series_index".to_owned(),
            source: Box::new(e),
        })
}

/// Groups `(variant, instance_id, updated_at)` rows plus event-only variants into summaries.
fn summarise(
    rows: Vec<(String, String, DateTime<Utc>)>,
    event_variants: Vec<String>,
) -> Vec<VariantSummary> {
    let mut map: BTreeMap<String, (Vec<String>, Option<DateTime<Utc>>)> = BTreeMap::new();
    for (variant, instance, updated) in rows {
        let entry = map.entry(variant).or_default();
        entry.0.push(instance);
        entry.1 = entry.1.max(Some(updated));
    }
    for variant in event_variants {
        map.entry(variant).or_default();
    }
    map.into_iter()
        .map(|(variant, (mut instances, updated))| {
            instances.sort();
            VariantSummary {
                variant,
                instances,
                updated_at: updated.as_ref().map(crate::domain::fmt_time),
            }
        })
        .collect()
}

impl<B: Backend> SqlStore<B> {
    /// Opens the pool lazily: the first query connects, so the gateway starts even if the
    /// database is down and reports it on `/readyz`.
    pub(crate) fn connect(url: &str, opts: &PoolOptions) -> Result<Self, StoreError> {
        Ok(Self {
            pool: B::pool(url, opts)?,
            gate: Arc::default(),
        })
    }

    /// Runs `query` unless the database is known to be down and no probe gets through within
    /// [`DOWN_PROBE`](super::gate::DOWN_PROBE) (then fails as unreachable); records the outcome.
    pub(super) async fn gated<T>(
        &self,
        query: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        let pool = self.pool.clone();
        self.gate
            .admit(move || async move {
                let ping = prepare::<B>(query::PING.to_owned(), Vec::new());
                let result = B::fetch_all(&pool, ping).await.map(drop);
                (result, pool_is_full(&pool))
            })
            .await?;
        let done = query.await;
        self.gate.record(&done, self.pool_full());
        done
    }

    /// The pool (for transactions).
    pub(super) fn pool(&self) -> &Pool<B> {
        &self.pool
    }

    /// Whether the pool holds its maximum of connections (open or being opened).
    fn pool_full(&self) -> bool {
        pool_is_full(&self.pool)
    }

    pub(super) async fn fetch(&self, sql: Sql) -> Result<Vec<RowOf<B>>, sqlx::Error> {
        self.gated(B::fetch_all(&self.pool, prepare::<B>(sql.text, sql.params)))
            .await
    }

    async fn fetch_text(&self, text: &str) -> Result<Vec<RowOf<B>>, sqlx::Error> {
        self.gated(B::fetch_all(
            &self.pool,
            prepare::<B>(text.to_owned(), Vec::new()),
        ))
        .await
    }

    /// Runs a query without parameters and decodes every row with `f`.
    async fn fetch_map<T>(
        &self,
        text: &str,
        f: impl Fn(&RowOf<B>) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.fetch_text(text).await?;
        Ok(rows.iter().map(f).collect::<Result<_, _>>()?)
    }

    /// Before any migration runs: signal tables created from the design document (without
    /// the gateway's `version` / `seq`) would make migration `0001` fail half-way (its
    /// `CREATE TABLE IF NOT EXISTS` keeps them, its triggers need the columns), so refuse with
    /// the adoption steps and change nothing. Looks at the columns, not at the migrations
    /// table, so it holds whatever migrations are added later.
    async fn refuse_design_tables(&self) -> Result<(), StoreError> {
        // Not gated: like the migration itself, this may wait the whole acquire timeout.
        let text = B::DIALECT.signal_columns_sql().to_owned();
        let rows = B::fetch_all(&self.pool, prepare::<B>(text, Vec::new())).await;
        self.gate.record(&rows, self.pool_full());
        let rows = rows?;
        let columns = rows
            .iter()
            .map(|r| {
                Ok((
                    B::text(r, "t")?.to_lowercase(),
                    B::text(r, "c")?.to_lowercase(),
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let has_table = |t: &str| columns.iter().any(|(ct, _)| ct == t);
        let has = |t: &str, c: &str| columns.iter().any(|(ct, cc)| ct == t && cc == c);
        let missing: Vec<String> = [
            ("monitor_signal_snapshot", "version"),
            ("monitor_signal_event", "seq"),
        ]
        .into_iter()
        .filter(|(t, c)| has_table(t) && !has(t, c))
        .map(|(t, c)| format!("{t}.{c}"))
        .collect();
        if missing.is_empty() {
            return Ok(());
        }
        // A failed record left by an earlier gateway's attempt (before this check) would make
        // the migration refuse even after the adoption steps. No bookkeeping table: none.
        let failed = self
            .fetch_map(FAILED_MIGRATIONS, |r| B::int(r, "version"))
            .await
            .unwrap_or_default();
        Err(StoreError::Unsupported(adoption_refusal(
            B::DIALECT,
            &missing,
            &failed,
        )))
    }

    pub(super) async fn execute(&self, sql: Sql) -> Result<u64, StoreError> {
        Ok(self
            .gated(B::execute(&self.pool, prepare::<B>(sql.text, sql.params)))
            .await?)
    }
}

#[async_trait]
impl<B: Backend> Store for SqlStore<B> {
    fn backend(&self) -> &'static str {
        B::DIALECT.name()
    }

    #[instrument(skip_all)]
    async fn migrate(&self) -> Result<(), StoreError> {
        self.refuse_design_tables().await?;
        Ok(B::migrate(&self.pool, B::DIALECT.migrator()).await?)
    }

    #[instrument(skip_all)]
    async fn migrate_down(&self) -> Result<bool, StoreError> {
        let text = "SELECT version FROM _sqlx_migrations ORDER BY version DESC LIMIT 2";
        let applied = match self.fetch_text(text).await {
            Ok(rows) => rows
                .iter()
                .map(|r| B::int(r, "version"))
                .collect::<Result<Vec<_>, _>>()?,
            // No bookkeeping table yet: nothing was ever applied.
            Err(sqlx::Error::Database(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        if applied.is_empty() {
            return Ok(false);
        }
        let target = applied.get(1).copied().unwrap_or(0);
        B::undo(&self.pool, B::DIALECT.migrator(), target).await?;
        Ok(true)
    }

    async fn ping_within(&self, timeout: Duration) -> Result<(), StoreError> {
        match tokio::time::timeout(timeout, self.fetch_text(query::PING)).await {
            Ok(done) => Ok(done.map(drop)?),
            Err(_) => Err(Unavailable::timed_out().into()),
        }
    }

    #[instrument(skip_all)]
    async fn variants(&self) -> Result<Vec<VariantSummary>, StoreError> {
        let rows = self
            .fetch_map(query::VARIANT_ROWS, |r| {
                let (variant, instance) = variant_instance::<B>(r)?;
                Ok((variant, instance, time::<B>(r, "updated_at")?))
            })
            .await?;
        let seqs = self
            .fetch_map(query::SEQ_VARIANTS, |r| B::text(r, "variant"))
            .await?;
        Ok(summarise(rows, seqs))
    }

    #[instrument(skip(self))]
    async fn snapshots(&self, variant: Option<&str>) -> Result<Vec<Snapshot>, StoreError> {
        let rows = self
            .fetch(query::snapshots_sql(B::DIALECT, variant))
            .await?;
        Ok(rows
            .iter()
            .map(snapshot_from_row::<B>)
            .collect::<Result<_, _>>()?)
    }

    #[instrument(skip_all, fields(variant = %q.variant, after_seq = q.after_seq))]
    async fn events(&self, q: &EventQuery) -> Result<Vec<Event>, StoreError> {
        let Some(sql) = query::events_sql(B::DIALECT, q) else {
            return Ok(Vec::new());
        };
        let rows = self.fetch(sql).await?;
        Ok(rows
            .iter()
            .map(event_from_row::<B>)
            .collect::<Result<_, _>>()?)
    }

    #[instrument(skip_all, fields(vt_symbol = %q.vt_symbol))]
    async fn bars(&self, q: &BarQuery) -> Result<Vec<StoredBar>, StoreError> {
        let Some(sql) = query::bars_sql(B::DIALECT, q) else {
            return Ok(Vec::new());
        };
        let rows = self.fetch(sql).await?;
        let mut bars = rows
            .iter()
            .map(bar_from_row::<B>)
            .collect::<Result<Vec<_>, _>>()?;
        if q.start.is_none() {
            bars.reverse();
        }
        Ok(bars)
    }

    #[instrument(skip_all, fields(series = series.len()))]
    async fn latest_bars(
        &self,
        series: &[BarSeries],
    ) -> Result<Vec<(usize, StoredBar)>, StoreError> {
        if series.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .fetch(query::latest_bars_sql(B::DIALECT, series))
            .await?;
        Ok(rows
            .iter()
            .map(|r| Ok((series_index::<B>(r)?, bar_from_row::<B>(r)?)))
            .collect::<Result<_, sqlx::Error>>()?)
    }

    async fn database_id(&self) -> Result<String, StoreError> {
        let ids = match self
            .fetch_map(query::DATABASE_ID, |r| B::text(r, "value"))
            .await
        {
            Err(e) if e.unavailable() == Some(super::UnavailableKind::MissingTable) => {
                // The signal tables are there but not the identity: an older schema.
                return match self.ping().await {
                    Ok(()) => Err(StoreError::NoIdentity),
                    Err(_) => Err(e),
                };
            }
            other => other?,
        };
        ids.into_iter().next().ok_or(StoreError::NoIdentity)
    }

    async fn poll_state(&self) -> Result<PollState, StoreError> {
        let database_id = self.database_id().await?;
        // Versions first: a snapshot committed together with events is then never published
        // before those events (the later seq read sees them too).
        let rows = self
            .fetch_map(&query::poll_versions(B::DIALECT), |r| {
                let (variant, instance) = variant_instance::<B>(r)?;
                Ok((
                    variant,
                    instance,
                    B::int(r, "version")?,
                    B::int(r, "p")? != 0,
                ))
            })
            .await?;
        let seqs = self
            .fetch_map(query::POLL_SEQS, |r| {
                Ok((B::text(r, "variant")?, B::int(r, "v")?))
            })
            .await?;
        let pending = rows
            .iter()
            .filter(|r| r.3)
            .map(|(v, i, _, _)| (v.clone(), i.clone()))
            .collect();
        let versions = rows.into_iter().map(|(v, i, ver, _)| (v, i, ver)).collect();
        Ok(PollState {
            database_id,
            seqs,
            versions,
            pending,
        })
    }

    #[instrument(skip(self))]
    async fn probe(&self, batch: u32) -> Result<Probe, StoreError> {
        self.probe_db(batch).await
    }

    #[instrument(skip_all, fields(round = round, events = numbering.events.len(), snapshots = snapshots.len()))]
    async fn number(
        &self,
        round: i64,
        numbering: &Numbering,
        snapshots: &[(i64, i64)],
    ) -> Result<bool, StoreError> {
        self.number_pending(round, numbering, snapshots).await
    }

    async fn upsert_snapshot(&self, s: &NewSnapshot) -> Result<(), StoreError> {
        self.execute(write::upsert_snapshot_sql(B::DIALECT, s))
            .await?;
        Ok(())
    }

    async fn insert_event(&self, e: &NewEvent) -> Result<bool, StoreError> {
        Ok(self.execute(write::insert_event_sql(B::DIALECT, e)).await? == 1)
    }

    async fn upsert_bar(&self, b: &NewBar) -> Result<(), StoreError> {
        self.execute(write::upsert_bar_sql(B::DIALECT, b)).await?;
        Ok(())
    }

    async fn last_bar_time(
        &self,
        vt_symbol: &VtSymbol,
        interval: Interval,
    ) -> Result<Option<NaiveDateTime>, StoreError> {
        let rows = self
            .fetch(query::last_bar_sql(B::DIALECT, vt_symbol, interval))
            .await?;
        match rows.first() {
            Some(row) => Ok(B::opt_naive(row, "t", B::DIALECT)?),
            None => Ok(None),
        }
    }

    async fn count_events_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.count_before(before).await
    }

    async fn prune_events(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError> {
        self.prune_batch(before, limit).await
    }

    async fn pruned_upto(&self, variant: &str) -> Result<i64, StoreError> {
        self.pruned_upto_of(variant).await
    }

    async fn partition_events(&self, months_ahead: u32) -> Result<PartitionReport, StoreError> {
        B::partition_events(&self.pool, months_ahead).await
    }

    async fn prune_partitions(
        &self,
        before: DateTime<Utc>,
        months_ahead: u32,
        dry_run: bool,
    ) -> Result<PartitionPrune, StoreError> {
        B::prune_partitions(&self.pool, before, months_ahead, dry_run).await
    }

    async fn listen_changes(&self, wake: Arc<Notify>) {
        B::listen(self.pool.clone(), wake).await;
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }
}
