//! SQLite backend (the embedded default). Times are stored as text,
//! `YYYY-MM-DD HH:MM:SS.ffffff` in UTC (bars: naive local time, as VnPy writes them).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use std::str::FromStr;

use sqlx::{
    AssertSqlSafe, Row, SqlitePool,
    query::Query,
    sqlite::{
        SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    },
};
use tracing::instrument;

use super::{
    BarQuery, BarSeries, EventQuery, NewBar, NewEvent, NewSnapshot, PollState, PoolOptions, Store,
    StoreError, StoredBar,
    query::{self, Param, SQLITE, TimeCodec},
};
use crate::domain::{Event, Interval, Snapshot, VariantSummary, VtSymbol};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// An SQLite connection pool.
pub struct SqliteStore {
    pool: SqlitePool,
}

struct Codec;
impl TimeCodec<SqliteRow> for Codec {
    fn time(row: &SqliteRow, col: &str) -> Result<DateTime<Utc>, sqlx::Error> {
        Ok(naive(row, col)?.and_utc())
    }
    fn opt_time(row: &SqliteRow, col: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        match row.try_get::<Option<String>, _>(col)? {
            None => Ok(None),
            Some(text) => parse_text(col, &text).map(|t| Some(t.and_utc())),
        }
    }
}

/// The text format every time is written in (fixed width, so text order is time order).
const FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

fn fmt(t: NaiveDateTime) -> String {
    t.format(FORMAT).to_string()
}

fn parse_text(col: &str, text: &str) -> Result<NaiveDateTime, sqlx::Error> {
    let trimmed = text.trim_end_matches('Z');
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(trimmed, f).ok())
        .ok_or_else(|| sqlx::Error::ColumnDecode {
            index: col.to_owned(),
            source: format!("'{text}' is not a time").into(),
        })
}

fn naive(row: &SqliteRow, col: &str) -> Result<NaiveDateTime, sqlx::Error> {
    parse_text(col, &row.try_get::<String, _>(col)?)
}

fn bind_all(
    mut q: Query<'_, sqlx::Sqlite, SqliteArguments>,
    params: Vec<Param>,
) -> Query<'_, sqlx::Sqlite, SqliteArguments> {
    for p in params {
        q = match p {
            Param::Str(s) => q.bind(s),
            Param::I64(v) => q.bind(v),
            Param::Time(t) => q.bind(fmt(t.naive_utc())),
            Param::Naive(t) => q.bind(fmt(t)),
        };
    }
    q
}

impl SqliteStore {
    /// Opens (and creates if missing) the database file, in WAL mode so readers never block the
    /// writer.
    pub async fn connect(url: &str, opts: &PoolOptions) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::BadUrl(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(opts.acquire_timeout);
        if let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::BadUrl(format!("cannot create {}: {e}", dir.display())))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_lazy_with(options);
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
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
        // `SELECT 1` never touches the file; reading the schema needs the file to be readable
        // (not locked exclusively by another process).
        sqlx::query("SELECT count(*) FROM sqlite_master")
            .execute(&self.pool)
            .await?;
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
        let sql = query::snapshots_sql(SQLITE, variant);
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
        let sql = query::events_sql(SQLITE, q);
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
        let sql = query::bars_sql(SQLITE, q);
        let rows = bind_all(sqlx::query(AssertSqlSafe(sql.text)), sql.params)
            .fetch_all(&self.pool)
            .await?;
        let mut bars = rows
            .iter()
            .map(|r| query::bar_from_row(r, naive(r, "bar_time")?))
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
        let sql = query::latest_bars_sql(SQLITE, series);
        let rows = bind_all(sqlx::query(AssertSqlSafe(sql.text)), sql.params)
            .fetch_all(&self.pool)
            .await?;
        let bars = rows
            .iter()
            .map(|r| {
                Ok((
                    query::series_index(r)?,
                    query::bar_from_row(r, naive(r, "bar_time")?)?,
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
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (variant, instance_id) DO UPDATE SET \
             updated_at = excluded.updated_at, bar_dt = excluded.bar_dt, \
             bar_interval = excluded.bar_interval, bar_window = excluded.bar_window, \
             payload_json = excluded.payload_json",
        )
        .bind(&s.variant)
        .bind(&s.instance_id)
        .bind(fmt(s.updated_at.naive_utc()))
        .bind(s.bar_dt.map(|t| fmt(t.naive_utc())))
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
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_key) DO NOTHING",
        )
        .bind(&e.variant)
        .bind(&e.instance_id)
        .bind(&e.vt_symbol)
        .bind(e.bar_dt.map(|t| fmt(t.naive_utc())))
        .bind(&e.event_type)
        .bind(&e.event_key)
        .bind(fmt(e.created_at.naive_utc()))
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
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (symbol, exchange, \"interval\", \"datetime\") DO UPDATE SET \
             volume = excluded.volume, turnover = excluded.turnover, \
             open_interest = excluded.open_interest, open_price = excluded.open_price, \
             high_price = excluded.high_price, low_price = excluded.low_price, \
             close_price = excluded.close_price",
        )
        .bind(b.vt_symbol.symbol())
        .bind(b.vt_symbol.exchange())
        .bind(fmt(bar.datetime))
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
        let text: Option<String> = sqlx::query_scalar(
            "SELECT MAX(\"datetime\") FROM dbbardata WHERE symbol = ? AND exchange = ? AND \"interval\" = ?",
        )
        .bind(vt_symbol.symbol())
        .bind(vt_symbol.exchange())
        .bind(interval.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(text.map(|t| parse_text("datetime", &t)).transpose()?)
    }
}
