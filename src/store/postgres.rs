//! PostgreSQL backend. Signal times are `TIMESTAMPTZ`; VnPy bar times are naive `TIMESTAMP`.
//! A `LISTEN signalgate` connection wakes the poller as soon as a writer commits.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use std::{sync::Arc, time::Duration};

use sqlx::{
    AssertSqlSafe, PgPool, Row,
    postgres::{PgArguments, PgListener, PgPoolOptions, PgRow},
    query::Query,
};
use tokio::sync::Notify;
use tracing::instrument;

use super::{
    BarQuery, BarSeries, EventQuery, NewBar, NewEvent, NewSnapshot, PollState, PoolOptions, Store,
    StoreError, StoredBar,
    query::{self, POSTGRES, Param, TimeCodec},
};
use crate::domain::{Event, Interval, Snapshot, VariantSummary, VtSymbol};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A PostgreSQL connection pool.
pub struct PgStore {
    pool: PgPool,
}

struct Codec;
impl TimeCodec<PgRow> for Codec {
    fn time(row: &PgRow, col: &str) -> Result<DateTime<Utc>, sqlx::Error> {
        row.try_get(col)
    }
    fn opt_time(row: &PgRow, col: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        row.try_get(col)
    }
}

fn bind_all(
    mut q: Query<'_, sqlx::Postgres, PgArguments>,
    params: Vec<Param>,
) -> Query<'_, sqlx::Postgres, PgArguments> {
    for p in params {
        q = match p {
            Param::Str(s) => q.bind(s),
            Param::I64(v) => q.bind(v),
            Param::Time(t) => q.bind(t),
            Param::Naive(t) => q.bind(t),
        };
    }
    q
}

impl PgStore {
    /// Opens the pool lazily (see the MySQL backend for why).
    pub async fn connect(url: &str, opts: &PoolOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_lazy(url)
            .map_err(|e| StoreError::BadUrl(format!("invalid PostgreSQL URL: {e}")))?;
        Ok(Self { pool })
    }
}

/// Keeps a `LISTEN signalgate` connection open and pokes `wake` on every notification. When the
/// connection drops, notifications sent meanwhile are lost; the poller's timer is the safety net,
/// and a reconnect also wakes it once.
async fn listen_loop(pool: PgPool, wake: Arc<Notify>) {
    // Back-off between reconnect attempts while the database is down.
    const RETRY: Duration = Duration::from_secs(1);
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(err) => {
                tracing::debug!(error = %err, "LISTEN connection failed; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        if let Err(err) = listener.listen("signalgate").await {
            tracing::debug!(error = %err, "LISTEN failed; retrying");
            tokio::time::sleep(RETRY).await;
            continue;
        }
        tracing::debug!("listening for change notifications");
        wake.notify_one();
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => wake.notify_one(),
                Ok(None) => {
                    // Connection lost and re-established by sqlx: poll once to catch up.
                    wake.notify_one();
                }
                Err(err) => {
                    tracing::debug!(error = %err, "LISTEN connection broke; reconnecting");
                    tokio::time::sleep(RETRY).await;
                    break;
                }
            }
        }
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    #[instrument(skip_all)]
    async fn migrate(&self) -> Result<(), StoreError> {
        Ok(MIGRATOR.run(&self.pool).await?)
    }

    #[instrument(skip_all)]
    async fn migrate_down(&self) -> Result<bool, StoreError> {
        super::undo_last!(MIGRATOR, &self.pool)
    }

    async fn listen_changes(&self, wake: Arc<Notify>) {
        listen_loop(self.pool.clone(), wake).await;
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn variants(&self) -> Result<Vec<VariantSummary>, StoreError> {
        let rows = sqlx::query(query::VARIANT_ROWS)
            .fetch_all(&self.pool)
            .await?;
        let rows = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, Codec::time(r, "updated_at")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let seqs: Vec<String> = sqlx::query_scalar(query::SEQ_VARIANTS)
            .fetch_all(&self.pool)
            .await?;
        Ok(super::summarise(rows, seqs))
    }

    #[instrument(skip(self))]
    async fn snapshots(&self, variant: Option<&str>) -> Result<Vec<Snapshot>, StoreError> {
        let sql = query::snapshots_sql(POSTGRES, variant);
        let rows = bind_all(sqlx::query(AssertSqlSafe(sql.text)), sql.params)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(query::snapshot_from_row::<_, Codec>)
            .collect::<Result<_, _>>()?)
    }

    #[instrument(skip_all, fields(variant = %q.variant, after_seq = q.after_seq))]
    async fn events(&self, q: &EventQuery) -> Result<Vec<Event>, StoreError> {
        let sql = query::events_sql(POSTGRES, q);
        let rows = bind_all(sqlx::query(AssertSqlSafe(sql.text)), sql.params)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(query::event_from_row::<_, Codec>)
            .collect::<Result<_, _>>()?)
    }

    #[instrument(skip_all, fields(vt_symbol = %q.vt_symbol))]
    async fn bars(&self, q: &BarQuery) -> Result<Vec<StoredBar>, StoreError> {
        let sql = query::bars_sql(POSTGRES, q);
        let rows = bind_all(sqlx::query(AssertSqlSafe(sql.text)), sql.params)
            .fetch_all(&self.pool)
            .await?;
        let mut bars = rows
            .iter()
            .map(|r| query::bar_from_row(r, r.try_get("bar_time")?))
            .collect::<Result<Vec<_>, _>>()?;
        if q.start.is_none() {
            bars.reverse();
        }
        Ok(bars)
    }

    async fn latest_bars(
        &self,
        series: &[BarSeries],
    ) -> Result<Vec<(usize, StoredBar)>, StoreError> {
        if series.is_empty() {
            return Ok(Vec::new());
        }
        let sql = query::latest_bars_sql(POSTGRES, series);
        let rows = bind_all(sqlx::query(AssertSqlSafe(sql.text)), sql.params)
            .fetch_all(&self.pool)
            .await?;
        let bars = rows
            .iter()
            .map(|r| {
                Ok((
                    query::series_index(r)?,
                    query::bar_from_row(r, r.try_get("bar_time")?)?,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(bars)
    }

    async fn poll_state(&self) -> Result<PollState, StoreError> {
        // Versions first: a snapshot committed together with events is then never published
        // before those events (the later seq read sees them too).
        let versions = sqlx::query_as(query::POLL_VERSIONS)
            .fetch_all(&self.pool)
            .await?;
        let seqs = sqlx::query_as(query::POLL_SEQS)
            .fetch_all(&self.pool)
            .await?;
        Ok(PollState { seqs, versions })
    }

    async fn upsert_snapshot(&self, s: &NewSnapshot) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO monitor_signal_snapshot \
             (variant, instance_id, updated_at, bar_dt, bar_interval, bar_window, payload_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) ON CONFLICT (variant, instance_id) DO UPDATE SET \
             updated_at = excluded.updated_at, bar_dt = excluded.bar_dt, \
             bar_interval = excluded.bar_interval, bar_window = excluded.bar_window, \
             payload_json = excluded.payload_json",
        )
        .bind(&s.variant)
        .bind(&s.instance_id)
        .bind(s.updated_at)
        .bind(s.bar_dt)
        .bind(&s.bar_interval)
        .bind(s.bar_window)
        .bind(&s.payload)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn insert_event(&self, e: &NewEvent) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO monitor_signal_event \
             (variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) ON CONFLICT (event_key) DO NOTHING",
        )
        .bind(&e.variant)
        .bind(&e.instance_id)
        .bind(&e.vt_symbol)
        .bind(e.bar_dt)
        .bind(&e.event_type)
        .bind(&e.event_key)
        .bind(e.created_at)
        .bind(&e.payload)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn upsert_bar(&self, b: &NewBar) -> Result<(), StoreError> {
        let bar = &b.bar;
        sqlx::query(
            "INSERT INTO dbbardata (symbol, exchange, \"datetime\", \"interval\", volume, turnover, \
             open_interest, open_price, high_price, low_price, close_price) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (symbol, exchange, \"interval\", \"datetime\") DO UPDATE SET \
             volume = excluded.volume, turnover = excluded.turnover, \
             open_interest = excluded.open_interest, open_price = excluded.open_price, \
             high_price = excluded.high_price, low_price = excluded.low_price, \
             close_price = excluded.close_price",
        )
        .bind(b.vt_symbol.symbol())
        .bind(b.vt_symbol.exchange())
        .bind(bar.datetime)
        .bind(b.interval.as_str())
        .bind(bar.volume)
        .bind(bar.turnover)
        .bind(bar.open_interest)
        .bind(bar.open)
        .bind(bar.high)
        .bind(bar.low)
        .bind(bar.close)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn last_bar_time(
        &self,
        vt_symbol: &VtSymbol,
        interval: Interval,
    ) -> Result<Option<NaiveDateTime>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MAX(\"datetime\") FROM dbbardata WHERE symbol = $1 AND exchange = $2 AND \"interval\" = $3",
        )
        .bind(vt_symbol.symbol())
        .bind(vt_symbol.exchange())
        .bind(interval.as_str())
        .fetch_one(&self.pool)
        .await?)
    }
}
