//! Fresh databases: `sgt_<random>` on MariaDB and PostgreSQL (URLs from
//! `SIGNALGATE_TEST_MYSQL_URL` / `SIGNALGATE_TEST_POSTGRES_URL`), a temp file for SQLite. A
//! server that is not reachable fails the test: nothing is skipped silently.

use sqlx::{Connection, Executor};

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    MySql,
    Postgres,
    Sqlite,
}

/// A database created for one test.
#[derive(Debug, Clone)]
pub struct TestDb {
    pub backend: Backend,
    pub name: String,
    /// URL of the database itself.
    pub url: String,
    /// host:port of the server (not for SQLite).
    pub server: Option<String>,
}

fn server_url(backend: Backend) -> String {
    match backend {
        Backend::MySql => std::env::var("SIGNALGATE_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into()),
        Backend::Postgres => std::env::var("SIGNALGATE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into()),
        Backend::Sqlite => String::new(),
    }
}

impl TestDb {
    /// Creates an empty database.
    pub async fn create(backend: Backend) -> Self {
        let name = super::unique("sgt");
        match backend {
            Backend::MySql => {
                let base = server_url(backend);
                let mut conn = sqlx::MySqlConnection::connect(&base)
                    .await
                    .unwrap_or_else(|e| panic!("MariaDB at {base} is required for this test: {e}"));
                conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create database");
                Self {
                    backend,
                    url: format!("{base}/{name}"),
                    server: host_port(&base),
                    name,
                }
            }
            Backend::Postgres => {
                let base = server_url(backend);
                let mut conn = sqlx::PgConnection::connect(&format!("{base}/postgres"))
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL at {base} is required for this test: {e}")
                    });
                conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create database");
                Self {
                    backend,
                    url: format!("{base}/{name}"),
                    server: host_port(&base),
                    name,
                }
            }
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join("signalgate-tests");
                std::fs::create_dir_all(&dir).expect("temp dir");
                let path = dir.join(format!("{name}.db"));
                Self {
                    backend,
                    url: format!("sqlite://{}", path.display()),
                    server: None,
                    name,
                }
            }
        }
    }

    /// The same database reached through `proxy_addr` (host:port) instead of the server.
    pub fn url_via(&self, proxy_addr: &str) -> String {
        let server = self.server.as_deref().expect("server backend");
        self.url.replacen(server, proxy_addr, 1)
    }

    /// Drops the database (best effort; leftovers are cleaned by scripts/test.sh).
    pub async fn drop_db(&self) {
        match self.backend {
            Backend::MySql => {
                if let Ok(mut c) = sqlx::MySqlConnection::connect(&server_url(self.backend)).await {
                    let _ = c
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {}",
                            self.name
                        )))
                        .await;
                }
            }
            Backend::Postgres => {
                let base = server_url(self.backend);
                if let Ok(mut c) = sqlx::PgConnection::connect(&format!("{base}/postgres")).await {
                    let _ = c
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                            self.name
                        )))
                        .await;
                }
            }
            Backend::Sqlite => {
                if let Some(path) = self.url.strip_prefix("sqlite://") {
                    for suffix in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(format!("{path}{suffix}"));
                    }
                }
            }
        }
    }
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
