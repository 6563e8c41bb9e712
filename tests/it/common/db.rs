//! Fresh databases: `sgt_<random>` on MariaDB and PostgreSQL (URLs from
//! `SIGNALGATE_TEST_MYSQL_URL` / `SIGNALGATE_TEST_POSTGRES_URL`), a temp file for SQLite. A
//! server that is not reachable fails the test: nothing is skipped silently.
//!
//! The database is dropped when the last clone of its [`TestDb`] goes away, also when the test
//! panics. `Drop` cannot await, and may run on a runtime worker (where blocking on another
//! runtime panics), so the drop runs on a fresh OS thread with its own small runtime and is
//! joined: when `Drop` returns the database is gone.
//!
//! [`Raw`] (in `db/raw.rs`) is the one place that knows the three sqlx drivers.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

mod raw;

pub use raw::{Arg, Raw, Stmt, connect};

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    MySql,
    Postgres,
    Sqlite,
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
