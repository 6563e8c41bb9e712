//! What a backend must say about itself for the generic [`SqlStore`](super::sql::SqlStore): its
//! sqlx driver, [`Dialect`], connect options and, on PostgreSQL, how it reads time columns and
//! listens for changes. Everything else is shared.
//!
//! [`SqlDb`] gathers, once, the sqlx bounds the shared code needs from a driver (executor,
//! migrations, the column types it reads and binds) as plain methods, so the generic code does
//! not repeat long `where` clauses: any driver that meets the bounds gets it by a blanket impl.

use std::{future::Future, sync::Arc};

use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::{
    AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type,
    migrate::Migrate, migrate::Migrator, query::Query,
};
use tokio::sync::Notify;

use super::{
    PartitionPrune, PartitionReport, PoolOptions, StoreError,
    dialect::{Dialect, time_from_text, time_to_text},
    query::Param,
};

/// A query of driver `DB` with owned arguments.
pub(crate) type Q<DB> = Query<'static, DB, <DB as Database>::Arguments>;
/// A result row of driver `B`.
pub(crate) type RowOf<B> = <B as Database>::Row;

/// The per-backend part of the store, implemented on the sqlx driver type itself.
pub(crate) trait Backend: SqlDb {
    /// How this backend spells SQL and times.
    const DIALECT: Dialect;

    /// A lazily connecting pool for `url`.
    fn pool(url: &str, opts: &PoolOptions) -> Result<Pool<Self>, StoreError>;
    /// Decodes a nullable UTC time column; by default a naive time read as UTC.
    fn opt_time(row: &RowOf<Self>, col: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        Ok(Self::opt_naive(row, col, Self::DIALECT)?.map(|t| t.and_utc()))
    }
    /// Wakes `wake` whenever the database reports a change, until the future is dropped or the
    /// pool closes. By default there is nothing to listen to: returns at once.
    fn listen(pool: Pool<Self>, wake: Arc<Notify>) -> impl Future<Output = ()> + Send {
        let _ = (pool, wake);
        async {}
    }
    /// Monthly partitions of the event table: PostgreSQL only (see `partition.rs`).
    fn partition_events(
        pool: &Pool<Self>,
        months_ahead: u32,
    ) -> impl Future<Output = Result<PartitionReport, StoreError>> + Send + '_ {
        let _ = (pool, months_ahead);
        async {
            Err(StoreError::Unsupported(format!(
                "signalgate partition is PostgreSQL-only; this database is {}",
                Self::DIALECT.name()
            )))
        }
    }
    /// Drops old monthly partitions; nothing to do where there are none (the default).
    fn prune_partitions(
        pool: &Pool<Self>,
        before: DateTime<Utc>,
        months_ahead: u32,
        dry_run: bool,
    ) -> impl Future<Output = Result<PartitionPrune, StoreError>> + Send + '_ {
        let _ = (pool, before, months_ahead, dry_run);
        async { Ok(PartitionPrune::default()) }
    }
}

/// `rows_affected()` is inherent on each driver's result type.
pub(crate) trait Affected {
    fn rows(&self) -> u64;
}
impl Affected for sqlx::mysql::MySqlQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}
impl Affected for sqlx::postgres::PgQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}
impl Affected for sqlx::sqlite::SqliteQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

/// The sqlx capabilities the shared store code uses, for any driver that has them.
pub(crate) trait SqlDb: Database {
    /// Runs a query, returning every row.
    fn fetch_all(
        pool: &Pool<Self>,
        q: Q<Self>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + '_;
    /// Runs a statement; returns the rows it changed.
    fn execute(
        pool: &Pool<Self>,
        q: Q<Self>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + '_;
    /// [`SqlDb::fetch_all`] on one connection (inside a transaction).
    fn fetch_all_on(
        conn: &mut Self::Connection,
        q: Q<Self>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + '_;
    /// [`SqlDb::execute`] on one connection (inside a transaction).
    fn execute_on(
        conn: &mut Self::Connection,
        q: Q<Self>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + '_;
    /// Applies pending migrations.
    fn migrate<'a>(
        pool: &'a Pool<Self>,
        m: &'a Migrator,
    ) -> impl Future<Output = Result<(), sqlx::migrate::MigrateError>> + Send + 'a;
    /// Reverts migrations down to `target`.
    fn undo<'a>(
        pool: &'a Pool<Self>,
        m: &'a Migrator,
        target: i64,
    ) -> impl Future<Output = Result<(), sqlx::migrate::MigrateError>> + Send + 'a;
    /// Binds one parameter in the representation `d` uses.
    fn bind(q: Q<Self>, p: Param, d: Dialect) -> Q<Self>;
    /// Reads a nullable time column as `d` stores it.
    fn opt_naive(
        row: &Self::Row,
        col: &str,
        d: Dialect,
    ) -> Result<Option<NaiveDateTime>, sqlx::Error>;
    /// Reads a text column.
    fn text(row: &Self::Row, col: &str) -> Result<String, sqlx::Error>;
    /// Reads a nullable text column.
    fn opt_text(row: &Self::Row, col: &str) -> Result<Option<String>, sqlx::Error>;
    /// Reads a BIGINT column.
    fn int(row: &Self::Row, col: &str) -> Result<i64, sqlx::Error>;
    /// Reads a nullable BIGINT column.
    fn opt_i64(row: &Self::Row, col: &str) -> Result<Option<i64>, sqlx::Error>;
    /// Reads a nullable INT column.
    fn opt_int(row: &Self::Row, col: &str) -> Result<Option<i32>, sqlx::Error>;
    /// Reads a DOUBLE column.
    fn float(row: &Self::Row, col: &str) -> Result<f64, sqlx::Error>;
}

impl<DB> SqlDb for DB
where
    DB: Database,
    DB::Connection: Migrate,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    for<'r> String: Decode<'r, DB> + Encode<'r, DB> + Type<DB>,
    for<'r> Option<String>: Encode<'r, DB>,
    for<'r> Option<i32>: Encode<'r, DB>,
    for<'r> NaiveDateTime: Decode<'r, DB> + Type<DB>,
    for<'r> Option<NaiveDateTime>: Encode<'r, DB>,
    for<'r> Option<DateTime<Utc>>: Encode<'r, DB>,
    DateTime<Utc>: Type<DB>,
    DB::QueryResult: Affected,
    for<'r> i64: Decode<'r, DB> + Encode<'r, DB> + Type<DB>,
    for<'r> i32: Decode<'r, DB> + Encode<'r, DB> + Type<DB>,
    for<'r> f64: Decode<'r, DB> + Encode<'r, DB> + Type<DB>,
{
    fn fetch_all(
        pool: &Pool<Self>,
        q: Q<Self>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + '_ {
        pool.fetch_all(q)
    }

    fn execute(
        pool: &Pool<Self>,
        q: Q<Self>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + '_ {
        let done = pool.execute(q);
        async move { Ok(done.await?.rows()) }
    }

    fn fetch_all_on(
        conn: &mut Self::Connection,
        q: Q<Self>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + '_ {
        conn.fetch_all(q)
    }

    fn execute_on(
        conn: &mut Self::Connection,
        q: Q<Self>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + '_ {
        let done = conn.execute(q);
        async move { Ok(done.await?.rows()) }
    }

    fn migrate<'a>(
        pool: &'a Pool<Self>,
        m: &'a Migrator,
    ) -> impl Future<Output = Result<(), sqlx::migrate::MigrateError>> + Send + 'a {
        m.run(pool)
    }

    fn undo<'a>(
        pool: &'a Pool<Self>,
        m: &'a Migrator,
        target: i64,
    ) -> impl Future<Output = Result<(), sqlx::migrate::MigrateError>> + Send + 'a {
        m.undo(pool, target)
    }

    fn bind(q: Q<Self>, p: Param, d: Dialect) -> Q<Self> {
        let naive = |q: Q<Self>, t: Option<NaiveDateTime>| match d.text_times() {
            true => q.bind(t.map(time_to_text)),
            false => q.bind(t),
        };
        let utc = |q: Q<Self>, t: Option<DateTime<Utc>>| match d.utc_params() {
            true => q.bind(t),
            false => naive(q, t.map(|t| t.naive_utc())),
        };
        match p {
            Param::Str(s) | Param::Json(s) => q.bind(s),
            Param::OptStr(s) => q.bind(s),
            Param::I64(v) => q.bind(v),
            Param::OptI32(v) => q.bind(v),
            Param::F64(v) => q.bind(v),
            Param::Time(t) => utc(q, Some(t)),
            Param::OptTime(t) => utc(q, t),
            Param::Naive(t) => naive(q, Some(t)),
        }
    }

    fn opt_naive(
        row: &Self::Row,
        col: &str,
        d: Dialect,
    ) -> Result<Option<NaiveDateTime>, sqlx::Error> {
        if d.text_times() {
            let text: Option<String> = row.try_get(col)?;
            text.map(|t| time_from_text(col, &t)).transpose()
        } else {
            row.try_get(col)
        }
    }

    fn text(row: &Self::Row, col: &str) -> Result<String, sqlx::Error> {
        row.try_get(col)
    }
    fn opt_text(row: &Self::Row, col: &str) -> Result<Option<String>, sqlx::Error> {
        row.try_get(col)
    }
    fn int(row: &Self::Row, col: &str) -> Result<i64, sqlx::Error> {
        row.try_get(col)
    }
    fn opt_i64(row: &Self::Row, col: &str) -> Result<Option<i64>, sqlx::Error> {
        row.try_get(col)
    }
    fn opt_int(row: &Self::Row, col: &str) -> Result<Option<i32>, sqlx::Error> {
        row.try_get(col)
    }
    fn float(row: &Self::Row, col: &str) -> Result<f64, sqlx::Error> {
        row.try_get(col)
    }
}

/// sqlx pool options from ours.
pub(crate) fn pool_options<DB: Database>(opts: &PoolOptions) -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(opts.max_connections)
        .acquire_timeout(opts.acquire_timeout)
}

/// A query for `text` with `params` bound.
pub(crate) fn prepare<B: Backend>(text: String, params: Vec<Param>) -> Q<B> {
    let q = sqlx::query(AssertSqlSafe(text));
    params.into_iter().fold(q, |q, p| B::bind(q, p, B::DIALECT))
}
