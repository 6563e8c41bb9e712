//! The one [`Store`] implementation, generic over the [`Backend`]: every query, row decoder and
//! the migration bookkeeping are written once here.

use std::{future::Future, sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::Pool;
use tokio::sync::Notify;
use tracing::instrument;

use super::{
    BarQuery, BarSeries, EventQuery, NewBar, NewEvent, NewSnapshot, Numbering, PartitionPrune,
    PartitionReport, PollState, PoolOptions, Probe, Store, StoreError, StoredBar, Unavailable,
    backend::{Backend, RowOf, prepare},
    gate::Gate,
    query::{self, Sql},
    rows::{
        bar_from_row, event_from_row, series_index, snapshot_from_row, summarise, time,
        variant_instance,
    },
    write,
};
use crate::domain::{Event, Interval, Snapshot, VariantSummary, VtSymbol};

/// A connection pool of backend `B`.
pub(crate) struct SqlStore<B: Backend> {
    pool: Pool<B>,
    /// Fails queries fast while the database cannot be reached.
    pub(super) gate: Arc<Gate>,
}

/// Whether `pool` holds its maximum of connections (open or being opened).
fn pool_is_full<B: Backend>(pool: &Pool<B>) -> bool {
    pool.size() >= pool.options().get_max_connections()
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
    pub(super) fn pool_full(&self) -> bool {
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
    pub(super) async fn fetch_map<T>(
        &self,
        text: &str,
        f: impl Fn(&RowOf<B>) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.fetch_text(text).await?;
        Ok(rows.iter().map(f).collect::<Result<_, _>>()?)
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
