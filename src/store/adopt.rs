//! Design-document tables (without the gateway's `version` / `seq`): refused before any
//! migration runs, with the adoption statements of `adopt/{mysql,postgres}.sql`.

use super::{
    StoreError,
    backend::{Backend, prepare},
    dialect::Dialect,
    sql::SqlStore,
};

/// Migrations recorded as failed (MySQL cannot roll DDL back, so sqlx records them).
const FAILED_MIGRATIONS: &str = "SELECT version FROM _sqlx_migrations WHERE NOT success";

/// The refusal to migrate design-document tables that lack the gateway's `missing` columns.
fn adoption_refusal(dialect: Dialect, missing: &[String], failed: &[i64]) -> String {
    let mut head = format!(
        "the signal tables exist without the gateway's columns ({}): they were created from \
         the design document and must be adopted before migrating; nothing was changed. See \
         docs/schema.md, \"Adopting existing tables\".",
        missing.join(", ")
    );
    if !failed.is_empty() {
        let versions: Vec<String> = failed.iter().map(i64::to_string).collect();
        head.push_str(&format!(
            " An earlier attempt left a failed migration record: first run \
             `DELETE FROM _sqlx_migrations WHERE version IN ({}) AND NOT success;`.",
            versions.join(", ")
        ));
    }
    match dialect.adoption_sql() {
        Some(sql) => format!(
            "{head} With the writers stopped, run these statements on the database:\n\n{}\n\
             then run `signalgate migrate` (or `serve`) again.",
            sql.trim_end()
        ),
        None => format!(
            "{head} Add `version BIGINT NOT NULL DEFAULT 1` to monitor_signal_snapshot and \
             `seq` numbered 1..n per variant to monitor_signal_event, then migrate again."
        ),
    }
}

impl<B: Backend> SqlStore<B> {
    /// Before any migration runs: signal tables created from the design document (without
    /// the gateway's `version` / `seq`) would make migration `0001` fail half-way (its
    /// `CREATE TABLE IF NOT EXISTS` keeps them, its triggers need the columns), so refuse with
    /// the adoption steps and change nothing. Looks at the columns, not at the migrations
    /// table, so it holds whatever migrations are added later.
    pub(super) async fn refuse_design_tables(&self) -> Result<(), StoreError> {
        // Not gated: like the migration itself, this may wait the whole acquire timeout.
        let text = B::DIALECT.signal_columns_sql().to_owned();
        let rows = B::fetch_all(self.pool(), prepare::<B>(text, Vec::new())).await;
        self.gate.record(&rows, self.pool_full());
        let rows = rows?;
        let columns = rows
            .iter()
            .map(|r| {
                Ok((
                    B::text(r, "t")?.to_lowercase(),
                    B::text(r, "c")?.to_lowercase(),
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let has_table = |t: &str| columns.iter().any(|(ct, _)| ct == t);
        let has = |t: &str, c: &str| columns.iter().any(|(ct, cc)| ct == t && cc == c);
        let missing: Vec<String> = [
            ("monitor_signal_snapshot", "version"),
            ("monitor_signal_event", "seq"),
        ]
        .into_iter()
        .filter(|(t, c)| has_table(t) && !has(t, c))
        .map(|(t, c)| format!("{t}.{c}"))
        .collect();
        if missing.is_empty() {
            return Ok(());
        }
        // A failed record left by an earlier gateway's attempt (before this check) would make
        // the migration refuse even after the adoption steps. No bookkeeping table: none.
        let failed = self
            .fetch_map(FAILED_MIGRATIONS, |r| B::int(r, "version"))
            .await
            .unwrap_or_default();
        Err(StoreError::Unsupported(adoption_refusal(
            B::DIALECT,
            &missing,
            &failed,
        )))
    }
}
