//! MySQL / MariaDB backend. `DATETIME(6)` columns hold UTC as naive times.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::{
    AssertSqlSafe, MySqlPool, Row,
    mysql::{MySqlArguments, MySqlPoolOptions, MySqlRow},
    query::Query,
};
use tracing::instrument;

use super::{
    BarQuery, BarSeries, EventQuery, NewBar, NewEvent, NewSnapshot, PollState, PoolOptions, Store,
    StoreError, StoredBar,
    query::{self, MYSQL, Param, TimeCodec},
};
use crate::domain::{Event, Interval, Snapshot, VariantSummary, VtSymbol};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/mysql");

/// A MySQL/MariaDB connection pool.
pub struct MySqlStore {
    pool: MySqlPool,
}

struct Codec;
impl TimeCodec<MySqlRow> for Codec {
    fn time(row: &MySqlRow, col: &str) -> Result<DateTime<Utc>, sqlx::Error> {
        Ok(row.try_get::<NaiveDateTime, _>(col)?.and_utc())
    }
    fn opt_time(row: &MySqlRow, col: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        Ok(row
            .try_get::<Option<NaiveDateTime>, _>(col)?
            .map(|t| t.and_utc()))
    }
}

fn bind_all(
    mut q: Query<'_, sqlx::MySql, MySqlArguments>,
    params: Vec<Param>,
) -> Query<'_, sqlx::MySql, MySqlArguments> {
    for p in params {
        q = match p {
            Param::Str(s) => q.bind(s),
            Param::I64(v) => q.bind(v),
            Param::Time(t) => q.bind(t.naive_utc()),
            Param::Naive(t) => q.bind(t),
        };
    }
    q
}

impl MySqlStore {
    /// Opens the pool (lazily: the first query connects, so the gateway starts even if the
    /// database is down and reports it on `/readyz`).
    pub async fn connect(url: &str, opts: &PoolOptions) -> Result<Self, StoreError> {
        let pool = MySqlPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // Every statement is its own autocommit transaction; READ COMMITTED makes
                    // sure no poll ever reads through an old snapshot.
                    sqlx::query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("SET time_zone = '+00:00'")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .connect_lazy(url)
            .map_err(|e| StoreError::BadUrl(format!("invalid MySQL URL: {e}")))?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for MySqlStore {
    fn backend(&self) -> &'static str {
        "mysql"
    }

    #[instrument(skip_all)]
    async fn migrate(&self) -> Result<(), StoreError> {
        Ok(MIGRATOR.run(&self.pool).await?)
    }

    #[instrument(skip_all)]
    async fn migrate_down(&self) -> Result<bool, StoreError> {
        super::undo_last!(MIGRATOR, &self.pool)
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
        let sql = query::snapshots_sql(MYSQL, variant);
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
        let sql = query::events_sql(MYSQL, q);
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
        let sql = query::bars_sql(MYSQL, q);
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
        let sql = query::latest_bars_sql(MYSQL, series);
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
             VALUES (?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
             updated_at = VALUES(updated_at), bar_dt = VALUES(bar_dt), \
             bar_interval = VALUES(bar_interval), bar_window = VALUES(bar_window), \
             payload_json = VALUES(payload_json)",
        )
        .bind(&s.variant)
        .bind(&s.instance_id)
        .bind(s.updated_at.naive_utc())
        .bind(s.bar_dt.map(|t| t.naive_utc()))
        .bind(&s.bar_interval)
        .bind(s.bar_window)
        .bind(&s.payload)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn insert_event(&self, e: &NewEvent) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT IGNORE INTO monitor_signal_event \
             (variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&e.variant)
        .bind(&e.instance_id)
        .bind(&e.vt_symbol)
        .bind(e.bar_dt.map(|t| t.naive_utc()))
        .bind(&e.event_type)
        .bind(&e.event_key)
        .bind(e.created_at.naive_utc())
        .bind(&e.payload)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn upsert_bar(&self, b: &NewBar) -> Result<(), StoreError> {
        let bar = &b.bar;
        sqlx::query(
            "INSERT INTO dbbardata (symbol, exchange, `datetime`, `interval`, volume, turnover, \
             open_interest, open_price, high_price, low_price, close_price) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
             volume = VALUES(volume), turnover = VALUES(turnover), \
             open_interest = VALUES(open_interest), open_price = VALUES(open_price), \
             high_price = VALUES(high_price), low_price = VALUES(low_price), \
             close_price = VALUES(close_price)",
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
            "SELECT MAX(`datetime`) FROM dbbardata WHERE symbol = ? AND exchange = ? AND `interval` = ?",
        )
        .bind(vt_symbol.symbol())
        .bind(vt_symbol.exchange())
        .bind(interval.as_str())
        .fetch_one(&self.pool)
        .await?)
    }
}
