//! Raw access to a test database whatever the driver: a pool typed once per driver behind a
//! trait object, for statements the gateway's own store does not offer (transactions, DDL, raw
//! reads). The only per-driver code is [`Driver`]: how a UTC time is bound and a URL opened.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::{
    AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type,
    pool::PoolOptions,
};

use super::Backend;

/// A bind value for [`Raw`] statements.
#[derive(Debug, Clone)]
pub enum Arg {
    Str(String),
    I64(i64),
    Time(Option<DateTime<Utc>>),
}

/// A statement with its arguments.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub sql: String,
    pub args: Vec<Arg>,
}

impl Stmt {
    pub fn new(sql: impl Into<String>, args: Vec<Arg>) -> Self {
        Self {
            sql: sql.into(),
            args,
        }
    }
}

/// Raw access to a test database, whatever the driver.
#[async_trait]
pub trait Raw: Send + Sync {
    /// Runs `stmts` in one transaction, holds it open for `hold`, then commits (or rolls back).
    /// Returns the rows affected.
    async fn tx(&self, stmts: Vec<Stmt>, hold: Duration, commit: bool) -> Result<u64, sqlx::Error>;
    /// Runs statements without arguments, outside a transaction (DDL such as `CREATE DATABASE`).
    async fn exec(&self, sql: &str) -> Result<(), sqlx::Error>;
    /// Every row of a query whose columns are all integers.
    async fn ints(&self, stmt: Stmt) -> Result<Vec<Vec<i64>>, sqlx::Error>;
    /// The first (text) column of every row.
    async fn texts(&self, stmt: Stmt) -> Result<Vec<String>, sqlx::Error>;
    /// Closes the pool.
    async fn close(&self);
}

/// What differs between the drivers for [`Raw`]: how a UTC time is bound, how a URL is opened.
pub trait Driver: Database {
    /// A nullable UTC time as bound.
    type Time: for<'q> Encode<'q, Self> + Type<Self> + Send;
    fn time(t: Option<DateTime<Utc>>) -> Self::Time;
    /// `rows_affected()` is inherent on each driver's result type.
    fn rows(done: Self::QueryResult) -> u64;
    fn options(url: &str) -> <Self::Connection as sqlx::Connection>::Options {
        url.parse().expect("database URL")
    }
}

impl Driver for sqlx::MySql {
    type Time = Option<NaiveDateTime>;
    fn time(t: Option<DateTime<Utc>>) -> Self::Time {
        t.map(|t| t.naive_utc())
    }
    fn rows(done: sqlx::mysql::MySqlQueryResult) -> u64 {
        done.rows_affected()
    }
}

impl Driver for sqlx::Postgres {
    type Time = Option<DateTime<Utc>>;
    fn time(t: Option<DateTime<Utc>>) -> Self::Time {
        t
    }
    fn rows(done: sqlx::postgres::PgQueryResult) -> u64 {
        done.rows_affected()
    }
}

impl Driver for sqlx::Sqlite {
    type Time = Option<String>;
    fn time(t: Option<DateTime<Utc>>) -> Self::Time {
        t.map(|t| t.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string())
    }
    fn rows(done: sqlx::sqlite::SqliteQueryResult) -> u64 {
        done.rows_affected()
    }
    fn options(url: &str) -> sqlx::sqlite::SqliteConnectOptions {
        let opts: sqlx::sqlite::SqliteConnectOptions = url.parse().expect("sqlite url");
        // Concurrent test writers wait for the write lock instead of failing.
        opts.busy_timeout(Duration::from_secs(30))
    }
}

fn bind<DB: Driver>(
    q: sqlx::query::Query<'static, DB, DB::Arguments>,
    arg: Arg,
) -> sqlx::query::Query<'static, DB, DB::Arguments>
where
    for<'r> String: Encode<'r, DB> + Type<DB>,
    for<'r> i64: Encode<'r, DB> + Type<DB>,
{
    match arg {
        Arg::Str(s) => q.bind(s),
        Arg::I64(v) => q.bind(v),
        Arg::Time(t) => q.bind(DB::time(t)),
    }
}

fn prepare<DB: Driver>(stmt: Stmt) -> sqlx::query::Query<'static, DB, DB::Arguments>
where
    for<'r> String: Encode<'r, DB> + Type<DB>,
    for<'r> i64: Encode<'r, DB> + Type<DB>,
{
    let q = sqlx::query(AssertSqlSafe(stmt.sql));
    stmt.args.into_iter().fold(q, bind::<DB>)
}

#[async_trait]
impl<DB: Driver> Raw for Pool<DB>
where
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> String: Encode<'r, DB> + Decode<'r, DB> + Type<DB>,
    for<'r> i64: Encode<'r, DB> + Decode<'r, DB> + Type<DB>,
{
    async fn tx(&self, stmts: Vec<Stmt>, hold: Duration, commit: bool) -> Result<u64, sqlx::Error> {
        let mut tx = self.begin().await?;
        let mut n = 0;
        for stmt in stmts {
            n += DB::rows(prepare::<DB>(stmt).execute(&mut *tx).await?);
        }
        tokio::time::sleep(hold).await; // simulated strategy work inside the transaction
        if commit {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(n)
    }

    async fn exec(&self, sql: &str) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn ints(&self, stmt: Stmt) -> Result<Vec<Vec<i64>>, sqlx::Error> {
        let rows = prepare::<DB>(stmt).fetch_all(self).await?;
        rows.iter()
            .map(|r| (0..r.len()).map(|i| r.try_get::<i64, _>(i)).collect())
            .collect()
    }

    async fn texts(&self, stmt: Stmt) -> Result<Vec<String>, sqlx::Error> {
        let rows = prepare::<DB>(stmt).fetch_all(self).await?;
        rows.iter().map(|r| r.try_get::<String, _>(0)).collect()
    }

    async fn close(&self) {
        Pool::close(self).await;
    }
}

async fn pool<DB: Driver>(url: &str, connections: u32) -> Result<Pool<DB>, sqlx::Error> {
    PoolOptions::<DB>::new()
        .max_connections(connections)
        .connect_with(DB::options(url))
        .await
}

/// Opens `url` with room for `connections` concurrent users.
pub async fn connect(
    backend: Backend,
    url: &str,
    connections: u32,
) -> Result<Box<dyn Raw>, sqlx::Error> {
    Ok(match backend {
        Backend::MySql => Box::new(pool::<sqlx::MySql>(url, connections).await?),
        Backend::Postgres => Box::new(pool::<sqlx::Postgres>(url, connections).await?),
        Backend::Sqlite => Box::new(pool::<sqlx::Sqlite>(url, connections).await?),
    })
}
