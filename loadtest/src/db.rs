//! Scratch databases: `sgt_<random>` on the MariaDB/MySQL or PostgreSQL server a run is given
//! (created at the start, dropped at the end; `scripts/test.sh` drops leftovers of crashed runs),
//! with either the gateway's schema (applied by `signalgate migrate`) or the plain seed schema
//! of the design document: the same tables and indexes, taken from the gateway's migration 0001,
//! without `version`, `seq`, the counter table and the triggers.

use std::path::Path;

use anyhow::{Context, bail};
use sqlx::{Connection, Executor};

/// Which schema a scratch database gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Schema {
    /// The gateway's migrations (seq trigger, version trigger, NOTIFY on PostgreSQL).
    Gateway,
    /// The design document's tables only.
    Seed,
}

/// A database created for one run.
#[derive(Debug, Clone)]
pub struct ScratchDb {
    /// Server URL without a database.
    pub server: String,
    /// Database name.
    pub name: String,
    /// URL of the database itself.
    pub url: String,
}

/// `mysql`, `postgres`, from a server URL.
pub fn backend(url: &str) -> anyhow::Result<&'static str> {
    match url.split_once("://").map(|(s, _)| s) {
        Some("mysql" | "mariadb") => Ok("mysql"),
        Some("postgres" | "postgresql") => Ok("postgres"),
        _ => bail!("expected a mysql:// or postgres:// server URL, got {url}"),
    }
}

const MYSQL_0001: &str = include_str!("../../migrations/mysql/0001_signal_tables.up.sql");
const POSTGRES_0001: &str = include_str!("../../migrations/postgres/0001_signal_tables.up.sql");

/// The design document's schema from the gateway's migration 0001: its `CREATE TABLE`s of the
/// snapshot and event tables and their `CREATE INDEX`es, without the `version` and `seq` columns
/// and the `uk_variant_seq` key (everything else in the file — counter table, functions,
/// triggers — is left out).
pub fn seed_ddl(migration: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut table: Option<Vec<&str>> = None;
    for line in migration.lines() {
        let t = line.trim();
        if let Some(lines) = table.as_mut() {
            if t.starts_with(')') {
                let body = lines.join("\n");
                out.push(format!(
                    "{}\n{}",
                    body.trim_end_matches(','),
                    t.trim_end_matches(';')
                ));
                table = None;
            } else if !(t.starts_with("version ")
                || t.starts_with("seq ")
                || t.contains("uk_variant_seq"))
            {
                lines.push(line);
            }
        } else if t.starts_with("CREATE TABLE IF NOT EXISTS monitor_signal_snapshot")
            || t.starts_with("CREATE TABLE IF NOT EXISTS monitor_signal_event")
        {
            table = Some(vec![line]);
        } else if t.starts_with("CREATE INDEX") {
            out.push(t.trim_end_matches(';').to_owned());
        }
    }
    out
}

/// [`seed_ddl`] of the gateway's migration 0001 for `mysql` (also `mariadb`) or `postgres`.
pub fn seed_ddl_for(backend: &str) -> anyhow::Result<Vec<String>> {
    match backend {
        "mysql" | "mariadb" => Ok(seed_ddl(MYSQL_0001)),
        "postgres" | "postgresql" => Ok(seed_ddl(POSTGRES_0001)),
        _ => bail!("expected mysql or postgres, got {backend}"),
    }
}

/// A fresh name `sgt_lt<random>` (`scripts/test.sh` drops leftover `sgt_*` databases).
/// `LOADTEST_DB_PREFIX` replaces `sgt_lt`: on a machine where other people run the test suite,
/// its clean-up would drop a benchmark's database mid-run.
pub fn fresh_name() -> String {
    let prefix = std::env::var("LOADTEST_DB_PREFIX").unwrap_or_else(|_| "sgt_lt".into());
    format!("{prefix}{:08x}", rand::random::<u32>())
}

impl ScratchDb {
    /// Creates an empty database on `server` (a URL without a database path).
    pub async fn create(server: &str) -> anyhow::Result<Self> {
        let server = server
            .trim_end_matches('/')
            .replacen("mariadb://", "mysql://", 1);
        let name = fresh_name();
        let sql = sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"));
        match backend(&server)? {
            "mysql" => {
                let mut c = sqlx::MySqlConnection::connect(&server)
                    .await
                    .with_context(|| format!("connect to {server}"))?;
                c.execute(sql).await.context("create database")?;
            }
            _ => {
                let mut c = sqlx::PgConnection::connect(&format!("{server}/postgres"))
                    .await
                    .with_context(|| format!("connect to {server}"))?;
                c.execute(sql).await.context("create database")?;
            }
        }
        Ok(Self {
            url: format!("{server}/{name}"),
            server,
            name,
        })
    }

    /// Applies `schema`: the gateway's through `<signalgate> migrate`, the seed schema from
    /// `sql/`.
    pub async fn apply(&self, schema: Schema, signalgate: &Path) -> anyhow::Result<()> {
        match schema {
            Schema::Gateway => {
                let out = tokio::process::Command::new(signalgate)
                    .args(["migrate", "--database-url", &self.url])
                    .output()
                    .await
                    .with_context(|| format!("run {} migrate", signalgate.display()))?;
                if !out.status.success() {
                    bail!(
                        "signalgate migrate failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
            Schema::Seed => {
                if backend(&self.server)? == "mysql" {
                    let mut c = sqlx::MySqlConnection::connect(&self.url).await?;
                    for stmt in seed_ddl(MYSQL_0001) {
                        c.execute(sqlx::AssertSqlSafe(stmt)).await?;
                    }
                } else {
                    let mut c = sqlx::PgConnection::connect(&self.url).await?;
                    for stmt in seed_ddl(POSTGRES_0001) {
                        c.execute(sqlx::AssertSqlSafe(stmt)).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Reverts the latest `n` gateway migrations (`<signalgate> migrate --down`, `n` times): the
    /// `writers` scenario's `--gateway-down`, to measure an earlier schema with today's binary.
    pub async fn revert(&self, signalgate: &Path, n: u32) -> anyhow::Result<()> {
        for _ in 0..n {
            let out = tokio::process::Command::new(signalgate)
                .args(["migrate", "--down", "--database-url", &self.url])
                .output()
                .await
                .with_context(|| format!("run {} migrate --down", signalgate.display()))?;
            if !out.status.success() {
                bail!(
                    "signalgate migrate --down failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        Ok(())
    }

    /// The gateway migrations applied to this database (`version description` from sqlx's
    /// `_sqlx_migrations`, oldest first).
    pub async fn migrations(&self) -> anyhow::Result<Vec<String>> {
        const SQL: &str = "SELECT version, description FROM _sqlx_migrations ORDER BY version";
        let rows: Vec<(i64, String)> = if backend(&self.server)? == "mysql" {
            let mut c = sqlx::MySqlConnection::connect(&self.url).await?;
            sqlx::query_as(SQL).fetch_all(&mut c).await?
        } else {
            let mut c = sqlx::PgConnection::connect(&self.url).await?;
            sqlx::query_as(SQL).fetch_all(&mut c).await?
        };
        Ok(rows
            .into_iter()
            .map(|(v, d)| format!("{v:04} {d}"))
            .collect())
    }

    /// Drops the database (best effort).
    pub async fn drop_db(&self) {
        match backend(&self.server) {
            Ok("mysql") => {
                if let Ok(mut c) = sqlx::MySqlConnection::connect(&self.server).await {
                    let sql = format!("DROP DATABASE IF EXISTS {}", self.name);
                    let _ = c.execute(sqlx::AssertSqlSafe(sql)).await;
                }
            }
            Ok(_) => {
                let url = format!("{}/postgres", self.server);
                if let Ok(mut c) = sqlx::PgConnection::connect(&url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
                    let _ = c.execute(sqlx::AssertSqlSafe(sql)).await;
                }
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_schema_is_the_gateway_schema_without_seq_and_version() {
        for (m, indexes) in [(MYSQL_0001, 0), (POSTGRES_0001, 5)] {
            let ddl = seed_ddl(m);
            assert_eq!(ddl.len(), 2 + indexes, "{ddl:#?}");
            let all = ddl.join("\n");
            assert!(
                !all.contains("version") && !all.contains(" seq") && !all.contains("TRIGGER"),
                "{all}"
            );
            assert!(
                all.contains("uk_event_key") && all.contains("uk_variant_instance"),
                "{all}"
            );
            assert!(!all.contains(",\n)"), "no dangling comma: {all}");
        }
    }
}
