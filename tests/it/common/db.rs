//! Fresh databases: `sgt_<random>` on MariaDB and PostgreSQL (URLs from
//! `SIGNALGATE_TEST_MYSQL_URL` / `SIGNALGATE_TEST_POSTGRES_URL`), a temp file for SQLite. A
//! server that is not reachable fails the test: nothing is skipped silently.
//!
//! The database is dropped when the last clone of its [`TestDb`] goes away, also when the test
//! panics. `Drop` cannot await, and may run on a runtime worker (where blocking on another
//! runtime panics), so the drop runs on a fresh OS thread with its own small runtime and is
//! joined: when `Drop` returns the database is gone.
//!
//! [`Raw`] is the one place that knows the three sqlx drivers: a pool typed once per driver
//! behind a trait object, for statements the gateway's own store does not offer (transactions,
//! DDL, raw reads).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::{
    AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type,
    pool::PoolOptions,
};

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    MySql,
    Postgres,
    Sqlite,
}

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

/// The server URL (no database) of a server backend.
fn server_url(backend: Backend) -> Option<String> {
    let (var, default) = match backend {
        Backend::MySql => ("SIGNALGATE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306"),
        Backend::Postgres => (
            "SIGNALGATE_TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432",
        ),
        Backend::Sqlite => return None,
    };
    Some(std::env::var(var).unwrap_or_else(|_| default.into()))
}

/// Runs administrative statements on a server backend.
async fn admin(backend: Backend, sql: &str) -> Result<(), String> {
    let base = server_url(backend).ok_or("no server")?;
    // PostgreSQL needs a database to connect to; MySQL does not.
    let url = match backend {
        Backend::Postgres => format!("{base}/postgres"),
        _ => base.clone(),
    };
    let raw = connect(backend, &url, 1)
        .await
        .map_err(|e| format!("{backend:?} at {base} is required for this test: {e}"))?;
    let result = raw.exec(sql).await;
    raw.close().await;
    result.map_err(|e| e.to_string())
}

/// A database created for one test; dropped with its last clone.
#[derive(Debug, Clone)]
pub struct TestDb {
    pub backend: Backend,
    /// Database name (SQLite: the file's stem).
    pub name: String,
    /// URL of the database itself.
    pub url: String,
    /// host:port of the server (not for SQLite).
    pub server: Option<String>,
    cleanup: Arc<Cleanup>,
}

/// Drops the database when the last [`TestDb`] clone goes away (unless already dropped).
#[derive(Debug)]
struct Cleanup {
    backend: Backend,
    name: String,
    path: Option<String>,
    done: AtomicBool,
}

impl Cleanup {
    async fn run(&self) {
        if self.done.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(path) = &self.path {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
            return;
        }
        let name = &self.name;
        let sql = match self.backend {
            // Do not wait a year (the default) behind a connection that still holds a lock.
            Backend::MySql => {
                format!("SET SESSION lock_wait_timeout = 10; DROP DATABASE IF EXISTS {name}")
            }
            // Ends the connections of gateways that are still running.
            _ => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        };
        if let Err(e) = admin(self.backend, &sql).await {
            eprintln!("could not drop test database {name}: {e}");
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.done.load(Ordering::SeqCst) {
            return;
        }
        let this = Cleanup {
            backend: self.backend,
            name: std::mem::take(&mut self.name),
            path: self.path.take(),
            done: AtomicBool::new(false),
        };
        let joined = std::thread::spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(this.run()),
                Err(e) => eprintln!("no runtime to drop test database {}: {e}", this.name),
            }
            this.done.store(true, Ordering::SeqCst);
        })
        .join();
        if joined.is_err() {
            eprintln!("dropping a test database panicked");
        }
    }
}

impl TestDb {
    /// Creates an empty database.
    pub async fn create(backend: Backend) -> Self {
        let name = super::unique("sgt");
        let (url, server, path) = match server_url(backend) {
            Some(base) => {
                admin(backend, &format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap_or_else(|e| panic!("create database {name}: {e}"));
                (format!("{base}/{name}"), host_port(&base), None)
            }
            None => {
                let dir = std::env::temp_dir().join("signalgate-tests");
                std::fs::create_dir_all(&dir).expect("temp dir");
                let path = dir.join(format!("{name}.db")).display().to_string();
                (format!("sqlite://{path}"), None, Some(path))
            }
        };
        Self {
            backend,
            url,
            server,
            cleanup: Arc::new(Cleanup {
                backend,
                name: name.clone(),
                path,
                done: AtomicBool::new(false),
            }),
            name,
        }
    }

    /// The same database reached through `proxy_addr` (host:port) instead of the server.
    pub fn url_via(&self, proxy_addr: &str) -> String {
        let server = self.server.as_deref().expect("server backend");
        self.url.replacen(server, proxy_addr, 1)
    }

    /// Drops the database now (it would otherwise go with the last clone).
    pub async fn drop_db(&self) {
        self.cleanup.run().await;
    }

    /// The gateway's own store on this database, migrated.
    pub async fn store(&self) -> std::sync::Arc<dyn signalgate::store::Store> {
        let opts = signalgate::store::PoolOptions {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(10),
        };
        let store = signalgate::store::connect(&self.url, &opts)
            .await
            .expect("store connects");
        store.migrate().await.expect("migrate");
        store
    }

    /// Raw access with room for `connections` concurrent users.
    pub async fn raw(&self, connections: u32) -> Box<dyn Raw> {
        connect(self.backend, &self.url, connections)
            .await
            .expect("test database connects")
    }
}

/// Whether a test database called `name` exists.
pub async fn exists(backend: Backend, name: &str) -> bool {
    let Some(base) = server_url(backend) else {
        let path = std::env::temp_dir()
            .join("signalgate-tests")
            .join(format!("{name}.db"));
        return path.exists();
    };
    let (url, sql) = match backend {
        Backend::Postgres => (
            format!("{base}/postgres"),
            "SELECT COUNT(*) FROM pg_database WHERE datname = $1",
        ),
        _ => (
            base,
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?",
        ),
    };
    let raw = connect(backend, &url, 1).await.expect("server reachable");
    let n = raw
        .ints(Stmt::new(sql, vec![Arg::Str(name.into())]))
        .await
        .expect("catalog query");
    raw.close().await;
    n[0][0] > 0
}

fn host_port(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    Some(
        authority
            .rsplit_once('@')
            .map_or(authority, |(_, h)| h)
            .to_owned(),
    )
}
